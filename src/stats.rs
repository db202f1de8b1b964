//! The statistics report (`HAKMEM_STATS=1` at exit, `malloc_stats()`, `hak_stats_print()`):
//! how many calls each tier served, proof of which allocator did the work, and the SuperSlab
//! pool's activity (SuperSlabs in use or cached, spans acquired/released, the arena's use, heaps
//! of exited threads parked). The Tiny and Mid tiers count calls only in statistics mode
//! (`HAKMEM_STATS=1`), which routes every call through their slow paths; remote frees are
//! counted when the owning thread takes the blocks back (so the freeing thread touches no shared
//! counter); blocks still waiting in a remote list at exit are not in the count.

use crate::diag::Line;
use core::sync::atomic::{AtomicI32, Ordering};

/// Where the report goes: a private copy of stderr taken at init in statistics mode, because
/// many programs close stderr at exit (coreutils does) before the library destructor runs.
static REPORT_FD: AtomicI32 = AtomicI32::new(2);

/// Keeps a private copy of stderr for the report: close-on-exec, so children do not inherit it,
/// and above the descriptors shells hand out (0-9).
pub fn keep_report_fd() {
    // SAFETY: fcntl only duplicates a descriptor; on failure the report keeps using fd 2.
    let fd = unsafe { libc::fcntl(2, libc::F_DUPFD_CLOEXEC, 10) };
    if fd >= 0 {
        REPORT_FD.store(fd, Ordering::Relaxed);
    }
}

pub struct Report {
    pub tiny_mallocs: u64,
    pub mid_mallocs: u64,
    pub large_mallocs: u64,
    pub bootstrap_mallocs: u64,
    pub local_frees: u64,
    pub remote_frees: u64,
    pub large_frees: u64,
    pub large_cache_hits: u64,
    pub foreign_frees: u64,
    pub superslabs: u64,
    pub spans_acquired: u64,
    pub spans_released: u64,
    /// Bytes of the arena carved so far, and its size.
    pub arena_carved: u64,
    pub arena_reserved: u64,
    /// Heaps of exited threads waiting for a new thread to take them over.
    pub parked_heaps: u64,
}

pub fn report() -> Report {
    let (tiny, mid, local, remote) = crate::heap::tier_totals();
    let (superslabs, spans_acquired, spans_released) = crate::superslab::pool_counts();
    let (arena_carved, arena_reserved) = crate::arena::usage();
    Report {
        tiny_mallocs: tiny,
        mid_mallocs: mid,
        large_mallocs: crate::large::LARGE_MALLOCS.load(Ordering::Relaxed),
        bootstrap_mallocs: crate::bootstrap::BOOTSTRAP_MALLOCS.load(Ordering::Relaxed) as u64,
        local_frees: local,
        remote_frees: remote,
        large_frees: crate::large::LARGE_FREES.load(Ordering::Relaxed),
        large_cache_hits: crate::large::LARGE_CACHE_HITS.load(Ordering::Relaxed),
        foreign_frees: crate::init::FOREIGN_FREES.load(Ordering::Relaxed) as u64,
        superslabs: superslabs as u64,
        spans_acquired,
        spans_released,
        arena_carved: arena_carved as u64,
        arena_reserved: arena_reserved as u64,
        parked_heaps: crate::heap::parked_count() as u64,
    }
}

pub fn print() {
    let r = report();
    let mut l = Line::new();
    l.str("hakmem stats: ");
    if crate::config::get().stats {
        l.str("malloc tiny=")
            .num(r.tiny_mallocs)
            .str(" mid=")
            .num(r.mid_mallocs)
            .str(" large=")
            .num(r.large_mallocs)
            .str(" bootstrap=")
            .num(r.bootstrap_mallocs)
            .str(" | free local=")
            .num(r.local_frees)
            .str(" remote=")
            .num(r.remote_frees)
            .str(" large=")
            .num(r.large_frees)
            .str(" foreign=")
            .num(r.foreign_frees);
    } else {
        l.str("(calls are counted with HAKMEM_STATS=1)");
    }
    l.str(" | large_cache_hits=")
        .num(r.large_cache_hits)
        .str(" superslabs=")
        .num(r.superslabs)
        .str(" spans=")
        .num(r.spans_acquired)
        .str("/")
        .num(r.spans_released)
        .str(" arena=")
        .num(r.arena_carved >> 20)
        .str("/")
        .num(r.arena_reserved >> 20)
        .str("MiB parked_heaps=")
        .num(r.parked_heaps)
        .str(if crate::init::peer_loaded() { " peer-allocator=loaded" } else { "" })
        .str("\n");
    l.write_fd(REPORT_FD.load(Ordering::Relaxed));
}
