//! FFmpeg's log messages: captured per ffio call for errors, forwarded to stderr or `log`.
//!
//! FFmpeg explains most failures only in its log ("moov atom not found", "needed 5621
//! additional") and returns a bare code. ffio installs one process-wide `av_log` callback
//! that does two things:
//!
//! * **capture**: while an ffio call runs FFmpeg ([`CustomIo::call`](crate::CustomIo)),
//!   the error and warning lines FFmpeg logs *on that thread* are recorded in that object's
//!   [`Capture`]; the most relevant one becomes part of the [`Error`](crate::Error). The
//!   thread is the attribution: an ffio object is driven by one thread at a time (`&mut
//!   self`), and what FFmpeg logs on that thread during the call is about that object (its
//!   format context, its I/O, the decoders stream discovery opens). Messages from other
//!   threads (frame-threaded decoders, other programs' FFmpeg use) are never captured.
//! * **forwarding**: every message goes on as before: to standard error, filtered by
//!   [`set_log_level`](crate::set_log_level), through FFmpeg's default callback; or, with
//!   the `log` cargo feature, to the `log` crate (target `ffmpeg`), with FFmpeg's levels
//!   mapped and the ffio object named.
//!
//! The callback is installed once, the first time ffio creates a context (`std::sync::Once`,
//! before any FFmpeg call of ffio's). It runs on whatever thread FFmpeg logs from, takes no
//! lock, never unwinds into C (everything runs inside `catch_unwind`; a panicking `log`
//! implementation loses that message), and for messages that are neither captured nor
//! printed it returns after two comparisons.
//!
//! An application that installs its own callback with `av_log_set_callback` after ffio's
//! first use replaces ffio's: FFmpeg keeps one. Errors then lose FFmpeg's words (they still
//! carry the code and `av_strerror`'s text); everything else works. Such an application can
//! call [`forward_to_ffio`] from its callback to keep them.

use std::cell::{Cell, RefCell};
use std::ffi::CStr;
use std::fmt::Write as _;
use std::os::raw::{c_char, c_int, c_void};
use std::panic::{self, AssertUnwindSafe};
use std::ptr;
use std::sync::Once;

use ffmpeg_sys_next as ffi;

/// The `va_list` argument of FFmpeg's log callback, as bindgen declares it on this target.
#[cfg(target_arch = "x86_64")]
pub type VaList = *mut ffi::__va_list_tag;
/// The `va_list` argument of FFmpeg's log callback, as bindgen declares it on this target.
#[cfg(not(target_arch = "x86_64"))]
pub type VaList = ffi::va_list;

/// How many lines one call keeps (the last ones).
const MAX_LINES: usize = 32;

/// One complete log line FFmpeg wrote during an ffio call.
#[derive(Clone, Debug)]
struct Line {
    level: c_int,
    /// `"item: message"`, e.g. `"mov,mp4,m4a,3gp,3g2,mj2: moov atom not found"`.
    text: String,
    /// The length of the item (0: none).
    item_len: usize,
}

impl Line {
    /// The message without the item.
    fn message(&self) -> &str {
        match self.text.split_once(": ") {
            Some((_, message)) if self.item_len > 0 => message,
            _ => &self.text,
        }
    }
}

/// The lines captured during the current ffio call of one object.
#[derive(Debug, Default)]
pub(crate) struct Capture {
    lines: Vec<Line>,
    /// A name for the object in forwarded messages, e.g. `"ffio demuxer #3"`.
    #[cfg_attr(not(feature = "log"), allow(dead_code))]
    name: String,
}

impl Capture {
    /// An empty capture for an object called `name` in forwarded messages.
    pub(crate) fn new(name: String) -> Self {
        Capture {
            lines: Vec::new(),
            name,
        }
    }

    /// Forgets the lines of the previous call.
    #[cfg_attr(ffio_no_capture, allow(dead_code))]
    #[inline]
    pub(crate) fn clear(&mut self) {
        if !self.lines.is_empty() {
            self.lines.clear();
        }
    }

