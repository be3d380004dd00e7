//! Integration tests for the read side: `Demuxer` over every fixture and every way of
//! reading, checked against ffprobe run at test time; failing, panicking, interrupted and
//! one-byte readers; broken inputs; options; seeking; stream information.

mod common;

use std::fs::File;
use std::io::{self, Cursor};
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::time::Duration;

use common::{
    assert_same_packets, demux_all, failing_reader, ffprobe_accepts, ffprobe_counts,
    ffprobe_counts_piped, ffprobe_counts_raw, ffprobe_format, ffprobe_packets,
    ffprobe_packets_piped, ffprobe_streams, fixture, fixture_bytes, panicking_reader, quiet,
    Demuxed, InterruptingReader, OneByteReader, ProbeInput, ProbePacket,
};
use ffio::{CustomIo, Demuxer, DemuxerOptions, Error, MediaType, Rational};

/// Fixtures that need a seekable reader: MP4s whose `moov` box follows `mdat`. (The last
/// two are smaller than the default 64 KiB AVIO buffer, so FFmpeg can still "seek" back
/// inside its buffer when they are streamed; see the NotSeekable tests.)
const NEED_SEEKING: &[&str] = &[
    "h264_moov_end.mp4",
    "h264_aac.mp4",
    "audio_only.m4a",
    "hevc.mp4",
];

/// Fixtures that can be read front to back: MPEG-TS, Matroska, fragmented and faststart
/// MP4 (including the faststart file cut in the middle of `mdat`).
const STREAMABLE: &[&str] = &[
    "h264_aac.ts",
    "h264_aac.mkv",
    "h264_fragmented.mp4",
    "h264_faststart.mp4",
    "truncated_faststart.mp4",
];

/// Inputs nothing can make sense of.
const BROKEN: &[&str] = &[
    "empty.bin",
    "random.bin",
    "truncated_header.mp4",
    "truncated_half.mp4",
    "truncated_moov.mp4",
];

fn readable_fixtures() -> impl Iterator<Item = &'static str> {
    NEED_SEEKING.iter().chain(STREAMABLE).copied()
}

/// The ways of handing a fixture to ffio.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Way {
    /// `Demuxer::from_slice` over the bytes in memory.
    Slice,
    /// `Demuxer::from_seekable_reader(File)`.
    SeekableFile,
    /// `Demuxer::from_reader(File)`: no seeking.
    NonSeekableFile,
    /// `Demuxer::from_seekable_reader(OneByteReader<File>)`.
    OneByteSeekable,
    /// `Demuxer::from_reader(OneByteReader<File>)`.
    OneByteNonSeekable,
    /// `Demuxer::from_seekable_reader(InterruptingReader<File>)`.
    InterruptingSeekable,
    /// `Demuxer::from_reader(InterruptingReader<File>)`.
    InterruptingNonSeekable,
}

impl Way {
    fn is_seekable(self) -> bool {
        matches!(
            self,
            Way::Slice | Way::SeekableFile | Way::OneByteSeekable | Way::InterruptingSeekable
        )
    }

    /// What ffprobe must be given to read the file the same way: by path for the
    /// seekable ways, through a pipe for the others.
    fn probe_input(self) -> ProbeInput {
        if self.is_seekable() {
            ProbeInput::File
        } else {
            ProbeInput::Pipe
        }
    }

    /// The ways that suit a fixture: all of them for streamable files, the seekable ones
    /// otherwise.
    fn for_fixture(name: &str, candidates: &[Way]) -> Vec<Way> {
        let streamable = STREAMABLE.contains(&name);
        candidates
            .iter()
            .copied()
            .filter(|w| streamable || w.is_seekable())
            .collect()
    }
}

fn open_file(path: &Path) -> File {
    File::open(path).unwrap_or_else(|e| panic!("opening {}: {e}", path.display()))
}

/// Demuxes a whole fixture the chosen way.
fn demux_fixture(name: &str, way: Way) -> ffio::Result<Demuxed> {
    let path = fixture(name);
    match way {
        Way::Slice => {
            let data = fixture_bytes(name);
            demux_all(Demuxer::from_slice(&data))
        }
        Way::SeekableFile => demux_all(Demuxer::from_seekable_reader(open_file(&path))),
        Way::NonSeekableFile => demux_all(Demuxer::from_reader(open_file(&path))),
        Way::OneByteSeekable => demux_all(Demuxer::from_seekable_reader(OneByteReader::new(
            open_file(&path),
        ))),
        Way::OneByteNonSeekable => {
            demux_all(Demuxer::from_reader(OneByteReader::new(open_file(&path))))
        }
        Way::InterruptingSeekable => demux_all(Demuxer::from_seekable_reader(
            InterruptingReader::new(open_file(&path)),
        )),
        Way::InterruptingNonSeekable => demux_all(Demuxer::from_reader(InterruptingReader::new(
            open_file(&path),
        ))),
    }
}

/// ffprobe's packets for a fixture read `way`: by path, or through a pipe.
fn expected_packets(name: &str, way: Way) -> Vec<ProbePacket> {
    match way.probe_input() {
        ProbeInput::File => ffprobe_packets(&fixture(name)),
        ProbeInput::Pipe => ffprobe_packets_piped(&fixture(name)),
    }
}

/// ffprobe's packet counts for a fixture read `way`: by path, or through a pipe.
fn expected_counts(name: &str, way: Way) -> Vec<(usize, String, u64)> {
    match way.probe_input() {
        ProbeInput::File => ffprobe_counts(&fixture(name)),
        ProbeInput::Pipe => ffprobe_counts_piped(&fixture(name)),
    }
}

