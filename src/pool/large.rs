//! The Large tier's mappings: requests above `large_span::MAX_BYTES` (and any aligned beyond
//! it), each in its own mapping; smaller Large blocks are spans (`large_span`).
//!
//! A mapping starts at a 2 MiB boundary with a 64-byte header; the block starts `user_offset`
//! bytes in (64, or the requested alignment). The pagemap entry of every 2 MiB chunk the mapping
//! covers points at the header, so `free` finds it in O(1) without reading before the block.
//! Freed mappings go to a small cache keyed by size, with their pages, so that hot sizes cost
//! neither an mmap/munmap pair nor the page faults of fresh memory each time. The cache is
//! bounded in entries and in bytes (`large_cache_bytes`, or half the bytes of the live large
//! blocks when that is more), and unmaps entries idle for the purge delay; `malloc_trim` empties it.
//! (Churn of 64 live blocks of 256 KiB-4 MiB, every page written: 7.5k ops/s and 70 page faults
//! per op when at most half of 64 MiB stayed dirty, older entries purged under the lock;
//! mimalloc 84k. 20 live blocks of 5-25 MiB replaced at random: 72 page faults per op with a
//! quarter of the live bytes, 27 with half, at the same peak RSS; tcmalloc 28.)
//!
//! Growing a block (realloc) doubles its mapping (growing by 64 MiB at most at a time), so that a
//! chain of reallocs costs few syscalls and copies: it copies the block into a cached mapping whose
//! pages are still there, or extends its mapping in place, or moves its pages to a new mapping with
//! `mremap` (no copy), or, when the program split its mapping (madvise/mprotect on part of it,
//! which `mremap` refuses), copies it into a new mapping. Dirty cached pages come first because the
//! page faults of fresh memory cost more than the copy (large_block, 1 thread: 115k faults and 4.6k
//! ops/s with `mremap` only; 37k faults and 10k ops/s copying into cached mappings with half the
//! cache dirty; 55k faults and 7.7k ops/s when growth in place is tried first; mimalloc 7.1k). The
//! headroom stays with the block until a realloc asks for less than the block's last size.

use crate::memory::pagemap::{self, CHUNK_SIZE};
use crate::platform::config;
use crate::platform::diag;
use crate::platform::os::{self, PAGE_SIZE};
use crate::platform::sync::Mutex;
use core::ptr;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

const HEADER_BYTES: usize = 64;
const LIVE: usize = 0x4c41_5247_454c_4956; // "LARGELIV"
const FREED: usize = 0x4c41_5247_4546_5245; // "LARGEFRE"

#[repr(C)]
pub struct LargeHeader {
    state: AtomicUsize,
    map_bytes: usize,
    user_offset: usize,
    /// The size the program last asked for (malloc or realloc): a realloc below it is a shrink,
    /// one above it a growth, even when both fit the mapping.
    size: usize,
    /// The program asked for the usable size (`malloc_usable_size`), which the mapping's
    /// headroom makes larger than `size`, and may use all of it: a move by copy then copies the
    /// whole usable size, else `size` bytes. (Copying the untouched headroom faulted it in on
    /// both sides: `large_block` 1.2x at 1 thread, 1.7x at 2, without it.)
    usable_exposed: bool,
    /// `map_bytes` and `user_offset` keyed with the header's address and the secret (see
    /// `set_shape`): a write over the header (an underflow of the block, or an overflow of
    /// what precedes it) is reported before free or realloc acts on what it reads there.
    seal: usize,
}

const _: () = assert!(core::mem::size_of::<LargeHeader>() <= HEADER_BYTES);

pub static LARGE_MALLOCS: AtomicU64 = AtomicU64::new(0);
pub static LARGE_FREES: AtomicU64 = AtomicU64::new(0);
pub static LARGE_CACHE_HITS: AtomicU64 = AtomicU64::new(0);

