//! The one thread-local word the allocator keeps: the thread's heap, which is also its reentrancy
//! guard.
//!
//! Every entry point takes the heap out of the slot first and leaves the `heap::BUSY` sentinel
//! there until it returns (`Entered`). A call that re-enters the allocator meanwhile (from dlsym,
//! pthread_setspecific, anything the allocator calls, or a signal handler) finds `BUSY`: its
//! slabs are all the empty sentinel, so malloc falls into the slow path, which serves it from the
//! bootstrap arena, and it owns no slab, so free takes the lock-free remote path. The guard thus
//! costs the fast paths two stores (and a load of the sentinel's address), and no test.
//!
//! On x86_64 Linux the word lives in the initial-exec TLS model, defined in assembly because
//! stable Rust has no `#[thread_local]`: reaching it costs one GOT load plus one `fs:` add, where
//! `thread_local!` in a shared object would call `__tls_get_addr` on every access (which may itself
//! allocate). Its initial image points at the static empty heap, so a new thread's first malloc
//! finds empty slabs and takes the slow path, which creates the thread's heap. Elsewhere a
//! `thread_local!` stands in.

use crate::heap::{self, Heap};

#[repr(C)]
pub struct ThreadState {
    /// The thread's heap, or one of the static sentinels (`heap::EMPTY`, `heap::DEAD`, and
    /// `heap::BUSY` while an entry point runs).
    pub heap: *mut Heap,
}

/// An entry point's hold on the thread's heap (see the module docs); `leave` puts a heap back.
#[derive(Clone, Copy)]
pub struct Entered {
    ts: *mut ThreadState,
    /// The heap the slot held on entry: `BUSY` for a re-entered call.
    pub heap: *mut Heap,
}

impl Entered {
    /// Takes the thread's heap, leaving `BUSY` in its place: the first thing every entry point
    /// does.
    #[inline(always)]
    pub fn enter() -> Entered {
        let ts = current();
        // SAFETY: `ts` is this thread's state; only this thread touches it.
        unsafe {
            let heap = (*ts).heap;
            (*ts).heap = heap::busy();
            Entered { ts, heap }
        }
    }

    /// Whether this call re-entered the allocator from inside another call on this thread.
    #[inline(always)]
    pub fn reentrant(&self) -> bool {
        self.heap == heap::busy()
    }

    /// Ends the call with `heap` in the slot: the heap it entered with, or the one it created.
    /// A re-entered call puts `BUSY` back, which the interrupted call still needs.
    #[inline(always)]
    pub fn leave(self, heap: *mut Heap) {
        // SAFETY: as in `enter`.
        unsafe { (*self.ts).heap = heap };
    }
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod imp {
    use super::ThreadState;

    core::arch::global_asm!(
        ".pushsection .tdata,\"awT\",@progbits",
        ".p2align 3",
        ".globl __hakmem_thread_state",
        ".hidden __hakmem_thread_state",
        ".type __hakmem_thread_state, @object",
        ".size __hakmem_thread_state, 8",
        "__hakmem_thread_state:",
        ".quad {empty}",
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
            })
        };
    }

    #[inline(always)]
    pub fn current() -> *mut ThreadState {
        STATE.with(|s| s.get())
    }
}

pub use imp::current;