/// Demuxes every suitable fixture each of the `ways` and compares every packet (stream,
/// pts, dts, size, key flag, CRC-32 of the data) with ffprobe's, reading the same way
/// (seekable or piped).
fn check_packets_against_ffprobe(ways: &[Way]) {
    quiet();
    let mut checked = 0;
    for name in readable_fixtures() {
        for way in Way::for_fixture(name, ways) {
            let expected = expected_packets(name, way);
            let what = format!("{name} read via {way:?}");
            let got = demux_fixture(name, way).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_same_packets(&what, &got.packets, &expected);
            checked += 1;
        }
    }
    // Every streamable fixture is read every way; guards against an empty loop.
    assert!(
        checked >= STREAMABLE.len() * ways.len(),
        "only {checked} fixture/way pairs checked"
    );
}

// ---------------------------------------------------------------------------------------
// Packet counts and packets
// ---------------------------------------------------------------------------------------

#[test]
fn every_fixture_packet_counts_match_ffprobe_count_packets() {
    quiet();
    for name in readable_fixtures() {
        let ways = Way::for_fixture(name, &[Way::Slice, Way::SeekableFile, Way::NonSeekableFile]);
        for way in ways {
            let expected = expected_counts(name, way);
            let got = demux_fixture(name, way)
                .unwrap_or_else(|e| panic!("{name} via {way:?}: {e}"))
                .counts();
            assert_eq!(got, expected, "{name} via {way:?}: (index, type, packets)");
        }
    }
}

#[test]
fn packets_from_slice_match_ffprobe() {
    quiet();
    check_packets_against_ffprobe(&[Way::Slice]);
}

#[test]
fn packets_from_seekable_file_match_ffprobe() {
    quiet();
    check_packets_against_ffprobe(&[Way::SeekableFile]);
}

#[test]
fn packets_from_non_seekable_reader_match_ffprobe_for_streamable_formats() {
    quiet();
    check_packets_against_ffprobe(&[Way::NonSeekableFile]);
    // The piped expectation hides nothing: streamed, every file gives the packets ffprobe
    // reads by path, except that in MPEG-TS FFmpeg interpolates the timestamps of some
    // audio packets differently (off by up to 11 ticks of 1/90000 s here, well under 1 ms;
    // same data, same order, video untouched).
    for name in STREAMABLE {
        let streamed = demux_fixture(name, Way::NonSeekableFile).unwrap().packets;
        let by_path = ffprobe_packets(&fixture(name));
        if !name.ends_with(".ts") {
            assert_same_packets(&format!("{name} streamed vs by path"), &streamed, &by_path);
            continue;
        }
        assert_eq!(streamed.len(), by_path.len(), "{name}");
        for (s, p) in streamed.iter().zip(&by_path) {
            let audio = s.stream_index == 1;
            let close = |a: Option<i64>, b: Option<i64>| match (a, b) {
                (Some(a), Some(b)) => a == b || (audio && (a - b).abs() < 90),
                (a, b) => a == b,
            };
            assert!(
                (s.stream_index, s.size, s.key, s.crc32)
                    == (p.stream_index, p.size, p.key, p.crc32)
                    && close(s.pts, p.pts)
                    && close(s.dts, p.dts),
                "{name}: streamed {s:?}, by path {p:?}"
            );
        }
    }
}

#[test]
fn packets_from_one_byte_reader_match_ffprobe() {
    quiet();
    check_packets_against_ffprobe(&[Way::OneByteSeekable, Way::OneByteNonSeekable]);
}

#[test]
fn packets_from_interrupting_reader_match_ffprobe() {
    quiet();
    check_packets_against_ffprobe(&[Way::InterruptingSeekable, Way::InterruptingNonSeekable]);
}

#[test]
fn one_byte_and_interrupting_readers_really_are_called_that_way() {
    // Guards the two tests above against testing nothing: the wrappers did their thing.
    quiet();
    let path = fixture("h264_aac.mp4");
    let size = std::fs::metadata(&path).unwrap().len();
    let mut demuxer =
        Demuxer::from_seekable_reader(OneByteReader::new(open_file(&path))).expect("open");
    while demuxer.read_packet().expect("read").is_some() {}
    // At least one call per byte of media data (mdat is nearly all of the file).
    assert!(
        demuxer.get_ref().reads >= size * 9 / 10,
        "{} reads for {size} bytes",
        demuxer.get_ref().reads
    );

    let mut demuxer =
        Demuxer::from_seekable_reader(InterruptingReader::new(open_file(&path))).expect("open");
    while demuxer.read_packet().expect("read").is_some() {}
    assert!(demuxer.get_ref().read_interruptions > 0);
    assert!(demuxer.get_ref().seek_interruptions > 0);
    // into_inner hands the reader back, with its state.
    let reader = demuxer.into_inner();
    assert!(reader.read_interruptions > 0);
}

#[test]
fn tiny_avio_buffers_give_the_same_packets() {
    // 1- and 7-byte AVIO buffers: every read callback is asked for at most that much.
    quiet();
    for name in readable_fixtures() {
        let path = fixture(name);
        for size in [1, 7] {
            for way in Way::for_fixture(name, &[Way::SeekableFile, Way::NonSeekableFile]) {
                let builder = CustomIo::builder().buffer_size(size);
                let io = if way.is_seekable() {
                    builder.seekable_reader(open_file(&path))
                } else {
                    builder.reader(open_file(&path))
                }
                .unwrap();
                let what = format!("{name} via {way:?}, {size}-byte buffer");
                let got = demux_all(Demuxer::open(io)).unwrap_or_else(|e| panic!("{what}: {e}"));
                assert_same_packets(&what, &got.packets, &expected_packets(name, way));
            }
        }
    }
}

/// A seekable reader that cannot seek relative to its end, so it cannot tell its size
/// (like a ranged HTTP body of unknown length).
struct UnknownSize<R>(R);

impl<R: io::Read> io::Read for UnknownSize<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl<R: io::Seek> io::Seek for UnknownSize<R> {
    fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
        match pos {
            io::SeekFrom::End(_) => Err(io::Error::new(io::ErrorKind::Unsupported, "size unknown")),
            other => self.0.seek(other),
        }
    }
}

