//! The SuperSlab arena: one range of address space, reserved (inaccessible, uncommitted) when the
//! first SuperSlab is needed, from which the pool carves its SuperSlabs in address order.
//!
//! It makes `free`'s test "is this a SuperSlab block?" a range check against the part of the
//! arena carved so far: 4 instructions, against 11 for the pagemap bitmap. Every chunk of that
//! part stays mapped and readable for the life of the process: the pool does not unmap an empty
//! SuperSlab of the arena but retires it (`retire`: its pages purged, its header's included
//! where the kernel allows, and its address kept here for reuse), and the descriptors of a
//! retired SuperSlab, all unused (purged memory reads as zero, which is an unused descriptor),
//! reject any stale pointer.
//!
//! There is no arena, and the pool maps each SuperSlab on its own (found on a slower free path
//! through the pagemap), when the process has an address-space limit (`ulimit -v`: the
//! reservation would take the program's budget), a data-size limit or strict overcommit
//! accounting (a retired SuperSlab's memory would stay charged), when `HAKMEM_ARENA_MB` is 0,
//! or when the kernel refuses the reservation; SuperSlabs beyond a full arena are mapped the
//! same way. An address-space limit set at run time ends the arena (`end`: the part not carved
//! yet is given back; the chunks carved stay, and are reused), so that the limit bounds what
//! the program allocates from then on: the process's own setrlimit/prlimit calls (interposed,
//! see `ffi`) end it before the limit is set; a limit set any other way (another process's
//! prlimit, the raw syscall, a build without the interposing exports) ends it at the next
//! carve, and until then new mappings may be refused.
//!
//! The reservation shows in the process's virtual size, and counts against a finite
//! `RLIMIT_MEMLOCK` in `mlockall(MCL_CURRENT)` without `CAP_IPC_LOCK` (the kernel compares the
//! whole address space with the limit): such a program runs with `HAKMEM_ARENA_MB=0`.
//!
//! Everything but `contains` and `usage` runs under the pool lock.

use crate::memory::pagemap::{self, CHUNK_SIZE};
use crate::platform::config;
use crate::platform::os;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};

/// `BASE..BASE + CARVED` is the part of the arena handed out so far. Before the reservation
/// `BASE` is `NO_BASE`, so that `contains` holds for no user address even where it reads the
/// old `BASE` beside a new `CARVED` (its loads come in that order; `BASE` is stored once).
const NO_BASE: usize = 1 << 63;
static BASE: AtomicUsize = AtomicUsize::new(NO_BASE);
static CARVED: AtomicUsize = AtomicUsize::new(0);
/// The arena's size in bytes; 0 before the reservation or without an arena.
static RESERVED: AtomicUsize = AtomicUsize::new(0);
/// Whether the reservation was attempted (once: a refusal is not retried).
static TRIED: AtomicBool = AtomicBool::new(false);
/// The retired chunks, a stack of chunk indices from `BASE` (`RETIRED_LEN` of them), in a
/// mapping of one slot per chunk of the reservation, made with it: only the slots used are
/// ever touched. (Not in the chunks themselves, whose pages are purged while retired.)
static RETIRED: AtomicPtr<u32> = AtomicPtr::new(core::ptr::null_mut());
static RETIRED_LEN: AtomicUsize = AtomicUsize::new(0);

/// Whether `addr` lies in a chunk carved from the arena: a SuperSlab in use, or a retired one,
/// whose descriptors are all unused. Either way its SuperSlab header is readable.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub fn contains(addr: usize) -> bool {
    // `rip`-relative operands (an ordinary reference to a static in this shared object costs a
    // GOT load each) and a jump the caller's branch becomes: four instructions. The read of
    // `CARVED` needs no Acquire: a pointer into a chunk reached this thread through whatever
    // ordered it after the carve, and a stale `BASE` is `NO_BASE`.
    // SAFETY: reads two aligned words of our statics.
    unsafe {
        core::arch::asm!(
            "mov {offset}, {addr}",
            "sub {offset}, qword ptr [rip + {base_sym}]",
            "cmp {offset}, qword ptr [rip + {carved_sym}]",
            "jae {outside}",
            addr = in(reg) addr,
            offset = out(reg) _,
            base_sym = sym BASE,
            carved_sym = sym CARVED,
            outside = label { return false },
            options(readonly, nostack)
        );
    }
    true
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
pub fn contains(addr: usize) -> bool {
    // Acquire: whoever sees a chunk carved also sees the base it was carved from.
    let carved = CARVED.load(Ordering::Acquire);
    addr.wrapping_sub(BASE.load(Ordering::Relaxed)) < carved
}

/// (Bytes carved so far, bytes reserved.)
pub fn usage() -> (usize, usize) {
    (CARVED.load(Ordering::Relaxed), RESERVED.load(Ordering::Relaxed))
}

/// Whether the process has a limit on `resource` (`RLIMIT_AS`, `RLIMIT_DATA`).
fn limited(resource: libc::__rlimit_resource_t) -> bool {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes only the struct it is given.
    unsafe { libc::getrlimit(resource, &mut limit) != 0 || limit.rlim_cur != libc::RLIM_INFINITY }
}

/// Whether the arena may be reserved: not under an address-space limit (the reservation would
/// take the program's budget), nor where the memory carved would stay charged after its
/// SuperSlab is retired (a data-size limit, strict overcommit accounting).
pub fn allowed() -> bool {
    !limited(libc::RLIMIT_AS) && !limited(libc::RLIMIT_DATA) && !os::strict_overcommit()
}