    /// The line that best explains a failure: the first error (or worse), as later ones
    /// tend to be consequences ("reached eof, corrupted CTTS atom", then "error reading
    /// header"); lacking one, the last warning.
    pub(crate) fn detail(&self) -> Option<String> {
        self.lines
            .iter()
            .find(|l| l.level <= ffi::AV_LOG_ERROR)
            .or_else(|| {
                self.lines
                    .iter()
                    .rev()
                    .find(|l| l.level <= ffi::AV_LOG_WARNING)
            })
            .map(|l| l.text.clone())
    }

    /// Every captured line (warnings and errors) of the last call, oldest first, with its
    /// level and without the `"item: "` prefix.
    pub(crate) fn lines(&self) -> impl Iterator<Item = (c_int, &str)> {
        self.lines.iter().map(|l| (l.level, l.message()))
    }

    /// `true` if the last call logged a warning or error.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    fn push(&mut self, level: c_int, text: String, item_len: usize) {
        if self.lines.len() == MAX_LINES {
            self.lines.remove(0);
        }
        self.lines.push(Line {
            level,
            text,
            item_len,
        });
    }
}

thread_local! {
    /// The capture of the ffio call running on this thread, or null.
    static CURRENT: Cell<*mut Capture> = const { Cell::new(ptr::null_mut()) };
    /// Fragments of a line not yet ended by `\n`, and FFmpeg's per-thread prefix state.
    static PENDING: RefCell<Pending> = const { RefCell::new(Pending::new()) };
}

struct Pending {
    /// The captured part of the current line: level of its first fragment, item, text.
    level: c_int,
    text: String,
    item_len: usize,
    /// `print_prefix` for av_log_format_line2: set at the start of a line.
    print_prefix: c_int,
}

impl Pending {
    const fn new() -> Self {
        Pending {
            level: 0,
            text: String::new(),
            item_len: 0,
            print_prefix: 1,
        }
    }
}

/// While alive, FFmpeg's log lines on this thread go to one [`Capture`].
pub(crate) struct Scope {
    previous: *mut Capture,
}

/// Makes `capture` the current capture of this thread until the returned scope is dropped
/// (scopes nest: the previous one comes back).
///
/// # Safety
/// `capture` must stay valid, and not be accessed otherwise, until the scope is dropped;
/// the scope must be dropped on this thread.
#[inline]
pub(crate) unsafe fn enter(capture: *mut Capture) -> Scope {
    Scope {
        previous: CURRENT.with(|c| c.replace(capture)),
    }
}

impl Drop for Scope {
    #[inline]
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.previous));
        // A line left unfinished belongs to this call only.
        let _ = PENDING.try_with(|p| {
            if let Ok(mut p) = p.try_borrow_mut() {
                p.text.clear();
            }
        });
    }
}

/// Runs `f` (FFmpeg calls that run no I/O callback) with a capture of its own and returns
/// its result with the most relevant line FFmpeg logged meanwhile.
pub(crate) fn with_capture<T>(f: impl FnOnce() -> T) -> (T, Option<String>) {
    install();
    let mut capture = Capture::default();
    let result = {
        // SAFETY: `capture` lives on this stack frame past the scope, which is dropped
        // here on this thread, and nothing else touches it meanwhile.
        let _scope = unsafe { enter(&mut capture) };
        f()
    };
    (result, capture.detail())
}

static INSTALL: Once = Once::new();

/// Installs ffio's log callback, once per process. ffio calls it before its first FFmpeg
/// call of every kind of object, so no ffio object ever runs FFmpeg concurrently with the
/// install.
pub(crate) fn install() {
    INSTALL.call_once(|| {
        // SAFETY: av_log_set_callback stores a function pointer in a global that av_log
        // reads. `Once` orders this before every FFmpeg call ffio makes (all of them come
        // after an `install()`); FFmpeg use outside ffio on other threads at this very
        // moment is the one thing that could race, which the crate docs rule out.
        unsafe { ffi::av_log_set_callback(Some(callback)) };
    });
}

