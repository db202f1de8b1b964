//! The clock of free memory. Freed memory is kept for reuse for `purge_state::delay_ms()`
//! (`HAKMEM_PURGE_DELAY_MS`, 100 ms), so that a program that frees a large structure and builds
//! the next one, or churns large buffers, does not fault every page back in; after that it goes
//! back to the kernel: free slabs' pages and empty SuperSlabs (`superslab::decay`), idle large
//! mappings (`large::expire`).
//!
//! `tick` runs the decay, at most every quarter of the delay, from the slow paths of whichever
//! thread passes: a span taken from the pool or given back, a large block allocated or freed
//! (the tiers call it after those, holding no lock). A program that frees memory and then goes
//! idle makes no such call: the purger thread (`process::purger`) runs the decay then.
//! `give_back_all` gives back everything free at once: for `malloc_trim`, and before an
//! allocation that found no memory fails.

use crate::memory::purge_state::{delay_ms, Held};
use crate::platform::os;
use crate::pool::{large, superslab};
use core::sync::atomic::{AtomicU64, Ordering};

/// How often the decay runs while memory waits: a quarter of the delay.
pub fn tick_ms() -> u64 {
    (delay_ms() / 4).max(1)
}

static NEXT_TICK_MS: AtomicU64 = AtomicU64::new(0);

/// Runs the decay when it is due (one thread per tick). Takes the pool and large-cache locks in
/// turn: callers hold neither.
pub fn tick() {
    let now = os::now_ms();
    let next = NEXT_TICK_MS.load(Ordering::Relaxed);
    if now < next || NEXT_TICK_MS.compare_exchange(next, now + tick_ms(), Ordering::Relaxed, Ordering::Relaxed).is_err()
    {
        return;
    }
    run(now);
}

/// One decay.
pub fn run(now: u64) -> Held {
    let slabs = superslab::decay(now);
    let large = if large::expire(now) { Held::Later } else { Held::Nothing };
    os::retry_unmaps();
    slabs.max(large)
}

/// Gives back at once everything free that the decay would keep for a while (the large cache,
/// empty SuperSlabs, free slabs' pages); true when something was given back. Called by
/// `malloc_trim`, and when an allocation finds no memory, which then retries once: under an
/// address-space limit (`ulimit -v`) freed memory counts until it is unmapped, so a program
/// that frees one size and allocates another would otherwise fail.
pub fn give_back_all() -> bool {
    let given = large::trim() + superslab::trim();
    os::retry_unmaps();
    given > 0
}
