//! C semantics between the exports and the tiers: size routing, overflow, alignment rules,
//! `realloc`'s special cases, errno. An allocation that returns null has set errno to ENOMEM
//! (the tiny fast path never fails, so the test lives on the slow paths); `realloc` reports
//! failure as `Err` and the export sets errno.

use crate::api::free::{self, owner_of, Owner};
use crate::blocks::check;
use crate::blocks::size_class::{SizeClass, MID_MAX, TINY_MAX};
use crate::memory::arena;
use crate::memory::bootstrap;
use crate::platform::config;
use crate::platform::errno;
use crate::pool::decay;
use crate::pool::large;
use crate::process::foreign;
use crate::process::init;
use crate::tiers::heap::alloc as heap_alloc;
use crate::tiers::heap::free::{allocated_block, key_unless_freed};
use crate::tiers::heap::lifecycle;
use crate::tiers::heap::lists::Heap;
use crate::tiers::large_span;
use core::ptr;

pub const MIN_ALIGN: usize = 16;

/// # Safety
/// (For every function here that takes `heap`.) `heap` is the calling thread's heap (or a
/// sentinel other than `BUSY`) as its entry point took it and `lifecycle::thread_heap` resolved it;
/// pointers passed in were returned by this allocator (or are foreign, handled by policy).
#[inline(always)]
pub unsafe fn malloc(heap: *mut Heap, size: usize) -> *mut u8 {
    if config::check() {
        // SAFETY: see the module-level contract.
        return unsafe { alloc_checked(heap, size, MIN_ALIGN) };
    }
    if size <= TINY_MAX {
        // SAFETY: see the module-level contract.
        unsafe { heap_alloc::alloc(heap, Heap::tiny_class(heap, size)) }
    } else {
        // SAFETY: as above.
        unsafe { malloc_beyond_tiny(heap, size) }
    }
}

/// malloc's fast path: a tiny block from the heap's current slab, or null when the call needs
/// `malloc` (a larger size, an empty slab, a sentinel heap, check or statistics mode).
///
/// # Safety
/// As for `tiers::heap::alloc::pop_fast`.
#[inline(always)]
pub unsafe fn malloc_fast(heap: *mut Heap, size: usize) -> *mut u8 {
    if size <= TINY_MAX {
        // SAFETY: forwarded from the caller.
        unsafe { heap_alloc::pop_fast(heap, Heap::tiny_class(heap, size)) }
    } else {
        ptr::null_mut()
    }
}

/// The fast path of a mid-size malloc, which misses `malloc_fast` (kept to tiny sizes so that
/// their path stays one test shorter): a block from the heap's current slab for the class, or
/// null when the call needs `malloc`.
///
/// # Safety
/// As for `tiers::heap::alloc::pop_fast`.
#[inline(always)]
pub unsafe fn malloc_fast_mid(heap: *mut Heap, size: usize) -> *mut u8 {
    if size > TINY_MAX && size <= MID_MAX {
        // SAFETY: forwarded from the caller.
        unsafe { heap_alloc::pop_fast(heap, SizeClass::for_size(size)) }
    } else {
        ptr::null_mut()
    }
}

#[inline(never)]
unsafe fn malloc_beyond_tiny(heap: *mut Heap, size: usize) -> *mut u8 {
    if size <= MID_MAX {
        // SAFETY: see `malloc`.
        unsafe { heap_alloc::alloc(heap, SizeClass::for_size(size)) }
    } else {
        large_alloc(size, 0, false)
    }
}

/// Check mode's malloc: a slab block with a red zone (see `check`), or a large block.
#[cold]
#[inline(never)]
unsafe fn alloc_checked(heap: *mut Heap, size: usize, align: usize) -> *mut u8 {
    let class = check::inner_size(size).and_then(|inner| SizeClass::for_aligned(inner, align));
    let Some(class) = class else {
        return large_alloc(size, if align <= MIN_ALIGN { 0 } else { align }, false);
    };
    // SAFETY: see `malloc`.
    let p = unsafe { heap_alloc::alloc(heap, class) };
    if !p.is_null() {
        // SAFETY: `p` is a fresh block of the class, which holds `size` plus the seal.
        unsafe { check::seal(p, size, class.block_size()) };
    }
    p
}

