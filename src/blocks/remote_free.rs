//! The multi-producer, single-consumer queue behind cross-thread frees.
//!
//! Any thread pushes a block (or a chain of blocks) with a CAS on the list head; only the slab's
//! owner consumes, and it takes the whole list in one atomic swap, so a block is never popped by
//! two threads and the ABA problem cannot arise (nobody pops single nodes). Each block's `next`
//! is written before the CAS that publishes it.
//!
//! Both functions are generic over [`ListHead`] so that `tests/remote_free_loom.rs` can
//! model-check them with loom's atomics (every interleaving and weak-memory outcome); the slabs
//! use core's `AtomicPtr`, and the trait's methods inline to the same instructions.

use crate::blocks::block::Block;
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};

/// The atomic operations the queue needs on its head pointer. Implemented for core's
/// `AtomicPtr<Block>` (what a slab holds); the loom test implements it for loom's.
pub trait ListHead {
    fn load(&self, order: Ordering) -> *mut Block;
    fn compare_exchange_weak(
        &self,
        current: *mut Block,
        new: *mut Block,
        success: Ordering,
        failure: Ordering,
    ) -> Result<*mut Block, *mut Block>;
    fn swap(&self, new: *mut Block, order: Ordering) -> *mut Block;
}

impl ListHead for AtomicPtr<Block> {
    #[inline(always)]
    fn load(&self, order: Ordering) -> *mut Block {
        AtomicPtr::load(self, order)
    }
    #[inline(always)]
    fn compare_exchange_weak(
        &self,
        current: *mut Block,
        new: *mut Block,
        success: Ordering,
        failure: Ordering,
    ) -> Result<*mut Block, *mut Block> {
        AtomicPtr::compare_exchange_weak(self, current, new, success, failure)
    }
    #[inline(always)]
    fn swap(&self, new: *mut Block, order: Ordering) -> *mut Block {
        AtomicPtr::swap(self, new, order)
    }
}

/// Pushes the chain `first ..= last` (linked through `next`, ending at `last`) onto the queue
/// in one CAS.
///
/// # Safety
/// The chain's blocks are valid, linked from `first` to `last`, and owned by the caller (no list
/// holds them); after the call the queue does.
#[inline]
pub unsafe fn push_chain<H: ListHead + ?Sized>(head: &H, first: *mut Block, last: *mut Block) {
    let mut cur = head.load(Ordering::Relaxed);
    loop {
        // SAFETY: `last` is a block the caller owns until the CAS below publishes the chain.
        unsafe { Block::set_next(last, cur) };
        // Release: the consumer that swaps the list out must see the links and the freed
        // contents.
        match head.compare_exchange_weak(cur, first, Ordering::Release, Ordering::Relaxed) {
            Ok(_) => return,
            Err(now) => cur = now,
        }
    }
}

/// Pushes block `b` onto the queue.
///
/// # Safety
/// `b` is a valid block that the caller owns (no list holds it); after the call the queue does.
#[inline]
pub unsafe fn push<H: ListHead + ?Sized>(head: &H, b: *mut Block) {
    // SAFETY: a one-block chain, as the caller promised.
    unsafe { push_chain(head, b, b) }
}

/// Takes every queued block: (head, tail, count); head is null when the queue was empty.
/// `check` sees every decoded link before it is followed (and does not return for a corrupted
/// one).
pub fn take_all<H: ListHead + ?Sized>(head: &H, check: impl Fn(*mut Block)) -> (*mut Block, *mut Block, u32) {
    if head.load(Ordering::Relaxed).is_null() {
        return (ptr::null_mut(), ptr::null_mut(), 0);
    }
    // Acquire: pairs with the producers' Release so the links we walk are complete.
    let first = head.swap(ptr::null_mut(), Ordering::Acquire);
    let mut tail = first;
    let mut count = 1;
    // SAFETY: after the swap the list is ours alone; every node was published with a valid
    // link, which `check` vets before it is followed.
    unsafe {
        loop {
            let next = Block::next(tail);
            if next.is_null() {
                break;
            }
            check(next);
            tail = next;
            count += 1;
        }
    }
    (first, tail, count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::vec::Vec;

    struct SendPtr(*mut Block);
    // SAFETY: the test hands each block to exactly one producer thread.
    unsafe impl Send for SendPtr {}

    #[test]
    fn concurrent_producers_lose_and_duplicate_nothing() {
        const PRODUCERS: usize = 4;
        const PER: usize = 20_000;
        let blocks: Vec<Block> = (0..PRODUCERS * PER).map(|_| Block::EMPTY).collect();
        let mut blocks = blocks.into_boxed_slice();
        let base = blocks.as_mut_ptr();
        let head = Arc::new(AtomicPtr::new(ptr::null_mut()));
        let mut seen = vec![false; PRODUCERS * PER];
        let mut handles = Vec::new();
        for t in 0..PRODUCERS {
            let head = head.clone();
            let mine: Vec<SendPtr> =
                // SAFETY: indexes are within the boxed slice.
                (0..PER).map(|i| SendPtr(unsafe { base.add(t * PER + i) })).collect();
            handles.push(std::thread::spawn(move || {
                for b in mine {
                    // SAFETY: each block is pushed once, by one producer.
                    unsafe { push(&*head, b.0) };
                }
            }));
        }
        // The consumer drains while producers run.
        let mut total = 0;
        let drain = |seen: &mut Vec<bool>| {
            let (mut cur, tail, n) = take_all(&*head, |_| {});
            let mut walked = 0;
            let mut last = ptr::null_mut();
            while !cur.is_null() {
                // SAFETY: `cur` points into `blocks`.
                let idx = unsafe { cur.offset_from(base) } as usize;
                assert!(!seen[idx], "block delivered twice");
                seen[idx] = true;
                walked += 1;
                last = cur;
                // SAFETY: as above.
                cur = unsafe { Block::next(cur) };
            }
            assert_eq!(walked, n);
            assert_eq!(last, tail);
            n as usize
        };
        while handles.iter().any(|h| !h.is_finished()) {
            total += drain(&mut seen);
        }
        for h in handles {
            h.join().unwrap();
        }
        total += drain(&mut seen);
        assert_eq!(total, PRODUCERS * PER);
        assert!(seen.iter().all(|&s| s));
    }
}
