//! The per-thread heap (the Tiny and Mid tiers' thread cache): for each size class, the slabs the
//! thread owns, and the malloc/free fast paths over them.
//!
//! * malloc: pop the first block of the class's current slab (one test); when that slab is empty,
//!   `alloc_slow` collects pending frees, walks the class's other slabs, adopts an abandoned slab,
//!   or takes a new span from the SuperSlab pool (abandoning parked heaps first if the pool
//!   would grow).
//! * free: a range check finds the pointer in the arena (else the pagemap does), the SuperSlab
//!   gives the slab; the owner pushes to the slab's `free` list, any other thread to its atomic
//!   `thread_free` (see `slab`).
//! * A new thread starts on the static `EMPTY` heap, whose slabs are all the empty sentinel, so its
//!   first malloc falls into the slow path, which creates its heap (`thread_heap`). While a slow
//!   path that may call out runs, the thread's slot holds the static `BUSY` heap (see `tls`). At
//!   thread exit the heap is parked for the next thread to take over, or its slabs are abandoned
//!   for adoption (see `thread_exit`), and the thread switches to `DEAD`: later mallocs on that
//!   thread (from other TLS destructors) are served by a shared, locked `ORPHAN` heap, and its
//!   frees take the remote path.

use crate::blocks::check;
use crate::blocks::size_class::{SizeClass, FIRST_MID_CLASS, NUM_CLASSES};
use crate::blocks::span::{freed_key, Block, Slab};
use crate::memory::arena;
use crate::memory::pagemap;
use crate::platform::diag::fatal;
use crate::platform::os;
use crate::platform::sync::Mutex;
use crate::pool::superslab::{self, SuperSlab, SuperSlabs};
use core::cell::UnsafeCell;
use core::mem::size_of;
use core::ptr;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The static heap of threads that have not allocated yet.
    Empty,
    /// The static heap of threads whose exit cleanup already ran.
    Dead,
    /// The static heap a thread's slot holds while one of its calls runs: what a re-entered
    /// call finds.
    Busy,
    Live,
    /// The shared heap that serves dead threads, under `ORPHAN_LOCK`.
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
    fast: [*mut Slab; NUM_CLASSES],
    /// Per class: head of the list of slabs that may have free blocks, or the empty sentinel.
    avail: [*mut Slab; NUM_CLASSES],
    /// Per class: slabs found without free blocks (head and tail, for the round-robin scan).
    full: [*mut Slab; NUM_CLASSES],
    full_tail: [*mut Slab; NUM_CLASSES],
    kind: Kind,
    /// Check mode (`HAKMEM_CHECK`) and statistics mode (`HAKMEM_STATS`), fixed when the heap is
    /// created.
    check: bool,
    counting: bool,
    /// Frees since the last full slab validation in check mode.
    check_ticks: u32,
    pub stats: HeapStats,
    /// The SuperSlabs whose spans serve this heap first (see `superslab`; pool lock only).
    superslabs: SuperSlabs,
    /// Per class: blocks this thread freed into another thread's slab, not yet handed over.
    /// Only tiny classes of live heaps outside check mode ever start a chain; the others stay
    /// `NONE`, which no free matches, so that `free_remote` tests nothing else.
    pending: [PendingFrees; NUM_CLASSES],
    /// Links in the registry of live heaps, or in the free list of heap records.
    next: *mut Heap,
    prev: *mut Heap,
    /// While parked: `superslab::spans_acquired()` when it was parked (see `thread_exit`).
    parked_at: u64,
}

// SAFETY: a heap is used by its thread only (the orphan heap under its lock); the static
// sentinels are never written.
unsafe impl Sync for Heap {}

impl Heap {
    /// Whether every call takes the slow path (check or statistics mode).
    fn slow(&self) -> bool {
        self.check || self.counting
    }

    /// Takes the check and statistics modes from the options (fixed once init has run).
    fn take_modes(&mut self) {
        let config = crate::platform::config::get();
        self.check = config.check;
        self.counting = config.stats;
    }

    /// Whether the heap's modes are the options' (not so for a heap created while init ran).
    fn modes_current(&self) -> bool {
        let config = crate::platform::config::get();
        self.check == config.check && self.counting == config.stats
    }
}

