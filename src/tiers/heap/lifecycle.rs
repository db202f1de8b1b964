//! Thread heaps' lives: a thread's heap is created on its first call, parked at its exit for
//! the next thread to take over or abandoned for adoption; the registry of heaps (records from
//! raw mmap), the orphan heap that serves exited threads, malloc_trim's part, fork.

use crate::blocks::size_class::{FIRST_MID_CLASS, NUM_CLASSES};
use crate::blocks::span::SpanLists;
use crate::platform::list::List;
use crate::platform::os;
use crate::platform::sync::Mutex;
use crate::pool::superslab;
use crate::tiers::heap::lists::{
    collect, forget_fast, push_avail, release_span, sentinel, unlink, Heap, HeapStats, Kind, Records, DEAD, EMPTY,
};
use core::ptr;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// The heap that serves threads whose exit cleanup ran (`DEAD`).
pub static ORPHAN: Mutex<Heap> = Mutex::new(sentinel(Kind::Orphan));

/// malloc_trim's part here: the calling thread's pending chains go to their slabs, its own slabs
/// collect their remote frees and give back the empty ones, and the parked heaps are
/// abandoned (their empty slabs given back, the others left for adoption).
///
/// # Safety
/// `heap` is the calling thread's heap or a sentinel.
pub unsafe fn trim(heap: *mut Heap) {
    // SAFETY: per the caller; a live heap is used by this thread only.
    unsafe {
        flush_pending(heap);
        if (*heap).kind == Kind::Live {
            give_back_slabs(heap, false);
        }
    }
    abandon_parked();
}

/// Hands every pending chain of `heap` (see `PendingFrees`) to its slab; nothing for the
/// sentinels, which hold none.
///
/// # Safety
/// `heap` is the calling thread's heap or a sentinel.
pub(super) unsafe fn flush_pending(heap: *mut Heap) {
    // SAFETY: a live heap is the calling thread's.
    unsafe {
        if (*heap).kind == Kind::Live {
            for pending in &mut (*heap).pending {
                pending.flush();
            }
        }
    }
}

pub struct Registry {
    live: List<Heap, Records>,
    /// Records of heaps that were given up, for reuse.
    free_records: List<Heap, Records>,
    /// Records of the latest mapping never used yet, `fresh_left` of them from `fresh`: taken one
    /// at a time, so that a record's pages are touched when it becomes a heap, not when its
    /// mapping is made (pushing all 64 on `free_records` wrote a page of each: 256 KiB
    /// resident for a single-threaded program).
    fresh: *mut Heap,
    fresh_left: usize,
    key: Option<libc::pthread_key_t>,
    /// Heaps of exited threads, kept whole for the next threads that start, the newest last
    /// (see `thread_exit`). They stay on the live list.
    parked: [*mut Heap; PARKED_MAX],
    parked_len: usize,
}

impl Registry {
    /// A record for a new heap: a free one, else the next fresh one; null when out of memory.
    fn take_record(&mut self) -> *mut Heap {
        let h = self.free_records.pop_front();
        if !h.is_null() {
            return h;
        }
        if self.fresh_left == 0 {
            let bytes = os::align_up(RECORDS_PER_MAP * core::mem::size_of::<Heap>(), os::PAGE_SIZE);
            self.fresh = os::map(bytes).cast::<Heap>();
            if self.fresh.is_null() {
                return ptr::null_mut();
            }
            self.fresh_left = RECORDS_PER_MAP;
        }
        let h = self.fresh;
        // SAFETY: the mapping holds `fresh_left` more records from `fresh`.
        self.fresh = unsafe { h.add(1) };
        self.fresh_left -= 1;
        h
    }

    fn set_parked_len(&mut self, len: usize) {
        self.parked_len = len;
        PARKED.store(len, Ordering::Relaxed);
    }

    /// Takes the `n` oldest parked heaps off the list; they are the first `n` returned.
    fn unpark_oldest(&mut self, n: usize) -> [*mut Heap; PARKED_MAX] {
        let taken = self.parked;
        self.parked.copy_within(n..self.parked_len, 0);
        self.set_parked_len(self.parked_len - n);
        taken
    }
}

/// How many heaps of exited threads wait for a successor at most.
pub(super) const PARKED_MAX: usize = 8;

