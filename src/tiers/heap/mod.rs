//! The per-thread heap (the Tiny and Mid tiers' thread cache): for each size class, the spans
//! the thread owns, and the malloc/free fast paths over them. `lists`: the record and its
//! per-class span lists; `alloc`: malloc; `free`: free of a SuperSlab block; `pending`: remote
//! frees held back; `lifecycle`: creation, exit, parking, the registry, trim.
//!
//! * malloc: pop the first block of the class's current slab (one test); when that slab is empty,
//!   `alloc_slow` collects pending frees, walks the class's other slabs, adopts an abandoned slab,
//!   or takes a new span from the SuperSlab pool (abandoning parked heaps first if the pool
//!   would grow).
//! * free: a range check finds the pointer in the arena (else the pagemap does), the SuperSlab
//!   gives the slab; the owner pushes to the slab's `free` list, any other thread to its atomic
//!   `thread_free` (see `blocks::span`).
//! * A new thread starts on the static `EMPTY` heap, whose slabs are all the empty sentinel, so its
//!   first malloc falls into the slow path, which creates its heap (`thread_heap`). While a slow
//!   path that may call out runs, the thread's slot holds the static `BUSY` heap (see `tls`). At
//!   thread exit the heap is parked for the next thread to take over, or its slabs are abandoned
//!   for adoption (see `thread_exit`), and the thread switches to `DEAD`: later mallocs on that
//!   thread (from other TLS destructors) are served by a shared, locked `ORPHAN` heap, and its
//!   frees take the remote path.

pub(crate) mod alloc;
pub(crate) mod free;
pub(crate) mod lifecycle;
pub(crate) mod lists;
pub(crate) mod pending;
