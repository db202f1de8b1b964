//! The options table: every `HAKMEM_*` environment variable, read once at init from `environ`
//! (no `getenv`, no allocation). Until init has run the defaults apply; hot paths never read the
//! environment.
//!
//! | variable               | default | meaning                                                   |
//! |------------------------|---------|-----------------------------------------------------------|
//! | `HAKMEM_STATS`         | 0       | 1: count per-tier calls (on the slow paths), print at exit |
//! | `HAKMEM_CHECK`         | 0       | 1: check mode (see `check`): validate lists and blocks on every call |
//! | `HAKMEM_FOREIGN`       | auto    | pointers not allocated by hakmem: `abort`, `next` (hand to the next allocator in link order), `ignore` (leak them); `auto` = `next` when libjemalloc or libtcmalloc is loaded, else `abort` |
//! | `HAKMEM_SS_CACHE`      | 4       | empty SuperSlabs (2 MiB each) kept mapped for reuse       |
//! | `HAKMEM_LARGE_CACHE_MB`| 64      | bytes of freed large mappings kept for reuse (at least; 0: none) |
//! | `HAKMEM_ARENA_MB`      | 32768   | address space reserved for SuperSlabs (see `arena`); 0: none |

use core::sync::atomic::{AtomicUsize, Ordering};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ForeignPolicy {
    Auto = 0,
    Abort = 1,
    Next = 2,
    Ignore = 3,
}

#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub stats: bool,
    pub check: bool,
    pub foreign: ForeignPolicy,
    pub superslab_cache: usize,
    pub large_cache_bytes: usize,
    pub arena_bytes: usize,
}

const DEFAULTS: Options = Options {
    stats: false,
    check: false,
    foreign: ForeignPolicy::Auto,
    superslab_cache: 4,
    large_cache_bytes: 64 << 20,
    arena_bytes: 32 << 30,
};

static STATS: AtomicUsize = AtomicUsize::new(DEFAULTS.stats as usize);
static CHECK: AtomicUsize = AtomicUsize::new(DEFAULTS.check as usize);
static FOREIGN: AtomicUsize = AtomicUsize::new(DEFAULTS.foreign as usize);
static SUPERSLAB_CACHE: AtomicUsize = AtomicUsize::new(DEFAULTS.superslab_cache);
static LARGE_CACHE_BYTES: AtomicUsize = AtomicUsize::new(DEFAULTS.large_cache_bytes);
static ARENA_BYTES: AtomicUsize = AtomicUsize::new(DEFAULTS.arena_bytes);

pub fn get() -> Options {
    Options {
        stats: STATS.load(Ordering::Relaxed) != 0,
        check: CHECK.load(Ordering::Relaxed) != 0,
        foreign: match FOREIGN.load(Ordering::Relaxed) {
            1 => ForeignPolicy::Abort,
            2 => ForeignPolicy::Next,
            3 => ForeignPolicy::Ignore,
            _ => ForeignPolicy::Auto,
        },
        superslab_cache: SUPERSLAB_CACHE.load(Ordering::Relaxed),
        large_cache_bytes: LARGE_CACHE_BYTES.load(Ordering::Relaxed),
        arena_bytes: ARENA_BYTES.load(Ordering::Relaxed),
    }
}

/// Check mode alone, for paths that must not load the whole table.
#[inline]
pub fn check() -> bool {
    CHECK.load(Ordering::Relaxed) != 0
}

pub fn set_foreign(p: ForeignPolicy) {
    FOREIGN.store(p as usize, Ordering::Relaxed);
}

/// Applies one `NAME=value` environment entry if it is one of ours.
pub fn apply(entry: &[u8]) {
    let Some(eq) = entry.iter().position(|&b| b == b'=') else { return };
    let (name, value) = (&entry[..eq], &entry[eq + 1..]);
    match name {
        b"HAKMEM_STATS" => STATS.store(truthy(value) as usize, Ordering::Relaxed),
        b"HAKMEM_CHECK" => CHECK.store(truthy(value) as usize, Ordering::Relaxed),
        b"HAKMEM_FOREIGN" => {
            let p = match value {
                b"abort" => ForeignPolicy::Abort,
                b"next" => ForeignPolicy::Next,
                b"ignore" => ForeignPolicy::Ignore,
                _ => ForeignPolicy::Auto,
            };
            set_foreign(p);
        }
        b"HAKMEM_SS_CACHE" => {
            if let Some(n) = parse(value) {
                SUPERSLAB_CACHE.store(n, Ordering::Relaxed);
            }
        }
        b"HAKMEM_LARGE_CACHE_MB" => {
            if let Some(n) = parse(value) {
                LARGE_CACHE_BYTES.store(n.saturating_mul(1 << 20), Ordering::Relaxed);
            }
        }
        b"HAKMEM_ARENA_MB" => {
            if let Some(n) = parse(value) {
                ARENA_BYTES.store(n.saturating_mul(1 << 20), Ordering::Relaxed);
            }
        }
        _ => {}
    }
}

fn truthy(value: &[u8]) -> bool {
    value != b"0" && !value.is_empty()
}

fn parse(s: &[u8]) -> Option<usize> {
    if s.is_empty() || s.len() > 12 {
        return None;
    }
    s.iter().try_fold(0usize, |n, &b| if b.is_ascii_digit() { Some(n * 10 + (b - b'0') as usize) } else { None })
}

extern "C" {
    static environ: *const *const libc::c_char;
}

/// Reads every `HAKMEM_*` variable of the process environment.
pub fn load_from_environ() {
    // SAFETY: `environ` is a null-terminated array of NUL-terminated strings set up by libc;
    // it is read before the program has threads that could change it (init) and only read.
    unsafe {
        let mut e = environ;
        if e.is_null() {
            return;
        }
        while !(*e).is_null() {
            let entry = core::ffi::CStr::from_ptr(*e).to_bytes();
            if entry.starts_with(b"HAKMEM_") {
                apply(entry);
            }
            e = e.add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numbers_strictly() {
        assert_eq!(parse(b"0"), Some(0));
        assert_eq!(parse(b"128"), Some(128));
        assert_eq!(parse(b""), None);
        assert_eq!(parse(b"12x"), None);
        assert_eq!(parse(b"9999999999999"), None);
    }

    #[test]
    fn ignores_entries_that_are_not_options() {
        let before = get().superslab_cache;
        apply(b"HAKMEM_SS_CACHE");
        apply(b"HAKMEM_SS_CACHEX=9");
        apply(b"HAKMEM_SS_CACHE=abc");
        assert_eq!(get().superslab_cache, before);
    }
}
