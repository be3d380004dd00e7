//! Demuxes arbitrary bytes through a reader whose misbehaviour the fuzz input drives, and
//! checks that ffio never swallows a failure.
//!
//! Input: an 8-byte header (missing bytes count as 0; all zeros = a well-behaved seekable
//! reader), then the payload the reader serves.
//!
//! | byte | meaning |
//! | --- | --- |
//! | 0 | bit 0: not seekable (`Demuxer` over `CustomIo::reader`); bit 1: `Seek::seek(End(_))` fails, i.e. the size query (`AVSEEK_SIZE`) and its `SEEK_END` fallback fail; bit 2: read failures persist after the first; bit 3: seek failures persist; bits 4-5: AVIO buffer size (default, 4096, 1, 31); bit 6: no `avformat_find_stream_info` |
//! | 1 | most bytes per `read` call: 0 unlimited, 1-191 that many, 192-255 (b-191) KiB; each call returns a pseudo-random 1..=max bytes |
//! | 2 | seed of that pseudo-random chunking |
//! | 3-4 | u16 LE n: the n-th `read` call fails (0: none); `Interrupted` answers do not count as calls |
//! | 5 | low nibble: the read error's kind, high nibble: the seek error's kind (15 = panic instead) |
//! | 6 | n: the n-th `SeekFrom::Start`/`Current` call fails (0: none) |
//! | 7 | n: every n-th reader call (read or seek) first answers `Interrupted` (0: never) |
//!
//! Each input runs twice with the same payload, chunking, buffer size and seekability:
//! once clean (no failures, no interruptions) and once with the header's failures. Checks:
//!
//! * per ffio call: if the reader panicked, the call resumes that very panic; else if a read
//!   or a (non-end-relative) seek failed, the call returns `Error::Io` with the first such
//!   error's kind and message (ffio latches it, whatever FFmpeg made of it); else the call
//!   returns no `Error::Io`; once poisoned, no reader call happens and calls give
//!   `Error::Poisoned` (or `InvalidArgument` for arguments checked before that);
//! * up to the first ffio call in which something was injected, both runs give identical
//!   results (so `Interrupted` is invisible, and any difference later is the failure's);
//! * the key invariant: a run that had failures injected and still ended its read phase with
//!   a clean end of stream returned at least as many packets as the clean run (failures are
//!   never silently turned into a shorter file);
//! * for the default configuration (seekable, unlimited chunks, default buffer), the clean
//!   run equals `Demuxer::from_slice` on the payload.
#![no_main]

use std::cell::RefCell;
use std::io::{self, Cursor, Read, Seek, SeekFrom};
use std::rc::Rc;

use libfuzzer_sys::fuzz_target;

mod common;
use common::{feature, log2_bucket, run_script, ErrClass, InjectedPanic, Outcome, Phase, Record};

const HEADER: usize = 8;
const PANIC_KIND: u8 = 15;

#[derive(Clone, Copy, Debug)]
struct Plan {
    seekable: bool,
    size_fails: bool,
    read_fail_persistent: bool,
    seek_fail_persistent: bool,
    buffer_choice: u8,
    find_stream_info: bool,
    chunk_max: usize,
    chunk_seed: u8,
    read_fail_at: Option<u32>,
    read_kind: u8,
    seek_kind: u8,
    seek_fail_at: Option<u32>,
    interrupt_every: u8,
}

impl Plan {
    fn parse(data: &[u8]) -> (Plan, &[u8]) {
        let mut h = [0u8; HEADER];
        let n = data.len().min(HEADER);
        h[..n].copy_from_slice(&data[..n]);
        let plan = Plan {
            seekable: h[0] & 1 == 0,
            size_fails: h[0] & 2 != 0,
            read_fail_persistent: h[0] & 4 != 0,
            seek_fail_persistent: h[0] & 8 != 0,
            buffer_choice: (h[0] >> 4) & 3,
            find_stream_info: h[0] & 0x40 == 0,
            chunk_max: match h[1] {
                0 => 0,
                b @ 1..=191 => usize::from(b),
                b => (usize::from(b) - 191) * 1024,
            },
            chunk_seed: h[2],
            read_fail_at: u32::from(u16::from_le_bytes([h[3], h[4]])).checked_sub(1),
            read_kind: h[5] & 15,
            seek_kind: h[5] >> 4,
            seek_fail_at: u32::from(h[6]).checked_sub(1),
            interrupt_every: h[7],
        };
        (plan, &data[n..])
    }

    /// The same reader without failures or interruptions.
    fn clean(self) -> Plan {
        Plan {
            size_fails: false,
            read_fail_at: None,
            seek_fail_at: None,
            interrupt_every: 0,
            ..self
        }
    }