/// Entries of the cache. (A probe after mimalloc-bench's mstress, 4 threads re-created 50 times
/// that free their large blocks, 128 KiB-5 MiB, in a burst as they end: with 16 slots the cache
/// evicted mappings its byte bound would have kept, 190k page faults per run and 1.25x the time
/// of 64 slots, 30k faults; mimalloc 41k faults, the time of 64 slots.)
const CACHE_SLOTS: usize = 64;

#[derive(Clone, Copy)]
struct Cached {
    header: *mut LargeHeader,
    bytes: usize,
    freed_at_ms: u64,
}

const NO_ENTRY: Cached = Cached { header: ptr::null_mut(), bytes: 0, freed_at_ms: 0 };

/// Freed mappings kept for reuse. Bounds: `CACHE_SLOTS` entries, `cache_limit()` bytes, and
/// `purge_state::delay_ms()` of idleness (then unmapped).
pub struct Cache {
    /// Oldest first; `len` used.
    slots: [Cached; CACHE_SLOTS],
    len: usize,
    bytes: usize,
}
pub static CACHE: Mutex<Cache> = Mutex::new(Cache { slots: [NO_ENTRY; CACHE_SLOTS], len: 0, bytes: 0 });
/// Bytes mapped by live large blocks (the cache may hold half of that).
static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

/// `large_cache_bytes`, or half of `LIVE_BYTES` when that is more; 0 (no cache) stays 0.
fn cache_limit() -> usize {
    match config::get().large_cache_bytes {
        0 => 0,
        bytes => bytes.max(LIVE_BYTES.load(Ordering::Relaxed) / 2),
    }
}

fn live_add(bytes: usize) {
    if LIVE_BYTES.fetch_add(bytes, Ordering::Relaxed) + bytes >= crate::memory::purge_state::PURGER_HEAP_BYTES {
        crate::memory::purge_state::want_purger();
    }
    if config::stats() {
        crate::platform::counters::count_alloc(bytes);
    }
}

fn live_sub(bytes: usize) {
    LIVE_BYTES.fetch_sub(bytes, Ordering::Relaxed);
    if config::stats() {
        crate::platform::counters::count_free(bytes);
    }
}

/// (Bytes mapped by live large blocks, bytes of freed mappings in the cache.)
pub fn usage() -> (usize, usize) {
    (LIVE_BYTES.load(Ordering::Relaxed), with_cache(|c| c.bytes))
}

fn with_cache<R>(f: impl FnOnce(&mut Cache) -> R) -> R {
    f(&mut CACHE.lock())
}

fn shape_seal(h: *mut LargeHeader, map_bytes: usize, user_offset: usize) -> usize {
    // The slab key function: the header address mixed with the secret.
    crate::blocks::block::freed_key(h.cast()) ^ map_bytes.rotate_left(13) ^ user_offset.rotate_left(41)
}

/// Sets the mapping's length and the block's offset in it, and reseals the header.
///
/// # Safety
/// `h` is a header of ours, written by its owner.
unsafe fn set_shape(h: *mut LargeHeader, map_bytes: usize, user_offset: usize) {
    // SAFETY: per the caller.
    unsafe {
        (*h).map_bytes = map_bytes;
        (*h).user_offset = user_offset;
        (*h).seal = shape_seal(h, map_bytes, user_offset);
    }
}

fn user_ptr(h: *mut LargeHeader) -> *mut u8 {
    // SAFETY: only address arithmetic on our own header.
    unsafe { h.cast::<u8>().add((*h).user_offset) }
}

/// The largest mapping a block may have (`os::backable_bytes`, found at init); 0 until then,
/// when only the address space bounds it.
static MAX_MAP_BYTES: AtomicUsize = AtomicUsize::new(0);

/// At init: the bound on a block's mapping.
pub fn set_max_map_bytes(bytes: usize) {
    MAX_MAP_BYTES.store(bytes, Ordering::Relaxed);
}

