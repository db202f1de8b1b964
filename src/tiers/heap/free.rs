//! free on the thread heap, for a pointer the arena or the pagemap placed in a SuperSlab: the
//! block's validation, the owner's local free, and other threads' remote frees (held back in
//! pending chains for tiny blocks).

use crate::blocks::block::{freed_key, Block};
use crate::blocks::check;
use crate::blocks::size_class::FIRST_MID_CLASS;
use crate::blocks::span::Span;
use crate::platform::diag;
use crate::pool::superslab::{self, SuperSlab};
use crate::tiers::heap::lifecycle::thread_heap;
use crate::tiers::heap::lists::{forget_fast, push_avail, release_span, unlink, Heap, Kind};
use crate::tiers::heap::pending::{PendingFrees, PENDING_BYTES};
use core::mem::size_of;
use core::ptr;
use core::sync::atomic::Ordering;

/// The span descriptor and block of `p`; aborts, naming `call`, when `p` is not a block start.
///
/// # Safety
/// `p` lies in a live SuperSlab (the pagemap said so) or in the arena.
#[inline]
pub unsafe fn span_block(p: *mut u8, call: &str) -> (*mut Span, *mut Block) {
    // SAFETY: per the caller; descriptors of a live SuperSlab are always readable.
    unsafe {
        let slab = SuperSlab::span_of(p);
        match (*slab).block_at(p) {
            Some(b) => (slab, b),
            None => diag::invalid_pointer(call, p, |l| (*slab).note_position(p, l)),
        }
    }
}

/// The key `b` gets when it is freed, after checking that `b` does not hold it already (a
/// double free, reported naming `call`).
///
/// # Safety
/// `b` is a block of the live slab `slab` (`block_at` said so), hence readable.
#[inline(always)]
pub unsafe fn key_unless_freed(call: &str, slab: *mut Span, b: *mut Block) -> usize {
    let key = freed_key(b);
    // SAFETY: per the caller.
    if unsafe { (*b).key } == key {
        // SAFETY: `slab` is the live slab of `b` (the caller's contract), its descriptor readable.
        diag::double_free(call, b.cast(), unsafe { (*slab).block_size() });
    }
    key
}

/// `free` for a pointer into a SuperSlab.
///
/// # Safety
/// As for `free`; `p` lies in a live SuperSlab or in the arena.
#[inline(always)]
pub unsafe fn free_in_superslab(p: *mut u8, heap: *mut Heap) {
    // SAFETY: per the caller.
    match unsafe { allocated_block(p) } {
        // SAFETY: `allocated_block` validated `b` as a handed-out block of the live `slab`.
        Some((slab, b, key)) => unsafe { free_block(b, heap, slab, key) },
        None => free_rejected(p, heap),
    }
}

/// The block at `p` with its slab and freed key, when `p` is the start of a block of the slab
/// whose descriptor covers it and that block is not free; None for everything else (a block
/// past its span's first slab, which has an unused descriptor here, included: the general
/// paths find the span, or report).
///
/// # Safety
/// `p` lies in a live SuperSlab or in the arena, whose descriptors are readable.
#[inline(always)]
pub unsafe fn allocated_block(p: *mut u8) -> Option<(*mut Span, *mut Block, usize)> {
    // SAFETY: per the caller; `block_at` returned a block of the slab, hence readable.
    unsafe {
        // Not `span_of`: see above.
        let slab = SuperSlab::descriptor_at(p);
        let b = (*slab).block_at(p)?;
        let key = freed_key(b);
        if (*b).key == key {
            return None;
        }
        Some((slab, b, key))
    }
}

/// The rest of `free` for `b`, a block of `slab` that the caller validated; `key` is its freed key.
///
/// # Safety
/// As for `free`; `b` is a handed-out block of the live slab `slab`, not freed since.
#[inline(always)]
pub(super) unsafe fn free_block(b: *mut Block, heap: *mut Heap, slab: *mut Span, key: usize) {
    // SAFETY: forwarded from the caller.
    unsafe {
        if (*slab).is_owned_by(heap.cast()) {
            if (*slab).push_local(b, key) {
                return free_local_slow(b, heap, slab);
            }
            // The next malloc of this class takes `b` back (see `Heap::fast`). (Not in check or
            // statistics mode: there `push_local` always sends the free to the slow path.)
            // SAFETY: a class index is below NUM_CLASSES.
            *(*heap).fast.get_unchecked_mut((*slab).class.index()) = slab;
        } else {
            free_remote(b, heap, slab, key)
        }
    }
}

/// A SuperSlab pointer that failed the fast path's checks, checked again with its span's
/// descriptor: a block past the first slab of a mid span is freed from here; `span_block` aborts
/// on a pointer that is not a block start (a retired SuperSlab's included), `key_unless_freed`
/// on a block that is already free. Reached by a tail call, and returns, so that the fast path
/// needs no stack frame. Calls nothing but `fatal`, which does not allocate: no guard
/// (`free_block`'s slow paths take it).
#[cold]
#[inline(never)]
pub(super) fn free_rejected(p: *mut u8, heap: *mut Heap) {
    // SAFETY: `free` found `p` in a live SuperSlab or in the arena; `span_block` validated `b`
    // as a block of the live slab `slab`; `heap` is as `free` was given it.
    unsafe {
        let (slab, b) = span_block(p, "free");
        free_block(b, heap, slab, key_unless_freed("free", slab, b))
    }
}

