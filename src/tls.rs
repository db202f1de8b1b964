//! The one thread-local word pair the allocator keeps: the thread's heap and its reentrancy depth.
//!
//! On x86_64 Linux the block lives in the initial-exec TLS model, defined in assembly because
//! stable Rust has no `#[thread_local]`: reaching it costs one GOT load plus one `fs:` add, where
//! `thread_local!` in a shared object would call `__tls_get_addr` on every access (which may itself
//! allocate). The block's initial image points at the static empty heap, so a new thread's first
//! call finds empty pages and takes the slow path, which sets the thread up; no extra test on the
//! fast path. Elsewhere a `thread_local!` stands in.

use crate::heap::Heap;

#[repr(C)]
pub struct ThreadState {
    /// The thread's heap, or one of the static sentinels (`heap::EMPTY`, `heap::DEAD`).
    pub heap: *mut Heap,
    /// Nonzero while an allocator entry point runs on this thread; a call that finds it set is a
    /// re-entered one (from something the allocator itself called).
    pub depth: usize,
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod imp {
    use super::ThreadState;

    core::arch::global_asm!(
        ".pushsection .tdata,\"awT\",@progbits",
        ".p2align 4",
        ".globl __hakmem_thread_state",
        ".hidden __hakmem_thread_state",
        ".type __hakmem_thread_state, @object",
        ".size __hakmem_thread_state, 16",
        "__hakmem_thread_state:",
        ".quad {empty}",
        ".quad 0",
        ".popsection",
        empty = sym crate::heap::EMPTY,
    );

    /// This thread's state block.
    #[inline(always)]
    pub fn current() -> *mut ThreadState {
        let p: *mut ThreadState;
        // SAFETY: reads the thread pointer and the GOT slot of our TLS symbol; both are valid for
        // the life of the thread, and the result is the same every time on one thread (pure).
        unsafe {
            core::arch::asm!(
                "mov {p}, qword ptr [rip + __hakmem_thread_state@GOTTPOFF]",
                "add {p}, qword ptr fs:[0]",
                p = out(reg) p,
                options(pure, readonly, nostack)
            );
        }
        p
    }
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
mod imp {
    use super::ThreadState;
    use core::cell::UnsafeCell;

    thread_local! {
        static STATE: UnsafeCell<ThreadState> = const {
            UnsafeCell::new(ThreadState {
                heap: &crate::heap::EMPTY as *const crate::heap::Heap as *mut crate::heap::Heap,
                depth: 0,
            })
        };
    }

    #[inline(always)]
    pub fn current() -> *mut ThreadState {
        STATE.with(|s| s.get())
    }
}

pub use imp::current;
