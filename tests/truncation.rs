//! Issue 10, "Truth about the input": a cut or damaged input is never silent.
//!
//! Every fixture is cut at 32 or more points (inside the header, at packet starts and
//! ends and in the middle of packets, spread over the file, and one byte short of the
//! end) and read seekable (`from_slice`) and not (`from_reader`). For each cut:
//!
//! * (a) ffio says so: the open fails, a read fails, or `Demuxer::truncation` reports it;
//! * (b) ffprobe, run at test time on the cut file, reads fewer packets than from the
//!   whole file (or fails);
//! * (c) no format-level signal can tell the cut from a clean end (see `undetectable`,
//!   which says why per format).
//!
//! Every cut of (b) must be in (a) unless it is in (c). Intact files never report a
//! truncation, read every way; with `strict`, the cut files fail at the read that meets
//! the truncation with `Error::Truncated` naming the stream and offset.

mod common;

use std::collections::BTreeSet;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use common::{fixture, fixture_bytes, quiet, run_ffprobe, OneByteReader, ProbeInput, ALL_FIXTURES};
use ffio::{CustomIo, Demuxer, DemuxerOptions, Error, Truncation, TruncationReason};

/// How a run of ffio over one input ended.
#[derive(Clone, Debug)]
enum Outcome {
    /// The open failed.
    OpenError(String),
    /// `packets` were read, then a read failed.
    ReadError { packets: usize, error: String },
    /// Read to the end.
    Ended {
        packets: usize,
        truncation: Option<Truncation>,
        /// Packets returned before the read that first reported the truncation.
        reported_after: Option<usize>,
    },
}

impl Outcome {
    /// (a): ffio tells the program something is wrong.
    fn reported(&self) -> bool {
        !matches!(
            self,
            Outcome::Ended {
                truncation: None,
                ..
            }
        )
    }
}

/// Reads everything from `opened`, noting when the truncation report first appears.
fn run<R>(opened: ffio::Result<Demuxer<R>>) -> Outcome {
    let mut demuxer = match opened {
        Ok(d) => d,
        Err(e) => return Outcome::OpenError(e.chain()),
    };
    let mut packets = 0;
    let mut reported_after = None;
    loop {
        let read = demuxer.read_packet();
        if reported_after.is_none() && demuxer.truncation().is_some() {
            reported_after = Some(packets);
        }
        match read {
            Ok(Some(_)) => packets += 1,
            Ok(None) => break,
            Err(e) => {
                return Outcome::ReadError {
                    packets,
                    error: e.chain(),
                }
            }
        }
    }
    Outcome::Ended {
        packets,
        truncation: demuxer.truncation().cloned(),
        reported_after,
    }
}

fn open_slice(bytes: &[u8], strict: bool) -> ffio::Result<Demuxer<Cursor<&[u8]>>> {
    DemuxerOptions::new()
        .strict(strict)
        .open(CustomIo::seekable_reader(Cursor::new(bytes))?)
}

fn open_pipe(bytes: &[u8], strict: bool) -> ffio::Result<Demuxer<&[u8]>> {
    DemuxerOptions::new()
        .strict(strict)
        .open(CustomIo::reader(bytes)?)
}

/// ffprobe's packet count over all streams (`-count_packets`), `None` if it fails.
fn ffprobe_packets(path: &Path) -> Option<u64> {
    let out = run_ffprobe(
        &[
            "-v",
            "error",
            "-count_packets",
            "-show_entries",
            "stream=index,nb_read_packets",
            "-of",
            "csv=p=0",
        ],
        path,
        ProbeInput::File,
    );
    if !out.success {
        return None;
    }
    let mut streams = BTreeSet::new();
    let mut total = 0;
    for line in out.stdout.lines().filter(|l| !l.trim().is_empty()) {
        let mut fields = line.trim().split(',');
        let index = fields.next()?.to_owned();
        let count = fields.next()?.parse::<u64>().unwrap_or(0);
        // MPEG-TS streams are listed twice (again under their program).
        if streams.insert(index) {
            total += count;
        }
    }
    Some(total)
}

