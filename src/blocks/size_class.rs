//! Size classes of the Tiny and Mid tiers, and the tier boundaries.
//!
//! Classes are 16 B apart up to 128 B, then four per doubling (sizes `2^k * {5,6,7,8}/4`),
//! except from 1 to 8 KiB, where they are eight per doubling (`2^k * {9..=16}/8`): there
//! programs keep many blocks of one odd size (sqlite's page cache: a 4 KiB page and its header,
//! 4,368 B, took 5,120 B blocks; with 4,608 B ones its peak fell from 25.4 to 23.1 MiB). So the
//! internal waste is at most 25% above 128 B, 12.5% from 1 to 8 KiB. Every power of two up to [`MID_MAX`] is a class,
//! and a block of a power-of-two class up to 64 KiB inside a span (spans start at 64 KiB
//! boundaries) is aligned to its size: aligned requests use that (see
//! [`SizeClass::for_aligned`]).
//!
//! | tier  | sizes                | classes | span (see `superslab`)                      |
//! |-------|----------------------|---------|---------------------------------------------|
//! | Tiny  | 0 ..= 1024 B         | 0..20   | 1 slab (64 KiB)                             |
//! | Mid   | 1025 ..= 131072 B    | 20..60  | 2 slabs up to 8 KiB, 10 up to 64 KiB, 15 above |
//! | Large | 131073 B ..= 1 MiB   | —       | a span of its own (`large_span`)            |
//! | Large | above 1 MiB          | —       | own mapping (`large`)                       |
//!
//! The Mid boundary is measured: with blocks of 64-128 KiB in their own mappings, a random
//! free+malloc pair cost 243 ns against 49 ns for 32-64 KiB blocks in spans (mimalloc: 84 ns),
//! and 72 ns once spans covered them; for 128-256 KiB spans gained little (235 -> 204 ns) and
//! would hold too few blocks, wasting address space (which `RLIMIT_AS` counts). Span lengths
//! tile the 31 data slabs of a SuperSlab: 15 x 2, 3 x 10, 2 x 15.

pub const TINY_MAX: usize = 1024;
pub const MID_MAX: usize = 128 * 1024;
pub const NUM_CLASSES: usize = 60;
/// Spans start at slab boundaries, so only alignments up to a slab come from the size classes.
const MAX_CLASS_ALIGN: usize = 64 * 1024;
pub const FIRST_MID_CLASS: usize = 20;

/// Index of a size class; always `< NUM_CLASSES`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SizeClass(pub u8);

/// The first class of the eight-per-doubling range (1 to 8 KiB), and the first after it.
const FINE_CLASSES: usize = FIRST_MID_CLASS;
const COARSE_CLASSES: usize = FINE_CLASSES + 3 * 8;

const fn class_size_of(i: usize) -> usize {
    if i < 8 {
        (i + 1) * 16
    } else if i < FINE_CLASSES {
        // Four per doubling: (128, 256], (256, 512], (512, 1024].
        (128 << ((i - 8) / 4)) / 4 * ((i - 8) % 4 + 5)
    } else if i < COARSE_CLASSES {
        // Eight per doubling: (1, 2], (2, 4], (4, 8] KiB.
        let i = i - FINE_CLASSES;
        (1024 << (i / 8)) / 8 * (i % 8 + 9)
    } else {
        // Four per doubling from 8 KiB.
        let i = i - COARSE_CLASSES;
        (8192 << (i / 4)) / 4 * (i % 4 + 5)
    }
}

const fn compute_class(size: usize) -> usize {
    if size <= 128 {
        if size == 0 {
            0
        } else {
            (size - 1) >> 4
        }
    } else {
        let n = size - 1;
        let shift = usize::BITS as usize - 1 - n.leading_zeros() as usize; // floor(log2(n)) >= 7
        if shift < 10 {
            8 + (shift - 7) * 4 + ((n >> (shift - 2)) & 3)
        } else if shift < 13 {
            FINE_CLASSES + (shift - 10) * 8 + ((n >> (shift - 3)) & 7)
        } else {
            COARSE_CLASSES + (shift - 13) * 4 + ((n >> (shift - 2)) & 3)
        }
    }
}

const CLASS_SIZES: [u32; NUM_CLASSES] = {
    let mut t = [0u32; NUM_CLASSES];
    let mut i = 0;
    while i < NUM_CLASSES {
        t[i] = class_size_of(i) as u32;
        i += 1;
    }
    t
};

/// Class of every tiny size, indexed by the size itself: 1 KiB of table saves malloc the
/// rounding to 16-byte granules (two instructions on its fast path). Every heap carries a copy
/// (`Heap::tiny_class`), which malloc indexes from the heap pointer it already holds.
pub const TINY_CLASS_BY_SIZE: [u8; TINY_MAX + 1] = {
    let mut t = [0u8; TINY_MAX + 1];
    let mut size = 0;
    while size < t.len() {
        t[size] = compute_class(size) as u8;
        size += 1;
    }
    t
};

