//! Messages that never allocate: a fixed stack buffer, then `write(2)` to stderr.
//!
//! Everything the allocator prints (fatal errors, the `HAKMEM_STATS` report) goes through
//! [`Line`], because `format!`/`println!` would call back into malloc.

/// A fixed-capacity line buffer; text past the capacity is dropped, never reallocated.
pub struct Line {
    buf: [u8; 512],
    len: usize,
}

impl Line {
    pub const fn new() -> Self {
        Line { buf: [0; 512], len: 0 }
    }

    pub fn str(&mut self, s: &str) -> &mut Self {
        self.raw(s.as_bytes())
    }

    /// Bytes from outside (an environment entry): control and non-ASCII bytes become `?`, so
    /// the message stays one printable line.
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        for &c in b.iter().take(200) {
            let c = if c.is_ascii_graphic() || c == b' ' { c } else { b'?' };
            self.raw(&[c]);
        }
        self
    }

    fn raw(&mut self, b: &[u8]) -> &mut Self {
        let n = b.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&b[..n]);
        self.len += n;
        self
    }

    pub fn num(&mut self, mut n: u64) -> &mut Self {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        // SAFETY: digits[i..] holds only ASCII digits.
        self.str(unsafe { core::str::from_utf8_unchecked(&digits[i..]) })
    }

    pub fn hex(&mut self, n: usize) -> &mut Self {
        let mut digits = [0u8; 18];
        digits[0] = b'0';
        digits[1] = b'x';
        let mut len = 2;
        let mut started = false;
        for shift in (0..16).rev() {
            let d = (n >> (shift * 4)) & 0xf;
            if d != 0 || started || shift == 0 {
                started = true;
                digits[len] = b"0123456789abcdef"[d];
                len += 1;
            }
        }
        // SAFETY: digits[..len] holds only ASCII characters.
        self.str(unsafe { core::str::from_utf8_unchecked(&digits[..len]) })
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Writes the line to stderr, retrying short writes; errors are ignored (nowhere to report them).
    pub fn write_stderr(&self) {
        self.write_fd(2);
    }

    /// Writes the line to `fd`, as `write_stderr` does.
    pub fn write_fd(&self, fd: libc::c_int) {
        let mut rest = self.as_bytes();
        while !rest.is_empty() {
            // SAFETY: `rest` is a valid readable slice for its whole length.
            let n = unsafe { libc::write(fd, rest.as_ptr().cast(), rest.len()) };
            if n <= 0 {
                break;
            }
            rest = &rest[n as usize..];
        }
    }
}

impl Default for Line {
    fn default() -> Self {
        Self::new()
    }
}

/// Reports misuse of the allocator (double free, invalid pointer) in one line and aborts.
#[cold]
#[inline(never)]
pub fn fatal_ptr(what: &str, ptr: usize) -> ! {
    fatal_ptr_note(what, ptr, |_| {})
}

/// `fatal_ptr` with `note` adding to the parenthesis after the pointer (the block's size, where
/// the pointer lies in it).
#[cold]
#[inline(never)]
pub fn fatal_ptr_note(what: &str, ptr: usize, note: impl FnOnce(&mut Line)) -> ! {
    let mut line = Line::new();
    line.str("hakmem: ").str(what).str(" (pointer ").hex(ptr);
    note(&mut line);
    line.str("); aborting\n");
    line.write_stderr();
    // SAFETY: abort never returns and has no preconditions.
    unsafe { libc::abort() }
}

/// Reports a second free (or realloc/malloc_usable_size of a freed block) of `p`, a block of
/// `size` bytes, naming `call`.
#[cold]
#[inline(never)]
pub fn double_free(call: &str, p: *mut u8, size: usize) -> ! {
    let mut line = Line::new();
    line.str(call).str(if call == "free" {
        "(): double free detected"
    } else {
        "(): the block is not allocated (freed already: use after free)"
    });
    // SAFETY: the line holds only ASCII.
    let what = unsafe { core::str::from_utf8_unchecked(line.as_bytes()) };
    fatal_ptr_note(what, p as usize, |l| {
        l.str(", a ").num(size as u64).str("-byte block");
    })
}

/// Reports `p`, passed to `call`, as a pointer into hakmem's heap that is not a live block;
/// `note` tells where it lies.
#[cold]
#[inline(never)]
pub fn invalid_pointer(call: &str, p: *mut u8, note: impl FnOnce(&mut Line)) -> ! {
    let mut line = Line::new();
    line.str(call).str("(): invalid pointer");
    // SAFETY: the line holds only ASCII.
    let what = unsafe { core::str::from_utf8_unchecked(line.as_bytes()) };
    fatal_ptr_note(what, p as usize, |l| {
        note(l);
        l.str("; inside hakmem's heap, not a live block: never handed out, or freed already");
    })
}

/// Reports a broken internal invariant in one line and aborts.
#[cold]
#[inline(never)]
pub fn fatal(what: &str) -> ! {
    let mut line = Line::new();
    line.str("hakmem: ").str(what).str("; aborting\n");
    line.write_stderr();
    // SAFETY: abort never returns and has no preconditions.
    unsafe { libc::abort() }
}

#[cfg(test)]
mod tests {
    use super::Line;

    #[test]
    fn formats_numbers_without_allocating() {
        let mut l = Line::new();
        l.str("a=").num(0).str(" b=").num(1234567890123).str(" c=").hex(0xdead_beef).str(" d=").hex(0);
        assert_eq!(l.as_bytes(), b"a=0 b=1234567890123 c=0xdeadbeef d=0x0");
    }

    #[test]
    fn truncates_instead_of_growing() {
        let mut l = Line::new();
        for _ in 0..100 {
            l.str("0123456789");
        }
        assert_eq!(l.as_bytes().len(), 512);
    }
}
