//! Freed memory goes back to the kernel: after a peak of small, mid and large blocks is freed,
//! the resident set falls back near where it started once the freed memory has waited out the
//! decay delay (free slabs and empty SuperSlabs beyond a small cache are given back, the large
//! cache's entries expire), and a second peak reuses the SuperSlabs given back. Within
//! the delay, a structure freed and built again reuses the pages without faulting them in. The
//! slabs an exited thread left go back to the pool once other threads have freed their blocks.

mod common;

use common::{rss_bytes, spans_in_use};
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

/// One test, its steps in order: they measure the same process's resident set and page faults.
#[test]
fn memory_return() {
    a_rebuilt_structure_reuses_the_freed_pages();
    a_freed_peak_is_given_back();
    what_an_exited_thread_left_is_given_back();
}

fn minor_faults() -> i64 {
    // SAFETY: getrusage fills the struct it is given.
    unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u.ru_minflt
    }
}

/// A program that frees a large structure and builds the next one (within the decay delay)
/// finds the freed slabs' pages still there: they were neither purged nor given back.
fn a_rebuilt_structure_reuses_the_freed_pages() {
    // ~40 MiB of tiny and mid blocks, well beyond the 4 empty SuperSlabs kept in any case.
    let mut sizes = Vec::new();
    sizes.extend(std::iter::repeat_n(48, 500_000));
    sizes.extend(std::iter::repeat_n(2000, 8_000));
    let faults = minor_faults();
    let blocks = touch_all(&sizes);
    let first = minor_faults() - faults;
    free_all(blocks);
    let faults = minor_faults();
    let blocks = touch_all(&sizes);
    let again = minor_faults() - faults;
    free_all(blocks);
    eprintln!("page faults: first build {first}, second build {again}");
    assert!(first > 5_000, "the first build did not fault its pages in: {first} faults");
    assert!(again < first / 4, "the second build faulted the pages in again: {first} then {again} faults");
}

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
    // The freed slabs keep their pages for the decay delay; the operations after it (here large
    // blocks') give them back, up to 64 MiB per decay tick.
    std::thread::sleep(std::time::Duration::from_millis(hakmem::internal::delay_ms()));
    for _ in 0..8 {
        std::thread::sleep(std::time::Duration::from_millis(hakmem::internal::delay_ms() / 4 + 50));
        // SAFETY: a block from hak_malloc, freed once.
        unsafe { hak_free(hak_malloc(1 << 20)) };
    }
    let after = rss_bytes();
    // Budgets: 4 cached empty SuperSlabs (the large cache expired too), plus the test harness's
    // own allocations.
    eprintln!("RSS before {} MiB, peak {} MiB, after {} MiB", before >> 20, peak >> 20, after >> 20);
    assert!(after < before + (64 << 20), "RSS stayed high after free: before {before}, peak {peak}, after {after}");

    // The same peak again reuses the SuperSlabs given back (retired ones of the arena) instead
    // of carving more of the arena.
    let carved = hakmem::internal::report().arena_carved;
    if hakmem::internal::arena_allowed() {
        assert!(carved >= 100 << 20, "the SuperSlabs did not come from the arena: {carved} bytes carved");
    }
    free_all(touch_all(&sizes));
    let carved_again = hakmem::internal::report().arena_carved;
    eprintln!("arena carved: {} MiB, after a second peak {} MiB", carved >> 20, carved_again >> 20);
    assert!(carved_again <= carved + (4 << 20), "a second peak carved more of the arena: {carved} -> {carved_again}");
}

/// A thread that exits with a few live blocks in each of its slabs leaves them to the pool
/// (abandoned: it holds too much to be parked for a successor). Once another thread has freed
/// those blocks, the slabs go back to the pool within the decay period, although that thread
/// makes no small allocation that would look at them.
fn what_an_exited_thread_left_is_given_back() {
    let before = spans_in_use();
    let kept = std::thread::spawn(|| {
        let blocks = touch_all(&[200; 150_000]); // ~30 MiB
        let (kept, freed): (Vec<usize>, Vec<usize>) = blocks.into_iter().partition(|p| (p / 200) % 100 == 0);
        free_all(freed);
        kept
    })
    .join()
    .unwrap();
    let left = spans_in_use();
    assert!(left > before + 256, "the thread left too little to test: {before} -> {left} spans");
    free_all(kept);
    // The next operation after a decay period (here a large block's) sweeps the abandoned slabs.
    std::thread::sleep(std::time::Duration::from_millis(hakmem::internal::delay_ms() / 4 + 100));
    // SAFETY: a block from hak_malloc, freed once.
    unsafe { hak_free(hak_malloc(1 << 20)) };
    let after = spans_in_use();
    eprintln!("spans in use: before {before}, after the thread exited {left}, after its blocks were freed {after}");
    assert!(after <= before + 16, "the exited thread's slabs stayed in use: {before} -> {left} -> {after} spans");
}

fn free_all(blocks: Vec<usize>) {
    for p in blocks {
        // SAFETY: a live block from hak_malloc & co., freed once.
        unsafe { hak_free(p as *mut std::ffi::c_void) };
    }
}
