//! A thread's heap outlives it (`heap::thread_exit`): the next thread to start takes it over
//! whole, so the successor frees its predecessor's blocks as its own and allocates from the
//! slabs other threads' frees emptied; and a parked heap never holds memory the running threads
//! need: at most a few are parked, the pool grows only after they are abandoned, the running
//! threads' activity ages them out, malloc_trim abandons them, and a heap that holds much is
//! not parked at all.
//!
//! Alone in its own test binary, so that no other test's threads park heaps meanwhile.

mod common;

use common::{rss_bytes, spans_in_use, trim};
use hakmem::ffi::{hak_free, hak_malloc};
use hakmem::internal::report;
use std::collections::HashSet;
use std::ffi::c_void;
use std::sync::{mpsc, Arc, Barrier};
use std::thread;

/// Allocates `n` blocks of sizes 16 B to `max` (both tiers above 1 KiB), each filled with a tag.
fn allocate(n: usize, max: usize) -> Vec<(usize, usize)> {
    (0..n)
        .map(|i| {
            let size = 16 + (i * 97) % (max - 15);
            let p = hak_malloc(size).cast::<u8>();
            assert!(!p.is_null());
            // SAFETY: p holds `size` bytes.
            unsafe { p.write_bytes(i as u8, size) };
            (p as usize, size)
        })
        .collect()
}

/// Checks each block's tag and frees it.
fn free_all(blocks: Vec<(usize, usize)>) {
    for (i, (p, size)) in blocks.into_iter().enumerate() {
        // SAFETY: a live block of `size` bytes from `allocate`, freed once.
        unsafe {
            let b = std::slice::from_raw_parts(p as *const u8, size);
            assert!(b.iter().all(|&x| x == i as u8), "block {p:#x} corrupted");
            hak_free(p as *mut c_void);
        }
    }
}

/// About 10 MiB of tiny blocks (some 170 slabs: a heap that holds them is parked).
fn peak() -> Vec<(usize, usize)> {
    allocate(20_000, 1024)
}

#[test]
fn exited_threads_hand_their_heap_over_without_holding_memory() {
    // 1. A parked heap whose blocks the running thread freed (remote frees it never collects)
    //    gives them up before the pool grows: a second peak reuses its SuperSlabs. (First,
    //    while the process holds little free memory that could serve the peak.)
    let blocks = thread::spawn(peak).join().unwrap();
    let superslabs = report().superslabs;
    free_all(blocks);
    let blocks = peak();
    let superslabs_again = report().superslabs;
    assert!(
        superslabs_again <= superslabs + 1,
        "a second peak grew the pool from {superslabs} to {superslabs_again} SuperSlabs"
    );
    assert_eq!(report().parked_heaps, 0);
    free_all(blocks);
    trim(); // hands this thread's held-back frees of the abandoned heap's blocks over

    // 2. The successor takes the heap over: its frees of its predecessor's blocks are local,
    //    so none reaches a slab as a remote free (abandoned slabs would collect all 5,000 as
    //    remote frees when the successor's mallocs adopted them).
    let blocks = thread::spawn(|| allocate(5_000, 3000)).join().unwrap();
    let remote_before = report().remote_frees;
    thread::spawn(move || {
        free_all(blocks);
        free_all(allocate(5_000, 3000));
    })
    .join()
    .unwrap();
    assert_eq!(report().parked_heaps, 1);
    trim(); // abandons the parked heap, collecting what was freed remotely
    assert_eq!(report().parked_heaps, 0);
    let remote = report().remote_frees - remote_before;
    assert!(remote < 100, "the successor freed {remote} of its predecessor's blocks remotely");

    // 3. At most PARKED_MAX (8) heaps wait; the others are abandoned at once.
    let barrier = Arc::new(Barrier::new(12));
    let threads: Vec<_> = (0..12)
        .map(|_| {
            let barrier = barrier.clone();
            thread::spawn(move || {
                let blocks = allocate(1000, 3000);
                barrier.wait();
                free_all(blocks);
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    assert_eq!(report().parked_heaps, 8);
    trim();

    // 4. A heap that holds more than PARKED_SLABS (16 MiB) is abandoned, not parked; once
    //    another thread freed its blocks, malloc_trim releases its slabs.
    let before = spans_in_use();
    let blocks = thread::spawn(|| allocate(60_000, 1024)).join().unwrap(); // ~30 MiB
    assert_eq!(report().parked_heaps, 0);
    free_all(blocks);
    trim();
    let after = spans_in_use();
    assert!(after <= before + 8, "the abandoned heap's slabs stayed in use: {before} -> {after} spans");

    // 5. malloc_trim abandons parked heaps, so their freed blocks' memory goes back.
    let blocks = thread::spawn(peak).join().unwrap();
    free_all(blocks);
    let before = rss_bytes();
    trim();
    let after = rss_bytes();
    assert!(after + (8 << 20) < before, "malloc_trim left the RSS at {after} (from {before})");

    // 6. So does the running threads' activity without growth: once the pool has handed out
    //    PARKED_SPANS (256) spans since a heap was parked, it is abandoned.
    free_all(allocate(20_000, 3000)); // the test thread's own SuperSlabs, for the churn below
    let before = spans_in_use();
    let blocks = thread::spawn(peak).join().unwrap();
    free_all(blocks);
    assert_eq!(report().parked_heaps, 1);
    for _ in 0..50 {
        free_all(allocate(5000, 3000));
    }
    assert_eq!(report().parked_heaps, 0, "a parked heap outlived 50 rounds of other threads' work");
    let after = spans_in_use();
    assert!(after <= before + 20, "the parked heap's slabs stayed in use: {before} -> {after} spans");

    // 7. Parking collects the frees other threads made into full slabs and makes those slabs
    //    available again: the successor allocates from them, not from new spans.
    let (to_main, from_owner) = mpsc::channel::<Vec<usize>>();
    let (main_done, wait_main) = mpsc::channel::<()>();
    let owner = thread::spawn(move || {
        to_main.send((0..4000).map(|_| hak_malloc(64) as usize).collect()).unwrap();
        wait_main.recv().unwrap();
    });
    let blocks = from_owner.recv().unwrap();
    let slabs: HashSet<usize> = blocks.iter().map(|&p| p >> 16).collect(); // slabs are 64 KiB
    let mut kept = Vec::new();
    for (i, p) in blocks.into_iter().enumerate() {
        if i % 500 == 0 {
            kept.push(p);
        } else {
            // SAFETY: a live block from hak_malloc, freed once.
            unsafe { hak_free(p as *mut c_void) };
        }
    }
    trim(); // hands this thread's held-back frees over to their slabs
    main_done.send(()).unwrap();
    owner.join().unwrap();
    let reused = thread::spawn(move || {
        let blocks: Vec<usize> = (0..3500).map(|_| hak_malloc(64) as usize).collect();
        let reused = blocks.iter().filter(|&&p| slabs.contains(&(p >> 16))).count();
        // SAFETY: live blocks from hak_malloc, freed once.
        blocks.into_iter().for_each(|p| unsafe { hak_free(p as *mut c_void) });
        reused
    })
    .join()
    .unwrap();
    assert_eq!(reused, 3500, "the successor allocated only {reused} of 3500 blocks in the freed slabs");
    // SAFETY: live blocks from hak_malloc, freed once.
    kept.into_iter().for_each(|p| unsafe { hak_free(p as *mut c_void) });
}
