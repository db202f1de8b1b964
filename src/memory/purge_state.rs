//! What the decay (`pool::decay`) shares with the code that releases memory: how long freed
//! memory waits for reuse, what a decay left behind, and the state word of the purger thread
//! (`process::purger`), which a release wakes and a growing heap asks for.

use core::ptr;
use core::sync::atomic::{fence, AtomicU32, Ordering};

/// How long freed memory waits for reuse before it goes back to the kernel.
#[inline]
pub fn delay_ms() -> u64 {
    crate::platform::config::purge_delay_ms()
}

/// What a decay left behind.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Held {
    Nothing,
    /// Free memory that is not old enough yet.
    Later,
    /// Old enough, but beyond this decay's budget (which bounds how long an application thread's
    /// slow path, or the pool lock, is held): the purger goes on at once.
    More,
}

/// Heap size (SuperSlabs, or live large mappings) from which the purger is wanted.
pub const PURGER_HEAP_BYTES: usize = 32 << 20;

pub const NOT_STARTED: u32 = 0;
/// Starting, or running the decay.
pub const RUNNING: u32 = 1;
/// Asleep on `PURGER` (the futex word): nothing was held back.
pub const IDLE: u32 = 2;
/// Turned off, or it could not be started.
pub const OFF: u32 = 3;
/// The heap grew past `PURGER_HEAP_BYTES`: the next allocation slow path creates the purger.
pub const WANTED: u32 = 4;

static PURGER: AtomicU32 = AtomicU32::new(NOT_STARTED);

/// The purger's state (one of the constants above).
#[inline]
pub fn state() -> u32 {
    PURGER.load(Ordering::Relaxed)
}

pub fn set_state(s: u32) {
    PURGER.store(s, Ordering::Relaxed);
}

/// Moves the state from `from` to `to`; false when it was not `from`.
pub fn change_state(from: u32, to: u32) -> bool {
    PURGER.compare_exchange(from, to, Ordering::Relaxed, Ordering::Relaxed).is_ok()
}

/// Called after memory was released to a cache or a free span: wakes the purger when it
/// sleeps. One fence and one load.
pub fn wake_purger() {
    // SeqCst, pairing with `sleep_while_idle`'s: either the purger sees the memory just
    // released, or this sees IDLE and wakes it.
    fence(Ordering::SeqCst);
    if state() == IDLE && change_state(IDLE, RUNNING) {
        // SAFETY: FUTEX_WAKE on a static word.
        unsafe { libc::syscall(libc::SYS_futex, PURGER.as_ptr(), libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG, 1) };
    }
}

/// Asks for the purger to be created by the next allocation slow path (any context). A load
/// first: every large allocation of a big heap calls this, and a failing CAS would still take
/// the line exclusive.
pub fn want_purger() {
    if state() == NOT_STARTED {
        change_state(NOT_STARTED, WANTED);
    }
}

/// The purger's side of `wake_purger`: marks it IDLE, then, unless `nothing_held` (a last
/// decay, run after the mark) finds memory released meanwhile, sleeps until woken.
pub fn sleep_while_idle(nothing_held: impl FnOnce() -> bool) {
    set_state(IDLE);
    fence(Ordering::SeqCst);
    // Memory released after the purger's last decay, whose `wake_purger` may have seen RUNNING.
    if !nothing_held() {
        set_state(RUNNING);
        return;
    }
    while state() == IDLE {
        // SAFETY: FUTEX_WAIT on a static word; the kernel only reads it.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                PURGER.as_ptr(),
                libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
                IDLE,
                ptr::null::<libc::timespec>(),
            )
        };
    }
}
