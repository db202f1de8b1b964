//! SuperSlabs: 2 MiB-aligned regions of 32 slabs of 64 KiB, shared by all size classes and
//! threads, and the process-wide pool that hands out spans of slabs.
//!
//! Slab 0 of each SuperSlab holds the SuperSlab's header (this struct: the 32 slab descriptors,
//! each of which also names the descriptor of the span that covers its slab); slabs 1..32 hold
//! blocks.
//! A span is 1, 2, 10 or 15 consecutive slabs given to one size class (`SizeClass::span_slabs`).
//! The pool has no fixed limit: it takes a new SuperSlab (from the arena, see `arena`, else a
//! mapping of its own) whenever no free span fits. Free memory goes back to the kernel once it
//! has stayed free for `purge_state::delay_ms()`: the pages of free slabs, and whole SuperSlabs when
//! they are empty, beyond a small cache of empty ones.
//!
//! Affinity: a SuperSlab serves the spans of one heap (its `owner`, the heap that took its first
//! span) as long as that heap lives (parked ones included, see `heap::lifecycle::thread_exit`), so threads
//! do not interleave their slabs in one SuperSlab.
//! (Measured on 2-thread Larson: sharing SuperSlabs between threads made free and malloc about
//! twice as slow per call as with one thread, whose cost affinity brings back.) A heap looks for
//! a span in its own SuperSlabs, then in those of abandoned heaps, then in an empty or new one.
//!
//! Everything here runs under the pool lock, except `span_of`, which the free path calls.

use crate::blocks::size_class::{SizeClass, NUM_CLASSES};
use crate::blocks::span::{Span, SpanLists, SpanOwner, SLAB_SHIFT, SLAB_SIZE};
use crate::memory::arena;
use crate::memory::pagemap::{self, CHUNK_SIZE};
use crate::platform::config;
use crate::platform::list::{Links, List, Node};
use crate::platform::os;
use crate::platform::sync::Mutex;

use core::ptr;
use core::sync::atomic::{AtomicU64, Ordering};

pub const SUPERSLAB_SIZE: usize = CHUNK_SIZE;
pub const SLABS_PER_SUPERSLAB: usize = SUPERSLAB_SIZE / SLAB_SIZE;
const HEADER_SLABS_MASK: u32 = 1;

#[repr(C)]
pub struct SuperSlab {
    /// Descriptor `i` describes the span starting at slab `i` (only span heads are in use; every
    /// descriptor's `head_offset` names its span's head).
    pub slabs: [Span; SLABS_PER_SUPERSLAB],
    /// Bit i set: slab i belongs to a span in use (bit 0: the header).
    used_mask: u32,
    /// Bit i set: slab i was used since it was last purged.
    dirty_mask: u32,
    /// Bit i set: the span at slab i has nothing carved past its first page since its owner
    /// kept it empty (`Span::shrink_carved`), and the rest goes back once it has stayed so for
    /// the delay since `freed_at_ms[i]`; the owner clears it before carving further
    /// (`unkeep_tail`), and a release does.
    kept_mask: u32,
    /// When each slab was last released (`os::now_ms`, 0: never): a free slab keeps its pages
    /// until `purge_state::delay_ms()` after that.
    freed_at_ms: [u64; SLABS_PER_SUPERSLAB],
    /// The heap whose spans this SuperSlab serves first; null when none (empty, or its heap
    /// was abandoned).
    owner: *mut SuperSlabs,
    /// The list this SuperSlab is on (see `Pool::place`), and its links there.
    on: *mut SsList,
    state_links: Links<SuperSlab>,
    /// Links in the list of every SuperSlab (for purging and trimming).
    all_links: Links<SuperSlab>,
}

/// The lists of SuperSlabs by state (a heap's partial and full ones, the pool's shared and
/// empty ones: `SsList`) and the list of every SuperSlab (`Pool::all`).
pub struct ByState;
pub struct Every;

// SAFETY: the links are the SuperSlab's own field for each kind.
unsafe impl Node<ByState> for SuperSlab {
    fn links(n: *mut Self) -> *mut Links<Self> {
        // SAFETY: only computes the field's address.
        unsafe { ptr::addr_of_mut!((*n).state_links) }
    }
}

// SAFETY: as above.
unsafe impl Node<Every> for SuperSlab {
    fn links(n: *mut Self) -> *mut Links<Self> {
        // SAFETY: only computes the field's address.
        unsafe { ptr::addr_of_mut!((*n).all_links) }
    }
}

const _: () = assert!(core::mem::size_of::<SuperSlab>() <= SLAB_SIZE);
const _: () = assert!(SLABS_PER_SUPERSLAB == 32);

impl SuperSlab {
    /// The descriptor of the span that holds `p`, a pointer inside a SuperSlab.
    ///
    /// # Safety
    /// `p` must lie in a live SuperSlab (the pagemap said so) or in the arena (whose retired
    /// SuperSlabs have only unused descriptors).
    #[inline(always)]
    pub unsafe fn span_of(p: *mut u8) -> *mut Span {
        let ss = p as usize & !(SUPERSLAB_SIZE - 1);
        // SAFETY: per the caller; `head_offset` is the offset of a descriptor of the SuperSlab
        // by construction. Slab 0's descriptor is never in use, so pointers into the header (or
        // into free slabs) get an unused descriptor.
        unsafe { (ss + (*Self::descriptor_at(p)).head_offset as usize) as *mut Span }
    }

