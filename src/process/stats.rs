//! The statistics: a snapshot of the memory in use, mapped and resident, per tier and size
//! class ([`stats`], C `hak_stats_get`, glibc's `mallinfo`/`mallinfo2`/`malloc_info`), and the
//! report (`HAKMEM_STATS=1` at exit, `malloc_stats()`, `hak_stats_print()`).
//!
//! The bytes in use are read from the spans themselves (every slab keeps its count of blocks
//! handed out for the fast path anyway) and from the Large tier's counter, so counting costs
//! the fast paths nothing. What needs a count per call, the peak and the bytes requested, and
//! the calls per tier, are kept only in statistics mode (`HAKMEM_STATS=1`), which routes every
//! call through the slow paths; remote frees are counted when the owning thread takes the
//! blocks back (so the freeing thread touches no shared counter); blocks still waiting in a
//! remote list count as in use.

use crate::blocks::size_class::{SizeClass, FIRST_MID_CLASS, NUM_CLASSES};
use crate::platform::counters;
use crate::platform::diag::Line;
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
    let (tiny, mid, local, remote) = crate::tiers::heap::lifecycle::tier_totals();
    let (superslabs, spans_acquired, spans_released) = crate::pool::superslab::pool_counts();
    let (arena_carved, arena_reserved) = crate::memory::arena::usage();
    Report {
        tiny_mallocs: tiny,
        mid_mallocs: mid,
        large_mallocs: crate::pool::large::LARGE_MALLOCS.load(Ordering::Relaxed),
        bootstrap_mallocs: crate::memory::bootstrap::BOOTSTRAP_MALLOCS.load(Ordering::Relaxed) as u64,
        local_frees: local,
        remote_frees: remote,
        large_frees: crate::pool::large::LARGE_FREES.load(Ordering::Relaxed),
        large_cache_hits: crate::pool::large::LARGE_CACHE_HITS.load(Ordering::Relaxed),
        foreign_frees: crate::process::foreign::FOREIGN_FREES.load(Ordering::Relaxed) as u64,
        superslabs: superslabs as u64,
        spans_acquired,
        spans_released,
        arena_carved: arena_carved as u64,
        arena_reserved: arena_reserved as u64,
        parked_heaps: crate::tiers::heap::lifecycle::parked_count() as u64,
    }
}

/// One size class in `Stats`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ClassStats {
    /// The class's block size in bytes.
    pub block_size: usize,
    /// Blocks handed out and not freed.
    pub blocks_in_use: u64,
    /// Blocks the class's spans hold, in use or free.
    pub blocks_capacity: u64,
}

/// A snapshot of hakmem's memory (`hakmem::stats()`; C: `hak_stats_get`). Byte counts are of whole
/// blocks (the size class's, or the large block's mapping), not of the sizes requested.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Stats {
    /// Bytes in blocks handed out and not freed, all tiers.
    pub in_use_bytes: usize,
    /// The same, Tiny tier (up to 1 KiB).
    pub tiny_in_use_bytes: usize,
    /// The same, Mid tier (up to 128 KiB).
    pub mid_in_use_bytes: usize,
    /// The same, Large tier.
    pub large_in_use_bytes: usize,
    /// With `HAKMEM_STATS=1` (else 0): the most bytes in use at any time since start.
    pub peak_in_use_bytes: usize,
    /// With `HAKMEM_STATS=1` (else 0): the bytes malloc, calloc, realloc and the aligned
    /// functions were asked for since start.
    pub requested_bytes: u64,
    /// Memory hakmem holds mapped: SuperSlabs (in use or cached), large mappings (live or in
    /// the Large cache).
    pub mapped_bytes: usize,
    /// The resident set of the whole process (`/proc/self/statm`; 0 when unreadable).
    pub resident_bytes: usize,
    /// Tiny mallocs served (with `HAKMEM_STATS=1`, else 0).
    pub tiny_mallocs: u64,
    /// Mid mallocs served (with `HAKMEM_STATS=1`, else 0).
    pub mid_mallocs: u64,
    /// Large mallocs served.
    pub large_mallocs: u64,
    /// Frees (Tiny and Mid ones with `HAKMEM_STATS=1`).
    pub frees: u64,
    /// Per size class of the Tiny and Mid tiers (60 classes).
    pub classes: [ClassStats; 60],
}

const _: () = assert!(NUM_CLASSES == 60);

impl Stats {
    /// All zero.
    pub const fn empty() -> Stats {
        const NO_CLASS: ClassStats = ClassStats { block_size: 0, blocks_in_use: 0, blocks_capacity: 0 };
        Stats {
            in_use_bytes: 0,
            tiny_in_use_bytes: 0,
            mid_in_use_bytes: 0,
            large_in_use_bytes: 0,
            peak_in_use_bytes: 0,
            requested_bytes: 0,
            mapped_bytes: 0,
            resident_bytes: 0,
            tiny_mallocs: 0,
            mid_mallocs: 0,
            large_mallocs: 0,
            frees: 0,
            classes: [NO_CLASS; 60],
        }
    }
}

