//! A libFuzzer-style driver on stable Rust: `run_input` reads a byte string as a sequence of
//! allocation calls (malloc, calloc, posix_memalign, realloc, free, frees from another thread,
//! malloc_usable_size, malloc_trim) and checks each against a shadow model: every live block is
//! non-null, aligned, at least as large as asked (usable size too), disjoint from the others
//! and intact until freed; calloc memory is zero.
//!
//! The bounded run here (`make test`; also under `HAKMEM_CHECK=1`) feeds it the inputs in
//! `tests/fuzz_corpus/` and then random inputs mutated from earlier ones (bit flips, byte
//! overwrites, splices, truncation), without coverage feedback. Longer runs and replays:
//!
//!   HAK_FUZZ_INPUTS=200000 HAK_FUZZ_SEED=7 cargo test --release --test fuzz
//!   HAK_FUZZ_REPLAY=build/fuzz/crash-1a2b3c cargo test --release --test fuzz
//!
//! A failing input is written to `build/fuzz/crash-<hash>` before the failure is reported.

use hakmem::ffi::{hak_calloc, hak_free, hak_malloc, hak_posix_memalign, hak_realloc, hak_trim, hak_usable_size};
use std::collections::BTreeMap;
use std::ffi::c_void;
use std::sync::mpsc;

/// Reads the input front to back; past its end every read is 0.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let (&b, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        b
    }
    fn u16(&mut self) -> usize {
        self.byte() as usize | (self.byte() as usize) << 8
    }
    /// A size in one of the tiers, chosen by the first byte.
    fn size(&mut self) -> usize {
        match self.byte() % 8 {
            0..=3 => self.byte() as usize * 4 + self.byte() as usize % 4,
            4 | 5 => self.u16() % 4096,
            6 => self.u16() * 2,
            _ => 120_000 + self.u16() * 48,
        }
    }
}

struct Live {
    size: usize,
    seed: u8,
}

fn pattern(seed: u8, i: usize) -> u8 {
    seed.wrapping_add((i as u8).wrapping_mul(31))
}

fn offsets(size: usize) -> impl Iterator<Item = usize> {
    let stride = if size <= 8192 { 1 } else { 97 };
    (0..size).step_by(stride).chain(size.saturating_sub(32)..size)
}

/// The shadow model: what must hold of the live blocks.
struct Model {
    live: BTreeMap<usize, Live>,
}

impl Model {
    fn insert(&mut self, p: *mut u8, size: usize, seed: u8, align: usize, zeroed: bool) {
        assert!(!p.is_null(), "allocation of {size} bytes failed");
        let a = p as usize;
        assert_eq!(a % align, 0, "block {a:#x} of {size} bytes not aligned to {align}");
        // SAFETY: `p` is a live block just allocated.
        let usable = unsafe { hak_usable_size(p.cast()) };
        assert!(usable >= size, "usable size {usable} < {size}");
        let end = a + size.max(1);
        if let Some((&b, l)) = self.live.range(..end).next_back() {
            assert!(b + l.size.max(1) <= a, "blocks overlap: {a:#x}+{size} and {b:#x}+{}", l.size);
        }
        if zeroed {
            for i in offsets(size) {
                // SAFETY: i < size, and p holds size bytes.
                assert_eq!(unsafe { p.add(i).read() }, 0, "calloc memory not zero at {i}");
            }
        }
        for i in offsets(size) {
            // SAFETY: as above.
            unsafe { p.add(i).write(pattern(seed, i)) };
        }
        self.live.insert(a, Live { size, seed });
    }

    /// Takes the live block picked by `pick` out of the model, checking it is intact.
    fn take(&mut self, pick: u8) -> Option<(usize, Live)> {
        let n = self.live.len();
        let (&a, _) = self.live.iter().nth(pick as usize % n.max(1))?;
        let l = self.live.remove(&a)?;
        check(a as *mut u8, l.size, l.size, l.seed);
        Some((a, l))
    }
}

/// Checks the first `len` bytes of a block filled as `filled` bytes with `seed`.
fn check(p: *mut u8, filled: usize, len: usize, seed: u8) {
    for i in offsets(filled).filter(|&i| i < len) {
        // SAFETY: i < len, and p holds at least len bytes.
        let got = unsafe { p.add(i).read() };
        assert_eq!(got, pattern(seed, i), "block {p:?} of {filled} bytes corrupted at {i}");
    }
}

/// A thread that frees what it is sent, then acknowledges (so runs stay deterministic).
struct RemoteFreer {
    tx: mpsc::SyncSender<usize>,
    ack: mpsc::Receiver<()>,
}

impl RemoteFreer {
    fn new() -> Self {
        let (tx, rx) = mpsc::sync_channel::<usize>(0);
        let (ack_tx, ack) = mpsc::sync_channel(0);
        std::thread::spawn(move || {
            for p in rx {
                // SAFETY: the sender took `p` out of the model: a live block, freed once.
                unsafe { hak_free(p as *mut c_void) };
                ack_tx.send(()).unwrap();
            }
        });
        RemoteFreer { tx, ack }
    }

    fn free(&self, p: usize) {
        self.tx.send(p).unwrap();
        self.ack.recv().unwrap();
    }
}

const MAX_LIVE: usize = 512;

