//! The crate's error type and the one helper that turns FFmpeg return codes into it.

use std::ffi::CStr;
use std::io;
use std::os::raw::c_int;

use ffmpeg_sys_next as ffi;

/// A specialised `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in ffio.
///
/// The variants say *who* failed: your own reader or writer ([`Error::Io`]), FFmpeg
/// ([`Error::Ffmpeg`]), or the arguments you passed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Your reader, writer or seeker returned this error from inside an FFmpeg callback.
    ///
    /// This is the very `io::Error` your code returned, with its kind and message, even when
    /// FFmpeg itself went on to report something else (end of file, invalid data). It is
    /// this error's [`source`](std::error::Error::source), and, following the Rust API
    /// guidelines, not repeated in its `Display` text: print the chain (`{e}: {source}`, or
    /// `anyhow`'s `{:#}`) to see both.
    ///
    /// FFmpeg keeps a failed stream's error for good (it reads or writes nothing more), so
    /// the object it happened to says so on every later call with [`Error::Failed`]. A
    /// demuxer can be brought back with a successful
    /// [`seek`](crate::Demuxer::seek), which restarts reading; a muxer cannot.
    #[error("the custom I/O stream failed")]
    Io(#[source] io::Error),

    /// An earlier call on this object failed in a way FFmpeg does not recover from (your
    /// reader or writer returned an error, or the muxer's header could not be written),
    /// and the object was used again. Nothing was attempted; `first` describes that first
    /// failure.
    #[error("{call}: not attempted: this object failed earlier ({first})")]
    Failed {
        /// The ffio operation that was refused, e.g. `"av_read_frame"`.
        call: &'static str,
        /// The `io::ErrorKind` of the first failure, when it was an I/O error of yours.
        kind: Option<io::ErrorKind>,
        /// The first failure, as text (with its source chain).
        first: String,
    },

    /// The object was cancelled through its [`CancelHandle`](crate::CancelHandle): `call`
    /// stopped (or was not started), and so does every later one.
    #[error("{call}: cancelled")]
    Cancelled {
        /// The ffio operation that stopped, e.g. `"av_read_frame"`.
        call: &'static str,
    },

    /// The object's deadline passed ([`CancelHandle::set_deadline`](crate::CancelHandle::set_deadline),
    /// [`DemuxerOptions::timeout`](crate::DemuxerOptions::timeout)): `call` stopped (or was
    /// not started), and so does every later one.
    #[error("{call}: deadline exceeded")]
    DeadlineExceeded {
        /// The ffio operation that stopped.
        call: &'static str,
    },

    /// An option's value was refused by FFmpeg, e.g. `probesize=bogus`.
    #[error("invalid value {value:?} for option {key:?}: {message}")]
    InvalidOption {
        /// The option's name.
        key: String,
        /// The value given.
        value: String,
        /// FFmpeg's reason (`av_strerror` text, or ffio's own).
        message: String,
    },

    /// The input is in a format ffio does not demux: either one that reads its data by
    /// name from other files or URLs (concat lists, HLS and DASH manifests, SDP, image
    /// sequences, …), which ffio never lets FFmpeg open, or one outside the caller's
    /// [`format_whitelist`](crate::DemuxerOptions::format_whitelist).
    #[error("the {format:?} format is refused: {reason}")]
    FormatRefused {
        /// FFmpeg's name of the format that was probed or asked for.
        format: String,
        /// Why.
        reason: String,
    },

    /// An FFmpeg function returned an error code.
    ///
    /// The text reads like `avformat_open_input failed: Invalid data found when processing
    /// input (mov,mp4,m4a,3gp,3g2,mj2: moov atom not found)`: the call, `av_strerror`'s
    /// text for the code, and FFmpeg's own explanation from its log when it gave one.
    #[error("{call} failed: {message} ({})", detail.as_deref().map_or_else(|| format!("FFmpeg error {code}"), str::to_owned))]
    Ffmpeg {
        /// The FFmpeg function that failed, e.g. `"avformat_open_input"`.
        call: &'static str,
        /// The negative `AVERROR` code it returned.
        code: i32,
        /// `av_strerror`'s text for `code`.
        message: String,
        /// The error (or, lacking one, warning) line FFmpeg logged about this object
        /// during the call, as `"item: text"` (`"mov,mp4,m4a,3gp,3g2,mj2: moov atom not
        /// found"`), if it logged one.
        detail: Option<String>,
    },

    /// Options passed to an FFmpeg call that FFmpeg did not recognise. FFmpeg would silently
    /// ignore them; ffio refuses them so a misspelt option does not go unnoticed.
    #[error("{call}: unrecognised option(s): {}", .options.join(", "))]
    UnknownOptions {
        /// The FFmpeg function the options were given to.
        call: &'static str,
        /// The names of the options FFmpeg left unused.
        options: Vec<String>,
    },

    /// An argument was invalid: an interior NUL in a string, a buffer size out of range, a
    /// stream index that does not exist, …
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// FFmpeg has no demuxer or muxer of that name.
    #[error("FFmpeg has no {kind} named {name:?}")]
    FormatNotFound {
        /// `"input format"` or `"output format"`.
        kind: &'static str,
        /// The name that was looked up.
        name: String,
    },

    /// The format needs to seek but the stream cannot: an MP4 whose `moov` box follows its
    /// media data read through a plain `Read`, or a plain MP4 written into a plain `Write`.
    /// The message says what to do instead.
    #[error(
        "{call}: the format needs to seek but the stream is not seekable ({message}); {remedy}"
    )]
    NotSeekable {
        /// The FFmpeg function that failed.
        call: &'static str,
        /// FFmpeg's own error text.
        message: String,
        /// What to do instead.
        remedy: &'static str,
    },

    /// A user callback panicked earlier, its panic was passed on to the caller, and the
    /// object was used again afterwards. Its FFmpeg state can no longer be trusted.
    #[error("a custom I/O callback panicked earlier; this object can no longer be used")]
    Poisoned,
}

