//! Issue 11: further files through an opener, faststart, multi-file muxers.
//!
//! Expected values come from the ffmpeg / ffprobe CLI, run at test time on the same input
//! with the same options.

mod common;

use std::collections::BTreeMap;
use std::io::{self, Cursor, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use common::*;
use ffio::{Error, Muxer, OpenMode, Opened};

/// A fresh, empty directory for one test (see [`common::scratch_dir`]).
fn scratch(name: &str) -> PathBuf {
    scratch_dir("opener", name)
}

/// The top-level MP4 box types, in order.
fn top_boxes(data: &[u8]) -> Vec<String> {
    let mut boxes = Vec::new();
    let mut at = 0usize;
    while at + 8 <= data.len() {
        let mut size = u32::from_be_bytes(data[at..at + 4].try_into().unwrap()) as u64;
        let kind = String::from_utf8_lossy(&data[at + 4..at + 8]).into_owned();
        if size == 1 {
            size = u64::from_be_bytes(data[at + 8..at + 16].try_into().unwrap());
        } else if size == 0 {
            size = (data.len() - at) as u64;
        }
        boxes.push(kind);
        at += size as usize;
    }
    assert_eq!(at, data.len(), "boxes do not tile the file: {boxes:?}");
    boxes
}

/// The files in `dir` and their contents.
fn files_in(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            let name = entry.file_name().into_string().unwrap();
            files.insert(name, std::fs::read(entry.path()).unwrap());
        }
    }
    files
}

// ---------------------------------------------------------------------------------------
// Faststart
// ---------------------------------------------------------------------------------------

/// The CLI's faststart remux of `input`, and its packets.
fn cli_faststart(dir: &Path, input: &str) -> (Vec<u8>, Vec<ProbePacket>) {
    let out = dir.join("cli.mp4");
    ffmpeg(
        dir,
        &[
            "-i",
            fixture(input).to_str().unwrap(),
            "-map",
            "0",
            "-c",
            "copy",
            "-movflags",
            "+faststart",
            out.to_str().unwrap(),
        ],
    );
    (std::fs::read(&out).unwrap(), ffprobe_packets(&out))
}

fn assert_faststart(what: &str, mp4: &[u8], path: &Path, expected: &[ProbePacket]) {
    let boxes = top_boxes(mp4);
    assert_eq!(boxes[0], "ftyp", "{what}: {boxes:?}");
    assert_eq!(boxes[1], "moov", "{what}: {boxes:?}");
    assert_eq!(boxes.last().unwrap(), "mdat", "{what}: {boxes:?}");
    assert_same_packets(what, &ffprobe_packets(path), expected);
}

#[test]
fn faststart_into_a_cursor_matches_the_cli() {
    quiet();
    // MP4 inputs: from Matroska the CLI rewrites the audio timestamps (its own audio
    // timestamp smoothing of the 1 ms input), which has nothing to do with faststart.
    for input in [
        "h264_aac.mp4",
        "h264_moov_end.mp4",
        "audio_only.m4a",
        "hevc.mp4",
    ] {
        let dir = scratch(&format!("faststart_cursor_{input}"));
        let (cli, expected) = cli_faststart(&dir, input);
        assert_eq!(top_boxes(&cli)[..2], ["ftyp", "moov"]);
        let muxer = Muxer::to_seekable_stream(Cursor::new(Vec::new()), "mp4").unwrap();
        let out = remux(&fixture_bytes(input), muxer, &[("movflags", "+faststart")])
            .unwrap()
            .into_inner();
        let path = dir.join("ffio.mp4");
        std::fs::write(&path, &out).unwrap();
        assert_faststart(input, &out, &path, &expected);
    }
}

#[test]
fn faststart_into_a_file_matches_the_cli() {
    quiet();
    let dir = scratch("faststart_file");
    let (_, expected) = cli_faststart(&dir, "h264_aac.mp4");
    let path = dir.join("ffio.mp4");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    let muxer = Muxer::to_seekable_stream(file, "mp4").unwrap();
    remux(
        &fixture_bytes("h264_aac.mp4"),
        muxer,
        &[("movflags", "faststart")],
    )
    .unwrap();
    assert_faststart("file", &std::fs::read(&path).unwrap(), &path, &expected);
}

#[test]
fn faststart_into_a_plain_writer_is_refused_naming_the_remedy() {
    quiet();
    // A plain writer cannot hold a plain MP4 at all: the error says what faststart needs.
    let muxer = Muxer::to_writer(Vec::new(), "mp4").unwrap();
    let err = remux(
        &fixture_bytes("h264_aac.mp4"),
        muxer,
        &[("movflags", "+faststart")],
    )
    .unwrap_err();
    assert!(matches!(err, Error::NotSeekable { .. }), "{err:?}");
    assert!(err.to_string().contains("to_seekable_stream"), "{err}");
    // A seekable writer that cannot be read back is refused the same way.
    let muxer = Muxer::to_seekable_writer(Cursor::new(Vec::new()), "mp4").unwrap();
    let err = remux(
        &fixture_bytes("h264_aac.mp4"),
        muxer,
        &[("movflags", "128")],
    )
    .unwrap_err();
    assert!(err.to_string().contains("to_seekable_stream"), "{err}");
}

// ---------------------------------------------------------------------------------------
// An in-memory file store behind an opener
// ---------------------------------------------------------------------------------------

/// Files in memory, filled and read through [`ffio::Opener`]; `log` records every request.
#[derive(Clone, Default)]
struct MemFs {
    files: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
    log: Arc<Mutex<Vec<String>>>,
}

/// A file being written: stored under its name when FFmpeg closes it (drop).
struct MemFile {
    name: String,
    data: Cursor<Vec<u8>>,
    fs: MemFs,
}

impl Write for MemFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.data.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for MemFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.data.seek(pos)
    }
}

impl Drop for MemFile {
    fn drop(&mut self) {
        let data = std::mem::take(self.data.get_mut());
        self.fs
            .files
            .lock()
            .unwrap()
            .insert(std::mem::take(&mut self.name), data);
    }
}

