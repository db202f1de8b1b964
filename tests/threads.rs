//! Thread lifecycle: heaps of exited threads are taken over or abandoned and adopted, blocks
//! outlive the threads that allocated them, and memory stays bounded across rounds of thread
//! churn (32 threads exit at once: most heaps are abandoned, see `thread_handoff.rs`).

mod common;

use common::{spans_in_use, trim};
use hakmem::ffi::{hak_free, hak_malloc};
use std::ffi::c_void;

fn fill(p: *mut u8, size: usize, tag: u8) {
    // SAFETY: p holds `size` bytes.
    unsafe { std::ptr::write_bytes(p, tag, size) };
}

fn check(p: *mut u8, size: usize, tag: u8) {
    for i in 0..size {
        // SAFETY: p holds `size` bytes.
        assert_eq!(unsafe { p.add(i).read() }, tag, "block {p:?} corrupted at {i}");
    }
}

/// One test, its parts in turn: a thread of a concurrent test could take over a heap that
/// these threads parked, and hold its spans while they are counted.
#[test]
fn thread_lifecycle() {
    thread_whose_first_call_is_a_free_of_a_foreign_thread_block();
    blocks_outlive_their_threads_and_memory_stays_bounded();
}

fn blocks_outlive_their_threads_and_memory_stays_bounded() {
    let spans_before = spans_in_use();
    let mut peak_after_round = Vec::new();
    for round in 0..30 {
        // Each short-lived thread allocates blocks across the tiny and mid tiers and exits;
        // the main thread checks and frees them afterwards (remote frees into abandoned slabs).
        let handles: Vec<_> = (0..32)
            .map(|t| {
                std::thread::spawn(move || {
                    let mut out = Vec::with_capacity(200);
                    for i in 0..200usize {
                        let size = 16 + (i * 97 + t * 13) % 3000;
                        let p = hak_malloc(size).cast::<u8>();
                        assert!(!p.is_null());
                        fill(p, size, (i + t) as u8);
                        out.push((p as usize, size, (i + t) as u8));
                    }
                    out
                })
            })
            .collect();
        for h in handles {
            for (p, size, tag) in h.join().unwrap() {
                check(p as *mut u8, size, tag);
                // SAFETY: a live block from hak_malloc & co., freed once.
                unsafe { hak_free(p as *mut c_void) };
            }
        }
        peak_after_round.push(hakmem::internal::pool_counts().0);
        let _ = round;
    }
    // Abandoned slabs are adopted or released instead of piling up. How many threads overlap
    // (hence how many slabs are in use at once) depends on scheduling (on a busy 2-core
    // machine: 7-11 SuperSlabs in the first rounds, up to 39 later), so compare the last
    // rounds with the first ones loosely: a leak grows with every round (30 rounds of 32
    // threads each abandoning ~30 slabs would add hundreds of SuperSlabs).
    let early = *peak_after_round[..5].iter().max().unwrap();
    let late = *peak_after_round[25..].iter().max().unwrap();
    assert!(late <= 4 * early + 16, "SuperSlabs grew with thread churn: {peak_after_round:?}");
    // Every block was freed: once malloc_trim has abandoned the parked heaps and collected the
    // abandoned slabs' remote frees, the threads' spans are all back, whatever the scheduling.
    trim();
    let spans_after = spans_in_use();
    assert!(spans_after <= spans_before + 16, "spans in use went from {spans_before} to {spans_after}");
}

fn thread_whose_first_call_is_a_free_of_a_foreign_thread_block() {
    let p = hak_malloc(100) as usize;
    // SAFETY: `p` is a live block, freed once, by another thread.
    std::thread::spawn(move || unsafe { hak_free(p as *mut c_void) }).join().unwrap();
    let q = std::thread::spawn(|| hak_malloc(100) as usize).join().unwrap();
    // SAFETY: a live block from hak_malloc & co., freed once.
    unsafe { hak_free(q as *mut c_void) };
}
