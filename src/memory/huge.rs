//! Transparent huge pages (`HAKMEM_THP`): which mappings hakmem asks the kernel to back with
//! 2 MiB pages (`madvise(MADV_HUGEPAGE)`, `os::advise_huge`).
//!
//! SuperSlabs and Large mappings start at 2 MiB boundaries, so every whole 2 MiB page of them
//! can be one huge page: one TLB entry and one page fault where there were 512. That pays for
//! a big array accessed at random; it costs a small program a whole 2 MiB page per touched
//! SuperSlab (and the kernel's khugepaged may collapse a partly purged SuperSlab back into a
//! whole huge page, per its `max_ptes_none`); and where the kernel compacts memory on the fault
//! of a fresh huge page, it stalls a program that keeps mapping fresh buffers (BENCHMARKS.md,
//! "Transparent huge pages", has the measurements).
//!
//! Hence `auto`, the default: only Large mappings of `AUTO_BYTES` or more (a big array or table,
//! made once and used long); `always`: every SuperSlab and Large mapping; `never`: none.
//!
//! The advice stays with a mapping: a cached Large mapping, one grown by `mremap`, and a retired
//! SuperSlab keep it. Purging still works: `MADV_DONTNEED` on part of a huge page splits it and
//! frees that part; a SuperSlab on huge pages counts every slab as dirty from the start, since
//! the first touch brought them all in.

use crate::platform::config::{self, Thp};
use crate::platform::os;

/// What `auto` calls big: a Large mapping of this size.
const AUTO_BYTES: usize = 64 << 20;

/// Advises the fresh SuperSlab `p` when `HAKMEM_THP` says so (`always` only); returns whether
/// it did, and then the SuperSlab's first touch brings all its slabs in.
pub fn advise_superslab(p: *mut u8, size: usize) -> bool {
    advise_if(p, size, false)
}

/// Advises the fresh Large mapping `p..p+size` when `HAKMEM_THP` says so.
pub fn advise_large(p: *mut u8, size: usize) {
    advise_if(p, size, size >= AUTO_BYTES);
}

fn advise_if(p: *mut u8, size: usize, big: bool) -> bool {
    let wanted = match config::thp() {
        Thp::Never => false,
        Thp::Auto => big,
        Thp::Always => true,
    };
    if wanted {
        os::advise_huge(p, size);
    }
    wanted
}
