//! An in-memory file, what `Cursor<Vec<u8>>` is (read, write and seek at a position of its
//! own; writing past the end zero-fills the gap), with storage the kernel can back with
//! 2 MiB transparent huge pages; used by examples/remux for every output file it holds.
//!
//! Why not `Vec<u8>`: a remux output (211 MB in scripts/bench-remux.sh) is written into
//! fresh memory, so with 4 KiB pages every 4 KiB of it is a page fault (zeroing, memory
//! cgroup charge, LRU), then a TLB miss when it is copied into the output file at the end,
//! then a page to free; Linux left in its default `madvise` mode gives huge pages only to
//! memory advised with `madvise(MADV_HUGEPAGE)`, and only in 2 MiB-aligned blocks, which
//! a `Vec<u8>` cannot ask its allocator for. Here the storage is a mapping of its own
//! (`mmap`, 2 MiB-aligned, unmapped when the buffer grows or is dropped: memory from the
//! allocator would come back advised for another, maybe small, allocation) and the blocks
//! the file is expected to fill are advised: one fault and one page per 2 MiB. A block
//! advised but barely written still costs a whole zeroed 2 MiB page, so the advice covers
//! only the blocks that the size the caller expects (for remux: the input's size for the
//! main output, the previous segment's of the same series for a segment) fills at least
//! half of;
//! a buffer that outgrows its capacity (doubling, with one copy) is advised entirely from
//! then on, unless it had none (nothing expected: a small file stays in small pages).
//! The advice is only a hint: where huge pages are off (`never`, or not Linux) it does
//! nothing and the buffer works as with 4 KiB pages, as slowly as a `Vec<u8>`. With THP's
//! `defrag` setting at its default (`madvise`), a fault in advised memory may first
//! compact memory to find a free huge page, which on a fragmented machine can cost more
//! than the huge page saves.

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::ptr::NonNull;

/// The alignment and allocation unit: the size of a transparent huge page with 4 KiB base
/// pages (x86-64, aarch64).
const BLOCK: usize = 2 << 20;

/// A growable byte buffer with a position, in [`BLOCK`]-aligned storage.
pub struct HugeBuffer {
    /// The [`BLOCK`]-aligned start of `cap` bytes inside the mapping `map`, or dangling
    /// while `cap` is 0.
    ptr: NonNull<u8>,
    /// A multiple of [`BLOCK`].
    cap: usize,
    /// The anonymous mapping holding the storage (`cap` + [`BLOCK`] bytes, for the
    /// alignment), unmapped on drop; null while `cap` is 0.
    map: *mut libc::c_void,
    /// Bytes `0..len` have been written (or zero-filled): they are initialized.
    len: usize,
    /// Where the next read or write starts; may lie past `len`.
    pos: u64,
}

// SAFETY: a HugeBuffer owns its mapping alone (no other pointer to it is kept outside
// borrows of `self`), like a Vec<u8> its allocation, so moving it to another thread is
// sound.
unsafe impl Send for HugeBuffer {}

fn out_of_memory() -> io::Error {
    io::Error::new(io::ErrorKind::OutOfMemory, "in-memory file too large")
}

impl HugeBuffer {
    /// An empty buffer for a file expected to grow to about `expected` bytes (0: unknown).
    /// The room for it is allocated now, but that is address space only: memory is taken
    /// as bytes are written.
    pub fn with_expected_len(expected: usize) -> Self {
        let mut buffer = HugeBuffer {
            ptr: NonNull::dangling(),
            cap: 0,
            map: std::ptr::null_mut(),
            len: 0,
            pos: 0,
        };
        if expected > 0 {
            // Room for a file somewhat larger than expected before the first regrowth.
            let blocks = expected
                .saturating_add(expected / 4)
                .saturating_add(BLOCK - 1)
                / BLOCK;
            // On failure the buffer stays empty; the first write tries again.
            if buffer.reallocate(blocks.saturating_mul(BLOCK)).is_ok() {
                buffer.advise(expected.saturating_add(BLOCK / 2) / BLOCK * BLOCK);
            }
        }
        buffer
    }