/// ffio's log callback, public for applications that install their own `av_log` callback
/// and want ffio's errors to keep FFmpeg's words: call it from yours with the same
/// arguments (it consumes `vl`, so format your own copy first, or let it do the printing).
///
/// # Safety
/// The arguments must be those FFmpeg passed to the log callback: `avcl` null or an object
/// whose first field is an `AVClass` pointer, `fmt` a printf format for `vl`.
pub unsafe extern "C" fn forward_to_ffio(
    avcl: *mut c_void,
    level: c_int,
    fmt: *const c_char,
    vl: VaList,
) {
    // SAFETY: the caller passes FFmpeg's own arguments (the contract).
    unsafe { callback(avcl, level, fmt, vl) }
}

/// The `av_log` callback. See the module docs.
///
/// # Safety
/// Called by FFmpeg with a valid log context (or null), a format and its `va_list`.
unsafe extern "C" fn callback(avcl: *mut c_void, level: c_int, fmt: *const c_char, vl: VaList) {
    // The hot path: FFmpeg's demuxers log at trace and debug level for every packet
    // (the mov demuxer ~4 messages per packet). Those are never captured, so unless they
    // are printed nothing else is looked at, and this function stays small enough to
    // need no stack frame: everything else is in `not_dropped`, out of line.
    let wanted = (level & 0xff) <= ffi::AV_LOG_WARNING;
    if !wanted && !forwarded(level) {
        return;
    }
    // SAFETY: FFmpeg's own arguments, passed on unchanged (this function's contract).
    unsafe { not_dropped(avcl, level, fmt, vl, wanted) }
}

/// The rest of [`callback`], for a message that is captured or printed.
///
/// # Safety
/// As for [`callback`].
#[cold]
#[inline(never)]
unsafe fn not_dropped(
    avcl: *mut c_void,
    level: c_int,
    fmt: *const c_char,
    vl: VaList,
    wanted: bool,
) {
    let capture = if wanted {
        CURRENT.try_with(Cell::get).unwrap_or(ptr::null_mut())
    } else {
        ptr::null_mut()
    };
    let captured = !capture.is_null();
    // A message that is not `wanted` came here only because it is printed.
    if !captured && wanted && !forwarded(level) {
        return;
    }
    #[cfg(not(feature = "log"))]
    if !captured {
        // SAFETY: FFmpeg's own arguments, passed on unchanged (vl not consumed yet).
        unsafe { ffi::av_log_default_callback(avcl, level, fmt, vl) };
        return;
    }
    // Everything from here may run Rust code that could panic (allocation, `log`).
    let _ = panic::catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: FFmpeg's own arguments (this function's contract); `capture` is null or
        // the capture of the call running on this thread (see `enter`).
        unsafe { capture_and_forward(avcl, level, fmt, vl, capture, captured) }
    }))
    .map_err(std::mem::forget);
}

/// Whether a message of `level` is printed (or logged) at all.
#[inline]
fn forwarded(level: c_int) -> bool {
    #[cfg(feature = "log")]
    {
        map_level(level).is_some_and(|l| l <= log::max_level())
    }
    #[cfg(not(feature = "log"))]
    {
        // SAFETY: av_log_get_level only reads an int.
        (level & 0xff) <= unsafe { ffi::av_log_get_level() }
    }
}

/// Formats the message once, records it in `capture` (when `captured`), and forwards it.
///
/// # Safety
/// As for [`callback`]; `capture` null or valid and not otherwise accessed.
unsafe fn capture_and_forward(
    avcl: *mut c_void,
    level: c_int,
    fmt: *const c_char,
    vl: VaList,
    capture: *mut Capture,
    captured: bool,
) {
    let mut buf = [0 as c_char; 1024];
    let mut no_prefix = 0;
    // SAFETY: FFmpeg's arguments; `buf` is writable for its length and always
    // NUL-terminated by av_log_format_line2, which consumes `vl` (used once).
    unsafe {
        ffi::av_log_format_line2(
            avcl,
            level,
            fmt,
            vl,
            buf.as_mut_ptr(),
            buf.len() as c_int,
            &mut no_prefix,
        );
    }
    // SAFETY: NUL-terminated (see above).
    let message = unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy();
    // SAFETY: `avcl` is null or starts with an AVClass pointer (FFmpeg's rule).
    let item = unsafe { item_name(avcl) };
    let ends_line = message.ends_with('\n');
    let _ = PENDING.try_with(|pending| {
        let Ok(mut pending) = pending.try_borrow_mut() else {
            return;
        };
        let starts_line = pending.print_prefix != 0;
        pending.print_prefix = c_int::from(ends_line);
        if !captured {
            pending.text.clear();
        } else {
            if pending.text.is_empty() {
                pending.level = level & 0xff;
                pending.item_len = 0;
                if let Some(item) = &item {
                    let _ = write!(pending.text, "{item}: ");
                    pending.item_len = item.len();
                }
            }
            pending.text.push_str(message.trim_end_matches('\n'));
            if ends_line {
                let text = std::mem::take(&mut pending.text);
                let text = text.trim().to_owned();
                if !text.is_empty() {
                    let item_len = pending.item_len;
                    // SAFETY: `capture` is the current call's capture (see `enter`),
                    // accessed by nothing else while FFmpeg runs that call.
                    unsafe { (*capture).push(pending.level, text, item_len) };
                }
            }
        }
        if forwarded(level) {
            // SAFETY: as above; only read.
            let name = (!capture.is_null()).then(|| unsafe { &(*capture).name });
            emit(level, starts_line, avcl, item.as_deref(), &message, name);
        }
    });
}

