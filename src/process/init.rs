//! Process integration: one-time initialisation, fork handlers, the peer-allocator check and
//! the foreign-pointer policy.
//!
//! Init runs once, from the library constructor or from the first thread heap's creation,
//! whichever comes first, always under the caller's reentrancy guard (so `dlsym`/`pthread_atfork`
//! allocating inside it are served by the bootstrap arena). Threads that arrive while another
//! thread initialises do not wait for it: the allocator works with the default options until init
//! has published its results, so no lock order can deadlock against the dynamic loader's.
//!
//! Foreign pointers (not from hakmem) reaching free/realloc/malloc_usable_size: with jemalloc or
//! tcmalloc in the process at init (Debian's redis-server links jemalloc and hands out pointers
//! from `mallocx`; a program linked with `-ltcmalloc_minimal` may call `tc_malloc`), they go to
//! that allocator's own functions; otherwise they abort with a message, as glibc does for an
//! invalid pointer. `HAKMEM_FOREIGN` changes the policy (see `config`).

use crate::platform::config::{self, ForeignPolicy};
use crate::platform::diag;
use core::ffi::{c_int, c_void, CStr};
use core::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

const NOT_STARTED: u8 = 0;
const RUNNING: u8 = 1;
const DONE: u8 = 2;
static STATE: AtomicU8 = AtomicU8::new(NOT_STARTED);

static NEXT_FREE: AtomicUsize = AtomicUsize::new(0);
static NEXT_REALLOC: AtomicUsize = AtomicUsize::new(0);
static NEXT_USABLE_SIZE: AtomicUsize = AtomicUsize::new(0);
pub static FOREIGN_FREES: AtomicUsize = AtomicUsize::new(0);
/// Whether another full allocator (jemalloc, tcmalloc) is loaded in the process (see `find_peer`).
static PEER_LOADED: AtomicU8 = AtomicU8::new(0);

/// Whether init has run (the options are read).
pub fn done() -> bool {
    STATE.load(Ordering::Acquire) == DONE
}

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
    let mut peer_name = [0u8; 256];
    let peer = find_peer(&mut peer_name);
    PEER_LOADED.store(peer as u8, Ordering::Relaxed);
    let mut policy = config::get().foreign;
    if policy == ForeignPolicy::Auto {
        policy = if peer { ForeignPolicy::Next } else { ForeignPolicy::Abort };
        config::set_foreign(policy);
    }
    if policy == ForeignPolicy::Next {
        resolve_next(if peer { Some(&peer_name) } else { None });
    }
    if config::get().verbose {
        config::print_in_effect();
        if peer {
            let len = peer_name.iter().position(|&b| b == 0).unwrap_or(peer_name.len());
            crate::platform::diag::Line::new()
                .str("hakmem: another allocator is loaded: ")
                .bytes(&peer_name[..len])
                .str("\n")
                .write_stderr();
        }
    }
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
    crate::blocks::span::seed_secret(a ^ aslr, b ^ aslr.rotate_left(32));
    SEED.store(SEEDED, Ordering::Release);
}

/// The allocators whose own entry points (`mallocx`, `tc_malloc`, ...) hand out pointers that
/// hakmem does not own, so that their `free` must be passed on (see `ForeignPolicy::Auto`).
const PEERS: [&[u8]; 2] = [b"libjemalloc", b"libtcmalloc"];

/// Whether a peer allocator (jemalloc, tcmalloc in any flavour) is mapped into the process; its
/// path is copied into `name`.
fn find_peer(name: &mut [u8; 256]) -> bool {
    unsafe extern "C" fn visit(info: *mut libc::dl_phdr_info, _size: usize, data: *mut c_void) -> c_int {
        // SAFETY: dl_iterate_phdr passes a valid info record; `data` is our name buffer.
        unsafe {
            let n = (*info).dlpi_name;
            if n.is_null() {
                return 0;
            }
            let bytes = CStr::from_ptr(n).to_bytes();
            let base = bytes.rsplit(|&c| c == b'/').next().unwrap_or(bytes);
            if PEERS.iter().any(|peer| base.starts_with(peer)) && bytes.len() < 255 {
                let out = &mut *data.cast::<[u8; 256]>();
                out[..bytes.len()].copy_from_slice(bytes);
                out[bytes.len()] = 0;
                return 1;
            }
        }
        0
    }
    // SAFETY: the callback matches dl_iterate_phdr's contract and does not allocate.
    unsafe { libc::dl_iterate_phdr(Some(visit), (name as *mut [u8; 256]).cast()) == 1 }
}

