//! A thread's full slabs whose blocks other threads free are found again by its slow path,
//! which looks at a bounded number of full slabs per call, round robin (`heap::alloc_from`):
//! the thread reuses them instead of taking fresh spans, however deep in its full list they lie.
//!
//! Alone in its own test binary, so that the pool's span counters see only this test.

mod common;

use common::spans_in_use;
use hakmem::ffi::{hak_free, hak_malloc};
use std::ffi::c_void;

/// 1 KiB blocks: 64 to a 64 KiB slab, one slab to a span.
const SIZE: usize = 1024;
const PER_SLAB: usize = 64;
/// More full slabs than one look at the full list covers (32), so that the freed ones, the
/// oldest, lie past several looks.
const SLABS: usize = 100;
const FREED_SLABS: usize = 8;

fn alloc_blocks(n: usize) -> Vec<usize> {
    (0..n)
        .map(|i| {
            let p = hak_malloc(SIZE).cast::<u8>();
            assert!(!p.is_null());
            // SAFETY: p holds SIZE bytes.
            unsafe { p.write_bytes(i as u8, SIZE) };
            p as usize
        })
        .collect()
}

#[test]
fn full_slabs_freed_by_another_thread_are_reused() {
    std::thread::spawn(|| {
        let mut blocks = alloc_blocks(SLABS * PER_SLAB);
        // The first blocks carved fill the first slabs: another thread frees those slabs
        // entirely, and exits (its pending frees reach the slabs).
        let freed: Vec<usize> = blocks.drain(..FREED_SLABS * PER_SLAB).collect();
        std::thread::spawn(move || {
            for p in freed {
                // SAFETY: a live block from hak_malloc, freed once.
                unsafe { hak_free(p as *mut c_void) };
            }
        })
        .join()
        .unwrap();

        let before = spans_in_use();
        blocks.extend(alloc_blocks(FREED_SLABS * PER_SLAB));
        let grown = spans_in_use() as i64 - before as i64;
        // Without the look at the full list, or with one that never reached the oldest slabs,
        // the blocks would take FREED_SLABS fresh spans; the round robin reaches them after a
        // few slab exhaustions, each of which may take one fresh span meanwhile.
        assert!(grown <= (SLABS / 32 + 1) as i64, "{grown} fresh spans for {FREED_SLABS} slabs' worth of blocks");

        for p in blocks {
            // SAFETY: live blocks from hak_malloc, each freed once.
            unsafe { hak_free(p as *mut c_void) };
        }
    })
    .join()
    .unwrap();
}
