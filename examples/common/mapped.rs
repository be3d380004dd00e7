//! A whole file mapped read-only into memory with FFmpeg's `av_file_map` (reached through
//! `ffio::sys`), as the C programs these examples replace do; shared by the examples that
//! demux a FILE from memory (`#[path = "common/mapped.rs"] mod mapped;`).
//!
//! As with any mapped file, another program writing FILE meanwhile can change the bytes
//! being demuxed, and shrinking it kills the process (SIGBUS).

use std::ffi::CString;

/// A whole file mapped read-only into memory by `av_file_map`, unmapped on drop.
pub struct MappedFile {
    data: *mut u8,
    len: usize,
}

impl MappedFile {
    /// Maps `path`; the error is one line naming the file.
    pub fn open(path: &str) -> Result<Self, String> {
        // Checked first for a plain message: av_file_map would say "No such device".
        let meta = std::fs::metadata(path).map_err(|e| format!("{path}: {e}"))?;
        if meta.is_dir() {
            return Err(format!("{path}: is a directory"));
        }
        let c_path = CString::new(path).map_err(|_| format!("{path}: contains a NUL byte"))?;
        let mut data = std::ptr::null_mut();
        let mut len = 0;
        // SAFETY: `c_path` is NUL-terminated and outlives the call; `data` and `len` are
        // valid places for the results; a null log context is allowed (FFmpeg then logs
        // under its own "FILE" class).
        let ret = unsafe {
            ffio::sys::av_file_map(
                c_path.as_ptr(),
                &mut data,
                &mut len,
                0,
                std::ptr::null_mut(),
            )
        };
        if ret < 0 {
            // av_file_map fails only with AVERROR(errno) (open, fstat, mmap, size).
            return Err(format!(
                "{path}: {}",
                std::io::Error::from_raw_os_error(-ret)
            ));
        }
        Ok(Self { data, len })
    }

    /// The file's bytes.
    pub fn as_slice(&self) -> &[u8] {
        if self.data.is_null() || self.len == 0 {
            // av_file_map maps nothing for an empty file.
            return &[];
        }
        // SAFETY: av_file_map mapped `len` readable bytes at `data`; they stay mapped until
        // `drop`, which cannot run while the returned borrow of `self` lives. The mapping is
        // read-only and private, so nothing in this process writes to it; another process
        // writing the file is the caveat the module docs state (mmap's, as in C).
        unsafe { std::slice::from_raw_parts(self.data, self.len) }
    }
}

impl Drop for MappedFile {
    fn drop(&mut self) {
        if !self.data.is_null() {
            // SAFETY: `data` and `len` are what av_file_map returned, unmapped only here.
            unsafe { ffio::sys::av_file_unmap(self.data, self.len) };
        }
    }
}