/// The name FFmpeg gives a log context (`AVClass.item_name`), e.g. `"mov,mp4,m4a,3gp,3g2,mj2"`.
///
/// # Safety
/// `avcl` must be null or point to a struct whose first field is a (possibly null)
/// `*const AVClass`.
unsafe fn item_name(avcl: *mut c_void) -> Option<String> {
    if avcl.is_null() {
        return None;
    }
    // SAFETY: per the contract.
    let class = unsafe { *(avcl as *const *const ffi::AVClass) };
    // SAFETY: a non-null class is a valid static AVClass; item_name returns a C string.
    unsafe {
        let class = class.as_ref()?;
        let name = (class.item_name?)(avcl);
        let name = (!name.is_null()).then(|| CStr::from_ptr(name).to_string_lossy())?;
        // A format context before its format is known calls itself "NULL".
        (name != "NULL").then(|| name.into_owned())
    }
}

/// Prints a forwarded message as FFmpeg's default callback would (`[item @ 0x…] text`).
#[cfg(not(feature = "log"))]
fn emit(
    _level: c_int,
    starts_line: bool,
    avcl: *mut c_void,
    item: Option<&str>,
    message: &str,
    _name: Option<&String>,
) {
    use std::io::Write as _;
    let mut line = String::new();
    if starts_line {
        if let Some(item) = item {
            let _ = write!(line, "[{item} @ {avcl:p}] ");
        }
    }
    line.push_str(message);
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// Hands a forwarded message to the `log` crate: target `ffmpeg`, the ffio object named.
#[cfg(feature = "log")]
fn emit(
    level: c_int,
    _starts_line: bool,
    _avcl: *mut c_void,
    item: Option<&str>,
    message: &str,
    name: Option<&String>,
) {
    let Some(level) = map_level(level) else {
        return;
    };
    let message = message.trim_end_matches('\n');
    if message.is_empty() {
        return;
    }
    let object = name.map_or("", String::as_str);
    let item = item.unwrap_or("");
    log::logger().log(
        &log::Record::builder()
            .target("ffmpeg")
            .level(level)
            .args(format_args!(
                "{object}{sep}{item}{colon}{message}",
                sep = if object.is_empty() || item.is_empty() {
                    ""
                } else {
                    ": "
                },
                colon = if item.is_empty() { "" } else { ": " },
            ))
            .build(),
    );
}

/// FFmpeg's levels as `log` levels (`None` for `AV_LOG_QUIET`).
#[cfg(feature = "log")]
fn map_level(level: c_int) -> Option<log::Level> {
    let level = level & 0xff;
    Some(match level {
        l if l < 0 => return None,
        l if l <= ffi::AV_LOG_ERROR => log::Level::Error,
        l if l <= ffi::AV_LOG_WARNING => log::Level::Warn,
        l if l <= ffi::AV_LOG_INFO => log::Level::Info,
        l if l <= ffi::AV_LOG_VERBOSE => log::Level::Debug,
        _ => log::Level::Trace,
    })
}
