//! A thread heap's record: per size class, the spans it owns on its lists (`avail`, `full`)
//! and the one malloc's fast path pops from (`fast`); the static sentinel heaps; the list
//! operations every path shares.

use crate::blocks::size_class::{SizeClass, FIRST_MID_CLASS, NUM_CLASSES, TINY_CLASS_BY_SIZE, TINY_MAX};
use crate::blocks::span::{Span, SpanLists};
use crate::platform::list::{Links, List, Node};
use crate::pool::decay;
use crate::pool::superslab::{self, SuperSlabs};
use crate::tiers::heap::pending::PendingFrees;
use core::ptr;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// The static heap of threads that have not allocated yet.
    Empty,
    /// The static heap of threads whose exit cleanup already ran.
    Dead,
    /// The static heap a thread's slot holds while one of its calls runs: what a re-entered
    /// call finds.
    Busy,
    Live,
    /// The shared heap that serves dead threads, under its lock (`lifecycle::ORPHAN`).
    Orphan,
}

/// Calls served, per size class, counted on the slow paths, which every call takes in statistics
/// mode (`HAKMEM_STATS`); summed per tier by `stats`.
#[derive(Clone, Copy)]
pub struct HeapStats {
    pub mallocs: [u64; NUM_CLASSES],
    pub frees: [u64; NUM_CLASSES],
    pub remote_frees: u64,
}

impl HeapStats {
    const ZERO: HeapStats = HeapStats { mallocs: [0; NUM_CLASSES], frees: [0; NUM_CLASSES], remote_frees: 0 };
}

/// Aligned so that heap records, which sit side by side, share no cache line (nor pair of
/// lines, which the L2 prefetcher fetches together).
#[repr(C, align(128))]
pub struct Heap {
    /// Per class: the slab malloc's fast path pops from, always one this heap owns: the slab of
    /// the thread's latest free of the class (so that malloc hands out the block freed last,
    /// whose lines the program touched last; Larson: 11% fewer L1 misses), or after a slow
    /// path the slab it allocated from. The empty sentinel when there is none, or in check or
    /// statistics mode (so that every malloc takes the slow path, which checks and counts).
    pub(super) fast: [*mut Span; NUM_CLASSES],
    /// `TINY_CLASS_BY_SIZE`, here so that malloc's fast path addresses it from the heap pointer
    /// (one `movzbl` with the size as index) instead of loading the table's address first.
    tiny_classes: [u8; TINY_MAX + 1],
    /// Per class: the spans that may have free blocks.
    pub(super) avail: [List<Span, SpanLists>; NUM_CLASSES],
    /// Per class: spans found without free blocks (scanned round robin).
    pub(super) full: [List<Span, SpanLists>; NUM_CLASSES],
    pub(super) kind: Kind,
    /// Check mode (`HAKMEM_CHECK`) and statistics mode (`HAKMEM_STATS`), fixed when the heap is
    /// created.
    pub(super) check: bool,
    pub(super) counting: bool,
    /// Frees since the last full slab validation in check mode.
    pub(super) check_ticks: u32,
    pub stats: HeapStats,
    /// The SuperSlabs whose spans serve this heap first (see `superslab`; pool lock only).
    pub(super) superslabs: SuperSlabs,
    /// Per class: blocks this thread freed into another thread's slab, not yet handed over.
    /// Only tiny classes of live heaps outside check mode ever start a chain; the others stay
    /// `NONE`, which no free matches, so that `free_remote` tests nothing else.
    pub(super) pending: [PendingFrees; NUM_CLASSES],
    /// Links in the registry's list of live heaps, or in its list of free records.
    pub(super) links: Links<Heap>,
    /// While parked: `superslab::spans_acquired()` when it was parked (see `thread_exit`).
    pub(super) parked_at: u64,
}

/// The registry's lists of heap records (live, and free for reuse).
pub struct Records;

// SAFETY: the links are the record's own field.
unsafe impl Node<Records> for Heap {
    fn links(n: *mut Self) -> *mut Links<Self> {
        // SAFETY: only computes the field's address.
        unsafe { ptr::addr_of_mut!((*n).links) }
    }
}

// SAFETY: a heap is used by its thread only (the orphan heap under its lock); the static
// sentinels are never written.
unsafe impl Sync for Heap {}

impl Heap {
    /// The class of a tiny request (`size <= TINY_MAX`).
    ///
    /// # Safety
    /// `heap` is a heap record or a sentinel.
    #[inline(always)]
    pub unsafe fn tiny_class(heap: *const Heap, size: usize) -> SizeClass {
        debug_assert!(size <= TINY_MAX);
        // SAFETY: per the caller, and `size` indexes the table.
        let class = unsafe { *(*heap).tiny_classes.get_unchecked(size) };
        // SAFETY: every entry is a tiny class (asserted at compile time in `size_class`);
        // telling the compiler so spares the bounds check where the class indexes `fast`.
        unsafe { core::hint::assert_unchecked((class as usize) < FIRST_MID_CLASS) };
        SizeClass(class)
    }

    /// Whether every call takes the slow path (check or statistics mode).
    pub(super) fn slow(&self) -> bool {
        self.check || self.counting
    }

    /// Takes the check and statistics modes from the options (fixed once init has run).
    pub(super) fn take_modes(&mut self) {
        let config = crate::platform::config::get();
        self.check = config.check;
        self.counting = config.stats;
    }