/// Blocks of one slab of a tiny class that this (non-owner) thread freed in a row, held back to
/// be pushed to the slab's `thread_free` as one chain: a consumer thread freeing a producer's
/// blocks pays one CAS per chain instead of one per block (producer/consumer: that CAS was a
/// quarter of the run time). One chain per class, since consecutive frees mix classes. A chain
/// goes out when a free of its class names another slab, once it holds `PENDING_BYTES`, at
/// thread exit and at malloc_trim: at most 8 KiB per tiny class and thread wait. The blocks
/// count as used in their slab meanwhile, so it is neither released nor reused under them.
#[derive(Clone, Copy)]
struct PendingFrees {
    slab: *mut Slab,
    /// Newest first, linked through `next`; `last` is the oldest.
    first: *mut Block,
    last: *mut Block,
    /// How many more blocks the chain takes before it goes out (it then holds `PENDING_BYTES`).
    room: usize,
}

const PENDING_BYTES: usize = 8 * 1024;
// A chain's room (`PENDING_BYTES / block size`) is at least 8 blocks: `prepend` never runs out.
const _: () = assert!(crate::blocks::size_class::TINY_MAX * 8 <= PENDING_BYTES);

impl PendingFrees {
    const NONE: PendingFrees =
        PendingFrees { slab: ptr::null_mut(), first: ptr::null_mut(), last: ptr::null_mut(), room: 0 };

    /// Links `b`, a block of the chain's slab freed with `key`, at the front.
    ///
    /// # Safety
    /// `b` is a handed-out block of `self.slab`, freed by the calling thread; `room` > 0.
    unsafe fn prepend(&mut self, b: *mut Block, key: usize) {
        // SAFETY: the caller freed `b`; it belongs to the chain from now on.
        unsafe { Block::set_free(b, self.first, key) };
        self.first = b;
        self.room -= 1;
    }

    /// Hands the chain to its slab.
    fn flush(&mut self) {
        if !self.slab.is_null() {
            // SAFETY: the chain holds blocks of `slab` freed by this thread and still counted
            // as used there, so the slab is live.
            unsafe { (*self.slab).push_remote_chain(self.first, self.last) };
            *self = PendingFrees::NONE;
        }
    }
}

pub static EMPTY_SLAB: Slab = Slab::UNUSED;

const fn sentinel(kind: Kind) -> Heap {
    Heap {
        fast: [ptr::addr_of!(EMPTY_SLAB) as *mut Slab; NUM_CLASSES],
        avail: [ptr::addr_of!(EMPTY_SLAB) as *mut Slab; NUM_CLASSES],
        full: [ptr::null_mut(); NUM_CLASSES],
        full_tail: [ptr::null_mut(); NUM_CLASSES],
        kind,
        check: false,
        counting: false,
        check_ticks: 0,
        stats: HeapStats::ZERO,
        superslabs: SuperSlabs::EMPTY,
        pending: [PendingFrees::NONE; NUM_CLASSES],
        next: ptr::null_mut(),
        prev: ptr::null_mut(),
        parked_at: 0,
    }
}

pub static EMPTY: Heap = sentinel(Kind::Empty);
pub static DEAD: Heap = sentinel(Kind::Dead);
pub static BUSY: Heap = sentinel(Kind::Busy);

struct HeapCell(UnsafeCell<Heap>);
// SAFETY: the orphan heap is touched only with ORPHAN_LOCK held.
unsafe impl Sync for HeapCell {}
static ORPHAN: HeapCell = HeapCell(UnsafeCell::new(sentinel(Kind::Orphan)));
pub static ORPHAN_LOCK: Mutex = Mutex::new();

#[inline(always)]
fn empty_slab() -> *mut Slab {
    ptr::addr_of!(EMPTY_SLAB) as *mut Slab
}

// ---------------------------------------------------------------------------------------------
// malloc

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
        let b = (*slab).free;
        // Null, or a corrupted link (which `alloc_slow` reports).
        if !(*slab).holds(b) {
            return ptr::null_mut();
        }
        let next = Block::next(b);
        (*slab).free = next;
        // The next malloc of this class reads `next`'s link: start fetching its line now, so
        // that this class's next call (usually several calls away) finds it in cache. (Larson:
        // the load of the popped block's link was malloc's largest stall.) Never faults, even
        // for null or a corrupted link.
        #[cfg(target_arch = "x86_64")]
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(next.cast());
        (*b).key = 0;
        (*slab).spare += 1;
        b.cast()
    }
}

/// Allocates a block of `class`; null with errno ENOMEM when out of memory (set on the slow
/// path, so the fast path has no test for it).
///
/// # Safety
/// As for `pop_fast`; `heap` is not `BUSY` (re-entered calls are served by the bootstrap arena).
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
unsafe fn alloc_slow(heap: *mut Heap, class: SizeClass) -> *mut u8 {
    // SAFETY: see `alloc`.
    let p = unsafe { alloc_slow_inner(heap, class) };
    if p.is_null() {
        crate::api::alloc::set_enomem();
    }
    p
}

