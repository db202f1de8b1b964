//! The options table: every `HAKMEM_*` environment variable, read once at init from `environ`
//! (no `getenv`, no allocation). Until init has run the defaults apply; hot paths never read the
//! environment. Values are parsed strictly: a bad value, or a `HAKMEM_*` name that is not an
//! option, gets one warning line on stderr at start-up naming it and what is used instead.
//!
//! | variable               | default | values | meaning                                        |
//! |------------------------|---------|--------|------------------------------------------------|
//! | `HAKMEM_STATS`         | off     | switch | count per-tier calls (on the slow paths), print at exit |
//! | `HAKMEM_CHECK`         | off     | switch | check mode (see `check`): validate lists and blocks on every call |
//! | `HAKMEM_FOREIGN`       | auto    | `auto`, `abort`, `next`, `ignore` | pointers not allocated by hakmem: `abort`, `next` (hand to the next allocator in link order), `ignore` (leak them); `auto` = `next` when libjemalloc or libtcmalloc is loaded, else `abort` |
//! | `HAKMEM_SS_CACHE`      | 4       | 0 ..= 4096 | empty SuperSlabs (2 MiB each) kept mapped for reuse |
//! | `HAKMEM_LARGE_CACHE_MB`| 64      | 0 ..= 1048576 | bytes of freed large mappings kept for reuse (at least; 0: none) |
//! | `HAKMEM_ARENA_MB`      | 32768   | 0 ..= 67108864 | address space reserved for SuperSlabs (see `arena`); 0: none |
//! | `HAKMEM_PURGE_DELAY_MS`| 100     | 0 ..= 3600000 | how long freed memory is kept for reuse before it goes back to the kernel |
//! | `HAKMEM_PURGE_THREAD`  | on      | switch | a background thread gives freed memory back while the program is idle (see `process::purger`) |
//! | `HAKMEM_THP`           | auto    | `never`, `auto`, `always` | ask the kernel to back SuperSlabs and Large mappings with transparent huge pages (see `huge`): `auto` Large mappings of 64 MiB or more, `always` every SuperSlab and Large mapping, `never` none (the kernel's own setting still applies) |
//! | `HAKMEM_VERBOSE`       | off     | switch | print the options in effect (and the peer allocator found) at start-up |
//!
//! A switch is `1`/`0`, `true`/`false`, `on`/`off` or `yes`/`no` (any case).

use crate::platform::diag::Line;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ForeignPolicy {
    Auto = 0,
    Abort = 1,
    Next = 2,
    Ignore = 3,
}

const FOREIGN_NAMES: [&str; 4] = ["auto", "abort", "next", "ignore"];

/// When hakmem asks the kernel to back its mappings with transparent huge pages (`huge`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Thp {
    Never = 0,
    /// Large mappings of 64 MiB and more.
    Auto = 1,
    Always = 2,
}

const THP_NAMES: [&str; 3] = ["never", "auto", "always"];

#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub stats: bool,
    pub check: bool,
    pub foreign: ForeignPolicy,
    pub superslab_cache: usize,
    pub large_cache_bytes: usize,
    pub arena_bytes: usize,
    pub purge_delay_ms: usize,
    pub purge_thread: bool,
    pub thp: Thp,
    pub verbose: bool,
}

/// How a value is written.
#[derive(Clone, Copy)]
enum Kind {
    Switch,
    /// One of the names, stored as its index.
    Choice(&'static [&'static str]),
    /// A decimal number in `0..=max`, stored shifted left by `shift` (MiB: 20).
    Number {
        max: usize,
        shift: u32,
    },
}

struct Spec {
    name: &'static str,
    kind: Kind,
    default: usize,
    value: &'static AtomicUsize,
}

const DEFAULTS: Options = Options {
    stats: false,
    check: false,
    foreign: ForeignPolicy::Auto,
    superslab_cache: 4,
    large_cache_bytes: 64 << 20,
    arena_bytes: 32 << 30,
    purge_delay_ms: 100,
    purge_thread: true,
    thp: Thp::Auto,
    verbose: false,
};

