//! Address → owner, in O(1), for every 2 MiB chunk of the address space.
//!
//! Each chunk that holds hakmem memory has an entry: a SuperSlab's base address (tag 0), or the
//! header of a large block (tag 1) for every chunk the large mapping covers. Chunks we never
//! mapped read as 0, so `free` recognises pointers that are not ours without touching the memory
//! they point to. Two levels: a static root of 2^14 leaf pointers and leaves of 2^13 entries
//! mapped on first use (raw `mmap`, never freed), covering a 48-bit address space.

use crate::os;
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

pub const CHUNK_SHIFT: usize = 21;
pub const CHUNK_SIZE: usize = 1 << CHUNK_SHIFT;
const ADDRESS_BITS: usize = 48;
const LEAF_BITS: usize = 13;
const ROOT_BITS: usize = ADDRESS_BITS - CHUNK_SHIFT - LEAF_BITS;
const LEAF_BYTES: usize = (1 << LEAF_BITS) * core::mem::size_of::<usize>();

pub const TAG_LARGE: usize = 1;

type Leaf = [AtomicUsize; 1 << LEAF_BITS];

static ROOT: [AtomicPtr<Leaf>; 1 << ROOT_BITS] =
    [const { AtomicPtr::new(core::ptr::null_mut()) }; 1 << ROOT_BITS];

#[inline(always)]
fn split(addr: usize) -> (usize, usize) {
    let chunk = addr >> CHUNK_SHIFT;
    (chunk >> LEAF_BITS, chunk & ((1 << LEAF_BITS) - 1))
}

/// The entry for the chunk holding `addr`: 0 when hakmem owns nothing there.
#[inline(always)]
pub fn lookup(addr: usize) -> usize {
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

/// Records `entry` for every chunk of `[start, start + size)`; `start` is chunk-aligned.
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
        let leaf = leaf_for(a).unwrap_or_else(|| crate::diag::fatal("pagemap leaf vanished"));
        leaf[split(a).1].store(entry, Ordering::Release);
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
            unsafe { (*leaf)[l].store(0, Ordering::Release) };
        }
        a += CHUNK_SIZE;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_addresses_are_not_ours() {
        assert_eq!(lookup(0), 0);
        assert_eq!(lookup(usize::MAX), 0);
        assert_eq!(lookup(1 << 47), 0);
        let on_stack = 0u8;
        assert_eq!(lookup(&on_stack as *const u8 as usize), 0);
    }

    #[test]
    fn registered_range_maps_every_chunk() {
        // An address range nothing else uses in this test process.
        let start = 0x7000_0000_0000usize;
        assert!(register(start, 3 * CHUNK_SIZE, 0xabc0 | TAG_LARGE));
        for off in [0, 1, CHUNK_SIZE, 3 * CHUNK_SIZE - 1] {
            assert_eq!(lookup(start + off), 0xabc0 | TAG_LARGE);
        }
        assert_eq!(lookup(start + 3 * CHUNK_SIZE), 0);
        assert_eq!(lookup(start - 1), 0);
        unregister(start, 3 * CHUNK_SIZE);
        assert_eq!(lookup(start), 0);
    }
}
