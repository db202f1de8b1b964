//! The C ABI: glibc-named exports that interpose the system allocator (and setrlimit/prlimit,
//! which end the SuperSlab arena before an address-space limit applies), and the prefixed
//! `hak_*` API declared in `include/hakmem.h`.
//!
//! Every export but the fast paths of malloc and free first takes the thread's heap out of its
//! slot, leaving the `BUSY` sentinel as the reentrancy guard (`tls::Entered`); a call that finds
//! `BUSY` comes from inside the allocator (dlsym, pthread_setspecific, ...) and is served by the
//! bootstrap buffer. (malloc's and free's fast paths call nothing, so nothing re-enters them; their
//! slow paths take the guard: see `tls`.) Then it converts and calls `api`, which sets errno for
//! the allocations it fails; the validation errors of the C API (EINVAL) are set here.

use crate::api::alloc as api;
use crate::api::free;
use crate::memory::bootstrap;
use crate::platform::{counters, errno};
use crate::process::stats;
use crate::tiers::heap::lifecycle;
use crate::tiers::heap::lists::Heap;
use crate::tiers::tls::Entered;
use core::ffi::{c_char, c_int, c_void};
use core::ptr;

/// Runs `f` on the thread's heap inside the guard, or `reentrant` when the call re-entered.
/// `alloc`: the call may allocate, so a thread's first call creates its heap.
#[inline(always)]
fn guarded<R>(e: Entered, alloc: bool, f: impl FnOnce(*mut Heap) -> R, reentrant: impl FnOnce() -> R) -> R {
    if e.reentrant() {
        return reentrant();
    }
    let heap = if alloc {
        // An allocation's slow path, inside the guard: where the purger may be created.
        crate::process::purger::start_if_wanted();
        if lifecycle::has_no_heap(e.heap) {
            // The thread's first allocating call. Init first: the heap takes its check and
            // statistics modes from the options.
            crate::process::init::ensure();
            // SAFETY: inside the guard, not re-entered.
            unsafe { lifecycle::thread_heap(e.heap) }
        } else {
            e.heap
        }
    } else {
        e.heap
    };
    let r = f(heap);
    e.leave(heap);
    r
}

// ---------------------------------------------------------------------------------------------
// Implementations shared by the glibc names, their aliases and the hak_* API.

/// The bootstrap buffer for a re-entered call, with errno set when it is exhausted.
#[cold]
fn reentrant_alloc(size: usize, align: usize) -> *mut u8 {
    let p = bootstrap::alloc(size, align);
    if p.is_null() {
        errno::set_enomem();
    }
    p
}

/// malloc. Its fast path, a tiny block from the thread heap's current span for the class, is
/// 18 instructions from entry to `ret` (`api::malloc_fast`, `tiers::heap::alloc::pop_fast`;
/// BENCHMARKS.md walks them): the thread's heap, the size's class, the span's list head and
/// its decoding, the head's range check, the new head, the key cleared, the count.
#[inline(always)]
pub(crate) fn do_malloc(size: usize) -> *mut c_void {
    let heap = crate::tiers::tls::heap();
    // SAFETY: `heap` is the thread's heap (or a sentinel); the fast path calls nothing.
    let b = unsafe { api::malloc_fast(heap, size) };
    if !b.is_null() {
        return b.cast();
    }
    malloc_not_tiny(size, heap)
}

/// malloc past the tiny fast path: a mid-size block from its class's current span (the mid
/// fast path), else the generic path inside the guard (heap creation, refills, the Large tier,
/// re-entered calls).
#[inline(never)]
fn malloc_not_tiny(size: usize, heap: *mut Heap) -> *mut c_void {
    // SAFETY: as in `do_malloc`.
    let b = unsafe { api::malloc_fast_mid(heap, size) };
    if !b.is_null() {
        return b.cast();
    }
    counters::count_request(size);
    let reentrant = || reentrant_alloc(size, api::MIN_ALIGN);
    // SAFETY: `heap` is the thread's, inside the guard.
    guarded(Entered::enter(), true, |heap| unsafe { api::malloc(heap, size) }, reentrant).cast()
}

/// free. Its fast path, the owner's free of a small block, is 36 instructions from entry to
/// `ret` (`api::free::free`, `tiers::heap::free::free_in_superslab`, `free_block`;
/// BENCHMARKS.md walks them): the arena check, the span descriptor, the block-start check,
/// the freed key, the owner, the push, the span's count, the class's current span.
///
/// # Safety
/// `p` is null or a live block of this allocator (or foreign: see `process::foreign`).
#[inline(always)]
pub(crate) unsafe fn do_free(p: *mut c_void) {
    // SAFETY: the thread's heap, or a sentinel: a re-entered call finds `BUSY`, which owns no
    // slab, so its free takes the remote path, safe whatever state the interrupted call is in.
    // `p` is as the caller promised.
    unsafe { free::free(crate::tiers::tls::heap(), p.cast()) };
}