/// Resolves free/realloc/malloc_usable_size of the peer allocator (when `lib` names it) or of
/// the next object in link order.
fn resolve_next(lib: Option<&[u8; 256]>) {
    // SAFETY: dlopen with RTLD_NOLOAD only returns a handle to an already loaded object; dlsym
    // may allocate, which the caller's reentrancy guard routes to the bootstrap arena.
    unsafe {
        let handle = match lib {
            Some(name) => libc::dlopen(name.as_ptr().cast(), libc::RTLD_NOLOAD | libc::RTLD_LAZY),
            None => libc::RTLD_NEXT,
        };
        if handle.is_null() {
            return;
        }
        let sym = |s: &CStr| libc::dlsym(handle, s.as_ptr()) as usize;
        NEXT_FREE.store(sym(c"free"), Ordering::Relaxed);
        NEXT_REALLOC.store(sym(c"realloc"), Ordering::Relaxed);
        NEXT_USABLE_SIZE.store(sym(c"malloc_usable_size"), Ordering::Relaxed);
    }
}

pub fn peer_loaded() -> bool {
    PEER_LOADED.load(Ordering::Relaxed) != 0
}

fn policy() -> ForeignPolicy {
    ensure();
    config::get().foreign
}

#[cold]
fn no_next(call: &str, p: *mut u8) -> ! {
    let mut line = diag::Line::new();
    line.str(call).str("(): invalid pointer (not allocated by hakmem)");
    // SAFETY: the line holds only ASCII.
    diag::fatal_ptr(unsafe { core::str::from_utf8_unchecked(line.as_bytes()) }, p as usize)
}

/// free() of a pointer hakmem did not hand out.
#[cold]
pub fn free_foreign(p: *mut u8) {
    FOREIGN_FREES.fetch_add(1, Ordering::Relaxed);
    match policy() {
        ForeignPolicy::Ignore => {}
        ForeignPolicy::Next => match NEXT_FREE.load(Ordering::Relaxed) {
            0 => no_next("free", p),
            // SAFETY: the address was resolved by dlsym for "free".
            f => unsafe { core::mem::transmute::<usize, unsafe extern "C" fn(*mut c_void)>(f)(p.cast()) },
        },
        _ => no_next("free", p),
    }
}

/// realloc() of a pointer hakmem did not hand out: Some(result) when the next allocator took it.
#[cold]
pub fn realloc_foreign(p: *mut u8, size: usize) -> *mut u8 {
    match (policy(), NEXT_REALLOC.load(Ordering::Relaxed)) {
        (ForeignPolicy::Next, f) if f != 0 => {
            // SAFETY: the address was resolved by dlsym for "realloc".
            unsafe {
                core::mem::transmute::<usize, unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void>(f)(
                    p.cast(),
                    size,
                )
                .cast()
            }
        }
        _ => no_next("realloc", p),
    }
}

#[cold]
pub fn usable_size_foreign(p: *mut u8) -> usize {
    match (policy(), NEXT_USABLE_SIZE.load(Ordering::Relaxed)) {
        (ForeignPolicy::Next, f) if f != 0 => {
            // SAFETY: the address was resolved by dlsym for "malloc_usable_size".
            unsafe { core::mem::transmute::<usize, unsafe extern "C" fn(*mut c_void) -> usize>(f)(p.cast()) }
        }
        _ => 0,
    }
}

// Fork: take every lock so that no other thread holds one at the instant of the fork, release
// them in the parent, and reset them in the child (its only thread is the one that forked).
// Order: orphan heap, then registry, pool, large cache, deferred unmaps (the orphan heap calls
// into the pool; any of them may unmap).

unsafe extern "C" fn prefork() {
    crate::tiers::heap::ORPHAN_LOCK.acquire();
    crate::tiers::heap::REGISTRY_LOCK.acquire();
    crate::pool::superslab::POOL_LOCK.acquire();
    crate::pool::large::CACHE_LOCK.acquire();
    crate::platform::os::DEFERRED_LOCK.acquire();
}

unsafe extern "C" fn postfork_parent() {
    crate::platform::os::DEFERRED_LOCK.release();
    crate::pool::large::CACHE_LOCK.release();
    crate::pool::superslab::POOL_LOCK.release();
    crate::tiers::heap::REGISTRY_LOCK.release();
    crate::tiers::heap::ORPHAN_LOCK.release();
}

unsafe extern "C" fn postfork_child() {
    crate::platform::os::DEFERRED_LOCK.reset_in_child();
    crate::pool::large::CACHE_LOCK.reset_in_child();
    crate::pool::superslab::POOL_LOCK.reset_in_child();
    crate::tiers::heap::after_fork_child();
    crate::pool::decay::after_fork_child();
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
