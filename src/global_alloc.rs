//! The Rust global allocator: `#[global_allocator] static GLOBAL: hakmem::Hakmem = hakmem::Hakmem;`
//!
//! Every method goes through the same guarded entry points as the C API, so a Rust program and
//! the C code it calls may share hakmem (with the `interpose` feature) or not (without it, C's
//! malloc stays glibc's and each side frees only its own blocks).

use crate::api::alloc::MIN_ALIGN;
use crate::ffi;
use core::alloc::{GlobalAlloc, Layout};
use core::ptr;

/// hakmem as a [`GlobalAlloc`]: any size and alignment. Alignments up to 16 take malloc's fast
/// path; larger ones come from a size class aligned to its size (up to 64 KiB) or the Large tier.
#[derive(Clone, Copy, Debug, Default)]
pub struct Hakmem;

// SAFETY: the entry points return blocks of at least the requested size and alignment that stay
// valid until freed, null on failure, and free only blocks of this allocator (`dealloc` and
// `realloc` receive blocks this type returned, per `GlobalAlloc`'s contract).
unsafe impl GlobalAlloc for Hakmem {
    #[inline(always)]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= MIN_ALIGN {
            ffi::do_malloc(layout.size()).cast()
        } else {
            ffi::do_aligned(layout.align(), layout.size())
        }
    }

    #[inline(always)]
    unsafe fn dealloc(&self, p: *mut u8, _layout: Layout) {
        // SAFETY: `p` is a live block of this allocator (the caller's contract).
        unsafe { ffi::do_free(p.cast()) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // Fresh mappings are not cleared twice (calloc's rule, for any alignment).
        if layout.align() <= MIN_ALIGN {
            ffi::do_calloc(1, layout.size()).cast()
        } else {
            ffi::do_aligned_zeroed(layout.align(), layout.size())
        }
    }

    #[inline]
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.align() <= MIN_ALIGN {
            // SAFETY: `p` is a live block of this allocator and `new_size` is not zero (the
            // caller's contract), so realloc does not free it.
            return unsafe { ffi::do_realloc(p.cast(), new_size) }.cast();
        }
        // Over-aligned: kept in place when the block still fits and stays at least half used
        // (the address keeps its alignment), else moved to a new aligned block.
        // SAFETY: as above.
        let usable = unsafe { ffi::do_usable_size(p.cast()) };
        if new_size <= usable && new_size > usable / 2 {
            return p;
        }
        let q = ffi::do_aligned(layout.align(), new_size);
        if !q.is_null() {
            // SAFETY: both blocks hold at least min(old, new) bytes and do not overlap; `p` is
            // live and freed once.
            unsafe {
                ptr::copy_nonoverlapping(p, q, layout.size().min(new_size));
                ffi::do_free(p.cast());
            }
        }
        q
    }
}
