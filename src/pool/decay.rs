//! The clock of free memory. Freed memory is kept for reuse for `delay_ms()`
//! (`HAKMEM_PURGE_DELAY_MS`, 100 ms), so that a program that frees a large structure and builds the
//! next one, or churns large buffers, does not fault every page back in; after that it goes back
//! to the kernel: free slabs' pages and empty SuperSlabs (`superslab::decay`), idle large
//! mappings (`large::expire`).
//!
//! `tick` runs the decay, at most every quarter of the delay, from the slow paths of whichever
//! thread passes: a span taken from the pool or given back, a large block allocated or freed.
//! A program that frees memory and then goes idle makes no such call, so a background thread,
//! the purger, runs the decay while free memory is held back: it ticks every quarter of the
//! delay while something waits and sleeps on a futex, costing nothing, once nothing does; a
//! release wakes it (`wake_purger`). It is wanted once the heap has grown past
//! `PURGER_HEAP_BYTES` (memory worth giving back), and created by the next allocation slow path
//! (`start_purger_if_wanted`, from `ffi::guarded`). Smaller programs stay single-threaded, as
//! some must: `unshare(CLONE_NEWUSER)` and `setns` into a user namespace fail in a process with
//! a second thread (bwrap, `unshare -U`); one that grows past the bound and needs them sets
//! `HAKMEM_PURGE_THREAD=0`. Never created by a free: glibc frees thread-local storage
//! while it holds the lock of its thread-stack cache (`pthread_join` reclaiming stacks), which
//! `pthread_create` takes, so a thread created from such a free would deadlock. The fast paths
//! never touch it. After `fork` the child has no purger and starts its own the same way.
//! `HAKMEM_PURGE_THREAD=0` turns it off.
//! `give_back_all` gives back everything free at once: for `malloc_trim`, and before an
//! allocation that found no memory fails.

use crate::platform::os;
use core::ptr;
use core::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

/// How long freed memory waits for reuse before it goes back to the kernel.
#[inline]
pub fn delay_ms() -> u64 {
    crate::platform::config::purge_delay_ms()
}

fn tick_ms() -> u64 {
    (delay_ms() / 4).max(1)
}

static NEXT_TICK_MS: AtomicU64 = AtomicU64::new(0);

