//! The only module that talks to the kernel about memory (`mmap`, `munmap`, `mprotect`, `madvise`,
//! `mremap`).
//!
//! Every function takes and returns page-granular regions; none of them allocates. A failure is
//! reported as a null pointer / `false`, and the callers turn it into `ENOMEM`.

use core::ptr;

pub const PAGE_SIZE: usize = 4096;

pub const fn align_up(n: usize, align: usize) -> usize {
    (n + align - 1) & !(align - 1)
}

/// Maps `size` bytes (a multiple of the page size) of zeroed read-write memory.
/// Returns null when the kernel refuses.
pub fn map(size: usize) -> *mut u8 {
    map_with(size, libc::PROT_READ | libc::PROT_WRITE)
}

fn map_with(size: usize, prot: libc::c_int) -> *mut u8 {
    // SAFETY: an anonymous private mapping at a kernel-chosen address touches no existing memory.
    let p = unsafe {
        libc::mmap(ptr::null_mut(), size, prot, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE, -1, 0)
    };
    if p == libc::MAP_FAILED {
        ptr::null_mut()
    } else {
        p.cast()
    }
}

/// Maps `size` bytes of zeroed memory whose start is a multiple of `align` (a power of two, at
/// least the page size). Maps `size + align - PAGE_SIZE` and trims both ends. Leaves `errno` as
/// it was: callers try sizes in turn, and set ENOMEM themselves when all fail.
pub fn map_aligned(size: usize, align: usize) -> *mut u8 {
    preserving_errno(|| aligned_with(size, align, libc::PROT_READ | libc::PROT_WRITE))
}

/// Reserves `size` bytes of address space aligned to `align`, inaccessible and using no memory
/// until parts of it are [`commit`]ted. Leaves `errno` as it was (a refusal is not an error: the
/// caller does without).
pub fn reserve_aligned(size: usize, align: usize) -> *mut u8 {
    preserving_errno(|| aligned_with(size, align, libc::PROT_NONE))
}

fn aligned_with(size: usize, align: usize, prot: libc::c_int) -> *mut u8 {
    let Some(over) = size.checked_add(align - PAGE_SIZE) else {
        return ptr::null_mut();
    };
    let raw = map_with(over, prot);
    if raw.is_null() {
        return raw;
    }
    let start = align_up(raw as usize, align);
    let head = start - raw as usize;
    let tail = over - head - size;
    if head > 0 {
        unmap(raw, head);
    }
    if tail > 0 {
        unmap((start + size) as *mut u8, tail);
    }
    start as *mut u8
}

/// Makes part of a [`reserve_aligned`] reservation read-write (zeroed). False when the kernel
/// refuses (strict overcommit), and then the range is as it was. Leaves `errno` as it was.
pub fn commit(p: *mut u8, size: usize) -> bool {
    // SAFETY: the range is part of our reservation, which nothing else references.
    preserving_errno(|| unsafe { libc::mprotect(p.cast(), size, libc::PROT_READ | libc::PROT_WRITE) } == 0)
}

/// Returns a region obtained from [`map`] or [`map_aligned`] (or a page-aligned part of one).
/// Leaves `errno` as it was: `free` may end up here and must preserve it.
///
/// munmap can fail: unmapping the middle of a mapping splits it, which takes one more of the
/// process's mappings, refused at `vm.max_map_count`. The pages are then purged at once (the
/// memory goes back), and the range is kept mapped, unused, to be unmapped again by
/// `retry_unmaps` (at the next decay tick); only when that queue is full does the address
/// space stay mapped for good, which is reported once.
pub fn unmap(p: *mut u8, size: usize) {
    preserving_errno(|| {
        // SAFETY: callers pass a region they mapped and no longer reference.
        if unsafe { libc::munmap(p.cast(), size) } != 0 {
            purge(p, size);
            defer_unmap(p as usize, size);
        }
    })
}

/// Ranges whose munmap failed, waiting for `retry_unmaps`.
pub struct Deferred {
    ranges: [(usize, usize); DEFERRED_MAX],
    len: usize,
    reported: bool,
}
const DEFERRED_MAX: usize = 256;
pub static DEFERRED: crate::platform::sync::Mutex<Deferred> =
    crate::platform::sync::Mutex::new(Deferred { ranges: [(0, 0); DEFERRED_MAX], len: 0, reported: false });