    /// The descriptor of the slab that holds `p`: its span's descriptor when that slab is the
    /// span's first, else an unused one (a later slab of a multi-slab span, the header, a free
    /// slab), whose `block_at` rejects every pointer. One load fewer than `span_of`, for
    /// `free`'s fast path: tiny spans are one slab, and blocks further into mid spans take
    /// the slow path, which uses `span_of`.
    ///
    /// # Safety
    /// As for `span_of`.
    #[inline(always)]
    pub unsafe fn descriptor_at(p: *mut u8) -> *mut Span {
        let ss = (p as usize & !(SUPERSLAB_SIZE - 1)) as *mut SuperSlab;
        let idx = (p as usize >> SLAB_SHIFT) & (SLABS_PER_SUPERSLAB - 1);
        // SAFETY: `ss` is live per the caller and idx < 32.
        unsafe { ptr::addr_of_mut!((*ss).slabs[idx]) }
    }

    /// Points the descriptors of slabs `first..first + n` at the head of their span (`head`:
    /// `first`), or at the unused header descriptor (`head`: 0).
    unsafe fn set_head(ss: *mut SuperSlab, first: usize, n: usize, head: usize) {
        for i in first..first + n {
            // SAFETY: `ss` is live and i < 32 (the caller holds the pool lock).
            unsafe { (*ss).slabs[i].head_offset = (head * core::mem::size_of::<Span>()) as u16 };
        }
    }

    /// Writes an empty SuperSlab's header at `ss` (every field: the memory is fresh, which is
    /// not a valid `Span` bit pattern for every field type, or a retired SuperSlab's), with the
    /// slabs of `dirty` holding pages, released at `freed_at_ms`.
    ///
    /// # Safety
    /// `ss` is a read-write 2 MiB chunk that no SuperSlab in use covers (the header fits in
    /// slab 0).
    unsafe fn init(ss: *mut SuperSlab, dirty: u32, freed_at_ms: u64) {
        // SAFETY: per the caller.
        unsafe {
            for i in 0..SLABS_PER_SUPERSLAB {
                ptr::addr_of_mut!((*ss).slabs[i]).write(Span::UNUSED);
            }
            ptr::addr_of_mut!((*ss).used_mask).write(HEADER_SLABS_MASK);
            ptr::addr_of_mut!((*ss).dirty_mask).write(dirty & !HEADER_SLABS_MASK);
            ptr::addr_of_mut!((*ss).kept_mask).write(0);
            ptr::addr_of_mut!((*ss).freed_at_ms).write([freed_at_ms; SLABS_PER_SUPERSLAB]);
            ptr::addr_of_mut!((*ss).owner).write(ptr::null_mut());
            ptr::addr_of_mut!((*ss).on).write(ptr::null_mut());
            ptr::addr_of_mut!((*ss).state_links).write(Links::NONE);
            ptr::addr_of_mut!((*ss).all_links).write(Links::NONE);
        }
    }

    /// Gives the pages of the free slabs of `ss` back to the kernel; returns the bytes purged.
    unsafe fn purge_free_slabs(ss: *mut SuperSlab) -> usize {
        // SAFETY: forwarded from the caller.
        unsafe { Self::purge_slabs(ss, u32::MAX) }
    }

    /// Gives the pages of the free slabs of `ss` in `mask` back to the kernel; returns the bytes
    /// purged.
    unsafe fn purge_slabs(ss: *mut SuperSlab, mask: u32) -> usize {
        // SAFETY: `ss` is live; free slabs hold no block; the caller holds the pool lock.
        unsafe {
            let mut purgeable = (*ss).dirty_mask & !(*ss).used_mask & mask;
            let mut bytes = 0;
            while purgeable != 0 {
                let first = purgeable.trailing_zeros() as usize;
                let run = (purgeable >> first).trailing_ones() as usize;
                // A refused purge leaves the slabs dirty, for the next decay.
                if os::purge(Self::base(ss).add(first * SLAB_SIZE), run * SLAB_SIZE) {
                    (*ss).dirty_mask &= !span_mask(first, run);
                    bytes += run * SLAB_SIZE;
                }
                purgeable &= !span_mask(first, run);
            }
            bytes
        }
    }

    /// Gives back the tails of the kept spans of `ss` in `mask` (`Pool::keep_tail`); returns
    /// the bytes purged. Their bits are cleared whatever the kernel says: after a refused
    /// purge the owner carves into the tail as into any page, and no decay retries it.
    unsafe fn purge_kept(ss: *mut SuperSlab, mask: u32) -> usize {
        // SAFETY: `ss` is live; a kept span's tail holds no list and no block, and its owner
        // carves into it only after `unkeep_tail`, which waits for the pool lock (held).
        unsafe {
            let mut kept = (*ss).kept_mask & mask;
            (*ss).kept_mask &= !kept;
            let mut bytes = 0;
            while kept != 0 {
                let i = kept.trailing_zeros() as usize;
                kept &= kept - 1;
                let (tail, len) = (*ss).slabs[i].tail();
                if len > 0 && os::purge(tail, len) {
                    bytes += len;
                }
            }
            bytes
        }
    }

    fn base(this: *mut SuperSlab) -> *mut u8 {
        this.cast()
    }
}

/// A doubly linked list of SuperSlabs (through `next`/`prev`); each is on at most one.
pub struct SsList {
    list: List<SuperSlab, ByState>,
}

