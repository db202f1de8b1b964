//! The C library: the `hakmem` crate with its `interpose` feature, so that glibc's names
//! (`malloc`, `free`, ...) and the `hak_*` API are exported from `libhakmem.so` and
//! `libhakmem.a`.

pub use hakmem_core::ffi::*;