pub(crate) fn do_calloc(count: usize, size: usize) -> *mut c_void {
    counters::count_request(count.saturating_mul(size));
    guarded(
        Entered::enter(),
        true,
        // SAFETY: inside the guard.
        |heap| unsafe { api::calloc(heap, count, size) },
        // The bootstrap buffer is never reused, so its memory is still zero.
        || reentrant_alloc(count.saturating_mul(size), api::MIN_ALIGN),
    )
    .cast()
}

/// # Safety
/// As for `do_free`.
pub(crate) unsafe fn do_realloc(p: *mut c_void, size: usize) -> *mut c_void {
    // Programs whose allocator hook is realloc alone (Lua's) call it for every new block.
    if p.is_null() {
        return do_malloc(size);
    }
    match api::resize_in_arena(p.cast(), size) {
        api::Resize::InPlace => return p,
        api::Resize::Move(usable) => {
            let q = do_malloc(size);
            if !q.is_null() {
                // SAFETY: `p` is a live block of `usable` bytes, `q` a new one of `size`; `p`
                // is freed once, here.
                unsafe {
                    ptr::copy_nonoverlapping(p.cast::<u8>(), q.cast::<u8>(), usable.min(size));
                    do_free(p);
                }
            }
            // A failed malloc set errno and leaves `p` as it was, as realloc must.
            return q;
        }
        api::Resize::General => {}
    }
    counters::count_request(size);
    let e = Entered::enter();
    let r = guarded(
        e,
        true,
        // SAFETY: inside the guard.
        |heap| unsafe { api::realloc(heap, p.cast(), size) },
        || {
            let q = bootstrap::alloc(size, api::MIN_ALIGN);
            if q.is_null() {
                return Err(());
            }
            // SAFETY: `p` (not null: see above) is a live block of at least its usable size; `q`
            // holds `size`.
            unsafe {
                ptr::copy_nonoverlapping(p.cast::<u8>(), q, api::usable_size(p.cast()).min(size));
                free::free(e.heap, p.cast());
            }
            Ok(q)
        },
    );
    match r {
        Ok(q) => q.cast(),
        Err(()) => {
            errno::set(libc::ENOMEM);
            ptr::null_mut()
        }
    }
}

/// `align` must be a power of two here.
pub(crate) fn do_aligned(align: usize, size: usize) -> *mut u8 {
    counters::count_request(size);
    let reentrant = || reentrant_alloc(size, align);
    // SAFETY: inside the guard.
    guarded(Entered::enter(), true, |heap| unsafe { api::aligned(heap, align, size) }, reentrant)
}

/// `do_aligned`, zeroed.
pub(crate) fn do_aligned_zeroed(align: usize, size: usize) -> *mut u8 {
    counters::count_request(size);
    // The bootstrap buffer is never reused, so its memory is still zero.
    let reentrant = || reentrant_alloc(size, align);
    // SAFETY: inside the guard.
    guarded(Entered::enter(), true, |heap| unsafe { api::aligned_zeroed(heap, align, size) }, reentrant)
}

/// # Safety
/// `out` is writable.
unsafe fn do_posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> c_int {
    if !align.is_power_of_two() || !align.is_multiple_of(core::mem::size_of::<*mut c_void>()) {
        return libc::EINVAL;
    }
    let p = do_aligned(align, size);
    if p.is_null() {
        return libc::ENOMEM;
    }
    // SAFETY: per the caller.
    unsafe { *out = p.cast() };
    0
}

#[cfg(feature = "interpose")]
fn do_memalign(align: usize, size: usize) -> *mut c_void {
    // glibc: alignments beyond half the address space are invalid; others round up to a power
    // of two.
    if align > usize::MAX / 2 + 1 {
        errno::set(libc::EINVAL);
        return ptr::null_mut();
    }
    let align = align.max(1).next_power_of_two();
    do_aligned(align, size).cast()
}

fn do_trim() -> c_int {
    // SAFETY: inside the guard.
    guarded(Entered::enter(), false, |heap| unsafe { api::trim(heap) } as c_int, || 0)
}