impl SsList {
    const EMPTY: SsList = SsList { list: List::EMPTY };

    fn head(&self) -> *mut SuperSlab {
        self.list.head()
    }

    unsafe fn push(&mut self, ss: *mut SuperSlab) {
        // SAFETY: `ss` is live and on no list (caller; pool lock held).
        unsafe {
            (*ss).on = self;
            self.list.push_front(ss);
        }
    }

    unsafe fn remove(&mut self, ss: *mut SuperSlab) {
        // SAFETY: `ss` is on this list (caller; pool lock held).
        unsafe {
            self.list.remove(ss);
            (*ss).on = ptr::null_mut();
        }
    }

    /// The first SuperSlab of the list with `n` consecutive free slabs starting at a multiple
    /// of `step`, and where they start.
    fn find(&self, n: usize, step: usize) -> Option<(*mut SuperSlab, usize)> {
        self.find_within(n, step, usize::MAX)
    }

    /// `find` among the first `budget` SuperSlabs of the list.
    fn find_within(&self, n: usize, step: usize, mut budget: usize) -> Option<(*mut SuperSlab, usize)> {
        let mut ss = self.head();
        while !ss.is_null() && budget > 0 {
            budget -= 1;
            // SAFETY: SuperSlabs on a list are live (pool lock held).
            unsafe {
                if let Some(i) = find_run((*ss).used_mask, n, step) {
                    return Some((ss, i));
                }
                ss = List::<_, ByState>::next(ss);
            }
        }
        None
    }
}

/// A heap's SuperSlabs (kept in the heap record, touched only under the pool lock).
pub struct SuperSlabs {
    /// Those with at least one free slab.
    partial: SsList,
    /// Those without.
    full: SsList,
}

impl SuperSlabs {
    pub const EMPTY: SuperSlabs = SuperSlabs { partial: SsList::EMPTY, full: SsList::EMPTY };
}

pub struct Pool {
    /// SuperSlabs with free slabs and no owner (their heap was abandoned).
    shared: SsList,
    /// SuperSlabs with no span in use (no owner).
    empty: SsList,
    /// Every SuperSlab (not the retired ones: empty SuperSlabs of the arena beyond the cache,
    /// their pages purged, kept by the arena and taken again before it is carved further).
    all: List<SuperSlab, Every>,
    /// Spans of abandoned heaps, by size class, waiting for another thread to adopt them (the
    /// sweep takes them from the head and puts those it keeps back at the tail).
    abandoned: [List<Span, SpanLists>; NUM_CLASSES],
    abandoned_count: usize,
    /// The class the next sweep of abandoned slabs starts at.
    sweep_class: usize,
    /// SuperSlabs in use or cached (not retired, not unmapped).
    superslabs_mapped: usize,
    /// Spans given back since start (statistics; those handed out: `SPANS_ACQUIRED`).
    spans_released: u64,
}

/// What one decay may purge or give back (64 MiB): the madvise and munmap calls run under the
/// pool lock, which every thread that takes or gives back a span waits for.
const DECAY_BYTES_BUDGET: usize = 64 << 20;

pub static POOL: Mutex<Pool> = Mutex::new(Pool {
    shared: SsList::EMPTY,
    empty: SsList::EMPTY,
    all: List::EMPTY,
    abandoned: [List::EMPTY; NUM_CLASSES],
    abandoned_count: 0,
    sweep_class: 0,
    superslabs_mapped: 0,
    spans_released: 0,
});

/// Spans handed out since start: written under the pool lock, read without it (parked heaps
/// age by it, see `heap::lifecycle::thread_exit`).
static SPANS_ACQUIRED: AtomicU64 = AtomicU64::new(0);

/// Remote frees that sweeps of abandoned slabs collected (statistics).
static SWEPT_REMOTE_FREES: AtomicU64 = AtomicU64::new(0);

/// How many SuperSlabs without an owner one span acquisition looks at for room: Large spans
/// (`large_span`) leave many such SuperSlabs with a few free slabs, and a scan of them all
/// made 100,000 allocations of 200 KiB quadratic (28 s).
const SHARED_FIND_BUDGET: usize = 16;

/// How many abandoned slabs one span acquisition re-examines for blocks freed since.
const SWEEP_BUDGET: usize = 32;
/// How many abandoned slabs `decay` re-examines: without it, the slabs that an exited thread
/// left with a few live blocks stayed until a thread took spans or adopted them, although
/// other threads had freed every block (a worker's 80 MiB, 1% of it freed after its exit by
/// a thread that then made only large allocations: held until `malloc_trim`).
const DECAY_SWEEP_BUDGET: usize = 1024;

/// Runs `f` on the pool with the lock held.
fn with_pool<R>(f: impl FnOnce(&mut Pool) -> R) -> R {
    f(&mut POOL.lock())
}

/// First index, a multiple of `step` (a power of two up to 16), of `n` consecutive zero bits
/// in `mask`.
fn find_run(mask: u32, n: usize, step: usize) -> Option<usize> {
    debug_assert!(step.is_power_of_two() && step <= 16);
    let free = !mask;
    let mut run = free;
    for k in 1..n {
        run &= free >> k;
    }
    // Bits 0, step, 2 step... (0x5555_5555 for 2, 0x1111_1111 for 4, all for 1).
    run &= u32::MAX / ((1u32 << step) - 1);
    if run == 0 {
        None
    } else {
        Some(run.trailing_zeros() as usize)
    }
}