/// The Large tier (a span of its own up to `large_span::MAX_BYTES`, else a mapping), with
/// errno set on failure.
fn large_alloc(size: usize, align: usize, zero: bool) -> *mut u8 {
    let alloc = || {
        if large_span::fits(size, align) {
            let p = large_span::alloc(size, align, zero);
            if !p.is_null() {
                return p;
            }
        }
        let p = large::alloc(size, align, zero);
        decay::tick();
        p
    };
    let mut p = alloc();
    if p.is_null() && decay::give_back_all() {
        p = alloc();
    }
    if p.is_null() {
        errno::set_enomem();
    }
    p
}

/// What realloc's fast path (`resize_in_arena`) made of a call.
pub enum Resize {
    /// The block stays where it is.
    InPlace,
    /// The block moves: malloc, copy this many bytes at most (the old block's usable size),
    /// free; each on its own fast path.
    Move(usize),
    /// Anything else, errors included: the general path decides, or reports.
    General,
}

/// realloc's fast path, for the common case: a handed-out block of a small-block slab in the
/// arena, outside check and statistics modes (which check and count on the general path).
/// Calls nothing and needs no heap: no guard.
#[inline(always)]
pub fn resize_in_arena(p: *mut u8, size: usize) -> Resize {
    if size == 0 || !arena::contains(p as usize) || config::check() || config::stats() {
        return Resize::General;
    }
    // SAFETY: `p` lies in the arena, whose descriptors are readable; `allocated_block`
    // validated `slab` as live.
    unsafe {
        match allocated_block(p) {
            Some((slab, _, _)) if !(*slab).is_large() => {
                let block = (*slab).block_size();
                if fits_in_place(size, block) {
                    Resize::InPlace
                } else {
                    Resize::Move(block)
                }
            }
            _ => Resize::General,
        }
    }
}

/// Whether a realloc to `size` keeps a small block of `block` bytes: it fits, and the block
/// would not be less than half used.
fn fits_in_place(size: usize, block: usize) -> bool {
    size <= block && (size > block / 2 || block <= 2 * MIN_ALIGN)
}

/// # Safety
/// See `malloc`.
pub unsafe fn calloc(heap: *mut Heap, count: usize, size: usize) -> *mut u8 {
    let Some(total) = count.checked_mul(size) else {
        errno::set_enomem();
        return ptr::null_mut();
    };
    if total > MID_MAX {
        // Fresh mappings are already zero; `large` zeroes reused ones.
        return large_alloc(total, 0, true);
    }
    // SAFETY: see `malloc`.
    let p = unsafe { malloc(heap, total) };
    if !p.is_null() {
        // SAFETY: `p` holds at least `total` bytes.
        unsafe { ptr::write_bytes(p, 0, total) };
    }
    p
}

/// `size` bytes aligned to `align`, a power of two.
///
/// # Safety
/// See `malloc`.
pub unsafe fn aligned(heap: *mut Heap, align: usize, size: usize) -> *mut u8 {
    debug_assert!(align.is_power_of_two());
    if config::check() {
        // SAFETY: see `malloc`.
        return unsafe { alloc_checked(heap, size, align.max(MIN_ALIGN)) };
    }
    if align <= MIN_ALIGN {
        // SAFETY: see `malloc`.
        return unsafe { malloc(heap, size) };
    }
    match SizeClass::for_aligned(size, align) {
        // SAFETY: see `malloc`.
        Some(class) => unsafe { heap_alloc::alloc(heap, class) },
        None => large_alloc(size, align, false),
    }
}

/// `aligned`, zeroed: a fresh large mapping is not cleared again.
///
/// # Safety
/// See `malloc`.
pub unsafe fn aligned_zeroed(heap: *mut Heap, align: usize, size: usize) -> *mut u8 {
    if align <= MIN_ALIGN {
        // SAFETY: see `malloc`.
        return unsafe { calloc(heap, 1, size) };
    }
    if !config::check() && SizeClass::for_aligned(size, align).is_none() {
        return large_alloc(size, align, true);
    }
    // SAFETY: see `malloc`.
    let p = unsafe { aligned(heap, align, size) };
    if !p.is_null() {
        // SAFETY: `p` holds at least `size` bytes.
        unsafe { ptr::write_bytes(p, 0, size) };
    }
    p
}