    /// The bytes written so far.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr` is valid for `cap >= len` bytes (or dangling and `len` is 0, which
        // a dangling, aligned pointer allows), bytes `0..len` are initialized, and the
        // borrow of `self` keeps them alive and unchanged.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// Moves the bytes into a fresh mapping with room for `cap` bytes (a multiple of
    /// [`BLOCK`], at least one, and at least `len`).
    fn reallocate(&mut self, cap: usize) -> io::Result<()> {
        let map_len = cap.checked_add(BLOCK).ok_or_else(out_of_memory)?;
        // SAFETY: a new private anonymous mapping at an address of the kernel's choosing:
        // no existing memory is affected.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if map == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let offset = (BLOCK - map as usize % BLOCK) % BLOCK;
        // SAFETY: `offset < BLOCK`, so `map + offset .. + cap` lies inside the mapping of
        // `cap + BLOCK` bytes; a successful mmap is never null.
        let ptr = unsafe { NonNull::new_unchecked(map.cast::<u8>().add(offset)) };
        if self.cap > 0 {
            // SAFETY: the old storage holds `len` initialized bytes, the new one has room
            // for them (cap >= len); two live mappings do not overlap. The old mapping,
            // `self.cap + BLOCK` bytes at `self.map`, is not used after this.
            unsafe {
                std::ptr::copy_nonoverlapping(self.ptr.as_ptr(), ptr.as_ptr(), self.len);
                libc::munmap(self.map, self.cap + BLOCK);
            }
        }
        self.ptr = ptr;
        self.cap = cap;
        self.map = map;
        Ok(())
    }

    /// Asks the kernel to back the first `bytes` (a multiple of [`BLOCK`]) with huge pages.
    fn advise(&self, bytes: usize) {
        let bytes = bytes.min(self.cap);
        if bytes == 0 {
            return;
        }
        #[cfg(any(target_os = "linux", target_os = "android"))]
        // SAFETY: `ptr..ptr + bytes` lies inside our mapping and starts page-aligned
        // (BLOCK-aligned); MADV_HUGEPAGE changes how pages are backed, never their
        // contents, and a failure (huge pages unsupported) leaves the memory as it was.
        unsafe {
            libc::madvise(self.ptr.as_ptr().cast(), bytes, libc::MADV_HUGEPAGE);
        }
    }

    /// Makes room for `end` bytes: at least doubles the capacity.
    fn grow(&mut self, end: usize) -> io::Result<()> {
        let cap = end
            .max(self.cap.saturating_mul(2))
            .checked_add(BLOCK - 1)
            .ok_or_else(out_of_memory)?
            / BLOCK
            * BLOCK;
        let first = self.cap == 0;
        self.reallocate(cap)?;
        // A file of unknown size may stay small: 4 KiB pages for its first allocation.
        // One that outgrew its capacity gets huge pages for all of it from then on.
        if !first {
            self.advise(cap);
        }
        Ok(())
    }
}

impl Write for HugeBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let pos = usize::try_from(self.pos).map_err(|_| out_of_memory())?;
        let end = pos.checked_add(buf.len()).ok_or_else(out_of_memory)?;
        if end > self.cap {
            self.grow(end)?;
        }
        // SAFETY: `end <= cap`, so `len..pos` (when `pos > len`) and `pos..end` lie
        // inside our allocation; `buf` is a different object, so no overlap.
        unsafe {
            if pos > self.len {
                self.ptr
                    .as_ptr()
                    .add(self.len)
                    .write_bytes(0, pos - self.len);
            }
            std::ptr::copy_nonoverlapping(buf.as_ptr(), self.ptr.as_ptr().add(pos), buf.len());
        }
        self.len = self.len.max(end);
        self.pos = end as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for HugeBuffer {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let data = self.as_slice();
        let start = usize::try_from(self.pos).map_or(data.len(), |p| p.min(data.len()));
        let n = buf.len().min(data.len() - start);
        buf[..n].copy_from_slice(&data[start..start + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for HugeBuffer {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let (base, offset) = match pos {
            SeekFrom::Start(p) => {
                self.pos = p;
                return Ok(p);
            }
            SeekFrom::End(o) => (self.len as u64, o),
            SeekFrom::Current(o) => (self.pos, o),
        };
        match base.checked_add_signed(offset) {
            Some(p) => {
                self.pos = p;
                Ok(p)
            }
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek to a negative or overflowing position",
            )),
        }
    }
}

impl Drop for HugeBuffer {
    fn drop(&mut self) {
        if self.cap > 0 {
            // SAFETY: the mapping made by `reallocate`, `cap + BLOCK` bytes at `map`,
            // unmapped only here; no borrow of it outlives `self`.
            unsafe { libc::munmap(self.map, self.cap + BLOCK) };
        }
    }
}