static DEFERRED_PENDING: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

fn with_deferred<R>(f: impl FnOnce(&mut Deferred) -> R) -> R {
    f(&mut DEFERRED.lock())
}

fn defer_unmap(p: usize, size: usize) {
    let lost = with_deferred(|d| {
        if d.len < DEFERRED_MAX {
            d.ranges[d.len] = (p, size);
            d.len += 1;
            DEFERRED_PENDING.store(true, core::sync::atomic::Ordering::Relaxed);
            false
        } else {
            !core::mem::replace(&mut d.reported, true)
        }
    });
    if lost {
        let mut line = crate::platform::diag::Line::new();
        line.str("hakmem: munmap keeps failing (vm.max_map_count reached?): freed address space stays mapped (its memory is given back)\n");
        line.write_stderr();
    }
}

/// Unmaps again the ranges whose munmap failed (see `unmap`); those that fail again stay queued.
pub fn retry_unmaps() {
    if !DEFERRED_PENDING.load(core::sync::atomic::Ordering::Relaxed) {
        return;
    }
    preserving_errno(|| {
        with_deferred(|d| {
            let mut kept = 0;
            for i in 0..d.len {
                let (p, size) = d.ranges[i];
                // SAFETY: a range of ours that nothing references (see `unmap`).
                if unsafe { libc::munmap(p as *mut libc::c_void, size) } != 0 {
                    d.ranges[kept] = (p, size);
                    kept += 1;
                }
            }
            d.len = kept;
            DEFERRED_PENDING.store(kept > 0, core::sync::atomic::Ordering::Relaxed);
        })
    })
}

/// Whether the kernel accounts every private writable mapping against a fixed commit limit
/// (`vm.overcommit_memory = 2`), `MAP_NORESERVE` notwithstanding. Leaves `errno` as it was.
pub fn strict_overcommit() -> bool {
    overcommit_mode() == b'2'
}

/// The largest request the machine could ever back: RAM plus swap, unless the kernel is set to
/// overcommit without limit (`vm.overcommit_memory = 1`: the address space, `isize::MAX`).
/// glibc's malloc gets ENOMEM beyond it from the kernel's heuristic check of `mmap`; hakmem
/// maps with `MAP_NORESERVE`, which that check skips, so it applies the bound itself (a 64 TiB
/// request must fail, not succeed and have the program killed when it touches the memory).
/// Leaves `errno` as it was.
pub fn backable_bytes() -> usize {
    if overcommit_mode() == b'1' {
        return isize::MAX as usize;
    }
    // SAFETY: sysinfo fills the struct it is given; a zeroed sysinfo is a valid value.
    let mut info: libc::sysinfo = unsafe { core::mem::zeroed() };
    // SAFETY: `info` is writable.
    if preserving_errno(|| unsafe { libc::sysinfo(&mut info) }) != 0 {
        return isize::MAX as usize;
    }
    let unit = (info.mem_unit as usize).max(1);
    ((info.totalram as usize).saturating_add(info.totalswap as usize)).saturating_mul(unit).min(isize::MAX as usize)
}

/// The first byte of `/proc/sys/vm/overcommit_memory` (`b'0'` when it cannot be read).
fn overcommit_mode() -> u8 {
    let mut mode = [b'0'; 1];
    preserving_errno(|| {
        // SAFETY: opens a NUL-terminated path read-only, reads one byte into `mode`, closes.
        unsafe {
            let fd = libc::open(c"/proc/sys/vm/overcommit_memory".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
            if fd >= 0 {
                libc::read(fd, mode.as_mut_ptr().cast(), 1);
                libc::close(fd);
            }
        }
    });
    mode[0]
}

/// Runs `f` and restores `errno` as it was before.
fn preserving_errno<R>(f: impl FnOnce() -> R) -> R {
    // SAFETY: __errno_location returns this thread's errno slot, valid for the thread's life.
    let slot = unsafe { libc::__errno_location() };
    // SAFETY: as above.
    let saved = unsafe { *slot };
    let r = f();
    // SAFETY: as above.
    unsafe { *slot = saved };
    r
}

/// Asks the kernel to back `p..p+size`, a whole mapping of ours (page-aligned), with transparent
/// huge pages (`HAKMEM_THP`); only its whole 2 MiB pages can be. The advice covers the whole
/// range, so that the mapping stays one kernel mapping: advice on part of it splits it, and
/// `mremap` refuses to grow or move a range that spans two (`GrowError::Split`). Advice only: a
/// kernel without THP refuses, and nothing changes.
pub fn advise_huge(p: *mut u8, size: usize) {
    preserving_errno(|| {
        // SAFETY: the range is one of our mappings; the advice changes no contents.
        unsafe { libc::madvise(p.cast(), size, libc::MADV_HUGEPAGE) };
    });
}

/// Gives the physical pages of a mapped region back to the kernel; the range stays mapped and
/// reads as zero afterwards. False when the kernel refused (the pages are still there: the
/// caller keeps them counted as dirty, to try again).
pub fn purge(p: *mut u8, size: usize) -> bool {
    preserving_errno(|| {
        // SAFETY: the region is one of ours and holds no live block (callers guarantee it).
        unsafe { libc::madvise(p.cast(), size, libc::MADV_DONTNEED) == 0 }
    })
}

/// Milliseconds of the coarse monotonic clock (served by the vDSO: no syscall), for the decay of
/// free memory.
pub fn now_ms() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid out-parameter.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}