#[test]
fn seekable_reader_that_cannot_tell_its_size_still_reads_everything() {
    quiet();
    // Not knowing the size is no error. MPEG-TS then gives the timestamps of a pipe:
    // FFmpeg estimates durations from the end of a TS file only when it knows the size,
    // which changes how it fills in some audio timestamps.
    quiet();
    for name in readable_fixtures() {
        let path = fixture(name);
        let expected = if name.ends_with(".ts") {
            ffprobe_packets_piped(&path)
        } else {
            ffprobe_packets(&path)
        };
        let got = demux_all(Demuxer::from_seekable_reader(UnknownSize(open_file(&path))))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_same_packets(&format!("{name}, size unknown"), &got.packets, &expected);
    }
}

#[test]
fn truncated_faststart_yields_exactly_ffprobes_packets() {
    quiet();
    let name = "truncated_faststart.mp4";
    // The cut is in the middle of mdat: ffprobe gets fewer packets than the whole file has.
    let cut = ffprobe_packets(&fixture(name)).len() as u64;
    let whole = ffprobe_counts(&fixture("h264_faststart.mp4"));
    assert!(
        cut > 0 && cut < whole[0].2,
        "ffprobe reads {cut} of {} packets",
        whole[0].2
    );
    for way in [
        Way::Slice,
        Way::SeekableFile,
        Way::NonSeekableFile,
        Way::OneByteSeekable,
        Way::OneByteNonSeekable,
    ] {
        let expected = expected_packets(name, way);
        let got = demux_fixture(name, way).unwrap_or_else(|e| panic!("{name} via {way:?}: {e}"));
        assert_same_packets(&format!("{name} via {way:?}"), &got.packets, &expected);
    }
}

// ---------------------------------------------------------------------------------------
// Readers that fail
// ---------------------------------------------------------------------------------------

/// Where a failure surfaced: `Some(n)` if the demuxer opened and `n` packets were read
/// before the error, `None` if opening failed.
fn run_until_error<R>(opened: ffio::Result<Demuxer<R>>) -> (Option<usize>, Error) {
    let mut demuxer = match opened {
        Ok(d) => d,
        Err(e) => return (None, e),
    };
    let mut n = 0;
    loop {
        match demuxer.read_packet() {
            Ok(Some(_)) => n += 1,
            Ok(None) => panic!("the input ended cleanly after {n} packets despite the failure"),
            Err(e) => return (Some(n), e),
        }
    }
}

fn assert_own_io_error(what: &str, err: &Error, kind: io::ErrorKind, message: &str) {
    match err {
        Error::Io(e) => {
            assert_eq!(e.kind(), kind, "{what}: kind of {e:?}");
            assert_eq!(e.to_string(), message, "{what}: message of {e:?}");
        }
        other => panic!("{what}: expected Error::Io({kind:?}, {message:?}), got {other:?}"),
    }
}

/// The offsets to fail at: the start, inside the header, the middle, near the end.
fn failure_offsets(size: u64, header: u64, near_end: u64) -> [(u64, io::ErrorKind); 4] {
    [
        (0, io::ErrorKind::ConnectionReset),
        (header, io::ErrorKind::TimedOut),
        (size / 2, io::ErrorKind::PermissionDenied),
        (size - near_end, io::ErrorKind::Other),
    ]
}

#[test]
fn failing_reader_on_moov_at_end_mp4_gives_its_own_io_error() {
    quiet();
    let path = fixture("h264_aac.mp4");
    let size = std::fs::metadata(&path).unwrap().len();
    // ftyp is bytes 0..32; 20 is inside it. size - 100 is inside moov, which comes last.
    for (offset, kind) in failure_offsets(size, 20, 100) {
        let message = format!("disk gone at byte {offset}");
        let reader = failing_reader(open_file(&path), offset, kind, &message);
        let (read, err) = run_until_error(Demuxer::from_seekable_reader(reader));
        assert_own_io_error(
            &format!("offset {offset} (packets read: {read:?})"),
            &err,
            kind,
            &message,
        );
    }
}

#[test]
fn failing_reader_on_ts_gives_its_own_io_error() {
    quiet();
    let path = fixture("h264_aac.ts");
    let size = std::fs::metadata(&path).unwrap().len();
    let total = ffprobe_packets(&path).len();
    // 200 is inside the second 188-byte TS packet (the PMT); size - 188 is the last one.
    for seekable in [false, true] {
        for (offset, kind) in failure_offsets(size, 200, 188) {
            let message = format!("network dropped at byte {offset}");
            let reader = failing_reader(open_file(&path), offset, kind, &message);
            let (read, err) = if seekable {
                run_until_error(Demuxer::from_seekable_reader(reader))
            } else {
                run_until_error(Demuxer::from_reader(reader))
            };
            let what = format!("seekable {seekable}, offset {offset}, packets read {read:?}");
            assert_own_io_error(&what, &err, kind, &message);
            if let Some(n) = read {
                assert!(n < total, "{what}: all {total} packets and an error");
            }
            if !seekable && offset == size - 188 {
                // Streaming, a failure near the end surfaces from read_packet, after most
                // packets: it is not swallowed as a clean end of file.
                let n = read.unwrap_or_else(|| panic!("{what}: open failed"));
                assert!(n > total / 2, "{what}: only {n} of {total} packets first");
            }
        }
    }
}

#[test]
fn failing_reader_while_streaming_faststart_mp4_is_io_error_not_not_seekable() {
    quiet();
    let path = fixture("h264_faststart.mp4");
    let size = std::fs::metadata(&path).unwrap().len();
    // moov is bytes 32..1396; 600 is inside it.
    for (offset, kind) in failure_offsets(size, 600, 100) {
        let message = format!("pipe closed at byte {offset}");
        let reader = failing_reader(open_file(&path), offset, kind, &message);
        let (read, err) = run_until_error(Demuxer::from_reader(reader));
        assert_own_io_error(
            &format!("offset {offset} (packets read: {read:?})"),
            &err,
            kind,
            &message,
        );
    }
}

