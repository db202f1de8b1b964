//! malloc on the thread heap: the fast path (pop the class's current span) and the slow path
//! (collect remote frees, scan the full spans, adopt abandoned spans, take a fresh span).

use crate::blocks::block::Block;
use crate::blocks::check;
use crate::blocks::size_class::SizeClass;
use crate::blocks::span::{Span, SpanLists, KEPT_TAIL};
use crate::platform::list::List;
use crate::pool::decay;
use crate::pool::superslab::{self, SuperSlab};
use crate::tiers::heap::lifecycle::{abandon_parked, abandon_parked_since, parked_count, ORPHAN, PARKED_SPANS};
use crate::tiers::heap::lists::{
    collect, forget_fast, push_avail, push_full, release_span, rotate_full, set_fast, unlink, Heap, Kind,
};
use core::ptr;

/// The fast path: a block of `class` from the heap's current slab, or null when that slab has
/// none (always so for the sentinel heaps, and in check and statistics modes).
///
/// # Safety
/// `heap` is the calling thread's heap or a sentinel, as its slot holds it (`tls::heap`) or an
/// entry point took it (`tls::Entered`).
#[inline(always)]
pub unsafe fn pop_fast(heap: *mut Heap, class: SizeClass) -> *mut u8 {
    // SAFETY: every heap, sentinels included, has a valid slab per class; a live one is used
    // only by its thread.
    unsafe {
        let slab = (*heap).fast[class.index()];
        let b = (*slab).free.block();
        // Null, or a corrupted link (which `alloc_slow` reports).
        if !(*slab).holds(b) {
            return ptr::null_mut();
        }
        (*slab).free = Block::rest(b);
        (*b).key = 0;
        (*slab).spare += 1;
        b.cast()
    }
}

/// Allocates a block of `class`; null with errno ENOMEM when out of memory (set on the slow
/// path, so the fast path has no test for it).
///
/// # Safety
/// As for `pop_fast`; `heap` is not `BUSY` (re-entered calls are served by the bootstrap buffer).
#[inline(always)]
pub unsafe fn alloc(heap: *mut Heap, class: SizeClass) -> *mut u8 {
    // SAFETY: forwarded from the caller.
    unsafe {
        let b = pop_fast(heap, class);
        if b.is_null() {
            return alloc_slow(heap, class);
        }
        b
    }
}

#[cold]
#[inline(never)]
pub(super) unsafe fn alloc_slow(heap: *mut Heap, class: SizeClass) -> *mut u8 {
    // SAFETY: see `alloc`.
    let p = unsafe { alloc_slow_inner(heap, class) };
    if p.is_null() {
        crate::platform::errno::set_enomem();
    }
    p
}

pub(super) unsafe fn alloc_slow_inner(heap: *mut Heap, class: SizeClass) -> *mut u8 {
    // SAFETY: see `alloc`.
    unsafe {
        match (*heap).kind {
            Kind::Live => {
                let fast = (*heap).fast[class.index()];
                if !(*fast).free.is_empty() {
                    // `pop_fast` refused a head outside its slab.
                    crate::blocks::span::corrupted_list((*fast).free.block());
                }
                let b = alloc_from(heap, class);
                if !b.is_null() {
                    set_fast(heap, class.index(), SuperSlab::span_of(b));
                }
                b
            }
            // `thread_heap` could not create the thread's heap: out of memory.
            Kind::Empty | Kind::Busy => ptr::null_mut(),
            Kind::Dead | Kind::Orphan => {
                let mut orphan = ORPHAN.lock();
                // Init ran long before a thread exited: the modes are final.
                orphan.take_modes();
                alloc_from(&mut *orphan, class)
            }
        }
    }
}

/// How many full slabs one slow path re-examines for frees that arrived since.
pub(super) const FULL_SCAN_BUDGET: usize = 32;

/// How many abandoned slabs one slow path may adopt before it takes a fresh span.
pub(super) const ADOPT_BUDGET: usize = 4;