impl ffio::Opener for MemFs {
    fn open(&mut self, name: &str, mode: OpenMode) -> io::Result<Opened> {
        self.log.lock().unwrap().push(format!("{mode:?} {name}"));
        match mode {
            OpenMode::Write => Ok(Opened::seekable_writer(MemFile {
                name: name.to_owned(),
                data: Cursor::new(Vec::new()),
                fs: self.clone(),
            })),
            _ => match self.files.lock().unwrap().get(name) {
                Some(data) => Ok(Opened::seekable_reader(Cursor::new(data.clone()))),
                None => Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("no {name}"),
                )),
            },
        }
    }

    fn delete(&mut self, name: &str) -> io::Result<()> {
        self.log.lock().unwrap().push(format!("Delete {name}"));
        self.files.lock().unwrap().remove(name);
        Ok(())
    }
}

impl MemFs {
    fn snapshot(&self) -> BTreeMap<String, Vec<u8>> {
        self.files.lock().unwrap().clone()
    }

    /// Writes every file into `dir`.
    fn write_to(&self, dir: &Path) {
        for (name, data) in self.snapshot() {
            let path = dir.join(&name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, data).unwrap();
        }
    }
}

/// A 7-second H.264 + AAC MP4 with a keyframe every second, made once per test run.
fn long_source() -> PathBuf {
    static MADE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    MADE.get_or_init(|| {
        let dir = scratch("source");
        ffmpeg(
            &dir,
            &[
                "-f",
                "lavfi",
                "-i",
                "testsrc=size=160x120:rate=25",
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:sample_rate=44100",
                "-t",
                "7",
                "-c:v",
                "libx264",
                "-g",
                "25",
                "-pix_fmt",
                "yuv420p",
                "-c:a",
                "aac",
                "-b:a",
                "64k",
                "source.mp4",
            ],
        );
        dir.join("source.mp4")
    })
    .clone()
}

/// Remuxes `input` (all streams) into `format` through `fs`, as the CLI's
/// `ffmpeg -i input -map 0 -c copy -f format [options] name` would.
fn remux_to_fs(
    input: &Path,
    fs: &MemFs,
    format: &str,
    name: &str,
    options: &[(&str, &str)],
) -> ffio::Result<()> {
    let muxer = Muxer::to_opener(fs.clone(), format, name)?;
    remux(&std::fs::read(input).unwrap(), muxer, options).map(drop)
}

/// The CLI's `ffmpeg -i input -map 0 -c copy -f format [options] name`, run in `dir`.
fn cli_to_dir(dir: &Path, input: &Path, format: &str, name: &str, options: &[(&str, &str)]) {
    let mut args: Vec<String> = ["-i", input.to_str().unwrap(), "-map", "0", "-c", "copy"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(["-f".into(), format.into()]);
    for (k, v) in options {
        args.extend([format!("-{k}"), (*v).to_owned()]);
    }
    args.push(name.into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ffmpeg(dir, &args);
}

/// Total packets of `path` according to ffprobe.
fn ffprobe_total(path: &Path) -> u64 {
    ffprobe_counts(path).iter().map(|(_, _, n)| n).sum()
}

// ---------------------------------------------------------------------------------------
// HLS
// ---------------------------------------------------------------------------------------

fn check_hls_vod(test: &str, options: &[(&str, &str)]) {
    quiet();
    let source = long_source();
    let cli = scratch(&format!("{test}_cli"));
    cli_to_dir(&cli, &source, "hls", "out.m3u8", options);
    let fs = MemFs::default();
    // The one option the CLI sets by itself: `-muxdelay 0.7` (AVFormatContext.max_delay),
    // which hls hands to its mpegts segments (they start at 1.4 s then).
    let ours_options = [options, &[("max_delay", "700000")]].concat();
    remux_to_fs(&source, &fs, "hls", "out.m3u8", &ours_options).unwrap();
    let ours = fs.snapshot();
    let theirs = files_in(&cli);
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>(),
        "{test}: file names"
    );
    assert!(
        ours.len() > 3,
        "{test}: several segments: {:?}",
        ours.keys()
    );
    assert_eq!(
        String::from_utf8_lossy(&ours["out.m3u8"]),
        String::from_utf8_lossy(&theirs["out.m3u8"]),
        "{test}: playlist"
    );
    let dir = scratch(&format!("{test}_ffio"));
    fs.write_to(&dir);
    for name in ours.keys().filter(|n| n.ends_with(".ts")) {
        assert_same_packets(
            name,
            &ffprobe_packets(&dir.join(name)),
            &ffprobe_packets(&cli.join(name)),
        );
    }
    if let Some(init) = ours.get("init.mp4") {
        assert_eq!(
            top_boxes(init)[..2],
            ["ftyp", "moov"],
            "{test}: init segment"
        );
    }
    assert_eq!(
        ffprobe_total(&dir.join("out.m3u8")),
        ffprobe_total(&source),
        "{test}: ffprobe reads every packet through our playlist"
    );
}

#[test]
fn hls_vod_mpegts_matches_the_cli() {
    check_hls_vod(
        "hls_vod_ts",
        &[("hls_time", "2"), ("hls_playlist_type", "vod")],
    );
}

#[test]
fn hls_vod_fmp4_matches_the_cli() {
    check_hls_vod(
        "hls_vod_fmp4",
        &[
            ("hls_time", "2"),
            ("hls_playlist_type", "vod"),
            ("hls_segment_type", "fmp4"),
        ],
    );
}

// ---------------------------------------------------------------------------------------
// Faults: the opener and the streams it returned
// ---------------------------------------------------------------------------------------

/// What a [`FaultyFs`] does wrong.
#[derive(Clone, Copy, Debug)]
enum FsFault {
    /// The opener fails on its `n`th open (0-based).
    OpenFails(usize),
    /// The opener panics on its `n`th open.
    OpenPanics(usize),
    /// Writes fail once this many bytes were written in all (every file counted).
    WriteFails(u64),
    /// Writes panic once this many bytes were written in all.
    WritePanics(u64),
}

/// A [`MemFs`] with a fault.
#[derive(Clone)]
struct FaultyFs {
    fs: MemFs,
    fault: FsFault,
    opens: usize,
    written: Arc<Mutex<u64>>,
}

struct FaultyFile {
    inner: MemFile,
    fault: FsFault,
    written: Arc<Mutex<u64>>,
}

impl Write for FaultyFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut written = self.written.lock().unwrap();
        let room = match self.fault {
            FsFault::WriteFails(at) | FsFault::WritePanics(at) => at.saturating_sub(*written),
            _ => u64::MAX,
        };
        if room == 0 {
            drop(written);
            match self.fault {
                FsFault::WritePanics(at) => panic!("segment writer panics at {at}"),
                _ => {
                    return Err(io::Error::new(
                        io::ErrorKind::OutOfMemory,
                        "segment store is full",
                    ))
                }
            }
        }
        let n = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        *written += n as u64;
        self.inner.write(&buf[..n])
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for FaultyFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

impl ffio::Opener for FaultyFs {
    fn open(&mut self, name: &str, mode: OpenMode) -> io::Result<Opened> {
        let n = self.opens;
        self.opens += 1;
        match self.fault {
            FsFault::OpenFails(at) if at == n => {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!("no right to create {name}"),
                ))
            }
            FsFault::OpenPanics(at) if at == n => panic!("opener panics on {name}"),
            _ => {}
        }
        assert_eq!(mode, OpenMode::Write);
        Ok(Opened::seekable_writer(FaultyFile {
            inner: MemFile {
                name: name.to_owned(),
                data: Cursor::new(Vec::new()),
                fs: self.fs.clone(),
            },
            fault: self.fault,
            written: self.written.clone(),
        }))
    }
}