    fn buffer_size(self) -> Option<usize> {
        match self.buffer_choice {
            0 => None,
            1 => Some(4096),
            2 => Some(1),
            _ => Some(31),
        }
    }

    fn is_default(self) -> bool {
        self.seekable && self.chunk_max == 0 && self.buffer_choice == 0 && self.find_stream_info
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum EvOp {
    /// `Read::read` failed.
    Read,
    /// `Seek::seek(Start | Current)` failed.
    Seek,
    /// `Seek::seek(End)` failed: ffio's size query, or FFmpeg's `SEEK_END` fallback for it.
    /// ffio treats "size unknown" as an answer, not an error, so these are not latched.
    SizeEnd,
    /// A reader call panicked.
    Panic,
}

/// Something the reader did wrong (or was told to), in call order.
#[derive(Clone, Debug)]
struct Event {
    op: EvOp,
    /// Shown in failure messages (Debug) only.
    #[allow(dead_code)]
    call: u32,
    kind: io::ErrorKind,
    text: String,
    raw: Option<i32>,
    /// false: an error the payload itself caused (a `Cursor` refusing a negative
    /// position), which the clean run sees too.
    injected: bool,
}

impl Event {
    /// Must the ffio call in which this happened fail with exactly this error?
    fn must_report(&self) -> bool {
        matches!(self.op, EvOp::Read | EvOp::Seek)
    }

    fn matches(&self, e: &ErrClass) -> bool {
        *e == ErrClass::Io {
            kind: self.kind,
            text: self.text.clone(),
            raw: self.raw,
        }
    }
}

#[derive(Default)]
struct Shared {
    events: Vec<Event>,
    /// Every reader call, `Interrupted` ones included.
    calls: u64,
    max_pos: u64,
}

struct FlakyReader<'a> {
    cur: Cursor<&'a [u8]>,
    plan: Plan,
    shared: Rc<RefCell<Shared>>,
    reads: u32,
    seeks: u32,
    ticks: u64,
    just_interrupted: bool,
}

fn make_error(kind: u8, what: String) -> io::Error {
    use io::ErrorKind::*;
    let kind = match kind {
        0 => Other,
        1 => ConnectionReset,
        2 => TimedOut,
        3 => BrokenPipe,
        4 => UnexpectedEof,
        5 => WouldBlock,
        6 => InvalidData,
        7 => PermissionDenied,
        8 => NotFound,
        9 => Unsupported,
        10 => OutOfMemory,
        11 => InvalidInput,
        12 => return io::Error::from_raw_os_error(5), // EIO
        13 => return io::Error::from_raw_os_error(111), // ECONNREFUSED
        _ => return io::Error::from(ConnectionAborted), // a bare kind, no message
    };
    io::Error::new(kind, what)
}

/// splitmix64: pseudo-random chunk sizes, the same in both runs.
fn mix(seed: u8, k: u32) -> u64 {
    let mut z = (u64::from(seed) << 32 | u64::from(k)).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl<'a> FlakyReader<'a> {
    fn new(payload: &'a [u8], plan: Plan, shared: Rc<RefCell<Shared>>) -> Self {
        FlakyReader {
            cur: Cursor::new(payload),
            plan,
            shared,
            reads: 0,
            seeks: 0,
            ticks: 0,
            just_interrupted: false,
        }
    }

    /// Counts a reader call; `true` if this one answers `Interrupted` (never twice in a
    /// row, so the retry always makes progress).
    fn interrupt(&mut self) -> bool {
        self.shared.borrow_mut().calls += 1;
        self.ticks += 1;
        let every = u64::from(self.plan.interrupt_every);
        if every == 0 || self.just_interrupted {
            self.just_interrupted = false;
            return false;
        }
        self.just_interrupted = self.ticks.is_multiple_of(every);
        self.just_interrupted
    }

    fn inject(&mut self, op: EvOp, call: u32, kind: u8) -> io::Error {
        if kind == PANIC_KIND {
            let text = format!("injected panic in {op:?} call {call}");
            self.shared.borrow_mut().events.push(Event {
                op: EvOp::Panic,
                call,
                kind: io::ErrorKind::Other,
                text: text.clone(),
                raw: None,
                injected: true,
            });
            std::panic::panic_any(InjectedPanic(text));
        }
        let e = make_error(kind, format!("injected {op:?} failure at call {call}"));
        self.record(op, call, &e, true);
        e
    }

    fn record(&self, op: EvOp, call: u32, e: &io::Error, injected: bool) {
        self.shared.borrow_mut().events.push(Event {
            op,
            call,
            kind: e.kind(),
            text: e.to_string(),
            raw: e.raw_os_error(),
            injected,
        });
    }
}

impl Read for FlakyReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.interrupt() {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "injected EINTR"));
        }
        let k = self.reads;
        self.reads += 1;
        if let Some(at) = self.plan.read_fail_at {
            if k == at || (self.plan.read_fail_persistent && k > at) {
                return Err(self.inject(EvOp::Read, k, self.plan.read_kind));
            }
        }
        let mut len = buf.len();
        if self.plan.chunk_max > 0 {
            let chunk = 1 + (mix(self.plan.chunk_seed, k) % self.plan.chunk_max as u64) as usize;
            len = len.min(chunk);
        }
        let n = self.cur.read(&mut buf[..len])?;
        let mut shared = self.shared.borrow_mut();
        shared.max_pos = shared.max_pos.max(self.cur.position());
        Ok(n)
    }
}

