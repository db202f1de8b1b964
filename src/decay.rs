//! The clock of free memory. Freed memory is kept for reuse for `DECAY_MS`, so that a program
//! that frees a large structure and builds the next one, or churns large buffers, does not fault
//! every page back in; after that it goes back to the kernel: free slabs' pages and empty
//! SuperSlabs (`superslab::decay`), idle large mappings (`large::expire`).
//!
//! There is no background thread: `tick` runs the decay, at most every `TICK_MS`, from the slow
//! paths of whichever thread passes: a span taken from the pool or given back, a large block
//! allocated or freed. A program that frees memory and then goes idle keeps what it freed last
//! until its next such call (or `malloc_trim`). `give_back_all` gives back everything free at
//! once: for `malloc_trim`, and before an allocation that found no memory fails.

use crate::os;
use core::sync::atomic::{AtomicU64, Ordering};

/// How long freed memory waits for reuse before it goes back to the kernel.
pub const DECAY_MS: u64 = 1000;
const TICK_MS: u64 = DECAY_MS / 4;
static NEXT_TICK_MS: AtomicU64 = AtomicU64::new(0);

/// Runs the decay when it is due (one thread per tick). Takes the pool and large-cache locks in
/// turn: callers hold neither.
pub fn tick() {
    let now = os::now_ms();
    let next = NEXT_TICK_MS.load(Ordering::Relaxed);
    if now < next || NEXT_TICK_MS.compare_exchange(next, now + TICK_MS, Ordering::Relaxed, Ordering::Relaxed).is_err() {
        return;
    }
    crate::superslab::decay(now);
    crate::large::expire(now);
    os::retry_unmaps();
}

/// Gives back at once everything free that the decay would keep for a while (the large cache,
/// empty SuperSlabs, free slabs' pages); true when something was given back. Called by
/// `malloc_trim`, and when an allocation finds no memory, which then retries once: under an
/// address-space limit (`ulimit -v`) freed memory counts until it is unmapped, so a program
/// that frees one size and allocates another would otherwise fail.
pub fn give_back_all() -> bool {
    let given = crate::large::trim() + crate::superslab::trim();
    os::retry_unmaps();
    given > 0
}
