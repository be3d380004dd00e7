//! Regression tests for the soundness review (issue 8): safe calls that crashed, options
//! that made FFmpeg free ffio's context, uninitialised memory handed to `Read`, panics
//! that could unwind into C, errors that told the wrong story. Several of these fail on
//! the old code only under memcheck (`scripts/memcheck.sh` runs this binary).

mod common;

use std::io::{self, Cursor, Read, Seek, SeekFrom, Write};
use std::panic::{self, AssertUnwindSafe};
use std::time::Duration;

use common::{ffprobe_packets, fixture, fixture_bytes, quiet, ProbePacket};
use ffio::{CodecParameters, CustomIo, Demuxer, DemuxerOptions, Error, Muxer, Rational};

// ---------------------------------------------------------------------------------------
// 1. A muxer whose header failed
// ---------------------------------------------------------------------------------------

/// A seekable in-memory writer that fails every write from call number `fail_at` (1-based)
/// on, as a full disk does, and counts its calls.
#[derive(Debug)]
struct FailingWriter {
    out: Cursor<Vec<u8>>,
    fail_at: usize,
    calls: usize,
}

impl FailingWriter {
    fn new(fail_at: usize) -> Self {
        FailingWriter {
            out: Cursor::new(Vec::new()),
            fail_at,
            calls: 0,
        }
    }
}

impl Write for FailingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.calls += 1;
        if self.calls >= self.fail_at {
            return Err(io::Error::other("disk full"));
        }
        self.out.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for FailingWriter {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.out.seek(pos)
    }
}

/// A muxer for `format` with the streams of h264_aac.mp4, writing 16-byte batches, one
/// flush per packet, into `writer`.
fn muxer_for(
    demuxer: &Demuxer<Cursor<&[u8]>>,
    format: &str,
    writer: FailingWriter,
) -> Muxer<FailingWriter> {
    let io = CustomIo::builder()
        .buffer_size(16)
        .flush_packets(true)
        .seekable_writer(writer)
        .unwrap();
    let mut muxer = Muxer::new(io, format).unwrap();
    for stream in demuxer.streams() {
        muxer.add_stream_from(&stream).unwrap();
    }
    muxer
}

#[test]
fn a_muxer_whose_header_failed_stays_failed_and_never_writes_a_trailer() {
    quiet();
    let input = fixture_bytes("h264_aac.mp4");
    let demuxer = Demuxer::from_slice(&input).unwrap();
    let mut exercised = 0;
    for format in [
        "mp4", "mov", "ipod", "ismv", "webm", "matroska", "mpegts", "flv", "nut", "avi",
    ] {
        // How many writes a successful header takes (0 if the format refuses the streams).
        let mut counted = muxer_for(&demuxer, format, FailingWriter::new(usize::MAX));
        let header_ok = counted.write_header(&[]).is_ok();
        let header_writes = counted.get_ref().calls;
        drop(counted);
        for fail_at in 1..=header_writes.max(1) {
            let mut muxer = muxer_for(&demuxer, format, FailingWriter::new(fail_at));
            let what = format!("{format}, writer failing from write {fail_at}");
            let err = match muxer.write_header(&[]) {
                Err(e) => e,
                Ok(()) => {
                    assert!(header_ok && fail_at > header_writes, "{what}: header Ok");
                    continue;
                }
            };
            exercised += 1;
            if header_ok {
                assert_eq!(
                    err.io_error_kind(),
                    Some(io::ErrorKind::Other),
                    "{what}: {err:?}"
                );
            }
            // Every later call says the muxer failed, naming the first error, and runs
            // nothing in FFmpeg (the old code crashed in av_write_trailer here).
            let mut packet = ffio::Packet::from_data(&[0, 0, 0, 1, 0x65]).unwrap();
            match muxer.write_packet(&mut packet, Rational::new(1, 25)) {
                Err(Error::Failed { first, .. }) => {
                    assert_eq!(first, err.chain(), "{what}")
                }
                other => panic!("{what}: write_packet after the failed header gave {other:?}"),
            }
            assert!(
                matches!(muxer.write_header(&[]), Err(Error::Failed { .. })),
                "{what}: a second header"
            );
            let calls_before = muxer.get_ref().calls;
            let (finish_err, writer) = muxer.finish().unwrap_err().into_parts();
            assert!(
                matches!(finish_err, Error::Failed { .. }),
                "{what}: finish gave {finish_err:?}"
            );
            assert_eq!(writer.calls, calls_before, "{what}: finish wrote");
        }
    }
    assert!(exercised >= 10, "only {exercised} failed headers exercised");
}

