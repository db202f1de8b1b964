//! Model-based random tests: random sequences of allocation calls checked against a shadow model
//! of what must hold — every live block is aligned, disjoint from every other, at least as large
//! as asked (usable size too), and keeps its contents until freed; calloc memory is zero.

use hakmem::ffi::{hak_calloc, hak_free, hak_malloc, hak_posix_memalign, hak_realloc, hak_usable_size};
use std::collections::BTreeMap;
use std::ffi::c_void;

/// A small deterministic PRNG (xorshift64*), so failures replay from the seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// Sizes across every tier, weighted towards small ones as real programs are.
    fn size(&mut self) -> usize {
        match self.below(100) {
            0..=59 => self.below(257) as usize,
            60..=84 => self.below(1100) as usize,
            85..=97 => 1000 + self.below(70_000) as usize,
            _ => 60_000 + self.below(3 << 20) as usize,
        }
    }
}

#[derive(Clone, Copy)]
struct Live {
    size: usize,
    seed: u8,
}

fn fill(p: *mut u8, size: usize, seed: u8) {
    // Writing every byte of multi-MiB blocks is slow; the ends and a stride catch corruption.
    for i in checked_offsets(size) {
        // SAFETY: i < size, and p holds size bytes.
        unsafe { p.add(i).write(seed.wrapping_add(i as u8)) };
    }
}

fn check(p: *mut u8, size: usize, seed: u8) {
    check_prefix(p, size, size, seed)
}

/// Checks the first `len` bytes of a block that was filled as a block of `filled` bytes.
fn check_prefix(p: *mut u8, filled: usize, len: usize, seed: u8) {
    for i in checked_offsets(filled).filter(|&i| i < len) {
        // SAFETY: as in fill.
        let got = unsafe { p.add(i).read() };
        assert_eq!(got, seed.wrapping_add(i as u8), "block {p:?} of {filled} bytes corrupted at {i}");
    }
}

fn checked_offsets(size: usize) -> impl Iterator<Item = usize> {
    let stride = if size <= 4096 { 1 } else { 61 };
    (0..size).step_by(stride).chain(size.saturating_sub(16)..size)
}

struct Model {
    live: BTreeMap<usize, Live>,
}

impl Model {
    fn insert(&mut self, p: *mut u8, size: usize, seed: u8, align: usize) {
        assert!(!p.is_null(), "allocation of {size} failed");
        let a = p as usize;
        assert_eq!(a % align, 0, "block of {size} not aligned to {align}");
        // SAFETY: `p` is a live block just allocated.
        let usable = unsafe { hak_usable_size(p.cast()) };
        assert!(usable >= size, "usable {usable} < requested {size}");
        let end = a + size.max(1);
        if let Some((&b, l)) = self.live.range(..end).next_back() {
            assert!(b + l.size.max(1) <= a || b >= end, "blocks overlap: {a:#x}+{size} and {b:#x}+{}", l.size);
        }
        if let Some((&b, _)) = self.live.range(a..).next() {
            assert!(b >= end, "blocks overlap: {a:#x}+{size} and {b:#x}");
        }
        fill(p, size, seed);
        self.live.insert(a, Live { size, seed });
    }

    fn take_random(&mut self, rng: &mut Rng) -> Option<(usize, Live)> {
        if self.live.is_empty() {
            return None;
        }
        let key = rng.next() as usize;
        let (&a, &l) = self.live.range(key..).next().or_else(|| self.live.iter().next())?;
        self.live.remove(&a);
        check(a as *mut u8, l.size, l.seed);
        Some((a, l))
    }
}

fn run(seed: u64, ops: usize, max_live: usize) {
    let mut rng = Rng(seed | 1);
    let mut m = Model { live: BTreeMap::new() };
    for _ in 0..ops {
        let seed8 = rng.next() as u8;
        match rng.below(10) {
            0..=3 if m.live.len() < max_live => {
                let size = rng.size();
                m.insert(hak_malloc(size).cast(), size, seed8, 16);
            }
            4 if m.live.len() < max_live => {
                let (n, each) = (1 + rng.below(8) as usize, rng.size() / 8);
                let p = hak_calloc(n, each).cast::<u8>();
                for i in checked_offsets(n * each) {
                    // SAFETY: p holds n * each bytes.
                    assert_eq!(unsafe { p.add(i).read() }, 0, "calloc memory not zero at {i}");
                }
                m.insert(p, n * each, seed8, 16);
            }
            5 if m.live.len() < max_live => {
                let align = 1usize << (3 + rng.below(19)); // 8 B .. 2 MiB
                let size = rng.size();
                let mut p: *mut c_void = std::ptr::null_mut();
                // SAFETY: &mut p is writable.
                assert_eq!(unsafe { hak_posix_memalign(&mut p, align, size) }, 0);
                m.insert(p.cast(), size, seed8, align.max(8));
            }
            6 | 7 => {
                if let Some((a, l)) = m.take_random(&mut rng) {
                    let size = if rng.below(2) == 0 { rng.size() } else { l.size + rng.below(4096) as usize };
                    // SAFETY: `a` is a live block taken out of the model.
                    let q = unsafe { hak_realloc(a as *mut c_void, size) }.cast::<u8>();
                    if size == 0 {
                        assert!(q.is_null());
                        continue;
                    }
                    check_prefix(q, l.size, size, l.seed);
                    m.insert(q, size, seed8, 16);
                }
            }
            _ => {
                if let Some((a, _)) = m.take_random(&mut rng) {
                    // SAFETY: a live block from hak_malloc & co., freed once.
                    unsafe { hak_free(a as *mut c_void) };
                }
            }
        }
    }
    while let Some((a, _)) = m.take_random(&mut rng) {
        // SAFETY: a live block from hak_malloc & co., freed once.
        unsafe { hak_free(a as *mut c_void) };
    }
}

#[test]
fn random_operations_keep_blocks_disjoint_aligned_and_intact() {
    for seed in 1..=4 {
        run(seed * 0x9e37_79b9, 40_000, 2_000);
    }
}

#[test]
fn random_operations_on_many_threads_at_once() {
    let threads: Vec<_> = (0..4).map(|t| std::thread::spawn(move || run(0xabcd + t, 30_000, 1_000))).collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn blocks_freed_by_other_threads_are_reused_not_lost() {
    use std::sync::mpsc;
    struct Ptr(usize, usize, u8);
    // Producers allocate and fill; the consumer checks and frees; repeated so reuse is exercised.
    for round in 0..3u64 {
        let (tx, rx) = mpsc::sync_channel::<Ptr>(1024);
        let producers: Vec<_> = (0..3)
            .map(|t| {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    let mut rng = Rng(round * 31 + t + 7);
                    for _ in 0..20_000 {
                        let size = rng.size() % 70_000;
                        let seed = rng.next() as u8;
                        let p = hak_malloc(size).cast::<u8>();
                        assert!(!p.is_null());
                        fill(p, size, seed);
                        tx.send(Ptr(p as usize, size, seed)).unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        for Ptr(p, size, seed) in rx {
            check(p as *mut u8, size, seed);
            // SAFETY: a live block from hak_malloc & co., freed once.
            unsafe { hak_free(p as *mut c_void) };
        }
        for p in producers {
            p.join().unwrap();
        }
    }
}
