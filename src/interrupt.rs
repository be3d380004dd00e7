//! Cancellation and deadlines: [`CancelHandle`].
//!
//! FFmpeg offers `AVFormatContext.interrupt_callback`, but checks it only in its own
//! network code and a few loops (once per round of `avformat_find_stream_info`), never
//! around custom-I/O reads and writes, and stream discovery can swallow the interrupt and
//! report success. So ffio checks the same flag at every boundary it owns:
//!
//! * before every read, write and seek callback runs user code (`State::run` in io.rs):
//!   once cancelled or past the deadline, no user code runs and FFmpeg gets `AVERROR_EXIT`;
//! * in the `interrupt_callback` of every format context ffio creates, for FFmpeg's loops;
//! * before and after every FFmpeg call on the one call path (`CustomIo::call`), so a call
//!   during which the interrupt fired fails even if FFmpeg returned success, and every
//!   later call fails at once with the same error.
//!
//! A reader blocked inside `read()` can only be freed by itself: give a socket a timeout
//! (`TcpStream::set_read_timeout`) as well, so the check after its read comes.

use std::os::raw::{c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::error::Error;

/// Cancels a [`Demuxer`](crate::Demuxer) or [`Muxer`](crate::Muxer) from any thread, or
/// gives it a deadline. Cheap to clone; every clone controls the same object.
///
/// Once cancelled or past its deadline, the object runs none of your reader's or writer's
/// code again, the call in progress fails with [`Error::Cancelled`] or
/// [`Error::DeadlineExceeded`] at its next callback or FFmpeg interrupt check, and so does
/// every later call. The object stays safe to drop.
///
/// ```no_run
/// use std::time::Duration;
/// let socket = std::net::TcpStream::connect("127.0.0.1:9000")?;
/// // The handle stops the demuxer between reads; the socket's own timeout frees a read
/// // that blocks.
/// socket.set_read_timeout(Some(Duration::from_secs(5)))?;
/// let mut demuxer = ffio::DemuxerOptions::new()
///     .timeout(Duration::from_secs(30))
///     .open(ffio::CustomIo::reader(socket)?)?;
/// let cancel = demuxer.cancel_handle();
/// std::thread::spawn(move || {
///     std::thread::sleep(Duration::from_secs(10));
///     cancel.cancel(); // e.g. the client went away
/// });
/// while let Some(packet) = demuxer.read_packet()? {
///     // ...
/// #   let _ = packet;
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct CancelHandle(Arc<Interrupt>);

/// The shared state behind a [`CancelHandle`]; its address is the `opaque` of the format
/// contexts' `interrupt_callback`.
#[derive(Debug)]
pub(crate) struct Interrupt {
    cancelled: AtomicBool,
    /// Nanoseconds after [`epoch`], or `NO_DEADLINE`.
    deadline: AtomicU64,
    /// Set once a check refused to go on.
    fired: AtomicBool,
}

const NO_DEADLINE: u64 = u64::MAX;

/// A fixed point in time that deadlines are counted from.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Why an interrupt check refused to go on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reason {
    Cancelled,
    DeadlineExceeded,
}

impl Reason {
    /// The error for `call`.
    pub(crate) fn error(self, call: &'static str) -> Error {
        match self {
            Reason::Cancelled => Error::Cancelled { call },
            Reason::DeadlineExceeded => Error::DeadlineExceeded { call },
        }
    }
}

impl Interrupt {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Interrupt {
            cancelled: AtomicBool::new(false),
            deadline: AtomicU64::new(NO_DEADLINE),
            fired: AtomicBool::new(false),
        })
    }

    /// `Some(reason)` once cancelled or past the deadline; the check itself is one atomic
    /// load, plus a clock read when a deadline is set.
    #[inline]
    pub(crate) fn check(&self) -> Option<Reason> {
        if self.cancelled.load(Ordering::Relaxed) {
            return Some(self.fire(Reason::Cancelled));
        }
        let deadline = self.deadline.load(Ordering::Relaxed);
        if deadline != NO_DEADLINE && nanos_since_epoch(Instant::now()) >= deadline {
            return Some(self.fire(Reason::DeadlineExceeded));
        }
        None
    }

    #[cold]
    fn fire(&self, reason: Reason) -> Reason {
        self.fired.store(true, Ordering::Relaxed);
        reason
    }

    /// Whether a check refused since the last [`take_fired`](Self::take_fired).
    #[inline]
    pub(crate) fn take_fired(&self) -> bool {
        self.fired.load(Ordering::Relaxed) && self.fired.swap(false, Ordering::Relaxed)
    }

    /// The `interrupt_callback` for a format context: `opaque` is this `Interrupt`.
    pub(crate) fn callback(self: &Arc<Self>) -> ffmpeg_sys_next::AVIOInterruptCB {
        ffmpeg_sys_next::AVIOInterruptCB {
            callback: Some(interrupt_trampoline),
            opaque: Arc::as_ptr(self) as *mut c_void,
        }
    }
}

fn nanos_since_epoch(t: Instant) -> u64 {
    let nanos = t.saturating_duration_since(epoch()).as_nanos();
    // Far-future deadlines saturate just below "none".
    u64::try_from(nanos)
        .unwrap_or(NO_DEADLINE - 1)
        .min(NO_DEADLINE - 1)
}

impl CancelHandle {
    pub(crate) fn new(interrupt: Arc<Interrupt>) -> Self {
        CancelHandle(interrupt)
    }

    /// Cancels the object: see the type's docs. Cannot be undone.
    pub fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::Relaxed);
    }

    /// `true` once [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.cancelled.load(Ordering::Relaxed)
    }

    /// Sets (or with `None` removes) the deadline: from then on, the object fails with
    /// [`Error::DeadlineExceeded`].
    pub fn set_deadline(&self, deadline: Option<Instant>) {
        let value = deadline.map_or(NO_DEADLINE, nanos_since_epoch);
        self.0.deadline.store(value, Ordering::Relaxed);
    }

    /// Sets the deadline `timeout` from now.
    pub fn set_timeout(&self, timeout: Duration) {
        self.set_deadline(Instant::now().checked_add(timeout));
    }
}

/// `AVIOInterruptCB.callback`: 1 (stop) once cancelled or past the deadline. Runs no user
/// code.
///
/// # Safety
/// `opaque` must be the `Interrupt` of a live `Arc` (the CustomIo's, which outlives its
/// format context).
unsafe extern "C" fn interrupt_trampoline(opaque: *mut c_void) -> c_int {
    // SAFETY: per the contract; only atomics are touched.
    let interrupt = unsafe { &*(opaque as *const Interrupt) };
    c_int::from(interrupt.check().is_some())
}