/// # Safety
/// As for `do_free`.
pub(crate) unsafe fn do_usable_size(p: *mut c_void) -> usize {
    // SAFETY: as the caller promised; the lookup needs no thread state.
    unsafe { api::usable_size(p.cast()) }
}

/// prlimit(2), after ending the SuperSlab arena when the call sets a finite address-space limit
/// on this process: the part of the arena not carved yet counts as address space in use, and
/// would leave the program less than the limit means to allow (see `arena`).
///
/// # Safety
/// As for prlimit: `new` and `old` are null or valid.
#[cfg(feature = "interpose")]
unsafe fn do_prlimit(pid: libc::pid_t, resource: c_int, new: *const libc::rlimit, old: *mut libc::rlimit) -> c_int {
    // SAFETY: `new` is null or valid (the caller's contract); getpid has no preconditions.
    let limits_us = unsafe { new.as_ref() }.is_some_and(|l| l.rlim_cur != libc::RLIM_INFINITY)
        && resource == libc::RLIMIT_AS as c_int
        && (pid == 0 || pid == unsafe { libc::getpid() });
    if limits_us {
        guarded(Entered::enter(), false, |_| crate::pool::superslab::end_arena(), || ());
    }
    // SAFETY: the kernel validates the arguments, as for glibc's own prlimit.
    unsafe { libc::syscall(libc::SYS_prlimit64, pid, resource, new, old) as c_int }
}

// ---------------------------------------------------------------------------------------------
// glibc's names.

#[cfg(feature = "interpose")]
mod interpose {
    use super::*;
    use crate::platform::os;

