//! The bootstrap buffer: serves calls that re-enter the allocator (from `dlsym`, `pthread_*`,
//! anything the allocator itself calls while its reentrancy guard is set).
//!
//! It is a static buffer inside libhakmem, so its pointers are ours and recognisable by address;
//! it never calls anything. Blocks are never reused (re-entered calls are rare and small); when
//! the buffer is exhausted the call fails with ENOMEM.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicUsize, Ordering};

const BUFFER_BYTES: usize = 256 * 1024;
const HEADER_BYTES: usize = 16;

#[repr(C, align(4096))]
struct Buffer(UnsafeCell<[u8; BUFFER_BYTES]>);
// SAFETY: disjoint ranges are handed out through an atomic bump pointer.
unsafe impl Sync for Buffer {}

static BUFFER: Buffer = Buffer(UnsafeCell::new([0; BUFFER_BYTES]));
static USED: AtomicUsize = AtomicUsize::new(0);
pub static BOOTSTRAP_MALLOCS: AtomicUsize = AtomicUsize::new(0);

fn base() -> usize {
    BUFFER.0.get() as usize
}

pub fn contains(p: *mut u8) -> bool {
    (p as usize).wrapping_sub(base()) < BUFFER_BYTES
}

/// `size` bytes aligned to `align` (a power of two), zeroed; null when the buffer is exhausted.
pub fn alloc(size: usize, align: usize) -> *mut u8 {
    let align = align.max(16);
    if size > BUFFER_BYTES || align > BUFFER_BYTES / 4 {
        return core::ptr::null_mut();
    }
    let mut used = USED.load(Ordering::Relaxed);
    loop {
        let user = (base() + used + HEADER_BYTES + align - 1) & !(align - 1);
        let end = (user + size + 15) & !15;
        if end > base() + BUFFER_BYTES {
            return core::ptr::null_mut();
        }
        match USED.compare_exchange_weak(used, end - base(), Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => {
                BOOTSTRAP_MALLOCS.fetch_add(1, Ordering::Relaxed);
                // SAFETY: [user - 16, end) lies in the buffer and was just reserved for us alone.
                unsafe { ((user - HEADER_BYTES) as *mut usize).write(size) };
                return user as *mut u8;
            }
            Err(now) => used = now,
        }
    }
}

/// The size requested for a bootstrap block.
///
/// # Safety
/// `p` is a pointer `alloc` returned (`contains(p)` alone is not enough).
pub unsafe fn usable_size(p: *mut u8) -> usize {
    // SAFETY: every bootstrap block is preceded by its size header inside the buffer.
    unsafe { *((p as usize - HEADER_BYTES) as *const usize) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_aligned_disjoint_and_recognised() {
        let a = alloc(10, 16);
        let b = alloc(100, 256);
        assert!(!a.is_null() && !b.is_null());
        assert_eq!(a as usize % 16, 0);
        assert_eq!(b as usize % 256, 0);
        assert!(contains(a) && contains(b));
        assert!(b as usize >= a as usize + 10);
        // SAFETY: both came from `alloc`.
        unsafe {
            assert_eq!(usable_size(a), 10);
            assert_eq!(usable_size(b), 100);
        }
        let x = 0u8;
        assert!(!contains(&x as *const u8 as *mut u8));
        assert!(alloc(BUFFER_BYTES + 1, 16).is_null());
    }
}