/// `(pos, size)` of every packet ffprobe reads from the whole file (empty if it fails).
fn packet_spans(path: &Path) -> Vec<(u64, u64)> {
    let out = run_ffprobe(
        &[
            "-v",
            "error",
            "-show_entries",
            "packet=pos,size",
            "-of",
            "csv=p=0",
        ],
        path,
        ProbeInput::File,
    );
    out.stdout
        .lines()
        .filter_map(|l| {
            // "size,pos" (MPEG-TS lines end with a comma, for side data).
            let mut fields = l.trim().split(',');
            let size = fields.next()?.parse().ok()?;
            Some((fields.next()?.parse().ok()?, size))
        })
        .collect()
}

/// Where to cut a file of `len` bytes: inside the header, spread evenly, at the start,
/// the end and the middle of packets spread over the file, and one byte short.
fn cut_points(len: u64, spans: &[(u64, u64)]) -> Vec<u64> {
    let mut cuts = BTreeSet::new();
    for header in [1, 8, 16, 40, 100, 300, 700, 1500, 3000] {
        cuts.insert(header);
    }
    // Without packets to cut at (ffprobe cannot read the file), more even cuts instead.
    let spread = if spans.is_empty() { 32 } else { 20 };
    for k in 1..spread {
        cuts.insert(len * k / spread);
    }
    if len < 500 {
        // A small file: cut it everywhere, nearly.
        cuts.extend((1..64).map(|k| len * k / 64));
    }
    let step = (spans.len() / 5).max(1);
    for &(pos, size) in spans.iter().step_by(step) {
        cuts.extend([pos, pos + size / 2, pos + size]);
    }
    cuts.insert(len - 1);
    cuts.into_iter().filter(|&c| c > 0 && c < len).collect()
}

/// (c): why a cut of `name` at `cut` cannot be told from a clean end by any signal the
/// format has, or `None` if it can.
fn undetectable(name: &str, cut: u64) -> Option<&'static str> {
    if name.ends_with(".ts") && cut % 188 == 0 {
        // The TS layer is whole; what is left is a PES packet cut short. Audio PES
        // packets carry their length (FFmpeg flags a mismatch CORRUPT, which ffio
        // reports); video PES packets are written with length 0 ("unbounded"), so a
        // video frame cut at a TS packet boundary, or a cut between PES packets, looks
        // exactly like the end of a shorter stream.
        return Some("MPEG-TS cut at a 188-byte boundary, inside a length-0 video PES or between PES packets");
    }
    if name.ends_with(".mp3") || name.ends_with(".flac") {
        // Raw audio: the demuxer hands the bytes to a frame parser, which drops a frame
        // cut short without a flag, and a cut between frames is a shorter stream. (The
        // frame count in a Xing header or FLAC's STREAMINFO could tell; not read yet.)
        return Some("raw MP3/FLAC frames: a cut frame is dropped silently by the parser");
    }
    if name == "mpeg2_interlaced.ts" && cut < 2000 {
        // So little of it that FFmpeg (ffprobe too) probes it as a raw MPEG-2 video
        // elementary stream, which has no container to say how long it should be.
        return Some("probed as raw MPEG-2 video (mpegvideo): no container, nothing to compare");
    }
    None
}

#[derive(Default)]
struct Counts {
    cuts: usize,
    a: usize,
    b: usize,
    b_not_a: usize,
    c: usize,
    a_not_b: usize,
    open_errors: usize,
    read_errors: usize,
    reports: usize,
}

struct Cut {
    name: &'static str,
    at: u64,
    bytes: Vec<u8>,
    /// (b)
    fewer: bool,
    /// ffio without `strict`: from_slice, from_reader.
    relaxed: [Outcome; 2],
}

fn scratch_dir() -> PathBuf {
    common::process_dir("truncation")
}

/// Every fixture, cut, with ffprobe's verdict: computed once per test run (both tests
/// share it), with ffprobe run on 4 threads (500-odd runs).
fn cuts() -> &'static [Cut] {
    static CUTS: std::sync::OnceLock<Vec<Cut>> = std::sync::OnceLock::new();
    CUTS.get_or_init(make_cuts)
}