fn faulty_hls(fault: FsFault) -> std::thread::Result<ffio::Result<()>> {
    let fs = FaultyFs {
        fs: MemFs::default(),
        fault,
        opens: 0,
        written: Arc::default(),
    };
    let input = std::fs::read(long_source()).unwrap();
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let muxer = Muxer::to_opener(fs, "hls", "out.m3u8")?;
        let opts = [("hls_time", "2"), ("hls_playlist_type", "vod")];
        remux(&input, muxer, &opts).map(drop)
    }))
}

fn total_hls_bytes() -> u64 {
    let fs = MemFs::default();
    let opts = [("hls_time", "2"), ("hls_playlist_type", "vod")];
    remux_to_fs(&long_source(), &fs, "hls", "out.m3u8", &opts).unwrap();
    fs.snapshot().values().map(|d| d.len() as u64).sum()
}

/// The offsets of the write faults: 20 points over the whole output, first and last byte
/// included.
fn fault_points() -> Vec<u64> {
    let total = total_hls_bytes();
    assert!(total > 100_000, "{total}");
    let mut points: Vec<u64> = (0..20).map(|i| i * (total - 1) / 19).collect();
    points.push(188);
    points
}

#[test]
fn the_openers_error_comes_back_as_io() {
    quiet();
    for n in [0, 1, 2, 4] {
        let err = faulty_hls(FsFault::OpenFails(n)).unwrap().unwrap_err();
        match &err {
            Error::Io(e) => {
                assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "open {n}: {err}");
                assert!(e.to_string().starts_with("no right to create out"), "{e}");
            }
            other => panic!("open {n}: {other:?}"),
        }
    }
}

#[test]
fn the_openers_panic_is_resumed() {
    quiet();
    for n in [0, 1, 3] {
        let payload = faulty_hls(FsFault::OpenPanics(n)).unwrap_err();
        let text = payload.downcast_ref::<String>().expect("a String payload");
        assert!(text.starts_with("opener panics on out"), "{text}");
    }
}

#[test]
fn a_failing_segment_writer_is_io_at_every_point() {
    quiet();
    let points = fault_points();
    assert!(points.len() >= 16);
    for at in points {
        let err = faulty_hls(FsFault::WriteFails(at)).unwrap().unwrap_err();
        match &err {
            Error::Io(e) => {
                assert_eq!(e.kind(), io::ErrorKind::OutOfMemory, "at {at}: {err}");
                assert_eq!(e.to_string(), "segment store is full");
            }
            other => panic!("fault at {at}: {other:?}"),
        }
    }
}

#[test]
fn a_panicking_segment_writer_is_resumed_at_every_point() {
    quiet();
    for at in fault_points() {
        let payload = faulty_hls(FsFault::WritePanics(at)).unwrap_err();
        let text = payload.downcast_ref::<String>().expect("a String payload");
        assert_eq!(text, &format!("segment writer panics at {at}"));
    }
}

#[test]
fn without_an_opener_nothing_is_opened() {
    quiet();
    // hls input: refused at open, naming the remedy.
    let playlist = b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\nseg0.ts\n#EXT-X-ENDLIST\n";
    let err = ffio::Demuxer::from_slice(playlist).unwrap_err();
    match &err {
        // FFmpeg 5.1 and 6.x probe it as hls: ffio refuses it, naming the remedy.
        Error::FormatRefused { .. } => {
            assert!(err.to_string().contains("DemuxerOptions::opener"), "{err}")
        }
        // FFmpeg 7.0 and later probe hls only under a playlist's name, which an input
        // without an opener does not have: FFmpeg itself does not recognise it, and says
        // why.
        Error::Ffmpeg { .. } => assert!(
            err.ffmpeg_detail()
                .is_some_and(|d| d.contains("Not detecting m3u8/hls")),
            "{err}"
        ),
        other => panic!("{other:?}"),
    }
}

/// A `Cursor<Vec<u8>>` whose reads (faststart's second pass) fail or panic.
#[derive(Debug)]
struct BadReadBack {
    inner: Cursor<Vec<u8>>,
    panic: bool,
}

impl Read for BadReadBack {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        if self.panic {
            panic!("read back panics");
        }
        Err(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "read back fails",
        ))
    }
}

impl Write for BadReadBack {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for BadReadBack {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

#[test]
fn faststart_read_back_errors_and_panics_come_back() {
    quiet();
    let input = fixture_bytes("h264_aac.mp4");
    let out = BadReadBack {
        inner: Cursor::new(Vec::new()),
        panic: false,
    };
    let muxer = Muxer::to_seekable_stream(out, "mp4").unwrap();
    let err = remux(&input, muxer, &[("movflags", "+faststart")]).unwrap_err();
    match &err {
        Error::Io(e) => assert_eq!(e.to_string(), "read back fails"),
        other => panic!("{other:?}"),
    }
    let out = BadReadBack {
        inner: Cursor::new(Vec::new()),
        panic: true,
    };
    let muxer = Muxer::to_seekable_stream(out, "mp4").unwrap();
    let payload = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        remux(&input, muxer, &[("movflags", "+faststart")])
    }))
    .unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"read back panics"));
}

// ---------------------------------------------------------------------------------------
// Multi-file input: HLS through an opener
// ---------------------------------------------------------------------------------------

