//! Statistics mode's byte counters (`HAKMEM_STATS=1`): the bytes in use as the calls count
//! them, their peak, and the bytes requested. Every tier adds to them from its slow paths,
//! which every call takes in that mode; `process::stats` reports them.

use core::sync::atomic::{AtomicIsize, AtomicU64, AtomicUsize, Ordering};

static COUNTED_IN_USE: AtomicIsize = AtomicIsize::new(0);
static COUNTED_PEAK: AtomicUsize = AtomicUsize::new(0);
static REQUESTED: AtomicU64 = AtomicU64::new(0);

/// Statistics mode: `bytes` of blocks were handed out.
pub fn count_alloc(bytes: usize) {
    let now = COUNTED_IN_USE.fetch_add(bytes as isize, Ordering::Relaxed) + bytes as isize;
    COUNTED_PEAK.fetch_max(now.max(0) as usize, Ordering::Relaxed);
}

/// Statistics mode: `bytes` of blocks came back (blocks allocated before init may make the
/// count dip below zero; it is read as zero).
pub fn count_free(bytes: usize) {
    COUNTED_IN_USE.fetch_sub(bytes as isize, Ordering::Relaxed);
}

/// Statistics mode: a call asked for `bytes`.
#[inline]
pub fn count_request(bytes: usize) {
    if crate::platform::config::stats() {
        REQUESTED.fetch_add(bytes as u64, Ordering::Relaxed);
    }
}

/// The most bytes in use at once so far.
pub fn peak() -> usize {
    COUNTED_PEAK.load(Ordering::Relaxed)
}

/// The bytes requested so far.
pub fn requested() -> u64 {
    REQUESTED.load(Ordering::Relaxed)
}