/// A heap that keeps more slabs than this (16 MiB) at its thread's exit is abandoned rather
/// than parked: whichever thread took it over would hold its memory until it allocated from
/// it, and what a successor gains, a warm working set, lies in far fewer slabs.
pub(super) const PARKED_SLABS: usize = 256;

/// A parked heap is abandoned once the pool has handed out this many spans (16 MiB of tiny
/// slabs at least) since it was parked: no thread took it over meanwhile, and what it holds
/// (free blocks, slabs that other threads' frees emptied) should serve the threads that run.
pub(super) const PARKED_SPANS: u64 = 256;

/// `parked_len`, for the allocation slow path to test without taking the registry lock.
pub(super) static PARKED: AtomicUsize = AtomicUsize::new(0);

/// How many heaps of exited threads are parked now.
pub fn parked_count() -> usize {
    PARKED.load(Ordering::Relaxed)
}

pub static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    live: List::EMPTY,
    free_records: List::EMPTY,
    fresh: ptr::null_mut(),
    fresh_left: 0,
    key: None,
    parked: [ptr::null_mut(); PARKED_MAX],
    parked_len: 0,
});

/// Counters of abandoned heaps, and remote frees collected from abandoned slabs.
pub(super) static RETIRED_MALLOCS: [AtomicU64; NUM_CLASSES] = [const { AtomicU64::new(0) }; NUM_CLASSES];

pub(super) static RETIRED_FREES: [AtomicU64; NUM_CLASSES] = [const { AtomicU64::new(0) }; NUM_CLASSES];

pub(super) static RETIRED_REMOTE_FREES: AtomicU64 = AtomicU64::new(0);

pub(super) fn with_registry<R>(f: impl FnOnce(&mut Registry) -> R) -> R {
    f(&mut REGISTRY.lock())
}

pub(super) const RECORDS_PER_MAP: usize = 64;

/// The heap an allocating call uses: `heap`, the one its entry point took, unless that is the
/// thread's first call (`EMPTY`), which creates the thread's heap. (`EMPTY` stays when that fails:
/// the allocation then fails with ENOMEM.) The caller leaves the result in the thread's slot.
///
/// # Safety
/// Inside the guard, in a call that is not re-entered (the slot holds `BUSY`, and `heap` is what
/// it held before).
#[inline(always)]
pub unsafe fn thread_heap(heap: *mut Heap) -> *mut Heap {
    // SAFETY: every heap, sentinels included, is readable.
    if unsafe { (*heap).kind } == Kind::Empty {
        let created = create_heap();
        if !created.is_null() {
            return created;
        }
    }
    heap
}

/// Whether `heap`, what a thread's slot held on entry, is the `EMPTY` sentinel: the thread has
/// no heap yet, and an allocating call creates it (`thread_heap`), after init.
#[inline(always)]
pub fn has_no_heap(heap: *mut Heap) -> bool {
    // SAFETY: every heap, sentinels included, is readable.
    unsafe { (*heap).kind == Kind::Empty }
}

/// The pthread key whose value is each thread's heap, plus one (0: not created yet).
pub(super) static HEAP_KEY: AtomicUsize = AtomicUsize::new(0);

#[cold]
#[inline(never)]
pub(super) fn create_heap() -> *mut Heap {
    // A free nested inside another guarded call may have created the thread's heap already;
    // the slot then went back to what the outer call found, `EMPTY`. The thread keeps that heap.
    // Acquire: pairs with the Release store after the key's creation.
    let key = HEAP_KEY.load(Ordering::Acquire);
    if key != 0 {
        // SAFETY: a key that was created and is never deleted.
        let h = unsafe { libc::pthread_getspecific((key - 1) as libc::pthread_key_t) };
        if !h.is_null() {
            return h.cast();
        }
    }
    let (heap, key) = with_registry(|r| {
        // SAFETY: parked heaps are records no thread uses.
        if r.parked_len > 0 && unsafe { (*r.parked[r.parked_len - 1]).modes_current() } {
            r.set_parked_len(r.parked_len - 1);
            return (r.parked[r.parked_len], r.key);
        }
        let h = r.take_record();
        if h.is_null() {
            return (ptr::null_mut(), None);
        }
        if r.key.is_none() {
            let mut key: libc::pthread_key_t = 0;
            // SAFETY: `thread_exit` has the signature pthread expects; key creation never allocates.
            if unsafe { libc::pthread_key_create(&mut key, Some(thread_exit)) } == 0 {
                r.key = Some(key);
                HEAP_KEY.store(key as usize + 1, Ordering::Release);
            }
        }
        // A new heap is the empty sentinel but for its kind, copied straight into the record:
        // `write(sentinel(Kind::Live))` built the 7 KiB record on the stack first (a page more of
        // every thread's stack), and a static `LIVE` template took 7 KiB more of the library's
        // resident pages.
        // SAFETY: `h` was a free or fresh record (not `EMPTY`, a static); it becomes a live heap,
        // on no list until it is pushed.
        unsafe {
            ptr::copy_nonoverlapping(&EMPTY, h, 1);
            (*h).kind = Kind::Live;
            (*h).take_modes();
            r.live.push_front(h);
        }
        (h, r.key)
    });
    if heap.is_null() {
        return heap;
    }
    if let Some(key) = key {
        // May allocate (glibc's second-level key table): such a call finds `BUSY` in the slot
        // and is served by the bootstrap buffer.
        // SAFETY: `key` is a valid key.
        unsafe { libc::pthread_setspecific(key, heap.cast()) };
    }
    heap
}

