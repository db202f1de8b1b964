//! The shared library's SONAME carries the ABI's major version, so that programs linked with
//! `-lhakmem` record `libhakmem.so.MAJOR` and keep working across compatible releases.
fn main() {
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap();
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libhakmem.so.{major}");
}
