//! A free block's two words: its encoded free-list link and its "freed" key; a span's encoded
//! list head; and the per-process secrets they are made with.

use core::sync::atomic::{AtomicUsize, Ordering};

/// A free block: the encoded link, then the "freed" key used to catch double frees.
///
/// Links are stored encoded, `next * LINK_MUL ^ b` (multiplied by a secret per-process odd
/// number, then xor'ed with the block's own address: zero, the most common use-after-free write,
/// decodes to `b * LINK_MUL_INV`, far outside the slab, where `(next ^ b) * LINK_MUL` would
/// decode it to `b` itself), and every
/// decoded link is checked to lie in its slab before it is followed (`Span::holds`): a
/// use-after-free or overflow write into a free block cannot make malloc return an address of
/// the attacker's choosing (glibc's safe-linking and mimalloc's secure mode do the same), and
/// garbage is reported, not dereferenced. The multiplication spreads a change of any bit of
/// the stored link over all the bits above it, so that even a one-byte write (which, with a
/// xor alone, would move the link to another block of the slab, possibly a live one) decodes
/// outside the slab, but for a chance of about 2^-40. A program that can also *read* a freed
/// block learns its key; the encoding stops blind overwrites.
#[repr(C)]
pub struct Block {
    link: usize,
    pub key: usize,
}

impl Block {
    /// A block with no link and no key (tests build lists of their own).
    pub const EMPTY: Block = Block { link: 0, key: 0 };

    /// Makes `b` a free block marked with its freed `key` whose list goes on to `next`.
    ///
    /// # Safety
    /// `b` is a block (at least 16 writable bytes) that no list holds or that the caller owns.
    #[inline(always)]
    pub unsafe fn set_free(b: *mut Block, next: *mut Block, key: usize) {
        // SAFETY: per the caller.
        unsafe { Self::set_free_before(b, ListHead::of(next), key) }
    }

    /// `set_free` for a list held as its encoded head.
    ///
    /// # Safety
    /// As for `set_free`.
    #[inline(always)]
    pub unsafe fn set_free_before(b: *mut Block, rest: ListHead, key: usize) {
        debug_assert_eq!(key, freed_key(b));
        // SAFETY: per the caller.
        unsafe {
            Self::set_rest(b, rest);
            (*b).key = key;
        }
    }

    /// Re-points the link of `b`, a free block the caller owns, at the list `rest`.
    ///
    /// # Safety
    /// As for `set_free`.
    #[inline(always)]
    pub unsafe fn set_rest(b: *mut Block, rest: ListHead) {
        // SAFETY: per the caller.
        unsafe { (*b).link = rest.0 ^ b as usize };
    }

    /// Re-points the link of `b`, a free block the caller owns.
    ///
    /// # Safety
    /// As for `set_free`.
    #[inline(always)]
    pub unsafe fn set_next(b: *mut Block, next: *mut Block) {
        // SAFETY: per the caller.
        unsafe { Self::set_rest(b, ListHead::of(next)) };
    }

    /// The list after `b`, as its encoded head (not decoded: see `ListHead`).
    ///
    /// # Safety
    /// `b` is a readable block.
    #[inline(always)]
    pub unsafe fn rest(b: *mut Block) -> ListHead {
        // SAFETY: per the caller.
        ListHead(unsafe { (*b).link } ^ b as usize)
    }

    /// The decoded link of `b` (not yet checked: see `Span::holds`).
    ///
    /// # Safety
    /// `b` is a readable block.
    #[inline(always)]
    pub unsafe fn next(b: *mut Block) -> *mut Block {
        // SAFETY: per the caller.
        unsafe { Self::rest(b) }.block()
    }
}

/// A free list's head as a span holds it: `head * LINK_MUL`, a block's link before the xor with
/// the block's own address. A push is then one xor (the block's link is `rest ^ b`; the new
/// head, `b * LINK_MUL`, depends on nothing earlier) and so is a pop (the new head is
/// `link ^ b`). A free and a malloc of one class in a loop hand the list's rest to each other
/// through memory; with a plain head each round also waited on both multiplications, which
/// now run beside that chain. Null is 0.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(transparent)]
pub struct ListHead(usize);

impl ListHead {
    pub const EMPTY: ListHead = ListHead(0);

    #[inline(always)]
    pub fn of(b: *mut Block) -> ListHead {
        ListHead(scramble(b as usize))
    }

    /// The head block (not yet checked: see `Span::holds`); null for `EMPTY`.
    #[inline(always)]
    pub fn block(self) -> *mut Block {
        unscramble(self.0) as *mut Block
    }

    #[inline(always)]
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// Random per-process secret mixed into the freed-block key, so that user data does not look
/// freed, and into the free-list links (see `Block`).
static SECRET: AtomicUsize = AtomicUsize::new(0x9e37_79b9_7f4a_7c15);
/// Random odd per-process multiplier of the links, and its inverse modulo 2^64 (see `Block`).
static LINK_MUL: AtomicUsize = AtomicUsize::new(0xbf58_476d_1ce4_e5b9);
static LINK_MUL_INV: AtomicUsize = AtomicUsize::new(inverse(0xbf58_476d_1ce4_e5b9));

/// The inverse of odd `m` modulo 2^64, by Newton's iteration (each step doubles the correct
/// low bits; `3m ^ 2` is correct to 5).
const fn inverse(m: usize) -> usize {
    let mut x = m.wrapping_mul(3) ^ 2;
    let mut i = 0;
    while i < 4 {
        x = x.wrapping_mul(2usize.wrapping_sub(m.wrapping_mul(x)));
        i += 1;
    }
    x
}

/// Sets the secrets (once, before any block exists: see `process::init`).
pub fn seed_secret(secret: usize, multiplier: usize) {
    SECRET.store(secret | 1, Ordering::Relaxed);
    LINK_MUL.store(multiplier | 1, Ordering::Relaxed);
    LINK_MUL_INV.store(inverse(multiplier | 1), Ordering::Relaxed);
}

#[inline(always)]
pub fn freed_key(b: *mut Block) -> usize {
    xor_secret(b as usize)
}

/// `v OP static` with the static read by the instruction itself (`rip`-relative: an ordinary
/// reference to a static in this shared object goes through the GOT, two loads per use).
#[cfg(target_arch = "x86_64")]
macro_rules! with_static {
    ($op:literal, $v:expr, $static:path) => {{
        let mut v: usize = $v;
        // SAFETY: reads an aligned word static, written only at init, before any block exists.
        unsafe {
            core::arch::asm!(
                concat!($op, " {v}, qword ptr [rip + {s}]"),
                v = inout(reg) v,
                s = sym $static,
                options(pure, readonly, nostack)
            );
        }
        v
    }};
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn xor_secret(v: usize) -> usize {
    with_static!("xor", v, SECRET)
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn scramble(v: usize) -> usize {
    with_static!("imul", v, LINK_MUL)
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn unscramble(v: usize) -> usize {
    with_static!("imul", v, LINK_MUL_INV)
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn xor_secret(v: usize) -> usize {
    v ^ SECRET.load(Ordering::Relaxed)
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn scramble(v: usize) -> usize {
    v.wrapping_mul(LINK_MUL.load(Ordering::Relaxed))
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn unscramble(v: usize) -> usize {
    v.wrapping_mul(LINK_MUL_INV.load(Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_multiplier_inverts() {
        for m in [1usize, 3, 0xbf58_476d_1ce4_e5b9, usize::MAX, 0x8000_0000_0000_0001] {
            assert_eq!(m.wrapping_mul(inverse(m)), 1, "{m:#x}");
        }
    }
}
