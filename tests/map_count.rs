//! The kernel's map limit (`vm.max_map_count`, 65530 by default) is a resource like memory:
//! 100,000 live blocks of 200 KiB must use a few hundred mappings, not one each; and with the
//! process's mappings filled to just below the limit (by the program itself: the sysctl is
//! global, so the test cannot lower it for itself alone), the allocator keeps working, and so
//! do the program's own file opens and thread starts.

use hakmem::ffi::{hak_free, hak_malloc, hak_trim};
use std::ffi::c_void;

fn map_count() -> usize {
    std::fs::read_to_string("/proc/self/maps").unwrap().lines().count()
}

fn max_map_count() -> usize {
    std::fs::read_to_string("/proc/sys/vm/max_map_count").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(65530)
}

/// One test, its steps in order: they share the process's mappings.
#[test]
fn map_limit() {
    many_large_blocks_share_mappings();
    the_allocator_works_at_the_map_limit();
}

fn many_large_blocks_share_mappings() {
    const N: usize = 100_000;
    let before = map_count();
    let blocks: Vec<usize> = (0..N)
        .map(|i| {
            let p = hak_malloc(200 * 1024).cast::<u8>();
            assert!(!p.is_null(), "malloc(200 KiB) #{i} failed ({} mappings)", map_count());
            p as usize
        })
        .collect();
    let during = map_count();
    assert!(
        during < before + 500,
        "{N} live 200 KiB blocks took {} mappings (from {before} to {during})",
        during - before
    );
    for p in blocks {
        // SAFETY: a live block from hak_malloc, freed once.
        unsafe { hak_free(p as *mut c_void) };
    }
    hak_trim();
    let after = map_count();
    assert!(after < before + 50, "after freeing them all and malloc_trim: {after} mappings, from {before}");
}

fn the_allocator_works_at_the_map_limit() {
    let limit = max_map_count();
    // Single pages whose protections alternate, so that the kernel cannot merge them.
    let mut fillers = Vec::new();
    while map_count() + 200 < limit {
        for _ in 0..(limit - 200 - map_count()).min(4096) {
            let prot = if fillers.len() % 2 == 0 { libc::PROT_READ } else { libc::PROT_NONE };
            // SAFETY: a fresh anonymous mapping; no memory of ours is affected.
            let m =
                unsafe { libc::mmap(std::ptr::null_mut(), 4096, prot, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0) };
            assert_ne!(m, libc::MAP_FAILED, "filling the map count");
            fillers.push(m as usize);
        }
    }
    let small: Vec<usize> = (0..10_000).map(|_| hak_malloc(100) as usize).collect();
    let large: Vec<usize> = (0..10_000).map(|_| hak_malloc(200 * 1024) as usize).collect();
    assert!(small.iter().chain(&large).all(|&p| p != 0), "malloc failed near the map limit");
    assert!(std::fs::File::open("/proc/self/status").is_ok(), "open failed near the map limit");
    assert!(std::thread::spawn(|| hak_malloc(64) as usize != 0).join().unwrap(), "a new thread could not allocate");
    assert!(map_count() < limit, "the allocator took the last mappings");
    for p in small.into_iter().chain(large) {
        // SAFETY: live blocks from hak_malloc, each freed once.
        unsafe { hak_free(p as *mut c_void) };
    }
    for m in fillers {
        // SAFETY: the test's own mappings.
        unsafe { libc::munmap(m as *mut c_void, 4096) };
    }
}
