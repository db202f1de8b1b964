//! A span's descriptor (`Span`): one span of a SuperSlab (1 to 16 slabs of 64 KiB) carved into
//! blocks of one size class, or holding one Large block, and its free lists.
//!
//! Free-list sharding (after mimalloc): the owner thread pops from and pushes its own frees to
//! `free` (so a block freed and reallocated by one thread stays hot in its cache); other threads
//! push to `thread_free`, an atomic LIFO that only the owner empties (in one swap). A block is on
//! exactly one of the two lists, or handed out, or not yet carved:
//!
//! `capacity == (capacity - reserved) + |free| + (used - |thread_free|) + |thread_free|`
//!
//! i.e. `used` counts the blocks the owner handed out and has not yet taken back, including those
//! waiting in `thread_free`.

use crate::blocks::block::{freed_key, Block, ListHead};
use crate::blocks::remote_free;
use crate::blocks::size_class::SizeClass;
use crate::platform::list::{Links, Node};
use crate::platform::os;
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

pub const SLAB_SHIFT: usize = 16;
pub const SLAB_SIZE: usize = 1 << SLAB_SHIFT;

pub const FULL: u8 = 1;
/// Every local free takes the owner heap's slow path (check or statistics mode).
pub const SLOW: u8 = 2;
/// The span holds one Large block, its whole length (see `large_span`); no heap owns it.
pub const LARGE: u8 = 4;
/// The pages past the span's first carved page wait for a purge (`shrink_carved`): carving
/// must first take them back from the pool (`superslab::unkeep_tail`).
pub const KEPT_TAIL: u8 = 8;

/// A watermark above any slab's capacity, so that `spare` stays negative: every owner's free
/// takes the slow path.
const ALWAYS_SLOW: u32 = 1 << 30;

/// Divisibility by multiplication (Lemire, Kaser & Kurz, "Faster remainder by direct
/// computation", 2019): with `magic = ⌊(2^64 - 1) / d⌋ + 1`, an offset `off < 2^32` is a multiple
/// of `d` exactly when `off * magic mod 2^64 < magic` (tested exhaustively below). One multiply
/// and one compare, both with the descriptor in memory. (`magic` 0, the unused descriptor's,
/// rejects every offset.)
fn magic_for(block_size: usize) -> u64 {
    u64::MAX / block_size as u64 + 1
}

/// The most `Span::extend` carves at once, in pages (in blocks, for blocks over a page).
const MAX_CARVE_PAGES: u32 = 4;
const _: () = assert!(os::PAGE_SIZE / 16 <= u16::MAX as usize); // `page_blocks` fits

/// The span lists: a span is on its owner heap's available or full list of its class, on the
/// pool's abandoned list of its class, or on none.
pub struct SpanLists;

// SAFETY: the links are the descriptor's own field.
unsafe impl Node<SpanLists> for Span {
    fn links(n: *mut Self) -> *mut Links<Self> {
        // SAFETY: only computes the field's address.
        unsafe { ptr::addr_of_mut!((*n).links) }
    }
}

/// Who owns a span, as the span sees it: the address of a thread heap's record (or of the
/// Large tier's marker), only ever compared here, never followed. Opaque, so that the blocks
/// layer knows nothing of heaps; the heap casts its own pointer.
pub enum SpanOwner {}