/// Bytes to map for `size` bytes at `user_offset`, or None when that is more than the machine
/// could ever back (see `os::backable_bytes`; the alignment's padding counts, so a 1 TiB
/// alignment fails as glibc's does).
fn map_bytes_for(size: usize, user_offset: usize) -> Option<usize> {
    // At least one byte, so that the block lies inside its mapping even for size 0.
    let total = size.max(1).checked_add(user_offset)?.checked_add(PAGE_SIZE - 1)?;
    let max = match MAX_MAP_BYTES.load(Ordering::Relaxed) {
        0 => isize::MAX as usize,
        bytes => bytes,
    };
    if total > max {
        return None;
    }
    Some(total & !(PAGE_SIZE - 1))
}

/// Allocates `size` bytes aligned to `align` (a power of two); zeroed when `zero`. Null when out
/// of memory.
pub fn alloc(size: usize, align: usize, zero: bool) -> *mut u8 {
    let user_offset = align.max(HEADER_BYTES);
    let Some(need) = map_bytes_for(size, user_offset) else {
        return ptr::null_mut();
    };
    if user_offset <= CHUNK_SIZE {
        let cached = cache_take(need, true).and_then(|(h, got)| {
            if got >= need {
                Some((h, got))
            } else {
                grow_cached(h, got, need).map(|h| (h, need))
            }
        });
        if let Some((h, got)) = cached {
            LARGE_CACHE_HITS.fetch_add(1, Ordering::Relaxed);
            // SAFETY: a cached mapping is ours, `got >= need` bytes, and registered.
            unsafe {
                set_shape(h, got, user_offset);
                (*h).size = size;
                (*h).usable_exposed = false;
                (*h).state.store(LIVE, Ordering::Relaxed);
                if zero {
                    ptr::write_bytes(user_ptr(h), 0, size);
                }
            }
            live_add(got);
            LARGE_MALLOCS.fetch_add(1, Ordering::Relaxed);
            return user_ptr(h);
        }
    }
    let h = map_registered(need, CHUNK_SIZE.max(align));
    if h.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: `h` starts a fresh mapping of `need >= HEADER_BYTES` bytes.
    unsafe {
        h.write(LargeHeader {
            state: AtomicUsize::new(LIVE),
            map_bytes: need,
            user_offset,
            size,
            usable_exposed: false,
            seal: shape_seal(h, need, user_offset),
        });
    }
    live_add(need);
    // Counted once the block exists: `mallinfo`'s `hblks` is live blocks (mallocs less frees).
    LARGE_MALLOCS.fetch_add(1, Ordering::Relaxed);
    user_ptr(h)
}

/// A fresh mapping of `bytes` aligned to `align` (at least a chunk), registered in the pagemap
/// as a large mapping (its header not yet written); null when out of memory.
fn map_registered(bytes: usize, align: usize) -> *mut LargeHeader {
    let base = os::map_aligned(bytes, align);
    if base.is_null() {
        return ptr::null_mut();
    }
    if !pagemap::register(base as usize, bytes, base as usize) {
        os::unmap(base, bytes);
        return ptr::null_mut();
    }
    crate::memory::huge::advise_large(base, bytes);
    base.cast()
}

/// Grows the mapping of `h` in place from `old_bytes` to `bytes` and registers the grown part.
fn grow_registered(h: *mut LargeHeader, old_bytes: usize, bytes: usize) -> Result<(), os::GrowError> {
    os::grow_in_place(h.cast(), old_bytes, bytes)?;
    if !pagemap::register(h as usize, bytes, h as usize) {
        diag::fatal("pagemap: cannot map a leaf for a growing block");
    }
    Ok(())
}

