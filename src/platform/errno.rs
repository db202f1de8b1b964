//! errno, the C API's error channel: set by the calls that fail, never cleared.

use core::ffi::c_int;

#[inline(always)]
pub fn set(e: c_int) {
    // SAFETY: __errno_location returns this thread's errno slot.
    unsafe { *libc::__errno_location() = e };
}

/// Out of memory: what every failed allocation sets.
#[cold]
pub fn set_enomem() {
    set(libc::ENOMEM);
}