/// Reserves the arena, `HAKMEM_ARENA_MB` MiB (whole chunks), where it is allowed.
fn reserve() {
    TRIED.store(true, Ordering::Relaxed);
    let size = config::get().arena_bytes & !(CHUNK_SIZE - 1);
    if size == 0 || !allowed() {
        return;
    }
    // One u32 slot per chunk (the largest arena allowed has 2^25 chunks).
    let stack_bytes = size / CHUNK_SIZE * size_of::<u32>();
    let stack = os::map(stack_bytes);
    if stack.is_null() {
        return;
    }
    let base = os::reserve_aligned(size, CHUNK_SIZE);
    if base.is_null() || !pagemap::covers(base as usize + size - 1) {
        if !base.is_null() {
            os::unmap(base, size);
        }
        os::unmap(stack, stack_bytes);
        return;
    }
    RETIRED.store(stack.cast(), Ordering::Relaxed);
    BASE.store(base as usize, Ordering::Relaxed);
    RESERVED.store(size, Ordering::Relaxed);
}

/// Ends the arena where it is carved to: the rest of the reservation is given back, and no more
/// chunks are carved. For an address-space limit set at run time, which would otherwise count
/// the reservation as in use.
///
/// # Safety
/// The caller holds the pool lock.
pub unsafe fn end() {
    TRIED.store(true, Ordering::Relaxed);
    let (carved, reserved) = (CARVED.load(Ordering::Relaxed), RESERVED.load(Ordering::Relaxed));
    if reserved > carved {
        os::unmap((BASE.load(Ordering::Relaxed) + carved) as *mut u8, reserved - carved);
        RESERVED.store(carved, Ordering::Relaxed);
    }
}

/// The next chunk of the arena, never used before, made read-write; null when there is no
/// arena, when it is full, or when the kernel refuses the memory.
///
/// # Safety
/// The caller holds the pool lock (the only writer of the arena's state).
pub unsafe fn carve() -> *mut u8 {
    if !TRIED.load(Ordering::Relaxed) {
        reserve();
    }
    let (carved, reserved) = (CARVED.load(Ordering::Relaxed), RESERVED.load(Ordering::Relaxed));
    if carved + CHUNK_SIZE > reserved {
        return core::ptr::null_mut();
    }
    if limited(libc::RLIMIT_AS) {
        // Set at run time in a way `ffi` did not see (see the module's docs).
        // SAFETY: per the caller.
        unsafe { end() };
        return core::ptr::null_mut();
    }
    let chunk = (BASE.load(Ordering::Relaxed) + carved) as *mut u8;
    if !os::commit(chunk, CHUNK_SIZE) {
        return core::ptr::null_mut();
    }
    // Release: a thread that sees the chunk carved sees it committed (x86 keeps loads in order;
    // elsewhere `contains` loads with Acquire).
    CARVED.store(carved + CHUNK_SIZE, Ordering::Release);
    chunk
}

/// Keeps `chunk`, carved before and now empty, for `take_retired`. Its memory stays mapped and
/// readable (`contains` still holds), whatever the caller purged of it.
///
/// # Safety
/// The caller holds the pool lock; `chunk` was returned by `carve` and is not retired yet.
pub unsafe fn retire(chunk: *mut u8) {
    debug_assert!(contains(chunk as usize) && (chunk as usize).is_multiple_of(CHUNK_SIZE));
    let len = RETIRED_LEN.load(Ordering::Relaxed);
    let index = (chunk as usize - BASE.load(Ordering::Relaxed)) / CHUNK_SIZE;
    // SAFETY: the stack has a slot per chunk of the reservation, and each carved chunk is on it
    // at most once, so `len` < its size.
    unsafe { RETIRED.load(Ordering::Relaxed).add(len).write(index as u32) };
    RETIRED_LEN.store(len + 1, Ordering::Relaxed);
}

/// The chunk retired last, taken off the stack (its memory as the retiring caller left it);
/// null when none is.
///
/// # Safety
/// The caller holds the pool lock.
pub unsafe fn take_retired() -> *mut u8 {
    let len = RETIRED_LEN.load(Ordering::Relaxed);
    if len == 0 {
        return core::ptr::null_mut();
    }
    RETIRED_LEN.store(len - 1, Ordering::Relaxed);
    // SAFETY: slots below `len` hold the retired chunks' indices.
    let index = unsafe { RETIRED.load(Ordering::Relaxed).add(len - 1).read() } as usize;
    (BASE.load(Ordering::Relaxed) + index * CHUNK_SIZE) as *mut u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carved_chunks_are_contained_and_nothing_else() {
        let _g = crate::pool::superslab::POOL.lock();
        // SAFETY: the pool lock is held.
        let c = unsafe { carve() };
        if !allowed() {
            // No arena in this process: nothing is contained.
            assert!(c.is_null() && !contains(0) && !contains(usize::MAX));
            return;
        }
        assert!(!c.is_null(), "no arena, although the process has no limit that forbids one");
        let c = c as usize;
        assert!(contains(c) && contains(c + CHUNK_SIZE - 1));
        let b = BASE.load(Ordering::Relaxed);
        assert!(!contains(b.wrapping_sub(1)));
        assert!(!contains(b + CARVED.load(Ordering::Relaxed)));
        let on_stack = 0u8;
        assert!(!contains(&on_stack as *const u8 as usize) && !contains(0));
        // SAFETY: the chunk was just made read-write and nothing else uses it.
        unsafe { (c as *mut u8).add(CHUNK_SIZE - 1).write(1) };
    }
}
