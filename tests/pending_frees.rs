//! Frees of other threads' tiny blocks wait in per-class chains before they reach their slab
//! (`heap::PendingFrees`). Every one of them must arrive: when the freeing thread exits, and
//! when it moves on to another slab or fills a chain.
//!
//! Alone in its own test binary, so that the pool's span counters see only this test.

use hakmem::ffi::{hak_free, hak_malloc};
use hakmem::superslab::pool_counts;
use std::ffi::c_void;
use std::sync::mpsc;

/// Spans handed out and not given back.
fn spans_in_use() -> u64 {
    let (_, acquired, released) = pool_counts();
    acquired - released
}

/// A producer allocates tiny blocks of many classes (several slabs' worth of some) and waits;
/// a consumer that never allocates frees them all, in the order allocated, and exits; then the
/// producer exits. Its slabs can all be released at its exit only if every one of the
/// consumer's frees reached them.
fn round(blocks: usize) {
    let (to_consumer, from_producer) = mpsc::channel::<Vec<usize>>();
    let (consumer_done, wait_consumer) = mpsc::channel::<()>();
    let producer = std::thread::spawn(move || {
        let ptrs: Vec<usize> = (0..blocks)
            .map(|i| {
                let size = 8 + (i * 37) % 1000;
                let p = hak_malloc(size).cast::<u8>();
                assert!(!p.is_null());
                // SAFETY: p holds `size` bytes.
                unsafe { p.write_bytes(i as u8, size) };
                p as usize
            })
            .collect();
        to_consumer.send(ptrs).unwrap();
        wait_consumer.recv().unwrap();
    });
    let consumer = std::thread::spawn(move || {
        for p in from_producer.recv().unwrap() {
            // SAFETY: a live block from hak_malloc, freed once.
            unsafe { hak_free(p as *mut c_void) };
        }
    });
    consumer.join().unwrap();
    consumer_done.send(()).unwrap();
    producer.join().unwrap();
}

#[test]
fn every_remote_free_reaches_its_slab() {
    round(2000);
    let before = spans_in_use();
    for _ in 0..20 {
        round(20_000);
    }
    let after = spans_in_use();
    // A chain lost at the consumer's exit would keep one slab per class in use each round
    // (20 rounds x up to 20 classes).
    assert!(after <= before + 4, "spans in use grew from {before} to {after}");
}