impl Seek for FlakyReader<'_> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        if self.interrupt() {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "injected EINTR"));
        }
        let (op, k) = match pos {
            SeekFrom::End(_) => {
                if self.plan.size_fails {
                    return Err(self.inject(EvOp::SizeEnd, 0, self.plan.seek_kind));
                }
                (EvOp::SizeEnd, 0)
            }
            SeekFrom::Start(_) | SeekFrom::Current(_) => {
                let k = self.seeks;
                self.seeks += 1;
                if let Some(at) = self.plan.seek_fail_at {
                    if k == at || (self.plan.seek_fail_persistent && k > at) {
                        return Err(self.inject(EvOp::Seek, k, self.plan.seek_kind));
                    }
                }
                (EvOp::Seek, k)
            }
        };
        self.cur
            .seek(pos)
            .inspect_err(|e| self.record(op, k, e, false))
    }

    /// Never fails: ffio's size query asks for the position first, and that is not the
    /// failure under test (the end-relative seek after it is).
    fn stream_position(&mut self) -> io::Result<u64> {
        Ok(self.cur.position())
    }
}

/// Runs the script over a `FlakyReader` with `plan`; returns the records and the log.
fn run(payload: &[u8], plan: Plan) -> (Vec<Record>, Shared) {
    let shared = Rc::new(RefCell::new(Shared::default()));
    let reader = FlakyReader::new(payload, plan, shared.clone());
    let log = shared.clone();
    let records = run_script(
        || {
            let mut builder = ffio::CustomIo::builder();
            if let Some(size) = plan.buffer_size() {
                builder = builder.buffer_size(size);
            }
            let io = if plan.seekable {
                builder.seekable_reader(reader)?
            } else {
                builder.reader(reader)?
            };
            ffio::DemuxerOptions::new()
                .find_stream_info(plan.find_stream_info)
                .open(io)
        },
        &|| log.borrow().events.len(),
    );
    drop(log);
    let shared = Rc::try_unwrap(shared)
        .unwrap_or_else(|_| panic!("the demuxer (and its reader) outlived the script"))
        .into_inner();
    (records, shared)
}

/// The per-call invariants (see the module docs).
fn check_calls(what: &str, records: &[Record], log: &Shared) {
    let mut poisoned_at: Option<(usize, usize)> = None; // (record, events so far)
    for (i, r) in records.iter().enumerate() {
        let events = &log.events[r.events.clone()];
        if let Some((p, n)) = poisoned_at {
            assert!(
                r.events.start == n && r.events.is_empty(),
                "{what}: reader ran after the panic of call #{p}: {events:?} in call #{i} {r:?}"
            );
            // Stream information needs no I/O; every call that does must refuse.
            assert!(
                matches!(
                    r.outcome,
                    Outcome::Info(_) | Outcome::Err(ErrClass::Poisoned | ErrClass::InvalidArgument)
                ),
                "{what}: call #{i} after the panic of call #{p} gave {r:?}"
            );
            continue;
        }
        let panic = events.iter().find(|e| e.op == EvOp::Panic);
        match (&r.outcome, panic) {
            (Outcome::Panicked(got), Some(e)) => {
                assert_eq!(*got, e.text, "{what}: call #{i} resumed the wrong panic");
                assert_eq!(
                    events.iter().filter(|e| e.op == EvOp::Panic).count(),
                    1,
                    "{what}: reader ran again after panicking in call #{i}: {events:?}"
                );
                poisoned_at = Some((i, r.events.end));
                continue;
            }
            (Outcome::Panicked(got), None) => {
                panic!("{what}: call #{i} panicked ({got}) though the reader did not")
            }
            (_, Some(e)) => panic!(
                "{what}: the reader panicked ({}) in call #{i} but the call gave {r:?}",
                e.text
            ),
            (_, None) => {}
        }
        if let Some(first) = events.iter().find(|e| e.must_report()) {
            let ok = matches!(&r.outcome, Outcome::Err(e) if first.matches(e));
            assert!(
                ok,
                "{what}: the reader failed in call #{i} ({first:?}; all: {events:?}) but the \
                 call gave {:?} instead of that Error::Io",
                r.outcome
            );
        } else if let Outcome::Err(e @ ErrClass::Io { .. }) = &r.outcome {
            assert!(
                events.iter().any(|ev| ev.matches(e)),
                "{what}: call #{i} gave {e:?} but the reader returned no such error then \
                 ({events:?})"
            );
        }
    }
}