#[test]
fn failing_one_byte_reader_fails_exactly_once_it_reaches_the_offset() {
    quiet();
    let path = fixture("h264_aac.mkv");
    let size = std::fs::metadata(&path).unwrap().len();
    let offset = size * 3 / 4;
    let reader = failing_reader(
        OneByteReader::new(open_file(&path)),
        offset,
        io::ErrorKind::UnexpectedEof,
        "short body",
    );
    let (read, err) = run_until_error(Demuxer::from_reader(reader));
    assert_own_io_error(
        "one byte at a time",
        &err,
        io::ErrorKind::UnexpectedEof,
        "short body",
    );
    assert!(read.is_some_and(|n| n > 0), "packets read: {read:?}");
}

#[test]
fn io_error_is_the_error_source_with_display() {
    quiet();
    let path = fixture("h264_aac.ts");
    let reader = failing_reader(
        open_file(&path),
        1000,
        io::ErrorKind::AddrNotAvailable,
        "custom message 42",
    );
    let (_, err) = run_until_error(Demuxer::from_reader(reader));
    let source = std::error::Error::source(&err).expect("Error::Io has a source");
    let io_err = source
        .downcast_ref::<io::Error>()
        .expect("the source is the io::Error");
    assert_eq!(io_err.kind(), io::ErrorKind::AddrNotAvailable);
    assert_eq!(io_err.to_string(), "custom message 42");
    // The source is not repeated in the error's own text (Rust API guidelines), so a
    // printed chain names it exactly once.
    assert!(!err.to_string().contains("custom message 42"), "{err}");
    assert_eq!(
        err.chain().matches("custom message 42").count(),
        1,
        "{}",
        err.chain()
    );
    assert_eq!(
        err.io_error().map(io::Error::kind),
        Some(io::ErrorKind::AddrNotAvailable)
    );
}

#[test]
fn reading_on_after_an_io_error_never_ends_cleanly() {
    // FFmpeg may still hand out packets it had buffered, but the stream must not then end
    // as if the file were complete.
    quiet();
    for name in STREAMABLE {
        let path = fixture(name);
        let size = std::fs::metadata(&path).unwrap().len();
        let reader = failing_reader(
            open_file(&path),
            size / 2,
            io::ErrorKind::ConnectionAborted,
            "peer went away",
        );
        let (read, err) = run_until_error(Demuxer::from_reader(reader));
        assert!(read.is_some(), "{name}: the open failed: {err}");
        assert_own_io_error(
            name,
            &err,
            io::ErrorKind::ConnectionAborted,
            "peer went away",
        );
        // Reopen to keep going after the error (run_until_error dropped its demuxer).
        let reader = failing_reader(
            open_file(&path),
            size / 2,
            io::ErrorKind::ConnectionAborted,
            "peer went away",
        );
        let mut demuxer = Demuxer::from_reader(reader).unwrap();
        while demuxer.read_packet().is_ok_and(|p| p.is_some()) {}
        let mut calls = 0;
        loop {
            calls += 1;
            assert!(
                calls < 1000,
                "{name}: still reading 1000 calls after the error"
            );
            match demuxer.read_packet() {
                Ok(Some(_)) => {}
                Ok(None) => panic!("{name}: a clean end after an I/O error"),
                Err(_) => break,
            }
        }
    }
}

#[test]
fn packets_iterator_yields_the_error_then_stops() {
    quiet();
    let path = fixture("h264_aac.ts");
    let size = std::fs::metadata(&path).unwrap().len();
    let reader = failing_reader(open_file(&path), size / 2, io::ErrorKind::TimedOut, "slow");
    let mut demuxer = Demuxer::from_reader(reader).unwrap();
    let expected = ffprobe_packets_piped(&path);
    let mut packets = demuxer.packets();
    let mut good = Vec::new();
    let err = loop {
        match packets
            .next()
            .expect("the iterator ends with the error, not before")
        {
            Ok(p) => good.push(ProbePacket::from_packet(&p)),
            Err(e) => break e,
        }
    };
    assert_own_io_error("iterator", &err, io::ErrorKind::TimedOut, "slow");
    assert!(
        packets.next().is_none(),
        "the iterator goes on after an error"
    );
    assert!(packets.next().is_none());
    // What came before the error is the start of the file, unchanged.
    assert!(!good.is_empty() && good.len() < expected.len());
    assert_same_packets("before the error", &good, &expected[..good.len()]);

    // And without an error it yields exactly the file's packets.
    let data = fixture_bytes("h264_aac.ts");
    let mut demuxer = Demuxer::from_slice(&data).unwrap();
    let all: Vec<ProbePacket> = demuxer
        .packets()
        .map(|p| ProbePacket::from_packet(&p.expect("packet")))
        .collect();
    assert_same_packets("iterator", &all, &ffprobe_packets(&path));
}

/// A broken `Read` that claims to have read one byte more than the buffer holds.
struct Overclaiming<R>(R);

impl<R: io::Read> io::Read for Overclaiming<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.0.read(buf)?;
        Ok(if n == 0 { 0 } else { buf.len() + 1 })
    }
}

#[test]
fn reader_claiming_more_bytes_than_the_buffer_is_an_io_error() {
    quiet();
    let reader = Overclaiming(open_file(&fixture("h264_aac.ts")));
    let (read, err) = run_until_error(Demuxer::from_reader(reader));
    match &err {
        Error::Io(e) => assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}"),
        other => panic!("expected Error::Io(InvalidData), got {other:?} after {read:?}"),
    }
}

#[test]
fn would_block_reader_on_ts_gives_io_error_instead_of_hanging() {
    quiet();
    let path = fixture("h264_aac.ts");
    let size = std::fs::metadata(&path).unwrap().len();
    for (offset, seekable) in [(5000, false), (5000, true), (size / 2, true)] {
        let reader = failing_reader(
            open_file(&path),
            offset,
            io::ErrorKind::WouldBlock,
            "no data yet",
        );
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let outcome = if seekable {
                run_until_error(Demuxer::from_seekable_reader(reader))
            } else {
                run_until_error(Demuxer::from_reader(reader))
            };
            let _ = tx.send(outcome);
        });
        let what = format!("offset {offset}, seekable {seekable}");
        let (_, err) = rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("{what}: still running after 10 s (FFmpeg retries EAGAIN)"));
        assert_own_io_error(&what, &err, io::ErrorKind::WouldBlock, "no data yet");
    }
}