/// The snapshot (takes the pool and Large-cache locks briefly; no allocation).
pub fn stats() -> Stats {
    snapshot().stats
}

/// `Stats` with what it was built from, for the numbers derived from both (mallinfo2, the
/// report) to agree though other threads go on allocating.
struct Snapshot {
    stats: Stats,
    report: Report,
    /// Bytes of the Large tier's live mappings, and of its cached ones (for mallinfo2).
    #[cfg_attr(not(feature = "interpose"), allow(dead_code))]
    large_live: usize,
    #[cfg_attr(not(feature = "interpose"), allow(dead_code))]
    large_cached: usize,
}

fn snapshot() -> Snapshot {
    let r = report();
    let mut usage = [(0u64, 0u64); NUM_CLASSES];
    let large_span_bytes = crate::pool::superslab::class_usage(&mut usage) as usize;
    let (large_live, large_cached) = crate::pool::large::usage();
    let mut s = Stats {
        large_in_use_bytes: large_span_bytes + large_live,
        peak_in_use_bytes: counters::peak(),
        requested_bytes: counters::requested(),
        mapped_bytes: r.superslabs as usize * crate::pool::superslab::SUPERSLAB_SIZE + large_live + large_cached,
        resident_bytes: resident_bytes(),
        tiny_mallocs: r.tiny_mallocs,
        mid_mallocs: r.mid_mallocs,
        large_mallocs: r.large_mallocs,
        frees: r.local_frees + r.remote_frees + r.large_frees,
        ..Stats::empty()
    };
    for (c, &(in_use, capacity)) in usage.iter().enumerate() {
        let block_size = SizeClass(c as u8).block_size();
        s.classes[c] = ClassStats { block_size, blocks_in_use: in_use, blocks_capacity: capacity };
        let bytes = in_use as usize * block_size;
        if c < FIRST_MID_CLASS {
            s.tiny_in_use_bytes += bytes;
        } else {
            s.mid_in_use_bytes += bytes;
        }
    }
    s.in_use_bytes = s.tiny_in_use_bytes + s.mid_in_use_bytes + s.large_in_use_bytes;
    Snapshot { stats: s, report: r, large_live, large_cached }
}

/// Reads a small file under /proc into `buf` (no allocation); the bytes read.
fn read_proc(path: &core::ffi::CStr, buf: &mut [u8]) -> usize {
    // SAFETY: `path` is NUL-terminated; read writes at most `buf.len()` bytes into `buf`.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return 0;
        }
        let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
        libc::close(fd);
        n.max(0) as usize
    }
}

fn resident_bytes() -> usize {
    let mut buf = [0u8; 128];
    let n = read_proc(c"/proc/self/statm", &mut buf);
    // The second field: resident pages.
    let pages = buf[..n]
        .split(|&b| b == b' ')
        .nth(1)
        .and_then(|f| f.iter().try_fold(0usize, |v, &d| d.is_ascii_digit().then(|| v * 10 + (d - b'0') as usize)));
    pages.unwrap_or(0) * crate::platform::os::PAGE_SIZE
}

/// Bytes as MiB with one decimal.
fn mib(l: &mut Line, bytes: usize) -> &mut Line {
    let tenths = (bytes as u64 * 10 + (1 << 19)) >> 20;
    l.num(tenths / 10).str(".").num(tenths % 10).str("M")
}

/// `hakmem stats: PROGRAM (pid N): `, the start of every report line.
fn line_start(l: &mut Line) {
    let mut comm = [0u8; 32];
    let n = read_proc(c"/proc/self/comm", &mut comm);
    let name = comm[..n].strip_suffix(b"\n").unwrap_or(&comm[..n]);
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    l.str("hakmem stats: ").bytes(name).str(" (pid ").num(pid as u64).str("): ");
}

