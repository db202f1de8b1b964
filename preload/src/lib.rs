//! The C library: the `hakmem` crate with its `interpose` feature, so that glibc's names
//! (`malloc`, `free`, ...) and the `hak_*` API are exported from `libhakmem.so` and
//! `libhakmem.a`.
//!
//! `no_std` on x86-64 Linux, as the crate is there: without Rust's standard library the shared
//! object needs neither `libgcc_s` (std's unwinder) nor std's code, and a process that preloads
//! it keeps about 230 KiB fewer pages resident (its text was 290 KiB, 100 KiB now).
#![cfg_attr(all(not(test), target_arch = "x86_64", target_os = "linux"), no_std)]

pub use hakmem_core::ffi::*;

/// Panics abort (`panic = "abort"`); none is reached on a path that allocates, and the library
/// prints no panic message (printing would allocate).
#[cfg(all(not(test), target_arch = "x86_64", target_os = "linux"))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // SAFETY: abort takes nothing and never returns.
    unsafe { libc::abort() }
}

// Rust's prebuilt `core` unwinds, so its code names the personality routine that std would
// define; the release build's LTO removes those references, other builds (debug, LTO off) keep
// them and would leave the symbol undefined. Panics abort, so it is never called. Weak, so that
// a program linking this static library beside one that has std keeps std's; hidden, so that
// the shared object does not offer it to the program (whose own unwinding must use std's).
#[cfg(all(not(test), target_arch = "x86_64", target_os = "linux"))]
core::arch::global_asm!(
    ".pushsection .text.rust_eh_personality,\"ax\",@progbits",
    ".weak rust_eh_personality",
    ".hidden rust_eh_personality",
    ".type rust_eh_personality,@function",
    "rust_eh_personality:",
    "ud2",
    ".size rust_eh_personality, . - rust_eh_personality",
    ".popsection",
);