// ---------------------------------------------------------------------------------------
// Readers that panic
// ---------------------------------------------------------------------------------------

#[test]
#[should_panic(expected = "reader exploded while opening")]
fn panic_in_reader_during_open_is_resumed() {
    quiet();
    let reader = panicking_reader(
        open_file(&fixture("h264_aac.ts")),
        0,
        "reader exploded while opening",
    );
    let _ = Demuxer::from_reader(reader);
}

#[test]
#[should_panic(expected = "reader exploded while reading packets")]
fn panic_in_reader_while_reading_packets_is_resumed() {
    quiet();
    let path = fixture("h264_aac.mp4");
    let size = std::fs::metadata(&path).unwrap().len();
    // Past the first 64 KiB buffer, inside mdat: the open succeeds, a later read panics.
    let reader = panicking_reader(
        open_file(&path),
        size * 3 / 4,
        "reader exploded while reading packets",
    );
    let mut demuxer = Demuxer::from_seekable_reader(reader).expect("the open succeeds");
    while demuxer.read_packet().expect("no error, a panic").is_some() {}
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
}

#[test]
fn caught_panic_carries_its_payload_and_poisons_the_demuxer() {
    quiet();
    let path = fixture("h264_aac.mkv");
    let size = std::fs::metadata(&path).unwrap().len();
    let message = "boom at three quarters";
    let reader = panicking_reader(open_file(&path), size * 3 / 4, message);
    let mut demuxer = Demuxer::from_reader(reader).expect("the open succeeds");
    let mut read = 0;
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| loop {
        match demuxer.read_packet() {
            Ok(Some(_)) => read += 1,
            other => return other.map(|p| p.is_some()),
        }
    }));
    let payload = outcome.expect_err("the reader's panic reaches the caller");
    assert_eq!(panic_message(&*payload), Some(message));
    assert!(read > 0, "the panic came before any packet");
    assert_eq!(demuxer.get_ref().faults, 1);
    assert!(demuxer.io().is_poisoned());

    // Afterwards: Poisoned, and the reader is not called again.
    assert!(matches!(demuxer.read_packet(), Err(Error::Poisoned)));
    assert!(matches!(demuxer.read_packet(), Err(Error::Poisoned)));
    assert!(matches!(demuxer.seek(Duration::ZERO), Err(Error::Poisoned)));
    assert_eq!(demuxer.get_ref().faults, 1, "user code ran after the panic");
    drop(demuxer);
}

#[test]
fn caught_panic_during_open_carries_its_payload() {
    quiet();
    let path = fixture("h264_aac.mp4");
    for offset in [0, 20, 50_000] {
        let message = format!("seekable reader panicked at {offset}");
        let reader = panicking_reader(open_file(&path), offset, &message);
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            Demuxer::from_seekable_reader(reader).map(|_| ())
        }));
        let payload = outcome.expect_err("the panic reaches the caller");
        assert_eq!(panic_message(&*payload), Some(message.as_str()));
    }
}

// ---------------------------------------------------------------------------------------
// Broken inputs and inputs that need seeking
// ---------------------------------------------------------------------------------------

#[test]
fn broken_inputs_give_errors() {
    quiet();
    for name in BROKEN {
        let path = fixture(name);
        assert!(
            !ffprobe_accepts(&path),
            "ffprobe reads {name}: not a broken fixture"
        );
        for way in [
            Way::Slice,
            Way::SeekableFile,
            Way::NonSeekableFile,
            Way::OneByteSeekable,
        ] {
            match demux_fixture(name, way) {
                Ok(got) => panic!(
                    "{name} via {way:?}: Ok with {} packets, expected an error",
                    got.packets.len()
                ),
                Err(Error::Io(e)) => panic!("{name} via {way:?}: the reader did not fail: {e}"),
                Err(Error::Poisoned) => panic!("{name} via {way:?}: Poisoned without a panic"),
                Err(Error::Ffmpeg { code, .. }) => assert!(code < 0),
                Err(Error::NotSeekable { .. }) => {
                    assert!(!way.is_seekable(), "{name} via {way:?}: NotSeekable")
                }
                Err(other) => panic!("{name} via {way:?}: unexpected {other:?}"),
            }
        }
    }
}

fn assert_not_seekable(what: &str, result: ffio::Result<Demuxed>) {
    match result {
        Err(Error::NotSeekable { .. }) => {}
        Ok(got) => panic!(
            "{what}: Ok with {} packets, expected NotSeekable",
            got.packets.len()
        ),
        Err(other) => panic!("{what}: expected NotSeekable, got {other:?}"),
    }
}

#[test]
fn moov_at_end_through_non_seekable_reader_is_not_seekable() {
    quiet();
    for name in ["h264_moov_end.mp4", "h264_aac.mp4"] {
        // The situation is real: ffprobe reading the same bytes from a pipe gets no packet
        // at all (and still exits 0), the "0 frames" of the original C program.
        let piped = ffprobe_counts_raw(&fixture(name), ProbeInput::Pipe);
        assert!(
            piped.iter().all(|(_, _, n)| n.is_none()),
            "{name}: ffprobe through a pipe counts {piped:?}"
        );
        for way in [
            Way::NonSeekableFile,
            Way::OneByteNonSeekable,
            Way::InterruptingNonSeekable,
        ] {
            assert_not_seekable(&format!("{name} via {way:?}"), demux_fixture(name, way));
        }
    }
}