fn span_mask(first: usize, n: usize) -> u32 {
    (((1u64 << n) - 1) << first) as u32
}

impl Pool {
    /// Moves `ss` to the list its state calls for: `empty` when no span is in use (the owner is
    /// dropped); else its owner's `partial` or `full`; else, without an owner, `shared` when it
    /// has a free slab, or no list.
    unsafe fn place(&mut self, ss: *mut SuperSlab) {
        // SAFETY: `ss` is live; owners' lists live in heap records, which are never unmapped;
        // we hold the pool lock.
        unsafe {
            let full = (*ss).used_mask == u32::MAX;
            let target: *mut SsList = if (*ss).used_mask == HEADER_SLABS_MASK {
                (*ss).owner = ptr::null_mut();
                &mut self.empty
            } else if let Some(owner) = (*ss).owner.as_mut() {
                if full {
                    &mut owner.full
                } else {
                    &mut owner.partial
                }
            } else if full {
                ptr::null_mut()
            } else {
                &mut self.shared
            };
            if (*ss).on != target {
                if let Some(on) = (*ss).on.as_mut() {
                    on.remove(ss);
                }
                if let Some(target) = target.as_mut() {
                    target.push(ss);
                }
            }
        }
    }

    /// A new empty SuperSlab: a retired one, else a chunk carved from the arena, else a mapping
    /// of its own; null when out of memory.
    fn new_superslab(&mut self) -> *mut SuperSlab {
        // SAFETY: we hold the pool lock.
        let retired = unsafe { arena::take_retired() };
        let mem = if !retired.is_null() {
            retired
        } else {
            // SAFETY: we hold the pool lock.
            let chunk = unsafe { arena::carve() };
            if chunk.is_null() {
                os::map_aligned(SUPERSLAB_SIZE, SUPERSLAB_SIZE)
            } else {
                chunk
            }
        };
        if mem.is_null() {
            return ptr::null_mut();
        }
        // Which slabs hold pages, and since when they are free. A huge page brings every slab
        // in at the first touch (a retired SuperSlab's too: its header was purged with the
        // rest, so nothing of the 2 MiB may be mapped): each counts as freed now, so that the
        // decay purges it once free for the delay, rather than at its next tick (splitting the
        // page). Else a retired SuperSlab's slabs whose purge the kernel refused (locked
        // memory: mlockall) still hold their old bytes and stay dirty, so that `claim` does
        // not call them clean; its header says which (purged, it reads as zero: none).
        let (dirty, freed_at_ms) = if crate::memory::huge::advise_superslab(mem, SUPERSLAB_SIZE) {
            (u32::MAX, os::now_ms())
        } else if !retired.is_null() {
            // SAFETY: a retired chunk is readable and no SuperSlab in use covers it.
            (unsafe { (*retired.cast::<SuperSlab>()).dirty_mask }, 0)
        } else {
            (0, 0)
        };
        let ss = mem.cast::<SuperSlab>();
        // SAFETY: `mem` is a read-write 2 MiB chunk that no SuperSlab in use covers.
        unsafe { SuperSlab::init(ss, dirty, freed_at_ms) };
        if !pagemap::set_superslab(mem as usize, true) {
            // (The arena lies within the pagemap's range: only a mapping of its own gets here.)
            debug_assert!(!arena::contains(mem as usize));
            os::unmap(mem, SUPERSLAB_SIZE);
            return ptr::null_mut();
        }
        self.superslabs_mapped += 1;
        if self.superslabs_mapped * SUPERSLAB_SIZE >= crate::memory::purge_state::PURGER_HEAP_BYTES {
            crate::memory::purge_state::want_purger();
        }
        // SAFETY: the new SuperSlab is live and on no list.
        unsafe {
            self.all.push_front(ss);
            self.place(ss);
        }
        ss
    }

    /// A span of `class` for `owner` (whose SuperSlab lists are `lists`, null for none); with
    /// `may_grow` false, null rather than a new SuperSlab.
    fn acquire(
        &mut self,
        class: SizeClass,
        owner: *mut SpanOwner,
        lists: *mut SuperSlabs,
        may_grow: bool,
    ) -> *mut Span {
        if self.abandoned_count > 0 {
            self.sweep_abandoned(SWEEP_BUDGET);
        }
        let n = class.span_slabs();
        let Some((slab, _)) = self.claim(n, 1, lists, may_grow) else {
            return ptr::null_mut();
        };
        // SAFETY: `claim` gave us the unused head descriptor of a fresh span of `n` free slabs
        // of a live SuperSlab, which no other descriptor covers.
        unsafe { (*slab).init(class, (*slab).start, n, owner) };
        slab
    }

    /// A span of `n` slabs for one Large block (see `large_span`), starting at a multiple of
    /// `step` slabs, and whether its memory is untouched since it was last purged (reads as
    /// zero); owned by `owner`.
    fn acquire_large(&mut self, n: usize, step: usize, owner: *mut SpanOwner) -> Option<(*mut Span, bool)> {
        let (slab, clean) = self.claim(n, step, ptr::null_mut(), true)?;
        // SAFETY: as in `acquire`.
        unsafe { (*slab).init_large((*slab).start, n, owner) };
        Some((slab, clean))
    }

