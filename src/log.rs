//! Control over FFmpeg's own log output (`av_log`), which goes to standard error.

use ffmpeg_sys_next as ffi;

/// How much FFmpeg itself prints to standard error (`av_log_set_level`).
///
/// FFmpeg logs warnings such as "partial file" on its own; programs that report errors
/// themselves usually want [`LogLevel::Quiet`] or [`LogLevel::Fatal`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogLevel {
    /// Print nothing.
    Quiet,
    /// Only errors after which FFmpeg cannot go on.
    Fatal,
    /// Errors, recoverable or not.
    Error,
    /// Errors and warnings (FFmpeg's default is [`LogLevel::Info`]).
    Warning,
    /// Also informational messages: FFmpeg's default.
    Info,
    /// Everything, including debugging output.
    Debug,
}

/// Sets FFmpeg's global log level (`av_log_set_level`). It applies to the whole process.
///
/// ```compile_fail
/// // Not a safe function: it needs an `unsafe` block and the guarantee below.
/// ffio::set_log_level(ffio::LogLevel::Quiet);
/// ```
///
/// # Safety
/// `av_log_set_level` writes a plain (non-atomic) C global that `av_log` reads on every
/// thread, every time FFmpeg logs. No other thread may be running FFmpeg code while this
/// runs: no ffio object may be in use on another thread, and nothing else in the process
/// may be calling FFmpeg. Call it at start-up, before spawning threads that use FFmpeg.
/// (A data race here is undefined behaviour, which is why this is not a safe function.)
pub unsafe fn set_log_level(level: LogLevel) {
    let raw = match level {
        LogLevel::Quiet => ffi::AV_LOG_QUIET,
        LogLevel::Fatal => ffi::AV_LOG_FATAL,
        LogLevel::Error => ffi::AV_LOG_ERROR,
        LogLevel::Warning => ffi::AV_LOG_WARNING,
        LogLevel::Info => ffi::AV_LOG_INFO,
        LogLevel::Debug => ffi::AV_LOG_DEBUG,
    };
    // SAFETY: the caller guarantees no other thread runs FFmpeg (see above); the
    // function itself only stores an int.
    unsafe { ffi::av_log_set_level(raw) };
}