/// Two cache lines. Line 0 holds what every thread's free reads (the span's shape, its owner,
/// the carved range), written only on slow paths, so that it stays in every freeing thread's
/// cache; line 1 holds what the owner's malloc and free write (its free list and count) and the
/// remote-free list. A thread freeing another's blocks thus reads a line the owner does not
/// write, and writes the owner's line once per chain of frees (see `PendingFrees`), where
/// reading the owner's free-list line had cost a transfer for every free. 128 bytes, so that
/// finding a descriptor from its index is a shift.
#[repr(C, align(128))]
pub struct Span {
    // --- line 0 ---
    /// The heap that owns the slab; null while the slab is abandoned or free.
    pub owner: AtomicPtr<SpanOwner>,
    pub magic: u64,
    /// The end of the blocks carved so far (see `extend`): the first never-carved block. Blocks
    /// are packed against the span's end (the bytes left over, span size modulo block size, are
    /// at the span's head) and carved from the lowest up, so the blocks ever handed out are
    /// exactly the addresses below `carved_end` at a multiple of the block size from it: one
    /// compare and one divisibility test (see `block_at`) reject both interior pointers and
    /// blocks never handed out. Written by the owner only, growing (but for `shrink_carved`,
    /// when no block is handed out); read by every thread's free (a block another thread frees
    /// was carved before it was handed out).
    carved_end: AtomicUsize,
    /// Links in the owner heap's available or full list, or in the pool's abandoned list.
    links: Links<Span>,
    block_size: u32,
    /// Blocks carved from the span so far (see `extend`): a new slab does not touch all its
    /// memory at once. (Owner only, slow paths.)
    pub reserved: u32,
    pub capacity: u32,
    /// The owner's free takes the heap's slow path once `used()` drops below this: 1 on the
    /// available list (the slab became empty), `unfull_threshold() + 1` on the full list (enough
    /// blocks came back to make the slab worth allocating from again), `ALWAYS_SLOW` in check and
    /// statistics modes (every free is checked and counted), 0 (never) for the class's only slab,
    /// which is kept when empty. (Slow paths only.)
    free_watermark: u32,
    pub class: SizeClass,
    pub span_slabs: u8,
    /// `FULL`: the slab is on the owner heap's full list (else its available list);
    /// `SLOW`: the owner runs in check or statistics mode.
    pub flags: u8,
    _pad0: u8,
    /// Set in every descriptor of a SuperSlab, used or not: the byte offset, from the SuperSlab's
    /// base, of the descriptor of the span that covers this slab (0, the header's never-used
    /// descriptor, for a free slab). `SuperSlab::span_of` reads it from the descriptor its
    /// pointer falls in (`free`'s fast path reads that descriptor itself: see `descriptor_at`).
    pub head_offset: u16,
    /// Blocks per page, at least 1 (set by `init`): the unit `extend` carves in.
    page_blocks: u16,
    // --- line 1 ---
    /// The span's first byte.
    pub start: *mut u8,
    // Owner thread only (or the pool lock while unowned):
    /// The owner's free list, its head encoded (see `ListHead`).
    pub free: ListHead,
    /// The span's length: the list's head block is in the slab exactly when
    /// `head - start < span_bytes`, which rejects null in the same compare (see `holds`).
    span_bytes: usize,
    /// `used() - free_watermark`: a malloc adds one, the owner's free takes one and goes to the
    /// heap's slow path when the result is negative. One decrement and a sign test cover every
    /// reason to leave the fast path (see `free_watermark`).
    pub spare: i32,
    _pad1: u32,
    /// Other threads' frees.
    pub thread_free: AtomicPtr<Block>,
    _pad2: [u8; 24],
}

const _: () = assert!(core::mem::size_of::<Span>() == 128);
const _: () = assert!(core::mem::offset_of!(Span, page_blocks) < 64);
const _: () = assert!(core::mem::offset_of!(Span, start) == 64);

// SAFETY: the owner-only fields are touched only by the owning thread or under the pool lock;
// the shared ones are atomics.
unsafe impl Sync for Span {}

impl Span {
    /// A descriptor with no blocks; also the static "no slab" sentinel the empty heap points at.
    /// (A constant with atomics on purpose: it is a template copied into each descriptor.)
    #[allow(clippy::declare_interior_mutable_const)]
    pub const UNUSED: Span = Span {
        start: ptr::null_mut(),
        owner: AtomicPtr::new(ptr::null_mut()),
        free: ListHead::EMPTY,
        magic: 0,
        carved_end: AtomicUsize::new(0),
        span_bytes: 0,
        block_size: 0,
        spare: 0,
        class: SizeClass(0),
        span_slabs: 0,
        flags: 0,
        _pad0: 0,
        head_offset: 0,
        _pad1: 0,
        thread_free: AtomicPtr::new(ptr::null_mut()),
        links: Links::NONE,
        reserved: 0,
        capacity: 0,
        free_watermark: 0,
        page_blocks: 0,
        _pad2: [0; 24],
    };