/// Runs the decay when it is due (one thread per tick). Takes the pool and large-cache locks in
/// turn: callers hold neither.
pub fn tick() {
    let now = os::now_ms();
    let next = NEXT_TICK_MS.load(Ordering::Relaxed);
    if now < next || NEXT_TICK_MS.compare_exchange(next, now + tick_ms(), Ordering::Relaxed, Ordering::Relaxed).is_err()
    {
        return;
    }
    run(now);
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

/// One decay.
pub(crate) fn run(now: u64) -> Held {
    let slabs = crate::pool::superslab::decay(now);
    let large = if crate::pool::large::expire(now) { Held::Later } else { Held::Nothing };
    os::retry_unmaps();
    slabs.max(large)
}

/// Gives back at once everything free that the decay would keep for a while (the large cache,
/// empty SuperSlabs, free slabs' pages); true when something was given back. Called by
/// `malloc_trim`, and when an allocation finds no memory, which then retries once: under an
/// address-space limit (`ulimit -v`) freed memory counts until it is unmapped, so a program
/// that frees one size and allocates another would otherwise fail.
pub fn give_back_all() -> bool {
    let given = crate::pool::large::trim() + crate::pool::superslab::trim();
    os::retry_unmaps();
    given > 0
}

// ---------------------------------------------------------------------------------------------
// The purger.

/// Heap size (SuperSlabs, or live large mappings) from which the purger is wanted.
pub const PURGER_HEAP_BYTES: usize = 32 << 20;

const NOT_STARTED: u32 = 0;
/// Starting, or running the decay.
const RUNNING: u32 = 1;
/// Asleep on `PURGER` (the futex word): nothing was held back.
const IDLE: u32 = 2;
/// Turned off, or it could not be started.
const OFF: u32 = 3;
/// The heap grew past `PURGER_HEAP_BYTES`: the next allocation slow path creates the purger.
const WANTED: u32 = 4;

static PURGER: AtomicU32 = AtomicU32::new(NOT_STARTED);

/// Called after memory was released to a cache or a free span: wakes the purger when it
/// sleeps. One fence and one load.
pub fn wake_purger() {
    // SeqCst, pairing with the purger's after it stores IDLE: either it sees the memory just
    // released, or this sees IDLE and wakes it.
    fence(Ordering::SeqCst);
    if PURGER.load(Ordering::Relaxed) == IDLE
        && PURGER.compare_exchange(IDLE, RUNNING, Ordering::Relaxed, Ordering::Relaxed).is_ok()
    {
        futex_wake();
    }
}

/// Asks for the purger to be created by the next allocation slow path (any context). A load
/// first: every large allocation of a big heap calls this, and a failing CAS would still take
/// the line exclusive.
pub fn want_purger() {
    if PURGER.load(Ordering::Relaxed) == NOT_STARTED {
        let _ = PURGER.compare_exchange(NOT_STARTED, WANTED, Ordering::Relaxed, Ordering::Relaxed);
    }
}

/// Creates the purger once it is wanted (see the module docs for why only allocation slow
/// paths call this). One load.
#[inline]
pub fn start_purger_if_wanted() {
    if PURGER.load(Ordering::Relaxed) == WANTED {
        start();
    }
}

#[cold]
fn start() {
    // Until init has read the options, HAKMEM_PURGE_THREAD is not known: a later call decides.
    if !crate::process::init::done()
        || PURGER.compare_exchange(WANTED, RUNNING, Ordering::Relaxed, Ordering::Relaxed).is_err()
    {
        return;
    }
    if !crate::platform::config::get().purge_thread || !spawn() {
        PURGER.store(OFF, Ordering::Relaxed);
    }
}

/// Creates the purger thread: detached, a small stack (256 KiB: the address space counts under
/// `ulimit -v`), every signal blocked (it must not take the program's). glibc's pthread_create
/// calls malloc: the caller is inside an entry point's guard, so such calls are served by the
/// bootstrap arena.
fn spawn() -> bool {
    // SAFETY: plain pthread calls on locals; the attribute and signal set are initialised
    // before use, and the caller's signal mask is restored.
    unsafe {
        let mut attr: libc::pthread_attr_t = core::mem::zeroed();
        if libc::pthread_attr_init(&mut attr) != 0 {
            return false;
        }
        libc::pthread_attr_setdetachstate(&mut attr, libc::PTHREAD_CREATE_DETACHED);
        libc::pthread_attr_setstacksize(&mut attr, 256 << 10);
        let mut all: libc::sigset_t = core::mem::zeroed();
        let mut old: libc::sigset_t = core::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let mut thread: libc::pthread_t = 0;
        let r = libc::pthread_create(&mut thread, &attr, purger_main, ptr::null_mut());
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, ptr::null_mut());
        libc::pthread_attr_destroy(&mut attr);
        r == 0
    }
}

extern "C" fn purger_main(_: *mut libc::c_void) -> *mut libc::c_void {
    // SAFETY: PR_SET_NAME copies a NUL-terminated name of at most 16 bytes.
    unsafe { libc::prctl(libc::PR_SET_NAME, c"hakmem-purge".as_ptr()) };
    loop {
        match crate::ffi::guarded_decay(os::now_ms()) {
            Held::More => continue,
            Held::Later => {
                sleep_ms(tick_ms());
                continue;
            }
            Held::Nothing => {}
        }
        PURGER.store(IDLE, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        // Memory released after the decay above, whose `wake_purger` may have seen RUNNING.
        if crate::ffi::guarded_decay(os::now_ms()) != Held::Nothing {
            PURGER.store(RUNNING, Ordering::Relaxed);
            continue;
        }
        while PURGER.load(Ordering::Relaxed) == IDLE {
            futex_wait(IDLE);
        }
    }
}

/// The child of `fork` has no purger (only the forking thread goes on): if the parent wanted
/// or had one, the child's next allocation slow path creates its own.
pub fn after_fork_child() {
    let state = PURGER.load(Ordering::Relaxed);
    if state != OFF && state != NOT_STARTED {
        PURGER.store(WANTED, Ordering::Relaxed);
    }
}

fn sleep_ms(ms: u64) {
    let t = libc::timespec { tv_sec: (ms / 1000) as libc::time_t, tv_nsec: ((ms % 1000) * 1_000_000) as libc::c_long };
    // SAFETY: nanosleep reads `t` and writes nothing (null remainder).
    unsafe { libc::nanosleep(&t, ptr::null_mut()) };
}

fn futex_wait(expected: u32) {
    // SAFETY: FUTEX_WAIT on a static word; the kernel only reads it.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            PURGER.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            expected,
            ptr::null::<libc::timespec>(),
        )
    };
}

fn futex_wake() {
    // SAFETY: FUTEX_WAKE on a static word.
    unsafe { libc::syscall(libc::SYS_futex, PURGER.as_ptr(), libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG, 1) };
}
