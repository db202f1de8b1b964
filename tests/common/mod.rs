//! Helpers shared by the integration tests that measure memory.
#![allow(dead_code)] // each test binary uses its own subset

extern "C" {
    fn malloc_trim(pad: usize) -> std::ffi::c_int;
}

/// The process's resident set, in bytes.
pub fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// Spans handed out and not given back.
pub fn spans_in_use() -> u64 {
    let (_, acquired, released) = hakmem::superslab::pool_counts();
    acquired - released
}

/// malloc_trim(0), hakmem's (the test binaries link the crate, which exports glibc's names).
pub fn trim() {
    // SAFETY: plain C call with no pointer arguments.
    unsafe { malloc_trim(0) };
}
