//! Address → owner, in O(1), for every 2 MiB chunk of the address space, without touching the
//! memory a pointer points to (so `free` recognises pointers that are not ours).
//!
//! * SuperSlab chunks: a flat bitmap, one bit per chunk of the 47-bit user address space (8 MiB
//!   of zero-initialised `.bss`; only the pages covering our chunks are ever touched): one load,
//!   and the SuperSlab is the chunk's base. `free` looks here for SuperSlabs outside the arena
//!   (see `arena`), whose range check comes first. (A byte per chunk saved 2 instructions but
//!   took 64 MiB of address space, which `ulimit -v` counts: under a 40 MB limit the loader
//!   refused the library.)
//! * Large mappings: a two-level radix of header addresses, for every chunk the mapping covers
//!   (a static root of 2^14 leaf pointers, leaves of 2^13 entries mapped on first use with raw
//!   `mmap` and never freed).
//!
//! Chunks we never mapped read as 0 in both.

use crate::platform::os;
use core::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};

pub const CHUNK_SHIFT: usize = 21;
pub const CHUNK_SIZE: usize = 1 << CHUNK_SHIFT;
const ADDRESS_BITS: usize = 48;
const SUPERSLAB_MAP_BITS: usize = 47 - CHUNK_SHIFT;
const LEAF_BITS: usize = 13;
const ROOT_BITS: usize = ADDRESS_BITS - CHUNK_SHIFT - LEAF_BITS;
const LEAF_BYTES: usize = (1 << LEAF_BITS) * core::mem::size_of::<usize>();

static SUPERSLABS: [AtomicU64; (1 << SUPERSLAB_MAP_BITS) / 64] =
    [const { AtomicU64::new(0) }; (1 << SUPERSLAB_MAP_BITS) / 64];

/// Whether `addr` lies in one of our SuperSlabs (whose base is then `addr & !(CHUNK_SIZE - 1)`).
#[inline(always)]
pub fn is_superslab(addr: usize) -> bool {
    let chunk = addr >> CHUNK_SHIFT;
    // Relaxed: a pointer reaches `free` only through the program's own synchronisation with the
    // thread that allocated it, which happened after the bit was set.
    match SUPERSLABS.get(chunk / 64) {
        Some(w) => (w.load(Ordering::Relaxed) >> (chunk % 64)) & 1 != 0,
        None => false,
    }
}

/// Whether the SuperSlab bitmap has a bit for `addr`'s chunk.
pub fn covers(addr: usize) -> bool {
    addr >> CHUNK_SHIFT < 1 << SUPERSLAB_MAP_BITS
}

/// Marks (or unmarks) the chunk-aligned SuperSlab at `base`; false when `base` lies beyond the
/// map (then the caller must not use the chunk).
pub fn set_superslab(base: usize, present: bool) -> bool {
    debug_assert!(base.is_multiple_of(CHUNK_SIZE));
    let chunk = base >> CHUNK_SHIFT;
    match SUPERSLABS.get(chunk / 64) {
        Some(w) => {
            let bit = 1u64 << (chunk % 64);
            // Relaxed: a pointer into the SuperSlab reaches another thread's `free` only through
            // the program's own synchronisation with the thread that allocated it, which
            // happened after this (see `large_header`); unmarking happens when no block is live.
            if present {
                w.fetch_or(bit, Ordering::Relaxed);
            } else {
                w.fetch_and(!bit, Ordering::Relaxed);
            }
            true
        }
        None => false,
    }
}

type Leaf = [AtomicUsize; 1 << LEAF_BITS];

static ROOT: [AtomicPtr<Leaf>; 1 << ROOT_BITS] = [const { AtomicPtr::new(core::ptr::null_mut()) }; 1 << ROOT_BITS];

#[inline(always)]
fn split(addr: usize) -> (usize, usize) {
    let chunk = addr >> CHUNK_SHIFT;
    (chunk >> LEAF_BITS, chunk & ((1 << LEAF_BITS) - 1))
}