    /// Prepares an unused descriptor for a span of `span_slabs` slabs at `start`.
    ///
    /// # Safety
    /// `start..start + span_slabs * SLAB_SIZE` is read-write memory that no other descriptor
    /// in use covers, and stays so while this one is in use: every other method reads and
    /// writes blocks in it, trusting `start` and the length.
    pub unsafe fn init(&mut self, class: SizeClass, start: *mut u8, span_slabs: usize, owner: *mut SpanOwner) {
        let block_size = class.block_size();
        let span_bytes = span_slabs * SLAB_SIZE;
        self.free = ListHead::EMPTY;
        // No block used; on the available list, so the watermark is 1.
        self.free_watermark = 1;
        self.spare = -1;
        self.reserved = 0;
        self.page_blocks = (os::PAGE_SIZE / block_size).max(1) as u16;
        self.capacity = (span_bytes / block_size) as u32;
        debug_assert!(self.capacity < remote_free::MAX_QUEUED);
        self.class = class;
        self.flags = 0;
        self.span_slabs = span_slabs as u8;
        self.block_size = block_size as u32;
        self.magic = magic_for(block_size);
        self.start = start;
        self.span_bytes = span_bytes;
        // Nothing carved: the first block is the one `capacity` blocks below the span's end.
        self.carved_end.store(start as usize + span_bytes % block_size, Ordering::Relaxed);
        self.links = Links::NONE;
        self.thread_free.store(ptr::null_mut(), Ordering::Relaxed);
        // Relaxed, like every store here: the descriptor is prepared under the pool lock, and a
        // block of the span reaches another thread only through the program's own
        // synchronisation with the owner, which orders these stores before that thread's free.
        self.owner.store(owner, Ordering::Relaxed);
    }

    /// Prepares an unused descriptor for a span of `span_slabs` slabs at `start` that is one
    /// Large block (see `large_span`), handed out at once: its only block is `start`. `owner`
    /// marks it live (a static no heap is, so every free takes the remote path).
    ///
    /// # Safety
    /// As for `init`.
    pub unsafe fn init_large(&mut self, start: *mut u8, span_slabs: usize, owner: *mut SpanOwner) {
        let head_offset = self.head_offset;
        *self = Span::UNUSED;
        self.head_offset = head_offset;
        self.start = start;
        self.class = SizeClass(crate::blocks::size_class::NUM_CLASSES as u8 - 1);
        self.flags = LARGE;
        self.capacity = 1;
        self.reserved = 1;
        self.page_blocks = 1;
        // SAFETY: per the caller.
        unsafe { self.set_large_len(span_slabs) };
        // Relaxed: as in `init`.
        self.owner.store(owner, Ordering::Relaxed);
    }

    /// Makes the Large span `span_slabs` slabs long (its block grows or shrinks with it).
    ///
    /// # Safety
    /// As for `init`, for the new length.
    pub unsafe fn set_large_len(&mut self, span_slabs: usize) {
        debug_assert!(self.is_large());
        let bytes = span_slabs * SLAB_SIZE;
        self.span_slabs = span_slabs as u8;
        self.span_bytes = bytes;
        self.block_size = bytes as u32;
        self.magic = magic_for(bytes);
        self.carved_end.store(self.start as usize + bytes, Ordering::Relaxed);
    }

    pub fn is_large(&self) -> bool {
        self.flags & LARGE != 0
    }

    #[inline(always)]
    pub fn block_size(&self) -> usize {
        self.block_size as usize
    }

    /// Marks the descriptor unused so stale pointers into the span are rejected by `free`.
    pub fn clear(&mut self) {
        *self = Span::UNUSED;
    }

    /// Whether `owner` owns the span (a Relaxed read: only the owner stores itself here, so
    /// equality with the caller's own heap is stable).
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    pub fn is_owned_by(&self, owner: *mut SpanOwner) -> bool {
        // A compare with the field in memory and a jump that the caller's branch becomes: LLVM
        // does not fold an atomic load into a compare, and free's fast path would pay a `mov`.
        // SAFETY: reads one aligned word of the descriptor, as `owner.load(Relaxed)` does.
        unsafe {
            core::arch::asm!(
                "cmp qword ptr [{span} + {offset}], {owner}",
                "jne {other}",
                span = in(reg) self,
                owner = in(reg) owner,
                offset = const core::mem::offset_of!(Span, owner),
                other = label { return false },
                options(readonly, nostack)
            );
        }
        true
    }

    #[cfg(not(target_arch = "x86_64"))]
    #[inline(always)]
    pub fn is_owned_by(&self, owner: *mut SpanOwner) -> bool {
        self.owner.load(Ordering::Relaxed) == owner
    }

