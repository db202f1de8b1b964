//! Freed memory goes back to the kernel: after a peak of small, mid and large blocks is freed,
//! the resident set falls back near where it started (free slabs are purged beyond a small
//! dirty budget, empty SuperSlabs beyond a small cache are given back, the large cache keeps a
//! bounded dirty part), and a second peak reuses the SuperSlabs given back.

mod common;

use common::rss_bytes;
use hakmem::ffi::{hak_free, hak_malloc};


fn touch_all(sizes: &[usize]) -> Vec<usize> {
    sizes
        .iter()
        .map(|&size| {
            let p = hak_malloc(size).cast::<u8>();
            assert!(!p.is_null());
            // SAFETY: p holds `size` bytes.
            unsafe { std::ptr::write_bytes(p, 0x5a, size) };
            p as usize
        })
        .collect()
}

#[test]
fn a_freed_peak_is_given_back() {
    let before = rss_bytes();
    let mut sizes = Vec::new();
    sizes.extend(std::iter::repeat_n(48, 600_000)); // ~29 MiB of tiny blocks
    sizes.extend(std::iter::repeat_n(3000, 20_000)); // ~60 MiB of mid blocks
    sizes.extend(std::iter::repeat_n(40_000, 1_500)); // ~60 MiB of mid blocks
    sizes.extend(std::iter::repeat_n(3 << 20, 20)); // 60 MiB of large blocks
    let blocks = touch_all(&sizes);
    let peak = rss_bytes();
    assert!(peak > before + (150 << 20), "the test did not reach its peak: {before} -> {peak}");
    free_all(blocks);
    let after = rss_bytes();
    // Budgets: 16 MiB dirty free slabs, 4 cached empty SuperSlabs, 32 MiB dirty large cache,
    // plus the test harness's own allocations.
    eprintln!("RSS before {} MiB, peak {} MiB, after {} MiB", before >> 20, peak >> 20, after >> 20);
    assert!(after < before + (64 << 20), "RSS stayed high after free: before {before}, peak {peak}, after {after}");

    // The same peak again reuses the SuperSlabs given back (retired ones of the arena) instead
    // of carving more of the arena.
    let carved = hakmem::stats::report().arena_carved;
    if hakmem::arena::allowed() {
        assert!(carved >= 100 << 20, "the SuperSlabs did not come from the arena: {carved} bytes carved");
    }
    free_all(touch_all(&sizes));
    let carved_again = hakmem::stats::report().arena_carved;
    eprintln!("arena carved: {} MiB, after a second peak {} MiB", carved >> 20, carved_again >> 20);
    assert!(carved_again <= carved + (4 << 20), "a second peak carved more of the arena: {carved} -> {carved_again}");
}

fn free_all(blocks: Vec<usize>) {
    for p in blocks {
        // SAFETY: a live block from hak_malloc & co., freed once.
        unsafe { hak_free(p as *mut std::ffi::c_void) };
    }
}
