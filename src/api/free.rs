//! free's tier decision, beside malloc's (`alloc`): a pointer in the arena, or in a SuperSlab
//! the pagemap knows, is a block of the thread heaps (`tiers::heap::free`), whichever span
//! holds it (a Large span's too); else the pagemap's large headers, the bootstrap buffer, or
//! nothing of ours (foreign: `process::foreign`).

use crate::blocks::block::Block;
use crate::blocks::span::Span;
use crate::memory::arena;
use crate::memory::bootstrap;
use crate::memory::pagemap;
use crate::platform::diag::{self, fatal};
use crate::pool::decay;
use crate::pool::large;
use crate::process::foreign;
use crate::process::init;
use crate::tiers::heap::free as heap_free;
use crate::tiers::heap::lists::Heap;
use crate::tiers::tls;

/// Where a pointer passed to free/realloc/malloc_usable_size came from.
pub enum Owner {
    Span(*mut Span, *mut Block),
    Large(*mut large::LargeHeader),
    Bootstrap,
    Foreign,
}

/// Classifies `p` (non-null) without reading memory that may not be ours; aborts with a message
/// naming `call` on a pointer into our heap that is not a block start. Safe for any `p`: it
/// dereferences only hakmem metadata that the arena or the pagemap says is mapped.
#[allow(clippy::not_unsafe_ptr_arg_deref)]
pub fn owner_of(p: *mut u8, call: &str) -> Owner {
    if arena::contains(p as usize) || pagemap::is_superslab(p as usize) {
        // SAFETY: `p` lies in a live SuperSlab (the pagemap said so) or in the arena.
        let (slab, b) = unsafe { heap_free::span_block(p, call) };
        return Owner::Span(slab, b);
    }
    let hdr = pagemap::large_header(p as usize) as *mut large::LargeHeader;
    if hdr.is_null() {
        return if bootstrap::contains(p) { Owner::Bootstrap } else { Owner::Foreign };
    }
    // SAFETY: the pagemap names a live large header for this chunk.
    match unsafe { large::classify(hdr, p) } {
        Some(true) => Owner::Large(hdr),
        Some(false) => diag::invalid_pointer(call, p, |_| {}),
        None => Owner::Foreign,
    }
}

/// Frees `p`. Null is a no-op (the null page is not in the arena, so the fast path needs no
/// test). A block of a slab `heap` does not own (always so for the sentinels, `BUSY` included)
/// takes the remote path. The fast path calls nothing (its slow paths are reached by tail calls,
/// so that it saves no registers) and so runs outside the reentrancy guard; every slow path
/// takes the guard itself (`tls::guard`).
///
/// # Safety
/// `heap` is the calling thread's heap or a sentinel, as its slot holds it (`tls::heap`) or an
/// entry point took it; `p` is null or was returned by this allocator and not freed since
/// (violations are detected where cheap, and abort).
#[inline(always)]
pub unsafe fn free(heap: *mut Heap, p: *mut u8) {
    if !arena::contains(p as usize) {
        return free_outside_arena(p, heap);
    }
    // SAFETY: `p` lies in a SuperSlab of the arena, whose descriptors are readable (and all
    // unused when it is retired).
    unsafe { heap_free::free_in_superslab(p, heap) }
}

/// `free` outside the arena: a SuperSlab mapped on its own (there is no arena, or it is full),
/// found through the pagemap, or anything else.
#[inline(never)]
fn free_outside_arena(p: *mut u8, heap: *mut Heap) {
    if pagemap::is_superslab(p as usize) {
        // SAFETY: the pagemap says `p` lies in a live SuperSlab.
        return unsafe { heap_free::free_in_superslab(p, heap) };
    }
    tls::guard(|| free_not_slab(p))
}

/// Inside the guard.
#[cold]
#[inline(never)]
fn free_not_slab(p: *mut u8) {
    if !p.is_null() {
        match owner_of(p, "free") {
            Owner::Large(hdr) => {
                // SAFETY: `owner_of` validated the header and that `p` is its block.
                unsafe { large::free(hdr) };
                decay::tick();
            }
            Owner::Bootstrap => {}
            Owner::Foreign => {
                init::ensure();
                foreign::free(p)
            }
            Owner::Span(..) => fatal("pagemap changed under free"),
        }
    }
}