    /// Takes `n` free slabs in a row, the first at a multiple of `step` (a power of two; the
    /// span's alignment in slabs), from the SuperSlabs of `lists` (null: none), then the
    /// shared ones, then an empty or (with `may_grow`) a new one; returns the span's head
    /// descriptor, unused but for `start` and `head_offset`, and whether the slabs are clean
    /// (untouched since they were last purged).
    fn claim(&mut self, n: usize, step: usize, lists: *mut SuperSlabs, may_grow: bool) -> Option<(*mut Span, bool)> {
        // SAFETY: `lists` is null or the owner's, in a heap record that is never unmapped.
        let own = unsafe { lists.as_ref() }.and_then(|l| l.partial.find(n, step));
        let (ss, first) = own.or_else(|| self.shared.find_within(n, step, SHARED_FIND_BUDGET)).or_else(|| {
            let ss = match self.empty.head() {
                ss if !ss.is_null() => ss,
                _ if may_grow => self.new_superslab(),
                _ => ptr::null_mut(),
            };
            // (An empty SuperSlab has every run a span can ask for: n + step <= 32.)
            (!ss.is_null()).then(|| (ss, find_run(HEADER_SLABS_MASK, n, step).unwrap_or(step)))
        })?;
        // SAFETY: `ss` is live and slabs first..first+n are free; we hold the pool lock.
        unsafe {
            if (*ss).owner.is_null() {
                (*ss).owner = lists;
            }
            let mask = span_mask(first, n);
            let clean = (*ss).dirty_mask & mask == 0;
            (*ss).used_mask |= mask;
            (*ss).dirty_mask |= mask;
            self.place(ss);
            SPANS_ACQUIRED.fetch_add(1, Ordering::Relaxed);
            let slab = ptr::addr_of_mut!((*ss).slabs[first]);
            (*slab).start = SuperSlab::base(ss).add(first * SLAB_SIZE);
            SuperSlab::set_head(ss, first, n, first);
            Some((slab, clean))
        }
    }

    /// Grows the Large span `slab` in place to `n` slabs, when the slabs after it are free.
    unsafe fn grow_large(&mut self, slab: *mut Span, n: usize) -> bool {
        // SAFETY: `slab` is a live Large span head (caller); we hold the pool lock.
        unsafe {
            let (ss, first) = Self::slot_of(slab);
            let old = (*slab).span_slabs as usize;
            if first + n > SLABS_PER_SUPERSLAB || (*ss).used_mask & span_mask(first + old, n - old) != 0 {
                return false;
            }
            let mask = span_mask(first + old, n - old);
            (*ss).used_mask |= mask;
            (*ss).dirty_mask |= mask;
            SuperSlab::set_head(ss, first + old, n - old, first);
            (*slab).set_large_len(n);
            self.place(ss);
            true
        }
    }

    /// Registers the tail of `slab`, a span its owner kept empty and shrank
    /// (`Span::shrink_carved`), for the decay: it goes back after the delay unless the owner
    /// carves into it first, although the owner makes no further call.
    unsafe fn keep_tail(&mut self, slab: *mut Span) {
        // SAFETY: `slab` is a span head in use (caller); we hold the pool lock.
        unsafe {
            let (ss, first) = Self::slot_of(slab);
            (*ss).kept_mask |= 1 << first;
            (*ss).freed_at_ms[first] = os::now_ms();
        }
    }

    /// Takes the tail of `slab` back before its owner carves into it (a decay in progress holds
    /// the pool lock: this waits until it is done).
    unsafe fn unkeep_tail(&mut self, slab: *mut Span) {
        // SAFETY: `slab` is a span head in use (caller); we hold the pool lock.
        unsafe {
            let (ss, first) = Self::slot_of(slab);
            (*ss).kept_mask &= !(1 << first);
        }
    }

    /// The SuperSlab of the span head `slab` and the index of its first slab (that of its
    /// descriptor).
    fn slot_of(slab: *mut Span) -> (*mut SuperSlab, usize) {
        let ss = ((slab as usize) & !(SUPERSLAB_SIZE - 1)) as *mut SuperSlab;
        (ss, (slab as usize - ss as usize) / size_of::<Span>())
    }

    unsafe fn release(&mut self, slab: *mut Span) {
        // SAFETY: `slab` is a span head in use, now empty and unowned (caller).
        unsafe {
            let (ss, first) = Self::slot_of(slab);
            let n = (*slab).span_slabs as usize;
            (*slab).clear();
            SuperSlab::set_head(ss, first, n, 0);
            self.spans_released += 1;
            (*ss).used_mask &= !span_mask(first, n);
            (*ss).kept_mask &= !(1 << first);
            let now = os::now_ms();
            (&mut (*ss).freed_at_ms)[first..first + n].fill(now);
            self.place(ss);
        }
    }