/// glibc's realloc: `Ok(null)` when `size == 0` freed `p`; `Err(())` when out of memory (then
/// `p` is untouched; the only error there is, so it carries nothing).
///
/// # Safety
/// See `malloc`; `p` is not null (`realloc(NULL, n)` is malloc, which the export calls).
#[allow(clippy::result_unit_err)]
pub unsafe fn realloc(heap: *mut Heap, p: *mut u8, size: usize) -> Result<*mut u8, ()> {
    if size == 0 {
        // SAFETY: see `malloc`.
        unsafe { free::free(heap, p) };
        return Ok(ptr::null_mut());
    }
    let old_size = match owner_of(p, "realloc") {
        Owner::Span(slab, b) => {
            // SAFETY: `owner_of` validated `b` as a block of the live slab `slab`.
            unsafe {
                key_unless_freed("realloc", slab, b);
                let block = (*slab).block_size();
                if (*slab).is_large() && size > block && large_span::grow_in_place(slab, size) {
                    return Ok(p);
                }
                if config::check() && !(*slab).is_large() {
                    // Always moved, so that the new block gets its own red zone.
                    check::sealed_size("realloc", p, block, 0)
                } else if fits_in_place(size, block) {
                    return Ok(p);
                } else {
                    block
                }
            }
        }
        Owner::Large(h) => {
            // SAFETY: `owner_of` validated the header.
            let usable = unsafe {
                large::check_live("realloc", h);
                large::usable_size(h)
            };
            if size > MID_MAX {
                // SAFETY: as above.
                let mut q = unsafe { large::resize(h, size) };
                if q.is_null() && decay::give_back_all() {
                    // SAFETY: as above; a failed resize left the block as it was.
                    q = unsafe { large::resize(h, size) };
                }
                // errno for a failure is set by the export.
                return if q.is_null() { Err(()) } else { Ok(q) };
            }
            usable
        }
        // SAFETY: `p` is a bootstrap block.
        Owner::Bootstrap => unsafe { bootstrap::usable_size(p) },
        Owner::Foreign => {
            init::ensure();
            let q = foreign::realloc(p, size);
            return if q.is_null() { Err(()) } else { Ok(q) };
        }
    };
    // SAFETY: see `malloc`.
    let q = unsafe { malloc(heap, size) };
    if q.is_null() {
        return Err(());
    }
    // SAFETY: both blocks hold at least min(old, new) bytes and do not overlap.
    unsafe {
        ptr::copy_nonoverlapping(p, q, old_size.min(size));
        free::free(heap, p);
    }
    Ok(q)
}

/// Usable bytes of `p` (0 for null). The common case, a handed-out block in the arena outside
/// check mode, is answered here without a call: programs that account for their memory (redis)
/// ask for the size of every block they allocate and free.
///
/// # Safety
/// `p` is null or was returned by this allocator and not freed since (or is foreign: `init`).
#[inline(always)]
pub unsafe fn usable_size(p: *mut u8) -> usize {
    if arena::contains(p as usize) && !config::check() {
        // SAFETY: `p` lies in the arena, whose descriptors are readable; `allocated_block`
        // validated `slab` as live and `p` as a handed-out block of it.
        unsafe {
            if let Some((slab, _, _)) = allocated_block(p) {
                return (*slab).block_size();
            }
        }
    }
    // SAFETY: per the caller.
    unsafe { usable_size_general(p) }
}

/// `usable_size` for everything else: null, check mode, a block outside the arena or past its
/// span's first slab, and a misuse (reported here).
///
/// # Safety
/// As for `usable_size`.
#[inline(never)]
unsafe fn usable_size_general(p: *mut u8) -> usize {
    if p.is_null() {
        return 0;
    }
    match owner_of(p, "malloc_usable_size") {
        // SAFETY: `owner_of` validated `b` as a block of the live slab `slab`.
        Owner::Span(slab, b) => unsafe {
            key_unless_freed("malloc_usable_size", slab, b);
            if config::check() && !(*slab).is_large() {
                check::sealed_size("malloc_usable_size", p, (*slab).block_size(), 0)
            } else {
                (*slab).block_size()
            }
        },
        // SAFETY: `owner_of` validated the header.
        Owner::Large(h) => unsafe {
            large::check_live("malloc_usable_size", h);
            large::expose_usable_size(h)
        },
        // SAFETY: `p` is a bootstrap block.
        Owner::Bootstrap => unsafe { bootstrap::usable_size(p) },
        Owner::Foreign => {
            init::ensure();
            foreign::usable_size(p)
        }
    }
}

/// Gives cached and free memory back to the kernel; true when something was released. First
/// the calling thread's heap and the heaps parked by exited threads give back their free slabs
/// (`lifecycle::trim`).
///
/// # Safety
/// See `malloc`.
pub unsafe fn trim(heap: *mut Heap) -> bool {
    // SAFETY: see `malloc`.
    unsafe { lifecycle::trim(heap) };
    decay::give_back_all()
}