/// The generic path: find a slab of `class` with a free block in `heap`, or get one.
pub(super) unsafe fn alloc_from(heap: *mut Heap, class: SizeClass) -> *mut u8 {
    let c = class.index();
    // SAFETY: `heap` is live and used only by this thread (or under the orphan lock); every slab
    // on its lists is owned by it.
    unsafe {
        // 1. The available slabs: collect pending frees, carve more blocks, or retire as full.
        loop {
            let s = (*heap).avail[c].head();
            if s.is_null() {
                break;
            }
            if let Some(b) = take_block(heap, s) {
                return b;
            }
            unlink(heap, s);
            push_full(heap, s);
        }
        // 2. Full slabs that received frees since they filled up: the first FULL_SCAN_BUDGET
        //    are looked at, and those looked at in vain move to the tail together (round
        //    robin; a slab is only read, so a fruitless scan costs one cache line per slab).
        let mut s = (*heap).full[c].head();
        let mut budget = FULL_SCAN_BUDGET;
        while !s.is_null() && budget > 0 {
            budget -= 1;
            let next = List::<_, SpanLists>::next(s);
            if (*s).has_pending_frees() {
                unlink(heap, s);
                collect(heap, s);
                if (*s).used() == 0 && !(*heap).avail[c].is_empty() {
                    forget_fast(heap, s);
                    release_span(s);
                } else {
                    push_avail(heap, s);
                }
            }
            s = next;
        }
        if !s.is_null() {
            rotate_full(heap, c, s);
        }
        let s = (*heap).avail[c].head();
        if !s.is_null() {
            if let Some(b) = take_block(heap, s) {
                return b;
            }
        }
        let mut may_grow = parked_count() == 0;
        let mut retried = false;
        loop {
            // 3. Slabs of abandoned heaps.
            for _ in 0..ADOPT_BUDGET {
                let s = superslab::adopt(class, heap.cast());
                if s.is_null() {
                    break;
                }
                collect(heap, s);
                push_avail(heap, s);
                if let Some(b) = take_block(heap, s) {
                    return b;
                }
                unlink(heap, s);
                push_full(heap, s);
            }
            // 4. A fresh span. The pool grows only once the heaps parked by exited threads are
            //    abandoned: what they hold serves this thread first (see `thread_exit`).
            let s = superslab::acquire_span(class, heap.cast(), ptr::addr_of_mut!((*heap).superslabs), may_grow);
            decay::tick();
            if s.is_null() {
                if !may_grow {
                    abandon_parked();
                    may_grow = true;
                } else if retried || !decay::give_back_all() {
                    return ptr::null_mut();
                } else {
                    retried = true;
                }
                continue;
            }
            push_avail(heap, s);
            if parked_count() > 0 {
                abandon_parked_since(superslab::spans_acquired().saturating_sub(PARKED_SPANS));
            }
            return take_block(heap, s).unwrap_or(ptr::null_mut());
        }
    }
}

/// Pops a block from `s` after collecting its pending frees or carving new blocks.
#[inline(always)]
pub(super) unsafe fn take_block(heap: *mut Heap, s: *mut Span) -> Option<*mut u8> {
    // SAFETY: `s` is owned by `heap`, which the caller may use.
    unsafe {
        if (*s).free.is_empty() {
            collect(heap, s);
        }
        if (*s).free.is_empty() {
            if (*s).flags & KEPT_TAIL != 0 {
                superslab::unkeep_tail(s);
                // Re-armed, so that the slab's next emptying gives the tail back again.
                (*s).refresh_watermark();
            }
            let (first, n) = (*s).extend();
            if (*heap).check {
                check::poison_carved(&*s, first, n);
            }
        }
        if (*heap).check && !(*s).free.is_empty() {
            check::before_pop(&*s, (*s).free.block());
        }
        let b = (*s).pop();
        if b.is_null() {
            return None;
        }
        if (*heap).counting {
            (*heap).stats.mallocs[(*s).class.index()] += 1;
            crate::platform::counters::count_alloc((*s).block_size());
        }
        Some(b.cast())
    }
}

// Lists: `avail[c]` (head first) and `full[c]`, doubly linked through the slabs. `fast[c]`
// names a slab on one of them (or the empty sentinel): it follows `avail[c]`'s head as it
// changes, and local frees point it at their slab.
