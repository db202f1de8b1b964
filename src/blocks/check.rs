//! Check mode (`HAKMEM_CHECK=1`): the allocator validates its own lists and the program's use of
//! freed memory on every call, and reports corruption with one line before it spreads.
//!
//! In check mode a heap keeps its fast-path slabs empty, so every malloc goes through the slow
//! path, which validates the block it hands out (`before_pop`): its link must decode to a free
//! block of the same slab, its key must be the freed key, and the bytes after them must still
//! hold the poison written when it was freed or carved (a write to freed memory is reported).
//! Every free poisons the block, and every 64th local free validates a whole slab: each list
//! entry is a block of the slab, no cycle, and `|free| + used == reserved`.
//!
//! Overflows: a slab block handed out in check mode has a red zone. The block is chosen for the
//! size asked for plus `SEAL_BYTES`, its last 8 bytes hold the seal (the size asked for, keyed
//! with the block's address and the secret) and the bytes between the program's part and the
//! seal hold a canary. free, realloc and malloc_usable_size verify both (malloc_usable_size
//! reports the size asked for, so a program that uses all of it stays inside): an overflow
//! into the next block has to cross the seal. (Large blocks, each in its own mapping, have
//! none.) Outside check mode none of this runs and
//! the fast paths are unchanged (the mode rides on flags the fast paths already test).

use crate::blocks::block::{freed_key, Block};
use crate::blocks::span::Span;
use crate::platform::config;
use crate::platform::diag::fatal_ptr;
use core::mem::size_of;

const POISON: u8 = 0xdf;
const VALIDATE_EVERY: u32 = 64;
/// The red zone's filler: the bytes of a block past what the program asked for.
const CANARY: u8 = 0xca;
/// The seal, at the end of every slab block handed out in check mode: the size the program
/// asked for, mixed with the block's address and the secret (see `seal`).
const SEAL_BYTES: usize = 8;

pub fn enabled() -> bool {
    config::check()
}

/// Fills a freed block past its link and key with the poison byte.
///
/// # Safety
/// `b` is a block of `s` that was just freed (no longer the program's).
pub unsafe fn poison(s: &Span, b: *mut Block) {
    // SAFETY: the block holds `block_size >= 16` bytes; the first 16 are the link and key.
    unsafe {
        core::ptr::write_bytes(b.cast::<u8>().add(size_of::<Block>()), POISON, s.block_size() - size_of::<Block>())
    };
}

/// The block size to ask for `size` bytes with a red zone: room for the seal, and at least 17
/// bytes, so that a freed block has room for its link, key and some poison.
pub fn inner_size(size: usize) -> Option<usize> {
    Some(size.checked_add(SEAL_BYTES)?.max(17))
}

fn seal_value(b: *mut u8, size: usize) -> usize {
    !freed_key(b.cast()) ^ size.rotate_left(17)
}

/// Fills the red zone of `b`, a block of `block_size` bytes just handed out for `size` bytes
/// (`size + SEAL_BYTES <= block_size`).
///
/// # Safety
/// `b` is a writable block of `block_size` bytes.
pub unsafe fn seal(b: *mut u8, size: usize, block_size: usize) {
    debug_assert!(size + SEAL_BYTES <= block_size);
    // SAFETY: per the caller, the red zone lies inside the block.
    unsafe {
        core::ptr::write_bytes(b.add(size), CANARY, block_size - SEAL_BYTES - size);
        b.add(block_size - SEAL_BYTES).cast::<usize>().write_unaligned(seal_value(b, size));
    }
}