static STATS: AtomicUsize = AtomicUsize::new(DEFAULTS.stats as usize);
static CHECK: AtomicUsize = AtomicUsize::new(DEFAULTS.check as usize);
static FOREIGN: AtomicUsize = AtomicUsize::new(DEFAULTS.foreign as usize);
static SUPERSLAB_CACHE: AtomicUsize = AtomicUsize::new(DEFAULTS.superslab_cache);
static LARGE_CACHE_BYTES: AtomicUsize = AtomicUsize::new(DEFAULTS.large_cache_bytes);
static ARENA_BYTES: AtomicUsize = AtomicUsize::new(DEFAULTS.arena_bytes);
static PURGE_DELAY_MS: AtomicUsize = AtomicUsize::new(DEFAULTS.purge_delay_ms);
static PURGE_THREAD: AtomicUsize = AtomicUsize::new(DEFAULTS.purge_thread as usize);
static THP: AtomicUsize = AtomicUsize::new(DEFAULTS.thp as usize);
static VERBOSE: AtomicUsize = AtomicUsize::new(DEFAULTS.verbose as usize);

const MIB: u32 = 20;

static SPECS: [Spec; 10] = [
    Spec { name: "HAKMEM_STATS", kind: Kind::Switch, default: DEFAULTS.stats as usize, value: &STATS },
    Spec { name: "HAKMEM_CHECK", kind: Kind::Switch, default: DEFAULTS.check as usize, value: &CHECK },
    Spec {
        name: "HAKMEM_FOREIGN",
        kind: Kind::Choice(&FOREIGN_NAMES),
        default: DEFAULTS.foreign as usize,
        value: &FOREIGN,
    },
    Spec {
        name: "HAKMEM_SS_CACHE",
        kind: Kind::Number { max: 4096, shift: 0 },
        default: DEFAULTS.superslab_cache,
        value: &SUPERSLAB_CACHE,
    },
    Spec {
        name: "HAKMEM_LARGE_CACHE_MB",
        kind: Kind::Number { max: 1 << 20, shift: MIB },
        default: DEFAULTS.large_cache_bytes,
        value: &LARGE_CACHE_BYTES,
    },
    Spec {
        name: "HAKMEM_ARENA_MB",
        kind: Kind::Number { max: 1 << 26, shift: MIB },
        default: DEFAULTS.arena_bytes,
        value: &ARENA_BYTES,
    },
    Spec {
        name: "HAKMEM_PURGE_DELAY_MS",
        kind: Kind::Number { max: 3_600_000, shift: 0 },
        default: DEFAULTS.purge_delay_ms,
        value: &PURGE_DELAY_MS,
    },
    Spec {
        name: "HAKMEM_PURGE_THREAD",
        kind: Kind::Switch,
        default: DEFAULTS.purge_thread as usize,
        value: &PURGE_THREAD,
    },
    Spec { name: "HAKMEM_THP", kind: Kind::Choice(&THP_NAMES), default: DEFAULTS.thp as usize, value: &THP },
    Spec { name: "HAKMEM_VERBOSE", kind: Kind::Switch, default: DEFAULTS.verbose as usize, value: &VERBOSE },
];

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
        purge_delay_ms: PURGE_DELAY_MS.load(Ordering::Relaxed),
        purge_thread: PURGE_THREAD.load(Ordering::Relaxed) != 0,
        thp: thp(),
        verbose: VERBOSE.load(Ordering::Relaxed) != 0,
    }
}

/// Check mode alone, for paths that must not load the whole table.
#[inline]
pub fn check() -> bool {
    CHECK.load(Ordering::Relaxed) != 0
}

/// The purge delay alone, likewise (read on every decay tick).
#[inline]
pub fn purge_delay_ms() -> u64 {
    PURGE_DELAY_MS.load(Ordering::Relaxed) as u64
}

/// The huge-page choice alone, likewise (read when a mapping is made).
#[inline]
pub fn thp() -> Thp {
    match THP.load(Ordering::Relaxed) {
        0 => Thp::Never,
        2 => Thp::Always,
        _ => Thp::Auto,
    }
}

/// Statistics mode alone, likewise.
#[inline]
pub fn stats() -> bool {
    STATS.load(Ordering::Relaxed) != 0
}

pub fn set_foreign(p: ForeignPolicy) {
    FOREIGN.store(p as usize, Ordering::Relaxed);
}