#[test]
fn hls_input_through_an_opener_reads_every_packet() {
    quiet();
    let source = long_source();
    let dir = scratch("hls_input");
    cli_to_dir(
        &dir,
        &source,
        "hls",
        "in.m3u8",
        &[("hls_time", "2"), ("hls_playlist_type", "vod")],
    );
    let fs = MemFs::default();
    for (name, data) in files_in(&dir) {
        fs.files.lock().unwrap().insert(name, data);
    }
    let playlist = fs.snapshot()["in.m3u8"].clone();
    let demuxer = ffio::DemuxerOptions::new()
        .opener(fs.clone())
        .open(ffio::CustomIo::seekable_reader(Cursor::new(playlist)).unwrap())
        .unwrap();
    let demuxed = demux_all(Ok(demuxer)).unwrap();
    assert_eq!(demuxed.counts(), ffprobe_counts(&dir.join("in.m3u8")));
    // The names the opener saw are the playlist's, as they are.
    let log = fs.log.lock().unwrap().clone();
    assert!(log.contains(&"Read in0.ts".to_owned()), "{log:?}");
}

#[test]
fn hostile_playlist_names_reach_the_opener_as_they_are() {
    quiet();
    // (FFmpeg's hls demuxer itself drops names without a media extension, such as
    // `../../etc/passwd`, before asking: `allowed_extensions`.)
    let names = [
        "../../etc/passwd.ts",
        "/etc/secret.ts",
        "file:/etc/secret.ts",
        "http://169.254.169.254/latest/meta-data.ts",
    ];
    for name in names {
        let playlist =
            format!("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n{name}\n#EXT-X-ENDLIST\n");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let opener = move |name: &str, _: OpenMode| -> io::Result<Opened> {
            log.lock().unwrap().push(name.to_owned());
            Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "not served",
            ))
        };
        let result = ffio::DemuxerOptions::new()
            .opener(opener)
            .open(ffio::CustomIo::reader(Cursor::new(playlist.into_bytes())).unwrap());
        let err = result.map(drop).unwrap_err();
        assert!(matches!(err, Error::Io(_)), "{name}: {err:?}");
        let seen = seen.lock().unwrap().clone();
        println!("{name}: {seen:?}");
        assert!(seen.iter().all(|s| s == name), "{name}: {seen:?}");
        assert!(!seen.is_empty(), "{name}: the opener was asked");
    }
}

/// The running libavformat's major version: which demuxer code runs.
fn libavformat_major() -> u32 {
    // SAFETY: no preconditions; returns a constant.
    unsafe { ffio::sys::avformat_version() >> 16 }
}

/// `fs` filled with the files of `dir`.
fn mem_fs_of(dir: &Path) -> MemFs {
    let fs = MemFs::default();
    fs.files.lock().unwrap().extend(files_in(dir));
    fs
}

/// Opens `main` of `fs` through `fs` itself.
fn open_through(
    fs: &MemFs,
    main: &str,
    options: ffio::DemuxerOptions,
) -> ffio::Result<ffio::Demuxer<Cursor<Vec<u8>>>> {
    let bytes = fs.snapshot()[main].clone();
    options
        .opener(fs.clone())
        .open(ffio::CustomIo::seekable_reader(Cursor::new(bytes))?)
}