    /// The block `p` points at, if `p` is the start of a block of this slab that was ever
    /// carved. `p` lies in the span (`SuperSlab::span_of(p)` found this descriptor), or the
    /// descriptor is unused (`carved_end` 0: everything is rejected).
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    pub fn block_at(&self, p: *mut u8) -> Option<*mut Block> {
        debug_assert!(self.magic == 0 || (self.start <= p && p < self.start.wrapping_add(self.span_bytes)));
        // The portable version's test, with `magic` an operand of both the multiply and the
        // compare: LLVM loads it into a register first, one instruction more on free's fast path.
        // SAFETY: reads two aligned words of the descriptor (`carved_end` as a Relaxed load).
        unsafe {
            core::arch::asm!(
                "mov {off}, qword ptr [{span} + {carved_end}]",
                "sub {off}, {p}",
                "jbe {outside}",
                "imul {off}, qword ptr [{span} + {magic}]",
                "cmp {off}, qword ptr [{span} + {magic}]",
                "jae {outside}",
                span = in(reg) self,
                p = in(reg) p,
                off = out(reg) _,
                carved_end = const core::mem::offset_of!(Span, carved_end),
                magic = const core::mem::offset_of!(Span, magic),
                outside = label { return None },
                options(readonly, nostack)
            );
        }
        Some(p.cast())
    }

    #[cfg(not(target_arch = "x86_64"))]
    #[inline(always)]
    pub fn block_at(&self, p: *mut u8) -> Option<*mut Block> {
        debug_assert!(self.magic == 0 || (self.start <= p && p < self.start.wrapping_add(self.span_bytes)));
        let carved_end = self.carved_end.load(Ordering::Relaxed);
        if p as usize >= carved_end {
            return None;
        }
        // In 1..=span bytes (< 2^32), where the divisibility test is exact; its multiples of
        // the block size there are the carved blocks' distances from `carved_end`, and only those.
        let off = (carved_end - p as usize) as u64;
        if off.wrapping_mul(self.magic) < self.magic {
            Some(p.cast())
        } else {
            None
        }
    }

    /// For a message about `p`, a pointer into the span that `block_at` rejected: where it lies
    /// (inside a block, or past the blocks carved so far).
    pub fn note_position(&self, p: *mut u8, l: &mut crate::platform::diag::Line) {
        let (size, carved_end) = (self.block_size(), self.carved_end.load(Ordering::Relaxed));
        if self.magic == 0 || size == 0 {
            return;
        }
        if p as usize >= carved_end {
            l.str(": in a slab of ").num(size as u64).str("-byte blocks, past those handed out so far");
        } else {
            let into = (size - (carved_end - p as usize) % size) % size;
            l.str(": ").num(into as u64).str(" bytes into a ").num(size as u64).str("-byte block");
        }
    }

    /// Whether `b` (a list head or a decoded link) lies in the span; false for null, so that
    /// one compare both finds the end of the list and catches a corrupted link before it is
    /// followed.
    #[inline(always)]
    pub fn holds(&self, b: *mut Block) -> bool {
        (b as usize).wrapping_sub(self.start as usize) < self.span_bytes
    }

    /// Pops a block from `free` (owner only); null when `free` is empty. The fast path's
    /// version of this is `tiers::heap::alloc::pop_fast`; this one reports a corrupted head.
    #[inline(always)]
    pub fn pop(&mut self) -> *mut Block {
        let b = self.free.block();
        if !self.holds(b) {
            if !b.is_null() {
                corrupted_list(b);
            }
            return b;
        }
        // SAFETY: `b` lies in the span, which is mapped; it heads the free list.
        unsafe {
            self.free = Block::rest(b);
            (*b).key = 0;
        }
        self.spare += 1;
        b
    }

    /// Owner's free: the block goes back to `free`, marked with its freed `key`. Returns true when the owner heap must act:
    /// the slab became empty, or it sits on the heap's full list and now has a free block.
    ///
    /// # Safety
    /// `b` is a handed-out block of this slab, freed by the owner thread.
    #[inline(always)]
    pub unsafe fn push_local(&mut self, b: *mut Block, key: usize) -> bool {
        // SAFETY: `b` is a handed-out block of this slab, now returned by its owner.
        unsafe { Block::set_free_before(b, self.free, key) };
        self.free = ListHead::of(b);
        self.spare -= 1;
        self.spare < 0
    }

