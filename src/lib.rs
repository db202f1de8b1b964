//! hakmem: a general-purpose memory allocator, a drop-in replacement for malloc.
//!
//! # Use
//! As a Rust program's global allocator (`hakmem = "0.1"` in `[dependencies]`):
//! ```
//! #[global_allocator]
//! static GLOBAL: hakmem::Hakmem = hakmem::Hakmem;
//!
//! let v: Vec<u64> = (0..1000).collect();
//! assert_eq!(v.iter().sum::<u64>(), 499_500);
//! ```
//! Only the Rust heap moves to hakmem: the C code the program calls keeps glibc's malloc. With
//! the `interpose` feature the crate also exports glibc's names (`malloc`, `free`, ...), so that
//! every allocation of the process is hakmem's; that is what the preload library
//! (`make lib`: `LD_PRELOAD=target/release/libhakmem.so program`) is built with. Enable it in
//! the binary only: a library that enabled it would force it on every program that uses it. (A
//! binary that enables it without naming `Hakmem` must still link the crate: `use hakmem as _;`.)
//!
//! From C, or through the prefixed functions from Rust: [`ffi`] (`hak_malloc`, `hak_free`, ...,
//! declared in `include/hakmem.h`), which never interpose. Options are `HAKMEM_*` environment
//! variables read once at start-up (README).
//!
//! # Architecture
//! Layers, each a folder, each using only the layers below it (`scripts/check_layers`, run by
//! `make test`, fails on a cycle or an upward import):
//! ```text
//!  exports   ffi (glibc's names, hak_*; the guard, errno)   global_alloc (Rust's GlobalAlloc)
//!  api       alloc: malloc's tier decision, calloc, aligned, realloc, usable size, trim
//!            free: free's tier decision (arena → heap; pagemap → heap or Large; bootstrap;
//!            foreign)
//!  process   init (ctor, options, secrets, fork)  foreign (pointers not ours)
//!            purger (the decay's thread)  stats (reports, mallinfo)
//!  tiers     tls (the thread's heap slot, also the reentrancy guard)
//!            heap/ (Tiny ≤ 1 KiB, Mid ≤ 128 KiB): lists (the record, per-class span lists),
//!            alloc, free, pending (held-back remote frees), lifecycle (creation, exit and
//!            parking, registry, orphan heap, trim)
//!            large_span (Large ≤ 1 MiB: a span of its own)
//!  pool      superslab (2 MiB regions, the pool of spans, affinity, abandoned spans)
//!            large (> 1 MiB: a mapping each, cache)   decay (gives both back to the kernel)
//!  blocks    span (a span's descriptor and free lists)  block (encoded links, freed keys)
//!            remote_free (the lock-free queue)  size_class  check (HAKMEM_CHECK)
//!  memory    arena (the reserved range: free's "is it ours")  pagemap (address → SuperSlab
//!            or large header)  huge (THP)  bootstrap (re-entered calls)  purge_state
//!  platform  os (every mmap/munmap/madvise)  sync (the lock)  diag (messages without
//!            allocating)  config (HAKMEM_*)  errno  counters (HAKMEM_STATS bytes)
//! ```
//! malloc: size → class (table) → the thread heap's current span for the class → pop (one test
//! that the encoded list's head lies in the span; see `blocks::block`).
//! free: in the arena (else the pagemap bit) → SuperSlab → span descriptor → owner? push to its
//! local list (which becomes the class's current span) : push to its atomic remote list (tiny
//! blocks in chains, one CAS each). Every piece of metadata lives in memory mapped directly from
//! the kernel.

// `no_std` where the thread slot is our own TLS word (`tiers::tls`); elsewhere it is std's
// `thread_local!`.
#![cfg_attr(all(not(test), target_arch = "x86_64", target_os = "linux"), no_std)]
#![deny(unsafe_op_in_unsafe_fn)]

mod api;
mod blocks;
pub mod ffi;
mod global_alloc;
mod memory;
mod platform;
mod pool;
mod process;
mod tiers;

pub use global_alloc::Hakmem;
pub use process::stats::{stats, ClassStats, Stats};

/// Not API: what hakmem's own tests look into. May change in any release.
#[doc(hidden)]
pub mod internal {
    pub use crate::blocks::block::Block;
    pub use crate::blocks::remote_free::{last, push, push_chain, take_all, ListHead};
    pub use crate::memory::arena::allowed as arena_allowed;
    pub use crate::memory::purge_state::delay_ms;
    pub use crate::pool::superslab::pool_counts;
    pub use crate::process::stats::{report, Report};
}
