//! Shared by the fuzz targets: a fixed script of ffio operations whose outcomes are
//! recorded (so two runs can be compared), a summary of everything ffio exposes about an
//! input, and coverage feedback for libFuzzer about what FFmpeg made of the input.
//!
//! FFmpeg is the system library and is not instrumented, so libFuzzer's own coverage only
//! sees ffio and this harness. To let it tell inputs apart by what FFmpeg did with them,
//! [`feature`] bumps counters in libFuzzer's "extra counters" section
//! (`__libfuzzer_extra_counters`, read after every run on Linux): one per detected format,
//! codec, error code, bucketed packet count, and so on.
#![allow(dead_code)]

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Once;
use std::time::Duration;

use ffio::{Demuxer, Error, MediaType, Packet};

/// Packets read in the main read phase at most (keeps every input well under the timeout).
pub const MAX_PACKETS: usize = 20_000;
/// Reads after an error in the main read phase (exercises "use after an error").
pub const READS_AFTER_ERROR: usize = 3;
/// Reads after each seek.
pub const READS_AFTER_SEEK: usize = 8;

const N_COUNTERS: usize = 1 << 14;

/// libFuzzer's extra counters (see the module docs). Interior mutability puts the static in
/// a writable section; `#[used]` keeps it even though only `feature` touches it.
#[used]
#[link_section = "__libfuzzer_extra_counters"]
static EXTRA_COUNTERS: [AtomicU8; N_COUNTERS] = [const { AtomicU8::new(0) }; N_COUNTERS];

/// Tells libFuzzer that this run showed feature `what` (hashed into a counter).
pub fn feature(what: impl Hash) {
    let mut h = DefaultHasher::new();
    what.hash(&mut h);
    let counter = &EXTRA_COUNTERS[(h.finish() as usize) % N_COUNTERS];
    counter.store(
        counter.load(Ordering::Relaxed).saturating_add(1),
        Ordering::Relaxed,
    );
}

/// `floor(log2(n)) + 1`, 0 for 0: coarse buckets for counts and sizes.
pub fn log2_bucket(n: u64) -> u32 {
    64 - n.leading_zeros()
}

/// The payload of a panic injected on purpose by a fuzz reader.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InjectedPanic(pub String);

static INIT: Once = Once::new();

/// Largest single allocation FFmpeg may make (`av_max_alloc`; FFmpeg's default is
/// `INT_MAX`). Some demuxers allocate what a header announces before checking that the data
/// is there (MP4 `trun` sample counts: 1.5 KB of input, 2.7 GB allocated). That is FFmpeg's
/// behaviour and was reported once; with the cap such inputs fail with `ENOMEM` instead of
/// tripping `-rss_limit_mb` every few minutes and hiding everything else.
pub const MAX_ALLOC: usize = 256 << 20;

/// Silences FFmpeg, caps its allocations ([`MAX_ALLOC`]) and lets injected panics unwind
/// quietly. Every other panic still goes to libFuzzer's hook, which aborts on the spot (with
/// the panicking stack).
///
/// Called from the first run rather than from `fuzz_target!(init: ..)` so that it wraps the
/// hook libfuzzer-sys installs, whatever the order of its initialisation.
pub fn init() {
    INIT.call_once(|| {
        // SAFETY: both only store a global, before any FFmpeg call of this process (the
        // fuzz targets run on one thread, and this is their first run).
        unsafe {
            ffio::set_log_level(ffio::LogLevel::Quiet);
            ffio::set_max_alloc(MAX_ALLOC);
        }
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if info.payload().is::<InjectedPanic>() {
                return;
            }
            previous(info)
        }));
    });
}