fn read_phase(records: &[Record]) -> (usize, Option<&Outcome>) {
    let packets = records
        .iter()
        .filter(|r| r.phase == Phase::Read && matches!(r.outcome, Outcome::Packet(_)))
        .count();
    let end = records
        .iter()
        .find(|r| r.phase == Phase::Read && !matches!(r.outcome, Outcome::Packet(_)))
        .map(|r| &r.outcome);
    (packets, end)
}

fn same_outcomes(what: &str, a: &[Record], b: &[Record], upto: usize) {
    for i in 0..upto {
        let (ra, rb) = (&a[i], &b[i]);
        assert!(
            ra.phase == rb.phase && ra.seek == rb.seek && ra.outcome == rb.outcome,
            "{what}: call #{i} differs:\n  clean: {ra:?}\n  other: {rb:?}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    common::init();
    let (plan, payload) = Plan::parse(data);

    let (clean, clean_log) = run(payload, plan.clean());
    check_calls("clean run", &clean, &clean_log);
    assert!(clean_log.events.iter().all(|e| !e.injected));

    if plan.is_default() {
        let slice = run_script(|| ffio::Demuxer::from_slice(payload), &|| 0);
        assert_eq!(
            slice.len(),
            clean.len(),
            "from_slice vs clean reader: call counts"
        );
        same_outcomes("from_slice vs clean reader", &clean, &slice, slice.len());
    }

    let (flaky, flaky_log) = run(payload, plan);
    check_calls("flaky run", &flaky, &flaky_log);

    let first_injected = flaky.iter().position(|r| {
        flaky_log.events[r.events.clone()]
            .iter()
            .any(|e| e.injected)
    });
    match first_injected {
        None => {
            assert_eq!(
                clean.len(),
                flaky.len(),
                "nothing injected (interruptions only) yet different call counts"
            );
            same_outcomes("nothing injected", &clean, &flaky, flaky.len());
        }
        Some(n) => {
            assert!(
                n < clean.len(),
                "flaky run made more calls before its first failure"
            );
            same_outcomes("before the first failure", &clean, &flaky, n);
        }
    }

    // The key invariant: no silent truncation.
    let (clean_packets, clean_end) = read_phase(&clean);
    let (flaky_packets, flaky_end) = read_phase(&flaky);
    if first_injected.is_some() && flaky_end == Some(&Outcome::Eos) {
        assert!(
            flaky_packets >= clean_packets,
            "failures were swallowed: the flaky run ended cleanly after {flaky_packets} \
             packets, the clean run read {clean_packets} (ending {clean_end:?}); injected: {:?}",
            flaky_log.events
        );
    }

    // Coverage feedback.
    common::features("flaky", &flaky);
    let config = (
        plan.seekable,
        plan.buffer_choice,
        plan.find_stream_info,
        plan.size_fails,
        log2_bucket(plan.chunk_max as u64).min(4),
    );
    feature(("flaky-config", config));
    feature(("flaky-pos", plan.seekable, log2_bucket(flaky_log.max_pos)));
    feature(("clean-pos", plan.seekable, log2_bucket(clean_log.max_pos)));
    if let Some(n) = first_injected {
        let r = &flaky[n];
        // Which kinds of event happened (a set, not the sequence: persistent failures
        // would make every count a new feature).
        let ops = flaky_log.events[r.events.clone()]
            .iter()
            .fold(0u8, |set, e| set | 1 << (e.op as u8));
        let outcome = match &r.outcome {
            Outcome::Err(ErrClass::Io { kind, .. }) => format!("io {kind:?}"),
            other => format!("{:?}", std::mem::discriminant(other)),
        };
        feature(("flaky-first", r.phase, ops, outcome, config));
    }
    feature((
        "flaky-end",
        plan.seekable,
        flaky_end.map(std::mem::discriminant),
        clean_end.map(std::mem::discriminant),
    ));
});
