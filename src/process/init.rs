//! Process integration: one-time initialisation (the options, the free lists' secret, the
//! foreign-pointer policy: `foreign`), the fork handlers, the library constructor and
//! destructor.
//!
//! Init runs once, from the library constructor or from the first thread heap's creation,
//! whichever comes first, always under the caller's reentrancy guard (so `dlsym`/`pthread_atfork`
//! allocating inside it are served by the bootstrap buffer). Threads that arrive while another
//! thread initialises do not wait for it: the allocator works with the default options until init
//! has published its results, so no lock order can deadlock against the dynamic loader's.

use crate::platform::config;
use crate::platform::os::DEFERRED;
use crate::pool::large::CACHE;
use crate::pool::superslab::POOL;
use crate::process::foreign;
use crate::tiers::heap::lifecycle::{ORPHAN, REGISTRY};
use core::sync::atomic::{AtomicU8, Ordering};

const NOT_STARTED: u8 = 0;
const RUNNING: u8 = 1;
const DONE: u8 = 2;
static STATE: AtomicU8 = AtomicU8::new(NOT_STARTED);

#[inline]
pub fn ensure() {
    if STATE.load(Ordering::Acquire) != DONE {
        init_slow();
    }
}

#[cold]
#[inline(never)]
fn init_slow() {
    // First, and on every thread: the free lists' encoding must not change once a block exists.
    seed_secret();
    if STATE.compare_exchange(NOT_STARTED, RUNNING, Ordering::AcqRel, Ordering::Acquire).is_err() {
        return;
    }
    config::load_from_environ();
    crate::pool::large::set_max_map_bytes(crate::platform::os::backable_bytes());
    if config::get().stats {
        crate::process::stats::keep_report_fd();
    }
    // SAFETY: the handlers only lock/unlock our own statically initialised mutexes.
    unsafe { libc::pthread_atfork(Some(prefork), Some(postfork_parent), Some(postfork_child)) };
    foreign::settle_policy();
    // Release: publishes the options and function pointers to threads that see DONE.
    STATE.store(DONE, Ordering::Release);
}

/// Seeds the secret of the free-list encoding once. A thread that finds another seeding waits
/// for it (a few instructions: `getauxval` takes no lock and never allocates), unlike the rest
/// of init, which a second thread does not wait for (it may hold a lock init needs).
fn seed_secret() {
    const UNSEEDED: u8 = 0;
    const SEEDING: u8 = 1;
    const SEEDED: u8 = 2;
    static SEED: AtomicU8 = AtomicU8::new(UNSEEDED);
    if SEED.load(Ordering::Acquire) == SEEDED {
        return;
    }
    if SEED.compare_exchange(UNSEEDED, SEEDING, Ordering::Acquire, Ordering::Acquire).is_err() {
        while SEED.load(Ordering::Acquire) != SEEDED {
            core::hint::spin_loop();
        }
        return;
    }
    // SAFETY: getauxval has no preconditions; AT_RANDOM points at 16 random bytes the kernel put
    // on the initial stack, readable for the life of the process.
    let (a, b) = unsafe {
        let p = libc::getauxval(libc::AT_RANDOM) as *const usize;
        if p.is_null() {
            (0, 0)
        } else {
            (p.read_unaligned(), p.add(1).read_unaligned())
        }
    };
    let aslr = &STATE as *const _ as usize;
    crate::blocks::block::seed_secret(a ^ aslr, b ^ aslr.rotate_left(32));
    SEED.store(SEEDED, Ordering::Release);
}

// Fork: take every lock so that no other thread holds one at the instant of the fork, release
// them in the parent, and reset them in the child (its only thread is the one that forked), in
// the lock order (`platform::sync`).

unsafe extern "C" fn prefork() {
    // SAFETY: released in the parent, reset in the child, right after the fork.
    unsafe {
        ORPHAN.acquire();
        REGISTRY.acquire();
        POOL.acquire();
        CACHE.acquire();
        DEFERRED.acquire();
    }
}

unsafe extern "C" fn postfork_parent() {
    // SAFETY: `prefork` took them on this thread.
    unsafe {
        DEFERRED.release();
        CACHE.release();
        POOL.release();
        REGISTRY.release();
        ORPHAN.release();
    }
}

unsafe extern "C" fn postfork_child() {
    // The other threads' heaps are gone with their threads; only the forking thread's heap
    // stays live. Their slabs stay owned by records nobody uses (their memory is lost to the
    // child, as with every allocator that keeps per-thread heaps).
    // SAFETY: the child's only thread runs this first.
    unsafe {
        DEFERRED.reset_in_child();
        CACHE.reset_in_child();
        POOL.reset_in_child();
        REGISTRY.reset_in_child();
        ORPHAN.reset_in_child();
    }
    crate::process::purger::after_fork_child();
}

/// Library constructor: initialise before `main` when nothing allocated earlier.
#[ctor::ctor]
fn hakmem_init() {
    // The guard makes allocations inside init re-entered calls.
    let e = crate::tiers::tls::Entered::enter();
    ensure();
    e.leave(e.heap);
}

/// Library destructor: the `HAKMEM_STATS` report.
#[ctor::dtor]
fn hakmem_fini() {
    if config::get().stats {
        crate::process::stats::print();
    }
}
