//! Muxing through custom I/O: round trips checked against ffprobe, failing, short and
//! panicking writers, batching.

use std::collections::BTreeMap;
use std::io::{self, Cursor, Write};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

use common::{fixture, quiet, remux};
use ffio::{CustomIo, Demuxer, Error, Muxer, Packet, Rational};

/// Adler-32 as FFmpeg's `av_adler32_update` computes it (RFC 1950), for comparing payloads
/// with `ffprobe -show_data_hash adler32`.
fn adler32(data: &[u8]) -> String {
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65521;
        b = (b + a) % 65521;
    }
    format!("adler32:{:08x}", (b << 16) | a)
}

#[test]
fn adler32_matches_the_rfc_example() {
    quiet();
    // RFC 1950's reference value for "Wikipedia", computed by hand in many references.
    assert_eq!(adler32(b"Wikipedia"), "adler32:11e60398");
}

/// One packet as ffprobe reports it; timestamps in seconds.
#[derive(Debug, Clone)]
struct Probed {
    stream: usize,
    pts: Option<f64>,
    dts: Option<f64>,
    hash: String,
}

fn run_ffprobe(args: &[&str], path: &Path) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error"])
        .args(args)
        .arg(path)
        .output()
        .expect("ffprobe must be installed (scripts/setup.sh installs it)");
    assert!(
        out.status.success(),
        "ffprobe {args:?} {} failed: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("ffprobe prints UTF-8")
}

/// Every packet of `path` according to ffprobe (`-of flat`, which keeps one key per line
/// even when packets carry side data).
fn probe_packets(path: &Path) -> Vec<Probed> {
    let text = run_ffprobe(
        &[
            "-show_entries",
            "packet=stream_index,pts_time,dts_time,data_hash",
            "-show_data_hash",
            "adler32",
            "-of",
            "flat",
        ],
        path,
    );
    let mut fields: BTreeMap<usize, BTreeMap<String, String>> = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("packets.packet.") else {
            continue;
        };
        let (index, rest) = rest.split_once('.').unwrap();
        let (key, value) = rest.split_once('=').unwrap();
        if key.contains('.') {
            continue; // side data
        }
        fields
            .entry(index.parse().unwrap())
            .or_default()
            .insert(key.to_owned(), value.trim_matches('"').to_owned());
    }
    let time = |v: &String| v.parse::<f64>().ok();
    fields
        .into_values()
        .map(|f| Probed {
            stream: f["stream_index"].parse().unwrap(),
            pts: time(&f["pts_time"]),
            dts: time(&f["dts_time"]),
            hash: f["data_hash"].clone(),
        })
        .collect()
}

/// The packets ffio demuxes from `bytes`, in ffprobe's terms.
fn ffio_packets(bytes: &[u8]) -> Vec<Probed> {
    let mut demuxer = Demuxer::from_slice(bytes).expect("output demuxes");
    let time_bases: Vec<Rational> = demuxer.streams().map(|s| s.time_base()).collect();
    let seconds = |ts: Option<i64>, tb: Rational| ts.map(|t| t as f64 * tb.as_f64());
    let mut out = Vec::new();
    for packet in demuxer.packets() {
        let packet = packet.expect("output reads back without error");
        let tb = time_bases[packet.stream_index()];
        out.push(Probed {
            stream: packet.stream_index(),
            pts: seconds(packet.pts(), tb),
            dts: seconds(packet.dts(), tb),
            hash: adler32(packet.data()),
        });
    }
    out
}

fn by_stream(packets: &[Probed]) -> BTreeMap<usize, Vec<Probed>> {
    let mut map: BTreeMap<usize, Vec<Probed>> = BTreeMap::new();
    for p in packets {
        map.entry(p.stream).or_default().push(p.clone());
    }
    map
}