#[test]
fn a_muxer_option_failing_to_parse_leaves_a_failed_muxer() {
    quiet();
    let input = fixture_bytes("h264_aac.mp4");
    let demuxer = Demuxer::from_slice(&input).unwrap();
    for options in [
        &[("fflags", "0"), ("probesize", "bogus")][..],
        &[("fflags", "0"), ("movflags", "bogus")][..],
        &[("movflags", "+frag_keyframe"), ("frag_duration", "bogus")][..],
    ] {
        let mut muxer = muxer_for(&demuxer, "mp4", FailingWriter::new(usize::MAX));
        let err = muxer.write_header(options).unwrap_err();
        assert!(!err.chain().is_empty(), "{options:?}");
        let mut packet = ffio::Packet::from_data(&[1, 2, 3]).unwrap();
        assert!(
            matches!(
                muxer.write_packet(&mut packet, Rational::new(1, 25)),
                Err(Error::Failed { .. })
            ),
            "{options:?}"
        );
        assert!(muxer.finish().is_err(), "{options:?}");
    }
    // A plain fflags value on its own is harmless for a muxer.
    let mut muxer = muxer_for(&demuxer, "mpegts", FailingWriter::new(usize::MAX));
    muxer.write_header(&[("fflags", "0")]).unwrap();
    assert!(muxer.finish().is_ok());
}

// ---------------------------------------------------------------------------------------
// 2. Demuxer options that made FFmpeg free ffio's AVIOContext
// ---------------------------------------------------------------------------------------

#[test]
fn demuxer_options_cannot_take_the_custom_context_away() {
    quiet();
    let name = "h264_aac.mp4";
    let input = fixture_bytes(name);
    let expected = ffprobe_packets(&fixture(name)).len();
    for fflags in ["0", "discardcorrupt", "-autobsf", "+genpts"] {
        // Alone: the open works and the whole file is read; dropping the demuxer must not
        // free the context twice (the old code let avformat_close_input avio_close it).
        let opened = DemuxerOptions::new()
            .option("fflags", fflags)
            .open(CustomIo::seekable_reader(Cursor::new(&input[..])).unwrap());
        let run = common::demux_all(opened).unwrap_or_else(|e| panic!("fflags={fflags}: {e}"));
        assert_eq!(run.packets.len(), expected, "fflags={fflags}");

        // Followed by an option that fails: a clear error, nothing freed twice.
        for (key, value) in [
            ("probesize", "bogus"),
            ("ignore_editlist", "bogus"),
            ("no_such_option", "1"),
        ] {
            let what = format!("fflags={fflags}, {key}={value}");
            let err = DemuxerOptions::new()
                .option("fflags", fflags)
                .option(key, value)
                .open(CustomIo::seekable_reader(Cursor::new(&input[..])).unwrap())
                .unwrap_err();
            match (key, &err) {
                ("probesize", Error::InvalidOption { key, value, .. }) => {
                    assert_eq!((key.as_str(), value.as_str()), ("probesize", "bogus"))
                }
                ("ignore_editlist", Error::Ffmpeg { .. }) => {}
                ("no_such_option", Error::UnknownOptions { options, .. }) => {
                    assert_eq!(options, &["no_such_option"])
                }
                _ => panic!("{what}: {err:?}"),
            }
        }
    }
    // The same through a pipe.
    let ts = fixture_bytes("h264_aac.ts");
    let err = DemuxerOptions::new()
        .option("fflags", "0")
        .option("probesize", "bogus")
        .open(CustomIo::reader(&ts[..]).unwrap())
        .unwrap_err();
    assert!(matches!(err, Error::InvalidOption { .. }), "{err:?}");
}

// ---------------------------------------------------------------------------------------
// 3. Read::read sees only initialised memory
// ---------------------------------------------------------------------------------------

/// A reader that looks at every byte of `buf` before filling it (std allows that), and
/// returns at most `chunk` bytes per call. Under memcheck, uninitialised memory handed to
/// it shows as "conditional jump depends on uninitialised value".
struct PeekingReader<R> {
    inner: R,
    chunk: usize,
    seen: u64,
}

impl<R: Read> Read for PeekingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        for &b in buf.iter() {
            if b == 0x47 {
                self.seen = self.seen.wrapping_add(1);
            }
        }
        let len = buf.len().min(self.chunk);
        self.inner.read(&mut buf[..len])
    }
}

impl<R: Seek> Seek for PeekingReader<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