/// Moves the pages of `h`'s mapping (`old_bytes`) to `dest`, a registered mapping of
/// `dest_bytes` (no byte copied). False when the kernel refuses (out of memory): `h` is then as
/// it was, and `dest` is forgotten.
fn move_registered(h: *mut LargeHeader, old_bytes: usize, dest: *mut LargeHeader, dest_bytes: usize) -> bool {
    // Forget the old range before the move frees it: once it is free, another thread may map
    // and register it, and a late unregister would erase that thread's entries.
    pagemap::unregister(h as usize, old_bytes);
    if os::move_mapping(h.cast(), old_bytes, dest.cast(), dest_bytes) {
        return true;
    }
    // Some kernels unmap the destination before they fail, so it is no longer ours to write or
    // unmap: forget it (at worst an untouched reservation leaks).
    pagemap::unregister(dest as usize, dest_bytes);
    if !pagemap::register(h as usize, old_bytes, h as usize) {
        diag::fatal("pagemap: cannot re-register a block after a failed move");
    }
    false
}

/// Whether `p` is the block of the large mapping `h` (Some(true)), a pointer inside it that is
/// not the block (Some(false)), or outside it (None: another mapping sharing the last chunk).
///
/// # Safety
/// `h` is a header the pagemap returned.
pub unsafe fn classify(h: *mut LargeHeader, p: *mut u8) -> Option<bool> {
    // SAFETY: the pagemap entry is only set while the header is mapped.
    let (map_bytes, user_offset, seal) = unsafe { ((*h).map_bytes, (*h).user_offset, (*h).seal) };
    if seal != shape_seal(h, map_bytes, user_offset) {
        diag::fatal_ptr(
            "large block header corrupted (a write before the block: underflow, or overflow of what precedes it)",
            h as usize,
        );
    }
    let off = (p as usize).wrapping_sub(h as usize);
    if off >= map_bytes {
        None
    } else {
        Some(p == user_ptr(h))
    }
}

/// Aborts, naming `call`, unless `h` is a live block's header (a freed block sits in the cache
/// until it is reused or unmapped: realloc and malloc_usable_size of it are the program's bug).
///
/// # Safety
/// `h` is a header the pagemap returned.
pub unsafe fn check_live(call: &str, h: *mut LargeHeader) {
    // SAFETY: per the caller, the header is mapped.
    if unsafe { (*h).state.load(Ordering::Relaxed) } != LIVE {
        // SAFETY: as above.
        crate::platform::diag::double_free(call, user_ptr(h), unsafe { (*h).map_bytes });
    }
}

/// Usable bytes of the large block `h`.
///
/// # Safety
/// `h` is a live large header.
pub unsafe fn usable_size(h: *mut LargeHeader) -> usize {
    // SAFETY: per the caller.
    unsafe { (*h).map_bytes - (*h).user_offset }
}

/// `usable_size` for the program (`malloc_usable_size`), which may then use all of it: a later
/// move copies it all.
///
/// # Safety
/// As for `usable_size`.
pub unsafe fn expose_usable_size(h: *mut LargeHeader) -> usize {
    // SAFETY: per the caller; only the owner of a live block asks for its size.
    unsafe {
        (*h).usable_exposed = true;
        usable_size(h)
    }
}

/// Frees the large block of header `h`.
///
/// # Safety
/// `h` is a header the pagemap returned and `p` its block (`classify` said Some(true)).
pub unsafe fn free(h: *mut LargeHeader) {
    // SAFETY: per the caller, the header is mapped.
    let prev = unsafe { (*h).state.swap(FREED, Ordering::Relaxed) };
    if prev != LIVE {
        // SAFETY: as above.
        crate::platform::diag::double_free("free", user_ptr(h), unsafe { (*h).map_bytes });
    }
    LARGE_FREES.fetch_add(1, Ordering::Relaxed);
    // SAFETY: per the caller.
    let bytes = unsafe { (*h).map_bytes };
    live_sub(bytes);
    if cache_put(h, bytes) {
        crate::memory::purge_state::wake_purger();
    } else {
        unmap(h, bytes);
    }
}

fn unmap(h: *mut LargeHeader, bytes: usize) {
    pagemap::unregister(h as usize, bytes);
    os::unmap(h.cast(), bytes);
}