impl Error {
    /// The FFmpeg `AVERROR` code, for [`Error::Ffmpeg`].
    pub fn code(&self) -> Option<i32> {
        match self {
            Error::Ffmpeg { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// `true` for an [`Error::Ffmpeg`] whose code is `AVERROR_EOF`.
    pub fn is_eof(&self) -> bool {
        self.code() == Some(ffi::AVERROR_EOF)
    }

    /// The `io::Error` your callback returned, for [`Error::Io`].
    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }

    /// The `io::ErrorKind` of your reader's or writer's failure: of the error itself for
    /// [`Error::Io`], of the first failure for [`Error::Failed`].
    pub fn io_error_kind(&self) -> Option<io::ErrorKind> {
        match self {
            Error::Io(e) => Some(e.kind()),
            Error::Failed { kind, .. } => *kind,
            _ => None,
        }
    }

    /// `true` for [`Error::Cancelled`] and [`Error::DeadlineExceeded`].
    pub fn is_interrupted(&self) -> bool {
        matches!(
            self,
            Error::Cancelled { .. } | Error::DeadlineExceeded { .. }
        )
    }

    /// This error's text followed by its source chain (`"a: b: c"`), for one-line reports.
    pub fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(e) = source {
            text.push_str(": ");
            text.push_str(&e.to_string());
            source = e.source();
        }
        text
    }

    pub(crate) fn ffmpeg(call: &'static str, code: c_int) -> Error {
        Error::Ffmpeg {
            call,
            code,
            message: av_error_string(code),
            detail: None,
        }
    }

    /// FFmpeg's own explanation: the log line of [`Error::Ffmpeg`]'s `detail`.
    pub fn ffmpeg_detail(&self) -> Option<&str> {
        match self {
            Error::Ffmpeg { detail, .. } => detail.as_deref(),
            _ => None,
        }
    }

    /// Adds FFmpeg's log line to an [`Error::Ffmpeg`] or [`Error::NotSeekable`] that has
    /// none.
    pub(crate) fn with_detail(mut self, line: Option<String>) -> Error {
        if let Some(line) = line {
            match &mut self {
                Error::Ffmpeg { detail, .. } if detail.is_none() => *detail = Some(line),
                Error::NotSeekable { message, .. } => {
                    message.push_str(": ");
                    message.push_str(&line);
                }
                _ => {}
            }
        }
        self
    }
}

/// Turns an FFmpeg return code into a `Result`: negative codes become [`Error::Ffmpeg`]
/// naming `call`, everything else is returned as is.
pub(crate) fn check(call: &'static str, code: c_int) -> Result<c_int> {
    if code < 0 {
        Err(Error::ffmpeg(call, code))
    } else {
        Ok(code)
    }
}

/// `av_strerror`'s message for an `AVERROR` code.
pub(crate) fn av_error_string(code: c_int) -> String {
    let mut buf = [0 as std::os::raw::c_char; ffi::AV_ERROR_MAX_STRING_SIZE];
    // SAFETY: `buf` is a writable array of AV_ERROR_MAX_STRING_SIZE bytes and we pass that
    // length; av_strerror always NUL-terminates within it (it falls back to "Error number N").
    unsafe { ffi::av_strerror(code, buf.as_mut_ptr(), buf.len()) };
    // SAFETY: av_strerror wrote a NUL-terminated string into `buf` (see above).
    let text = unsafe { CStr::from_ptr(buf.as_ptr()) };
    text.to_string_lossy().into_owned()
}

/// Maps a Rust `io::Error` to the `AVERROR` code the trampolines hand back to FFmpeg.
///
/// The code only steers FFmpeg; the caller gets the `io::Error` itself.
///
/// `EAGAIN` (`WouldBlock`) is never handed back: FFmpeg latches a read callback's error in
/// the AVIOContext for good, while its demuxing loops (`avformat_find_stream_info`) retry
/// `EAGAIN` forever, so a would-block reader would hang the caller. It becomes `EIO`; the
/// caller still gets its own `WouldBlock` error through `Error::Io`.
pub(crate) fn io_error_to_averror(e: &io::Error) -> c_int {
    if e.kind() == io::ErrorKind::WouldBlock {
        return ffi::AVERROR(libc::EIO);
    }
    if let Some(errno) = e.raw_os_error() {
        if errno > 0 && errno != libc::EAGAIN && errno != libc::EWOULDBLOCK {
            return ffi::AVERROR(errno);
        }
    }
    let errno = match e.kind() {
        io::ErrorKind::NotFound => libc::ENOENT,
        io::ErrorKind::PermissionDenied => libc::EACCES,
        io::ErrorKind::InvalidInput => libc::EINVAL,
        io::ErrorKind::TimedOut => libc::ETIMEDOUT,
        io::ErrorKind::BrokenPipe => libc::EPIPE,
        io::ErrorKind::ConnectionReset => libc::ECONNRESET,
        io::ErrorKind::Unsupported => libc::ENOSYS,
        io::ErrorKind::OutOfMemory => libc::ENOMEM,
        io::ErrorKind::WriteZero | io::ErrorKind::UnexpectedEof => libc::EIO,
        _ => libc::EIO,
    };
    ffi::AVERROR(errno)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ffmpeg_error_names_call_and_message() {
        let e = Error::ffmpeg("avformat_open_input", ffi::AVERROR_INVALIDDATA);
        let text = e.to_string();
        assert!(
            text.starts_with("avformat_open_input failed: Invalid data found"),
            "{text}"
        );
        assert_eq!(e.code(), Some(ffi::AVERROR_INVALIDDATA));
    }

    #[test]
    fn os_errors_keep_their_errno() {
        let e = io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert_eq!(io_error_to_averror(&e), -libc::ECONNREFUSED);
        // Never EAGAIN: FFmpeg would retry a latched error forever.
        let e = io::Error::new(io::ErrorKind::WouldBlock, "later");
        assert_eq!(io_error_to_averror(&e), -libc::EIO);
        let e = io::Error::from_raw_os_error(libc::EAGAIN);
        assert_eq!(io_error_to_averror(&e), -libc::EIO);
    }

    #[test]
    fn io_error_is_the_source() {
        use std::error::Error as _;
        let e = Error::Io(io::Error::new(io::ErrorKind::TimedOut, "slow disk"));
        let src = e.source().unwrap().downcast_ref::<io::Error>().unwrap();
        assert_eq!(src.kind(), io::ErrorKind::TimedOut);
        assert_eq!(src.to_string(), "slow disk");
        // The source is not repeated in the message, so a printed chain says it once.
        assert!(!e.to_string().contains("slow disk"), "{e}");
        assert_eq!(e.chain().matches("slow disk").count(), 1, "{}", e.chain());
    }
}
