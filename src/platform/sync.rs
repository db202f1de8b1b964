//! A process-wide lock on top of `pthread_mutex_t`: it never allocates, and `fork` handling can
//! take and release it from the atfork handlers.

use core::cell::UnsafeCell;

pub struct Mutex {
    raw: UnsafeCell<libc::pthread_mutex_t>,
}

// SAFETY: pthread mutexes are designed to be shared between threads.
unsafe impl Sync for Mutex {}

impl Mutex {
    pub const fn new() -> Self {
        Mutex { raw: UnsafeCell::new(libc::PTHREAD_MUTEX_INITIALIZER) }
    }

    pub fn lock(&self) -> Guard<'_> {
        self.acquire();
        Guard { mutex: self }
    }

    /// Takes the lock without a guard (the fork handlers take it in `prefork` and release it in
    /// the parent and the child).
    pub fn acquire(&self) {
        // SAFETY: the mutex was statically initialised and is never moved (it lives in a static).
        unsafe { libc::pthread_mutex_lock(self.raw.get()) };
    }

    pub fn release(&self) {
        // SAFETY: called only by the thread that holds the lock.
        unsafe { libc::pthread_mutex_unlock(self.raw.get()) };
    }

    /// In a fork child only one thread exists; whatever other threads held is forgotten.
    pub fn reset_in_child(&self) {
        // SAFETY: no other thread exists in the child, so nobody can observe the reinitialisation.
        unsafe { self.raw.get().write(libc::PTHREAD_MUTEX_INITIALIZER) };
    }
}

impl Default for Mutex {
    fn default() -> Self {
        Self::new()
    }
}

pub struct Guard<'a> {
    mutex: &'a Mutex,
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        self.mutex.release();
    }
}