/// Why a mapping could not grow in place.
#[derive(PartialEq, Eq, Debug)]
pub enum GrowError {
    /// The pages after it are taken (or the kernel is out of memory).
    NoRoom,
    /// The range is no longer one kernel mapping (the program changed the attributes of part of
    /// it, with madvise or mprotect): the kernel can neither grow nor move it.
    Split,
}

/// Grows a mapping in place from `old_size` to `new_size` bytes. The new part reads as zero.
/// Leaves `errno` as it was.
pub fn grow_in_place(p: *mut u8, old_size: usize, new_size: usize) -> Result<(), GrowError> {
    preserving_errno(|| {
        // SAFETY: `p..p+old_size` is our mapping; without MREMAP_MAYMOVE the kernel either extends
        // it into free address space or fails, never touching other mappings.
        let r = unsafe { libc::mremap(p.cast(), old_size, new_size, 0) };
        if r != libc::MAP_FAILED {
            return Ok(());
        }
        // SAFETY: __errno_location returns this thread's errno slot.
        let split = unsafe { *libc::__errno_location() } == libc::EFAULT;
        Err(if split { GrowError::Split } else { GrowError::NoRoom })
    })
}

/// Whether the range `p..p+size` of one of our mappings is no longer one kernel mapping (see
/// `GrowError::Split`). Probes by growing it by a page, undone at once when that succeeds.
pub fn is_split(p: *mut u8, size: usize) -> bool {
    match grow_in_place(p, size, size + PAGE_SIZE) {
        Err(e) => e == GrowError::Split,
        Ok(()) => {
            // SAFETY: the page just added is ours and unused; shrinking never moves the mapping.
            preserving_errno(|| unsafe {
                libc::mremap(p.cast(), size + PAGE_SIZE, size, 0);
            });
            false
        }
    }
}

/// Moves the pages of mapping `old` (`old_size` bytes) to `new`, a region of `new_size` bytes we
/// mapped beforehand (so the address is ours); the old range is unmapped. No byte is copied.
/// Leaves `errno` as it was.
pub fn move_mapping(old: *mut u8, old_size: usize, new: *mut u8, new_size: usize) -> bool {
    // SAFETY: both ranges are ours; MREMAP_FIXED replaces our reservation at `new` atomically.
    let r = preserving_errno(|| unsafe {
        libc::mremap(
            old.cast(),
            old_size,
            new_size,
            libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
            new.cast::<libc::c_void>(),
        )
    });
    r != libc::MAP_FAILED
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_mapping_is_aligned_and_writable() {
        let align = 2 << 20;
        let size = 3 * PAGE_SIZE;
        let p = map_aligned(size, align);
        assert!(!p.is_null());
        assert_eq!(p as usize % align, 0);
        // SAFETY: p..p+size was just mapped read-write.
        unsafe { p.add(size - 1).write(7) };
        unmap(p, size);
    }

    #[test]
    fn absurd_sizes_fail_cleanly() {
        assert!(map(usize::MAX & !(PAGE_SIZE - 1)).is_null());
        assert!(map_aligned(usize::MAX - PAGE_SIZE, 2 << 20).is_null());
    }
}