#[test]
fn moov_at_end_with_a_small_buffer_is_not_seekable() {
    // With a 4 KiB AVIO buffer even the small moov-at-end files cannot be rewound inside
    // the buffer.
    quiet();
    for name in NEED_SEEKING {
        let path = fixture(name);
        let io = CustomIo::builder()
            .buffer_size(4096)
            .reader(open_file(&path))
            .unwrap();
        assert_not_seekable(
            &format!("{name}, 4 KiB buffer"),
            demux_all(Demuxer::open(io)),
        );
        let io = CustomIo::builder()
            .buffer_size(4096)
            .reader(OneByteReader::new(open_file(&path)))
            .unwrap();
        assert_not_seekable(
            &format!("{name}, 4 KiB buffer, one byte a read"),
            demux_all(Demuxer::open(io)),
        );
    }
}

#[test]
fn moov_at_end_that_fits_the_buffer_streams_like_ffprobe_through_a_pipe() {
    quiet();
    // audio_only.m4a (17 KB) and hevc.mp4 (59 KB) fit in the default 64 KiB buffer, so
    // FFmpeg rewinds inside it and reads every packet; ffprobe on a pipe does the same.
    // Either way the packets are right, never a wrong count.
    quiet();
    for name in ["audio_only.m4a", "hevc.mp4"] {
        let size = std::fs::metadata(fixture(name)).unwrap().len();
        assert!(
            size < ffio::DEFAULT_READ_BUFFER_SIZE as u64,
            "{name}: {size} bytes"
        );
        let expected = ffprobe_packets_piped(&fixture(name));
        assert_eq!(expected, ffprobe_packets(&fixture(name)), "{name}");
        let got = demux_fixture(name, Way::NonSeekableFile)
            .unwrap_or_else(|e| panic!("{name} streamed: {e}"));
        assert_same_packets(&format!("{name} streamed"), &got.packets, &expected);
    }
}