    /// The blocks handed out and not taken back by the owner (those waiting in `thread_free`
    /// included; see the module docs).
    #[inline]
    pub fn used(&self) -> u32 {
        (self.spare + self.free_watermark as i32) as u32
    }

    fn set_watermark(&mut self, watermark: u32) {
        let used = self.used();
        self.free_watermark = watermark;
        self.spare = used as i32 - watermark as i32;
    }

    pub fn in_full(&self) -> bool {
        self.flags & FULL != 0
    }

    pub fn set_in_full(&mut self, full: bool) {
        self.flags = (self.flags & !FULL) | if full { FULL } else { 0 };
        self.refresh_watermark();
    }

    pub fn set_slow(&mut self) {
        self.flags |= SLOW;
        self.refresh_watermark();
    }

    /// A full slab rejoins the available list once an eighth of it is free again: moving it
    /// back for every single free would make the next malloc's slow path run once per block.
    pub fn unfull_threshold(&self) -> u32 {
        self.capacity - (self.capacity / 8).max(1)
    }

    /// Sets the watermark for the slab's list and mode (see `free_watermark`).
    pub fn refresh_watermark(&mut self) {
        self.set_watermark(if self.flags & SLOW != 0 {
            ALWAYS_SLOW
        } else if self.flags & FULL != 0 {
            self.unfull_threshold() + 1
        } else {
            1
        });
    }

    /// The empty slab stays as its class's only slab: its frees need no slow path until
    /// another slab joins the class (`refresh_watermark` then re-arms it).
    pub fn keep_while_only(&mut self) {
        if self.flags & SLOW == 0 {
            self.set_watermark(0);
        }
    }

    /// An empty slab that stays (`keep_while_only`) forgets the blocks it carved past its first
    /// page and carves that page again, so that the rest, `tail()`, holds no list and can go
    /// back to the kernel while the owner goes on using the first page. True when it did so
    /// (more than a page was carved; not in check or statistics mode, whose poison and counts
    /// follow every carved block); the span is then marked `KEPT_TAIL`. (Blocks past the new
    /// carved end are rejected by `block_at` again, as never handed out.)
    pub fn shrink_carved(&mut self) -> bool {
        debug_assert_eq!(self.used(), 0);
        if self.flags & SLOW != 0 || self.reserved <= self.page_blocks as u32 {
            return false;
        }
        self.free = ListHead::EMPTY;
        self.reserved = 0;
        self.carved_end.store(self.start as usize + self.span_bytes % self.block_size(), Ordering::Relaxed);
        self.extend();
        self.flags |= KEPT_TAIL;
        true
    }

    /// The pages after the last carved block: `(start, bytes)`, maybe empty.
    pub fn tail(&self) -> (*mut u8, usize) {
        let end = self.start as usize + self.span_bytes;
        let from = os::align_up(self.carved_end.load(Ordering::Relaxed), os::PAGE_SIZE);
        (from as *mut u8, end.saturating_sub(from))
    }

    /// Any other thread's free: a lock-free push to `thread_free`, the block marked with its
    /// freed `key`.
    ///
    /// # Safety
    /// `b` is a handed-out block of this slab.
    #[inline]
    pub unsafe fn push_remote(&self, b: *mut Block, key: usize) {
        debug_assert_eq!(key, freed_key(b));
        // SAFETY: `b` is a handed-out block of this slab; after the push it belongs to the list.
        unsafe {
            (*b).key = key;
            remote_free::push(&self.thread_free, b);
        }
    }

    /// Another thread's frees of several blocks at once: the chain `first ..= last` of `n`
    /// blocks (linked through `next`, each block already marked with its freed key) joins
    /// `thread_free` in one CAS.
    ///
    /// # Safety
    /// The chain's blocks are handed-out blocks of this slab, freed by the caller.
    #[inline]
    pub unsafe fn push_remote_chain(&self, first: *mut Block, last: *mut Block, n: u32) {
        // SAFETY: forwarded from the caller; a slab's capacity is below `MAX_QUEUED` (`init`).
        unsafe { remote_free::push_chain(&self.thread_free, first, last, n) };
    }