#[test]
fn readers_see_only_initialised_memory_and_every_byte_arrives_intact() {
    quiet();
    for name in common::READABLE {
        let data = fixture_bytes(name);
        let expected = ffprobe_packets(&fixture(name));
        for (chunk, buffer) in [(usize::MAX, 65536), (100, 4096), (7000, 1024)] {
            let reader = PeekingReader {
                inner: Cursor::new(&data[..]),
                chunk,
                seen: 0,
            };
            // Small buffers make FFmpeg read big packets straight into their own memory.
            let io = CustomIo::builder()
                .buffer_size(buffer)
                .seekable_reader(reader)
                .unwrap();
            let got = common::demux_all(Demuxer::open(io))
                .unwrap_or_else(|e| panic!("{name}, chunk {chunk}, buffer {buffer}: {e}"));
            common::assert_same_packets(
                &format!("{name}, chunk {chunk}, buffer {buffer}"),
                &got.packets,
                &expected,
            );
        }
    }
    // Non-seekable: FFmpeg grows and replaces the buffer to keep what it probed.
    let name = "h264_aac.ts";
    let data = fixture_bytes(name);
    let reader = PeekingReader {
        inner: &data[..],
        chunk: 333,
        seen: 0,
    };
    let got = common::demux_all(Demuxer::from_reader(reader)).unwrap();
    common::assert_same_packets(
        name,
        &got.packets,
        &common::ffprobe_packets_piped(&fixture(name)),
    );
}

// ---------------------------------------------------------------------------------------
// 5. A panicking error payload
// ---------------------------------------------------------------------------------------

/// An error payload whose `Drop` panics.
#[derive(Debug)]
struct PanicOnDrop;

impl std::fmt::Display for PanicOnDrop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("panics when dropped")
    }
}

impl std::error::Error for PanicOnDrop {}

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("error payload dropped");
    }
}

/// Reads `inner`, but cannot tell its size: `seek(End)` fails with a [`PanicOnDrop`]
/// error, which ffio does not keep (not knowing the size is allowed) and so drops.
struct SizeErrorPanicsOnDrop<R>(R);

impl<R: Read> Read for SizeErrorPanicsOnDrop<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl<R: Seek> Seek for SizeErrorPanicsOnDrop<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        match pos {
            SeekFrom::End(_) => Err(io::Error::other(PanicOnDrop)),
            other => self.0.seek(other),
        }
    }
}

#[test]
fn a_panic_in_an_error_payloads_drop_comes_back_instead_of_unwinding_into_c() {
    quiet();
    let data = fixture_bytes("h264_aac.mp4");
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        Demuxer::from_seekable_reader(SizeErrorPanicsOnDrop(Cursor::new(&data[..]))).map(drop)
    }));
    let payload = outcome.expect_err("the drop's panic is resumed from the open");
    let message = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
    assert_eq!(message, Some("error payload dropped"));
}

// ---------------------------------------------------------------------------------------
// 6. Latched errors
// ---------------------------------------------------------------------------------------

/// Fails exactly once, with `kind`, at the first read at or past `offset`; counts reads.
struct FailsOnce<R> {
    inner: R,
    position: u64,
    offset: u64,
    kind: Option<io::ErrorKind>,
    reads: usize,
}

impl<R: Read> Read for FailsOnce<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reads += 1;
        if self.position >= self.offset {
            if let Some(kind) = self.kind.take() {
                return Err(io::Error::new(kind, "once"));
            }
        }
        let n = self.inner.read(buf)?;
        self.position += n as u64;
        Ok(n)
    }
}

impl<R: Seek> Seek for FailsOnce<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.position = self.inner.seek(pos)?;
        Ok(self.position)
    }
}

#[test]
fn a_failed_demuxer_says_so_until_a_seek_restarts_it() {
    quiet();
    // Faststart: the index comes first, so the failure at half the file is in the media.
    let name = "h264_faststart.mp4";
    let data = fixture_bytes(name);
    let expected = ffprobe_packets(&fixture(name));
    for kind in [io::ErrorKind::TimedOut, io::ErrorKind::WouldBlock] {
        let reader = FailsOnce {
            inner: Cursor::new(&data[..]),
            position: 0,
            offset: data.len() as u64 / 2,
            kind: Some(kind),
            reads: 0,
        };
        // A small buffer, so the failure comes while packets are read.
        let io = CustomIo::builder()
            .buffer_size(4096)
            .seekable_reader(reader)
            .unwrap();
        let mut demuxer = DemuxerOptions::new()
            .find_stream_info(false)
            .open(io)
            .unwrap();
        let err = loop {
            match demuxer.read_packet() {
                Ok(Some(_)) => {}
                Ok(None) => panic!("{kind:?}: ended cleanly despite the failure"),
                Err(e) => break e,
            }
        };
        assert_eq!(err.io_error().map(io::Error::kind), Some(kind), "{err:?}");
        let reads = demuxer.get_ref().reads;
        for _ in 0..3 {
            match demuxer.read_packet() {
                Err(Error::Failed {
                    kind: Some(k),
                    first,
                    ..
                }) => {
                    assert_eq!(k, kind);
                    assert!(first.contains("once"), "{first}");
                }
                other => panic!("{kind:?}: after the failure: {other:?}"),
            }
        }
        assert_eq!(
            demuxer.get_ref().reads,
            reads,
            "{kind:?}: the reader ran again"
        );
        // A seek restarts reading; then every packet comes, as from a fresh demuxer.
        demuxer.seek(Duration::ZERO).unwrap();
        let mut got = Vec::new();
        while let Some(packet) = demuxer.read_packet().unwrap() {
            got.push(ProbePacket::from_packet(&packet));
        }
        common::assert_same_packets(&format!("{kind:?}, after seek(0)"), &got, &expected);
    }
}