fn make_cuts() -> Vec<Cut> {
    let dir = scratch_dir();
    let mut jobs = Vec::new();
    for &name in ALL_FIXTURES {
        let data = fixture_bytes(name);
        if data.is_empty() {
            continue; // empty.bin: nothing to cut.
        }
        let whole = ffprobe_packets(&fixture(name));
        let cuts = cut_points(data.len() as u64, &packet_spans(&fixture(name)));
        assert!(cuts.len() >= 32, "{name}: only {} cut points", cuts.len());
        for at in cuts {
            let path = dir.join(format!("{name}-{at}"));
            std::fs::write(&path, &data[..at as usize]).unwrap();
            jobs.push((name, at, data[..at as usize].to_vec(), path, whole));
        }
    }
    let jobs = common::memcheck_sample(jobs, 12);
    let threads = 4;
    let chunks: Vec<_> = jobs.chunks(jobs.len().div_ceil(threads)).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .iter()
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|(name, at, bytes, path, whole)| {
                            // Where ffprobe cannot read the whole file, no cut of it
                            // can lose packets: ffprobe is not even asked.
                            let fewer = match whole {
                                Some(whole) => ffprobe_packets(path).map_or(true, |n| n < *whole),
                                None => false,
                            };
                            let _ = std::fs::remove_file(path);
                            Cut {
                                name,
                                at: *at,
                                bytes: bytes.clone(),
                                fewer,
                                relaxed: [
                                    run(open_slice(bytes, false)),
                                    run(open_pipe(bytes, false)),
                                ],
                            }
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    })
}