/// Resizes the large block `h` to `new_size` bytes: shrinks in place; grows by copying into a
/// cached mapping whose pages are still there, else in place, else by moving its pages to a new
/// mapping (no copy), else (the program split its mapping) by copying into a new mapping.
/// Returns the (possibly moved) block, or null when out of memory (the old block is intact).
///
/// # Safety
/// `h` is a live large header. The block keeps its offset, hence its alignment.
pub unsafe fn resize(h: *mut LargeHeader, new_size: usize) -> *mut u8 {
    // SAFETY: per the caller; a resized block keeps its offset.
    unsafe {
        let (offset, old_bytes) = ((*h).user_offset, (*h).map_bytes);
        let q = resize_mapping(h, new_size);
        if !q.is_null() {
            let moved = q.sub(offset).cast::<LargeHeader>();
            (*moved).size = new_size;
            live_add((*moved).map_bytes);
            live_sub(old_bytes);
        }
        q
    }
}

/// `resize`, but for the header's `size` and `LIVE_BYTES`.
///
/// # Safety
/// As for `resize`.
unsafe fn resize_mapping(h: *mut LargeHeader, new_size: usize) -> *mut u8 {
    // SAFETY: per the caller the header is live and ours.
    unsafe {
        let old_bytes = (*h).map_bytes;
        let offset = (*h).user_offset;
        let Some(need) = map_bytes_for(new_size, offset) else {
            return ptr::null_mut();
        };
        if need <= old_bytes {
            // A shrink gives the tail back once it is worth a syscall. A growth that fits keeps
            // the headroom that growing (doubling) or a larger cached mapping gave it: giving it
            // back cost each step of a growth chain an munmap and an mremap.
            let tail = old_bytes - need;
            if new_size < (*h).size && tail >= old_bytes / 4 && tail >= 16 * PAGE_SIZE {
                let first_free_chunk = os::align_up(h as usize + need, CHUNK_SIZE);
                let end = h as usize + old_bytes;
                pagemap::unregister(first_free_chunk, end.saturating_sub(first_free_chunk));
                os::unmap(h.cast::<u8>().add(need), old_bytes - need);
                set_shape(h, need, offset);
            }
            return user_ptr(h);
        }
        // Growing: double at least, so that realloc chains stay amortised O(1) in syscalls and
        // copies.
        let target = need.max(old_bytes.saturating_mul(2).min(need + (64 << 20)));
        // Into a cached mapping whose pages are still there: copying the block costs less than
        // the page faults of fresh memory for the grown part (in place included). One with room
        // for the doubled size, or a chain would copy itself into each slightly larger one.
        if offset <= CHUNK_SIZE {
            if let Some((dest, got)) = cache_take(target, false) {
                return copy_to(h, dest, got, !os::is_split(h.cast(), old_bytes));
            }
        }
        let grown_in_place = |bytes: usize| {
            set_shape(h, bytes, offset);
            user_ptr(h)
        };
        let split = match grow_registered(h, old_bytes, target) {
            Ok(()) => return grown_in_place(target),
            Err(os::GrowError::Split) => true,
            Err(os::GrowError::NoRoom) => false,
        };
        // No room for the doubled size here: move to a mapping of that size (address space only
        // until it is touched). Growing in place by just the step asked for would leave no
        // headroom, and each later step of the chain would cost two syscalls again.
        let align = CHUNK_SIZE.max(offset);
        let (mut dest, mut dest_bytes) = (map_registered(target, align), target);
        if dest.is_null() && target > need {
            // Short of address space: what was asked for, in place if there is room.
            if !split && grow_registered(h, old_bytes, need).is_ok() {
                return grown_in_place(need);
            }
            (dest, dest_bytes) = (map_registered(need, align), need);
        }
        if dest.is_null() {
            return ptr::null_mut();
        }
        if split {
            // The kernel can neither grow nor move a range that is several mappings.
            return copy_to(h, dest, dest_bytes, false);
        }
        if !move_registered(h, old_bytes, dest, dest_bytes) {
            return ptr::null_mut();
        }
        set_shape(dest, dest_bytes, offset);
        user_ptr(dest)
    }
}