// ---------------------------------------------------------------------------------------
// 7. NotSeekable only when seeking is the cause
// ---------------------------------------------------------------------------------------

#[test]
fn not_seekable_is_said_only_when_a_seekable_output_would_work() {
    quiet();
    // Codecs fragmented MP4 cannot hold: the cause is the codec, not the writer.
    for codec in ["h261", "theora", "vp6"] {
        let mut muxer = Muxer::to_writer(Vec::new(), "mp4").unwrap();
        let params = CodecParameters::video(codec, 352, 288).unwrap();
        muxer.add_stream(&params, Rational::new(1, 25)).unwrap();
        let err = muxer
            .write_header(&[("movflags", "frag_keyframe+empty_moov")])
            .unwrap_err();
        assert!(
            !matches!(err, Error::NotSeekable { .. }),
            "{codec}: {}",
            err.chain()
        );
    }
    // Plain MP4 of H.264 into a plain writer: the seek is the cause.
    let input = fixture_bytes("h264_aac.mp4");
    let demuxer = Demuxer::from_slice(&input).unwrap();
    let mut muxer = Muxer::to_writer(Vec::new(), "mp4").unwrap();
    for stream in demuxer.streams() {
        muxer.add_stream_from(&stream).unwrap();
    }
    let err = muxer.write_header(&[]).unwrap_err();
    assert!(matches!(err, Error::NotSeekable { .. }), "{err:?}");
    assert!(err.to_string().contains("frag_keyframe"), "{err}");
}

// ---------------------------------------------------------------------------------------
// 8. Errors, writers given back, packets
// ---------------------------------------------------------------------------------------

#[test]
fn finish_gives_the_writer_back_when_it_fails() {
    quiet();
    let input = fixture_bytes("h264_aac.mp4");
    let mut demuxer = Demuxer::from_slice(&input).unwrap();
    // Batched output smaller than one buffer: the first write happens in finish.
    let mut muxer = Muxer::new(CustomIo::writer(FailingWriter::new(1)).unwrap(), "mpegts").unwrap();
    let mut time_bases = Vec::new();
    for stream in demuxer.streams() {
        muxer.add_stream_from(&stream).unwrap();
        time_bases.push(stream.time_base());
    }
    muxer.write_header(&[]).unwrap();
    while let Some(mut packet) = demuxer.read_packet().unwrap() {
        let tb = time_bases[packet.stream_index()];
        muxer.write_packet(&mut packet, tb).unwrap();
    }
    let (err, writer) = muxer.finish().unwrap_err().into_parts();
    assert_eq!(
        err.io_error().map(|e| e.to_string()),
        Some("disk full".into())
    );
    assert_eq!(
        writer.calls, 1,
        "the writer came back, having seen one write"
    );
}

#[test]
fn packets_clone_by_reference_and_iterators_debug() {
    quiet();
    let input = fixture_bytes("h264_aac.mp4");
    let mut demuxer = Demuxer::from_slice(&input).unwrap();
    let packet = demuxer.read_packet().unwrap().unwrap();
    let copy = packet.clone();
    assert_eq!(copy.data(), packet.data());
    assert_eq!(
        copy.data().as_ptr(),
        packet.data().as_ptr(),
        "av_packet_ref shares the payload"
    );
    assert_eq!(
        (copy.stream_index(), copy.pts(), copy.dts(), copy.is_key()),
        (
            packet.stream_index(),
            packet.pts(),
            packet.dts(),
            packet.is_key()
        )
    );
    drop(packet);
    assert!(!copy.data().is_empty(), "the clone keeps its own reference");
    let packets = demuxer.packets();
    assert!(format!("{packets:?}").starts_with("Packets"));
}