    /// Exports each glibc name as a call of its implementation: one line per name, `safe` or
    /// `unsafe`, the C signature, the implementation (same arguments). An `unsafe` export takes
    /// pointers the caller vouches for, as glibc's does: its implementation is an `unsafe fn`
    /// with that contract.
    macro_rules! exports {
        ($($safety:ident fn $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)? = $imp:ident;)*) => {
            $(exports!(@one $safety $name ($($arg: $ty),*) [$($ret)?] $imp);)*
        };
        (@one safe $name:ident ($($arg:ident: $ty:ty),*) [$($ret:ty)?] $imp:ident) => {
            #[no_mangle]
            pub extern "C" fn $name($($arg: $ty),*) $(-> $ret)? {
                $imp($($arg),*)
            }
        };
        (@one unsafe $name:ident ($($arg:ident: $ty:ty),*) [$($ret:ty)?] $imp:ident) => {
            /// # Safety
            /// As for glibc's: a block passed in is null or live and this allocator's, an
            /// out-pointer is writable, a stream is open.
            #[no_mangle]
            pub unsafe extern "C" fn $name($($arg: $ty),*) $(-> $ret)? {
                // SAFETY: the caller's contract is the implementation's.
                unsafe { $imp($($arg),*) }
            }
        };
    }

    exports! {
        safe fn malloc(size: usize) -> *mut c_void = do_malloc;
        unsafe fn free(p: *mut c_void) = do_free;
        unsafe fn cfree(p: *mut c_void) = do_free;
        unsafe fn free_sized(p: *mut c_void, size: usize) = free_sized_;
        unsafe fn free_aligned_sized(p: *mut c_void, align: usize, size: usize) = free_aligned_sized_;
        safe fn calloc(count: usize, size: usize) -> *mut c_void = do_calloc;
        unsafe fn realloc(p: *mut c_void, size: usize) -> *mut c_void = do_realloc;
        unsafe fn reallocarray(p: *mut c_void, count: usize, size: usize) -> *mut c_void = reallocarray_;
        unsafe fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> c_int = do_posix_memalign;
        safe fn aligned_alloc(align: usize, size: usize) -> *mut c_void = aligned_alloc_;
        safe fn memalign(align: usize, size: usize) -> *mut c_void = do_memalign;
        safe fn valloc(size: usize) -> *mut c_void = valloc_;
        safe fn pvalloc(size: usize) -> *mut c_void = pvalloc_;
        unsafe fn malloc_usable_size(p: *mut c_void) -> usize = do_usable_size;
        safe fn malloc_trim(pad: usize) -> c_int = malloc_trim_;
        safe fn mallinfo2() -> stats::MallInfo2 = mallinfo2_;
        safe fn mallinfo() -> MallInfo = mallinfo_;
        unsafe fn malloc_info(options: c_int, fp: *mut libc::FILE) -> c_int = malloc_info_;
        safe fn malloc_stats() = malloc_stats_;
        safe fn mallopt(param: c_int, value: c_int) -> c_int = mallopt_;
        unsafe fn setrlimit(resource: c_int, limit: *const libc::rlimit) -> c_int = setrlimit_;
        unsafe fn setrlimit64(resource: c_int, limit: *const libc::rlimit) -> c_int = setrlimit_;
        unsafe fn prlimit(pid: libc::pid_t, res: c_int, new: *const libc::rlimit, old: *mut libc::rlimit) -> c_int = do_prlimit;
        unsafe fn prlimit64(pid: libc::pid_t, res: c_int, new: *const libc::rlimit, old: *mut libc::rlimit) -> c_int = do_prlimit;
        // The aliases glibc exports, so that code calling them directly also gets our blocks.
        safe fn __libc_malloc(size: usize) -> *mut c_void = do_malloc;
        unsafe fn __libc_free(p: *mut c_void) = do_free;
        safe fn __libc_calloc(count: usize, size: usize) -> *mut c_void = do_calloc;
        unsafe fn __libc_realloc(p: *mut c_void, size: usize) -> *mut c_void = do_realloc;
        safe fn __libc_memalign(align: usize, size: usize) -> *mut c_void = do_memalign;
        safe fn __libc_valloc(size: usize) -> *mut c_void = valloc_;
        safe fn __libc_pvalloc(size: usize) -> *mut c_void = pvalloc_;
        unsafe fn __posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> c_int = do_posix_memalign;
    }

    // The implementations the table names that are not shared with the hak_* API.

    /// # Safety
    /// As for `do_free`.
    unsafe fn free_sized_(p: *mut c_void, _size: usize) {
        // SAFETY: forwarded from the caller.
        unsafe { do_free(p) }
    }

    /// # Safety
    /// As for `do_free`.
    unsafe fn free_aligned_sized_(p: *mut c_void, _align: usize, _size: usize) {
        // SAFETY: forwarded from the caller.
        unsafe { do_free(p) }
    }

    /// # Safety
    /// As for `do_realloc`.
    unsafe fn reallocarray_(p: *mut c_void, count: usize, size: usize) -> *mut c_void {
        match count.checked_mul(size) {
            // SAFETY: forwarded from the caller.
            Some(n) => unsafe { do_realloc(p, n) },
            None => {
                errno::set(libc::ENOMEM);
                ptr::null_mut()
            }
        }
    }

    fn aligned_alloc_(align: usize, size: usize) -> *mut c_void {
        if !align.is_power_of_two() {
            errno::set(libc::EINVAL);
            return ptr::null_mut();
        }
        do_aligned(align, size).cast()
    }

    fn valloc_(size: usize) -> *mut c_void {
        do_memalign(os::PAGE_SIZE, size)
    }

    fn pvalloc_(size: usize) -> *mut c_void {
        match size.max(1).checked_add(os::PAGE_SIZE - 1) {
            Some(n) => do_memalign(os::PAGE_SIZE, n & !(os::PAGE_SIZE - 1)),
            None => {
                errno::set(libc::ENOMEM);
                ptr::null_mut()
            }
        }
    }

    fn malloc_trim_(_pad: usize) -> c_int {
        do_trim()
    }

    /// glibc's `struct mallinfo` (`int` fields: values beyond `INT_MAX` are clipped, as
    /// glibc's wrap; `mallinfo2` has the full values).
    #[repr(C)]
    pub struct MallInfo {
        arena: c_int,
        ordblks: c_int,
        smblks: c_int,
        hblks: c_int,
        hblkhd: c_int,
        usmblks: c_int,
        fsmblks: c_int,
        uordblks: c_int,
        fordblks: c_int,
        keepcost: c_int,
    }

    fn mallinfo2_() -> stats::MallInfo2 {
        guarded(Entered::enter(), false, |_| stats::mallinfo2(), Default::default)
    }

    fn mallinfo_() -> MallInfo {
        let m = mallinfo2_();
        let int = |v: usize| v.min(c_int::MAX as usize) as c_int;
        MallInfo {
            arena: int(m.arena),
            ordblks: int(m.ordblks),
            smblks: int(m.smblks),
            hblks: int(m.hblks),
            hblkhd: int(m.hblkhd),
            usmblks: int(m.usmblks),
            fsmblks: int(m.fsmblks),
            uordblks: int(m.uordblks),
            fordblks: int(m.fordblks),
            keepcost: int(m.keepcost),
        }
    }

    /// glibc's malloc_info: the XML report to `fp`; -1 with EINVAL when `options` is not 0.
    ///
    /// # Safety
    /// `fp` is an open stdio stream.
    unsafe fn malloc_info_(options: c_int, fp: *mut libc::FILE) -> c_int {
        if options != 0 {
            errno::set(libc::EINVAL);
            return -1;
        }
        // fwrite may allocate its buffer: it runs outside the guard, on text already formatted.
        let mut buf = [0u8; 8192];
        let mut len = 0;
        guarded(
            Entered::enter(),
            false,
            |_| {
                stats::malloc_info(|piece| {
                    let n = piece.len().min(buf.len() - len);
                    buf[len..len + n].copy_from_slice(&piece[..n]);
                    len += n;
                })
            },
            || (),
        );
        // SAFETY: `buf[..len]` is initialised; `fp` is the caller's open stream.
        let written = unsafe { libc::fwrite(buf.as_ptr().cast(), 1, len, fp) };
        if written == len {
            0
        } else {
            -1
        }
    }

    fn malloc_stats_() {
        guarded(Entered::enter(), false, |_| stats::print(), || ())
    }

    /// Accepted for compatibility; hakmem has no tunables of glibc's kind.
    fn mallopt_(_param: c_int, _value: c_int) -> c_int {
        1
    }

    /// # Safety
    /// As for `do_prlimit`.
    unsafe fn setrlimit_(resource: c_int, limit: *const libc::rlimit) -> c_int {
        // SAFETY: forwarded from the caller.
        unsafe { do_prlimit(0, resource, limit, ptr::null_mut()) }
    }
}