    /// Whether the heap's modes are the options' (not so for a heap created while init ran).
    pub(super) fn modes_current(&self) -> bool {
        let config = crate::platform::config::get();
        self.check == config.check && self.counting == config.stats
    }
}

pub static EMPTY_SPAN: Span = Span::UNUSED;

pub(super) const fn sentinel(kind: Kind) -> Heap {
    Heap {
        fast: [ptr::addr_of!(EMPTY_SPAN) as *mut Span; NUM_CLASSES],
        tiny_classes: TINY_CLASS_BY_SIZE,
        avail: [List::EMPTY; NUM_CLASSES],
        full: [List::EMPTY; NUM_CLASSES],
        kind,
        check: false,
        counting: false,
        check_ticks: 0,
        stats: HeapStats::ZERO,
        superslabs: SuperSlabs::EMPTY,
        pending: [PendingFrees::NONE; NUM_CLASSES],
        links: Links::NONE,
        parked_at: 0,
    }
}

pub static EMPTY: Heap = sentinel(Kind::Empty);

pub static DEAD: Heap = sentinel(Kind::Dead);

pub static BUSY: Heap = sentinel(Kind::Busy);

#[inline(always)]
pub(super) fn empty_span() -> *mut Span {
    ptr::addr_of!(EMPTY_SPAN) as *mut Span
}

/// Gives the empty span `s` back to the pool, then lets the decay run if it is due.
///
/// # Safety
/// As for `superslab::release_span`.
pub(super) unsafe fn release_span(s: *mut Span) {
    // SAFETY: forwarded from the caller.
    unsafe { superslab::release_span(s) };
    decay::tick();
}

/// Takes the remote frees of `s` into its free list, counting them for the statistics.
pub(super) unsafe fn collect(heap: *mut Heap, s: *mut Span) {
    // SAFETY: `s` is owned by `heap`, which the caller may use.
    unsafe {
        let n = (*s).collect();
        (*heap).stats.remote_frees += n as u64;
        if (*heap).counting {
            crate::platform::counters::count_free(n as usize * (*s).block_size());
        }
    }
}

// Lists: `avail[c]` (head first) and `full[c]`, linked through the spans. `fast[c]` names a
// span on one of them (or the empty sentinel): it follows `avail[c]`'s head as it changes, and
// local frees point it at their span.

/// Points malloc's fast path for class `c` at `s` (at the empty sentinel in check and statistics
/// modes).
pub(super) unsafe fn set_fast(heap: *mut Heap, c: usize, s: *mut Span) {
    // SAFETY: `heap` is live and used by its owner (caller).
    unsafe { (*heap).fast[c] = if (*heap).slow() { empty_span() } else { s } };
}

/// Points malloc's fast path for class `c` at the head of its available list, or at the empty
/// sentinel when that is empty.
unsafe fn set_fast_to_avail_head(heap: *mut Heap, c: usize) {
    // SAFETY: `heap` is live and used by its owner (caller).
    unsafe {
        let head = (*heap).avail[c].head();
        set_fast(heap, c, if head.is_null() { empty_span() } else { head });
    }
}

/// Before `s` leaves the heap: the fast path must not name it.
pub(super) unsafe fn forget_fast(heap: *mut Heap, s: *mut Span) {
    // SAFETY: `s` is owned by `heap`, used by its owner (caller).
    unsafe {
        let c = (*s).class.index();
        if (*heap).fast[c] == s {
            set_fast_to_avail_head(heap, c);
        }
    }
}

pub(super) unsafe fn push_avail(heap: *mut Heap, s: *mut Span) {
    // SAFETY: `s` is owned by `heap` and on no list (caller).
    unsafe {
        let c = (*s).class.index();
        let head = (*heap).avail[c].head();
        (*s).set_in_full(false);
        if (*heap).slow() {
            (*s).set_slow();
        }
        if !head.is_null() {
            // The old head may have been the class's only span, kept empty: not any more.
            (*head).refresh_watermark();
        }
        (*heap).avail[c].push_front(s);
        set_fast(heap, c, s);
    }
}

#[inline(always)]
pub(super) unsafe fn push_full(heap: *mut Heap, s: *mut Span) {
    // SAFETY: as in `push_avail`.
    unsafe {
        (*s).set_in_full(true);
        (*heap).full[(*s).class.index()].push_front(s);
    }
}

/// Moves the spans of full list `c` before `s` (which is on it) to its tail, in order.
pub(super) unsafe fn rotate_full(heap: *mut Heap, c: usize, s: *mut Span) {
    // SAFETY: the full list is `heap`'s, used by its owner (caller); `s` is on it.
    unsafe {
        debug_assert!((*s).in_full() && (*s).class.index() == c);
        (*heap).full[c].rotate_to(s);
    }
}

#[inline(always)]
pub(super) unsafe fn unlink(heap: *mut Heap, s: *mut Span) {
    // SAFETY: `s` is on one of `heap`'s lists, which `in_full` names.
    unsafe {
        let c = (*s).class.index();
        if (*s).in_full() {
            (*heap).full[c].remove(s);
        } else {
            let was_head = (*heap).avail[c].head() == s;
            (*heap).avail[c].remove(s);
            if was_head {
                set_fast_to_avail_head(heap, c);
            }
        }
    }
}