    /// Releases abandoned slabs that other threads' frees emptied (up to `DECAY_SWEEP_BUDGET`),
    /// then gives back the memory that has stayed free for `purge_state::delay_ms()`: the pages of free
    /// slabs released that long ago, and empty SuperSlabs beyond the cache whose slabs all were
    /// (up to `DECAY_BYTES_BUDGET`; the next decay goes on where this one stopped, as the
    /// SuperSlabs done have nothing left to purge).
    /// Returns what free memory is still held back (dirty free slabs, or SuperSlabs the budget
    /// did not reach).
    fn decay(&mut self, now: u64) -> crate::memory::purge_state::Held {
        if self.abandoned_count > 0 {
            self.sweep_abandoned(DECAY_SWEEP_BUDGET);
        }
        let cache = config::get().superslab_cache;
        let delay = crate::memory::purge_state::delay_ms();
        let mut budget = DECAY_BYTES_BUDGET;
        let mut pending = false;
        let mut ss = self.all.head();
        while !ss.is_null() && budget > 0 {
            // SAFETY: SuperSlabs on the list are live; we hold the pool lock. `next` is read
            // before `ss` may leave the list.
            unsafe {
                let next = List::<_, Every>::next(ss);
                let freed_at = &(*ss).freed_at_ms;
                let mut old = 0u32;
                for (i, &t) in freed_at.iter().enumerate() {
                    if now.saturating_sub(t) >= delay {
                        old |= 1 << i;
                    }
                }
                let free = !(*ss).used_mask;
                let empty = (*ss).used_mask == HEADER_SLABS_MASK;
                let given = if empty && self.empty.list.len() > cache && free & (*ss).dirty_mask & !old == 0 {
                    self.give_back_empty(ss)
                } else {
                    let given = SuperSlab::purge_slabs(ss, old) + SuperSlab::purge_kept(ss, old);
                    pending |= !(*ss).used_mask & (*ss).dirty_mask != 0 || (*ss).kept_mask != 0;
                    given
                };
                budget = budget.saturating_sub(given);
                ss = next;
            }
        }
        if !ss.is_null() {
            crate::memory::purge_state::Held::More
        } else if pending {
            crate::memory::purge_state::Held::Later
        } else {
            crate::memory::purge_state::Held::Nothing
        }
    }

    /// The SuperSlabs of an abandoned heap lose their owner: their free spans go to anyone.
    unsafe fn disown(&mut self, lists: *mut SuperSlabs) {
        // SAFETY: `lists` is a heap record's, touched only under the pool lock (held).
        unsafe {
            for list in [ptr::addr_of_mut!((*lists).partial), ptr::addr_of_mut!((*lists).full)] {
                while !(*list).head().is_null() {
                    let ss = (*list).head();
                    (*ss).owner = ptr::null_mut();
                    self.place(ss);
                }
            }
        }
    }

    /// Gives an empty SuperSlab back: one of the arena is retired (its pages purged, its address
    /// range kept), any other unmapped. Returns the bytes given back.
    unsafe fn give_back_empty(&mut self, ss: *mut SuperSlab) -> usize {
        // SAFETY: `ss` is live, empty and on the empty list (caller); we hold the pool lock.
        unsafe {
            self.empty.remove(ss);
            self.all.remove(ss);
            self.superslabs_mapped -= 1;
            pagemap::set_superslab(ss as usize, false);
            if arena::contains(ss as usize) {
                let purged = SuperSlab::purge_free_slabs(ss);
                // The header slab too (8 KiB, the whole 64 KiB if a huge page backed the
                // SuperSlab), the header included once every other slab is purged: it then
                // reads as zero, which is unused descriptors and no dirty slab, what it holds
                // now. Else the header stays, to say which slabs kept their bytes.
                let header =
                    if (*ss).dirty_mask == 0 { 0 } else { os::align_up(size_of::<SuperSlab>(), os::PAGE_SIZE) };
                os::purge(ss.cast::<u8>().add(header), SLAB_SIZE - header);
                arena::retire(ss.cast());
                return purged;
            }
            os::unmap(ss.cast(), SUPERSLAB_SIZE);
        }
        SUPERSLAB_SIZE
    }

    /// Purges every free slab.
    fn purge_all(&mut self) -> usize {
        let mut bytes = 0;
        let mut ss = self.all.head();
        while !ss.is_null() {
            // SAFETY: SuperSlabs on the list are live; we hold the pool lock.
            unsafe {
                bytes += SuperSlab::purge_free_slabs(ss) + SuperSlab::purge_kept(ss, u32::MAX);
                ss = List::<_, Every>::next(ss);
            }
        }
        bytes
    }

    unsafe fn push_abandoned(&mut self, slab: *mut Span) {
        // SAFETY: `slab` is an unowned span head on no list (caller); we hold the pool lock.
        unsafe { self.abandoned[(*slab).class.index()].push_back(slab) };
        self.abandoned_count += 1;
    }

    fn pop_abandoned(&mut self, c: usize) -> *mut Span {
        let slab = self.abandoned[c].pop_front();
        if !slab.is_null() {
            self.abandoned_count -= 1;
        }
        slab
    }

    /// Abandoned slabs whose blocks were all freed by other threads since would otherwise wait
    /// for an adopter of their class: collect their remote frees and release the empty ones.
    /// Up to `budget` slabs, class by class from where the last sweep stopped, each at most
    /// once, so that one class's kept slabs cannot take the whole budget.
    fn sweep_abandoned(&mut self, budget: usize) {
        let mut budget = budget.min(self.abandoned_count);
        let mut c = self.sweep_class;
        for _ in 0..NUM_CLASSES {
            // The class's slabs as listed now, each once (those kept go back at the tail).
            let mut first_kept = ptr::null_mut();
            while budget > 0 && !self.abandoned[c].is_empty() && self.abandoned[c].head() != first_kept {
                let slab = self.pop_abandoned(c);
                budget -= 1;
                // SAFETY: an abandoned slab has no owner; under the pool lock we act as its owner.
                unsafe {
                    let n = (*slab).collect();
                    SWEPT_REMOTE_FREES.fetch_add(n as u64, Ordering::Relaxed);
                    if (*slab).used() == 0 {
                        self.release(slab);
                    } else {
                        self.push_abandoned(slab);
                        if first_kept.is_null() {
                            first_kept = slab;
                        }
                    }
                }
            }
            if budget == 0 {
                break;
            }
            c = (c + 1) % NUM_CLASSES;
        }
        self.sweep_class = (c + 1) % NUM_CLASSES;
    }

