//! The foreign-pointer policy: pointers not from hakmem that reach free, realloc or
//! malloc_usable_size. With jemalloc or tcmalloc in the process at init (Debian's redis-server
//! links jemalloc and hands out pointers from `mallocx`; a program linked with
//! `-ltcmalloc_minimal` may call `tc_malloc`), they go to that allocator's own functions;
//! otherwise they abort with a message, as glibc does for an invalid pointer. `HAKMEM_FOREIGN`
//! changes the policy (see `config`). Callers have run init (`init::ensure`).

use crate::platform::config::{self, ForeignPolicy};
use crate::platform::diag;
use core::ffi::{c_int, c_void, CStr};
use core::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

static NEXT_FREE: AtomicUsize = AtomicUsize::new(0);
static NEXT_REALLOC: AtomicUsize = AtomicUsize::new(0);
static NEXT_USABLE_SIZE: AtomicUsize = AtomicUsize::new(0);
pub static FOREIGN_FREES: AtomicUsize = AtomicUsize::new(0);
/// Whether another full allocator (jemalloc, tcmalloc) is loaded in the process (see `find_peer`).
static PEER_LOADED: AtomicU8 = AtomicU8::new(0);

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
    // may allocate, which the caller's reentrancy guard routes to the bootstrap buffer.
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
pub fn free(p: *mut u8) {
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

/// realloc() of a pointer hakmem did not hand out, passed on to the next allocator.
#[cold]
pub fn realloc(p: *mut u8, size: usize) -> *mut u8 {
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
pub fn usable_size(p: *mut u8) -> usize {
    match (policy(), NEXT_USABLE_SIZE.load(Ordering::Relaxed)) {
        (ForeignPolicy::Next, f) if f != 0 => {
            // SAFETY: the address was resolved by dlsym for "malloc_usable_size".
            unsafe { core::mem::transmute::<usize, unsafe extern "C" fn(*mut c_void) -> usize>(f)(p.cast()) }
        }
        _ => 0,
    }
}

/// At init: looks for a peer allocator in the process, settles the `Auto` policy by it, and
/// resolves the functions foreign pointers are passed to. With `HAKMEM_VERBOSE`, prints the
/// options in effect and the peer found.
pub fn settle_policy() {
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
            diag::Line::new()
                .str("hakmem: another allocator is loaded: ")
                .bytes(&peer_name[..len])
                .str("\n")
                .write_stderr();
        }
    }
}