/// What `apply` made of an entry.
#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    Set,
    /// A bad value: the option keeps its value.
    BadValue,
    /// Not an option's name.
    Unknown,
}

/// Applies one `HAKMEM_NAME=value` environment entry, warning on stderr about a bad value or an
/// unknown name.
pub fn apply(entry: &[u8]) -> Applied {
    let eq = entry.iter().position(|&b| b == b'=').unwrap_or(entry.len());
    let (name, value) = (&entry[..eq], entry.get(eq + 1..).unwrap_or(b""));
    let Some(spec) = SPECS.iter().find(|s| s.name.as_bytes() == name) else {
        let mut line = Line::new();
        line.str("hakmem: warning: ").bytes(name).str(" is not an option, ignored");
        if let Some(near) = SPECS
            .iter()
            .filter(|s| edit_distance(s.name.as_bytes(), name) <= 2)
            .min_by_key(|s| edit_distance(s.name.as_bytes(), name))
        {
            line.str(" (").str(near.name).str("?)");
        }
        line.str("\n").write_stderr();
        return Applied::Unknown;
    };
    match parse(spec.kind, value) {
        Some(v) => {
            spec.value.store(v, Ordering::Relaxed);
            Applied::Set
        }
        None => {
            let mut line = Line::new();
            line.str("hakmem: warning: ").str(spec.name).str("=").bytes(value).str(": ");
            match spec.kind {
                Kind::Switch => line.str("not 1/0, true/false, on/off or yes/no"),
                Kind::Choice(names) => {
                    line.str("not one of");
                    for n in names {
                        line.str(" ").str(n);
                    }
                    &mut line
                }
                Kind::Number { max, .. } => line.str("not a number in 0..=").num(max as u64),
            };
            line.str("; using ");
            write_value(&mut line, spec, spec.value.load(Ordering::Relaxed));
            line.str("\n").write_stderr();
            Applied::BadValue
        }
    }
}

fn parse(kind: Kind, value: &[u8]) -> Option<usize> {
    match kind {
        Kind::Switch => {
            const ON: [&[u8]; 4] = [b"1", b"true", b"on", b"yes"];
            const OFF: [&[u8]; 4] = [b"0", b"false", b"off", b"no"];
            if ON.iter().any(|w| value.eq_ignore_ascii_case(w)) {
                Some(1)
            } else if OFF.iter().any(|w| value.eq_ignore_ascii_case(w)) {
                Some(0)
            } else {
                None
            }
        }
        Kind::Choice(names) => names.iter().position(|n| value.eq_ignore_ascii_case(n.as_bytes())),
        Kind::Number { max, shift } => parse_number(value).filter(|&n| n <= max).map(|n| n << shift),
    }
}

fn parse_number(s: &[u8]) -> Option<usize> {
    if s.is_empty() || s.len() > 12 {
        return None;
    }
    s.iter().try_fold(0usize, |n, &b| if b.is_ascii_digit() { Some(n * 10 + (b - b'0') as usize) } else { None })
}

fn write_value(line: &mut Line, spec: &Spec, v: usize) {
    match spec.kind {
        Kind::Switch => line.str(if v != 0 { "1" } else { "0" }),
        Kind::Choice(names) => line.str(names.get(v).copied().unwrap_or("?")),
        Kind::Number { shift, .. } => line.num((v >> shift) as u64),
    };
}

/// Levenshtein distance of two short names (longer ones count as far apart).
fn edit_distance(a: &[u8], b: &[u8]) -> usize {
    const MAX: usize = 40;
    if a.len() > MAX || b.len() > MAX {
        return usize::MAX;
    }
    let mut row = [0usize; MAX + 1];
    for (j, r) in row.iter_mut().enumerate().take(b.len() + 1) {
        *r = j;
    }
    for i in 1..=a.len() {
        let mut diagonal = row[0];
        row[0] = i;
        for j in 1..=b.len() {
            let above = row[j];
            row[j] = (above + 1).min(row[j - 1] + 1).min(diagonal + (a[i - 1] != b[j - 1]) as usize);
            diagonal = above;
        }
    }
    row[b.len()]
}