const _: () = assert!(class_size_of(NUM_CLASSES - 1) == MID_MAX);
const _: () = {
    let mut size = 0;
    while size <= TINY_MAX {
        assert!((TINY_CLASS_BY_SIZE[size] as usize) < FIRST_MID_CLASS);
        size += 1;
    }
};
const _: () = assert!(class_size_of(FIRST_MID_CLASS - 1) == TINY_MAX);
const _: () = assert!(class_size_of(COARSE_CLASSES - 1) == 8192);

impl SizeClass {
    /// Class of a tiny request (`size <= TINY_MAX`): one table load.
    #[inline(always)]
    pub fn for_tiny(size: usize) -> SizeClass {
        debug_assert!(size <= TINY_MAX);
        let class = TINY_CLASS_BY_SIZE[size];
        // SAFETY: every entry is a tiny class (asserted at compile time above); telling the
        // compiler so spares the bounds check where the class indexes a per-class array.
        unsafe { core::hint::assert_unchecked((class as usize) < FIRST_MID_CLASS) };
        SizeClass(class)
    }

    /// Class of any request up to `MID_MAX`.
    #[inline]
    pub fn for_size(size: usize) -> SizeClass {
        debug_assert!(size <= MID_MAX);
        if size <= TINY_MAX {
            Self::for_tiny(size)
        } else {
            SizeClass(compute_class(size) as u8)
        }
    }

    /// The smallest class that holds `size` bytes and whose block size is a multiple of `align`
    /// (a power of two), or None when `size` is beyond the Mid tier or `align` beyond a slab.
    pub fn for_aligned(size: usize, align: usize) -> Option<SizeClass> {
        if size > MID_MAX || align > MAX_CLASS_ALIGN {
            return None;
        }
        let mut c = Self::for_size(size.max(align)).0 as usize;
        while c < NUM_CLASSES {
            if (CLASS_SIZES[c] as usize).is_multiple_of(align) {
                return Some(SizeClass(c as u8));
            }
            c += 1;
        }
        None
    }

    #[inline(always)]
    pub fn index(self) -> usize {
        self.0 as usize
    }

    #[inline(always)]
    pub fn block_size(self) -> usize {
        CLASS_SIZES[self.index()] as usize
    }

    /// How many 64 KiB slabs one span of this class takes: enough for several blocks, in
    /// lengths that tile a SuperSlab's 31 data slabs.
    pub fn span_slabs(self) -> usize {
        let size = self.block_size();
        if size <= TINY_MAX {
            1
        } else if size <= 8192 {
            2
        } else if size <= 64 * 1024 {
            10
        } else {
            15
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_size_gets_the_smallest_class_that_fits() {
        for size in 0..=MID_MAX {
            let c = SizeClass::for_size(size);
            assert!(c.block_size() >= size, "size {size}");
            if c.0 > 0 {
                assert!(SizeClass(c.0 - 1).block_size() < size, "size {size} not tight");
            }
            if size <= TINY_MAX {
                assert_eq!(c, SizeClass::for_tiny(size));
                assert!(c.index() < FIRST_MID_CLASS);
            } else {
                assert!(c.index() >= FIRST_MID_CLASS);
            }
        }
    }

    #[test]
    fn class_table_is_increasing_aligned_and_bounded_waste() {
        for i in 0..NUM_CLASSES {
            let s = SizeClass(i as u8).block_size();
            assert_eq!(s % 16, 0);
            if i > 0 {
                let prev = SizeClass(i as u8 - 1).block_size();
                assert!(s > prev);
                if prev >= 128 {
                    assert!((s - prev) * 4 <= prev, "class {i} wastes more than 25%");
                }
                if (1024..8192).contains(&prev) {
                    assert!((s - prev) * 8 <= prev, "class {i} wastes more than 12.5%");
                }
            }
        }
    }

    #[test]
    fn aligned_classes_are_multiples_of_the_alignment() {
        let mut align = 16;
        while align <= MAX_CLASS_ALIGN {
            for size in (0..=MID_MAX).step_by(7) {
                let c = SizeClass::for_aligned(size, align).unwrap();
                assert!(c.block_size() >= size);
                assert_eq!(c.block_size() % align, 0);
            }
            align *= 2;
        }
        assert!(SizeClass::for_aligned(MID_MAX + 1, 16).is_none());
        assert!(SizeClass::for_aligned(16, MAX_CLASS_ALIGN * 2).is_none());
    }

    #[test]
    fn every_span_holds_several_blocks() {
        for i in 0..NUM_CLASSES {
            let c = SizeClass(i as u8);
            let blocks = c.span_slabs() * 65536 / c.block_size();
            assert!(blocks >= 7, "class {i}");
        }
    }
}