/// Moves the block of `h` into the registered mapping `dest` of `dest_bytes` bytes (at least the
/// block's size) by copying, and frees the old mapping: to the cache when `cacheable`, else
/// unmapped (a mapping the program split carries attributes it set on part of the block, with
/// madvise, mprotect or mlock, which a cached mapping must not pass on). Returns the new block.
///
/// # Safety
/// `h` is a live large header; `dest` is a registered mapping no block uses, large enough.
unsafe fn copy_to(h: *mut LargeHeader, dest: *mut LargeHeader, dest_bytes: usize, cacheable: bool) -> *mut u8 {
    // SAFETY: per the caller; the two mappings are distinct.
    unsafe {
        let (old_bytes, offset) = ((*h).map_bytes, (*h).user_offset);
        let usable = old_bytes - offset;
        let used = if (*h).usable_exposed { usable } else { usable.min((*h).size) };
        dest.write(LargeHeader {
            state: AtomicUsize::new(LIVE),
            map_bytes: dest_bytes,
            user_offset: offset,
            size: (*h).size,
            usable_exposed: false,
            seal: shape_seal(dest, dest_bytes, offset),
        });
        ptr::copy_nonoverlapping(user_ptr(h), user_ptr(dest), used);
        (*h).state.store(FREED, Ordering::Relaxed);
        if !cacheable || !cache_put(h, old_bytes) {
            unmap(h, old_bytes);
        }
        user_ptr(dest)
    }
}

impl Cache {
    fn remove(&mut self, i: usize) -> Cached {
        let e = self.slots[i];
        self.slots.copy_within(i + 1..self.len, i);
        self.len -= 1;
        self.bytes -= e.bytes;
        e
    }

    /// Removes the entries idle for longer than `purge_state::delay_ms()` into `out`; returns how many.
    fn take_expired(&mut self, now: u64, out: &mut [Cached; CACHE_SLOTS]) -> usize {
        let mut n = 0;
        while self.len > 0 && now.saturating_sub(self.slots[0].freed_at_ms) > crate::memory::purge_state::delay_ms() {
            out[n] = self.remove(0);
            n += 1;
        }
        n
    }
}

/// Takes a cached mapping of at least `need` bytes; failing that, when `or_smaller`, the largest
/// one of at least half of that (the caller grows it: `grow_cached`).
fn cache_take(need: usize, or_smaller: bool) -> Option<(*mut LargeHeader, usize)> {
    let mut expired = [NO_ENTRY; CACHE_SLOTS];
    let (taken, n) = with_cache(|c| {
        let n = c.take_expired(os::now_ms(), &mut expired);
        // Best fit among mappings up to 4x the size needed: a bigger dirty mapping costs no new
        // memory, and a realloc that grows the block later stays in place, without page faults.
        let mut best: Option<usize> = None;
        let mut largest_smaller: Option<usize> = None;
        for i in 0..c.len {
            let bytes = c.slots[i].bytes;
            let fits = bytes >= need && bytes / 4 <= need;
            if fits && best.is_none_or(|b| bytes < c.slots[b].bytes) {
                best = Some(i);
            }
            if or_smaller
                && bytes < need
                && bytes >= need / 2
                && largest_smaller.is_none_or(|b| bytes > c.slots[b].bytes)
            {
                largest_smaller = Some(i);
            }
        }
        (best.or(largest_smaller).map(|i| c.remove(i)), n)
    });
    // Unmap outside the lock: munmap is slow and the expired mappings are unreachable now.
    for e in &expired[..n] {
        unmap(e.header, e.bytes);
    }
    taken.map(|e| (e.header, e.bytes))
}