unsafe fn alloc_slow_inner(heap: *mut Heap, class: SizeClass) -> *mut u8 {
    // SAFETY: see `alloc`.
    unsafe {
        match (*heap).kind {
            Kind::Live => {
                let fast = (*heap).fast[class.index()];
                if !(*fast).free.is_null() {
                    // `pop_fast` refused a head outside its slab.
                    crate::blocks::span::corrupted_list((*fast).free);
                }
                let b = alloc_from(heap, class);
                if !b.is_null() {
                    set_fast(heap, class.index(), SuperSlab::slab_of(b));
                }
                b
            }
            // `thread_heap` could not create the thread's heap: out of memory.
            Kind::Empty | Kind::Busy => ptr::null_mut(),
            Kind::Dead | Kind::Orphan => {
                let _g = ORPHAN_LOCK.lock();
                let orphan = ORPHAN.0.get();
                // Init ran long before a thread exited: the modes are final.
                (*orphan).take_modes();
                alloc_from(orphan, class)
            }
        }
    }
}

/// How many full slabs one slow path re-examines for frees that arrived since.
const FULL_SCAN_BUDGET: usize = 32;
/// How many abandoned slabs one slow path may adopt before it takes a fresh span.
const ADOPT_BUDGET: usize = 4;

/// The generic path: find a slab of `class` with a free block in `heap`, or get one.
unsafe fn alloc_from(heap: *mut Heap, class: SizeClass) -> *mut u8 {
    let c = class.index();
    // SAFETY: `heap` is live and used only by this thread (or under the orphan lock); every slab
    // on its lists is owned by it.
    unsafe {
        // 1. The available slabs: collect pending frees, carve more blocks, or retire as full.
        loop {
            let s = (*heap).avail[c];
            if s == empty_slab() {
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
        let mut s = (*heap).full[c];
        let mut budget = FULL_SCAN_BUDGET;
        while !s.is_null() && budget > 0 {
            budget -= 1;
            let next = (*s).next;
            if (*s).has_pending_frees() {
                unlink(heap, s);
                collect(heap, s);
                if (*s).used() == 0 && (*heap).avail[c] != empty_slab() {
                    forget_fast(heap, s);
                    superslab::release_span(s);
                } else {
                    push_avail(heap, s);
                }
            }
            s = next;
        }
        if !s.is_null() {
            rotate_full(heap, c, s);
        }
        let s = (*heap).avail[c];
        if s != empty_slab() {
            if let Some(b) = take_block(heap, s) {
                return b;
            }
        }
        let mut may_grow = parked_count() == 0;
        let mut retried = false;
        loop {
            // 3. Slabs of abandoned heaps.
            for _ in 0..ADOPT_BUDGET {
                let s = superslab::adopt(class, heap);
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
            let s = superslab::acquire_span(class, heap, ptr::addr_of_mut!((*heap).superslabs), may_grow);
            if s.is_null() {
                if !may_grow {
                    abandon_parked();
                    may_grow = true;
                } else if retried || !crate::pool::decay::give_back_all() {
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

/// Takes the remote frees of `s` into its free list, counting them for the statistics.
unsafe fn collect(heap: *mut Heap, s: *mut Slab) {
    // SAFETY: `s` is owned by `heap`, which the caller may use.
    unsafe {
        let n = (*s).collect();
        (*heap).stats.remote_frees += n as u64;
        if (*heap).counting {
            crate::process::stats::count_free(n as usize * (*s).block_size());
        }
    }
}

/// Pops a block from `s` after collecting its pending frees or carving new blocks.
#[inline(always)]
unsafe fn take_block(heap: *mut Heap, s: *mut Slab) -> Option<*mut u8> {
    // SAFETY: `s` is owned by `heap`, which the caller may use.
    unsafe {
        if (*s).free.is_null() {
            collect(heap, s);
        }
        if (*s).free.is_null() {
            let (first, n) = (*s).extend();
            if (*heap).check {
                check::poison_carved(&*s, first, n);
            }
        }
        if (*heap).check && !(*s).free.is_null() {
            check::before_pop(&*s, (*s).free);
        }
        let b = (*s).pop();
        if b.is_null() {
            return None;
        }
        if (*heap).counting {
            (*heap).stats.mallocs[(*s).class.index()] += 1;
            crate::process::stats::count_alloc((*s).block_size());
        }
        Some(b.cast())
    }
}

// Lists: `avail[c]` (head first) and `full[c]`, doubly linked through the slabs. `fast[c]`
// names a slab on one of them (or the empty sentinel): it follows `avail[c]`'s head as it
// changes, and local frees point it at their slab.

/// Points malloc's fast path for class `c` at `s` (at the empty sentinel in check and statistics
/// modes).
unsafe fn set_fast(heap: *mut Heap, c: usize, s: *mut Slab) {
    // SAFETY: `heap` is live and used by its owner (caller).
    unsafe { (*heap).fast[c] = if (*heap).slow() { empty_slab() } else { s } };
}

/// Before `s` leaves the heap: the fast path must not name it.
unsafe fn forget_fast(heap: *mut Heap, s: *mut Slab) {
    // SAFETY: `s` is owned by `heap`, used by its owner (caller).
    unsafe {
        let c = (*s).class.index();
        if (*heap).fast[c] == s {
            set_fast(heap, c, (*heap).avail[c]);
        }
    }
}

unsafe fn set_avail_head(heap: *mut Heap, c: usize, s: *mut Slab) {
    // SAFETY: `heap` is live and used by its owner (caller).
    unsafe {
        (*heap).avail[c] = s;
        set_fast(heap, c, s);
    }
}

unsafe fn push_avail(heap: *mut Heap, s: *mut Slab) {
    // SAFETY: `s` is owned by `heap` and on no list (caller).
    unsafe {
        let c = (*s).class.index();
        let head = (*heap).avail[c];
        (*s).set_in_full(false);
        if (*heap).slow() {
            (*s).set_slow();
        }
        (*s).prev = ptr::null_mut();
        (*s).next = if head == empty_slab() { ptr::null_mut() } else { head };
        if head != empty_slab() {
            (*head).prev = s;
            // The old head may have been the class's only slab, kept empty: not any more.
            (*head).refresh_watermark();
        }
        set_avail_head(heap, c, s);
    }
}

#[inline(always)]
unsafe fn push_full(heap: *mut Heap, s: *mut Slab) {
    // SAFETY: as in `push_avail`.
    unsafe {
        let c = (*s).class.index();
        let head = (*heap).full[c];
        (*s).set_in_full(true);
        (*s).prev = ptr::null_mut();
        (*s).next = head;
        if head.is_null() {
            (*heap).full_tail[c] = s;
        } else {
            (*head).prev = s;
        }
        (*heap).full[c] = s;
    }
}

/// Moves the slabs of full list `c` before `s` (which is on it) to its tail, in order.
unsafe fn rotate_full(heap: *mut Heap, c: usize, s: *mut Slab) {
    // SAFETY: the full list is `heap`'s, used by its owner (caller); `s` is on it.
    unsafe {
        let head = (*heap).full[c];
        debug_assert!((*s).in_full() && (*s).class.index() == c && (*s).prev.is_null() == (head == s));
        if head == s {
            return;
        }
        let last = (*s).prev;
        let tail = (*heap).full_tail[c];
        (*last).next = ptr::null_mut();
        (*s).prev = ptr::null_mut();
        (*heap).full[c] = s;
        (*tail).next = head;
        (*head).prev = tail;
        (*heap).full_tail[c] = last;
    }
}

#[inline(always)]
unsafe fn unlink(heap: *mut Heap, s: *mut Slab) {
    // SAFETY: `s` is on one of `heap`'s lists, which `in_full` names.
    unsafe {
        let c = (*s).class.index();
        let (prev, next) = ((*s).prev, (*s).next);
        if !next.is_null() {
            (*next).prev = prev;
        } else if (*s).in_full() {
            (*heap).full_tail[c] = prev;
        }
        if !prev.is_null() {
            (*prev).next = next;
        } else if (*s).in_full() {
            (*heap).full[c] = next;
        } else {
            set_avail_head(heap, c, if next.is_null() { empty_slab() } else { next });
        }
        (*s).next = ptr::null_mut();
        (*s).prev = ptr::null_mut();
    }
}

// ---------------------------------------------------------------------------------------------
// free

/// Where a pointer passed to free/realloc/malloc_usable_size came from.
pub enum Owner {
    Slab(*mut Slab, *mut Block),
    Large(*mut crate::pool::large::LargeHeader),
    Bootstrap,
    Foreign,
}

/// Classifies `p` (non-null) without reading memory that may not be ours; aborts with a message
/// naming `call` on a pointer into our heap that is not a block start. Safe for any `p`: it
/// dereferences only hakmem metadata that the arena or the pagemap says is mapped.
#[allow(clippy::not_unsafe_ptr_arg_deref)]
pub fn owner_of(p: *mut u8, call: &str) -> Owner {
    if arena::contains(p as usize) || pagemap::is_superslab(p as usize) {
        // SAFETY: `p` lies in a live SuperSlab (the pagemap said so) or in the arena.
        let (slab, b) = unsafe { slab_block(p, call) };
        return Owner::Slab(slab, b);
    }
    let hdr = pagemap::large_header(p as usize) as *mut crate::pool::large::LargeHeader;
    if hdr.is_null() {
        return if crate::memory::bootstrap::contains(p) { Owner::Bootstrap } else { Owner::Foreign };
    }
    // SAFETY: the pagemap names a live large header for this chunk.
    match unsafe { crate::pool::large::classify(hdr, p) } {
        Some(true) => Owner::Large(hdr),
        Some(false) => invalid_pointer(call, p, None),
        None => Owner::Foreign,
    }
}

/// The span descriptor and block of `p`; aborts, naming `call`, when `p` is not a block start.
///
/// # Safety
/// `p` lies in a live SuperSlab (the pagemap said so) or in the arena.
#[inline]
unsafe fn slab_block(p: *mut u8, call: &str) -> (*mut Slab, *mut Block) {
    // SAFETY: per the caller; descriptors of a live SuperSlab are always readable.
    unsafe {
        let slab = SuperSlab::slab_of(p);
        match (*slab).block_at(p) {
            Some(b) => (slab, b),
            None => invalid_pointer(call, p, Some(&*slab)),
        }
    }
}

#[cold]
#[inline(never)]
fn invalid_pointer(call: &str, p: *mut u8, slab: Option<&Slab>) -> ! {
    let mut line = crate::platform::diag::Line::new();
    line.str(call).str("(): invalid pointer");
    // SAFETY: the line holds only ASCII.
    let what = unsafe { core::str::from_utf8_unchecked(line.as_bytes()) };
    crate::platform::diag::fatal_ptr_note(what, p as usize, |l| {
        if let Some(s) = slab {
            s.note_position(p, l);
        }
        l.str("; inside hakmem's heap, not a live block: never handed out, or freed already");
    })
}

/// Reports a second free (or realloc/malloc_usable_size of a freed block) of `p`, a block of
/// `size` bytes.
#[cold]
#[inline(never)]
pub fn double_free(call: &str, p: *mut u8, size: usize) -> ! {
    let mut line = crate::platform::diag::Line::new();
    line.str(call).str(if call == "free" {
        "(): double free detected"
    } else {
        "(): the block is not allocated (freed already: use after free)"
    });
    // SAFETY: the line holds only ASCII.
    let what = unsafe { core::str::from_utf8_unchecked(line.as_bytes()) };
    crate::platform::diag::fatal_ptr_note(what, p as usize, |l| {
        l.str(", a ").num(size as u64).str("-byte block");
    })
}

/// The key `b` gets when it is freed, after checking that `b` does not hold it already (a
/// double free, reported naming `call`).
///
/// # Safety
/// `b` is a block of the live slab `slab` (`block_at` said so), hence readable.
#[inline(always)]
pub unsafe fn key_unless_freed(call: &str, slab: *mut Slab, b: *mut Block) -> usize {
    let key = freed_key(b);
    // SAFETY: per the caller.
    if unsafe { (*b).key } == key {
        // SAFETY: `slab` is the live slab of `b` (the caller's contract), its descriptor readable.
        double_free(call, b.cast(), unsafe { (*slab).block_size() });
    }
    key
}

/// Frees `p`. Null is a no-op (the null page is not in the arena, so the fast path needs no
/// test). A block of a slab `heap` does not own (always so for the sentinels, `BUSY` included)
/// takes the remote path. The fast path calls nothing (its slow paths are reached by tail calls,
/// so that it saves no registers) and so runs outside the reentrancy guard; every slow path
/// takes the guard itself (`tls::guard`).
///
/// # Safety
/// `heap` is the calling thread's heap or a sentinel, as its slot holds it (`tls::heap`) or an
/// entry point took it; `p` is null or was returned by this allocator and not freed since
/// (violations are detected where cheap, and abort).
#[inline(always)]
pub unsafe fn free(heap: *mut Heap, p: *mut u8) {
    if !arena::contains(p as usize) {
        return free_outside_arena(p, heap);
    }
    // SAFETY: `p` lies in a SuperSlab of the arena, whose descriptors are readable (and all
    // unused when it is retired).
    unsafe { free_in_superslab(p, heap) }
}

/// `free` for a pointer into a SuperSlab.
///
/// # Safety
/// As for `free`; `p` lies in a live SuperSlab or in the arena.
#[inline(always)]
unsafe fn free_in_superslab(p: *mut u8, heap: *mut Heap) {
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
pub unsafe fn allocated_block(p: *mut u8) -> Option<(*mut Slab, *mut Block, usize)> {
    // SAFETY: per the caller; `block_at` returned a block of the slab, hence readable.
    unsafe {
        // Not `slab_of`: see above.
        let slab = SuperSlab::descriptor_at(p);
        let b = (*slab).block_at(p)?;
        let key = freed_key(b);
        if (*b).key == key {
            return None;
        }
        Some((slab, b, key))
    }
}

/// `free` outside the arena: a SuperSlab mapped on its own (there is no arena, or it is full),
/// found through the pagemap, or anything else.
#[inline(never)]
fn free_outside_arena(p: *mut u8, heap: *mut Heap) {
    if pagemap::is_superslab(p as usize) {
        // SAFETY: the pagemap says `p` lies in a live SuperSlab.
        return unsafe { free_in_superslab(p, heap) };
    }
    crate::tiers::tls::guard(|| free_not_slab(p))
}

/// The rest of `free` for `b`, a block of `slab` that the caller validated; `key` is its freed key.
///
/// # Safety
/// As for `free`; `b` is a handed-out block of the live slab `slab`, not freed since.
#[inline(always)]
unsafe fn free_block(b: *mut Block, heap: *mut Heap, slab: *mut Slab, key: usize) {
    // SAFETY: forwarded from the caller.
    unsafe {
        // Relaxed: only the owner itself ever stores its own heap here, so equality is stable.
        if (*slab).owner.load(Ordering::Relaxed) == heap {
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
/// descriptor: a block past the first slab of a mid span is freed from here; `slab_block` aborts
/// on a pointer that is not a block start (a retired SuperSlab's included), `key_unless_freed`
/// on a block that is already free. Reached by a tail call, and returns, so that the fast path
/// needs no stack frame. Calls nothing but `fatal`, which does not allocate: no guard
/// (`free_block`'s slow paths take it).
#[cold]
#[inline(never)]
fn free_rejected(p: *mut u8, heap: *mut Heap) {
    // SAFETY: `free` found `p` in a live SuperSlab or in the arena; `slab_block` validated `b`
    // as a block of the live slab `slab`; `heap` is as `free` was given it.
    unsafe {
        let (slab, b) = slab_block(p, "free");
        free_block(b, heap, slab, key_unless_freed("free", slab, b))
    }
}

/// Inside the guard.
#[cold]
#[inline(never)]
fn free_not_slab(p: *mut u8) {
    if !p.is_null() {
        match owner_of(p, "free") {
            // SAFETY: `owner_of` validated the header and that `p` is its block.
            Owner::Large(hdr) => unsafe { crate::pool::large::free(hdr) },
            Owner::Bootstrap => {}
            Owner::Foreign => crate::process::init::free_foreign(p),
            Owner::Slab(..) => fatal("pagemap changed under free"),
        }
    }
}

/// A free of a block of a slab `heap` does not own. The common case, a tiny block of the slab
/// the class's pending chain already holds, joins the chain here (see `PendingFrees`);
/// everything else is `free_remote_slow`'s.
#[inline(never)]
unsafe fn free_remote(b: *mut Block, heap: *mut Heap, slab: *mut Slab, key: usize) {
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
unsafe fn free_remote_slow(b: *mut Block, heap: *mut Heap, slab: *mut Slab, key: usize) {
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
unsafe fn free_remote_guarded(b: *mut Block, mut heap: *mut Heap, slab: *mut Slab, key: usize) -> *mut Heap {
    // SAFETY: as in `free_remote`; `thread_heap` runs inside the guard.
    unsafe {
        if (*slab).is_large() {
            crate::tiers::large_span::free(slab);
            return heap;
        }
        if (*heap).kind == Kind::Empty {
            heap = thread_heap(heap);
            // The heap this thread just took over (see `thread_exit`) may own the slab.
            if (*slab).owner.load(Ordering::Relaxed) == heap {
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
unsafe fn flush_pending(heap: *mut Heap) {
    // SAFETY: a live heap is the calling thread's.
    unsafe {
        if (*heap).kind == Kind::Live {
            for pending in &mut (*heap).pending {
                pending.flush();
            }
        }
    }
}

/// After local frees, a slab that was full goes back to the available list once an eighth of it
/// is free (so malloc finds those blocks without scanning), and an empty slab gives its span
/// back unless it is the class's only slab (keeping that one avoids churn when one block is
/// allocated and freed repeatedly). In check and statistics modes every local free comes here.
/// Inside the guard.
#[cold]
#[inline(never)]
unsafe fn free_local_slow(b: *mut Block, heap: *mut Heap, s: *mut Slab) {
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
            crate::process::stats::count_free((*s).block_size());
        }
        let only_slab = (*heap).avail[c] == s && (*s).next.is_null() && (*heap).full[c].is_null();
        if (*s).used() == 0 && only_slab {
            (*s).keep_while_only();
        } else if (*s).used() == 0 {
            unlink(heap, s);
            forget_fast(heap, s);
            (*s).owner.store(ptr::null_mut(), Ordering::Relaxed);
            superslab::release_span(s);
        } else if (*s).in_full() && (*s).used() <= (*s).unfull_threshold() {
            unlink(heap, s);
            push_avail(heap, s);
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Thread lifecycle: heap records come from raw mmap, are registered for statistics, and are
// handed over to a new thread, or reused, after their thread exits.

struct Registry {
    live: *mut Heap,
    free_records: *mut Heap,
    key: Option<libc::pthread_key_t>,
    /// Heaps of exited threads, kept whole for the next threads that start, the newest last
    /// (see `thread_exit`). They stay on the live list.
    parked: [*mut Heap; PARKED_MAX],
    parked_len: usize,
}

impl Registry {
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
const PARKED_MAX: usize = 8;
/// A heap that keeps more slabs than this (16 MiB) at its thread's exit is abandoned rather
/// than parked: whichever thread took it over would hold its memory until it allocated from
/// it, and what a successor gains, a warm working set, lies in far fewer slabs.
const PARKED_SLABS: usize = 256;
/// A parked heap is abandoned once the pool has handed out this many spans (16 MiB of tiny
/// slabs at least) since it was parked: no thread took it over meanwhile, and what it holds
/// (free blocks, slabs that other threads' frees emptied) should serve the threads that run.
const PARKED_SPANS: u64 = 256;

/// `parked_len`, for the allocation slow path to test without taking the registry lock.
static PARKED: AtomicUsize = AtomicUsize::new(0);

/// How many heaps of exited threads are parked now.
pub fn parked_count() -> usize {
    PARKED.load(Ordering::Relaxed)
}
struct RegistryCell(UnsafeCell<Registry>);
// SAFETY: touched only with REGISTRY_LOCK held.
unsafe impl Sync for RegistryCell {}
pub static REGISTRY_LOCK: Mutex = Mutex::new();
static REGISTRY: RegistryCell = RegistryCell(UnsafeCell::new(Registry {
    live: ptr::null_mut(),
    free_records: ptr::null_mut(),
    key: None,
    parked: [ptr::null_mut(); PARKED_MAX],
    parked_len: 0,
}));

/// Counters of abandoned heaps, and remote frees collected from abandoned slabs.
static RETIRED_MALLOCS: [AtomicU64; NUM_CLASSES] = [const { AtomicU64::new(0) }; NUM_CLASSES];
static RETIRED_FREES: [AtomicU64; NUM_CLASSES] = [const { AtomicU64::new(0) }; NUM_CLASSES];
pub static RETIRED_REMOTE_FREES: AtomicU64 = AtomicU64::new(0);

fn with_registry<R>(f: impl FnOnce(&mut Registry) -> R) -> R {
    let _g = REGISTRY_LOCK.lock();
    // SAFETY: the lock serialises access.
    f(unsafe { &mut *REGISTRY.0.get() })
}

const RECORDS_PER_MAP: usize = 64;

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

/// The pthread key whose value is each thread's heap, plus one (0: not created yet).
static HEAP_KEY: AtomicUsize = AtomicUsize::new(0);

#[cold]
#[inline(never)]
fn create_heap() -> *mut Heap {
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
    crate::process::init::ensure();
    let (heap, key) = with_registry(|r| {
        // SAFETY: parked heaps are records no thread uses.
        if r.parked_len > 0 && unsafe { (*r.parked[r.parked_len - 1]).modes_current() } {
            r.set_parked_len(r.parked_len - 1);
            return (r.parked[r.parked_len], r.key);
        }
        if r.free_records.is_null() {
            let bytes = os::align_up(RECORDS_PER_MAP * core::mem::size_of::<Heap>(), os::PAGE_SIZE);
            let chunk = os::map(bytes).cast::<Heap>();
            if chunk.is_null() {
                return (ptr::null_mut(), None);
            }
            for i in 0..RECORDS_PER_MAP {
                // SAFETY: `chunk` holds RECORDS_PER_MAP records' worth of fresh memory.
                unsafe {
                    let h = chunk.add(i);
                    (*h).next = r.free_records;
                    r.free_records = h;
                }
            }
        }
        if r.key.is_none() {
            let mut key: libc::pthread_key_t = 0;
            // SAFETY: `thread_exit` has the signature pthread expects; key creation never allocates.
            if unsafe { libc::pthread_key_create(&mut key, Some(thread_exit)) } == 0 {
                r.key = Some(key);
                HEAP_KEY.store(key as usize + 1, Ordering::Release);
            }
        }
        let h = r.free_records;
        // SAFETY: `h` is a record on the free list; it becomes a live heap linked first.
        unsafe {
            r.free_records = (*h).next;
            h.write(sentinel(Kind::Live));
            (*h).take_modes();
            (*h).next = r.live;
            if !r.live.is_null() {
                (*r.live).prev = h;
            }
        }
        r.live = h;
        (h, r.key)
    });
    if heap.is_null() {
        return heap;
    }
    if let Some(key) = key {
        // May allocate (glibc's second-level key table): such a call finds `BUSY` in the slot
        // and is served by the bootstrap arena.
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
unsafe extern "C" fn thread_exit(arg: *mut libc::c_void) {
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
unsafe fn park(heap: *mut Heap) {
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
fn abandon_parked() {
    abandon_parked_since(u64::MAX);
}

/// Abandons the heaps parked before the pool's span count reached `spans`.
fn abandon_parked_since(spans: u64) {
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
unsafe fn abandon_heap(heap: *mut Heap) {
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
unsafe fn give_back_slabs(heap: *mut Heap, abandon: bool) -> usize {
    let mut kept = 0;
    // SAFETY: per the caller; every slab on the heap's lists is owned by it.
    unsafe {
        for c in 0..NUM_CLASSES {
            for first in [(*heap).avail[c], (*heap).full[c]] {
                let mut s = first;
                while !s.is_null() && s != empty_slab() {
                    let next = (*s).next;
                    collect(heap, s);
                    let empty = (*s).used() == 0;
                    if empty || abandon {
                        unlink(heap, s);
                        forget_fast(heap, s);
                        if empty {
                            (*s).owner.store(ptr::null_mut(), Ordering::Relaxed);
                            superslab::release_span(s);
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

unsafe fn retire_heap(heap: *mut Heap) {
    // SAFETY: `heap` is a live record no thread uses but the caller.
    let stats = unsafe { (*heap).stats };
    fold_stats(&stats);
    with_registry(|r| {
        // SAFETY: `heap` is on the live list; we move it to the free list.
        unsafe {
            let (prev, next) = ((*heap).prev, (*heap).next);
            if !next.is_null() {
                (*next).prev = prev;
            }
            if prev.is_null() {
                r.live = next;
            } else {
                (*prev).next = next;
            }
            (*heap).kind = Kind::Dead;
            (*heap).next = r.free_records;
            r.free_records = heap;
        }
    });
}

fn fold_stats(s: &HeapStats) {
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
    let mut remote = RETIRED_REMOTE_FREES.load(Ordering::Relaxed);
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
        let mut h = r.live;
        while !h.is_null() {
            add(h);
            // SAFETY: the live list is consistent under the lock.
            h = unsafe { (*h).next };
        }
    });
    {
        let _g = ORPHAN_LOCK.lock();
        add(ORPHAN.0.get());
    }
    let tiny = mallocs[..FIRST_MID_CLASS].iter().sum();
    let mid = mallocs[FIRST_MID_CLASS..].iter().sum();
    (tiny, mid, frees, remote)
}

/// In a fork child, the other threads' heaps are gone with their threads; only the forking
/// thread's heap stays live. Their slabs stay owned by records nobody uses (their memory is lost
/// to the child, as with every allocator that keeps per-thread heaps).
pub fn after_fork_child() {
    REGISTRY_LOCK.reset_in_child();
    ORPHAN_LOCK.reset_in_child();
}