/// Asserts that `got` has `want`'s packets stream by stream: the same count, the same
/// payload hashes (when `hashes`), and, when `timestamps`, the same pts and dts within
/// `tolerance` seconds (decoding timestamps only where `got` has them: Matroska stores none).
fn assert_same_packets(
    got: &[Probed],
    want: &[Probed],
    hashes: bool,
    timestamps: bool,
    tolerance: f64,
) {
    let (got, want) = (by_stream(got), by_stream(want));
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "streams"
    );
    for (stream, want) in &want {
        let got = &got[stream];
        assert_eq!(got.len(), want.len(), "packet count of stream {stream}");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            if hashes {
                assert_eq!(g.hash, w.hash, "payload of packet {i} of stream {stream}");
            }
            if !timestamps {
                continue;
            }
            let pts = [("pts", g.pts, w.pts)];
            let dts = [("dts", g.dts, w.dts)];
            let both = pts.iter().chain(dts.iter().filter(|(_, g, _)| g.is_some()));
            for &(name, g, w) in both {
                let g = g.unwrap_or_else(|| panic!("no {name} in packet {i} of stream {stream}"));
                let w = w.unwrap_or_else(|| panic!("ffprobe: no {name} in packet {i}"));
                assert!(
                    (g - w).abs() <= tolerance,
                    "{name} of packet {i} of stream {stream}: got {g}, want {w}"
                );
            }
        }
    }
}

/// The same remux done by the ffmpeg CLI (`-map 0 -c copy`), as an independent reference
/// for what the muxer does to timestamps and payloads.
fn cli_remux(name: &str, format: &str, extra: &[&str]) -> PathBuf {
    let path = common::process_dir("mux").join(name);
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(fixture(SOURCE))
        .args(["-map", "0", "-c", "copy"])
        .args(extra)
        .args(["-f", format])
        .arg(&path)
        .status()
        .expect("ffmpeg must be installed (scripts/setup.sh installs it)");
    assert!(status.success(), "ffmpeg remux to {format} failed");
    path
}

/// Checks a remuxed output: ffprobe reads it cleanly; ffio reads back the source's packets
/// (count, and payloads when the format keeps them as they are); and its packets, payloads
/// and timestamps equal those of the ffmpeg CLI's own remux.
fn check_round_trip(out: &[u8], name: &str, format: &str, cli_flags: &[&str], same_payloads: bool) {
    let path = ffprobe_clean(name, out);
    let ours = ffio_packets(out);
    let source = probe_packets(&fixture(SOURCE));
    assert_same_packets(&ours, &source, same_payloads, false, 0.0);
    let reference = probe_packets(&cli_remux(&format!("cli_{name}"), format, cli_flags));
    assert_same_packets(&ours, &reference, true, true, 1e-6);
    // ffprobe and ffio agree on what was written.
    assert_same_packets(&ours, &probe_packets(&path), true, true, 1e-6);
}

