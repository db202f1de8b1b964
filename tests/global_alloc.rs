//! hakmem as this test binary's global allocator: everything the harness and the tests allocate
//! (threads, collections, strings) is hakmem's, and the `GlobalAlloc` methods keep their
//! contracts for every size and alignment.

use hakmem::ffi::hak_usable_size;
use std::alloc::{alloc, alloc_zeroed, dealloc, realloc, GlobalAlloc, Layout};
use std::collections::HashMap;

#[global_allocator]
static GLOBAL: hakmem::Hakmem = hakmem::Hakmem;

/// hakmem's usable size for `p`: hakmem aborts on a pointer it did not hand out, so this also
/// proves the block is hakmem's.
fn usable(p: *const u8) -> usize {
    // SAFETY: `p` is a live block of the global allocator, which is hakmem.
    unsafe { hak_usable_size(p as *mut _) }
}

const SIZES: [usize; 12] = [1, 7, 16, 100, 1024, 1025, 4000, 65536, 131072, 131073, 1 << 20, 3 << 20];
const ALIGNS: [usize; 9] = [1, 8, 16, 32, 64, 4096, 65536, 1 << 17, 1 << 21];

#[test]
fn std_collections_live_in_hakmem() {
    let v: Vec<u64> = (0..100_000).collect();
    assert!(usable(v.as_ptr().cast()) >= 800_000);
    let s = "x".repeat(3000);
    assert!(usable(s.as_ptr()) >= 3000);
    let mut m = HashMap::new();
    for i in 0..10_000 {
        m.insert(i, i.to_string());
    }
    assert_eq!(m[&1234], "1234");
}

#[test]
fn every_size_and_alignment() {
    for &size in &SIZES {
        for &align in &ALIGNS {
            let layout = Layout::from_size_align(size, align).unwrap();
            // SAFETY: a non-zero layout; each block is written within its size and freed once
            // with its own layout.
            unsafe {
                let p = alloc(layout);
                assert!(!p.is_null(), "{layout:?}");
                assert!((p as usize).is_multiple_of(align), "{layout:?}");
                assert!(usable(p) >= size);
                p.write_bytes(0xa5, size);
                dealloc(p, layout);

                let z = alloc_zeroed(layout);
                assert!(!z.is_null() && (z as usize).is_multiple_of(align), "{layout:?}");
                assert!(std::slice::from_raw_parts(z, size).iter().all(|&b| b == 0), "{layout:?} not zeroed");
                dealloc(z, layout);
            }
        }
    }
}

#[test]
fn zeroed_blocks_are_zero_after_reuse() {
    // Dirty blocks of each kind go back to the allocator, then come back zeroed.
    for &(size, align) in &[(100, 64), (5000, 4096), (200_000, 65536), (3 << 20, 1 << 21)] {
        let layout = Layout::from_size_align(size, align).unwrap();
        for _ in 0..3 {
            // SAFETY: as in `every_size_and_alignment`.
            unsafe {
                let p = alloc(layout);
                p.write_bytes(0xff, size);
                dealloc(p, layout);
                let z = alloc_zeroed(layout);
                assert!(std::slice::from_raw_parts(z, size).iter().all(|&b| b == 0), "{layout:?}");
                z.write_bytes(0xff, size);
                dealloc(z, layout);
            }
        }
    }
}

#[test]
fn realloc_keeps_contents_and_alignment() {
    for &align in &ALIGNS {
        let mut layout = Layout::from_size_align(8, align).unwrap();
        // SAFETY: the block is written within its current size; each realloc gets the current
        // layout; the last block is freed once.
        unsafe {
            let mut p = alloc(layout);
            p.write_bytes(1, 8);
            let mut filled = 8;
            for &new_size in &[24, 1000, 70_000, 300_000, 2 << 20, 5000, 40] {
                let q = realloc(p, layout, new_size);
                assert!(!q.is_null() && (q as usize).is_multiple_of(align), "align {align} size {new_size}");
                let kept = filled.min(new_size);
                assert!(std::slice::from_raw_parts(q, kept).iter().all(|&b| b == 1), "align {align} size {new_size}");
                q.write_bytes(1, new_size);
                filled = new_size;
                p = q;
                layout = Layout::from_size_align(new_size, align).unwrap();
            }
            dealloc(p, layout);
        }
    }
}

#[test]
fn over_aligned_realloc_stays_in_place_when_it_fits() {
    let layout = Layout::from_size_align(4000, 4096).unwrap();
    // SAFETY: as above.
    unsafe {
        let p = GLOBAL.alloc(layout);
        let q = GLOBAL.realloc(p, layout, 3000);
        assert_eq!(p, q);
        GLOBAL.dealloc(q, Layout::from_size_align(3000, 4096).unwrap());
    }
}

#[test]
fn threads_free_each_others_blocks() {
    let (tx, rx) = std::sync::mpsc::channel::<Vec<Box<[u8]>>>();
    let producers: Vec<_> = (0..4)
        .map(|t| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for round in 0..50 {
                    let batch =
                        (0..200).map(|i| vec![t as u8; 1 + (i * 37 + round) % 3000].into_boxed_slice()).collect();
                    tx.send(batch).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let consumer = std::thread::spawn(move || {
        let mut blocks = 0;
        for batch in rx {
            for b in &batch {
                assert!(b.iter().all(|&x| x == b[0]));
            }
            blocks += batch.len();
        }
        blocks
    });
    for p in producers {
        p.join().unwrap();
    }
    assert_eq!(consumer.join().unwrap(), 4 * 50 * 200);
}

#[test]
fn stats_see_the_heap() {
    let before = hakmem::stats();
    let big = vec![1u8; 8 << 20];
    let s = hakmem::stats();
    // Other tests run meanwhile: only this block's bytes are certain.
    assert!(s.large_in_use_bytes >= 8 << 20, "{s:?}");
    assert_eq!(s.in_use_bytes, s.tiny_in_use_bytes + s.mid_in_use_bytes + s.large_in_use_bytes);
    assert!(s.mapped_bytes >= s.in_use_bytes && s.large_mallocs > before.large_mallocs);
    assert_eq!(s.classes[3].block_size, 64);
    drop(big);
}