    /// Moves the blocks other threads freed onto `free` (owner only); returns how many.
    /// (Remote frees are counted here, by the receiver, so that the freeing thread touches no
    /// shared counter.) The queue's head word carries the count, so that the common case, an
    /// empty `free`, takes the list as it is: its links are checked as they are popped.
    pub fn collect(&mut self) -> u32 {
        let (head, count) = remote_free::take_all(&self.thread_free);
        if !head.is_null() {
            if !self.free.is_empty() {
                // SAFETY: `take_all` gave us the whole remote list; its last block is ours.
                unsafe {
                    let tail = remote_free::last(head, |b| {
                        if !self.holds(b) {
                            corrupted_list(b);
                        }
                    });
                    Block::set_rest(tail, self.free);
                }
            }
            self.free = ListHead::of(head);
            self.spare -= count as i32;
        }
        count
    }

    /// Carves not-yet-used blocks onto `free` (owner only): as many as are carved already, at
    /// least `page_blocks` and at most `MAX_CARVE_PAGES` times that, so that a slab's memory is
    /// touched as the program uses it, and a slab in steady use reaches this slow path a few
    /// times only. (Carving a page at a time, a 64 KiB slab of 512 B blocks took the slow path
    /// every 8 mallocs: `batch`, which builds and frees 100,000 blocks in rounds, spent 6% of
    /// its instructions there.) Each block gets its freed key, so that a free of it before it
    /// is handed out is caught as a double free. Returns the first new block and their number.
    pub fn extend(&mut self) -> (*mut Block, u32) {
        let left = self.capacity - self.reserved;
        if left == 0 {
            return (ptr::null_mut(), 0);
        }
        let page_blocks = self.page_blocks as u32;
        debug_assert!(page_blocks > 0, "a slab with blocks went through `init`");
        let n = self.reserved.clamp(page_blocks, MAX_CARVE_PAGES * page_blocks).min(left);
        let first = self.carved_end.load(Ordering::Relaxed) as *mut Block;
        // SAFETY: the n blocks from `carved_end` up lie inside the span and were never handed
        // out (`reserved < capacity`).
        unsafe {
            let mut b = first;
            for _ in 1..n {
                let next = b.byte_add(self.block_size());
                Block::set_free(b, next, freed_key(b));
                b = next;
            }
            Block::set_free_before(b, self.free, freed_key(b));
            self.carved_end.store(b.byte_add(self.block_size()) as usize, Ordering::Relaxed);
        }
        self.free = ListHead::of(first);
        self.reserved += n;
        (first, n)
    }

    /// Whether blocks other threads freed since the last `collect` are waiting.
    pub fn has_pending_frees(&self) -> bool {
        !self.thread_free.load(Ordering::Relaxed).is_null()
    }
}

