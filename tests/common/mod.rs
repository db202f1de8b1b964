//! Helpers shared by the integration tests that measure memory.
#![allow(dead_code)] // each test binary uses its own subset

/// The process's resident set, in bytes.
pub fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// Spans handed out and not given back.
pub fn spans_in_use() -> u64 {
    let (_, acquired, released) = hakmem::internal::pool_counts();
    acquired - released
}

/// hakmem's malloc_trim(0).
pub fn trim() {
    hakmem::ffi::hak_trim();
}
