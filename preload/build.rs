//! The shared library's SONAME carries the ABI's major version, so that programs linked with
//! `-lhakmem` record `libhakmem.so.MAJOR` and keep working across compatible releases.
fn main() {
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap();
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libhakmem.so.{major}");
    // The library is `no_std` on x86-64 Linux, so nothing else names the C libraries there (std
    // did): libc, with libc_nonshared's `atexit`, and where an older glibc keeps them apart,
    // libpthread and libdl (`--as-needed` drops those where libc has their symbols).
    for lib in ["c", "pthread", "dl"] {
        println!("cargo:rustc-link-lib={lib}");
    }
}