/// Grows `h`, a mapping of `got` bytes just taken from the cache, to `need` bytes, in place or
/// moved by the kernel (no copy): its pages are reused and only the difference is fresh. (20 live
/// blocks of 5-25 MiB replaced at random: 1 in 7 mallocs found no cached mapping large enough,
/// and faulted in all of theirs.) None when that fails; the mapping is then given back.
fn grow_cached(h: *mut LargeHeader, got: usize, need: usize) -> Option<*mut LargeHeader> {
    if grow_registered(h, got, need).is_ok() {
        return Some(h);
    }
    let dest = map_registered(need, CHUNK_SIZE);
    if !dest.is_null() && move_registered(h, got, dest, need) {
        return Some(dest);
    }
    unmap(h, got);
    None
}

/// Keeps a freed mapping for reuse; false when it does not fit the cache's bounds. Either way,
/// evicts what the cache's bounds, which fall as large blocks are freed, no longer allow.
fn cache_put(h: *mut LargeHeader, bytes: usize) -> bool {
    let limit = cache_limit();
    let fits = bytes <= limit / 2;
    let mut evicted = [NO_ENTRY; CACHE_SLOTS];
    let n = with_cache(|c| {
        let now = os::now_ms();
        let mut n = c.take_expired(now, &mut evicted);
        let incoming = if fits { bytes } else { 0 };
        while c.len > 0 && ((fits && c.len == CACHE_SLOTS) || c.bytes + incoming > limit) {
            evicted[n] = c.remove(0);
            n += 1;
        }
        if fits {
            c.slots[c.len] = Cached { header: h, bytes, freed_at_ms: now };
            c.len += 1;
            c.bytes += bytes;
        }
        n
    });
    for e in &evicted[..n] {
        unmap(e.header, e.bytes);
    }
    fits
}

/// Unmaps the cached mappings idle for longer than `purge_state::delay_ms()` (see `decay`).
/// True while mappings are still cached (they expire later).
pub fn expire(now: u64) -> bool {
    let mut expired = [NO_ENTRY; CACHE_SLOTS];
    let (n, left) = with_cache(|c| (c.take_expired(now, &mut expired), c.len));
    for e in &expired[..n] {
        unmap(e.header, e.bytes);
    }
    left > 0
}

