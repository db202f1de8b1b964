//! hakmem: a general-purpose memory allocator, a drop-in replacement for malloc.
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
//!  decay: when free memory goes back to the kernel (driven from the slow paths)
//!  check: the HAKMEM_CHECK validation mode (poison, red zones)
//! ```
//! malloc: size → class (table) → the thread heap's current slab for the class → pop (one test
//! that the encoded list's head lies in the slab; see `slab::Block`).
//! free: in the arena (else the pagemap bit) → SuperSlab → slab descriptor → owner? push to its
//! local list (which becomes the class's current slab) : push to its atomic remote list (tiny
//! blocks in chains, one CAS each). Every piece of metadata lives in memory mapped directly from
//! the kernel.

#![deny(unsafe_op_in_unsafe_fn)]

pub mod api;
pub mod arena;
pub mod bootstrap;
pub mod check;
pub mod config;
pub mod decay;
pub mod diag;
pub mod ffi;
pub mod heap;
pub mod init;
pub mod large;
pub mod large_span;
pub mod os;
pub mod pagemap;
pub mod remote_free;
pub mod size_class;
pub mod slab;
pub mod stats;
pub mod superslab;
pub mod sync;
pub mod tls;