/// The report: two lines (memory, then calls and the pool; README explains the fields).
pub fn print() {
    let Snapshot { stats: s, report: r, .. } = snapshot();
    let fd = REPORT_FD.load(Ordering::Relaxed);
    let mut l = Line::new();
    line_start(&mut l);
    l.str("in_use=");
    mib(&mut l, s.in_use_bytes).str(" (tiny=");
    mib(&mut l, s.tiny_in_use_bytes).str(" mid=");
    mib(&mut l, s.mid_in_use_bytes).str(" large=");
    mib(&mut l, s.large_in_use_bytes).str(")");
    if crate::platform::config::get().stats {
        l.str(" peak=");
        mib(&mut l, s.peak_in_use_bytes).str(" requested=");
        mib(&mut l, s.requested_bytes as usize);
    }
    l.str(" mapped=");
    mib(&mut l, s.mapped_bytes).str(" resident=");
    mib(&mut l, s.resident_bytes).str("\n");
    l.write_fd(fd);

    let mut l = Line::new();
    line_start(&mut l);
    if crate::platform::config::get().stats {
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
        .str(if crate::process::foreign::peer_loaded() { " peer-allocator=loaded" } else { "" })
        .str("\n");
    l.write_fd(fd);
}

/// glibc's `struct mallinfo2`, filled from hakmem's numbers: the "arena" is the SuperSlabs
/// (Tiny, Mid and Large spans), the "mmapped" part the Large tier's own mappings, so that
/// `uordblks + hblkhd` is the memory in use, as with glibc.
#[cfg(feature = "interpose")]
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct MallInfo2 {
    /// Bytes of SuperSlabs mapped (in use or cached).
    pub arena: usize,
    /// Free blocks in the spans in use.
    pub ordblks: usize,
    pub smblks: usize,
    /// Live Large blocks (spans and mappings).
    pub hblks: usize,
    /// Bytes of the Large tier's own mappings, live or cached.
    pub hblkhd: usize,
    pub usmblks: usize,
    pub fsmblks: usize,
    /// Bytes in use in the SuperSlabs.
    pub uordblks: usize,
    /// `arena - uordblks`.
    pub fordblks: usize,
    pub keepcost: usize,
}

#[cfg(feature = "interpose")]
pub fn mallinfo2() -> MallInfo2 {
    mallinfo2_of(&snapshot())
}

#[cfg(feature = "interpose")]
fn mallinfo2_of(snap: &Snapshot) -> MallInfo2 {
    let (s, r) = (&snap.stats, &snap.report);
    let arena = r.superslabs as usize * crate::pool::superslab::SUPERSLAB_SIZE;
    let in_arena = s.in_use_bytes.saturating_sub(snap.large_live);
    MallInfo2 {
        arena,
        ordblks: s.classes.iter().map(|c| c.blocks_capacity.saturating_sub(c.blocks_in_use) as usize).sum(),
        hblks: r.large_mallocs.saturating_sub(r.large_frees) as usize,
        hblkhd: snap.large_live + snap.large_cached,
        uordblks: in_arena,
        fordblks: arena.saturating_sub(in_arena),
        ..MallInfo2::default()
    }
}

/// glibc's `malloc_info` XML (its elements and attributes), written piecewise to `out`: per
/// size class the free blocks (`<size>`, as glibc lists its free chunks), then the totals.
#[cfg(feature = "interpose")]
pub fn malloc_info(mut out: impl FnMut(&[u8])) {
    let snap = snapshot();
    let (s, m) = (&snap.stats, mallinfo2_of(&snap));
    let mut put = |f: &dyn Fn(&mut Line)| {
        let mut l = Line::new();
        f(&mut l);
        out(l.as_bytes());
    };
    let system = |l: &mut Line, size: usize| {
        for (tag, ty) in [("system", "current"), ("system", "max"), ("aspace", "total"), ("aspace", "mprotect")] {
            l.str("<").str(tag).str(" type=\"").str(ty).str("\" size=\"").num(size as u64).str("\"/>\n");
        }
    };
    put(&|l| {
        l.str("<malloc version=\"1\">\n<heap nr=\"0\">\n<sizes>\n");
    });
    let mut from = 1;
    for c in &s.classes {
        let free = c.blocks_capacity.saturating_sub(c.blocks_in_use);
        if free > 0 {
            put(&|l| {
                l.str("<size from=\"").num(from as u64).str("\" to=\"").num(c.block_size as u64);
                l.str("\" total=\"").num(free * c.block_size as u64).str("\" count=\"").num(free).str("\"/>\n");
            });
        }
        from = c.block_size + 1;
    }
    put(&|l| {
        l.str("</sizes>\n<total type=\"fast\" count=\"0\" size=\"0\"/>\n<total type=\"rest\" count=\"");
        l.num(m.ordblks as u64).str("\" size=\"").num(m.fordblks as u64).str("\"/>\n");
        system(l, m.arena);
        l.str("</heap>\n");
    });
    put(&|l| {
        l.str("<total type=\"fast\" count=\"0\" size=\"0\"/>\n<total type=\"rest\" count=\"");
        l.num(m.ordblks as u64).str("\" size=\"").num(m.fordblks as u64).str("\"/>\n");
        l.str("<total type=\"mmap\" count=\"").num(m.hblks as u64).str("\" size=\"").num(m.hblkhd as u64);
        l.str("\"/>\n");
        system(l, s.mapped_bytes);
        l.str("</malloc>\n");
    });
}