// ---------------------------------------------------------------------------------------------
// The prefixed API (include/hakmem.h). Same semantics as the glibc names; these never interpose.

/// Allocates `size` bytes aligned to 16; NULL with errno ENOMEM when out of memory.
#[no_mangle]
pub extern "C" fn hak_malloc(size: usize) -> *mut c_void {
    do_malloc(size)
}

/// Frees a block from any hakmem allocation function; NULL is a no-op. Preserves errno.
///
/// # Safety
/// `p` is NULL or a live block from this allocator.
#[no_mangle]
pub unsafe extern "C" fn hak_free(p: *mut c_void) {
    // SAFETY: forwarded from the caller.
    unsafe { do_free(p) }
}

/// Allocates zeroed memory for `count` objects of `size` bytes; NULL with errno ENOMEM on
/// overflow or when out of memory.
#[no_mangle]
pub extern "C" fn hak_calloc(count: usize, size: usize) -> *mut c_void {
    do_calloc(count, size)
}

/// Resizes `p` keeping its contents, like glibc's realloc (`size == 0` frees and returns NULL).
///
/// # Safety
/// `p` is NULL or a live block from this allocator.
#[no_mangle]
pub unsafe extern "C" fn hak_realloc(p: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: forwarded from the caller.
    unsafe { do_realloc(p, size) }
}

/// Like posix_memalign: 0, EINVAL (alignment not a power of two multiple of sizeof(void *)) or
/// ENOMEM.
///
/// # Safety
/// `out` must be writable.
#[no_mangle]
pub unsafe extern "C" fn hak_posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> c_int {
    // SAFETY: forwarded from the caller.
    unsafe { do_posix_memalign(out, align, size) }
}

/// Usable bytes of a block (at least the size requested); 0 for NULL.
///
/// # Safety
/// `p` is NULL or a live block from this allocator.
#[no_mangle]
pub unsafe extern "C" fn hak_usable_size(p: *mut c_void) -> usize {
    // SAFETY: forwarded from the caller.
    unsafe { do_usable_size(p) }
}

/// Fills `out` with a snapshot of hakmem's memory: bytes in use per tier and size class, mapped
/// and resident (see `struct hak_stats`); the peak and the bytes requested need `HAKMEM_STATS=1`.
///
/// # Safety
/// `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn hak_stats_get(out: *mut stats::Stats) {
    let s = guarded(Entered::enter(), false, |_| stats::stats(), stats::Stats::empty);
    // SAFETY: per the caller.
    unsafe { out.write(s) };
}

/// Gives cached and free memory back to the kernel, like malloc_trim: 1 when some was released.
#[no_mangle]
pub extern "C" fn hak_trim() -> c_int {
    do_trim()
}

/// Prints the statistics report to stderr (the per-tier call counts need `HAKMEM_STATS=1`).
#[no_mangle]
pub extern "C" fn hak_stats_print() {
    guarded(Entered::enter(), false, |_| stats::print(), || ())
}

/// The library version, a static NUL-terminated string.
#[no_mangle]
pub extern "C" fn hak_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
