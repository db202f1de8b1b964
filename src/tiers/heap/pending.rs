//! Frees held back: a non-owner thread's frees of one span's tiny blocks, pushed to the span as
//! one chain (see `PendingFrees`).

use crate::blocks::block::Block;
use crate::blocks::span::Span;
use core::ptr;

/// Blocks of one slab of a tiny class that this (non-owner) thread freed in a row, held back to
/// be pushed to the slab's `thread_free` as one chain: a consumer thread freeing a producer's
/// blocks pays one CAS per chain instead of one per block (producer/consumer: that CAS was a
/// quarter of the run time). One chain per class, since consecutive frees mix classes. A chain
/// goes out when a free of its class names another slab, once it holds `PENDING_BYTES`, at
/// thread exit and at malloc_trim: at most 8 KiB per tiny class and thread wait. The blocks
/// count as used in their slab meanwhile, so it is neither released nor reused under them.
#[derive(Clone, Copy)]
pub(super) struct PendingFrees {
    pub(super) slab: *mut Span,
    /// Newest first, linked through `next`; `last` is the oldest.
    pub(super) first: *mut Block,
    pub(super) last: *mut Block,
    /// How many more blocks the chain takes before it goes out (it then holds `PENDING_BYTES`).
    pub(super) room: usize,
}

pub(super) const PENDING_BYTES: usize = 8 * 1024;

// A chain's room (`PENDING_BYTES / block size`) is at least 8 blocks: `prepend` never runs out.
const _: () = assert!(crate::blocks::size_class::TINY_MAX * 8 <= PENDING_BYTES);

impl PendingFrees {
    pub(super) const NONE: PendingFrees =
        PendingFrees { slab: ptr::null_mut(), first: ptr::null_mut(), last: ptr::null_mut(), room: 0 };

    /// Links `b`, a block of the chain's slab freed with `key`, at the front.
    ///
    /// # Safety
    /// `b` is a handed-out block of `self.slab`, freed by the calling thread; `room` > 0.
    pub(super) unsafe fn prepend(&mut self, b: *mut Block, key: usize) {
        // SAFETY: the caller freed `b`; it belongs to the chain from now on.
        unsafe { Block::set_free(b, self.first, key) };
        self.first = b;
        self.room -= 1;
    }

    /// Hands the chain to its slab.
    pub(super) fn flush(&mut self) {
        if !self.slab.is_null() {
            // SAFETY: the chain holds blocks of `slab` freed by this thread and still counted
            // as used there, so the slab is live; it took `PENDING_BYTES / block size` blocks
            // less the room left.
            unsafe {
                let n = PENDING_BYTES / (*self.slab).block_size() - self.room;
                (*self.slab).push_remote_chain(self.first, self.last, n as u32);
            }
            *self = PendingFrees::NONE;
        }
    }
}