/// The size the program asked for the sealed block `b` of `block_size` bytes, after checking
/// its red zone from byte `from` on (bytes below it may hold a free-list link already); a
/// broken seal or canary is reported, naming `call`.
///
/// # Safety
/// `b` is a block of `block_size` bytes handed out in check mode (sealed).
pub unsafe fn sealed_size(call: &str, b: *mut u8, block_size: usize, from: usize) -> usize {
    // SAFETY: per the caller, the seal and the red zone lie inside the block.
    unsafe {
        let word = b.add(block_size - SEAL_BYTES).cast::<usize>().read_unaligned();
        let size = (word ^ !freed_key(b.cast())).rotate_right(17);
        if size > block_size - SEAL_BYTES {
            overflow(call, b);
        }
        for i in size.max(from)..block_size - SEAL_BYTES {
            if *b.add(i) != CANARY {
                overflow(call, b);
            }
        }
        size
    }
}

#[cold]
fn overflow(call: &str, b: *mut u8) -> ! {
    let mut line = crate::platform::diag::Line::new();
    line.str("check: ").str(call).str("(): heap overflow: the bytes past the end of this block were written");
    // SAFETY: the line holds only ASCII.
    fatal_ptr(unsafe { core::str::from_utf8_unchecked(line.as_bytes()) }, b as usize)
}

/// Poisons the `n` blocks from `first` that `Span::extend` just carved, so that every block on
/// a free list in check mode holds the poison.
///
/// # Safety
/// The blocks are the ones `extend` returned for `s`, not handed out yet.
pub unsafe fn poison_carved(s: &Span, first: *mut Block, n: u32) {
    for i in 0..n as usize {
        // SAFETY: per the caller, the i-th carved block lies in the span.
        unsafe { poison(s, first.byte_add(i * s.block_size())) };
    }
}

/// Validates the block `malloc` is about to pop from `s` (the head of its free list) and the
/// link it holds: the head must be a carved block of `s` with its freed key and its poison
/// intact (every byte of a freed block is checked: the link by decoding it, the key by
/// comparing it, the rest against the poison), and the link null or another such block.
///
/// # Safety
/// `s` is owned by the calling thread's heap; `b` is the head of its free list.
pub unsafe fn before_pop(s: &Span, b: *mut Block) {
    validate_link(s, b);
    // SAFETY: `validate_link` checked that `b` is a carved block of `s` (mapped memory).
    unsafe {
        validate_free(b);
        let bytes = b.cast::<u8>();
        for i in size_of::<Block>()..s.block_size() {
            if *bytes.add(i) != POISON {
                fatal_ptr("check: a freed block was written to (use after free)", bytes.add(i) as usize);
            }
        }
        let next = Block::next(b);
        if !next.is_null() {
            validate_link(s, next);
            validate_free(next);
        }
    }
}

/// Aborts unless `b` (a carved block) holds its freed key.
///
/// # Safety
/// `b` is a carved block of a live slab.
unsafe fn validate_free(b: *mut Block) {
    // SAFETY: per the caller.
    if unsafe { (*b).key } != freed_key(b) {
        fatal_ptr("check: a free block's link or key was overwritten (use after free or overflow)", b as usize);
    }
}

/// Aborts unless `b`, a free-list head or link of `s`, is one of its carved blocks.
fn validate_link(s: &Span, b: *mut Block) {
    if !s.holds(b) || s.block_at(b.cast()).is_none() {
        fatal_ptr("check: heap corruption: a free list points outside its slab", b as usize);
    }
}

/// Validates the whole of slab `s` every `VALIDATE_EVERY` calls (counted in `ticks`).
///
/// # Safety
/// `s` is owned by the calling thread's heap.
pub unsafe fn maybe_validate(s: &Span, ticks: &mut u32) {
    *ticks += 1;
    if *ticks < VALIDATE_EVERY {
        return;
    }
    *ticks = 0;
    let mut n = 0u32;
    let mut cur = s.free.block();
    while !cur.is_null() {
        validate_link(s, cur);
        n += 1;
        if n > s.reserved {
            fatal_ptr("check: heap corruption: a free list has a cycle", s.start as usize);
        }
        // SAFETY: `cur` was validated as a block of `s`.
        cur = unsafe { Block::next(cur) };
    }
    if n + s.used() != s.reserved {
        fatal_ptr("check: heap corruption: slab counts disagree with its free list", s.start as usize);
    }
}