// ---------------------------------------------------------------------------------------
// What ffio says about an input
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StreamInfo {
    pub index: usize,
    pub media_type: MediaType,
    pub codec: &'static str,
    pub time_base: (i32, i32),
    pub frame_rate: Option<(i32, i32)>,
    pub real_frame_rate: Option<(i32, i32)>,
    pub duration: Option<i64>,
    pub frames: Option<u64>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub sample_rate: Option<u32>,
    pub channels: Option<u32>,
    pub bit_rate: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Info {
    pub format: String,
    pub long_name: String,
    pub duration_us: Option<u128>,
    pub bit_rate: Option<u64>,
    pub streams: Vec<StreamInfo>,
    pub best: [Option<usize>; 6],
}

/// Touches every accessor of the demuxer and its streams.
pub fn info<R>(d: &Demuxer<R>) -> Info {
    let mut streams = Vec::new();
    for (i, s) in d.streams().enumerate() {
        assert_eq!(s.index(), i, "stream {i} has index {}", s.index());
        let tb = s.time_base();
        let _ = (tb.as_f64(), tb.to_string(), format!("{s:?}"), s.codec_id());
        let _ = s.media_type().as_str();
        streams.push(StreamInfo {
            index: s.index(),
            media_type: s.media_type(),
            codec: s.codec_name(),
            time_base: (tb.num, tb.den),
            frame_rate: s.frame_rate().map(|r| (r.num, r.den)),
            real_frame_rate: s.real_frame_rate().map(|r| (r.num, r.den)),
            duration: s.duration(),
            frames: s.frames(),
            width: s.width(),
            height: s.height(),
            sample_rate: s.sample_rate(),
            channels: s.channels(),
            bit_rate: s.bit_rate(),
        });
    }
    assert_eq!(streams.len(), d.stream_count());
    assert!(d.stream(d.stream_count()).is_none());
    let kinds = [
        MediaType::Video,
        MediaType::Audio,
        MediaType::Subtitle,
        MediaType::Data,
        MediaType::Attachment,
        MediaType::Unknown,
    ];
    let best = kinds.map(|k| {
        let b = d.best_stream(k);
        if let Some(b) = b {
            assert!(b < d.stream_count(), "best_stream {b} out of range");
        }
        b
    });
    let _ = format!("{d:?}");
    Info {
        format: d.format_name().to_owned(),
        long_name: d.format_long_name().to_owned(),
        duration_us: d.duration().map(|t| t.as_micros()),
        bit_rate: d.bit_rate(),
        streams,
        best,
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PacketInfo {
    pub stream: usize,
    pub pts: Option<i64>,
    pub dts: Option<i64>,
    pub duration: i64,
    pub position: Option<u64>,
    pub key: bool,
    pub size: usize,
    pub data_hash: u64,
}

/// Summarises a packet, touching every accessor.
pub fn packet_info<R>(d: &Demuxer<R>, p: &mut Packet) -> PacketInfo {
    let data = p.data();
    assert_eq!(data.len(), p.size());
    let mut h = DefaultHasher::new();
    data.hash(&mut h);
    let info = PacketInfo {
        stream: p.stream_index(),
        pts: p.pts(),
        dts: p.dts(),
        duration: p.duration(),
        position: p.position(),
        key: p.is_key(),
        size: p.size(),
        data_hash: h.finish(),
    };
    let _ = format!("{p:?}");
    assert!(
        info.stream < d.stream_count(),
        "packet for stream {} of {}",
        info.stream,
        d.stream_count()
    );
    if let Some(s) = d.stream(info.stream) {
        // Rescaling mutates the packet: done after the summary.
        p.rescale_ts(s.time_base(), ffio::Rational::new(1, 1_000_000));
    }
    info
}

// ---------------------------------------------------------------------------------------
// Outcomes
// ---------------------------------------------------------------------------------------

/// An ffio error, reduced to what two runs can be compared on.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ErrClass {
    Io {
        kind: io::ErrorKind,
        text: String,
        raw: Option<i32>,
    },
    Ffmpeg {
        call: &'static str,
        code: i32,
    },
    NotSeekable {
        call: &'static str,
    },
    Poisoned,
    InvalidArgument,
    Other(String),
}

pub fn classify(e: &Error) -> ErrClass {
    // Display and source must work for every variant.
    let _ = e.to_string();
    let _ = std::error::Error::source(e);
    match e {
        Error::Io(io) => ErrClass::Io {
            kind: io.kind(),
            text: io.to_string(),
            raw: io.raw_os_error(),
        },
        Error::Ffmpeg { call, code, .. } => {
            assert!(*code < 0, "Error::Ffmpeg with code {code}");
            ErrClass::Ffmpeg { call, code: *code }
        }
        Error::NotSeekable { call, .. } => ErrClass::NotSeekable { call },
        Error::Poisoned => ErrClass::Poisoned,
        Error::InvalidArgument(_) => ErrClass::InvalidArgument,
        other => ErrClass::Other(format!("{other:?}")),
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    Opened(Info),
    Info(Info),
    Packet(PacketInfo),
    Eos,
    SeekOk,
    Err(ErrClass),
    /// The call resumed a panic injected by the reader; the payload's text.
    Panicked(String),
}

impl Outcome {
    pub fn is_err(&self) -> bool {
        matches!(self, Outcome::Err(_) | Outcome::Panicked(_))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    Open,
    Read,
    /// Reads after the read phase ended with an error.
    ReadAfterError,
    Info,
    Seek,
    ReadAfterSeek,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SeekTarget {
    /// `Demuxer::seek` to this many microseconds.
    Time(u64),
    /// `Demuxer::seek` to a time ffio must refuse (does not fit in i64 microseconds).
    TimeTooLarge,
    /// `Demuxer::seek_stream(index, ts)`.
    Stream(usize, i64),
}

/// One ffio call and what it gave.
#[derive(Clone, Debug)]
pub struct Record {
    pub phase: Phase,
    pub seek: Option<SeekTarget>,
    pub outcome: Outcome,
    /// The range of the reader's event log written during this call (empty for readers that
    /// keep no log).
    pub events: std::ops::Range<usize>,
}

/// Runs `f`; a panic whose payload is an [`InjectedPanic`] becomes `Err(text)`, any other
/// panic is resumed (libFuzzer's hook has already reported and aborted by then anyway).
fn catch_injected<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => Ok(v),
        Err(payload) => match payload.downcast::<InjectedPanic>() {
            Ok(p) => Err(p.0),
            Err(other) => panic::resume_unwind(other),
        },
    }
}

/// The fixed script both targets run:
///
/// 1. open;
/// 2. read packets until the end, an error or [`MAX_PACKETS`]; after an error, read
///    [`READS_AFTER_ERROR`] more times (they must not crash; they may fail);
/// 3. summarise the streams again (MPEG-TS may have found new ones);
/// 4. seek to 0, to half the duration, to half of the best stream's duration in its own
///    time base, to a few nonsense targets, reading [`READS_AFTER_SEEK`] packets after each.
///
/// `log_len` gives the length of the reader's event log (0 if it keeps none), so each
/// record knows which events happened during its call.
pub fn run_script<R>(
    open: impl FnOnce() -> ffio::Result<Demuxer<R>>,
    log_len: &dyn Fn() -> usize,
) -> Vec<Record> {
    let mut records = Vec::new();
    let push = |records: &mut Vec<Record>,
                phase: Phase,
                seek: Option<SeekTarget>,
                start: usize,
                outcome: Outcome| {
        records.push(Record {
            phase,
            seek,
            outcome,
            events: start..log_len(),
        });
    };

    let start = log_len();
    let mut d = match catch_injected(open) {
        Ok(Ok(d)) => {
            let i = info(&d);
            push(&mut records, Phase::Open, None, start, Outcome::Opened(i));
            d
        }
        Ok(Err(e)) => {
            push(
                &mut records,
                Phase::Open,
                None,
                start,
                Outcome::Err(classify(&e)),
            );
            return records;
        }
        Err(p) => {
            push(&mut records, Phase::Open, None, start, Outcome::Panicked(p));
            return records;
        }
    };

    let mut packet = Packet::new();
    let read = |d: &mut Demuxer<R>, packet: &mut Packet| -> Outcome {
        match catch_injected(|| d.read_packet_into(packet)) {
            Ok(Ok(true)) => Outcome::Packet(packet_info(d, packet)),
            Ok(Ok(false)) => Outcome::Eos,
            Ok(Err(e)) => Outcome::Err(classify(&e)),
            Err(p) => Outcome::Panicked(p),
        }
    };

    // Main read phase.
    let mut failed = false;
    for _ in 0..MAX_PACKETS {
        let start = log_len();
        let o = read(&mut d, &mut packet);
        let stop = !matches!(o, Outcome::Packet(_));
        failed = o.is_err();
        push(&mut records, Phase::Read, None, start, o);
        if stop {
            break;
        }
    }
    if failed {
        for _ in 0..READS_AFTER_ERROR {
            let start = log_len();
            let o = read(&mut d, &mut packet);
            let eos = o == Outcome::Eos;
            push(&mut records, Phase::ReadAfterError, None, start, o);
            if eos {
                break;
            }
        }
    }

    let start = log_len();
    let i = info(&d);
    let duration = i.duration_us;
    let best = i.best[0].or(i.best[1]).unwrap_or(0);
    let best_half = i
        .streams
        .get(best)
        .and_then(|s| s.duration)
        .map(|t| t / 2)
        .unwrap_or(0);
    push(&mut records, Phase::Info, None, start, Outcome::Info(i));

    let mut targets = vec![SeekTarget::Time(0)];
    if let Some(us) = duration {
        targets.push(SeekTarget::Time(u64::try_from(us / 2).unwrap_or(u64::MAX)));
    }
    targets.push(SeekTarget::Stream(best, best_half));
    targets.push(SeekTarget::Stream(best, i64::MIN));
    targets.push(SeekTarget::Stream(best, i64::MAX));
    targets.push(SeekTarget::Stream(d.stream_count(), 0));
    targets.push(SeekTarget::TimeTooLarge);

    for target in targets {
        let start = log_len();
        let r = catch_injected(|| match target {
            SeekTarget::Time(us) => d.seek(Duration::from_micros(us)),
            SeekTarget::TimeTooLarge => d.seek(Duration::MAX),
            SeekTarget::Stream(s, ts) => d.seek_stream(s, ts),
        });
        let o = match r {
            Ok(Ok(())) => Outcome::SeekOk,
            Ok(Err(e)) => Outcome::Err(classify(&e)),
            Err(p) => Outcome::Panicked(p),
        };
        push(&mut records, Phase::Seek, Some(target), start, o);
        for _ in 0..READS_AFTER_SEEK {
            let start = log_len();
            let o = read(&mut d, &mut packet);
            let stop = !matches!(o, Outcome::Packet(_));
            push(&mut records, Phase::ReadAfterSeek, Some(target), start, o);
            if stop {
                break;
            }
        }
    }
    drop(d);
    records
}

/// Coverage features from a run: what FFmpeg detected and how far it got.
pub fn features(tag: &str, records: &[Record]) {
    let mut format = String::new();
    let mut packets = 0u64;
    let mut max_pos = 0u64;
    let mut keys = 0u64;
    for (n, r) in records.iter().enumerate() {
        match &r.outcome {
            Outcome::Opened(i) | Outcome::Info(i) => {
                format.clone_from(&i.format);
                feature((tag, "format", &i.format, i.streams.len().min(8)));
                for s in &i.streams {
                    feature((tag, "codec", &i.format, s.codec, s.media_type));
                    feature((
                        tag,
                        "stream",
                        s.codec,
                        s.frame_rate.is_some(),
                        s.duration.is_some(),
                        s.width.is_some(),
                        s.sample_rate.is_some(),
                    ));
                }
                feature((tag, "dur", &i.format, i.duration_us.is_some(), i.best));
            }
            Outcome::Packet(p) => {
                if r.phase == Phase::Read {
                    packets += 1;
                    keys += u64::from(p.key);
                    max_pos = max_pos.max(p.position.unwrap_or(0));
                } else {
                    feature((tag, "seek-packet", &format, seek_kind(r.seek), p.key));
                }
            }
            Outcome::Err(e) => {
                let e = match e {
                    // Do not make every distinct message a feature.
                    ErrClass::Io { kind, .. } => format!("io {kind:?}"),
                    other => format!("{other:?}"),
                };
                feature((tag, "err", &format, r.phase, seek_kind(r.seek), e));
            }
            _ => feature((tag, "outcome", &format, r.phase, seek_kind(r.seek), n == 0)),
        }
    }
    feature((tag, "packets", &format, log2_bucket(packets)));
    feature((tag, "keys", &format, log2_bucket(keys)));
    feature((tag, "pos", &format, log2_bucket(max_pos)));
}

fn seek_kind(t: Option<SeekTarget>) -> u8 {
    match t {
        None => 0,
        Some(SeekTarget::Time(0)) => 1,
        Some(SeekTarget::Time(_)) => 2,
        Some(SeekTarget::TimeTooLarge) => 3,
        Some(SeekTarget::Stream(_, i64::MIN)) => 4,
        Some(SeekTarget::Stream(_, i64::MAX)) => 5,
        Some(SeekTarget::Stream(_, _)) => 6,
    }
}