/// Writes `bytes` to a temporary file named after `name` and checks that ffprobe reads it
/// without a single error message. Returns the path.
fn ffprobe_clean(name: &str, bytes: &[u8]) -> PathBuf {
    let path = common::process_dir("mux").join(name);
    std::fs::write(&path, bytes).unwrap();
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_packets"])
        .arg(&path)
        .output()
        .expect("ffprobe must be installed");
    assert!(out.status.success(), "ffprobe rejects {name}");
    assert!(
        out.stderr.is_empty(),
        "ffprobe complains about {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

const SOURCE: &str = "h264_aac.mp4";

fn source() -> Vec<u8> {
    std::fs::read(fixture(SOURCE)).unwrap()
}

#[test]
fn mp4_to_mp4_into_a_cursor() {
    quiet();
    let muxer = Muxer::to_seekable_writer(Cursor::new(Vec::new()), "mp4").unwrap();
    let out = remux(&source(), muxer, &[]).unwrap().into_inner();
    check_round_trip(&out, "roundtrip.mp4", "mp4", &[], true);
}

#[test]
fn mp4_to_fragmented_mp4_into_a_vec() {
    quiet();
    let flags = "frag_keyframe+empty_moov";
    let muxer = Muxer::to_writer(Vec::new(), "mp4").unwrap();
    let out = remux(&source(), muxer, &[("movflags", flags)]).unwrap();
    // It really is fragmented: a moof box, and the moov comes before any media data.
    assert!(out.windows(4).any(|w| w == b"moof"), "no moof box");
    let moov = out.windows(4).position(|w| w == b"moov").unwrap();
    let mdat = out.windows(4).position(|w| w == b"mdat").unwrap();
    assert!(moov < mdat);
    check_round_trip(
        &out,
        "roundtrip_frag.mp4",
        "mp4",
        &["-movflags", flags],
        true,
    );
}

#[test]
fn mp4_to_mpegts_into_a_vec() {
    quiet();
    let muxer = Muxer::to_writer(Vec::new(), "mpegts").unwrap();
    let out = remux(&source(), muxer, &[]).unwrap();
    assert_eq!(out.len() % 188, 0, "whole TS packets");
    // MPEG-TS carries H.264 as Annex B and AAC with ADTS headers: payloads change, so they
    // are compared with the CLI's remux only.
    // The CLI delays MPEG-TS by 0.7 s (-muxdelay) unless told not to; the library does not.
    check_round_trip(&out, "roundtrip.ts", "mpegts", &["-muxdelay", "0"], false);
}

#[test]
fn mp4_to_matroska() {
    quiet();
    for seekable in [true, false] {
        let out = if seekable {
            let muxer = Muxer::to_seekable_writer(Cursor::new(Vec::new()), "matroska").unwrap();
            remux(&source(), muxer, &[]).unwrap().into_inner()
        } else {
            remux(
                &source(),
                Muxer::to_writer(Vec::new(), "matroska").unwrap(),
                &[],
            )
            .unwrap()
        };
        check_round_trip(
            &out,
            &format!("roundtrip_{seekable}.mkv"),
            "matroska",
            &[],
            true,
        );
    }
}

#[test]
fn plain_mp4_into_a_plain_writer_names_the_remedy() {
    quiet();
    let err = remux(&source(), Muxer::to_writer(Vec::new(), "mp4").unwrap(), &[]).unwrap_err();
    assert!(matches!(err, Error::NotSeekable { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("frag_keyframe"), "{text}");
    assert!(text.contains("seekable writer"), "{text}");
}

#[test]
fn misspelt_option_is_an_error() {
    quiet();
    let muxer = Muxer::to_seekable_writer(Cursor::new(Vec::new()), "mp4").unwrap();
    let err = remux(&source(), muxer, &[("movflag", "frag_keyframe")]).unwrap_err();
    match err {
        Error::UnknownOptions { options, .. } => assert_eq!(options, ["movflag"]),
        other => panic!("expected UnknownOptions, got {other:?}"),
    }
}

#[test]
fn faststart_is_refused_up_front() {
    quiet();
    let muxer = Muxer::to_seekable_writer(Cursor::new(Vec::new()), "mp4").unwrap();
    let err = remux(&source(), muxer, &[("movflags", "+faststart")]).unwrap_err();
    assert!(err.to_string().contains("faststart"), "{err}");
}

#[test]
fn unknown_and_file_writing_formats_are_refused() {
    quiet();
    assert!(matches!(
        Muxer::to_writer(Vec::new(), "no-such-format"),
        Err(Error::FormatNotFound { .. })
    ));
    // image2 writes numbered files of its own: nothing may bypass the writer; the error
    // names the way that works (an opener).
    let err = Muxer::to_writer(Vec::new(), "image2").unwrap_err();
    assert!(err.to_string().contains("writes files of its own"), "{err}");
    assert!(err.to_string().contains("Muxer::to_opener"), "{err}");
}

#[test]
fn format_guessed_from_a_file_name() {
    quiet();
    let io = CustomIo::writer(Vec::new()).unwrap();
    let muxer = Muxer::for_file_name(io, "out.mkv").unwrap();
    assert_eq!(muxer.format_name(), "matroska");
}

#[test]
fn misuse_gives_errors_not_panics() {
    quiet();
    let mut muxer = Muxer::to_writer(Vec::new(), "mpegts").unwrap();
    let mut packet = Packet::from_data(&[0, 0, 0, 1]).unwrap();
    assert!(muxer
        .write_packet(&mut packet, Rational::new(1, 90000))
        .is_err());
    assert!(muxer.write_header(&[]).is_err(), "no streams");
    drop(muxer);
    let muxer = Muxer::to_writer(Vec::new(), "mpegts").unwrap();
    assert!(muxer.finish().is_err(), "finish before the header");
}

// ---------------------------------------------------------------------------------------
// Writers that misbehave.

/// Fails with `kind` once `fail_at` bytes have been written.
struct FailingWriter {
    written: usize,
    fail_at: usize,
    kind: io::ErrorKind,
}

impl Write for FailingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.written + buf.len() > self.fail_at {
            return Err(io::Error::new(
                self.kind,
                format!("sink broke at {}", self.fail_at),
            ));
        }
        self.written += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Accepts at most 7 bytes per call, and says `Interrupted` every third call.
struct StingyWriter {
    out: Vec<u8>,
    calls: usize,
}

impl Write for StingyWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.calls += 1;
        if self.calls % 3 == 0 {
            return Err(io::ErrorKind::Interrupted.into());
        }
        let n = buf.len().min(7);
        self.out.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Panics once `panic_at` bytes have been written.
struct PanickingWriter {
    written: usize,
    panic_at: usize,
}

impl Write for PanickingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.written + buf.len() > self.panic_at {
            panic!("writer exploded at byte {}", self.panic_at);
        }
        self.written += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Counts the calls that reach it.
struct CountingWriter {
    out: Vec<u8>,
    calls: usize,
}

impl Write for CountingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.calls += 1;
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The step of a remux that failed.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Step {
    Header,
    Packet,
    Finish,
}

/// Remuxes the source into `format` through `io`, reporting which step failed.
fn remux_steps<W: Write>(io: CustomIo<W>, format: &str) -> Result<W, (Step, Error)> {
    let input = source();
    let mut demuxer = Demuxer::from_slice(&input).unwrap();
    let mut muxer = Muxer::new(io, format).unwrap();
    let mut time_bases = Vec::new();
    for stream in demuxer.streams() {
        muxer.add_stream_from(&stream).unwrap();
        time_bases.push(stream.time_base());
    }
    muxer.write_header(&[]).map_err(|e| (Step::Header, e))?;
    while let Some(mut packet) = demuxer.read_packet().unwrap() {
        let tb = time_bases[packet.stream_index()];
        muxer
            .write_packet(&mut packet, tb)
            .map_err(|e| (Step::Packet, e))?;
    }
    muxer.finish().map_err(|e| (Step::Finish, e.into_error()))
}

fn plain_ts() -> Vec<u8> {
    remux_steps(CustomIo::writer(Vec::new()).unwrap(), "mpegts").unwrap()
}

#[test]
fn failing_writer_gives_its_own_error_from_each_step() {
    quiet();
    let total = plain_ts().len();
    // (offset, per-packet flushing, buffer size, the step that must hit it); MPEG-TS writes
    // nothing at the header, Matroska does.
    let mkv = remux_steps(CustomIo::writer(Vec::new()).unwrap(), "matroska").unwrap();
    let header = {
        let writer = FailingWriter {
            written: 0,
            fail_at: 0,
            kind: io::ErrorKind::StorageFull,
        };
        let io = CustomIo::builder()
            .flush_packets(true)
            .writer(writer)
            .unwrap();
        remux_steps(io, "matroska").map(|_| ()).unwrap_err()
    };
    assert!(!mkv.is_empty());
    assert_eq!(header.0, Step::Header);
    assert_eq!(
        header.1.io_error().unwrap().kind(),
        io::ErrorKind::StorageFull
    );
    let cases = [
        (total / 2, true, 4096, Step::Packet),
        (total / 2, false, 4096, Step::Packet),
        // Everything fits in the default 256 KiB buffer: the failure shows at finish.
        (
            total - 1,
            false,
            ffio::DEFAULT_WRITE_BUFFER_SIZE,
            Step::Finish,
        ),
        (0, false, ffio::DEFAULT_WRITE_BUFFER_SIZE, Step::Finish),
    ];
    for (fail_at, flush, size, step) in cases {
        let writer = FailingWriter {
            written: 0,
            fail_at,
            kind: io::ErrorKind::StorageFull,
        };
        let io = CustomIo::builder()
            .buffer_size(size)
            .flush_packets(flush)
            .writer(writer)
            .unwrap();
        let (got_step, err) = remux_steps(io, "mpegts").map(|_| ()).unwrap_err();
        assert_eq!(
            got_step, step,
            "failing at {fail_at} (flush {flush}, buffer {size})"
        );
        let io_err = err
            .io_error()
            .unwrap_or_else(|| panic!("not Error::Io: {err:?}"));
        assert_eq!(io_err.kind(), io::ErrorKind::StorageFull);
        assert_eq!(io_err.to_string(), format!("sink broke at {fail_at}"));
    }
}

#[test]
fn a_writer_taking_seven_bytes_at_a_time_gives_identical_output() {
    quiet();
    let plain = plain_ts();
    let io = CustomIo::writer(StingyWriter {
        out: Vec::new(),
        calls: 0,
    })
    .unwrap();
    let stingy = remux_steps(io, "mpegts").unwrap();
    assert!(
        stingy.calls > plain.len() / 7,
        "the writer was really stingy"
    );
    assert_eq!(stingy.out, plain);

    // The same for a seekable target (plain MP4 patches its header at the end).
    let muxer = Muxer::to_seekable_writer(Cursor::new(Vec::new()), "mp4").unwrap();
    let reference = remux(&source(), muxer, &[]).unwrap().into_inner();
    struct StingySeek(Cursor<Vec<u8>>);
    impl Write for StingySeek {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = buf.len().min(7);
            self.0.write(&buf[..n])
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    impl io::Seek for StingySeek {
        fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
            self.0.seek(pos)
        }
    }
    let muxer = Muxer::to_seekable_writer(StingySeek(Cursor::new(Vec::new())), "mp4").unwrap();
    let out = remux(&source(), muxer, &[]).unwrap().0.into_inner();
    assert_eq!(out, reference);
}

#[test]
#[should_panic(expected = "writer exploded at byte 1000")]
fn a_panicking_writer_panics_in_the_caller() {
    quiet();
    let io = CustomIo::builder()
        .buffer_size(512)
        .writer(PanickingWriter {
            written: 0,
            panic_at: 1000,
        })
        .unwrap();
    let _ = remux_steps(io, "mpegts");
}

#[test]
fn after_a_writer_panic_the_muxer_is_poisoned_and_drops_cleanly() {
    quiet();
    let input = source();
    let mut demuxer = Demuxer::from_slice(&input).unwrap();
    let io = CustomIo::builder()
        .flush_packets(true)
        .writer(PanickingWriter {
            written: 0,
            panic_at: 5000,
        })
        .unwrap();
    let mut muxer = Muxer::new(io, "mpegts").unwrap();
    let mut time_bases = Vec::new();
    for stream in demuxer.streams() {
        muxer.add_stream_from(&stream).unwrap();
        time_bases.push(stream.time_base());
    }
    muxer.write_header(&[]).unwrap();
    let payload = panic::catch_unwind(AssertUnwindSafe(|| {
        while let Some(mut packet) = demuxer.read_packet().unwrap() {
            let tb = time_bases[packet.stream_index()];
            muxer.write_packet(&mut packet, tb).unwrap();
        }
    }))
    .expect_err("the writer must panic");
    let message = payload
        .downcast_ref::<String>()
        .expect("panic payload is the writer's String");
    assert_eq!(message, "writer exploded at byte 5000");
    assert!(muxer.io().is_poisoned());
    let mut packet = demuxer.read_packet().unwrap().unwrap();
    let tb = time_bases[packet.stream_index()];
    assert!(matches!(
        muxer.write_packet(&mut packet, tb),
        Err(Error::Poisoned)
    ));
    assert!(matches!(
        muxer.finish().map_err(|e| e.into_error()),
        Err(Error::Poisoned)
    ));
}

#[test]
fn dropping_an_unfinished_muxer_writes_nothing_more() {
    quiet();
    let input = source();
    let mut demuxer = Demuxer::from_slice(&input).unwrap();
    let mut muxer = Muxer::to_writer(
        CountingWriter {
            out: Vec::new(),
            calls: 0,
        },
        "mpegts",
    )
    .unwrap();
    let tb = demuxer.stream(0).unwrap().time_base();
    muxer.add_stream_from(&demuxer.stream(0).unwrap()).unwrap();
    muxer.write_header(&[]).unwrap();
    let mut packet = demuxer.read_packet().unwrap().unwrap();
    packet.set_stream_index(0);
    muxer.write_packet(&mut packet, tb).unwrap();
    assert_eq!(muxer.get_ref().calls, 0, "still buffered");
    drop(muxer); // must not panic, must not write
}

#[test]
fn writes_are_batched_unless_asked_per_packet() {
    quiet();
    let batched = remux_steps(
        CustomIo::builder()
            .buffer_size(16 * 1024)
            .writer(CountingWriter {
                out: Vec::new(),
                calls: 0,
            })
            .unwrap(),
        "mpegts",
    )
    .unwrap();
    let per_packet = remux_steps(
        CustomIo::builder()
            .buffer_size(16 * 1024)
            .flush_packets(true)
            .writer(CountingWriter {
                out: Vec::new(),
                calls: 0,
            })
            .unwrap(),
        "mpegts",
    )
    .unwrap();
    assert_eq!(batched.out, per_packet.out, "same bytes either way");
    let full_buffers = batched.out.len().div_ceil(16 * 1024);
    assert!(
        batched.calls <= full_buffers + 1,
        "{} calls for {} bytes",
        batched.calls,
        batched.out.len()
    );
    // 138 packets in the source: per-packet flushing writes about once per packet.
    assert!(per_packet.calls >= 100, "{} calls", per_packet.calls);
}

#[test]
fn muxer_is_send() {
    quiet();
    fn assert_send<T: Send>() {}
    assert_send::<Muxer<Vec<u8>>>();
    assert_send::<Muxer<Cursor<Vec<u8>>>>();
    assert_send::<Muxer<std::fs::File>>();
}

#[test]
fn streams_described_by_hand() {
    quiet();
    // Copy raw Annex B H.264 (extracted by the ffmpeg CLI) into MPEG-TS, which needs no
    // extradata, with codec parameters set by hand.
    let raw = common::process_dir("mux").join("by_hand.h264");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(fixture(SOURCE))
        .args(["-map", "0:v:0", "-c", "copy", "-f", "h264"])
        .arg(&raw)
        .status()
        .expect("ffmpeg must be installed");
    assert!(status.success());
    let bytes = std::fs::read(&raw).unwrap();
    let mut demuxer = Demuxer::from_slice(&bytes).unwrap();
    let params = ffio::CodecParameters::video("h264", 320, 240).unwrap();
    let mut muxer = Muxer::to_writer(Vec::new(), "mpegts").unwrap();
    let tb = Rational::new(1, 25);
    assert_eq!(muxer.add_stream(&params, tb).unwrap(), 0);
    muxer.write_header(&[]).unwrap();
    let mut n = 0i64;
    while let Some(mut packet) = demuxer.read_packet().unwrap() {
        // The raw stream has no timestamps: number the frames at 25 fps.
        packet.set_pts(Some(n));
        packet.set_dts(Some(n));
        packet.set_duration(1);
        muxer.write_packet(&mut packet, tb).unwrap();
        n += 1;
    }
    let out = muxer.finish().unwrap();
    let path = ffprobe_clean("by_hand.ts", &out);
    let probed = run_ffprobe(
        &[
            "-count_packets",
            "-show_entries",
            "stream=codec_name,width,height,nb_read_packets",
            "-of",
            "csv=p=0",
        ],
        &path,
    );
    // MPEG-TS lists the stream under its program too: the first line is the stream.
    assert_eq!(probed.lines().next(), Some("h264,320,240,50"));
    assert!(ffio::CodecParameters::video("aac", 1, 1).is_err());
    assert!(ffio::CodecParameters::audio("no-such-codec", 1, 1).is_err());
}