/// A free-list head or link that points outside its slab: written to while free.
#[cold]
#[inline(never)]
pub fn corrupted_list(b: *mut Block) -> ! {
    crate::platform::diag::fatal_ptr(
        "free list corrupted: a freed block was written to (use-after-free or overflow; HAKMEM_CHECK=1 finds the writer)",
        b as usize,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocks::size_class::NUM_CLASSES;

    #[test]
    fn reciprocal_finds_exactly_the_block_starts() {
        for c in 0..NUM_CLASSES {
            let class = SizeClass(c as u8);
            let mut s = Span::UNUSED;
            let base = 0x10_0000usize as *mut u8;
            // SAFETY: the test only computes addresses (`block_at`); nothing touches the span.
            unsafe { s.init(class, base, class.span_slabs(), ptr::null_mut()) };
            let span_bytes = class.span_slabs() * SLAB_SIZE;
            let head = span_bytes % s.block_size();
            let cap = s.capacity as usize;
            // Every block of the slab may wait in `thread_free` at once: its count must fit.
            assert!(s.capacity < remote_free::MAX_QUEUED, "class {c}");
            // Nothing carved, one block, half, all: exactly the carved block starts pass.
            for carved in [0, 1, cap / 2, cap] {
                s.carved_end.store(base as usize + head + carved * s.block_size(), Ordering::Relaxed);
                for off in 0..span_bytes {
                    let expect = off >= head
                        && (off - head).is_multiple_of(s.block_size())
                        && (off - head) / s.block_size() < carved;
                    // SAFETY: only address arithmetic, nothing is dereferenced.
                    let got = s.block_at(unsafe { base.add(off) }).is_some();
                    assert_eq!(got, expect, "class {c} offset {off} carved {carved}");
                }
            }
            // Alignment: a class whose size is a multiple of a power of two up to the slab size
            // keeps its blocks aligned to it (`SizeClass::for_aligned` relies on it).
            let align = 1 << s.block_size().trailing_zeros().min(SLAB_SHIFT as u32);
            assert_eq!(head % align, 0, "class {c}");
        }
    }

    #[test]
    fn unused_descriptor_rejects_everything() {
        let s = Span::UNUSED;
        for p in [0usize, 16, 0x7f00_0000_0000] {
            assert!(s.block_at(p as *mut u8).is_none());
        }
    }

    #[test]
    fn an_empty_kept_slab_carves_its_first_page_again() {
        let class = SizeClass::for_size(48);
        // Page-aligned, and past the buffer's first byte (see below).
        let span = vec![0u8; SLAB_SIZE + 2 * os::PAGE_SIZE];
        let start = os::align_up(span.as_ptr() as usize + 1, os::PAGE_SIZE) as *mut u8;
        let mut s = Span::UNUSED;
        // SAFETY: `start` is a 64 KiB slice of the test's own buffer, used by this descriptor only.
        unsafe { s.init(class, start, 1, ptr::null_mut()) };
        let mut got = std::vec::Vec::new();
        while got.len() < 3 * s.page_blocks as usize {
            if s.free.is_empty() {
                s.extend();
            }
            got.push(s.pop());
        }
        for &b in &got {
            // SAFETY: every block in `got` was handed out by `s` and is freed once.
            unsafe { s.push_local(b, freed_key(b)) };
        }
        assert_eq!(s.used(), 0);
        s.keep_while_only();
        assert!(s.shrink_carved());
        assert!(s.flags & KEPT_TAIL != 0);
        let (tail, len) = s.tail();
        assert_eq!(tail as usize + len, start as usize + SLAB_SIZE);
        let mut listed = 0;
        let mut cur = s.free.block();
        while !cur.is_null() {
            assert!((cur as usize) < tail as usize, "a listed block in the tail");
            listed += 1;
            // SAFETY: the list links blocks inside `span`.
            cur = unsafe { Block::next(cur) };
        }
        assert_eq!(listed, s.page_blocks as usize);
        // The blocks past the first page count as never handed out again.
        assert!(s.block_at(*got.last().unwrap() as *mut u8).is_none());
        // One page carved: nothing more to give back.
        assert!(!s.shrink_carved());
    }

    #[test]
    fn lists_keep_every_block_exactly_once() {
        let class = SizeClass::for_size(48);
        // The fake span starts past the buffer's first byte: the buffer is itself a hakmem
        // block, and a fake freed block at its start would carry its freed key.
        let span = vec![0u8; SLAB_SIZE + 128];
        let start = ((span.as_ptr() as usize + 64) & !63) as *mut u8;
        let mut s = Span::UNUSED;
        // SAFETY: `start` is a 64 KiB slice of the test's own buffer, used by this descriptor only.
        unsafe { s.init(class, start, 1, ptr::null_mut()) };
        let mut got = std::vec::Vec::new();
        loop {
            if s.free.is_empty() {
                s.extend();
            }
            let b = s.pop();
            if b.is_null() {
                break;
            }
            got.push(b);
        }
        assert_eq!(got.len(), s.capacity as usize);
        assert_eq!(s.used(), s.capacity);
        // Half back locally, half from "another thread".
        for (i, &b) in got.iter().enumerate() {
            // SAFETY: every block in `got` was handed out by `s` and is freed once.
            unsafe {
                if i % 2 == 0 {
                    s.push_local(b, freed_key(b));
                } else {
                    s.push_remote(b, freed_key(b));
                }
            }
        }
        assert_eq!(s.used() as usize, got.len() / 2);
        assert!(s.has_pending_frees());
        s.collect();
        assert_eq!(s.used(), 0);
        let mut seen = std::collections::HashSet::new();
        let mut cur = s.free.block();
        while !cur.is_null() {
            assert!(seen.insert(cur as usize), "block on the list twice");
            // SAFETY: the list links blocks inside `span`.
            cur = unsafe { Block::next(cur) };
        }
        assert_eq!(seen.len(), got.len());
    }
}
