//! Process-wide limits on what FFmpeg may do with untrusted input.

use ffmpeg_sys_next as ffi;

/// Caps the size of any single allocation FFmpeg makes (`av_max_alloc`); larger requests
/// fail, and the demuxer reports an error instead of taking the memory.
///
/// Demuxers size some tables from counts the file declares: a 1.5 KB fragmented MP4 whose
/// `trun` box claims 84 million samples makes FFmpeg 5.1 allocate 2.7 GB before it finds
/// out the samples are not there (found by this crate's fuzzer). FFmpeg's own cap is
/// `INT_MAX` bytes per allocation. Services that demux untrusted uploads should lower it,
/// e.g. to 256 MiB, well above what real files need per table.
///
/// The setting applies to the whole process, every thread and every FFmpeg user in it;
/// call it once at start-up. A cap below a few hundred bytes makes even small FFmpeg
/// structures fail to allocate; ffio then reports `ENOMEM` errors.
///
/// ```compile_fail
/// // Not a safe function: it needs an `unsafe` block and the guarantee below.
/// ffio::set_max_alloc(256 << 20);
/// ```
///
/// # Safety
/// `av_max_alloc` writes a plain (non-atomic) C global that every FFmpeg allocation on
/// every thread reads. No other thread may be running FFmpeg code while this runs: no
/// ffio object may be in use on another thread, and nothing else in the process may be
/// calling FFmpeg. Call it at start-up, before spawning threads that use FFmpeg; a later
/// call needs the same guarantee. (A data race here is undefined behaviour, which is why
/// this is not a safe function.)
pub unsafe fn set_max_alloc(bytes: usize) {
    // SAFETY: the caller guarantees no other thread runs FFmpeg (see above); the function
    // itself only stores the value.
    unsafe { ffi::av_max_alloc(bytes) };
}