/// `HAKMEM_VERBOSE`'s line: every option's value in effect, and whether it was set.
pub fn print_in_effect() {
    let mut line = Line::new();
    line.str("hakmem ").str(env!("CARGO_PKG_VERSION")).str(" (pid ");
    // SAFETY: getpid has no preconditions.
    line.num(unsafe { libc::getpid() } as u64).str("): options");
    for spec in &SPECS {
        let v = spec.value.load(Ordering::Relaxed);
        line.str(" ").str(spec.name).str("=");
        write_value(&mut line, spec, v);
        if v == spec.default {
            line.str(" (default)");
        }
    }
    line.str("\n").write_stderr();
}

extern "C" {
    static environ: *const *const libc::c_char;
}

/// Whether `load_from_environ` has run (until then the options are the defaults).
static LOADED: AtomicBool = AtomicBool::new(false);

/// Whether the options are read (see `load_from_environ`).
pub fn loaded() -> bool {
    LOADED.load(Ordering::Acquire)
}

/// Reads every `HAKMEM_*` variable of the process environment.
pub fn load_from_environ() {
    // SAFETY: `environ` is a null-terminated array of NUL-terminated strings set up by libc;
    // it is read before the program has threads that could change it (init) and only read.
    unsafe {
        let mut e = environ;
        while !e.is_null() && !(*e).is_null() {
            let entry = core::ffi::CStr::from_ptr(*e).to_bytes();
            if entry.starts_with(b"HAKMEM_") {
                apply(entry);
            }
            e = e.add(1);
        }
    }
    // Release: pairs with `loaded`'s Acquire, so that a thread that sees it sees the options.
    LOADED.store(true, Ordering::Release);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switches_take_the_usual_words_and_nothing_else() {
        for w in ["1", "true", "TRUE", "on", "On", "yes"] {
            assert_eq!(parse(Kind::Switch, w.as_bytes()), Some(1), "{w}");
        }
        for w in ["0", "false", "off", "OFF", "no"] {
            assert_eq!(parse(Kind::Switch, w.as_bytes()), Some(0), "{w}");
        }
        for w in ["", "2", "maybe", "yess", " 1"] {
            assert_eq!(parse(Kind::Switch, w.as_bytes()), None, "{w}");
        }
    }

    #[test]
    fn numbers_are_decimal_and_range_checked() {
        let mib = Kind::Number { max: 100, shift: 20 };
        assert_eq!(parse(mib, b"0"), Some(0));
        assert_eq!(parse(mib, b"100"), Some(100 << 20));
        assert_eq!(parse(mib, b"101"), None);
        assert_eq!(parse(mib, b""), None);
        assert_eq!(parse(mib, b"12x"), None);
        assert_eq!(parse(mib, b"-1"), None);
        assert_eq!(parse(mib, b"9999999999999"), None);
    }

    #[test]
    fn bad_values_and_unknown_names_leave_every_option_alone() {
        let before = get();
        assert_eq!(apply(b"HAKMEM_SS_CACHE"), Applied::BadValue);
        assert_eq!(apply(b"HAKMEM_SS_CACHEX=9"), Applied::Unknown);
        assert_eq!(apply(b"HAKMEM_SS_CACHE=abc"), Applied::BadValue);
        assert_eq!(apply(b"HAKMEM_SS_CACHE=5000"), Applied::BadValue);
        assert_eq!(apply(b"HAKMEM_FOREIGN=abrt"), Applied::BadValue);
        assert_eq!(apply(b"HAKMEM_STATS=maybe"), Applied::BadValue);
        assert_eq!(apply(b"HAKMEM_STAT=1"), Applied::Unknown);
        let after = get();
        assert_eq!(after.superslab_cache, before.superslab_cache);
        assert_eq!(after.foreign, before.foreign);
        assert_eq!(after.stats, before.stats);
    }

    #[test]
    fn misspelled_names_are_near_the_option() {
        assert_eq!(edit_distance(b"HAKMEM_STAT", b"HAKMEM_STATS"), 1);
        assert_eq!(edit_distance(b"HAKMEM_CHEKC", b"HAKMEM_CHECK"), 2);
        assert!(edit_distance(b"HAKMEM_FOO", b"HAKMEM_STATS") > 2);
    }
}
