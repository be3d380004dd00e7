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
/// call it once at start-up.
pub fn set_max_alloc(bytes: usize) {
    // SAFETY: av_max_alloc only stores the value in a global that av_malloc and friends
    // read; any value is accepted.
    unsafe { ffi::av_max_alloc(bytes) };
}
