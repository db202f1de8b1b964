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

/// The head word holds the first block's address and, in the bits above any user-space address
/// (x86-64 and AArch64 give a process 47 or 48 bits), the number of blocks queued: the owner
/// learns how many it took from the swap alone, without walking the list (each link is a cache
/// miss there, on a line the freeing thread wrote).
const COUNT_SHIFT: u32 = 48;
const ADDR_MASK: usize = (1 << COUNT_SHIFT) - 1;
/// More blocks than a queue may hold at once: a slab's capacity must stay below it.
pub const MAX_QUEUED: u32 = 1 << (usize::BITS - COUNT_SHIFT);

fn untag(word: *mut Block) -> (*mut Block, u32) {
    (word.map_addr(|a| a & ADDR_MASK), (word.addr() >> COUNT_SHIFT) as u32)
}

fn tag(first: *mut Block, count: u32) -> *mut Block {
    debug_assert!(first.addr() <= ADDR_MASK && count < MAX_QUEUED);
    first.map_addr(|a| a | (count as usize) << COUNT_SHIFT)
}

/// Pushes the chain `first ..= last` of `n` blocks (linked through `next`, ending at `last`)
/// onto the queue in one CAS.
///
/// # Safety
/// The chain's blocks are valid, linked from `first` to `last`, and owned by the caller (no list
/// holds them); after the call the queue does. The queue then holds fewer than `MAX_QUEUED`.
#[inline]
pub unsafe fn push_chain<H: ListHead + ?Sized>(head: &H, first: *mut Block, last: *mut Block, n: u32) {
    let mut cur = head.load(Ordering::Relaxed);
    loop {
        let (next, queued) = untag(cur);
        // SAFETY: `last` is a block the caller owns until the CAS below publishes the chain.
        unsafe { Block::set_next(last, next) };
        // Release: the consumer that swaps the list out must see the links and the freed
        // contents.
        match head.compare_exchange_weak(cur, tag(first, queued + n), Ordering::Release, Ordering::Relaxed) {
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
    unsafe { push_chain(head, b, b, 1) }
}

/// Takes every queued block: (head, count); head is null and count 0 when the queue was empty.
/// The list's links are as the producers wrote them: whoever follows one checks it first.
pub fn take_all<H: ListHead + ?Sized>(head: &H) -> (*mut Block, u32) {
    if head.load(Ordering::Relaxed).is_null() {
        return (ptr::null_mut(), 0);
    }
    // Acquire: pairs with the producers' Release so the links we walk are complete.
    untag(head.swap(ptr::null_mut(), Ordering::Acquire))
}

/// The last block of the list `first` (not null) that `take_all` returned. `check` sees every
/// decoded link before it is followed (and does not return for a corrupted one).
///
/// # Safety
/// `first` heads a list that `take_all` returned, ours alone.
pub unsafe fn last(first: *mut Block, check: impl Fn(*mut Block)) -> *mut Block {
    let mut tail = first;
    // SAFETY: every node was published with a valid link, which `check` vets before it is
    // followed.
    unsafe {
        loop {
            let next = Block::next(tail);
            if next.is_null() {
                return tail;
            }
            check(next);
            tail = next;
        }
    }
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
        // All of them may be queued at once: fewer than the head word counts.
        const PER: usize = 10_000;
        const _: () = assert!(PRODUCERS * PER < MAX_QUEUED as usize);
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
            let (mut cur, n) = take_all(&*head);
            // SAFETY: the list is ours alone.
            let tail = if cur.is_null() { ptr::null_mut() } else { unsafe { last(cur, |_| {}) } };
            let mut walked = 0;
            let mut seen_last = ptr::null_mut();
            while !cur.is_null() {
                // SAFETY: `cur` points into `blocks`.
                let idx = unsafe { cur.offset_from(base) } as usize;
                assert!(!seen[idx], "block delivered twice");
                seen[idx] = true;
                walked += 1;
                seen_last = cur;
                // SAFETY: as above.
                cur = unsafe { Block::next(cur) };
            }
            assert_eq!(walked, n);
            assert_eq!(seen_last, tail);
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