/// A free of a block of a slab `heap` does not own. The common case, a tiny block of the slab
/// the class's pending chain already holds, joins the chain here (see `PendingFrees`);
/// everything else is `free_remote_slow`'s.
#[inline(never)]
pub(super) unsafe fn free_remote(b: *mut Block, heap: *mut Heap, slab: *mut Span, key: usize) {
    // SAFETY: `b` is a handed-out block of `slab` (validated by the caller); a live `heap` is
    // the calling thread's.
    unsafe {
        // SAFETY: a class index is below NUM_CLASSES.
        let pending = (*heap).pending.get_unchecked_mut((*slab).class.index());
        // The chain's last block goes out with it, from the slow path.
        if pending.slab == slab && pending.room > 1 {
            pending.prepend(b, key);
            return;
        }
        free_remote_slow(b, heap, slab, key)
    }
}

/// `free_remote` for the rest, inside the guard: a Large span goes back to the pool
/// (`large_span`); a thread that only frees gets its heap here (as on its first malloc); a tiny
/// block starts a new pending chain (the class's old one goes to its slab), or fills the chain,
/// which then goes out; mid blocks, and frees of re-entered calls and exited threads, go to the
/// slab at once.
#[cold]
#[inline(never)]
pub(super) unsafe fn free_remote_slow(b: *mut Block, heap: *mut Heap, slab: *mut Span, key: usize) {
    let e = crate::tiers::tls::Entered::enter();
    // SAFETY: forwarded from the caller, inside the guard.
    let now = unsafe { free_remote_guarded(b, heap, slab, key) };
    // A heap created here is the thread's from now on; inside another guarded call (the slot
    // held `BUSY`) that call puts back what it holds.
    e.leave(if e.heap == heap { now } else { e.heap });
}

/// `free_remote_slow`'s body; returns the thread's heap after the call.
///
/// # Safety
/// As for `free_remote`, inside the guard.
pub(super) unsafe fn free_remote_guarded(b: *mut Block, mut heap: *mut Heap, slab: *mut Span, key: usize) -> *mut Heap {
    // SAFETY: as in `free_remote`; `thread_heap` runs inside the guard.
    unsafe {
        if (*slab).is_large() {
            crate::tiers::large_span::free(slab);
            return heap;
        }
        if (*heap).kind == Kind::Empty {
            heap = thread_heap(heap);
            // The heap this thread just took over (see `thread_exit`) may own the slab.
            if (*slab).is_owned_by(heap.cast()) {
                free_block(b, heap, slab, key);
                return heap;
            }
        }
        if check::enabled() {
            check::sealed_size("free", b.cast(), (*slab).block_size(), 0);
            check::poison(&*slab, b);
        }
        let c = (*slab).class.index();
        if (*heap).kind != Kind::Live || c >= FIRST_MID_CLASS || (*heap).check {
            (*slab).push_remote(b, key);
            return heap;
        }
        let pending = &mut (*heap).pending[c];
        if pending.slab != slab {
            pending.flush();
            let room = PENDING_BYTES / (*slab).block_size();
            *pending = PendingFrees { slab, first: ptr::null_mut(), last: b, room };
        }
        pending.prepend(b, key);
        if pending.room == 0 {
            pending.flush();
        }
        heap
    }
}

/// After local frees, a slab that was full goes back to the available list once an eighth of it
/// is free (so malloc finds those blocks without scanning), and an empty slab gives its span
/// back unless it is the class's only slab (keeping that one avoids churn when one block is
/// allocated and freed repeatedly). In check and statistics modes every local free comes here.
/// Inside the guard.
#[cold]
#[inline(never)]
pub(super) unsafe fn free_local_slow(b: *mut Block, heap: *mut Heap, s: *mut Span) {
    // SAFETY: `s` is owned by `heap`, and the caller is its owner thread; `b` was just freed.
    crate::tiers::tls::guard(|| unsafe {
        let c = (*s).class.index();
        if (*heap).check {
            // `push_local` wrote the link and key over the first 16 bytes already.
            check::sealed_size("free", b.cast(), (*s).block_size(), size_of::<Block>());
            check::poison(&*s, b);
            check::maybe_validate(&*s, &mut (*heap).check_ticks);
        }
        if (*heap).counting {
            (*heap).stats.frees[c] += 1;
            crate::platform::counters::count_free((*s).block_size());
        }
        let only_slab = (*heap).avail[c].len() == 1 && (*heap).avail[c].head() == s && (*heap).full[c].is_empty();
        if (*s).used() == 0 && only_slab {
            (*s).keep_while_only();
            // What it carved past its first page goes back after the delay, even if this
            // thread makes no further call (the purge thread's decay).
            if (*s).shrink_carved() {
                superslab::keep_tail(s);
            }
        } else if (*s).used() == 0 {
            unlink(heap, s);
            forget_fast(heap, s);
            (*s).owner.store(ptr::null_mut(), Ordering::Relaxed);
            release_span(s);
        } else if (*s).in_full() && (*s).used() <= (*s).unfull_threshold() {
            unlink(heap, s);
            push_avail(heap, s);
        }
    })
}