    /// Releases the abandoned slabs that other threads' frees emptied, gives back empty
    /// SuperSlabs and purges every free slab; returns the bytes given back.
    fn trim(&mut self) -> usize {
        self.sweep_abandoned(self.abandoned_count);
        let mut released = 0;
        while !self.empty.head().is_null() {
            // SAFETY: SuperSlabs on the empty list are live and empty; we hold the pool lock.
            released += unsafe { self.give_back_empty(self.empty.head()) };
        }
        released + self.purge_all()
    }
}

/// A fresh span of `class` owned by `owner`, whose SuperSlabs are `lists` (null: none), or null
/// when out of memory or, unless `may_grow`, when the pool would need a new SuperSlab.
pub fn acquire_span(class: SizeClass, owner: *mut SpanOwner, lists: *mut SuperSlabs, may_grow: bool) -> *mut Span {
    with_pool(|p| p.acquire(class, owner, lists, may_grow))
}

/// A span of `n` slabs holding one Large block, owned by `owner` (see `large_span`), aligned to
/// `step` slabs (a power of two up to 16), and whether its memory reads as zero; None when out
/// of memory.
pub fn acquire_large_span(n: usize, step: usize, owner: *mut SpanOwner) -> Option<(*mut Span, bool)> {
    with_pool(|p| p.acquire_large(n, step, owner))
}

/// Grows the Large span `slab` to `n` slabs in place, if the slabs after it are free.
///
/// # Safety
/// `slab` is a live Large span head, used by the caller alone (the block's owner).
pub unsafe fn grow_large_span(slab: *mut Span, n: usize) -> bool {
    // SAFETY: forwarded from the caller.
    with_pool(|p| unsafe { p.grow_large(slab, n) })
}

/// When a heap is abandoned: its SuperSlabs (`lists`) lose their owner.
///
/// # Safety
/// `lists` belongs to a heap record no thread uses but the caller, after it abandoned its slabs.
pub unsafe fn disown(lists: *mut SuperSlabs) {
    // SAFETY: forwarded from the caller.
    with_pool(|p| unsafe { p.disown(lists) })
}

/// Returns an empty span (no block handed out, no owner) to its SuperSlab.
///
/// # Safety
/// `slab` must be a span head obtained from `acquire_span`/`adopt`, with `used() == 0`, referenced
/// by no heap list.
pub unsafe fn release_span(slab: *mut Span) {
    // SAFETY: forwarded from the caller.
    with_pool(|p| unsafe { p.release(slab) });
    crate::memory::purge_state::wake_purger();
}

/// See `Pool::keep_tail`: `slab` is a span head its owner keeps, empty, whose tail
/// `Span::shrink_carved` just freed.
///
/// # Safety
/// `slab` is a live span head owned by the caller's heap.
pub unsafe fn keep_tail(slab: *mut Span) {
    // SAFETY: forwarded from the caller.
    with_pool(|p| unsafe { p.keep_tail(slab) });
    crate::memory::purge_state::wake_purger();
}

/// See `Pool::unkeep_tail`; clears the span's `KEPT_TAIL`.
///
/// # Safety
/// `slab` is a live span head owned by the caller's heap, marked `KEPT_TAIL`.
pub unsafe fn unkeep_tail(slab: *mut Span) {
    // SAFETY: forwarded from the caller.
    with_pool(|p| unsafe { p.unkeep_tail(slab) });
    // SAFETY: the caller owns the span: its flags are its own.
    unsafe { (*slab).flags &= !crate::blocks::span::KEPT_TAIL };
}

/// Leaves a slab of a heap being abandoned for another thread to adopt.
///
/// # Safety
/// `slab` must be a span head in use, owned by a heap no thread uses but the caller, and on none
/// of its lists.
pub unsafe fn abandon(slab: *mut Span) {
    with_pool(|p| {
        // SAFETY: we own the slab until the owner is cleared; the list is under the pool lock.
        unsafe {
            // Relaxed: an adopter takes the slab from the list under the pool lock, which orders
            // our last writes to the slab before its reads.
            (*slab).owner.store(ptr::null_mut(), Ordering::Relaxed);
            p.push_abandoned(slab);
        }
    })
}

/// Takes an abandoned slab of `class`, now owned by `owner`; null when there is none.
pub fn adopt(class: SizeClass, owner: *mut SpanOwner) -> *mut Span {
    with_pool(|p| {
        let slab = p.pop_abandoned(class.index());
        if !slab.is_null() {
            // SAFETY: abandoned slabs are live span heads; the list is under the pool lock.
            unsafe {
                (*slab).set_in_full(false);
                // Relaxed: only the new owner compares with its own heap (see `Span::init`).
                (*slab).owner.store(owner, Ordering::Relaxed);
            }
        }
        slab
    })
}

/// Purges free slabs and gives back empty SuperSlabs; returns the bytes given back.
pub fn trim() -> usize {
    with_pool(|p| p.trim())
}