#[test]
fn dash_input_through_an_opener_follows_the_running_release() {
    quiet();
    let dir = scratch("dash_input");
    cli_to_dir(
        &dir,
        &long_source(),
        "dash",
        "in.mpd",
        &[("seg_duration", "2")],
    );
    let fs = mem_fs_of(&dir);
    let result = open_through(&fs, "in.mpd", ffio::DemuxerOptions::new());
    let major = libavformat_major();
    if major >= 61 {
        // FFmpeg 7.0 and later: dashdec.c opens segments with `s->io_open`, so they come
        // through the opener, and every packet ffprobe reads from disk is read.
        let demuxed = demux_all(result).unwrap();
        assert_eq!(demuxed.counts(), ffprobe_counts(&dir.join("in.mpd")));
        let log = fs.log.lock().unwrap().clone();
        assert!(log.iter().any(|l| l == "Read init-stream0.m4s"), "{log:?}");
        assert!(log.iter().all(|l| l.starts_with("Read ")), "{log:?}");
    } else {
        // FFmpeg 5.1 (libavformat 59) and 6.x: dashdec.c opens segments with
        // ffio_open_whitelist, FFmpeg's own URL layer, bypassing io_open: refused at open,
        // naming the release, before the opener is asked for anything.
        let err = result.map(drop).unwrap_err();
        assert!(matches!(err, Error::FormatRefused { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains(&format!("libavformat {major}")), "{text}");
        assert!(text.contains("FFmpeg 7.0 and later"), "{text}");
        assert!(fs.log.lock().unwrap().is_empty());
    }
}

#[test]
fn concat_input_through_an_opener_reads_every_packet() {
    quiet();
    // concatdec.c would open each part with FFmpeg's default opener, so ffio reads concat
    // lists itself: every part comes through the opener, by its name in the list, when
    // the part before it ends (tests/concat.rs checks the packets one by one).
    let dir = scratch("concat_input");
    cli_to_dir(&dir, &long_source(), "mpegts", "a.ts", &[]);
    std::fs::write(
        dir.join("list.ffconcat"),
        "ffconcat version 1.0\nfile a.ts\nfile a.ts\n",
    )
    .unwrap();
    let expected = ffprobe_counts(&dir.join("list.ffconcat"));
    let part: u64 = ffprobe_counts(&dir.join("a.ts")).iter().map(|c| c.2).sum();
    assert_eq!(expected.iter().map(|c| c.2).sum::<u64>(), 2 * part);
    let fs = mem_fs_of(&dir);
    let demuxer = open_through(&fs, "list.ffconcat", ffio::DemuxerOptions::new()).unwrap();
    assert_eq!(demuxer.format_name(), "concat");
    let demuxed = demux_all(Ok(demuxer)).unwrap();
    assert_eq!(demuxed.counts(), expected);
    assert_eq!(*fs.log.lock().unwrap(), ["Read a.ts", "Read a.ts"]);
}

/// h264_aac.mp4 whose video track's data lives, by its `alis` data reference, in
/// `secret.mp4` (one level up from the input, one level down: the same directory).
fn mov_with_external_video() -> Vec<u8> {
    let entry = common::mov::alis_entry("Vol", "secret.mp4", "Vol:media:secret.mp4", 1);
    common::mov::mov_with_dref_entry(&entry)
}

#[test]
fn mov_external_references_are_read_through_the_opener() {
    quiet();
    let input = mov_with_external_video();
    let original = fixture("h264_aac.mp4");
    let expected = ffprobe_packets(&original);
    let video: Vec<_> = ffprobe_streams(&original)
        .iter()
        .filter(|s| s["codec_type"] == "video")
        .map(|s| s["index"].parse::<usize>().unwrap())
        .collect();
    assert_eq!(video, [0], "the helper patches the first track");
    // The reference names a file holding the fixture's bytes: the samples sit at the same
    // offsets (the patch only grows the moov, which follows the mdat), so every packet is
    // ffprobe's packet of the unpatched fixture.
    let serve = |secret: Vec<u8>| {
        let fs = MemFs::default();
        fs.files.lock().unwrap().insert("secret.mp4".into(), secret);
        fs.files
            .lock()
            .unwrap()
            .insert("input.mov".into(), input.clone());
        let demuxed = demux_all(open_through(
            &fs,
            "input.mov",
            ffio::DemuxerOptions::new().option("enable_drefs", "1"),
        ))
        .unwrap();
        let log = fs.log.lock().unwrap().clone();
        (demuxed, log)
    };
    let (demuxed, log) = serve(fixture_bytes("h264_aac.mp4"));
    assert_eq!(log, ["Read secret.mp4"]);
    assert_same_packets("through the reference", &demuxed.packets, &expected);
    // The video samples really come from the referenced file: served zeros instead, the
    // video packets change (same sizes, other payloads), the audio ones do not.
    let (zeroed, _) = serve(vec![0; fixture_bytes("h264_aac.mp4").len()]);
    let zeroed = zeroed.packets;
    assert_eq!(zeroed.len(), expected.len());
    for (got, want) in zeroed.iter().zip(&expected) {
        assert_eq!(got.size, want.size);
        if got.stream_index == 0 {
            assert_ne!(
                got.crc32, want.crc32,
                "video packet from the main input: {got:?}"
            );
        } else {
            assert_eq!(got.crc32, want.crc32, "{got:?}");
        }
    }
    // Without enable_drefs the opener is not asked: FFmpeg skips the reference (with a
    // warning) and the external track has no packets; the audio is all there.
    let fs = MemFs::default();
    fs.files.lock().unwrap().insert("input.mov".into(), input);
    let demuxed = demux_all(open_through(&fs, "input.mov", ffio::DemuxerOptions::new())).unwrap();
    assert!(fs.log.lock().unwrap().is_empty());
    let audio: Vec<_> = expected
        .iter()
        .filter(|p| p.stream_index != 0)
        .cloned()
        .collect();
    assert_same_packets("reference skipped", &demuxed.packets, &audio);
}

// ---------------------------------------------------------------------------------------
// examples/remux
// ---------------------------------------------------------------------------------------

fn run_remux(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new(example("remux"))
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn remux_faststart_matches_the_cli() {
    quiet();
    let dir = scratch("remux_faststart");
    let (_, expected) = cli_faststart(&dir, "h264_moov_end.mp4");
    let input = fixture("h264_moov_end.mp4");
    let out = run_remux(
        &[
            input.to_str().unwrap(),
            "out.mp4",
            "--option",
            "movflags=+faststart",
        ],
        &dir,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = dir.join("out.mp4");
    let data = std::fs::read(&path).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("./out.mp4 {}\n", data.len())
    );
    assert_faststart("remux", &data, &path, &expected);
}

#[test]
fn remux_hls_writes_what_the_cli_writes() {
    quiet();
    let source = long_source();
    let opts = [("hls_time", "2"), ("hls_playlist_type", "vod")];
    let cli = scratch("remux_hls_cli");
    cli_to_dir(&cli, &source, "hls", "index.m3u8", &opts);
    let dir = scratch("remux_hls");
    let out = run_remux(
        &[
            source.to_str().unwrap(),
            "out/index.m3u8",
            "--option",
            "hls_time=2",
            "--option",
            "hls_playlist_type=vod",
            "--option",
            "max_delay=700000",
        ],
        &dir,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ours = files_in(&dir.join("out"));
    let theirs = files_in(&cli);
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>()
    );
    assert_eq!(ours["index.m3u8"], theirs["index.m3u8"]);
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    for (name, data) in &ours {
        assert!(
            printed.contains(&format!("out/{name} {}\n", data.len())),
            "{printed}"
        );
    }
}

#[test]
fn remux_to_stdout() {
    quiet();
    let dir = scratch("remux_stdout");
    let input = fixture("h264_aac.mp4");
    let out = run_remux(&["--format", "mpegts", input.to_str().unwrap(), "-"], &dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout.len() % 188, 0);
    assert!(!out.stdout.is_empty());
    assert!(files_in(&dir).is_empty());
}

#[test]
fn remux_errors_are_one_line_and_write_nothing() {
    quiet();
    let mp4 = fixture("h264_aac.mp4");
    let mp4 = mp4.to_str().unwrap();
    let random = fixture("random.bin");
    let cases: &[(&str, &[&str])] = &[
        ("bad input", &[random.to_str().unwrap(), "out.mp4"]),
        ("missing input", &["no-such-file.mp4", "out.mp4"]),
        (
            "unknown option",
            &[mp4, "out.mp4", "--option", "no_such_option=1"],
        ),
        (
            "bad option value",
            &[mp4, "out.mp4", "--option", "movflags=nonsense"],
        ),
        (
            "unknown format",
            &["--format", "no-such-format", mp4, "out.mp4"],
        ),
        ("no format for extension", &[mp4, "out.unknown-extension"]),
        ("multi-file to stdout", &["--format", "hls", mp4, "-"]),
        (
            "name escaping the directory",
            &[
                mp4,
                "out.m3u8",
                "--option",
                "hls_segment_filename=../x%d.ts",
            ],
        ),
        (
            "absolute segment name",
            &[
                mp4,
                "out.m3u8",
                "--option",
                "hls_segment_filename=/tmp/x%d.ts",
            ],
        ),
        ("usage", &[mp4]),
        ("bad --option", &[mp4, "out.mp4", "--option", "novalue"]),
    ];
    for (what, args) in cases {
        let dir = scratch("remux_errors");
        let out = run_remux(args, &dir);
        assert_eq!(out.status.code(), Some(1), "{what}");
        assert!(out.stdout.is_empty(), "{what}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{what}: {stderr:?}");
        assert!(stderr.starts_with("remux: "), "{what}: {stderr}");
        assert!(
            files_in(&dir).is_empty(),
            "{what}: wrote {:?}",
            files_in(&dir)
        );
    }
}

// ---------------------------------------------------------------------------------------
// Multi-file muxers against the CLI
// ---------------------------------------------------------------------------------------

/// Muxes [`long_source`] into `format` through a [`MemFs`] and with the CLI (in a fresh
/// directory); returns both sets of files and the directory ours were written to.
/// A set of files by name.
type FileSet = BTreeMap<String, Vec<u8>>;

/// What [`both`] returns: our files, the CLI's, the CLI's directory, ours, our store.
type Both = (FileSet, FileSet, PathBuf, PathBuf, MemFs);

fn both(
    test: &str,
    format: &str,
    name: &str,
    options: &[(&str, &str)],
    ours_only: &[(&str, &str)],
) -> Both {
    quiet();
    let source = long_source();
    let cli = scratch(&format!("{test}_cli"));
    cli_to_dir(&cli, &source, format, name, options);
    let fs = MemFs::default();
    let ours_options = [options, ours_only].concat();
    remux_to_fs(&source, &fs, format, name, &ours_options).unwrap();
    let dir = scratch(&format!("{test}_ffio"));
    fs.write_to(&dir);
    (fs.snapshot(), files_in(&cli), cli, dir, fs)
}

fn names(files: &BTreeMap<String, Vec<u8>>) -> Vec<&str> {
    files.keys().map(String::as_str).collect()
}

fn text_of(files: &BTreeMap<String, Vec<u8>>, name: &str) -> String {
    String::from_utf8_lossy(&files[name]).into_owned()
}

const TS_DELAY: &[(&str, &str)] = &[("max_delay", "700000")];

#[test]
fn hls_live_event_matches_the_cli() {
    let opts = [("hls_time", "1"), ("hls_playlist_type", "event")];
    let (ours, theirs, _, _, fs) = both("hls_event", "hls", "out.m3u8", &opts, TS_DELAY);
    assert_eq!(names(&ours), names(&theirs));
    assert!(!ours.keys().any(|n| n.ends_with(".tmp")));
    assert_eq!(text_of(&ours, "out.m3u8"), text_of(&theirs, "out.m3u8"));
    // The CLI writes the live playlist as out.m3u8.tmp and renames it; through the opener
    // it is written under its own name every time.
    let log = fs.log.lock().unwrap().clone();
    assert!(
        log.iter().filter(|l| *l == "Write out.m3u8").count() > 3,
        "{log:?}"
    );
    assert!(!log.iter().any(|l| l.contains(".tmp")), "{log:?}");
}

#[test]
fn hls_sliding_window_with_deletes_matches_the_cli() {
    let opts = [
        ("hls_time", "1"),
        ("hls_list_size", "3"),
        ("hls_flags", "delete_segments"),
    ];
    let (ours, theirs, _, _, fs) = both("hls_window", "hls", "out.m3u8", &opts, TS_DELAY);
    assert_eq!(names(&ours), names(&theirs));
    assert_eq!(text_of(&ours, "out.m3u8"), text_of(&theirs, "out.m3u8"));
    let log = fs.log.lock().unwrap().clone();
    assert!(log.contains(&"Delete out0.ts".to_owned()), "{log:?}");
}

#[test]
fn segment_matches_the_cli() {
    let opts = [
        ("segment_time", "2"),
        ("segment_list", "list.m3u8"),
        ("segment_format", "mpegts"),
    ];
    let (ours, theirs, cli, dir, _) = both("segment", "segment", "seg%03d.ts", &opts, TS_DELAY);
    assert_eq!(names(&ours), names(&theirs));
    assert!(ours.len() > 3);
    assert_eq!(text_of(&ours, "list.m3u8"), text_of(&theirs, "list.m3u8"));
    for name in ours.keys().filter(|n| n.ends_with(".ts")) {
        assert_same_packets(
            name,
            &ffprobe_packets(&dir.join(name)),
            &ffprobe_packets(&cli.join(name)),
        );
    }
}

#[test]
fn stream_segment_matches_the_cli() {
    let opts = [("segment_time", "2")];
    let (ours, theirs, cli, dir, _) = both(
        "stream_segment",
        "stream_segment",
        "part%d.ts",
        &opts,
        TS_DELAY,
    );
    assert_eq!(names(&ours), names(&theirs));
    for name in ours.keys() {
        assert_same_packets(
            name,
            &ffprobe_packets(&dir.join(name)),
            &ffprobe_packets(&cli.join(name)),
        );
    }
}

/// MJPEG frames for image2: the CLI's own, remuxed into files one per frame.
fn mjpeg_source() -> PathBuf {
    static MADE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    MADE.get_or_init(|| {
        let dir = scratch("mjpeg_source");
        ffmpeg(
            &dir,
            &[
                "-f",
                "lavfi",
                "-i",
                "testsrc=size=64x48:rate=5",
                "-t",
                "2",
                "-c:v",
                "mjpeg",
                "source.mkv",
            ],
        );
        dir.join("source.mkv")
    })
    .clone()
}

#[test]
fn image2_matches_the_cli() {
    quiet();
    let source = mjpeg_source();
    let cli = scratch("image2_cli");
    cli_to_dir(&cli, &source, "image2", "img%03d.jpg", &[]);
    let fs = MemFs::default();
    remux_to_fs(&source, &fs, "image2", "img%03d.jpg", &[]).unwrap();
    let ours = fs.snapshot();
    let theirs = files_in(&cli);
    assert_eq!(names(&ours), names(&theirs));
    assert_eq!(ours.len(), 10);
    assert_eq!(ours, theirs, "image2 files are the frames, byte for byte");
}

/// The CLI's manifest, less what only the CLI knows: it copies each input stream's
/// `language` tag ("und") and frame rate into the output streams (`lang`, `frameRate`);
/// `Muxer::add_stream_from` copies the codec parameters only.
fn cli_mpd(files: &BTreeMap<String, Vec<u8>>) -> String {
    text_of(files, "out.mpd")
        .replace(" frameRate=\"25/1\"", "")
        .replace(" lang=\"und\"", "")
}

#[test]
fn dash_matches_the_cli() {
    let opts = [("seg_duration", "2")];
    let (ours, theirs, cli, dir, _) = both("dash", "dash", "out.mpd", &opts, &[]);
    assert_eq!(names(&ours), names(&theirs));
    assert_eq!(text_of(&ours, "out.mpd"), cli_mpd(&theirs));
    // ffprobe reads as many packets through our manifest as through the CLI's (its dash
    // demuxer drops one of the source's, on both).
    assert_eq!(
        ffprobe_total(&dir.join("out.mpd")),
        ffprobe_total(&cli.join("out.mpd"))
    );
    for name in ours.keys().filter(|n| n.ends_with(".m4s")) {
        assert_eq!(ours[name], theirs[name], "{name}: segments byte for byte");
    }
}

#[test]
fn dash_with_a_window_matches_the_cli() {
    let opts = [
        ("seg_duration", "1"),
        ("window_size", "3"),
        ("extra_window_size", "1"),
    ];
    let (ours, theirs, _, _, fs) = both("dash_window", "dash", "out.mpd", &opts, &[]);
    assert_eq!(names(&ours), names(&theirs));
    assert!(!ours.keys().any(|n| n.ends_with(".tmp")));
    let log = fs.log.lock().unwrap().clone();
    assert!(log.iter().any(|l| l.starts_with("Delete ")), "{log:?}");
    assert_eq!(text_of(&ours, "out.mpd"), cli_mpd(&theirs));
}

// ---------------------------------------------------------------------------------------
// Nothing touches the filesystem by itself
// ---------------------------------------------------------------------------------------

#[test]
fn options_that_touch_the_filesystem_are_refused_before_anything_is_opened() {
    quiet();
    type Options<'a> = &'a [(&'a str, &'a str)];
    let cases: &[(&str, &str, Options, &str)] = &[
        (
            "hls",
            "out.m3u8",
            &[("strftime_mkdir", "1")],
            "strftime_mkdir",
        ),
        (
            "hls",
            "out.m3u8",
            &[("http_persistent", "1")],
            "http_persistent",
        ),
        (
            "hls",
            "out.m3u8",
            &[
                ("hls_flags", "+second_level_segment_size"),
                ("strftime", "1"),
            ],
            "hls_flags",
        ),
        (
            "dash",
            "out.mpd",
            &[("http_persistent", "true")],
            "http_persistent",
        ),
        ("dash", "out.mpd", &[("single_file", "1")], "single_file"),
        (
            "image2",
            "img%03d.jpg",
            &[("atomic_writing", "1")],
            "atomic_writing",
        ),
    ];
    for (format, name, options, key) in cases {
        let fs = MemFs::default();
        let input = if *format == "image2" {
            mjpeg_source()
        } else {
            long_source()
        };
        let err = remux_to_fs(&input, &fs, format, name, options).unwrap_err();
        match &err {
            Error::InvalidOption {
                key: k, message, ..
            } => {
                assert_eq!(k, key, "{format}: {err}");
                assert!(message.contains("bypassing the opener"), "{message}");
            }
            other => panic!("{format} {options:?}: {other:?}"),
        }
        assert!(
            fs.log.lock().unwrap().is_empty(),
            "{format}: nothing opened"
        );
    }
    // Muxers that create directories or open outputs by themselves stay refused.
    for format in ["hds", "smoothstreaming", "webm_chunk", "tee", "fifo"] {
        let err = Muxer::to_opener(MemFs::default(), format, "out").unwrap_err();
        assert!(
            matches!(err, Error::FormatRefused { .. }),
            "{format}: {err:?}"
        );
    }
}

/// The paths of the file system calls in an `strace -f -e trace=%file` log, with the call.
fn traced_calls(log: &str) -> Vec<(String, String)> {
    let mut calls = Vec::new();
    for line in log.lines() {
        let line = line
            .trim_start_matches(|c: char| c == '[' || c.is_ascii_digit() || c == ' ' || c == ']');
        let line = line.strip_prefix("pid").map_or(line, |l| {
            l.trim_start_matches(|c: char| c.is_ascii_digit() || c == ' ' || c == ']')
        });
        let Some((call, rest)) = line.split_once('(') else {
            continue;
        };
        if let Some(start) = rest.find('"') {
            if let Some(len) = rest[start + 1..].find('"') {
                calls.push((call.to_owned(), rest[start + 1..start + 1 + len].to_owned()));
            }
        }
    }
    calls
}

#[test]
fn live_packaging_touches_no_file_but_its_own_outputs_and_decoys_survive() {
    quiet();
    let source = long_source();
    let hls_decoys: &[&str] = &["out.m3u8", "out.m3u8.tmp", "out0.ts", "out1.ts", "out6.ts"];
    let dash_decoys: &[&str] = &[
        "out.mpd",
        "out.mpd.tmp",
        "init-stream0.m4s",
        "chunk-stream0-00001.m4s",
        "chunk-stream0-00001.m4s.tmp",
    ];
    let runs: [(&str, &str, &[&str], Vec<&str>); 3] = [
        (
            "strace_hls_window",
            "out.m3u8",
            hls_decoys,
            vec![
                "--option",
                "hls_time=1",
                "--option",
                "hls_list_size=3",
                "--option",
                "hls_flags=delete_segments",
            ],
        ),
        (
            "strace_hls_event",
            "out.m3u8",
            hls_decoys,
            vec![
                "--option",
                "hls_time=1",
                "--option",
                "hls_playlist_type=event",
            ],
        ),
        (
            "strace_dash_window",
            "out.mpd",
            dash_decoys,
            vec![
                "--option",
                "seg_duration=1",
                "--option",
                "window_size=3",
                "--option",
                "extra_window_size=1",
            ],
        ),
    ];
    for (test, main, decoys, args) in runs {
        // The working directory holds decoys with the names FFmpeg would use.
        let work = scratch(test);
        for decoy in decoys {
            std::fs::write(work.join(decoy), b"decoy").unwrap();
        }
        let final_dir = scratch(&format!("{test}_out"));
        let output = final_dir.join(main);
        let log = work.join("strace.log");
        let mut full = vec![
            "-f".to_owned(),
            "-e".into(),
            "trace=%file".into(),
            "-o".into(),
            log.to_str().unwrap().into(),
            example("remux").to_str().unwrap().into(),
            source.to_str().unwrap().into(),
            output.to_str().unwrap().into(),
        ];
        full.extend(args.iter().map(|s| s.to_string()));
        let out = Command::new("strace")
            .args(&full)
            .current_dir(&work)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{test}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for decoy in decoys {
            assert_eq!(
                std::fs::read(work.join(decoy)).unwrap(),
                b"decoy",
                "{test}: {decoy}"
            );
        }
        let written = files_in(&final_dir);
        assert!(written.contains_key(main), "{test}: {:?}", written.keys());
        assert!(written.len() > 3, "{test}: {:?}", written.keys());
        assert!(!written.keys().any(|n| n.ends_with(".tmp")), "{test}");
        let calls = traced_calls(&std::fs::read_to_string(&log).unwrap());
        assert!(!calls.is_empty(), "{test}: strace saw nothing");
        let final_prefix = final_dir.to_str().unwrap();
        for (call, path) in calls.iter().filter(|(_, p)| !p.is_empty()) {
            let ours = path.starts_with(final_prefix);
            // Relative names would be FFmpeg's: the program itself uses absolute paths.
            assert!(path.starts_with('/'), "{test}: {call}({path:?})");
            match call.as_str() {
                "unlink" | "unlinkat" | "rename" | "renameat" | "renameat2" | "rmdir" => {
                    panic!("{test}: {call}({path:?})")
                }
                "mkdir" | "mkdirat" => assert!(ours, "{test}: {call}({path:?})"),
                _ => {}
            }
            let media = [".ts", ".m3u8", ".tmp", ".mpd", ".m4s"];
            if media.iter().any(|ext| path.ends_with(ext)) {
                // Only the program's own final writes of the output files.
                assert!(ours, "{test}: {call}({path:?})");
            }
        }
    }
}

#[test]
fn muxers_and_demuxers_with_openers_stay_send() {
    fn assert_send<T: Send>(_: &T) {}
    quiet();
    let muxer = Muxer::to_opener(MemFs::default(), "hls", "out.m3u8").unwrap();
    assert_send(&muxer);
    let muxer = Muxer::to_seekable_stream(Cursor::new(Vec::new()), "mp4").unwrap();
    assert_send(&muxer);
    // Moved to another thread and used there: the registry moves with it.
    std::thread::spawn(move || {
        let out = remux(
            &fixture_bytes("h264_aac.mp4"),
            muxer,
            &[("movflags", "faststart")],
        );
        assert_eq!(top_boxes(&out.unwrap().into_inner())[1], "moov");
    })
    .join()
    .unwrap();
    let options = ffio::DemuxerOptions::new().opener(MemFs::default());
    let demuxer = options
        .open(ffio::CustomIo::seekable_reader(Cursor::new(fixture_bytes("h264_aac.mp4"))).unwrap())
        .unwrap();
    assert_send(&demuxer);
}

/// Serves files of a [`MemFs`] for reading, the segment `bad` through a [`FaultyReader`].
struct FaultyInput {
    fs: MemFs,
    bad: &'static str,
    fault: Fault,
}

impl ffio::Opener for FaultyInput {
    fn open(&mut self, name: &str, _: OpenMode) -> io::Result<Opened> {
        let data = self.fs.files.lock().unwrap().get(name).cloned();
        let data = data.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, name.to_owned()))?;
        if name == self.bad {
            let offset = data.len() as u64 / 2;
            Ok(Opened::seekable_reader(FaultyReader::new(
                Cursor::new(data),
                offset,
                self.fault.clone(),
            )))
        } else {
            Ok(Opened::seekable_reader(Cursor::new(data)))
        }
    }
}

#[test]
fn a_failing_or_panicking_segment_reader_comes_back_from_read_packet() {
    quiet();
    let dir = scratch("hls_input_faults");
    cli_to_dir(
        &dir,
        &long_source(),
        "hls",
        "in.m3u8",
        &[("hls_time", "2"), ("hls_playlist_type", "vod")],
    );
    let fs = MemFs::default();
    for (name, data) in files_in(&dir) {
        fs.files.lock().unwrap().insert(name, data);
    }
    let playlist = fs.snapshot()["in.m3u8"].clone();
    let open = |fault: Fault| {
        let opener = FaultyInput {
            fs: fs.clone(),
            bad: "in1.ts",
            fault,
        };
        ffio::DemuxerOptions::new()
            .opener(opener)
            .open(ffio::CustomIo::seekable_reader(Cursor::new(playlist.clone())).unwrap())
    };
    // The hls demuxer skips a segment it cannot read; ffio reports the reader's error.
    let fail = Fault::Fail(
        io::ErrorKind::ConnectionAborted,
        "segment store gone".into(),
    );
    let err = demux_all(open(fail)).unwrap_err();
    match &err {
        Error::Io(e) => {
            assert_eq!(e.kind(), io::ErrorKind::ConnectionAborted);
            assert_eq!(e.to_string(), "segment store gone");
        }
        other => panic!("{other:?}"),
    }
    let payload = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        demux_all(open(Fault::Panic("segment reader panics".into())))
    }))
    .unwrap_err();
    assert_eq!(
        payload.downcast_ref::<String>().map(String::as_str),
        Some("segment reader panics")
    );
}