/// pthread key destructor: runs when a thread that created a heap exits (never inside one of
/// its allocator calls). Later calls on the thread find `DEAD`.
///
/// The heap is parked whole, not taken apart: its slabs keep their owner and free blocks, its
/// SuperSlabs their affinity, and the next thread that starts takes it over (the newest parked
/// first). Under thread churn (Larson's relays, a thread per task) the successor's frees of
/// blocks its predecessor allocated are then local and its mallocs find warm slabs, instead of
/// every slab being abandoned and adopted back one class at a time (Larson, 2 threads: 21%
/// more throughput in paired runs). Parking first collects the slabs' remote frees, gives the
/// empty slabs back and puts full slabs with free blocks again on the available list. A heap
/// that still holds more than `PARKED_SLABS` slabs is abandoned like before instead; so is a
/// parked heap when `PARKED_MAX` newer ones are parked, when the pool would otherwise grow,
/// once the pool has handed out `PARKED_SPANS` spans since (both in `alloc_from`), and at
/// malloc_trim, so that what it holds serves the threads that run.
pub(super) unsafe extern "C" fn thread_exit(arg: *mut libc::c_void) {
    let e = crate::tiers::tls::Entered::enter();
    // SAFETY: `arg` is the heap registered by `create_heap`, owned by this thread; once parked
    // it is another thread's, and this one no longer touches it.
    unsafe {
        let heap = arg.cast::<Heap>();
        flush_pending(heap);
        if give_back_slabs(heap, false) > PARKED_SLABS {
            abandon_heap(heap);
        } else {
            park(heap);
        }
    }
    e.leave(ptr::addr_of!(DEAD) as *mut Heap);
}

/// Parks `heap`, newest, abandoning the oldest parked heap when `PARKED_MAX` are parked.
///
/// # Safety
/// `heap` is the calling thread's, which no longer uses it.
pub(super) unsafe fn park(heap: *mut Heap) {
    // SAFETY: per the caller; once on the list the heap is no longer touched here.
    unsafe {
        (*heap).parked_at = superslab::spans_acquired();
        let evicted = with_registry(|r| {
            let evicted = if r.parked_len == PARKED_MAX { r.unpark_oldest(1)[0] } else { ptr::null_mut() };
            r.parked[r.parked_len] = heap;
            r.set_parked_len(r.parked_len + 1);
            evicted
        });
        if !evicted.is_null() {
            abandon_heap(evicted);
        }
    }
}

/// Abandons every parked heap (see `thread_exit`).
pub(super) fn abandon_parked() {
    abandon_parked_since(u64::MAX);
}

/// Abandons the heaps parked before the pool's span count reached `spans`.
pub(super) fn abandon_parked_since(spans: u64) {
    let (parked, n) = with_registry(|r| {
        // SAFETY: parked heaps are records no thread uses. (`parked_at` grows along the list,
        // but for threads that exited at the same time: those may wait a little longer.)
        let n = r.parked[..r.parked_len].iter().take_while(|&&h| unsafe { (*h).parked_at } < spans).count();
        (r.unpark_oldest(n), n)
    });
    for &heap in &parked[..n] {
        // SAFETY: a heap taken off the parked list belongs to no thread but the caller's.
        unsafe { abandon_heap(heap) };
    }
}

