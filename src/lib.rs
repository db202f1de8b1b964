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
//! ```text
//!  ffi (exports, guard, errno) ─────► api (C semantics) ─┬─► heap  (Tiny ≤ 1 KiB, Mid ≤ 128 KiB):
//!                                                          │     per-thread slabs of one size class
//!                                                          │     └─► superslab (2 MiB regions, pool,
//!                                                          │         one owner heap per region)
//!                                                          ├─► large_span (≤ 1 MiB: a span of
//!                                                          │     its own in the SuperSlabs)
//!                                                          └─► large (> 1 MiB: own mapping + cache)
//!  arena: the reserved range SuperSlabs are carved from (free's "is it ours": a range check)
//!  pagemap: address → SuperSlab (flat bitmap) / large header (radix), O(1), "is it ours"
//!  slab + remote_free: free lists (owner's, and a lock-free one for other threads' frees)
//!  os: the only mmap/munmap/mprotect/madvise/mremap calls   bootstrap: for re-entered calls
//!  tls: the thread's heap (also the reentrancy guard)   init: ctor, fork, peers, foreign ptrs
//!  config: HAKMEM_* options   stats: per-tier counters   diag: messages without allocating
//!  decay: when free memory goes back to the kernel (slow paths, and the purge thread)
//!  huge: which mappings get transparent huge pages (HAKMEM_THP)
//!  check: the HAKMEM_CHECK validation mode (poison, red zones)
//! ```
//! malloc: size → class (table) → the thread heap's current slab for the class → pop (one test
//! that the encoded list's head lies in the slab; see `slab::Block`).
//! free: in the arena (else the pagemap bit) → SuperSlab → slab descriptor → owner? push to its
//! local list (which becomes the class's current slab) : push to its atomic remote list (tiny
//! blocks in chains, one CAS each). Every piece of metadata lives in memory mapped directly from
//! the kernel.

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
    pub use crate::blocks::remote_free::{push, push_chain, take_all, ListHead};
    pub use crate::blocks::span::Block;
    pub use crate::memory::arena::allowed as arena_allowed;
    pub use crate::pool::decay::delay_ms;
    pub use crate::pool::superslab::pool_counts;
    pub use crate::process::stats::{report, Report};
}