#[test]
fn moov_at_end_through_non_seekable_slice_reader_is_not_seekable() {
    // A `&[u8]` is `Read` but not `Seek`: the typical "HTTP body" case.
    quiet();
    let data = fixture_bytes("h264_aac.mp4");
    let result = demux_all(Demuxer::from_reader(&data[..]));
    assert!(
        matches!(result, Err(Error::NotSeekable { .. })),
        "{result:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------

#[test]
fn unknown_option_is_rejected() {
    quiet();
    let data = fixture_bytes("h264_aac.ts");
    let io = CustomIo::seekable_reader(Cursor::new(&data[..])).unwrap();
    let result = DemuxerOptions::new()
        .option("probesize", "100000")
        .option("no_such_option_for_ffio", "1")
        .open(io);
    match result {
        Err(Error::UnknownOptions { options, .. }) => {
            assert_eq!(options, vec!["no_such_option_for_ffio".to_owned()]);
        }
        other => panic!("expected UnknownOptions, got {other:?}"),
    }

    // The same known option alone is fine (so the rejection above is about the unknown one).
    let io = CustomIo::seekable_reader(Cursor::new(&data[..])).unwrap();
    let demuxed = demux_all(DemuxerOptions::new().option("probesize", "100000").open(io))
        .expect("a known option is accepted");
    assert_eq!(demuxed.counts(), ffprobe_counts(&fixture("h264_aac.ts")));
}

#[test]
fn unknown_format_name_is_rejected() {
    quiet();
    let data = fixture_bytes("h264_aac.ts");
    let io = CustomIo::seekable_reader(Cursor::new(&data[..])).unwrap();
    match DemuxerOptions::new().format("no_such_format_ffio").open(io) {
        Err(Error::FormatNotFound { name, .. }) => assert_eq!(name, "no_such_format_ffio"),
        other => panic!("expected FormatNotFound, got {other:?}"),
    };
}

#[test]
fn forcing_mpegts_on_the_ts_works() {
    quiet();
    let path = fixture("h264_aac.ts");
    let expected = ffprobe_packets(&path);
    let data = fixture_bytes("h264_aac.ts");

    let io = CustomIo::seekable_reader(Cursor::new(&data[..])).unwrap();
    let mut demuxer = DemuxerOptions::new()
        .format("mpegts")
        .open(io)
        .expect("open");
    assert_eq!(demuxer.format_name(), "mpegts");
    let mut packets = Vec::new();
    while let Some(p) = demuxer.read_packet().expect("read") {
        packets.push(ProbePacket::from_packet(&p));
    }
    assert_same_packets("forced mpegts, seekable", &packets, &expected);

    let io = CustomIo::reader(&data[..]).unwrap();
    let got = demux_all(DemuxerOptions::new().format("mpegts").open(io)).expect("streamed");
    let expected = ffprobe_packets_piped(&path);
    assert_same_packets("forced mpegts, streamed", &got.packets, &expected);
}

#[test]
fn forcing_the_wrong_format_fails() {
    // The ts read as matroska: an error, not packets.
    quiet();
    let data = fixture_bytes("h264_aac.ts");
    let io = CustomIo::seekable_reader(Cursor::new(&data[..])).unwrap();
    let result = demux_all(DemuxerOptions::new().format("matroska").open(io));
    assert!(
        matches!(result, Err(Error::Ffmpeg { .. })),
        "{:?}",
        result.map(|d| d.packets.len())
    );
}

// ---------------------------------------------------------------------------------------
// Seeking
// ---------------------------------------------------------------------------------------

/// Seeks to 1 s and reads the rest: the packets after the seek.
fn after_seek_to_one_second<R>(mut demuxer: Demuxer<R>) -> Vec<ProbePacket> {
    demuxer.seek(Duration::from_secs(1)).expect("seek");
    let mut packets = Vec::new();
    while let Some(p) = demuxer.read_packet().expect("read after seek") {
        packets.push(ProbePacket::from_packet(&p));
    }
    packets
}

#[test]
fn seek_to_one_second() {
    quiet();
    let path = fixture("h264_aac.mp4");
    let all = ffprobe_packets(&path);
    // By hand: 25 fps video in an MP4 gets the time base 1/12800 (512 ticks a frame), so
    // 0.5 s is 6400 ticks and 1 s is 12800. Keyframes come every 12 frames (-g 12), i.e.
    // at 0, 0.48 s, 0.96 s...: seeking to 1 s lands on the one at 0.96 s.
    let half_second = 6400;
    let one_second = 12800;
    let expected_key = all
        .iter()
        .filter(|p| p.stream_index == 0 && p.key && p.pts.is_some_and(|t| t <= one_second))
        .filter_map(|p| p.pts)
        .max()
        .expect("ffprobe lists video keyframes");
    assert_eq!(
        expected_key, 12288,
        "ffprobe's keyframes are not as derived"
    );

    let data = fixture_bytes("h264_aac.mp4");
    let demuxer = Demuxer::from_slice(&data).unwrap();
    assert_eq!(
        demuxer.stream(0).unwrap().time_base(),
        Rational::new(1, 12800)
    );
    let from_slice = after_seek_to_one_second(demuxer);
    let from_file =
        after_seek_to_one_second(Demuxer::from_seekable_reader(open_file(&path)).unwrap());
    assert_same_packets("after seek, File vs slice", &from_file, &from_slice);

    let first_video = from_slice
        .iter()
        .find(|p| p.stream_index == 0)
        .expect("video after the seek");
    assert!(first_video.key, "{first_video:?}");
    let pts = first_video.pts.expect("pts");
    assert!(pts >= half_second, "first video pts {pts} < 0.5 s");
    assert_eq!(pts, expected_key);
    assert!(!from_slice.is_empty() && from_slice.len() < all.len());
    // Every packet after the seek is one of the file's real packets.
    for p in &from_slice {
        assert!(all.contains(p), "{p:?} is not in ffprobe's list");
    }
}

#[test]
fn seek_stream_in_its_own_time_base() {
    quiet();
    let data = fixture_bytes("h264_aac.mp4");
    let mut demuxer = Demuxer::from_slice(&data).unwrap();
    // 1 s in the video stream's 1/12800 time base; same keyframe as above (0.96 s).
    demuxer.seek_stream(0, 12800).expect("seek_stream");
    let first_video = std::iter::from_fn(|| demuxer.read_packet().expect("read"))
        .find(|p| p.stream_index() == 0)
        .expect("video after the seek");
    assert_eq!(first_video.pts(), Some(12288));
    assert!(matches!(
        demuxer.seek_stream(7, 0),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn seek_back_on_non_seekable_reader_is_an_error() {
    quiet();
    let path = fixture("h264_faststart.mp4");
    let mut demuxer = Demuxer::from_reader(open_file(&path)).unwrap();
    let total = std::iter::from_fn(|| demuxer.read_packet().expect("read")).count();
    assert_eq!(total as u64, ffprobe_counts(&path)[0].2);
    // Going back to the start needs seeking: the seek or the next read must say so, never
    // hand out wrong packets or a clean end.
    let outcome = demuxer
        .seek(Duration::ZERO)
        .and_then(|()| demuxer.read_packet().map(|p| p.map(|p| p.pts())));
    assert!(
        matches!(outcome, Err(Error::NotSeekable { .. })),
        "{outcome:?}"
    );
}

#[test]
fn seek_in_mpegts_is_relative_to_the_start_of_the_file() {
    quiet();
    let path = fixture("h264_aac.ts");
    let start: f64 = ffprobe_format(&path)["start_time"].parse().unwrap();
    // By hand: 1/90000 time base. MPEG-TS has no index: FFmpeg seeks by bisecting byte
    // positions on timestamps and lands within a few frames of the target (here on pts
    // 226800, start + 1.06 s), so accept 0.5 s to 1.5 s after the start. Ignoring the start
    // time lands on the first packet (start + 0.02 s).
    let start_ticks = (start * 90_000.0).round() as i64;
    let (half, one) = (start_ticks + 45_000, start_ticks + 135_000);
    let data = fixture_bytes("h264_aac.ts");
    let mut demuxer = Demuxer::from_slice(&data).unwrap();
    assert_eq!(
        demuxer.stream(0).unwrap().time_base(),
        Rational::new(1, 90_000)
    );
    demuxer.seek(Duration::from_secs(1)).expect("seek");
    let first_video = std::iter::from_fn(|| demuxer.read_packet().expect("read"))
        .find(|p| p.stream_index() == 0)
        .expect("video after the seek");
    let pts = first_video.pts().expect("pts");
    assert!(
        (half..=one).contains(&pts),
        "first video pts after seek(1 s): {pts}, expected {half}..={one} (start {start_ticks})"
    );
}

// ---------------------------------------------------------------------------------------
// Stream information
// ---------------------------------------------------------------------------------------

/// Opens `data` the way the ffprobe CLI opens a file: like ffmpeg, ffprobe sets the
/// mpegts option `scan_all_pmts=1` by default, which changes how far stream discovery
/// reads (and so e.g. the AAC bit rate it settles on in `h264_aac.ts`: 65920 vs 65922).
fn open_like_ffprobe<'a>(name: &str, data: &'a [u8]) -> Demuxer<Cursor<&'a [u8]>> {
    let mut options = DemuxerOptions::new();
    if name.ends_with(".ts") {
        options = options.option("scan_all_pmts", "1");
    }
    let io = CustomIo::seekable_reader(Cursor::new(data)).unwrap();
    options.open(io).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn opt_string<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "N/A".to_owned(), |v| v.to_string())
}

fn rational_or_zero(value: Option<Rational>) -> String {
    value.map_or_else(|| "0/0".to_owned(), |r| r.to_string())
}

#[test]
fn stream_info_matches_ffprobe_show_streams() {
    quiet();
    for name in readable_fixtures() {
        let path = fixture(name);
        let expected = ffprobe_streams(&path);
        let data = fixture_bytes(name);
        let demuxer = open_like_ffprobe(name, &data);
        assert_eq!(demuxer.stream_count(), expected.len(), "{name}");
        for (stream, probe) in demuxer.streams().zip(&expected) {
            let what = format!("{name} stream {}", stream.index());
            let field = |key: &str| -> &str {
                probe
                    .get(key)
                    .map(String::as_str)
                    .unwrap_or_else(|| panic!("{what}: ffprobe has no {key}"))
            };
            assert_eq!(stream.index().to_string(), field("index"), "{what}");
            assert_eq!(stream.codec_name(), field("codec_name"), "{what}");
            assert_eq!(stream.media_type().as_str(), field("codec_type"), "{what}");
            assert_eq!(stream.time_base().to_string(), field("time_base"), "{what}");
            assert_eq!(
                rational_or_zero(stream.frame_rate()),
                field("avg_frame_rate"),
                "{what}"
            );
            assert_eq!(
                rational_or_zero(stream.real_frame_rate()),
                field("r_frame_rate"),
                "{what}"
            );
            assert_eq!(opt_string(stream.frames()), field("nb_frames"), "{what}");
            assert_eq!(
                opt_string(stream.duration()),
                field("duration_ts"),
                "{what}"
            );
            assert_eq!(opt_string(stream.bit_rate()), field("bit_rate"), "{what}");
            match stream.media_type() {
                MediaType::Video => {
                    assert_eq!(opt_string(stream.width()), field("width"), "{what}");
                    assert_eq!(opt_string(stream.height()), field("height"), "{what}");
                    assert_eq!(stream.sample_rate(), None, "{what}");
                    assert_eq!(stream.channels(), None, "{what}");
                }
                MediaType::Audio => {
                    assert_eq!(
                        opt_string(stream.sample_rate()),
                        field("sample_rate"),
                        "{what}"
                    );
                    assert_eq!(opt_string(stream.channels()), field("channels"), "{what}");
                    assert_eq!(stream.width(), None, "{what}");
                    assert_eq!(stream.height(), None, "{what}");
                }
                other => panic!("{what}: unexpected media type {other}"),
            }
        }
    }
}

#[test]
fn h264_aac_stream_info_by_hand() {
    // The fixture script's parameters: 320x240 H.264 at 25 fps, 44.1 kHz stereo AAC.
    quiet();
    let data = fixture_bytes("h264_aac.mp4");
    let demuxer = Demuxer::from_slice(&data).unwrap();
    let video = demuxer.stream(0).unwrap();
    assert_eq!(video.media_type(), MediaType::Video);
    assert_eq!(video.codec_name(), "h264");
    assert_eq!((video.width(), video.height()), (Some(320), Some(240)));
    assert_eq!(video.frame_rate(), Some(Rational::new(25, 1)));
    let audio = demuxer.stream(1).unwrap();
    assert_eq!(audio.media_type(), MediaType::Audio);
    assert_eq!(audio.codec_name(), "aac");
    assert_eq!(
        (audio.sample_rate(), audio.channels()),
        (Some(44100), Some(2))
    );
    assert_eq!(audio.time_base(), Rational::new(1, 44100));
    assert!(demuxer.stream(2).is_none());
    assert_eq!(demuxer.best_stream(MediaType::Video), Some(0));
    assert_eq!(demuxer.best_stream(MediaType::Audio), Some(1));
    assert_eq!(demuxer.best_stream(MediaType::Subtitle), None);
}

#[test]
fn format_info_matches_ffprobe_show_format() {
    quiet();
    for name in readable_fixtures() {
        let path = fixture(name);
        let expected = ffprobe_format(&path);
        let data = fixture_bytes(name);
        let demuxer = open_like_ffprobe(name, &data);
        assert_eq!(demuxer.format_name(), expected["format_name"], "{name}");
        assert_eq!(
            demuxer.format_long_name(),
            expected["format_long_name"],
            "{name}"
        );
        assert_eq!(
            opt_string(demuxer.bit_rate()),
            expected["bit_rate"],
            "{name}"
        );
        match expected["duration"].as_str() {
            "N/A" => assert_eq!(demuxer.duration(), None, "{name}"),
            secs => {
                let secs: f64 = secs.parse().unwrap();
                let got = demuxer.duration().expect("a duration").as_secs_f64();
                assert!((got - secs).abs() < 1e-6, "{name}: {got} vs {secs}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Send
// ---------------------------------------------------------------------------------------

#[allow(dead_code)]
fn assert_send<T: Send>() {}

#[allow(dead_code)]
const _: () = {
    // Compile-time: these instantiations only type-check if the types are Send.
    let _ = assert_send::<Demuxer<File>>;
    let _ = assert_send::<Demuxer<Cursor<&'static [u8]>>>;
};

#[test]
fn demuxer_moves_to_another_thread() {
    quiet();
    let path = fixture("h264_aac.mkv");
    let demuxer = Demuxer::from_seekable_reader(open_file(&path)).unwrap();
    let counts = std::thread::spawn(move || demux_all(Ok(demuxer)).unwrap().counts())
        .join()
        .unwrap();
    assert_eq!(counts, ffprobe_counts(&path));
}

#[test]
fn keep_streams_skips_the_others() {
    quiet();
    for name in ["h264_aac.mp4", "h264_aac.ts", "h264_aac.mkv"] {
        let path = fixture(name);
        let counts = ffprobe_counts(&path);
        let data = fixture_bytes(name);
        let mut demuxer = Demuxer::from_slice(&data).unwrap();
        assert!(demuxer.keep_streams(&[7]).is_err(), "no stream 7");
        demuxer.keep_streams(&[0]).unwrap();
        let run = demux_all(Ok(demuxer)).unwrap();
        let got = run.counts();
        // Every video packet; audio only what stream discovery had already queued.
        assert_eq!(got[0].2, counts[0].2, "{name}: video packets");
        assert!(
            got[1].2 < counts[1].2 / 2,
            "{name}: {} audio packets",
            got[1].2
        );
        // Video packets equal ffprobe's, in order.
        let video: Vec<_> = run
            .packets
            .iter()
            .filter(|p| p.stream_index == 0)
            .cloned()
            .collect();
        let want: Vec<_> = ffprobe_packets(&path)
            .into_iter()
            .filter(|p| p.stream_index == 0)
            .collect();
        assert_same_packets(name, &video, &want);
    }
}