/// Leaves the slabs and SuperSlabs of `heap`, whose thread exited, to the other threads, and
/// frees its record.
///
/// # Safety
/// No thread uses `heap` but the caller, which no longer will.
pub(super) unsafe fn abandon_heap(heap: *mut Heap) {
    // SAFETY: per the caller.
    unsafe {
        give_back_slabs(heap, true);
        superslab::disown(ptr::addr_of_mut!((*heap).superslabs));
        retire_heap(heap);
    }
}

/// Collects the remote frees of every slab of `heap` and gives the empty slabs back to the pool;
/// with `abandon`, leaves the others for adoption, so that the heap ends with no slab. Returns
/// how many slabs the heap keeps.
///
/// # Safety
/// No thread uses `heap` but the caller.
pub(super) unsafe fn give_back_slabs(heap: *mut Heap, abandon: bool) -> usize {
    let mut kept = 0;
    // SAFETY: per the caller; every slab on the heap's lists is owned by it.
    unsafe {
        for c in 0..NUM_CLASSES {
            for first in [(*heap).avail[c].head(), (*heap).full[c].head()] {
                let mut s = first;
                while !s.is_null() {
                    let next = List::<_, SpanLists>::next(s);
                    collect(heap, s);
                    let empty = (*s).used() == 0;
                    if empty || abandon {
                        unlink(heap, s);
                        forget_fast(heap, s);
                        if empty {
                            (*s).owner.store(ptr::null_mut(), Ordering::Relaxed);
                            release_span(s);
                        } else {
                            superslab::abandon(s);
                        }
                    } else {
                        kept += (*s).span_slabs as usize;
                        if (*s).in_full() && (*s).used() <= (*s).unfull_threshold() {
                            // Its free blocks were remote frees, which the full-list scan
                            // would not look for again.
                            unlink(heap, s);
                            push_avail(heap, s);
                        }
                    }
                    s = next;
                }
            }
        }
    }
    kept
}

pub(super) unsafe fn retire_heap(heap: *mut Heap) {
    // SAFETY: `heap` is a live record no thread uses but the caller.
    let stats = unsafe { (*heap).stats };
    fold_stats(&stats);
    with_registry(|r| {
        // SAFETY: `heap` is on the live list; we move it to the free list.
        unsafe {
            r.live.remove(heap);
            (*heap).kind = Kind::Dead;
            r.free_records.push_front(heap);
        }
    });
}

pub(super) fn fold_stats(s: &HeapStats) {
    for c in 0..NUM_CLASSES {
        RETIRED_MALLOCS[c].fetch_add(s.mallocs[c], Ordering::Relaxed);
        RETIRED_FREES[c].fetch_add(s.frees[c], Ordering::Relaxed);
    }
    RETIRED_REMOTE_FREES.fetch_add(s.remote_frees, Ordering::Relaxed);
}

/// Calls served so far by the Tiny and Mid tiers: (tiny mallocs, mid mallocs, local frees,
/// remote frees). Live heaps are read without their threads' cooperation, so the numbers are a
/// snapshot, exact once the threads are quiet.
pub fn tier_totals() -> (u64, u64, u64, u64) {
    let mut mallocs = [0u64; NUM_CLASSES];
    let mut frees = 0u64;
    let mut remote = RETIRED_REMOTE_FREES.load(Ordering::Relaxed) + superslab::swept_remote_frees();
    for c in 0..NUM_CLASSES {
        mallocs[c] = RETIRED_MALLOCS[c].load(Ordering::Relaxed);
        frees += RETIRED_FREES[c].load(Ordering::Relaxed);
    }
    let mut add = |h: *const Heap| {
        // SAFETY: registered heaps stay mapped; racy reads of counters are acceptable here.
        let s = unsafe { ptr::read_volatile(ptr::addr_of!((*h).stats)) };
        for (total, n) in mallocs.iter_mut().zip(s.mallocs) {
            *total += n;
        }
        frees += s.frees.iter().sum::<u64>();
        remote += s.remote_frees;
    };
    with_registry(|r| {
        let mut h = r.live.head();
        while !h.is_null() {
            add(h);
            // SAFETY: the live list's records are mapped for good.
            h = unsafe { List::<_, Records>::next(h) };
        }
    });
    add(&*ORPHAN.lock());
    let tiny = mallocs[..FIRST_MID_CLASS].iter().sum();
    let mid = mallocs[FIRST_MID_CLASS..].iter().sum();
    (tiny, mid, frees, remote)
}
