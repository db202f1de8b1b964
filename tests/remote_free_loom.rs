//! Model checks of the remote-free queue (src/blocks/remote_free.rs) with loom: every interleaving of
//! the producers' pushes and the owner's `take_all`, within a preemption bound, and the weak
//! memory outcomes the orderings allow.
//!
//! Runs under a plain `cargo test` (no `--cfg loom`): only loom's own types are used here, and
//! the queue is generic over `ListHead`, which this file implements for a loom `AtomicPtr`.
//! Loom cannot see plain memory accesses, so each block carries a loom `UnsafeCell` payload
//! written before the push and read after the take: if a push or take lacks the ordering that
//! makes the producer's writes visible, loom reports a causality violation.
//! `LOOM_MAX_PREEMPTIONS` overrides the preemption bound set below.

use hakmem::internal::Block;
use hakmem::internal::{last, push, push_chain, take_all, ListHead};
use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicPtr, Ordering};
use loom::sync::Arc;
use loom::thread;
use std::ptr;

/// Loom's `AtomicPtr` behind the queue's trait (a newtype: the orphan rule forbids implementing
/// hakmem's trait for loom's type directly).
struct LoomHead(AtomicPtr<Block>);

impl ListHead for LoomHead {
    fn load(&self, order: Ordering) -> *mut Block {
        self.0.load(order)
    }
    fn compare_exchange_weak(
        &self,
        current: *mut Block,
        new: *mut Block,
        success: Ordering,
        failure: Ordering,
    ) -> Result<*mut Block, *mut Block> {
        self.0.compare_exchange_weak(current, new, success, failure)
    }
    fn swap(&self, new: *mut Block, order: Ordering) -> *mut Block {
        self.0.swap(new, order)
    }
}

/// A queued block plus a payload whose accesses loom checks. `block` comes first, so a
/// `*mut Node` is a valid `*mut Block` and back.
#[repr(C)]
struct Node {
    block: Block,
    payload: UnsafeCell<usize>,
}

/// Identifies producer `p`'s `i`th block; never 0.
fn key_of(p: usize, i: usize) -> usize {
    (p + 1) * 16 + i
}

fn payload_of(key: usize) -> usize {
    key.wrapping_mul(0x9e37_79b9) | 1
}

/// A producer: allocates its blocks, writes their contents, then pushes them in order, one by
/// one (`chain` 1) or in chains of `chain` blocks, each built newest first (as a freeing thread
/// builds its pending chains), so that the consumer still sees each producer's blocks in
/// reverse order within a take.
fn produce(head: &LoomHead, p: usize, n: usize, chain: usize) {
    let (mut first, mut last): (*mut Block, *mut Block) = (ptr::null_mut(), ptr::null_mut());
    let mut len = 0;
    for i in 0..n {
        let node = Box::into_raw(Box::new(Node { block: Block::EMPTY, payload: UnsafeCell::new(0) }));
        let key = key_of(p, i);
        // SAFETY: the node is ours until a push publishes it.
        unsafe {
            (*node).block.key = key;
            (*node).payload.with_mut(|v| *v = payload_of(key));
        }
        if chain == 1 {
            // SAFETY: the node is a valid block no list holds; the queue takes it.
            unsafe { push(head, node.cast()) };
            continue;
        }
        // SAFETY: as above; the chain is ours until `push_chain` publishes it.
        unsafe { Block::set_next(node.cast(), first) };
        if last.is_null() {
            last = node.cast();
        }
        first = node.cast();
        len += 1;
        if len == chain || i + 1 == n {
            // SAFETY: `first ..= last` is a chain of valid blocks no list holds.
            unsafe { push_chain(head, first, last, len as u32) };
            (first, last, len) = (ptr::null_mut(), ptr::null_mut(), 0);
        }
    }
}

/// What the consumer has received so far.
struct Received {
    producers: Vec<usize>,
    /// `seen[p][i]`: producer p's block i was delivered.
    seen: Vec<Vec<bool>>,
    /// The highest index taken so far from each producer (blocks must come in push order
    /// across takes, and in reverse push order within one take: the queue is a LIFO).
    last_take_max: Vec<Option<usize>>,
    nodes: Vec<*mut Node>,
}

impl Received {
    fn new(producers: &[usize]) -> Self {
        Received {
            producers: producers.to_vec(),
            seen: producers.iter().map(|&n| vec![false; n]).collect(),
            last_take_max: vec![None; producers.len()],
            nodes: Vec::new(),
        }
    }

