//! The intrusive doubly linked list every metadata list uses (SuperSlabs by state and all of
//! them, abandoned spans, heap records): nodes live in memory the allocator mapped itself and
//! carry their own links, so a list never allocates. A node type may carry several sets of
//! links, one per list kind `K` it can be on (a marker type), each on at most one list of that
//! kind at a time. In debug builds every operation checks the links it touches and, on lists
//! of up to 64 nodes, walks the whole list (`validate`).

use core::marker::PhantomData;
use core::ptr;

/// A node's links for lists of kind `K`.
pub struct Links<T> {
    next: *mut T,
    prev: *mut T,
}

impl<T> Links<T> {
    pub const NONE: Links<T> = Links { next: ptr::null_mut(), prev: ptr::null_mut() };
}

/// A type whose nodes carry `Links` for lists of kind `K`.
///
/// # Safety
/// `links(n)` returns a pointer to links inside the node `n` points at, the same ones every
/// time, used by lists of kind `K` only.
pub unsafe trait Node<K>: Sized {
    fn links(n: *mut Self) -> *mut Links<Self>;
}

pub struct List<T, K> {
    head: *mut T,
    tail: *mut T,
    len: usize,
    kind: PhantomData<K>,
}

impl<T: Node<K>, K> List<T, K> {
    pub const EMPTY: List<T, K> = List { head: ptr::null_mut(), tail: ptr::null_mut(), len: 0, kind: PhantomData };

    pub fn head(&self) -> *mut T {
        self.head
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.head.is_null()
    }

    /// The node after `n` on its list; null at the end.
    ///
    /// # Safety
    /// `n` is a live node on a list of kind `K`.
    pub unsafe fn next(n: *mut T) -> *mut T {
        // SAFETY: per the caller.
        unsafe { (*T::links(n)).next }
    }

    /// # Safety
    /// `n` is a live node on no list of kind `K`; it stays live while on this one.
    pub unsafe fn push_front(&mut self, n: *mut T) {
        // SAFETY: per the caller; listed nodes are live.
        unsafe {
            *T::links(n) = Links { next: self.head, prev: ptr::null_mut() };
            if self.head.is_null() {
                self.tail = n;
            } else {
                (*T::links(self.head)).prev = n;
            }
        }
        self.head = n;
        self.len += 1;
        self.debug_check_ends();
    }

    /// # Safety
    /// As for `push_front`.
    pub unsafe fn push_back(&mut self, n: *mut T) {
        // SAFETY: per the caller; listed nodes are live.
        unsafe {
            *T::links(n) = Links { next: ptr::null_mut(), prev: self.tail };
            if self.tail.is_null() {
                self.head = n;
            } else {
                (*T::links(self.tail)).next = n;
            }
        }
        self.tail = n;
        self.len += 1;
        self.debug_check_ends();
    }

    /// Makes `n` the head, the nodes before it moving to the tail in their order (a round-robin
    /// scan that stopped at `n` starts there next time).
    ///
    /// # Safety
    /// `n` is on this list.
    pub unsafe fn rotate_to(&mut self, n: *mut T) {
        if self.head == n {
            return;
        }
        // SAFETY: per the caller, `n` is listed and not the head, so its predecessor, the head
        // and the tail are listed nodes.
        unsafe {
            let last = (*T::links(n)).prev;
            (*T::links(last)).next = ptr::null_mut();
            (*T::links(n)).prev = ptr::null_mut();
            (*T::links(self.tail)).next = self.head;
            (*T::links(self.head)).prev = self.tail;
            self.tail = last;
        }
        self.head = n;
        self.debug_check_ends();
    }

    /// Takes `n` off the list; its links are cleared.
    ///
    /// # Safety
    /// `n` is on this list.
    pub unsafe fn remove(&mut self, n: *mut T) {
        // SAFETY: per the caller; its neighbours are listed, hence live.
        unsafe {
            let Links { next, prev } = *T::links(n);
            debug_assert!(prev.is_null() == (self.head == n) && next.is_null() == (self.tail == n));
            debug_assert!(prev.is_null() || (*T::links(prev)).next == n);
            debug_assert!(next.is_null() || (*T::links(next)).prev == n);
            if prev.is_null() {
                self.head = next;
            } else {
                (*T::links(prev)).next = next;
            }
            if next.is_null() {
                self.tail = prev;
            } else {
                (*T::links(next)).prev = prev;
            }
            *T::links(n) = Links::NONE;
        }
        self.len -= 1;
        self.debug_check_ends();
    }

    /// Takes the first node off the list; null when it is empty.
    pub fn pop_front(&mut self) -> *mut T {
        let n = self.head;
        if !n.is_null() {
            // SAFETY: `n` heads this list.
            unsafe { self.remove(n) };
        }
        n
    }

    /// Aborts unless the links agree with each other and with the count.
    #[cfg(any(test, debug_assertions))]
    pub fn validate(&self) {
        let mut n = self.head;
        let mut prev = ptr::null_mut();
        let mut count = 0;
        while !n.is_null() {
            // SAFETY: listed nodes are live.
            let links = unsafe { &*T::links(n) };
            if links.prev != prev || count == self.len {
                crate::platform::diag::fatal("list corrupted: links disagree");
            }
            prev = n;
            n = links.next;
            count += 1;
        }
        if prev != self.tail || count != self.len {
            crate::platform::diag::fatal("list corrupted: tail or length disagrees");
        }
    }

    #[inline(always)]
    fn debug_check_ends(&self) {
        debug_assert!(self.head.is_null() == self.tail.is_null() && self.head.is_null() == (self.len == 0));
        #[cfg(debug_assertions)]
        if self.len <= 64 {
            self.validate();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Item {
        links: Links<Item>,
    }
    struct Kind;
    // SAFETY: the links are the item's own field.
    unsafe impl Node<Kind> for Item {
        fn links(n: *mut Self) -> *mut Links<Self> {
            // SAFETY: `n` points at an item (the trait's contract for callers).
            unsafe { ptr::addr_of_mut!((*n).links) }
        }
    }

    #[test]
    fn nodes_come_off_where_they_are_and_the_links_stay_consistent() {
        let mut items: [Item; 4] = core::array::from_fn(|_| Item { links: Links::NONE });
        let p: [*mut Item; 4] = core::array::from_fn(|i| ptr::addr_of_mut!(items[i]));
        let mut l: List<Item, Kind> = List::EMPTY;
        // SAFETY: every item lives on the stack for the whole test and is pushed once.
        unsafe {
            l.push_back(p[1]);
            l.push_front(p[0]);
            l.push_back(p[2]);
            l.push_back(p[3]);
            l.validate();
            l.rotate_to(p[2]);
            l.validate();
            assert_eq!(
                (l.head(), List::<Item, Kind>::next(p[3]), List::<Item, Kind>::next(p[1])),
                (p[2], p[0], ptr::null_mut())
            );
            l.rotate_to(p[0]);
            l.validate();
            assert_eq!((l.head(), l.len()), (p[0], 4));
            l.remove(p[2]);
            l.validate();
            assert_eq!(List::<Item, Kind>::next(p[1]), p[3]);
            l.remove(p[3]);
            assert_eq!(l.pop_front(), p[0]);
            assert_eq!(l.pop_front(), p[1]);
            assert!(l.is_empty() && l.pop_front().is_null());
            l.validate();
        }
    }
}