/// Unmaps every cached mapping; returns the bytes given back.
pub fn trim() -> usize {
    let (slots, n) = with_cache(|c| {
        let out = (c.slots, c.len);
        c.len = 0;
        c.bytes = 0;
        out
    });
    let mut bytes = 0;
    for e in &slots[..n] {
        unmap(e.header, e.bytes);
        bytes += e.bytes;
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header_of(p: *mut u8) -> *mut LargeHeader {
        // Blocks allocated without alignment start HEADER_BYTES into their mapping.
        p.wrapping_sub(HEADER_BYTES).cast()
    }

    /// A block moved by copy keeps its bytes: the size asked for, and the whole usable size once
    /// the program asked for it (malloc_usable_size), headroom included.
    #[test]
    fn a_move_by_copy_keeps_what_the_program_may_use() {
        // SAFETY: every block is live where it is written; the destinations are live blocks
        // given up to `copy_to` (registered mappings no other block uses).
        unsafe {
            let p = resize(header_of(alloc(200 << 10, 0, false)), 210 << 10);
            let h = header_of(p);
            let usable = usable_size(h);
            assert!(usable > (210 << 10) + PAGE_SIZE, "growing gave no headroom to test with");
            p.write_bytes(7, 210 << 10);
            let d = header_of(alloc(usable + (64 << 10), 0, false));
            let old_bytes = (*h).map_bytes;
            let q = copy_to(h, d, (*d).map_bytes, false);
            live_sub(old_bytes);
            assert!(core::slice::from_raw_parts(q, 210 << 10).iter().all(|&b| b == 7));

            let usable = expose_usable_size(header_of(q));
            q.write_bytes(9, usable);
            let d = header_of(alloc(usable + (64 << 10), 0, false));
            let old_bytes = (*header_of(q)).map_bytes;
            let r = copy_to(header_of(q), d, (*d).map_bytes, false);
            live_sub(old_bytes);
            let kept = core::slice::from_raw_parts(r, usable);
            assert!(kept.iter().all(|&b| b == 9), "a move lost bytes of the usable size the program was told");
            free(header_of(r));
        }
    }

    /// A freed mapping waits in the cache until the decay expires it. (30 MiB: a size the other
    /// tests' blocks would not take from the cache meanwhile.)
    #[test]
    fn the_decay_expires_cached_mappings() {
        let p = alloc(30 << 20, 0, false);
        assert!(!p.is_null());
        let h = header_of(p);
        // SAFETY: `h` is the live header of `p`.
        unsafe { free(h) };
        let cached = || with_cache(|c| c.slots[..c.len].iter().any(|e| e.header == h));
        assert!(cached(), "a freed 30 MiB block was not cached");
        expire(os::now_ms() + crate::memory::purge_state::delay_ms() + 1);
        assert!(!cached(), "an expired mapping stayed in the cache");
    }

    /// A malloc that finds only a smaller cached mapping grows it (its pages reused), and a
    /// zeroed block from it is zero all the same.
    #[test]
    fn a_smaller_cached_mapping_serves_a_larger_block() {
        let p = alloc(4 << 20, 0, false);
        assert!(!p.is_null());
        // SAFETY: `p` holds 4 MiB; `q` holds 6 MiB.
        unsafe {
            p.write_bytes(0xff, 4 << 20);
            free(header_of(p));
            let q = alloc(6 << 20, 0, true);
            assert!(!q.is_null());
            assert!(usable_size(header_of(q)) >= 6 << 20);
            let block = core::slice::from_raw_parts(q, 6 << 20);
            assert!(block.iter().all(|&b| b == 0), "a zeroed block from a reused mapping holds old bytes");
            q.write_bytes(1, 6 << 20);
            free(header_of(q));
        }
    }

    /// A growth chain keeps the headroom growing gave it: the next small step neither gives the
    /// tail back nor moves (it used to cost an munmap, then an mremap to grow again). A real
    /// shrink still gives the tail back.
    #[test]
    fn growth_headroom_survives_the_next_step() {
        let p = alloc(200 << 10, 0, false);
        assert!(!p.is_null());
        // SAFETY: `p` is a live large block of at least the sizes written.
        unsafe {
            p.write_bytes(1, 200 << 10);
            let q = resize(header_of(p), 210 << 10);
            assert!(!q.is_null());
            let usable = usable_size(header_of(q));
            let r = resize(header_of(q), (210 << 10) + 1);
            assert_eq!(r, q, "a step within the block's mapping moved it");
            assert_eq!(usable_size(header_of(r)), usable, "a growing step gave the headroom back");
            assert_eq!(*r.add((200 << 10) - 1), 1);
            free(header_of(r));

            // A block in a mapping far larger than it (here, likely, the cached mapping of a
            // freed 4 MiB block) keeps it while it grows.
            let freed = alloc(4 << 20, 0, false);
            assert!(!freed.is_null());
            freed.write_bytes(1, 4 << 20);
            free(header_of(freed));
            let p = alloc(1100 << 10, 0, false);
            assert!(!p.is_null());
            let usable = usable_size(header_of(p));
            if usable >= 2 * (1200 << 10) {
                assert_eq!(resize(header_of(p), 1200 << 10), p, "a growth that fits moved the block");
                assert_eq!(usable_size(header_of(p)), usable, "a growth that fits gave the mapping's tail back");
            }
            free(header_of(resize(header_of(p), 1200 << 10)));

            let big = alloc(1 << 20, 0, false);
            assert!(!big.is_null());
            let small = resize(header_of(big), 300 << 10);
            assert_eq!(small, big, "a shrink moved the block");
            assert!(usable_size(header_of(small)) < 512 << 10, "a shrink to 300 KiB kept the tail of 1 MiB");
            free(header_of(small));
        }
    }
}
