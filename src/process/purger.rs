//! The purger: a background thread that runs the decay (`pool::decay`) while free memory is
//! held back, for the program that frees memory and then goes idle (it makes no slow-path call
//! that would tick the decay). It ticks every quarter of the delay while something waits and
//! sleeps on a futex, costing nothing, once nothing does; a release wakes it
//! (`purge_state::wake_purger`).
//!
//! It is wanted once the heap has grown past `PURGER_HEAP_BYTES` (memory worth giving back),
//! and created by the next allocation slow path (`start_if_wanted`, from `ffi::guarded`).
//! Smaller programs stay single-threaded, as some must: `unshare(CLONE_NEWUSER)` and `setns`
//! into a user namespace fail in a process with a second thread (bwrap, `unshare -U`); one
//! that grows past the bound and needs them sets `HAKMEM_PURGE_THREAD=0`. Never created by a
//! free: glibc frees thread-local storage while it holds the lock of its thread-stack cache
//! (`pthread_join` reclaiming stacks), which `pthread_create` takes, so a thread created from
//! such a free would deadlock. The fast paths never touch it. After `fork` the child has no
//! purger and starts its own the same way. `HAKMEM_PURGE_THREAD=0` turns it off.

use crate::memory::purge_state::{self, Held, OFF, RUNNING, WANTED};
use crate::platform::os;
use crate::pool::decay;
use crate::tiers::tls::Entered;
use core::ptr;

/// Creates the purger once it is wanted (see the module docs for why only allocation slow
/// paths call this). One load.
#[inline]
pub fn start_if_wanted() {
    if purge_state::state() == WANTED {
        start();
    }
}

#[cold]
fn start() {
    // Until init has read the options, HAKMEM_PURGE_THREAD is not known: a later call decides.
    if !crate::platform::config::loaded() || !purge_state::change_state(WANTED, RUNNING) {
        return;
    }
    if !crate::platform::config::get().purge_thread || !spawn() {
        purge_state::set_state(OFF);
    }
}

/// Creates the purger thread: detached, a small stack (256 KiB: the address space counts under
/// `ulimit -v`), every signal blocked (it must not take the program's). glibc's pthread_create
/// calls malloc: the caller is inside an entry point's guard, so such calls are served by the
/// bootstrap buffer.
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

/// One decay inside the guard, like any entry point (so that anything it calls that allocates
/// is served by the bootstrap buffer).
fn guarded_decay() -> Held {
    let e = Entered::enter();
    let held = if e.reentrant() { Held::Later } else { decay::run(os::now_ms()) };
    e.leave(e.heap);
    held
}

extern "C" fn purger_main(_: *mut libc::c_void) -> *mut libc::c_void {
    // SAFETY: PR_SET_NAME copies a NUL-terminated name of at most 16 bytes.
    unsafe { libc::prctl(libc::PR_SET_NAME, c"hakmem-purge".as_ptr()) };
    loop {
        match guarded_decay() {
            Held::More => {}
            Held::Later => sleep_ms(decay::tick_ms()),
            Held::Nothing => purge_state::sleep_while_idle(|| guarded_decay() == Held::Nothing),
        }
    }
}

/// The child of `fork` has no purger (only the forking thread goes on): if the parent wanted
/// or had one, the child's next allocation slow path creates its own. (From init's fork
/// handler, registered at init: a purger starting while another thread forks is covered.)
pub fn after_fork_child() {
    let state = purge_state::state();
    if state != OFF && state != purge_state::NOT_STARTED {
        purge_state::set_state(WANTED);
    }
}

fn sleep_ms(ms: u64) {
    let t = libc::timespec { tv_sec: (ms / 1000) as libc::time_t, tv_nsec: ((ms % 1000) * 1_000_000) as libc::c_long };
    // SAFETY: nanosleep reads `t` and writes nothing (null remainder).
    unsafe { libc::nanosleep(&t, ptr::null_mut()) };
}