fn run_input(data: &[u8], remote: &RemoteFreer) {
    let mut input = Input(data);
    let mut m = Model { live: BTreeMap::new() };
    while !input.0.is_empty() {
        let op = input.byte();
        let seed = input.byte();
        match op % 16 {
            0..=4 if m.live.len() < MAX_LIVE => {
                let size = input.size();
                m.insert(hak_malloc(size).cast(), size, seed, 16, false);
            }
            5 if m.live.len() < MAX_LIVE => {
                let (n, each) = (1 + input.byte() as usize % 8, input.size() / 8);
                m.insert(hak_calloc(n, each).cast(), n * each, seed, 16, true);
            }
            6 if m.live.len() < MAX_LIVE => {
                let align = 8usize << (input.byte() % 19); // 8 B .. 2 MiB
                let size = input.size();
                let mut p: *mut c_void = std::ptr::null_mut();
                // SAFETY: &mut p is writable.
                assert_eq!(unsafe { hak_posix_memalign(&mut p, align, size) }, 0, "posix_memalign({align}, {size})");
                m.insert(p.cast(), size, seed, align, false);
            }
            7 | 8 => {
                let pick = input.byte();
                let size = input.size();
                if let Some((a, l)) = m.take(pick) {
                    // SAFETY: `a` is a live block taken out of the model.
                    let q = unsafe { hak_realloc(a as *mut c_void, size) }.cast::<u8>();
                    if size == 0 {
                        assert!(q.is_null(), "realloc(p, 0) returned {q:?}");
                        continue;
                    }
                    check(q, l.size, size, l.seed);
                    // Refill under the new seed (the old contents were checked).
                    m.insert(q, size, seed, 16, false);
                }
            }
            9 => {
                if let Some((a, l)) = m.take(input.byte()) {
                    // SAFETY: `a` is live; its usable size covers what was asked.
                    assert!(unsafe { hak_usable_size(a as *mut c_void) } >= l.size);
                    m.live.insert(a, l);
                }
            }
            10 | 11 => {
                if let Some((a, _)) = m.take(input.byte()) {
                    remote.free(a);
                }
            }
            12 if input.byte() == 0 => {
                hak_trim();
            }
            _ => {
                if let Some((a, _)) = m.take(input.byte()) {
                    // SAFETY: a live block taken out of the model, freed once.
                    unsafe { hak_free(a as *mut c_void) };
                }
            }
        }
    }
    while let Some((a, _)) = m.take(0) {
        // SAFETY: as above.
        unsafe { hak_free(a as *mut c_void) };
    }
}

/// xorshift64*: deterministic inputs and mutations from the seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut v = if corpus.is_empty() || rng.below(4) == 0 {
        (0..1 + rng.below(2048)).map(|_| rng.next() as u8).collect()
    } else {
        corpus[rng.below(corpus.len())].clone()
    };
    for _ in 0..1 + rng.below(8) {
        let n = v.len();
        match rng.below(5) {
            0 if n > 0 => v[rng.below(n)] ^= 1 << rng.below(8),
            1 if n > 0 => v[rng.below(n)] = rng.next() as u8,
            2 if !corpus.is_empty() => {
                let other = &corpus[rng.below(corpus.len())];
                let at = rng.below(n + 1);
                let from = rng.below(other.len() + 1);
                v.splice(at..at, other[from..].iter().take(256).copied());
            }
            3 if n > 1 => v.truncate(1 + rng.below(n - 1)),
            _ => v.extend((0..rng.below(64)).map(|_| rng.next() as u8)),
        }
    }
    v.truncate(8192);
    v
}

/// Runs one input; on a failure, saves it for replay before the panic goes on.
fn run_saving(data: &[u8], remote: &RemoteFreer) {
    struct SaveOnPanic<'a>(&'a [u8]);
    impl Drop for SaveOnPanic<'_> {
        fn drop(&mut self) {
            if std::thread::panicking() {
                let hash =
                    self.0.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
                let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/build/fuzz");
                let path = format!("{dir}/crash-{hash:016x}");
                if std::fs::create_dir_all(dir).and_then(|_| std::fs::write(&path, self.0)).is_ok() {
                    eprintln!("fuzz: failing input saved; replay with HAK_FUZZ_REPLAY={path}");
                }
            }
        }
    }
    let _guard = SaveOnPanic(data);
    run_input(data, remote);
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
fn fuzz_operation_sequences_against_the_model() {
    let remote = RemoteFreer::new();
    if let Ok(path) = std::env::var("HAK_FUZZ_REPLAY") {
        run_input(&std::fs::read(&path).unwrap(), &remote);
        return;
    }
    let mut corpus: Vec<Vec<u8>> = Vec::new();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fuzz_corpus");
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let data = std::fs::read(entry.path()).unwrap();
        run_saving(&data, &remote);
        corpus.push(data);
    }
    let mut rng = Rng(env_or("HAK_FUZZ_SEED", 1) | 1);
    for _ in 0..env_or("HAK_FUZZ_INPUTS", 3000) {
        let input = mutate(&mut rng, &corpus);
        run_saving(&input, &remote);
        if corpus.len() < 256 {
            corpus.push(input);
        } else {
            let i = rng.below(corpus.len());
            corpus[i] = input;
        }
    }
}
