//! Frees of other threads' tiny blocks wait in per-class chains before they reach their slab
//! (`heap::PendingFrees`). Every one of them must arrive: when the freeing thread exits or calls
//! malloc_trim, and when it moves on to another slab or fills a chain.
//!
//! Alone in its own test binary, so that the pool's span counters see only this test.

mod common;

use common::spans_in_use;
use hakmem::ffi::{hak_free, hak_malloc};
use std::ffi::c_void;
use std::sync::mpsc;

/// A producer allocates tiny blocks of many classes (several slabs' worth of some) and waits;
/// a consumer that never allocates frees them all, in the order allocated, and exits (or, with
/// `trim`, calls malloc_trim and stays until the producer is gone); then the producer exits.
/// Its slabs can all be released at its exit only if every one of the consumer's frees reached
/// them. Returns the spans in use once the producer exited.
fn round(blocks: usize, trim: bool) -> u64 {
    let (to_consumer, from_producer) = mpsc::channel::<Vec<usize>>();
    let (consumer_done, wait_consumer) = mpsc::channel::<()>();
    let (producer_gone, wait_producer) = mpsc::channel::<()>();
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
    let done = consumer_done.clone();
    let consumer = std::thread::spawn(move || {
        for p in from_producer.recv().unwrap() {
            // SAFETY: a live block from hak_malloc, freed once.
            unsafe { hak_free(p as *mut c_void) };
        }
        if trim {
            common::trim();
            done.send(()).unwrap();
            wait_producer.recv().unwrap();
        }
    });
    if !trim {
        // The consumer has exited (its thread-exit cleanup included) before the producer does.
        consumer.join().unwrap();
        consumer_done.send(()).unwrap();
        producer.join().unwrap();
        return spans_in_use();
    }
    producer.join().unwrap();
    let in_use = spans_in_use();
    producer_gone.send(()).unwrap();
    consumer.join().unwrap();
    in_use
}

#[test]
fn every_remote_free_reaches_its_slab() {
    let before = round(2000, false);
    for _ in 0..20 {
        round(20_000, false);
    }
    let after = spans_in_use();
    // A chain lost at the consumer's exit would keep one slab per class in use each round
    // (20 rounds x up to 20 classes).
    assert!(after <= before + 4, "spans in use grew from {before} to {after}");
    // malloc_trim hands over the calling thread's chains: with the consumer still alive, the
    // producer's slabs are all released at its exit. (The live consumer's own heap holds a few
    // spans for the standard library's allocations; without the hand-over, chains of about 20
    // classes would hold one producer slab each: +19 measured.)
    let with_trim = round(20_000, true);
    assert!(with_trim <= before + 10, "a live consumer's trim left {with_trim} spans in use (from {before})");
}
