//! The allocator's lock: a `pthread_mutex_t` that owns the data it guards (`Mutex<T>`), never
//! allocates, and can be taken and released around `fork` by the atfork handlers.
//!
//! Lock order (a thread holding one may take only those after it): the orphan heap
//! (`heap::lifecycle::ORPHAN`) → the registry of heaps (`REGISTRY`) → the SuperSlab pool
//! (`superslab::POOL`) → the Large cache (`large::CACHE`) → the deferred unmaps
//! (`os::DEFERRED`). The orphan heap's slow path takes spans from the pool; any of them may
//! unmap. `init`'s prefork handler takes all five in this order.

use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};

pub struct Mutex<T> {
    raw: UnsafeCell<libc::pthread_mutex_t>,
    data: UnsafeCell<T>,
}

// SAFETY: pthread mutexes are designed to be shared between threads, and `data` is reached only
// through a `Guard`, which holds the lock. (`T` holds raw pointers into the allocator's own
// metadata, which the lock serialises like the rest.)
unsafe impl<T> Sync for Mutex<T> {}

impl<T> Mutex<T> {
    pub const fn new(data: T) -> Self {
        Mutex { raw: UnsafeCell::new(libc::PTHREAD_MUTEX_INITIALIZER), data: UnsafeCell::new(data) }
    }

    pub fn lock(&self) -> Guard<'_, T> {
        // SAFETY: the mutex was statically initialised and is never moved (it lives in a static).
        unsafe { libc::pthread_mutex_lock(self.raw.get()) };
        Guard { mutex: self, not_send: PhantomData }
    }

    /// Takes the lock without a guard, for the fork handlers (`init::prefork`).
    ///
    /// # Safety
    /// The caller releases it (`release`, or `reset_in_child` in a fork child) and touches the
    /// data only through guards of its own meanwhile (none: the handlers only fork).
    pub unsafe fn acquire(&self) {
        // SAFETY: as in `lock`.
        unsafe { libc::pthread_mutex_lock(self.raw.get()) };
    }

    /// # Safety
    /// The calling thread holds the lock, taken by `acquire`.
    pub unsafe fn release(&self) {
        // SAFETY: per the caller.
        unsafe { libc::pthread_mutex_unlock(self.raw.get()) };
    }

    /// In a fork child only one thread exists; whatever other threads held is forgotten.
    ///
    /// # Safety
    /// Called in a fork child before anything else takes the lock.
    pub unsafe fn reset_in_child(&self) {
        // SAFETY: no other thread exists in the child, so nobody can observe the reinitialisation.
        unsafe { self.raw.get().write(libc::PTHREAD_MUTEX_INITIALIZER) };
    }
}

/// Holds the lock; not `Send`, since a pthread mutex is unlocked by the thread that locked it.
pub struct Guard<'a, T> {
    mutex: &'a Mutex<T>,
    not_send: PhantomData<*const ()>,
}

impl<T> Deref for Guard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock, so no other reference to the data exists.
        unsafe { &*self.mutex.data.get() }
    }
}

impl<T> DerefMut for Guard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`.
        unsafe { &mut *self.mutex.data.get() }
    }
}

impl<T> Drop for Guard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: the guard's thread took the lock in `lock`.
        unsafe { libc::pthread_mutex_unlock(self.mutex.raw.get()) };
    }
}
