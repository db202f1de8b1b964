//! The one thread-local word the allocator keeps: the thread's heap, which is also its reentrancy
//! guard.
//!
//! An entry point that may call out of the allocator takes the heap out of the slot first and
//! leaves the `heap::BUSY` sentinel there until it returns (`Entered`, `guard`). A call that
//! re-enters the allocator meanwhile (from dlsym, pthread_setspecific, the foreign allocator's
//! free, anything the allocator calls) finds `BUSY`: its slabs are all the empty sentinel, so
//! malloc falls into the slow path, which serves it from the bootstrap buffer, and it owns no
//! slab, so free takes the lock-free remote path.
//!
//! The fast paths of malloc and free only read the slot (`heap`): they call nothing, so nothing
//! can re-enter them, and their slow paths set the guard before they call out. That leaves
//! signal handlers: a handler that interrupts malloc or free and allocates itself corrupts the
//! heap, as with glibc (POSIX does not make malloc async-signal-safe; neither does any peer).
//!
//! On x86_64 Linux the word lives in the initial-exec TLS model, defined in assembly because
//! stable Rust has no `#[thread_local]`: one GOT load gives its offset from the thread pointer,
//! then `fs:`-relative moves read and write it, where `thread_local!` in a shared object would
//! call `__tls_get_addr` on every access (which may itself allocate). Its initial image points
//! at the static empty heap, so a new thread's first malloc finds empty slabs and takes the slow
//! path, which creates the thread's heap. Elsewhere a `thread_local!` stands in.

use crate::tiers::heap::lists::Heap;
use imp::Slot;

/// An entry point's hold on the thread's heap (see the module docs); `leave` puts a heap back.
#[derive(Clone, Copy)]
pub struct Entered {
    slot: Slot,
    /// The heap the slot held on entry: `BUSY` for a re-entered call.
    pub heap: *mut Heap,
}

impl Entered {
    /// Takes the thread's heap, leaving `BUSY` in its place: the first thing every entry point
    /// does.
    #[inline(always)]
    pub fn enter() -> Entered {
        let slot = Slot::current();
        let heap = slot.get();
        slot.set(imp::busy());
        Entered { slot, heap }
    }

    /// Whether this call re-entered the allocator from inside another call on this thread.
    #[inline(always)]
    pub fn reentrant(&self) -> bool {
        self.heap == imp::busy()
    }

    /// Ends the call with `heap` in the slot: the heap it entered with, or the one it created.
    /// A re-entered call puts `BUSY` back, which the interrupted call still needs.
    #[inline(always)]
    pub fn leave(self, heap: *mut Heap) {
        self.slot.set(heap);
    }
}

/// The thread's heap (or a sentinel), read without taking it: for the fast paths of malloc and
/// free, which call nothing (see the module docs).
#[inline(always)]
pub fn heap() -> *mut Heap {
    Slot::current().get()
}

/// Runs `f`, a slow path of malloc or free, inside the guard, and puts back what the slot held
/// (the thread's heap, or `BUSY` when `f` runs inside another guarded call).
#[inline(always)]
pub fn guard<R>(f: impl FnOnce() -> R) -> R {
    let e = Entered::enter();
    let r = f();
    e.leave(e.heap);
    r
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod imp {
    use crate::tiers::heap::lists::Heap;

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
        empty = sym crate::tiers::heap::lists::EMPTY,
    );

    /// The slot's offset from the thread pointer: the slot is then read and written by single
    /// `fs:`-relative moves.
    #[derive(Clone, Copy)]
    pub struct Slot(usize);

    impl Slot {
        #[inline(always)]
        pub fn current() -> Slot {
            let off: usize;
            // SAFETY: reads the GOT slot of our TLS symbol, which the loader filled in and which
            // never changes (hence pure).
            unsafe {
                core::arch::asm!(
                    "mov {off}, qword ptr [rip + __hakmem_thread_state@GOTTPOFF]",
                    off = out(reg) off,
                    options(pure, readonly, nostack, preserves_flags)
                );
            }
            Slot(off)
        }

        #[inline(always)]
        pub fn get(self) -> *mut Heap {
            let heap: *mut Heap;
            // SAFETY: `fs:[off]` is this thread's slot for the life of the thread. Not pure:
            // `set` changes it.
            unsafe {
                core::arch::asm!(
                    "mov {heap}, qword ptr fs:[{off}]",
                    heap = out(reg) heap,
                    off = in(reg) self.0,
                    options(readonly, nostack, preserves_flags)
                );
            }
            heap
        }

        /// Also a compiler barrier (the asm may touch any memory), so that no access to the
        /// heap moves across the guard's edges.
        #[inline(always)]
        pub fn set(self, heap: *mut Heap) {
            // SAFETY: as in `get`; only this thread touches its slot.
            unsafe {
                core::arch::asm!(
                    "mov qword ptr fs:[{off}], {heap}",
                    heap = in(reg) heap,
                    off = in(reg) self.0,
                    options(nostack, preserves_flags)
                );
            }
        }
    }

    /// `heap::BUSY`'s address, computed from `rip` (an ordinary reference to a static in this
    /// shared object costs a GOT load).
    #[inline(always)]
    pub fn busy() -> *mut Heap {
        let p: *mut Heap;
        // SAFETY: only computes an address.
        unsafe {
            core::arch::asm!(
                "lea {p}, [rip + {busy}]",
                p = out(reg) p,
                busy = sym crate::tiers::heap::lists::BUSY,
                options(pure, nomem, nostack, preserves_flags)
            );
        }
        p
    }
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
mod imp {
    use crate::tiers::heap::lists::Heap;
    use core::cell::Cell;

    thread_local! {
        static SLOT: Cell<*mut Heap> = const {
            Cell::new(&crate::tiers::heap::lists::EMPTY as *const Heap as *mut Heap)
        };
    }

    #[derive(Clone, Copy)]
    pub struct Slot;

    impl Slot {
        #[inline(always)]
        pub fn current() -> Slot {
            Slot
        }

        #[inline(always)]
        pub fn get(self) -> *mut Heap {
            SLOT.with(|s| s.get())
        }

        #[inline(always)]
        pub fn set(self, heap: *mut Heap) {
            SLOT.with(|s| s.set(heap))
        }
    }

    #[inline(always)]
    pub fn busy() -> *mut Heap {
        core::ptr::addr_of!(crate::tiers::heap::lists::BUSY) as *mut Heap
    }
}