#[test]
fn every_cut_that_loses_packets_is_reported_unless_undetectable() {
    quiet();
    let cuts = cuts();
    let mut failures = Vec::new();
    let mut table: Vec<(String, &str, Counts)> = Vec::new();
    let mut reasons: BTreeSet<String> = BTreeSet::new();
    let mut undetected = Vec::new();
    let mut read_errors = BTreeSet::new();
    for &name in ALL_FIXTURES {
        for way in ["slice", "pipe"] {
            let mut counts = Counts::default();
            for cut in cuts.iter().filter(|c| c.name == name) {
                let outcome = &cut.relaxed[usize::from(way == "pipe")];
                let a = outcome.reported();
                let c = undetectable(name, cut.at);
                counts.cuts += 1;
                counts.a += usize::from(a);
                counts.b += usize::from(cut.fewer);
                counts.a_not_b += usize::from(a && !cut.fewer);
                match outcome {
                    Outcome::OpenError(_) => counts.open_errors += 1,
                    Outcome::ReadError { error, .. } => {
                        counts.read_errors += 1;
                        read_errors.insert(format!("{name} {way}: {error}"));
                    }
                    Outcome::Ended { truncation, .. } => {
                        counts.reports += usize::from(truncation.is_some())
                    }
                }
                if let Outcome::Ended {
                    truncation: Some(t),
                    ..
                } = &outcome
                {
                    reasons.insert(format!("{name} {way}: {:?}", t.reason));
                }
                if cut.fewer && !a {
                    counts.b_not_a += 1;
                    match c {
                        Some(why) => {
                            counts.c += 1;
                            undetected.push(format!("{name} cut at {} ({way}): {why}", cut.at));
                        }
                        None => failures.push(format!(
                            "{name} cut at {} ({way}): ffprobe reads fewer packets, ffio \
                             says nothing: {outcome:?}",
                            cut.at
                        )),
                    }
                }
            }
            table.push((name.to_owned(), way, counts));
        }
    }
    println!(
        "fixture                  way    cuts  (a)  (b)  b\\a  (c)  a\\b | open-err read-err report"
    );
    for (name, way, c) in &table {
        println!(
            "{name:<24} {way:<6} {:>4} {:>4} {:>4} {:>4} {:>4} {:>4} | {:>8} {:>8} {:>6}",
            c.cuts, c.a, c.b, c.b_not_a, c.c, c.a_not_b, c.open_errors, c.read_errors, c.reports
        );
    }
    println!("(c), undetectable:");
    for u in &undetected {
        println!("  {u}");
    }
    println!("read errors:");
    for e in &read_errors {
        println!("  {e}");
    }
    println!("reasons seen:");
    for r in &reasons {
        println!("  {r}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // A cut file either fails at open or reads to an end (reported): never an FFmpeg
    // error in the middle (mov's "partial file" on a pipe is the end of a cut file).
    assert!(read_errors.is_empty(), "{read_errors:?}");
    // The counts make sense: the suite does meet cuts that lose packets, and (c) is the
    // exception, not the rule.
    let total_b: usize = table.iter().map(|(_, _, c)| c.b).sum();
    let total_c: usize = table.iter().map(|(_, _, c)| c.c).sum();
    let enough = if common::under_memcheck() { 8 } else { 100 };
    assert!(total_b > enough, "only {total_b} cuts lose packets");
    assert!(
        total_c * 4 < total_b,
        "{total_c} of {total_b} cuts undetectable"
    );
    // Each format's signal was seen (in the full run: memcheck's sample can miss one).
    let expected = [
        "h264_faststart.mp4 slice: CorruptPacket",
        "h264_faststart.mp4 pipe: IndexPastEnd",
        "h264_aac.mkv slice: SegmentCutShort",
        "h264_aac.mkv pipe: SegmentCutShort",
        "h264_aac.ts slice: PartialTsPacket",
        "h264_aac.ts pipe: CorruptPacket",
    ];
    let expected = if common::under_memcheck() {
        &[][..]
    } else {
        &expected[..]
    };
    for &expected in expected {
        assert!(
            reasons.contains(expected),
            "never saw {expected}: {reasons:?}"
        );
    }
}

#[test]
fn strict_fails_at_the_read_that_meets_the_truncation() {
    quiet();
    let cuts = cuts();
    let mut checked = 0;
    for cut in cuts {
        for way in ["slice", "pipe"] {
            let relaxed = &cut.relaxed[usize::from(way == "pipe")];
            let strict = match way {
                "slice" => run(open_slice(&cut.bytes, true)),
                _ => run(open_pipe(&cut.bytes, true)),
            };
            let what = format!("{} cut at {} ({way})", cut.name, cut.at);
            match (relaxed, &strict) {
                (
                    Outcome::Ended {
                        truncation: Some(t),
                        reported_after: Some(after),
                        ..
                    },
                    Outcome::ReadError { packets, error },
                ) => {
                    assert_eq!(packets, after, "{what}: strict failed at another read");
                    assert!(error.contains(&t.to_string()), "{what}: {error}");
                    if let Some(stream) = t.stream {
                        assert!(
                            error.contains(&format!("stream {stream}")),
                            "{what}: {error}"
                        );
                    }
                    let offset = t.offset.expect("the offset is known for these formats");
                    assert!(
                        error.contains(&format!("byte offset {offset}")),
                        "{what}: {error}"
                    );
                    checked += 1;
                }
                // Without a truncation, strict changes nothing.
                (
                    Outcome::Ended {
                        truncation: None,
                        packets: a,
                        ..
                    },
                    Outcome::Ended {
                        truncation: None,
                        packets: b,
                        ..
                    },
                ) => {
                    assert_eq!(a, b, "{what}")
                }
                (Outcome::OpenError(a), Outcome::OpenError(b)) => assert_eq!(a, b, "{what}"),
                // A read error after the report (mov on a pipe: "partial file" at the
                // next root atom) comes later than strict's.
                (Outcome::ReadError { packets: a, .. }, Outcome::ReadError { packets: b, .. }) => {
                    assert!(b <= a, "{what}: {relaxed:?} / {strict:?}")
                }
                _ => panic!("{what}: relaxed {relaxed:?}, strict {strict:?}"),
            }
        }
    }
    println!("{checked} strict failures checked");
    let enough = if common::under_memcheck() { 8 } else { 100 };
    assert!(
        checked > enough,
        "only {checked} cuts checked in strict mode"
    );
}

/// The error value itself: the variant, its stream, its offset.
#[test]
fn strict_error_names_stream_and_offset() {
    quiet();
    let data = fixture_bytes("h264_faststart.mp4");
    let half = &data[..data.len() / 2];
    let mut demuxer = open_slice(half, true).unwrap();
    let error = loop {
        match demuxer.read_packet() {
            Ok(Some(packet)) => assert!(!packet.is_corrupt()),
            Ok(None) => panic!("a strict demuxer read a cut file to a clean end"),
            Err(e) => break e,
        }
    };
    let Error::Truncated(t) = &error else {
        panic!("expected Error::Truncated, got {error:?}")
    };
    assert_eq!(t.reason, TruncationReason::CorruptPacket);
    assert_eq!(t.stream, Some(0));
    // ffprobe on the whole file says where the packet that the cut splits starts.
    let spans = packet_spans(&fixture("h264_faststart.mp4"));
    let split = spans
        .iter()
        .find(|&&(pos, size)| pos < half.len() as u64 && pos + size > half.len() as u64)
        .expect("the cut splits a packet");
    assert_eq!(t.offset, Some(split.0), "{error}");
    assert_eq!(demuxer.truncation(), Some(t));
    // Non-strict: the same packet comes back, flagged, with its bytes that are there.
    let mut demuxer = open_slice(half, false).unwrap();
    let mut corrupt = Vec::new();
    while let Some(packet) = demuxer.read_packet().unwrap() {
        if packet.is_corrupt() {
            corrupt.push((packet.position(), packet.size() as u64));
        }
    }
    assert_eq!(corrupt, [(Some(split.0), half.len() as u64 - split.0)]);
}

#[test]
fn intact_files_never_report_read_every_way() {
    quiet();
    for &name in common::READABLE {
        let data = fixture_bytes(name);
        let path = fixture(name);
        let moov_last = moov_after_mdat(&data);
        for strict in [false, true] {
            let check = |how: &str, outcome: Outcome, seekable: bool| {
                let what = format!("{name} via {how} (strict: {strict})");
                match outcome {
                    Outcome::Ended {
                        truncation: None,
                        packets,
                        ..
                    } => {
                        let expected = ffprobe_packets(&path).unwrap();
                        assert_eq!(packets as u64, expected, "{what}");
                    }
                    // An MP4 whose moov comes last cannot be read from a pipe (unless its
                    // media data still fits in the buffer): it says so at open.
                    Outcome::OpenError(e) if !seekable && moov_last => {
                        assert!(e.contains("not seekable"), "{what}: {e}")
                    }
                    other => panic!("{what}: {other:?}"),
                }
            };
            check("slice", run(open_slice(&data, strict)), true);
            check("pipe", run(open_pipe(&data, strict)), false);
            let file = std::fs::File::open(&path).unwrap();
            let opened = CustomIo::seekable_reader(file)
                .and_then(|io| DemuxerOptions::new().strict(strict).open(io));
            check("file", run(opened), true);
            for size in [1, 7, 4096] {
                let opened = CustomIo::builder()
                    .buffer_size(size)
                    .seekable_reader(Cursor::new(&data[..]))
                    .and_then(|io| DemuxerOptions::new().strict(strict).open(io));
                check(&format!("slice, {size}-byte buffer"), run(opened), true);
                let opened = CustomIo::builder()
                    .buffer_size(size)
                    .reader(&data[..])
                    .and_then(|io| DemuxerOptions::new().strict(strict).open(io));
                check(&format!("pipe, {size}-byte buffer"), run(opened), false);
            }
            let opened = CustomIo::reader(OneByteReader::new(&data[..]))
                .and_then(|io| DemuxerOptions::new().strict(strict).open(io));
            check("pipe, one byte per read", run(opened), false);
        }
    }
}

/// `true` if the file's top-level `moov` box follows its `mdat` (read from the bytes).
fn moov_after_mdat(data: &[u8]) -> bool {
    let (mut at, mut seen_mdat) = (0usize, false);
    while let Some(header) = data.get(at..at + 8) {
        let size = u32::from_be_bytes(header[..4].try_into().unwrap()) as usize;
        match &header[4..8] {
            b"mdat" => seen_mdat = true,
            b"moov" => return seen_mdat,
            _ => {}
        }
        if size < 8 {
            return false;
        }
        at += size;
    }
    false
}

/// The docs of `from_reader`: an MP4 whose moov comes last fails at open, not later.
#[test]
fn from_reader_refuses_moov_last_mp4_at_open() {
    quiet();
    for name in ["h264_moov_end.mp4", "h264_aac.mp4"] {
        // ffprobe through a pipe cannot read a packet of it either.
        let piped = common::ffprobe_counts_raw(&fixture(name), ProbeInput::Pipe);
        assert!(
            piped.iter().all(|(_, _, n)| n.is_none()),
            "{name}: {piped:?}"
        );
        let data = fixture_bytes(name);
        match Demuxer::from_reader(&data[..]) {
            Err(Error::NotSeekable { .. }) => {}
            other => panic!("{name}: expected NotSeekable at open, got {other:?}"),
        };
    }
    // Faststart and fragmented files still open, and their first packet (read at open to
    // find out) is not lost.
    for name in [
        "h264_faststart.mp4",
        "h264_fragmented.mp4",
        "audio_only.m4a",
    ] {
        let data = fixture_bytes(name);
        let got = common::demux_all(Demuxer::from_reader(&data[..])).unwrap();
        common::assert_same_packets(
            name,
            &got.packets,
            &common::ffprobe_packets_piped(&fixture(name)),
        );
    }
}
