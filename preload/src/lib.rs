//! The C library: the `hakmem` crate with its `interpose` feature, so that glibc's names
//! (`malloc`, `free`, ...) and the `hak_*` API are exported from `libhakmem.so` and
//! `libhakmem.a`.
//!
//! `no_std`, as the crate is: without Rust's standard library the shared object needs neither
//! `libgcc_s` (std's unwinder) nor std's code, and a process that preloads it keeps 164 KiB
//! fewer pages resident (its text was 290 KiB, 100 KiB now).
#![cfg_attr(not(test), no_std)]

pub use hakmem_core::ffi::*;

/// Panics abort (`panic = "abort"`); none is reached on a path that allocates, and the library
/// prints no panic message (printing would allocate).
#[cfg(not(test))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // SAFETY: abort takes nothing and never returns.
    unsafe { libc::abort() }
}