/// The large header registered for the chunk holding `addr`: 0 when there is none.
#[inline]
pub fn large_header(addr: usize) -> usize {
    if addr >> ADDRESS_BITS != 0 {
        return 0;
    }
    let (r, l) = split(addr);
    // Relaxed: a pointer reaches `free` only through the program's own synchronisation with the
    // thread that allocated it, which happened after the entry was stored.
    let leaf = ROOT[r].load(Ordering::Relaxed);
    if leaf.is_null() {
        return 0;
    }
    // SAFETY: a non-null root slot points to a leaf that is never unmapped.
    unsafe { (*leaf)[l].load(Ordering::Relaxed) }
}

fn leaf_for(addr: usize) -> Option<&'static Leaf> {
    let (r, _) = split(addr);
    // Acquire: pairs with the compare_exchange below of the thread that installed the leaf.
    let mut leaf = ROOT[r].load(Ordering::Acquire);
    if leaf.is_null() {
        let fresh = os::map(LEAF_BYTES).cast::<Leaf>();
        if fresh.is_null() {
            return None;
        }
        // AcqRel: publish the zeroed leaf, or see the one another thread installed first.
        match ROOT[r].compare_exchange(core::ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => leaf = fresh,
            Err(other) => {
                os::unmap(fresh.cast(), LEAF_BYTES);
                leaf = other;
            }
        }
    }
    // SAFETY: leaves are never unmapped once installed.
    Some(unsafe { &*leaf })
}

/// Records the large header `entry` for every chunk of `[start, start + size)`; `start` is
/// chunk-aligned.
/// Returns false when a leaf could not be mapped (then nothing is left half-registered).
pub fn register(start: usize, size: usize, entry: usize) -> bool {
    debug_assert!(start.is_multiple_of(CHUNK_SIZE));
    let end = start + size;
    let mut a = start;
    while a < end {
        if leaf_for(a).is_none() {
            unregister(start, a - start);
            return false;
        }
        a += CHUNK_SIZE;
    }
    a = start;
    while a < end {
        let leaf = leaf_for(a).unwrap_or_else(|| crate::platform::diag::fatal("pagemap leaf vanished"));
        // Relaxed: as in `set_superslab`.
        leaf[split(a).1].store(entry, Ordering::Relaxed);
        a += CHUNK_SIZE;
    }
    true
}

/// Forgets the chunks of `[start, start + size)`.
pub fn unregister(start: usize, size: usize) {
    let end = start + size;
    let mut a = start;
    while a < end {
        let (r, l) = split(a);
        let leaf = ROOT[r].load(Ordering::Acquire);
        if !leaf.is_null() {
            // SAFETY: installed leaves are never unmapped.
            unsafe { (*leaf)[l].store(0, Ordering::Relaxed) };
        }
        a += CHUNK_SIZE;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_addresses_are_not_ours() {
        let on_stack = 0u8;
        for a in [0, usize::MAX, 1 << 47, &on_stack as *const u8 as usize] {
            assert_eq!(large_header(a), 0);
            assert!(!is_superslab(a));
        }
        assert!(!set_superslab(1 << 47, true));
    }

    #[test]
    fn superslab_chunks_are_marked_exactly() {
        let start = 0x7100_0000_0000usize;
        assert!(set_superslab(start, true));
        assert!(is_superslab(start) && is_superslab(start + CHUNK_SIZE - 1));
        assert!(!is_superslab(start - 1) && !is_superslab(start + CHUNK_SIZE));
        // Neighbouring chunks share a bitmap word: marking one leaves the other alone.
        assert!(set_superslab(start + CHUNK_SIZE, true));
        set_superslab(start, false);
        assert!(!is_superslab(start) && is_superslab(start + CHUNK_SIZE));
        set_superslab(start + CHUNK_SIZE, false);
        assert!(!is_superslab(start + CHUNK_SIZE));
    }

    #[test]
    fn registered_range_maps_every_chunk() {
        // An address range nothing else uses in this test process.
        let start = 0x7000_0000_0000usize;
        assert!(register(start, 3 * CHUNK_SIZE, 0xabc0));
        for off in [0, 1, CHUNK_SIZE, 3 * CHUNK_SIZE - 1] {
            assert_eq!(large_header(start + off), 0xabc0);
        }
        assert_eq!(large_header(start + 3 * CHUNK_SIZE), 0);
        assert_eq!(large_header(start - 1), 0);
        unregister(start, 3 * CHUNK_SIZE);
        assert_eq!(large_header(start), 0);
    }
}