/// Gives back the memory that has stayed free long enough (see `decay`); `now`: `os::now_ms()`.
/// See `Pool::decay`.
pub fn decay(now: u64) -> crate::memory::purge_state::Held {
    with_pool(|p| p.decay(now))
}

/// Ends the arena where it is carved to (see `arena::end`).
#[cfg(feature = "interpose")]
pub fn end_arena() {
    // SAFETY: `with_pool` holds the pool lock.
    with_pool(|_| unsafe { arena::end() })
}

/// Remote frees collected from abandoned slabs by the pool's sweeps since start.
pub fn swept_remote_frees() -> u64 {
    SWEPT_REMOTE_FREES.load(Ordering::Relaxed)
}

/// Spans handed out since start.
pub fn spans_acquired() -> u64 {
    SPANS_ACQUIRED.load(Ordering::Relaxed)
}

/// Per size class, the blocks in use and the blocks carved or to be carved in the spans that
/// hold the class (`[class] = (in use, capacity)`), and the bytes of the Large spans. Read from
/// every span in use under the pool lock, the owners' counts racily: a snapshot, exact when no
/// other thread allocates meanwhile (blocks other threads freed and the owner has not taken
/// back yet count as in use).
pub fn class_usage(classes: &mut [(u64, u64); NUM_CLASSES]) -> u64 {
    let mut large_bytes = 0u64;
    with_pool(|p| {
        let mut ss = p.all.head();
        while !ss.is_null() {
            // SAFETY: every SuperSlab on `all` is mapped, and its descriptors with it; a span head's
            // fields are read volatile (their owner may be changing them).
            unsafe {
                for i in 1..SLABS_PER_SUPERSLAB {
                    let d = ptr::addr_of!((*ss).slabs[i]);
                    if (*ss).used_mask & (1 << i) == 0 || ptr::read_volatile(ptr::addr_of!((*d).magic)) == 0 {
                        continue;
                    }
                    if (*d).is_large() {
                        large_bytes += (*d).block_size() as u64;
                    } else {
                        let c = &mut classes[(*d).class.index()];
                        // Racy: a torn read of the owner's two counts is clamped.
                        let capacity = (*d).capacity;
                        c.0 += ptr::read_volatile(d).used().min(capacity) as u64;
                        c.1 += capacity as u64;
                    }
                }
                ss = List::<_, Every>::next(ss);
            }
        }
    });
    large_bytes
}

/// (SuperSlabs in use or cached now, spans acquired, spans released) since start.
pub fn pool_counts() -> (usize, u64, u64) {
    with_pool(|p| (p.superslabs_mapped, spans_acquired(), p.spans_released))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_found_at_the_first_fit() {
        assert_eq!(find_run(1, 1, 1), Some(1));
        assert_eq!(find_run(1, 8, 1), Some(1));
        assert_eq!(find_run(0b1111_0001, 4, 1), Some(8));
        assert_eq!(find_run(u32::MAX, 1, 1), None);
        assert_eq!(find_run(!(0b11 << 30), 2, 1), Some(30));
        assert_eq!(find_run(!(0b11 << 30), 3, 1), None);
        // Aligned runs start at a multiple of the step.
        assert_eq!(find_run(1, 1, 2), Some(2));
        assert_eq!(find_run(1, 16, 16), Some(16));
        assert_eq!(find_run(0b1_0001, 3, 4), Some(8));
        assert_eq!(find_run(!(0b111 << 5), 2, 4), None);
        assert_eq!(find_run(1 | (1 << 17), 15, 16), None);
        assert_eq!(span_mask(1, 8), 0b1_1111_1110);
        assert_eq!(span_mask(24, 8), 0xff00_0000);
    }

    #[test]
    fn spans_map_back_to_their_descriptor_and_are_reused() {
        let class = SizeClass::for_size(20000); // a 10-slab span
        let a = acquire_span(class, ptr::null_mut(), ptr::null_mut(), true);
        assert!(!a.is_null());
        // SAFETY: `a` is a span we own; its start and last byte lie in its SuperSlab.
        unsafe {
            assert!(pagemap::is_superslab((*a).start as usize));
            let last = (*a).start.add(class.span_slabs() * SLAB_SIZE - 1);
            assert_eq!(SuperSlab::span_of((*a).start), a);
            assert_eq!(SuperSlab::span_of(last), a);
            // Only the span's first slab has its descriptor in place: the first block of the
            // next slab is found through `span_of` alone.
            assert_eq!(SuperSlab::descriptor_at((*a).start), a);
            let (d, span) = (class.block_size(), class.span_slabs() * SLAB_SIZE);
            let head = span % d;
            let b = (*a).start.add(head + (SLAB_SIZE - head).div_ceil(d) * d);
            assert!((*SuperSlab::descriptor_at(b)).block_at(b).is_none());
            assert_eq!(SuperSlab::span_of(b), a);
            // Not handed out, not even carved: rejected until it is.
            assert!((*a).block_at(b).is_none());
            while (*a).extend().1 > 0 {}
            assert!((*a).block_at(b).is_some());
            assert_eq!((*a).start as usize % SLAB_SIZE, 0);
            let start = (*a).start;
            release_span(a);
            // The descriptor now rejects the old pointer.
            assert!((*SuperSlab::span_of(start)).block_at(start).is_none());
        }
    }
}