#[test]
fn an_opener_returning_the_wrong_kind_of_stream_is_an_error() {
    quiet();
    let opener = |_: &str, _: OpenMode| Ok(Opened::reader(io::empty()));
    let muxer = Muxer::to_opener(opener, "hls", "out.m3u8").unwrap();
    let err = remux(&fixture_bytes("h264_aac.mp4"), muxer, &[]).unwrap_err();
    match &err {
        Error::Io(e) => {
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
            assert!(e.to_string().contains("opens for writing"), "{e}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn cancelling_stops_the_opened_streams_too() {
    quiet();
    let handle: Arc<Mutex<Option<ffio::CancelHandle>>> = Arc::default();
    let cancel = handle.clone();
    let fs = MemFs::default();
    let mut inner = fs.clone();
    let opened = Arc::new(Mutex::new(0usize));
    let count = opened.clone();
    let opener = move |name: &str, mode: OpenMode| {
        let mut n = count.lock().unwrap();
        *n += 1;
        if *n == 3 {
            // Cancelled while the third file is opened: its writes must not run.
            cancel.lock().unwrap().as_ref().unwrap().cancel();
        }
        ffio::Opener::open(&mut inner, name, mode)
    };
    let muxer = Muxer::to_opener(opener, "hls", "out.m3u8").unwrap();
    *handle.lock().unwrap() = Some(muxer.cancel_handle());
    let input = std::fs::read(long_source()).unwrap();
    let err = remux(&input, muxer, &[("hls_time", "1")]).unwrap_err();
    assert!(err.is_interrupted(), "{err:?}");
    assert!(matches!(err, Error::Cancelled { .. }), "{err:?}");
    assert_eq!(
        *opened.lock().unwrap(),
        3,
        "nothing opened after the cancel"
    );
}