    /// One `take_all`, checked: a well-formed list whose count and tail match, every block
    /// new, its key and payload as its producer wrote them, LIFO order per producer.
    fn take(&mut self, head: &LoomHead) {
        let (first, count) = take_all(head);
        if first.is_null() {
            assert_eq!(count, 0, "empty take with a count");
            return;
        }
        // SAFETY: the list `take_all` returned is ours alone.
        let tail = unsafe { last(first, |_| {}) };
        let mut walked = 0u32;
        let mut cur = first;
        let mut walked_last = ptr::null_mut();
        // Per producer, the index of the previous block of this take (must decrease).
        let mut prev: Vec<Option<usize>> = vec![None; self.producers.len()];
        let mut this_take_max: Vec<Option<usize>> = vec![None; self.producers.len()];
        while !cur.is_null() {
            let node = cur.cast::<Node>();
            // SAFETY: every block on the list is a live `Node` a producer published.
            let (key, payload) = unsafe { ((*node).block.key, (*node).payload.with(|v| *v)) };
            assert!(key >= 16, "block with an unwritten key: {key}");
            let (p, i) = (key / 16 - 1, key % 16);
            assert!(p < self.producers.len() && i < self.producers[p], "bad key {key}");
            assert_eq!(payload, payload_of(key), "payload of block {key} not visible");
            assert!(!self.seen[p][i], "block {key} delivered twice");
            self.seen[p][i] = true;
            if let Some(j) = prev[p] {
                assert!(i < j, "producer {p}: block {i} after {j} in one take (not LIFO)");
            }
            if let Some(m) = self.last_take_max[p] {
                assert!(i > m, "producer {p}: block {i} taken after block {m}");
            }
            prev[p] = Some(i);
            this_take_max[p] = this_take_max[p].max(Some(i));
            self.nodes.push(node);
            walked += 1;
            walked_last = cur;
            // SAFETY: as above.
            cur = unsafe { Block::next(cur) };
        }
        assert_eq!(walked, count, "count does not match the list");
        assert_eq!(walked_last, tail, "tail is not the list's last block");
        for (m, t) in self.last_take_max.iter_mut().zip(this_take_max) {
            if t.is_some() {
                *m = t;
            }
        }
    }

    /// After the final drain: every block arrived; frees them.
    fn finish(self) {
        for (p, s) in self.seen.iter().enumerate() {
            for (i, &got) in s.iter().enumerate() {
                assert!(got, "producer {p}: block {i} never delivered");
            }
        }
        for node in self.nodes {
            // SAFETY: each node came from `Box::into_raw` and was delivered exactly once.
            drop(unsafe { Box::from_raw(node) });
        }
    }
}

/// A model checker bounded to `bound` preemptions (`None`: exhaustive); `LOOM_MAX_PREEMPTIONS`
/// overrides either.
fn builder(bound: Option<usize>) -> loom::model::Builder {
    let mut b = loom::model::Builder::new();
    if std::env::var_os("LOOM_MAX_PREEMPTIONS").is_none() {
        b.preemption_bound = bound;
    }
    b
}

/// Producers push `producers[p]` blocks each (in chains of `chain`); the consumer takes
/// `concurrent_takes` times while they run, then joins them and drains.
fn model(producers: &'static [usize], chain: usize, concurrent_takes: usize, bound: Option<usize>) {
    builder(bound).check(move || {
        let head = Arc::new(LoomHead(AtomicPtr::new(ptr::null_mut())));
        let handles: Vec<_> = producers
            .iter()
            .enumerate()
            .map(|(p, &n)| {
                let head = head.clone();
                thread::spawn(move || produce(&head, p, n, chain))
            })
            .collect();
        let mut got = Received::new(producers);
        for _ in 0..concurrent_takes {
            // Without this yield loom never runs a producer before the take: its DPOR keeps one
            // "last access" per atomic, so the take's load is forgotten once a producer loads,
            // and the producer's CAS is never seen to conflict with it. Yielding lets the
            // producers go first, and every later conflict (the take's load or swap against a
            // producer's CAS) then backtracks to put the take at each point in between.
            thread::yield_now();
            got.take(&head);
        }
        for h in handles {
            h.join().unwrap();
        }
        got.take(&head);
        // Nothing is left once every producer has finished and the queue was drained.
        let (first, count) = take_all(&*head);
        assert!(first.is_null() && count == 0, "queue not empty after the drain");
        got.finish();
    });
}

/// (a) Two producers, one or two blocks each, racing the consumer's take_all (once or twice);
/// then a drain after joining them. Each take lands anywhere among the pushes.
#[test]
fn two_producers_race_the_consumer() {
    model(&[1, 1], 1, 1, None);
    model(&[2, 1], 1, 1, Some(4));
    model(&[2, 2], 1, 1, Some(4));
    model(&[1, 2], 1, 2, Some(4));
    model(&[2, 2], 1, 2, Some(3));
}

/// (c) Chains: two producers push chains of two blocks (one of them a chain and then a single
/// block) while the consumer takes, once or twice.
#[test]
fn chains_race_the_consumer() {
    model(&[2, 1], 2, 1, Some(4));
    model(&[2, 2], 2, 1, Some(4));
    model(&[3, 2], 2, 2, Some(3));
}

/// (b) Three producers, one block each; the consumer drains after joining them.
#[test]
fn three_producers_then_drain() {
    model(&[1, 1, 1], 1, 0, Some(4));
}
