//! The Large tier's blocks up to `MAX_BYTES`: each is a span of SuperSlab slabs of its own
//! (64 KiB granules), so that they share the SuperSlabs' mappings (the arena's, which the
//! kernel keeps as one): the number of mappings grows with the bytes in use, not with the
//! number of blocks. (With a mapping per block, about 65,500 live 200 KiB blocks reached the
//! kernel's `vm.max_map_count`, after which every mmap of the process failed.) A block aligned
//! beyond a slab (up to `MAX_BYTES`, 1 MiB) starts at a slab index that is a multiple of the
//! alignment in slabs (SuperSlabs are 2 MiB-aligned), so `memalign(256 KiB, n)` costs no
//! mapping either. Larger blocks, and those aligned beyond 1 MiB, keep a mapping each (`large`).
//!
//! A Large span's descriptor (`Span::init_large`) has one block, its start, so that `free`,
//! `realloc` and `malloc_usable_size` find and validate it like any slab block; it is owned
//! by no heap (its owner is `LIVE`, a static), so every free takes the remote path, which
//! brings it here. Freed spans go back to the pool, whose decay gives their pages back once
//! they stayed free for `purge_state::delay_ms()` (and which hands recently freed, still dirty slabs
//! out first, so hot sizes neither fault pages in nor make syscalls).

use crate::blocks::block::Block;
use crate::blocks::span::{Span, SpanOwner, SLAB_SIZE};
use crate::pool::{decay, superslab};

use core::ptr;
use core::sync::atomic::Ordering;

/// The largest block kept in a span: 16 slabs, so that a SuperSlab's 31 data slabs still
/// hold one next to other spans.
pub const MAX_BYTES: usize = 16 * SLAB_SIZE;

/// The owner of every live Large span: not a heap, only an address no heap has.
static LIVE: u8 = 0;

fn live() -> *mut SpanOwner {
    ptr::addr_of!(LIVE) as *mut SpanOwner
}

/// Whether a Large request of `size` bytes aligned to `align` (a power of two, or 0) is served
/// here.
pub fn fits(size: usize, align: usize) -> bool {
    size <= MAX_BYTES && align <= MAX_BYTES
}

fn slabs_for(size: usize) -> usize {
    size.max(1).div_ceil(SLAB_SIZE)
}

/// A block of `size` bytes aligned to `align` (`fits`; a slab, 64 KiB, at least), zeroed when
/// `zero`; null when out of memory.
pub fn alloc(size: usize, align: usize, zero: bool) -> *mut u8 {
    debug_assert!(fits(size, align));
    let step = align.div_ceil(SLAB_SIZE).max(1);
    let acquired = superslab::acquire_large_span(slabs_for(size), step, live());
    decay::tick();
    let Some((slab, clean)) = acquired else {
        return ptr::null_mut();
    };
    crate::pool::large::LARGE_MALLOCS.fetch_add(1, Ordering::Relaxed);
    // SAFETY: the span is ours, `size` bytes long at least, and mapped read-write.
    unsafe {
        if crate::platform::config::stats() {
            crate::platform::counters::count_alloc((*slab).block_size());
        }
        let p = (*slab).start;
        if !clean && zero {
            ptr::write_bytes(p, 0, size);
        } else if !clean {
            // A freed block's key may be left here: it must not make the block look freed.
            (*p.cast::<Block>()).key = 0;
        }
        p
    }
}

/// Frees the block of the Large span `slab`; a second free of it (racing or not) is reported.
///
/// # Safety
/// `slab` is a Large span head, found from the block being freed.
pub unsafe fn free(slab: *mut Span) {
    // SAFETY: per the caller, the descriptor is readable. AcqRel: the release below must not
    // be reordered before the claim, and the winner sees the block's last owner's writes.
    let won = unsafe { (*slab).owner.compare_exchange(live(), ptr::null_mut(), Ordering::AcqRel, Ordering::Relaxed) };
    if won.is_err() {
        // SAFETY: as above.
        crate::platform::diag::double_free("free", unsafe { (*slab).start }, unsafe { (*slab).block_size() });
    }
    crate::pool::large::LARGE_FREES.fetch_add(1, Ordering::Relaxed);
    // SAFETY: the span is unowned now, holds no other block and is on no heap's list.
    unsafe {
        if crate::platform::config::stats() {
            crate::platform::counters::count_free((*slab).block_size());
        }
        superslab::release_span(slab)
    };
    decay::tick();
}

/// Grows the block of the Large span `slab` in place to hold `size` bytes (`fits`), when the
/// slabs after it are free; false otherwise (the block is then as it was).
///
/// # Safety
/// `slab` is a live Large span head, the block's owner calls.
pub unsafe fn grow_in_place(slab: *mut Span, size: usize) -> bool {
    // SAFETY: forwarded from the caller; the descriptor is readable.
    unsafe {
        let old = (*slab).block_size();
        let grown = fits(size, 0) && superslab::grow_large_span(slab, slabs_for(size));
        if grown && crate::platform::config::stats() {
            crate::platform::counters::count_alloc((*slab).block_size() - old);
        }
        grown
    }
}
