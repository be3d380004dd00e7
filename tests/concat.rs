//! Concat lists (`ffconcat version 1.0`) read through an opener. FFmpeg's own concat
//! demuxer cannot serve them (concatdec.c opens each part on a child context with FFmpeg's
//! default `io_open`, bypassing any opener), so ffio reads the list itself, as concatdec.c
//! does, and asks the opener for every part.
//!
//! Every expected packet comes from ffprobe, run at test time on the same files on disk
//! (`ffprobe -f concat -safe 0 ... list`), and so do the streams, chapters, per-file
//! metadata (ffprobe's packet tags), the lists' start times and durations, syntax errors
//! (ffprobe's log line and error text) and which option values FFmpeg takes. What ffprobe
//! cannot show is derived by hand from concatdec.c, which each test cites: the order and
//! moment of the opener's calls, the errors of openers and readers that fail, recursion,
//! the packets of streams a later part adds (ffprobe prints only the streams it saw at its
//! open), and seeks into later parts (ffprobe's own seek call overflows in try_seek there).
//!
//! Under memcheck (`FFIO_MEMCHECK=1`) the loops over offsets and fixtures take every 4th
//! case; the whole file runs in some 2.5 minutes under valgrind.

mod common;

use std::collections::BTreeMap;
use std::io::{self, Cursor, Read, Seek, SeekFrom};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use common::*;
use ffio::{Demuxer, DemuxerOptions, Error, OpenMode, Opened};

// ---------------------------------------------------------------------------------------
// Sources and cases
// ---------------------------------------------------------------------------------------

/// The part files the tests name, made once per run in one directory: fixtures, an
/// MPEG-TS remux of the Matroska fixture (other timestamps than h264_aac.ts), and a VOD
/// HLS package of the MP4 fixture (`p.m3u8`, `p0.ts`, `p1.ts`).
fn sources() -> &'static Path {
    static MADE: OnceLock<PathBuf> = OnceLock::new();
    MADE.get_or_init(|| {
        let dir = scratch_dir("concat", "sources");
        for name in [
            "h264_aac.ts",
            "h264_aac.mp4",
            "h264_aac.mkv",
            "h264_faststart.mp4",
        ] {
            std::fs::copy(fixture(name), dir.join(name)).unwrap();
        }
        let mkv = fixture("h264_aac.mkv");
        let mp4 = fixture("h264_aac.mp4");
        ffmpeg(
            &dir,
            &[
                "-i",
                mkv.to_str().unwrap(),
                "-map",
                "0",
                "-c",
                "copy",
                "-f",
                "mpegts",
                "other.ts",
            ],
        );
        ffmpeg(
            &dir,
            &[
                "-i",
                mp4.to_str().unwrap(),
                "-map",
                "0",
                "-c",
                "copy",
                "-f",
                "hls",
                "-hls_time",
                "1",
                "-hls_playlist_type",
                "vod",
                "p.m3u8",
            ],
        );
        dir
    })
}

/// One test's directory: parts copied from [`sources`] under the names the lists use,
/// the lists themselves, and a [`Store`] serving all of it from memory.
struct Case {
    dir: PathBuf,
    store: Store,
}

impl Case {
    /// `parts`: `(name in the directory, file of sources())`; `lists`: `(name, text)`.
    fn new(test: &str, parts: &[(&str, &str)], lists: &[(&str, &str)]) -> Case {
        let dir = scratch_dir("concat", test);
        for (name, source) in parts {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::copy(sources().join(source), &path)
                .unwrap_or_else(|e| panic!("{source} -> {name}: {e}"));
        }
        for (name, text) in lists {
            std::fs::write(dir.join(name), text).unwrap();
        }
        let store = Store::of_dir(&dir);
        Case { dir, store }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Opens the list `list` with `options`, the case's store as opener.
    fn open(&self, list: &str, options: DemuxerOptions) -> ffio::Result<Demuxer<Cursor<Vec<u8>>>> {
        self.open_with(list, options, self.store.clone())
    }

    fn open_with(
        &self,
        list: &str,
        options: DemuxerOptions,
        store: Store,
    ) -> ffio::Result<Demuxer<Cursor<Vec<u8>>>> {
        let bytes = std::fs::read(self.path(list)).unwrap();
        options
            .opener(store)
            .open(ffio::CustomIo::seekable_reader(Cursor::new(bytes))?)
    }

    /// Opens `list` through `opener`, a test's own (the open must succeed).
    fn open_through(
        &self,
        list: &str,
        opener: impl ffio::Opener + 'static,
    ) -> Demuxer<Cursor<Vec<u8>>> {
        let bytes = std::fs::read(self.path(list)).unwrap();
        DemuxerOptions::new()
            .opener(opener)
            .open(ffio::CustomIo::seekable_reader(Cursor::new(bytes)).unwrap())
            .unwrap_or_else(|e| panic!("{list}: {}", e.chain()))
    }

    /// Opens `list` with `options` through a fresh store (the open must succeed) and
    /// reads it to the end.
    fn read_list(&self, list: &str, options: DemuxerOptions) -> (Got, Store) {
        let store = self.store.fresh();
        let mut demuxer = self
            .open_with(list, options, store.clone())
            .unwrap_or_else(|e| panic!("{list}: {}", e.chain()));
        (read_to_end(&mut demuxer, &store), store)
    }

    /// Opens `list` with `options` through a fresh store; the open must fail.
    fn open_error(&self, list: &str, options: DemuxerOptions) -> (Error, Store) {
        let store = self.store.fresh();
        let err = self
            .open_with(list, options, store.clone())
            .map(drop)
            .expect_err("the open fails");
        (err, store)
    }
}

/// The list syntax for `name` as FFmpeg's `av_get_token` reads it back: in single quotes,
/// a quote inside written as `'\''`.
fn quoted(name: &str) -> String {
    format!("'{}'", name.replace('\'', "'\\''"))
}

/// `ffconcat version 1.0` followed by one `file` line per name (quoted).
fn list_of(names: &[&str]) -> String {
    let mut text = String::from("ffconcat version 1.0\n");
    for name in names {
        text.push_str(&format!("file {}\n", quoted(name)));
    }
    text
}

/// The ffprobe arguments for ffio's demuxer options `options` (concat's private options
/// as `-key value`), with `-f concat` when the list has no header.
fn ffprobe_args<'a>(header: bool, options: &[(&'a str, &'a str)]) -> Vec<String> {
    let mut args = Vec::new();
    if !header {
        args.extend(["-f".to_owned(), "concat".to_owned()]);
    }
    for (key, value) in options {
        args.push(format!("-{key}"));
        args.push((*value).to_owned());
    }
    args
}

fn ffio_options(header: bool, options: &[(&str, &str)]) -> DemuxerOptions {
    let mut o = DemuxerOptions::new();
    if !header {
        o = o.format("concat");
    }
    for (key, value) in options {
        o = o.option(key, value);
    }
    o
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// `ffprobe -show_streams ARGS LIST`: per stream, the fields compared with ffio's.
fn ffprobe_stream_summary(list: &Path, args: &[&str]) -> Vec<BTreeMap<String, String>> {
    let mut all = vec!["-show_streams"];
    all.extend_from_slice(args);
    ffprobe_sections(list, &all, "STREAM")
        .into_iter()
        .map(|s| {
            let mut keep: BTreeMap<String, String> = s
                .iter()
                .filter(|(k, _)| {
                    k.starts_with("TAG:")
                        || ["index", "codec_type", "codec_name", "time_base"].contains(&k.as_str())
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            // The parameters stream discovery fills in: the parts' (copied), or, for a
            // stream whose codec the list names (stream_codec), what FFmpeg's discovery
            // on the list finds.
            let fields: &[&str] = match s.get("codec_type").map(String::as_str) {
                Some("audio") => &["sample_rate", "channels"],
                Some("video") => &["width", "height"],
                _ => &[],
            };
            for key in fields {
                keep.insert(
                    (*key).to_owned(),
                    s.get(*key).cloned().unwrap_or_else(|| "0".into()),
                );
            }
            // ffprobe prints the extradata size only when there is extradata.
            keep.insert(
                "extradata_size".into(),
                s.get("extradata_size")
                    .cloned()
                    .unwrap_or_else(|| "0".into()),
            );
            keep
        })
        .collect()
}

/// The same fields of ffio's streams.
fn stream_summary<R>(demuxer: &Demuxer<R>) -> Vec<BTreeMap<String, String>> {
    demuxer
        .streams()
        .map(|s| {
            let mut m = BTreeMap::new();
            m.insert("index".to_owned(), s.index().to_string());
            m.insert("codec_type".to_owned(), s.media_type().as_str().to_owned());
            // ffprobe prints "unknown" for a codec without a descriptor (AV_CODEC_ID_NONE).
            let codec = match s.codec_long_name() {
                Some(_) => s.codec_name(),
                None => "unknown",
            };
            m.insert("codec_name".to_owned(), codec.to_owned());
            let tb = s.time_base();
            m.insert("time_base".to_owned(), format!("{}/{}", tb.num, tb.den));
            m.insert("extradata_size".to_owned(), s.extradata().len().to_string());
            let zero = |v: Option<u32>| v.unwrap_or(0).to_string();
            match s.media_type() {
                ffio::MediaType::Audio => {
                    m.insert("sample_rate".to_owned(), zero(s.sample_rate()));
                    m.insert("channels".to_owned(), zero(s.channels()));
                }
                ffio::MediaType::Video => {
                    m.insert("width".to_owned(), zero(s.width()));
                    m.insert("height".to_owned(), zero(s.height()));
                }
                _ => {}
            }
            for (k, v) in s.tags().iter() {
                m.insert(format!("TAG:{k}"), v.into_owned());
            }
            m
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// The opener: files in memory, every request logged
// ---------------------------------------------------------------------------------------

/// What a [`Store`] does wrong for one name.
#[derive(Clone, Debug)]
enum PartFault {
    /// The opener returns `PermissionDenied` "store refuses NAME".
    OpenFails,
    /// The opener panics with "injected: store panics on NAME".
    OpenPanics,
    /// The stream it returns injects `Fault` from this byte offset on.
    Reader(u64, Fault),
}

/// One request the opener saw.
#[derive(Clone, Debug)]
struct Asked {
    name: String,
    mode: OpenMode,
    /// Streams this store returned that were still alive (not dropped) at the request.
    alive: usize,
    /// Packets the test had received from the demuxer at the request.
    delivered: usize,
}

/// Files in memory served by name, read-only; logs every request.
#[derive(Clone, Default)]
struct Store {
    files: Arc<BTreeMap<String, Vec<u8>>>,
    faults: Arc<BTreeMap<String, PartFault>>,
    log: Arc<Mutex<Vec<Asked>>>,
    alive: Arc<AtomicUsize>,
    delivered: Arc<AtomicUsize>,
    /// Reads that hit an injected reader fault.
    tripped: Arc<AtomicU64>,
}

impl Store {
    /// Every regular file under `dir`, by its relative name with `/`.
    fn of_dir(dir: &Path) -> Store {
        fn walk(root: &Path, dir: &Path, files: &mut BTreeMap<String, Vec<u8>>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(root, &path, files);
                } else {
                    let name = path.strip_prefix(root).unwrap().to_str().unwrap();
                    files.insert(name.to_owned(), std::fs::read(&path).unwrap());
                }
            }
        }
        let mut files = BTreeMap::new();
        walk(dir, dir, &mut files);
        Store {
            files: Arc::new(files),
            ..Store::default()
        }
    }

    /// The same files with a fault for `name`, and a fresh log.
    fn with_fault(&self, name: &str, fault: PartFault) -> Store {
        let mut faults = BTreeMap::new();
        faults.insert(name.to_owned(), fault);
        Store {
            files: self.files.clone(),
            faults: Arc::new(faults),
            ..Store::default()
        }
    }

    /// The same files, a fresh log.
    fn fresh(&self) -> Store {
        Store {
            files: self.files.clone(),
            faults: self.faults.clone(),
            ..Store::default()
        }
    }

    fn asked(&self) -> Vec<Asked> {
        self.log.lock().unwrap().clone()
    }

    fn names(&self) -> Vec<String> {
        self.asked().into_iter().map(|a| a.name).collect()
    }

    fn alive(&self) -> usize {
        self.alive.load(Ordering::SeqCst)
    }
}

/// A stream the store returned: counts itself alive until dropped.
struct Tracked {
    inner: Box<dyn ffio::ReadSeek>,
    alive: Arc<AtomicUsize>,
}

impl Read for Tracked {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}

impl Seek for Tracked {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.alive.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A [`FaultyReader`] that counts, in `tripped`, the reads that hit its fault.
struct Tripwire {
    inner: FaultyReader<Cursor<Vec<u8>>>,
    tripped: Arc<AtomicU64>,
}

impl Read for Tripwire {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.inner.position >= self.inner.offset {
            self.tripped.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.read(buf)
    }
}

impl Seek for Tripwire {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

impl ffio::Opener for Store {
    fn open(&mut self, name: &str, mode: OpenMode) -> io::Result<Opened> {
        self.log.lock().unwrap().push(Asked {
            name: name.to_owned(),
            mode,
            alive: self.alive(),
            delivered: self.delivered.load(Ordering::SeqCst),
        });
        let fault = self.faults.get(name).cloned();
        match fault {
            Some(PartFault::OpenFails) => {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!("store refuses {name}"),
                ))
            }
            Some(PartFault::OpenPanics) => panic!("injected: store panics on {name}"),
            _ => {}
        }
        if mode != OpenMode::Read {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("store is read-only: {name}"),
            ));
        }
        let data = self.files.get(name).cloned().ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("no {name} in the store"))
        })?;
        let inner: Box<dyn ffio::ReadSeek> = match fault {
            Some(PartFault::Reader(at, fault)) => Box::new(Tripwire {
                inner: FaultyReader::new(Cursor::new(data), at, fault),
                tripped: self.tripped.clone(),
            }),
            _ => Box::new(Cursor::new(data)),
        };
        self.alive.fetch_add(1, Ordering::SeqCst);
        Ok(Opened::seekable_reader(Tracked {
            inner,
            alive: self.alive.clone(),
        }))
    }
}

/// Keeps the injected panics (messages starting with "injected") out of the test output.
fn silence_injected_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let text = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied());
            if !text.is_some_and(|t| t.starts_with("injected")) {
                default(info);
            }
        }));
    });
}

// ---------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------

/// What a read to the end (or to the first error) gave.
struct Got {
    packets: Vec<ProbePacket>,
    /// Per packet: `stream_index` and its per-file metadata as `TAG:key` (ffprobe's
    /// `packet_tags` from AV_PKT_DATA_STRINGS_METADATA side data).
    tags: Vec<BTreeMap<String, String>>,
    error: Option<Error>,
}

/// The key/value pairs of AV_PKT_DATA_STRINGS_METADATA side data
/// (`av_packet_pack_dictionary`: `key\0value\0` repeated).
fn unpack_strings(data: &[u8]) -> Vec<(String, String)> {
    let mut parts: Vec<&[u8]> = data.split(|&b| b == 0).collect();
    assert_eq!(
        parts.pop(),
        Some(&b""[..]),
        "side data ends in NUL: {data:?}"
    );
    assert!(parts.len() % 2 == 0, "key/value pairs: {data:?}");
    parts
        .chunks(2)
        .map(|kv| {
            (
                String::from_utf8(kv[0].to_vec()).unwrap(),
                String::from_utf8(kv[1].to_vec()).unwrap(),
            )
        })
        .collect()
}

fn read_to_end<R>(demuxer: &mut Demuxer<R>, store: &Store) -> Got {
    let mut got = Got {
        packets: Vec::new(),
        tags: Vec::new(),
        error: None,
    };
    let mut packet = ffio::Packet::new();
    store.delivered.store(0, Ordering::SeqCst);
    loop {
        match demuxer.read_packet_into(&mut packet) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                got.error = Some(e);
                break;
            }
        }
        got.packets.push(ProbePacket::from_packet(&packet));
        let mut tags = BTreeMap::new();
        tags.insert("stream_index".to_owned(), packet.stream_index().to_string());
        let kind = ffio::sys::AVPacketSideDataType::AV_PKT_DATA_STRINGS_METADATA;
        if let Some(sd) = packet.side_data_of(kind) {
            for (k, v) in unpack_strings(sd.data()) {
                tags.insert(format!("TAG:{k}"), v);
            }
        }
        got.tags.push(tags);
        store.delivered.store(got.packets.len(), Ordering::SeqCst);
    }
    got
}

/// What [`same_as_ffprobe`] saw besides the packets it compared.
struct Checked {
    asked: Vec<Asked>,
    /// The packets of streams a later part added (after the open), which ffprobe does
    /// not show.
    added: Vec<ProbePacket>,
    /// The streams after the last packet.
    streams_at_end: Vec<BTreeMap<String, String>>,
}

/// Opens `list` of `case` with the concat options `options` on both sides (ffio and
/// ffprobe, which reads the same files from disk), reads every packet and compares it
/// with ffprobe's: stream, pts, dts, size, key flag, CRC-32; and the streams' types,
/// codecs, time bases, extradata sizes and tags. Returns the store's log.
///
/// ffprobe shows the packets of the streams that exist when it has opened the input
/// (its `selected_streams`, grown with zeros for streams added later): a part with more
/// streams than the parts before it adds streams (concatdec.c's match_streams), whose
/// packets FFmpeg's concat returns but ffprobe does not print. Those are compared
/// separately ([`Checked::added`]).
fn same_as_ffprobe(case: &Case, list: &str, header: bool, options: &[(&str, &str)]) -> Vec<Asked> {
    check_against_ffprobe(case, list, header, options).asked
}

fn check_against_ffprobe(
    case: &Case,
    list: &str,
    header: bool,
    options: &[(&str, &str)],
) -> Checked {
    quiet();
    let what = format!("{} {list} {options:?}", case.dir.display());
    let args = ffprobe_args(header, options);
    let expected = ffprobe_packets_with(&case.path(list), &strs(&args));
    let store = case.store.fresh();
    let mut demuxer = case
        .open_with(list, ffio_options(header, options), store.clone())
        .unwrap_or_else(|e| panic!("{what}: {}", e.chain()));
    assert_eq!(demuxer.format_name(), "concat", "{what}");
    // The streams as ffprobe prints them: after the open (later parts may grow the
    // extradata, copy_stream_props).
    assert_eq!(
        stream_summary(&demuxer),
        ffprobe_stream_summary(&case.path(list), &strs(&args)),
        "{what}: streams"
    );
    let at_open = demuxer.stream_count();
    let got = read_to_end(&mut demuxer, &store);
    if let Some(e) = &got.error {
        panic!(
            "{what}: error after {} packets: {}",
            got.packets.len(),
            e.chain()
        );
    }
    let (shown, added): (Vec<ProbePacket>, Vec<ProbePacket>) = got
        .packets
        .into_iter()
        .partition(|p| p.stream_index < at_open);
    assert_same_packets(&what, &shown, &expected);
    let streams_at_end = stream_summary(&demuxer);
    drop(demuxer);
    assert_eq!(store.alive(), 0, "{what}: every opened part is dropped");
    let asked = store.asked();
    assert!(
        asked.iter().all(|a| a.mode == OpenMode::Read),
        "{what}: {asked:?}"
    );
    Checked {
        asked,
        added,
        streams_at_end,
    }
}

fn names(asked: &[Asked]) -> Vec<&str> {
    asked.iter().map(|a| a.name.as_str()).collect()
}

/// Total packets of a part according to ffprobe (the part alone).
fn packets_of(path: &Path) -> usize {
    ffprobe_counts(path).iter().map(|c| c.2 as usize).sum()
}

// ---------------------------------------------------------------------------------------
// Parts of every kind
// ---------------------------------------------------------------------------------------

#[test]
fn mpegts_parts_read_as_ffprobe_reads_them_lazily_and_in_order() {
    let names_in_list = ["a.ts", "sub/b.ts", "A-b_c.1.ts"];
    let case = Case::new(
        "mpegts",
        &[
            ("a.ts", "h264_aac.ts"),
            ("sub/b.ts", "other.ts"),
            ("A-b_c.1.ts", "h264_aac.ts"),
        ],
        &[("list.ffconcat", &list_of(&names_in_list))],
    );
    let asked = same_as_ffprobe(&case, "list.ffconcat", true, &[]);
    assert_eq!(
        names(&asked),
        names_in_list,
        "the names as written, in order"
    );
    // concatdec.c opens part N+1 only when part N's av_read_frame returns AVERROR_EOF
    // (concat_read_packet -> open_next_file), after closing part N (open_file:
    // avformat_close_input first). So part N+1 is asked for when the caller has received
    // exactly the packets of parts 1..N, and nothing else is open then.
    let mut before = 0;
    for (i, a) in asked.iter().enumerate() {
        assert_eq!(
            a.delivered, before,
            "{} asked after {} packets",
            a.name, a.delivered
        );
        assert_eq!(a.alive, 0, "{}: earlier parts are closed first", a.name);
        before += packets_of(&case.path(names_in_list[i]));
    }
    // After the open only the first part was asked for.
    let store = case.store.fresh();
    let demuxer = case
        .open_with("list.ffconcat", DemuxerOptions::new(), store.clone())
        .unwrap();
    assert_eq!(store.names(), ["a.ts"]);
    drop(demuxer);
    assert_eq!(store.alive(), 0);
}

#[test]
fn mp4_parts_are_converted_to_annex_b_as_ffprobe_converts_them() {
    // Two H.264 + AAC MP4s and a video-only one: avcC extradata, so concatdec.c inserts
    // h264_mp4toannexb (auto_convert=1, the default) for each part's video.
    let list = list_of(&["c.mp4", "v.mp4", "c.mp4"]);
    let case = Case::new(
        "mp4",
        &[("c.mp4", "h264_aac.mp4"), ("v.mp4", "h264_faststart.mp4")],
        &[("list.ffconcat", &list)],
    );
    let asked = same_as_ffprobe(&case, "list.ffconcat", true, &[]);
    assert_eq!(names(&asked), ["c.mp4", "v.mp4", "c.mp4"]);
    // The same with auto_convert=0 (-auto_convert 0 for ffprobe): the MP4's own packets.
    same_as_ffprobe(&case, "list.ffconcat", true, &[("auto_convert", "0")]);
    // ffprobe itself shows that the option matters here: the converted packets differ.
    let converted = ffprobe_packets_with(&case.path("list.ffconcat"), &[]);
    let plain = ffprobe_packets_with(&case.path("list.ffconcat"), &["-auto_convert", "0"]);
    assert_eq!(converted.len(), plain.len());
    assert!(
        converted.iter().zip(&plain).any(|(a, b)| a.size != b.size),
        "auto_convert changes the video packets"
    );
}

/// `list.ffconcat` naming an MP4, a Matroska and an MPEG-TS part (the H.264 + AAC
/// fixtures), in that order.
fn mixed_case(tag: &str) -> Case {
    let list = list_of(&["c.mp4", "d.mkv", "a.ts"]);
    Case::new(
        tag,
        &[
            ("c.mp4", "h264_aac.mp4"),
            ("d.mkv", "h264_aac.mkv"),
            ("a.ts", "h264_aac.ts"),
        ],
        &[("list.ffconcat", &list)],
    )
}

#[test]
fn mixed_containers_follow_ffprobe() {
    // MP4, then Matroska, then MPEG-TS: concatdec.c maps the streams one to one and keeps
    // the first part's time bases (copy_stream_props), whatever the later parts use.
    let case = mixed_case("mixed");
    let asked = same_as_ffprobe(&case, "list.ffconcat", true, &[]);
    assert_eq!(names(&asked), ["c.mp4", "d.mkv", "a.ts"]);
}

/// `seconds` as ffprobe prints them (`2.023222`) in microseconds.
fn micros(seconds: &str) -> i64 {
    let (negative, digits) = match seconds.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, seconds),
    };
    let (whole, frac) = digits.split_once('.').expect("six decimals");
    assert_eq!(frac.len(), 6, "{seconds}");
    let us = whole.parse::<i64>().unwrap() * 1_000_000 + frac.parse::<i64>().unwrap();
    if negative {
        -us
    } else {
        us
    }
}

#[test]
fn a_part_with_more_streams_adds_them() {
    // MPEG-TS (video, audio), then Matroska with video, two audio tracks and subtitles:
    // match_streams_one_to_one maps the first two and adds two streams to the list
    // (copy_stream_props: the part's parameters and time base), while the list is read.
    let case = Case::new(
        "more_streams",
        &[("t.ts", "h264_aac.ts")],
        &[("list.ffconcat", &list_of(&["t.ts", "m.mkv"]))],
    );
    std::fs::copy(fixture("multi_audio_subs.mkv"), case.path("m.mkv")).unwrap();
    let case = Case {
        store: Store::of_dir(&case.dir),
        dir: case.dir,
    };
    let checked = check_against_ffprobe(&case, "list.ffconcat", true, &[]);
    let mkv = ffprobe_streams(&case.path("m.mkv"));
    assert_eq!(mkv.len(), 4);
    let end = &checked.streams_at_end;
    assert_eq!(end.len(), 4, "{end:?}");
    for i in 2..4 {
        assert_eq!(end[i]["codec_name"], mkv[i]["codec_name"], "stream {i}");
        assert_eq!(end[i]["time_base"], mkv[i]["time_base"], "stream {i}");
    }
    // Their packets: the part's, shifted by the part's start in the list (part 1's
    // duration, as its demuxer gives it: get_best_effort_duration) less its own start,
    // rescaled to the stream's time base (1/1000) to the nearest.
    let first = micros(&ffprobe_format(&case.path("t.ts"))["duration"]);
    let own = micros(&ffprobe_format(&case.path("m.mkv"))["start_time"]);
    assert_eq!(mkv[2]["time_base"], "1/1000");
    let shift = (first - own + 500) / 1000;
    let expected: Vec<ProbePacket> = ffprobe_packets(&case.path("m.mkv"))
        .into_iter()
        .filter(|p| p.stream_index >= 2)
        .map(|mut p| {
            p.pts = p.pts.map(|t| t + shift);
            p.dts = p.dts.map(|t| t + shift);
            p
        })
        .collect();
    assert_same_packets("added streams", &checked.added, &expected);
}

#[test]
fn a_list_without_the_header_needs_the_format() {
    quiet();
    let case = Case::new(
        "no_header",
        &[("a.ts", "h264_aac.ts"), ("b.ts", "other.ts")],
        &[("list.txt", "file a.ts\nfile b.ts\n")],
    );
    let asked = same_as_ffprobe(&case, "list.txt", false, &[]);
    assert_eq!(names(&asked), ["a.ts", "b.ts"]);
    // Without `.format("concat")` the list is not probed as concat (concat_probe wants the
    // header) and nothing is asked of the opener.
    let store = case.store.fresh();
    match case.open_with("list.txt", DemuxerOptions::new(), store.clone()) {
        Ok(d) => assert_ne!(d.format_name(), "concat"),
        Err(e) => assert!(!matches!(e, Error::Io(_)), "{e:?}"),
    }
    assert!(store.names().is_empty(), "{:?}", store.names());
}

#[test]
fn quoted_names_reach_the_opener_unquoted() {
    // av_get_token: single quotes group, a backslash escapes. Spaces and quotes are not
    // in safe mode's alphabet (safe_filename), hence safe=0 on both sides.
    let text = "ffconcat version 1.0\n\
                file 'a b.ts'\n\
                file a\\ c.ts\n\
                file 'it'\\''s.ts'\n";
    let case = Case::new(
        "quoted",
        &[
            ("a b.ts", "h264_aac.ts"),
            ("a c.ts", "other.ts"),
            ("it's.ts", "h264_aac.ts"),
        ],
        &[("list.ffconcat", text)],
    );
    let asked = same_as_ffprobe(&case, "list.ffconcat", true, &[("safe", "0")]);
    assert_eq!(names(&asked), ["a b.ts", "a c.ts", "it's.ts"]);
}

#[test]
fn a_playlist_part_is_read_through_the_same_opener() {
    let list = list_of(&["p.m3u8", "a.ts"]);
    let case = Case::new(
        "hls_part",
        &[
            ("p.m3u8", "p.m3u8"),
            ("p0.ts", "p0.ts"),
            ("p1.ts", "p1.ts"),
            ("a.ts", "h264_aac.ts"),
        ],
        &[("list.ffconcat", &list)],
    );
    let asked = same_as_ffprobe(&case, "list.ffconcat", true, &[]);
    let seen = names(&asked);
    assert_eq!(seen.first(), Some(&"p.m3u8"), "{seen:?}");
    assert_eq!(seen.last(), Some(&"a.ts"), "{seen:?}");
    for segment in ["p0.ts", "p1.ts"] {
        assert!(seen.contains(&segment), "{seen:?}");
    }
}

/// How `Demuxer::start_timestamp` and `Demuxer::duration` of `list` (opened with
/// `options`) differ from ffprobe's -show_format `start_time` and `duration` (`N/A`: none). FFmpeg's
/// concat gets them from the outer context: `duration` from concat_read_header when every
/// part's duration is known, `start_time` from stream discovery (the first packets).
fn format_times_differ(case: &Case, list: &str, options: &[(&str, &str)]) -> Option<String> {
    quiet();
    let what = format!("{list} {options:?}");
    let args = ffprobe_args(true, options);
    let demuxer = case.open(list, ffio_options(true, options)).unwrap();
    let mut all = vec![
        "-v",
        "error",
        "-show_entries",
        "format=start_time,duration",
        "-of",
        "default=nw=1",
    ];
    all.extend(strs(&args));
    let out = run_ffprobe(&all, &case.path(list), ProbeInput::File);
    assert!(out.success, "{what}: {}", out.stderr);
    let field = |key: &str| {
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(str::to_owned)
            .filter(|v| v != "N/A")
    };
    let got = (
        demuxer.start_timestamp().map(|t| t.to_string()),
        demuxer
            .duration()
            .map(|d| format!("{:.6}", d.as_secs_f64())),
    );
    let expected = (field("start_time"), field("duration"));
    if got == expected {
        None
    } else {
        Some(format!(
            "{what}: (start_time, duration) {got:?}, ffprobe {expected:?}"
        ))
    }
}

#[test]
fn the_lists_start_time_and_duration_are_ffprobes() {
    let known = "ffconcat version 1.0\n\
                 file c.mp4\nduration 2\n\
                 file a.ts\ninpoint 1.5\noutpoint 2.75\n";
    let case = Case::new(
        "format_times",
        &[("c.mp4", "h264_aac.mp4"), ("a.ts", "h264_aac.ts")],
        &[
            ("known.ffconcat", known),
            ("ts.ffconcat", &list_of(&["a.ts", "a.ts"])),
            ("mp4.ffconcat", &list_of(&["c.mp4", "a.ts"])),
        ],
    );
    // Durations known (2 s + 1.25 s), then unknown; starts at 0 (MPEG-TS, shifted to
    // the list's 0) and before 0 (the MP4's AAC priming).
    let wrong: Vec<String> = ["known.ffconcat", "ts.ffconcat", "mp4.ffconcat"]
        .into_iter()
        .filter_map(|list| format_times_differ(&case, list, &[]))
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

// ---------------------------------------------------------------------------------------
// Directives and options
// ---------------------------------------------------------------------------------------

#[test]
fn duration_inpoint_and_outpoint_follow_ffprobe() {
    // MP4 parts start at 0; the MPEG-TS ones at 1.456778 s (their own timestamps, which
    // inpoint and outpoint are in).
    let mp4 = "ffconcat version 1.0\n\
               file c.mp4\n\
               duration 1.5\n\
               file c.mp4\n\
               inpoint 0.5\n\
               outpoint 1.5\n\
               file c.mp4\n\
               outpoint 1\n\
               file c.mp4\n\
               inpoint 1.2\n";
    let ts = "ffconcat version 1.0\n\
              file a.ts\n\
              inpoint 2\n\
              outpoint 3\n\
              file a.ts\n\
              duration 00:00:01.25\n\
              file a.ts\n\
              outpoint 1\n\
              file a.ts\n";
    let case = Case::new(
        "points",
        &[("c.mp4", "h264_aac.mp4"), ("a.ts", "h264_aac.ts")],
        &[("mp4.ffconcat", mp4), ("ts.ffconcat", ts)],
    );
    let asked = same_as_ffprobe(&case, "mp4.ffconcat", true, &[]);
    assert_eq!(names(&asked), ["c.mp4"; 4]);
    same_as_ffprobe(&case, "mp4.ffconcat", true, &[("auto_convert", "0")]);
    // The third part's outpoint (1 s) precedes the file's start (1.46 s): concatdec.c
    // drops all its packets (packet_after_outpoint on the first) and moves on.
    let asked = same_as_ffprobe(&case, "ts.ffconcat", true, &[]);
    assert_eq!(names(&asked), ["a.ts"; 4]);
}

/// ffprobe's packet tags of `list` (with `args`) against ffio's per-packet metadata.
fn same_tags_as_ffprobe(case: &Case, list: &str, options: &[(&str, &str)]) {
    quiet();
    let args = ffprobe_args(true, options);
    let expected = ffprobe_packet_fields(&case.path(list), &strs(&args));
    let (got, _) = case.read_list(list, ffio_options(true, options));
    assert!(got.error.is_none(), "{:?}", got.error);
    assert_eq!(got.tags.len(), expected.len(), "{list} {options:?}");
    for (i, (g, e)) in got.tags.iter().zip(&expected).enumerate() {
        assert_eq!(g, e, "{list} {options:?}: packet {i}");
    }
    assert!(
        expected
            .iter()
            .any(|p| p.keys().any(|k| k.starts_with("TAG:"))),
        "{list}: ffprobe shows tags"
    );
}

#[test]
fn per_file_packet_metadata_is_strings_metadata_side_data_as_ffprobe_shows() {
    // file_packet_meta KEY VALUE (the value a token: quotes group), and the deprecated
    // file_packet_metadata k=v:k=v. ffprobe prints the AV_PKT_DATA_STRINGS_METADATA side
    // data as packet tags.
    let text = "ffconcat version 1.0\n\
                file a.ts\n\
                file_packet_meta source first\n\
                file_packet_meta note 'two words'\n\
                file b.ts\n\
                file a.ts\n\
                file_packet_metadata k1=v1:k2=v2\n";
    let case = Case::new(
        "packet_meta",
        &[("a.ts", "h264_aac.ts"), ("b.ts", "other.ts")],
        &[("list.ffconcat", text)],
    );
    same_as_ffprobe(&case, "list.ffconcat", true, &[]);
    same_tags_as_ffprobe(&case, "list.ffconcat", &[]);
    // segment_time_metadata=1 adds lavf.concatdec.start_time and .duration to every part.
    same_as_ffprobe(
        &case,
        "list.ffconcat",
        true,
        &[("segment_time_metadata", "1")],
    );
    same_tags_as_ffprobe(&case, "list.ffconcat", &[("segment_time_metadata", "1")]);
}

#[test]
fn stream_directives_map_streams_by_id_as_ffprobe_does() {
    // MPEG-TS stream ids are the PIDs (ffmpeg's mpegts muxer: 0x100 video, 0x101 audio).
    // With `stream` directives concatdec.c matches by id (MATCH_EXACT_ID): the audio first
    // here, the video second; an id no part has stays empty; parts' streams without a
    // match are dropped.
    let swapped = "ffconcat version 1.0\n\
                   stream\n\
                   exact_stream_id 0x101\n\
                   stream_meta language eng\n\
                   stream\n\
                   exact_stream_id 0x100\n\
                   file a.ts\n\
                   file b.ts\n";
    let audio_only = "ffconcat version 1.0\n\
                      stream\n\
                      exact_stream_id 0x101\n\
                      stream_codec aac\n\
                      stream_extradata 1210\n\
                      stream_meta title \"Two words\"\n\
                      file a.ts\n\
                      file b.ts\n";
    let case = Case::new(
        "streams",
        &[("a.ts", "h264_aac.ts"), ("b.ts", "other.ts")],
        &[
            ("swapped.ffconcat", swapped),
            ("audio.ffconcat", audio_only),
        ],
    );
    for list in ["swapped.ffconcat", "audio.ffconcat"] {
        let asked = same_as_ffprobe(&case, list, true, &[]);
        assert_eq!(names(&asked), ["a.ts", "b.ts"], "{list}");
    }
    // The ids are the PIDs indeed (else the lists above test nothing).
    let ids: Vec<String> = ffprobe_streams(&case.path("a.ts"))
        .iter()
        .map(|s| s["id"].clone())
        .collect();
    assert_eq!(ids, ["0x100", "0x101"]);
    // stream_extradata: the hex bytes, since the parts' AAC (ADTS in MPEG-TS) has none.
    let demuxer = case.open("audio.ffconcat", DemuxerOptions::new()).unwrap();
    assert_eq!(demuxer.stream_count(), 1);
    assert_eq!(demuxer.stream(0).unwrap().extradata(), [0x12, 0x10]);
}

#[test]
fn the_option_directive_needs_safe_0_and_reaches_the_part() {
    // `option` has NEEDS_UNSAFE. The option is the part's demuxer's: for the MP4 part,
    // `ignore_editlist 1` changes its timestamps (ffprobe shows it does).
    let with = "ffconcat version 1.0\n\
                file c.mp4\n\
                option ignore_editlist 1\n\
                file c.mp4\n";
    let case = Case::new(
        "option",
        &[("c.mp4", "h264_aac.mp4")],
        &[
            ("with.ffconcat", with),
            ("without.ffconcat", &list_of(&["c.mp4", "c.mp4"])),
        ],
    );
    let asked = same_as_ffprobe(&case, "with.ffconcat", true, &[("safe", "0")]);
    assert_eq!(names(&asked), ["c.mp4", "c.mp4"]);
    assert_ne!(
        ffprobe_packets_with(&case.path("with.ffconcat"), &["-safe", "0"]),
        ffprobe_packets_with(&case.path("without.ffconcat"), &["-safe", "0"]),
        "the option changes the packets"
    );
    // In safe mode (the default) the directive is a syntax error.
    let (err, store) = case.open_error("with.ffconcat", DemuxerOptions::new());
    let (detail, message) = ffprobe_failure(&case.path("with.ffconcat"), &[]);
    assert_eq!(
        detail.as_deref(),
        Some("Line 3: option not allowed if safe")
    );
    assert_ffmpeg_error(&err, detail.as_deref(), &message);
    assert!(store.names().is_empty());
}

#[test]
fn line_endings_spaces_numbers_and_hex_are_read_as_ffmpeg_reads_them() {
    // ff_read_line_to_bprint_overwrite ends a line at \n, \r, \r\n and NUL (a NUL line is
    // empty); get_keyword skips spaces and tabs; words after a directive's arguments are
    // ignored; exact_stream_id is strtol(…, 0) (0401 is octal 0x101, 0x100junk is 0x100);
    // ff_hex_to_data stops at the first non-hex character and drops an odd last digit;
    // the last line needs no newline.
    let text: &[u8] = b"ffconcat version 1.0\r\n  \tfile a.ts # trailing words are ignored\r\
file b.ts\0\0file_packet_meta k v\r\n\n\
stream\nexact_stream_id 0401\n\
stream\nexact_stream_id 0x100junk\nstream_extradata 12104\n\
stream\nexact_stream_id 999\nstream_extradata 12zz34\n\
file a.ts";
    let case = Case::new(
        "syntax_edges",
        &[("a.ts", "h264_aac.ts"), ("b.ts", "other.ts")],
        &[],
    );
    std::fs::write(case.path("odd.ffconcat"), text).unwrap();
    let case = Case {
        store: Store::of_dir(&case.dir),
        dir: case.dir,
    };
    let asked = same_as_ffprobe(&case, "odd.ffconcat", true, &[]);
    assert_eq!(names(&asked), ["a.ts", "b.ts", "a.ts"]);
    same_tags_as_ffprobe(&case, "odd.ffconcat", &[]);
    // The unmatched stream keeps the one byte of its hex (by hand: "12zz34" -> 0x12).
    let demuxer = case.open("odd.ffconcat", DemuxerOptions::new()).unwrap();
    assert_eq!(demuxer.stream_count(), 3);
    assert_eq!(demuxer.stream(2).unwrap().extradata(), [0x12]);
}

/// `(id, time_base, start, end)` of a demuxer's chapters.
fn chapters<R>(demuxer: &Demuxer<R>) -> Vec<(String, String, String, String)> {
    let fmt = demuxer.as_ptr();
    // SAFETY: plain reads of the chapter table while `demuxer` is borrowed (as_ptr's
    // contract): `chapters` holds `nb_chapters` valid chapters.
    unsafe {
        (0..(*fmt).nb_chapters as usize)
            .map(|i| {
                let c = &**(*fmt).chapters.add(i);
                (
                    c.id.to_string(),
                    format!("{}/{}", c.time_base.num, c.time_base.den),
                    c.start.to_string(),
                    c.end.to_string(),
                )
            })
            .collect()
    }
}

/// The same of ffprobe's -show_chapters.
fn ffprobe_chapters(path: &Path) -> Vec<(String, String, String, String)> {
    ffprobe_sections(path, &["-show_chapters"], "CHAPTER")
        .into_iter()
        .map(|c| {
            (
                c["id"].clone(),
                c["time_base"].clone(),
                c["start"].clone(),
                c["end"].clone(),
            )
        })
        .collect()
}

#[test]
fn chapters_are_ffprobes() {
    // chapter ID START END (times in AV_TIME_BASE): avpriv_new_chapter, which updates the
    // chapter of the same id once the ids stop increasing.
    let text = "ffconcat version 1.0\n\
                chapter 1 0 1.5\n\
                file a.ts\n\
                chapter 2 1.5 00:00:03\n\
                chapter 1 0 0.5\n\
                file b.ts\n";
    let case = Case::new(
        "chapters",
        &[("a.ts", "h264_aac.ts"), ("b.ts", "other.ts")],
        &[("list.ffconcat", text)],
    );
    same_as_ffprobe(&case, "list.ffconcat", true, &[]);
    let expected = ffprobe_chapters(&case.path("list.ffconcat"));
    assert_eq!(expected.len(), 2, "{expected:?}");
    let demuxer = case.open("list.ffconcat", DemuxerOptions::new()).unwrap();
    assert_eq!(chapters(&demuxer), expected);
}

#[test]
fn a_chapter_ending_before_its_start_ends_the_script_as_in_ffmpeg() {
    // avpriv_new_chapter refuses it (logging "Chapter end time … before start …") and
    // concatdec.c's DIR_CHAPTER then does FAIL(ENOMEM): a positive code, which
    // concat_read_header does not take for an error. The script simply ends there: the
    // parts before the line are read, those after it never (5.1, 7.1 and 9.0 alike).
    let text = "ffconcat version 1.0\n\
                file a.ts\n\
                chapter 1 2 1\n\
                file b.ts\n";
    let case = Case::new(
        "bad_chapter",
        &[("a.ts", "h264_aac.ts"), ("b.ts", "other.ts")],
        &[("list.ffconcat", text)],
    );
    let asked = same_as_ffprobe(&case, "list.ffconcat", true, &[]);
    assert_eq!(names(&asked), ["a.ts"]);
}

// ---------------------------------------------------------------------------------------
// Syntax errors
// ---------------------------------------------------------------------------------------

/// What ffprobe says when it cannot open `path`: the concat demuxer's log line (without
/// the `[concat @ 0x...] ` prefix), if it logged one, and the `av_strerror` text of the
/// code it failed with (its last line, `PATH: TEXT`).
fn ffprobe_failure(path: &Path, args: &[&str]) -> (Option<String>, String) {
    let mut all = vec!["-v", "error", "-show_entries", "format=format_name"];
    all.extend_from_slice(args);
    let out = run_ffprobe(&all, path, ProbeInput::File);
    assert!(!out.success || out.stdout.is_empty(), "{}", out.stdout);
    let detail = out.stderr.lines().find_map(|l| {
        l.strip_prefix("[concat @ ")
            .and_then(|rest| rest.split_once("] "))
            .map(|(_, text)| text.to_owned())
    });
    let last = out.stderr.lines().last().unwrap_or("").to_owned();
    let prefix = format!("{}: ", path.display());
    let message = last
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("ffprobe's last line {last:?} (stderr {:?})", out.stderr))
        .to_owned();
    (detail, message)
}

/// `err` is FFmpeg's error with ffprobe's text for the code and, when ffprobe logged one,
/// its log line in the detail.
fn assert_ffmpeg_error(err: &Error, detail: Option<&str>, message: &str) {
    match err {
        Error::Ffmpeg {
            message: m,
            detail: d,
            ..
        } => {
            assert_eq!(m, message, "{err}");
            if let Some(line) = detail {
                assert!(
                    d.as_deref().is_some_and(|d| d.contains(line)),
                    "{err}: want {line:?} in the detail"
                );
            }
        }
        other => panic!("expected Error::Ffmpeg ({message}), got {other:?}"),
    }
}

#[test]
fn syntax_errors_name_the_line_as_ffmpeg_logs_it() {
    quiet();
    // (list, has header): each refused by concat_parse_script or concat_read_header.
    let cases: &[(&str, bool)] = &[
        ("ffconcat version 1.0\nfile a.ts\nfoo bar\n", true),
        ("ffconcat version 1.0\nduration 3\nfile a.ts\n", true),
        ("ffconcat version 1.0\nfile a.ts\nduration abc\n", true),
        ("ffconcat version 1.0\nfile a.ts\ninpoint soon\n", true),
        (
            "ffconcat version 1.0\nfile a.ts\nstream\nstream_codec nonsense\n",
            true,
        ),
        ("ffconcat version 1.0\nexact_stream_id 3\nfile a.ts\n", true),
        ("ffconcat version 1.0\nstream_meta a b\nfile a.ts\n", true),
        ("ffconcat version 1.0\nfile\n", true),
        (
            "ffconcat version 1.0\nfile a.ts\nfile_packet_meta k\n",
            true,
        ),
        ("ffconcat version 1.0\n# nothing but a comment\n", true),
        (
            "ffconcat version 1.0\nfile a.ts\ninpoint 3\noutpoint 2\n",
            true,
        ),
        ("ffconcat version 2.0\nfile a.ts\n", false),
        ("file a.ts\nffconcat version 1.0 extra\nbogus\n", false),
    ];
    let case = Case::new("syntax", &[("a.ts", "h264_aac.ts")], &[]);
    for (i, (text, header)) in cases.iter().enumerate() {
        let name = format!("bad{i}.ffconcat");
        std::fs::write(case.path(&name), text).unwrap();
        let args = ffprobe_args(*header, &[]);
        let (detail, message) = ffprobe_failure(&case.path(&name), &strs(&args));
        let (err, store) = case.open_error(&name, ffio_options(*header, &[]));
        println!(
            "{text:?}: ffprobe {detail:?} / {message}; ffio {}",
            err.chain()
        );
        assert_ffmpeg_error(&err, detail.as_deref(), &message);
        // The script is parsed whole before the first part is opened (concat_read_header).
        assert!(store.names().is_empty(), "{text:?}: {:?}", store.names());
    }
    // The first case by hand, as the contract states it.
    let err = case
        .open("bad0.ffconcat", DemuxerOptions::new())
        .map(drop)
        .unwrap_err();
    assert_eq!(err.code(), Some(ffio::sys::AVERROR_INVALIDDATA));
    assert!(
        err.ffmpeg_detail()
            .is_some_and(|d| d.contains("Line 3: unknown keyword 'foo'")),
        "{err}"
    );
}

#[test]
fn without_an_opener_concat_stays_refused() {
    quiet();
    let list = b"ffconcat version 1.0\nfile a.ts\n";
    let err = Demuxer::from_slice(list).map(drop).unwrap_err();
    assert!(matches!(err, Error::FormatRefused { .. }), "{err:?}");
    let err = DemuxerOptions::new()
        .format("concat")
        .open(ffio::CustomIo::seekable_reader(Cursor::new(&b"file a.ts\n"[..])).unwrap())
        .map(drop)
        .unwrap_err();
    assert!(matches!(err, Error::FormatRefused { .. }), "{err:?}");
}

// ---------------------------------------------------------------------------------------
// Nesting and recursion
// ---------------------------------------------------------------------------------------

#[test]
fn a_nested_list_is_read_through_the_same_opener() {
    let outer = "ffconcat version 1.0\nfile inner.ffconcat\nfile c.mp4\n";
    let inner = list_of(&["a.ts", "b.ts"]);
    let case = Case::new(
        "nested",
        &[
            ("a.ts", "h264_aac.ts"),
            ("b.ts", "other.ts"),
            ("c.mp4", "h264_aac.mp4"),
        ],
        &[("outer.ffconcat", outer), ("inner.ffconcat", &inner)],
    );
    let asked = same_as_ffprobe(&case, "outer.ffconcat", true, &[]);
    assert_eq!(names(&asked), ["inner.ffconcat", "a.ts", "b.ts", "c.mp4"]);
    // The inner list and its parts are all closed before the outer list's next part.
    assert_eq!(asked[3].alive, 0, "{asked:?}");
    // recursion_depth: the outer list has it (default 10), each part is opened with one
    // less (open_file: recursion_depth - 1), and a concat list opened with 0 or less fails
    // ("Too deep recursion", concat_read_header). Two levels need 2.
    quiet();
    let (got, _) = case.read_list(
        "outer.ffconcat",
        DemuxerOptions::new().option("recursion_depth", "2"),
    );
    assert!(got.error.is_none(), "{:?}", got.error);
    assert_same_packets(
        "recursion_depth 2",
        &got.packets,
        &ffprobe_packets_with(&case.path("outer.ffconcat"), &[]),
    );
    let (err, store) = case.open_error(
        "outer.ffconcat",
        DemuxerOptions::new().option("recursion_depth", "1"),
    );
    assert_eq!(err.code(), Some(ffio::sys::AVERROR_INVALIDDATA), "{err:?}");
    assert_eq!(store.names(), ["inner.ffconcat"]);
}

#[test]
fn a_nested_lists_packet_metadata_follows_ffprobe() {
    // Both levels add AV_PKT_DATA_STRINGS_METADATA: av_packet_add_side_data replaces a
    // packet's side data of the same type, so the outer list's metadata for its entry
    // replaces the inner list's for the inner parts it has metadata for.
    let outer = "ffconcat version 1.0\n\
                 file inner.ffconcat\n\
                 file_packet_meta level outer\n\
                 file b.ts\n\
                 file plain.ffconcat\n";
    let inner = "ffconcat version 1.0\n\
                 file a.ts\n\
                 file_packet_meta level inner\n\
                 file_packet_meta only inner\n\
                 file b.ts\n";
    let plain = "ffconcat version 1.0\n\
                 file a.ts\n\
                 file_packet_meta level plain\n";
    let case = Case::new(
        "nested_meta",
        &[("a.ts", "h264_aac.ts"), ("b.ts", "other.ts")],
        &[
            ("outer.ffconcat", outer),
            ("inner.ffconcat", inner),
            ("plain.ffconcat", plain),
        ],
    );
    let asked = same_as_ffprobe(&case, "outer.ffconcat", true, &[]);
    assert_eq!(
        names(&asked),
        [
            "inner.ffconcat",
            "a.ts",
            "b.ts",
            "b.ts",
            "plain.ffconcat",
            "a.ts"
        ]
    );
    same_tags_as_ffprobe(&case, "outer.ffconcat", &[]);
    same_tags_as_ffprobe(&case, "outer.ffconcat", &[("segment_time_metadata", "1")]);
}

#[test]
fn a_list_naming_itself_fails_after_recursion_depth_levels() {
    quiet();
    // (ffprobe 5.1 has no recursion_depth and would recurse until it runs out of
    // descriptors or stack: not run here.) By hand from concatdec.c: the list opened with
    // depth D asks for itself with D-1, ..., 1, 0 — D requests — and the one opened with 0
    // fails in concat_read_header before reading its script.
    let case = Case::new(
        "self",
        &[],
        &[
            (
                "self.ffconcat",
                "ffconcat version 1.0\nfile self.ffconcat\n",
            ),
            (
                "ping.ffconcat",
                "ffconcat version 1.0\nfile pong.ffconcat\n",
            ),
            (
                "pong.ffconcat",
                "ffconcat version 1.0\nfile ping.ffconcat\n",
            ),
        ],
    );
    for (list, depth, expected) in [
        ("self.ffconcat", None, 10),
        ("self.ffconcat", Some("3"), 3),
        ("self.ffconcat", Some("1"), 1),
        ("ping.ffconcat", None, 10),
    ] {
        let store = case.store.fresh();
        let mut options = DemuxerOptions::new();
        if let Some(d) = depth {
            options = options.option("recursion_depth", d);
        }
        let err = case
            .open_with(list, options, store.clone())
            .map(drop)
            .unwrap_err();
        assert_eq!(
            err.code(),
            Some(ffio::sys::AVERROR_INVALIDDATA),
            "{list}: {err:?}"
        );
        assert!(
            err.chain().to_lowercase().contains("recursion"),
            "{list}: a clear error: {}",
            err.chain()
        );
        assert_eq!(
            store.names().len(),
            expected,
            "{list} {depth:?}: {:?}",
            store.names()
        );
        assert_eq!(store.alive(), 0, "{list}: every stream dropped");
    }
    // Depth 0: the list itself is refused, nothing is asked.
    let (err, store) = case.open_error(
        "self.ffconcat",
        DemuxerOptions::new().option("recursion_depth", "0"),
    );
    assert_eq!(err.code(), Some(ffio::sys::AVERROR_INVALIDDATA), "{err:?}");
    assert!(store.names().is_empty());
}

// ---------------------------------------------------------------------------------------
// Safe mode
// ---------------------------------------------------------------------------------------

/// Names concatdec.c's safe_filename refuses: anything but `[A-Za-z0-9_-]` and `.`/`/`
/// after the first character of a path component.
const UNSAFE: &[&str] = &[
    "../x.ts",
    "/abs.ts",
    ".hidden.ts",
    "file:a.ts",
    "http://169.254.169.254/x",
    "a b.ts",
    "sub/../a.ts",
    "sub/.x.ts",
    "a.ts?x=1",
];

#[test]
fn safe_mode_refuses_unsafe_names_before_the_opener_is_asked() {
    quiet();
    let case = Case::new("safe", &[("a.ts", "h264_aac.ts")], &[]);
    for (i, name) in UNSAFE.iter().enumerate() {
        // Alone, and after a safe name: the whole script is checked before any part opens.
        for (j, names) in [vec![*name], vec!["a.ts", *name]].into_iter().enumerate() {
            let list = format!("unsafe{i}_{j}.ffconcat");
            std::fs::write(case.path(&list), list_of(&names)).unwrap();
            let (detail, message) = ffprobe_failure(&case.path(&list), &[]);
            assert_eq!(
                detail.as_deref(),
                Some(format!("Unsafe file name '{name}'").as_str()),
                "ffprobe on {names:?}"
            );
            let (err, store) = case.open_error(&list, DemuxerOptions::new());
            assert_eq!(
                err.code(),
                Some(ffio::sys::AVERROR(libc::EPERM)),
                "{name}: {err:?}"
            );
            assert_ffmpeg_error(&err, detail.as_deref(), &message);
            assert!(store.names().is_empty(), "{name}: {:?}", store.names());
        }
    }
}

#[test]
fn with_safe_0_every_name_reaches_the_opener_verbatim() {
    quiet();
    for name in UNSAFE {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let opener = move |asked: &str, mode: OpenMode| -> io::Result<Opened> {
            log.lock().unwrap().push((asked.to_owned(), mode));
            Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("not served: {asked}"),
            ))
        };
        let list = list_of(&[name, "b.ts"]);
        let err = DemuxerOptions::new()
            .option("safe", "0")
            .opener(opener)
            .open(ffio::CustomIo::seekable_reader(Cursor::new(list.into_bytes())).unwrap())
            .map(drop)
            .unwrap_err();
        match &err {
            Error::Io(e) => {
                assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{name}");
                assert_eq!(e.to_string(), format!("not served: {name}"));
            }
            other => panic!("{name}: {other:?}"),
        }
        // The very error is the source.
        let source = std::error::Error::source(&err).expect("a source");
        assert_eq!(source.to_string(), format!("not served: {name}"));
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen, [(name.to_string(), OpenMode::Read)], "{name}");
    }
}

// ---------------------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------------------

/// The two-part MPEG-TS case of the fault tests (in a directory of its own per test), its packets per ffprobe, and the number
/// of the first part's.
fn fault_case(test: &str) -> (Case, Vec<ProbePacket>, usize) {
    let case = Case::new(
        test,
        &[("a.ts", "h264_aac.ts"), ("b.ts", "other.ts")],
        &[("list.ffconcat", &list_of(&["a.ts", "b.ts"]))],
    );
    let expected = ffprobe_packets_with(&case.path("list.ffconcat"), &[]);
    let first = packets_of(&case.path("a.ts"));
    assert!(first > 0 && first < expected.len());
    (case, expected, first)
}

#[test]
fn the_openers_error_for_part_2_comes_back_from_read_packet_as_io() {
    quiet();
    let (case, expected, first) = fault_case("open_fails");
    let store = case.store.with_fault("b.ts", PartFault::OpenFails);
    let mut demuxer = case
        .open_with("list.ffconcat", DemuxerOptions::new(), store.clone())
        .expect("part 2 is opened lazily");
    let got = read_to_end(&mut demuxer, &store);
    match &got.error {
        Some(Error::Io(e)) => {
            assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
            assert_eq!(e.to_string(), "store refuses b.ts");
        }
        other => panic!("{other:?}"),
    }
    assert_same_packets("part 1", &got.packets, &expected[..first]);
    assert_eq!(store.names(), ["a.ts", "b.ts"]);
    // No clean end after the error.
    assert!(demuxer.read_packet().is_err());
    drop(demuxer);
    assert_eq!(store.alive(), 0);
    // For part 1 the open fails.
    let store = case.store.with_fault("a.ts", PartFault::OpenFails);
    let err = case
        .open_with("list.ffconcat", DemuxerOptions::new(), store.clone())
        .map(drop)
        .unwrap_err();
    assert_eq!(
        err.io_error().map(|e| e.to_string()).as_deref(),
        Some("store refuses a.ts")
    );
    assert_eq!(store.names(), ["a.ts"]);
}

#[test]
fn the_openers_panic_is_resumed_from_the_call_that_asked() {
    quiet();
    silence_injected_panics();
    let (case, expected, first) = fault_case("open_panics");
    // Part 1: from the open.
    let store = case.store.with_fault("a.ts", PartFault::OpenPanics);
    let payload = panic::catch_unwind(AssertUnwindSafe(|| {
        case.open_with("list.ffconcat", DemuxerOptions::new(), store.clone())
            .map(drop)
    }))
    .unwrap_err();
    assert_eq!(
        payload.downcast_ref::<String>().map(String::as_str),
        Some("injected: store panics on a.ts")
    );
    assert_eq!(store.alive(), 0);
    // Part 2: from the read that needed it, after part 1's packets.
    let store = case.store.with_fault("b.ts", PartFault::OpenPanics);
    let mut demuxer = case
        .open_with("list.ffconcat", DemuxerOptions::new(), store.clone())
        .unwrap();
    let mut packets = Vec::new();
    let payload = panic::catch_unwind(AssertUnwindSafe(|| {
        let mut packet = ffio::Packet::new();
        while demuxer.read_packet_into(&mut packet)? {
            packets.push(ProbePacket::from_packet(&packet));
        }
        Ok::<_, Error>(())
    }))
    .unwrap_err();
    assert_eq!(
        payload.downcast_ref::<String>().map(String::as_str),
        Some("injected: store panics on b.ts")
    );
    assert_same_packets("before the panic", &packets, &expected[..first]);
    assert!(matches!(demuxer.read_packet(), Err(Error::Poisoned)));
    drop(demuxer);
    assert_eq!(store.alive(), 0);
}

#[test]
fn cancelling_while_a_part_is_opened_stops_the_list() {
    quiet();
    let (case, expected, first) = fault_case("cancel");
    let handle: Arc<Mutex<Option<ffio::CancelHandle>>> = Arc::default();
    let cancel = handle.clone();
    let store = case.store.fresh();
    let mut inner = store.clone();
    let opener = move |name: &str, mode: OpenMode| {
        if name == "b.ts" {
            // Cancelled while part 2 is being opened: nothing of it may be read.
            cancel.lock().unwrap().as_ref().unwrap().cancel();
        }
        ffio::Opener::open(&mut inner, name, mode)
    };
    let mut demuxer = case.open_through("list.ffconcat", opener);
    *handle.lock().unwrap() = Some(demuxer.cancel_handle());
    let got = read_to_end(&mut demuxer, &store);
    let err = got.error.expect("cancelled");
    assert!(matches!(err, Error::Cancelled { .. }), "{err:?}");
    assert_same_packets("before the cancel", &got.packets, &expected[..first]);
    let again = demuxer.read_packet();
    assert!(matches!(again, Err(Error::Cancelled { .. })), "{again:?}");
    assert_eq!(
        store.names(),
        ["a.ts", "b.ts"],
        "nothing opened after the cancel"
    );
    drop(demuxer);
    assert_eq!(store.alive(), 0);
}

#[test]
fn a_deadline_covers_the_parts() {
    quiet();
    // A part whose reader stalls: the list's deadline stops it. Part b.ts takes 188 bytes a
    // read, some 600 reads, so it needs at least 600 pauses (12 s, 30 s under memcheck),
    // well past the deadline (2 s, 10 s: part a.ts takes 1-2 s under memcheck).
    let (case, _, _) = fault_case("deadline");
    let (limit, pause) = if under_memcheck() { (10, 50) } else { (2, 20) };
    struct Slow(Cursor<Vec<u8>>, Duration, Arc<AtomicUsize>);
    impl Read for Slow {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.2.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(self.1);
            let n = buf.len().min(188);
            self.0.read(&mut buf[..n])
        }
    }
    impl Seek for Slow {
        fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
            self.0.seek(pos)
        }
    }
    let files = case.store.files.clone();
    let slow_reads = Arc::new(AtomicUsize::new(0));
    let counter = slow_reads.clone();
    let opener = move |name: &str, _: OpenMode| -> io::Result<Opened> {
        let data = files.get(name).cloned().unwrap();
        if name == "b.ts" {
            let pause = Duration::from_millis(pause);
            Ok(Opened::seekable_reader(Slow(
                Cursor::new(data),
                pause,
                counter.clone(),
            )))
        } else {
            Ok(Opened::seekable_reader(Cursor::new(data)))
        }
    };
    let bytes = std::fs::read(case.path("list.ffconcat")).unwrap();
    let started = std::time::Instant::now();
    let mut demuxer = DemuxerOptions::new()
        .opener(opener)
        .timeout(Duration::from_secs(limit))
        .open(ffio::CustomIo::seekable_reader(Cursor::new(bytes)).unwrap())
        .unwrap();
    let mut packet = ffio::Packet::new();
    let err = loop {
        match demuxer.read_packet_into(&mut packet) {
            Ok(true) => {}
            Ok(false) => panic!("the slow part ended within the deadline"),
            Err(e) => break e,
        }
    };
    assert!(
        slow_reads.load(Ordering::Relaxed) > 0,
        "the deadline came before the slow part"
    );
    assert!(matches!(err, Error::DeadlineExceeded { .. }), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(limit + 5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn after_a_parts_failure_a_seek_to_0_brings_the_list_back() {
    quiet();
    // concat_seek reopens part 1 (open_file) whatever happened to the current one; ffio's
    // documented recovery (a successful seek clears a failure) holds for lists too. The
    // opener refuses b.ts once, then serves it.
    let (case, expected, first) = fault_case("recover");
    let store = case.store.fresh();
    let refused = Arc::new(AtomicUsize::new(0));
    let mut inner = store.clone();
    let count = refused.clone();
    let opener = move |name: &str, mode: OpenMode| {
        if name == "b.ts" && count.fetch_add(1, Ordering::SeqCst) == 0 {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "store busy"));
        }
        ffio::Opener::open(&mut inner, name, mode)
    };
    let mut demuxer = case.open_through("list.ffconcat", opener);
    let got = read_to_end(&mut demuxer, &store);
    assert_eq!(
        got.error.as_ref().and_then(Error::io_error_kind),
        Some(io::ErrorKind::TimedOut),
        "{:?}",
        got.error
    );
    assert_same_packets("before the failure", &got.packets, &expected[..first]);
    demuxer.seek(Duration::ZERO).unwrap();
    // Through MPEG-TS's seek (by bytes): what ffprobe reads after its own seek to the
    // list's 0 (the same call, -read_intervals 0%: target 0, the list's start).
    let after = ffprobe_packets_with(&case.path("list.ffconcat"), &["-read_intervals", "0%"]);
    let got = read_to_end(&mut demuxer, &store);
    assert!(got.error.is_none(), "{:?}", got.error);
    assert_same_packets("after the seek", &got.packets, &after);
    // (The refused request never reached the store, which logs what it serves.)
    assert_eq!(store.names(), ["a.ts", "a.ts", "b.ts"]);
}

/// At least 16 offsets over a part of `len` bytes: the first bytes, the first TS packets,
/// evenly spread, the last byte.
fn part_offsets(len: u64) -> Vec<u64> {
    let mut v = vec![0, 1, 187, 188, 189, 376, 1000, 4096];
    for i in 0..16 {
        v.push((len - 1) * i / 15);
    }
    v.push(len - 1);
    v.sort_unstable();
    v.dedup();
    assert!(v.len() >= 16, "{v:?}");
    v
}

#[test]
fn a_part_reader_failing_anywhere_is_io() {
    quiet();
    let (case, expected, _) = fault_case("reader_fails");
    let mut injected = 0;
    for part in ["a.ts", "b.ts"] {
        let len = std::fs::metadata(case.path(part)).unwrap().len();
        for at in memcheck_sample(part_offsets(len), 4) {
            let what = format!("{part} failing at {at}");
            let message = format!("part store lost {part} at {at}");
            let fault = Fault::Fail(io::ErrorKind::ConnectionReset, message.clone());
            let store = case.store.with_fault(part, PartFault::Reader(at, fault));
            let result = case.open_with("list.ffconcat", DemuxerOptions::new(), store.clone());
            let (packets, error) = match result {
                Ok(mut d) => {
                    let got = read_to_end(&mut d, &store);
                    (got.packets, got.error)
                }
                Err(e) => (Vec::new(), Some(e)),
            };
            if store.tripped.load(Ordering::SeqCst) == 0 {
                assert!(error.is_none(), "{what}: {error:?}");
                assert_same_packets(&what, &packets, &expected);
                continue;
            }
            injected += 1;
            match &error {
                Some(Error::Io(e)) => {
                    assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{what}");
                    assert_eq!(e.to_string(), message, "{what}");
                }
                other => panic!(
                    "{what}: expected Error::Io after {} packets, got {other:?}",
                    packets.len()
                ),
            }
            // Every packet before the failure is ffprobe's (the last one may be the part
            // of a PES packet the demuxer flushed at the failure).
            assert!(packets.len() <= expected.len(), "{what}");
            let whole = packets.len().saturating_sub(1);
            assert_same_packets(&what, &packets[..whole], &expected[..whole]);
            assert_eq!(store.alive(), 0, "{what}: dropped with the demuxer");
        }
    }
    assert!(injected >= 4, "faults really injected: {injected}");
}

#[test]
fn a_part_reader_panicking_anywhere_is_resumed() {
    quiet();
    silence_injected_panics();
    let (case, expected, _) = fault_case("reader_panics");
    let mut injected = 0;
    for part in ["a.ts", "b.ts"] {
        let len = std::fs::metadata(case.path(part)).unwrap().len();
        for at in memcheck_sample(part_offsets(len), 4) {
            let what = format!("{part} panicking at {at}");
            let message = format!("injected: {part} reader panics at {at}");
            let store = case
                .store
                .with_fault(part, PartFault::Reader(at, Fault::Panic(message.clone())));
            let mut count = 0;
            let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
                let mut d =
                    case.open_with("list.ffconcat", DemuxerOptions::new(), store.clone())?;
                let mut packet = ffio::Packet::new();
                while d.read_packet_into(&mut packet)? {
                    count += 1;
                }
                Ok::<_, Error>(())
            }));
            if store.tripped.load(Ordering::SeqCst) == 0 {
                outcome.expect(&what).expect(&what);
                assert_eq!(count, expected.len(), "{what}");
                continue;
            }
            injected += 1;
            let payload = outcome.expect_err(&what);
            assert_eq!(
                payload.downcast_ref::<String>(),
                Some(&message),
                "{what}: the reader's own panic"
            );
            assert_eq!(
                store.tripped.load(Ordering::SeqCst),
                1,
                "{what}: called once"
            );
            assert_eq!(store.alive(), 0, "{what}: dropped with the demuxer");
        }
    }
    assert!(injected >= 4, "panics really injected: {injected}");
}

// ---------------------------------------------------------------------------------------
// Seeking
// ---------------------------------------------------------------------------------------

/// `start_time` of ffprobe's `-show_format` of `path` (with `args`), in microseconds.
fn ffprobe_start_us(path: &Path, args: &[&str]) -> i64 {
    let mut all = vec![
        "-v",
        "error",
        "-show_entries",
        "format=start_time",
        "-of",
        "csv=p=0",
    ];
    all.extend_from_slice(args);
    let out = run_ffprobe(&all, path, ProbeInput::File);
    assert!(out.success, "{}", out.stderr);
    // "-0.023220": seconds with six decimals, i.e. exact microseconds.
    micros(out.stdout.trim())
}

/// The `Demuxer::seek` position that makes FFmpeg's target timestamp `target_us`
/// (`Demuxer::seek` adds the container's start time, like `ffmpeg -ss`).
fn position_for(target_us: i64, start_us: i64) -> Duration {
    Duration::from_micros(u64::try_from(target_us - start_us).unwrap())
}

#[test]
fn seeking_with_known_durations_lands_in_the_right_part() {
    quiet();
    // Three 2-second MP4 parts, each with `duration 2`: every part's start is known
    // (concat_read_header: seekable), part k starts at 2k s. MP4 seeks are exact (the
    // index), unlike MPEG-TS's byte-position guesses.
    let text = "ffconcat version 1.0\n\
                file c.mp4\nduration 2\n\
                file c.mp4\nduration 2\n\
                file c.mp4\nduration 2\n";
    let case = Case::new(
        "seek",
        &[("c.mp4", "h264_aac.mp4")],
        &[("list.ffconcat", text)],
    );
    let list = case.path("list.ffconcat");
    let per_part = packets_of(&case.path("c.mp4"));

    // To the start of part 2 (target 2 s): real_seek picks part 2 (files[1].start_time <=
    // ts), try_seek asks the part for its own time 0, the keyframe at or before it is its
    // first sample: ffprobe's packets from part 2's first on.
    let full = ffprobe_packets_with(&list, &[]);
    assert_eq!(full.len(), 3 * per_part);
    let start = ffprobe_start_us(&list, &[]);
    let store = case.store.fresh();
    let mut d = case
        .open_with("list.ffconcat", DemuxerOptions::new(), store.clone())
        .unwrap();
    d.seek(position_for(2_000_000, start)).unwrap();
    let got = read_to_end(&mut d, &store);
    assert!(got.error.is_none(), "{:?}", got.error);
    assert_same_packets("from part 2", &got.packets, &full[per_part..]);
    assert_eq!(store.names(), ["c.mp4"; 3]);
    // The same through the video stream's time base (2 s = 25600 in 1/12800): real_seek
    // rescales it to the same target, whatever the container's start time.
    let video_tb = ffprobe_streams(&case.path("c.mp4"))[0]["time_base"].clone();
    assert_eq!(video_tb, "1/12800");
    let store = case.store.fresh();
    let mut d = case
        .open_with("list.ffconcat", DemuxerOptions::new(), store.clone())
        .unwrap();
    d.seek_stream(0, 25_600).unwrap();
    let got = read_to_end(&mut d, &store);
    assert!(got.error.is_none(), "{:?}", got.error);
    assert_same_packets("seek_stream to part 2", &got.packets, &full[per_part..]);

    // Into the middle of part 2 (target 3 s), auto_convert=0: the part is asked for 1 s,
    // and gives what ffprobe's -read_intervals 1% gives on the part alone (the same
    // av_seek_frame(-1, 1 s, AVSEEK_FLAG_BACKWARD)), shifted by part 2's start (2 s in
    // each stream's time base); then part 3 as in the whole list.
    let plain = ffprobe_packets_with(&list, &["-auto_convert", "0"]);
    let part = ffprobe_packets_with(&case.path("c.mp4"), &["-read_intervals", "1%"]);
    let time_bases: Vec<i64> = ffprobe_streams(&case.path("c.mp4"))
        .iter()
        .map(|s| {
            let (one, den) = s["time_base"].split_once('/').unwrap();
            assert_eq!(one, "1");
            den.parse().unwrap()
        })
        .collect();
    let mut expected: Vec<ProbePacket> = part
        .into_iter()
        .map(|mut p| {
            let shift = 2 * time_bases[p.stream_index];
            p.pts = p.pts.map(|t| t + shift);
            p.dts = p.dts.map(|t| t + shift);
            p
        })
        .collect();
    assert!(
        expected.len() < per_part,
        "the part's seek skipped something"
    );
    expected.extend_from_slice(&plain[2 * per_part..]);
    let start = ffprobe_start_us(&list, &["-auto_convert", "0"]);
    let store = case.store.fresh();
    let mut d = case
        .open_with(
            "list.ffconcat",
            DemuxerOptions::new().option("auto_convert", "0"),
            store.clone(),
        )
        .unwrap();
    // Read into part 3 first: the seek goes back.
    let mut packet = ffio::Packet::new();
    for _ in 0..2 * per_part + 5 {
        assert!(d.read_packet_into(&mut packet).unwrap());
    }
    d.seek(position_for(3_000_000, start)).unwrap();
    let got = read_to_end(&mut d, &store);
    assert!(got.error.is_none(), "{:?}", got.error);
    assert_same_packets("from 3 s", &got.packets, &expected);
    drop(d);
    assert_eq!(store.alive(), 0);
}

#[test]
fn seeking_within_the_first_part_is_ffprobes_seek() {
    quiet();
    // For targets in part 1 (whose start in the list is 0) ffprobe's -read_intervals T%
    // makes the same calls as Demuxer::seek: avformat_seek_file on the list, then on the
    // part with the same target (try_seek: t0 = 0 - the part's start), backwards. (For
    // later parts ffprobe's own call overflows: -INT64_MAX - t0 in try_seek, "Operation
    // not permitted"; those are checked by hand above.) Targets are absolute, as ffprobe
    // takes them: Demuxer::seek adds the list's start time, given from ffprobe's.
    let mp4 = "ffconcat version 1.0\nfile c.mp4\nduration 2\nfile c.mp4\nduration 2\n";
    let case = Case::new(
        "seek_first",
        &[("c.mp4", "h264_aac.mp4"), ("a.ts", "h264_aac.ts")],
        &[
            ("mp4.ffconcat", mp4),
            ("ts.ffconcat", &list_of(&["a.ts", "a.ts"])),
        ],
    );
    for (list, options, targets) in [
        (
            "mp4.ffconcat",
            &[("auto_convert", "0")][..],
            &["0", "0.5", "1", "1.9"][..],
        ),
        ("mp4.ffconcat", &[][..], &["0.7"][..]),
        ("ts.ffconcat", &[][..], &["0"][..]),
    ] {
        let args = ffprobe_args(true, options);
        let start = ffprobe_start_us(&case.path(list), &strs(&args));
        for target in targets {
            let mut with = strs(&args);
            let interval = format!("{target}%");
            with.extend(["-read_intervals", interval.as_str()]);
            let expected = ffprobe_packets_with(&case.path(list), &with);
            let store = case.store.fresh();
            let mut d = case
                .open_with(list, ffio_options(true, options), store.clone())
                .unwrap();
            // Somewhere into the list first.
            let mut packet = ffio::Packet::new();
            for _ in 0..40 {
                assert!(d.read_packet_into(&mut packet).unwrap());
            }
            let us = (target.parse::<f64>().unwrap() * 1e6).round() as i64;
            assert!(
                us >= start,
                "{list}: target {target} before the start {start}"
            );
            // The target through the first stream's time base first (no start time
            // added), then through Demuxer::seek.
            let tb = d.stream(0).unwrap().time_base();
            assert_eq!(tb.num, 1);
            d.seek_stream(0, us * i64::from(tb.den) / 1_000_000)
                .unwrap();
            let got = read_to_end(&mut d, &store);
            assert!(got.error.is_none(), "{list} {target}: {:?}", got.error);
            assert_same_packets(
                &format!("{list} {options:?} seek_stream to {target}"),
                &got.packets,
                &expected,
            );
            d.seek(position_for(us, start)).unwrap();
            let got = read_to_end(&mut d, &store);
            assert!(got.error.is_none(), "{list} {target}: {:?}", got.error);
            assert_same_packets(
                &format!("{list} {options:?} seek to {target}"),
                &got.packets,
                &expected,
            );
        }
    }
}

#[test]
fn seeking_without_known_durations_goes_to_0_only() {
    quiet();
    // No durations: concat_read_header leaves the list unseekable; real_seek still
    // serves ts <= 0 (part 1) and refuses anything later with AVERROR(ESPIPE), restoring
    // the current part (concat_seek).
    let case = Case::new(
        "seek0",
        &[("c.mp4", "h264_aac.mp4")],
        &[("list.ffconcat", &list_of(&["c.mp4", "c.mp4"]))],
    );
    let list = case.path("list.ffconcat");
    let options = [("auto_convert", "0")];
    let full = ffprobe_packets_with(&list, &["-auto_convert", "0"]);
    // ffprobe refuses the later seek too (its own seek call, same refusal).
    let refused = run_ffprobe(
        &[
            "-v",
            "error",
            "-read_intervals",
            "1%",
            "-show_entries",
            "packet=pts",
        ],
        &list,
        ProbeInput::File,
    );
    assert!(
        refused.stderr.contains("Illegal seek"),
        "{}",
        refused.stderr
    );
    let store = case.store.fresh();
    let mut d = case
        .open_with("list.ffconcat", ffio_options(true, &options), store.clone())
        .unwrap();
    let got = read_to_end(&mut d, &store);
    assert!(got.error.is_none());
    assert_same_packets("first pass", &got.packets, &full);
    d.seek(Duration::ZERO).unwrap();
    let got = read_to_end(&mut d, &store);
    assert!(got.error.is_none(), "{:?}", got.error);
    assert_same_packets("after seek(0)", &got.packets, &full);
    assert_eq!(store.names(), ["c.mp4"; 4]);
    // A later seek fails (FFmpeg: AVERROR(ESPIPE), ffprobe's "Illegal seek" above) as
    // Error::NotSeekable naming the remedy, and leaves the demuxer usable.
    let err = d.seek(Duration::from_secs(1)).unwrap_err();
    assert!(matches!(err, Error::NotSeekable { .. }), "{err:?}");
    assert!(err.to_string().contains("duration"), "{err}");
    d.seek(Duration::ZERO).unwrap();
    let got = read_to_end(&mut d, &store);
    assert!(got.error.is_none(), "{:?}", got.error);
    assert_same_packets("seek(0) after the refusal", &got.packets, &full);
    drop(d);
    assert_eq!(store.alive(), 0);
}

#[test]
fn every_readable_fixture_concatenated_with_itself_follows_ffprobe() {
    // Each fixture twice, and the mixed pair of it and the MPEG-TS one: whatever the
    // container, codec and stream layout (subtitles, data streams, audio only, HEVC,
    // VP9, interlaced MPEG-2), the packets are FFmpeg's concat's.
    let mut failures = Vec::new();
    for name in memcheck_sample(READABLE.to_vec(), 4) {
        let ext = name.rsplit('.').next().unwrap();
        let (x, y) = (format!("x.{ext}"), format!("y.{ext}"));
        let dir = scratch_dir("concat", &format!("fixture_{name}"));
        std::fs::copy(fixture(name), dir.join(&x)).unwrap();
        std::fs::copy(fixture(name), dir.join(&y)).unwrap();
        std::fs::copy(fixture("h264_aac.ts"), dir.join("t.ts")).unwrap();
        std::fs::write(dir.join("twice.ffconcat"), list_of(&[&x, &y])).unwrap();
        std::fs::write(dir.join("mixed.ffconcat"), list_of(&["t.ts", &x])).unwrap();
        let case = Case {
            store: Store::of_dir(&dir),
            dir,
        };
        for list in ["twice.ffconcat", "mixed.ffconcat"] {
            let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
                same_as_ffprobe(&case, list, true, &[]);
            }));
            if let Err(payload) = outcome {
                let text = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .unwrap_or_default();
                failures.push(format!("{name} {list}: {text}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_cut_part_is_reported_and_strict_makes_it_an_error() {
    quiet();
    // An MP4 part cut in its media data (its index promises more). With auto_convert=0
    // FFmpeg's concat reads what the part has and goes on with the next; ffio reports the
    // cut (truncation()), and with strict() the read that meets it fails.
    let case = Case::new(
        "cut_part",
        &[("a.ts", "h264_aac.ts")],
        &[("list.ffconcat", &list_of(&["a.ts", "cut.mp4", "a.ts"]))],
    );
    std::fs::copy(fixture("truncated_faststart.mp4"), case.path("cut.mp4")).unwrap();
    let case = Case {
        store: Store::of_dir(&case.dir),
        dir: case.dir,
    };
    let plain = [("auto_convert", "0")];
    same_as_ffprobe(&case, "list.ffconcat", true, &plain);
    let mut d = case
        .open("list.ffconcat", ffio_options(true, &plain))
        .unwrap();
    assert!(d.truncation().is_none());
    let got = read_to_end(&mut d, &case.store);
    assert!(got.error.is_none());
    assert!(d.truncation().is_some(), "the cut part is reported");
    let expected = ffprobe_packets_with(&case.path("list.ffconcat"), &["-auto_convert", "0"]);
    let (got, _) = case.read_list("list.ffconcat", ffio_options(true, &plain).strict(true));
    assert!(
        matches!(got.error, Some(Error::Truncated(_))),
        "{:?}",
        got.error
    );
    let first = packets_of(&case.path("a.ts"));
    assert!(got.packets.len() > first, "part 1 and some of part 2");
    assert!(got.packets.len() <= expected.len() - first, "never part 3");
    assert_same_packets(
        "before the cut",
        &got.packets,
        &expected[..got.packets.len()],
    );
    // With auto_convert (the default) the cut packet fails h264_mp4toannexb, which
    // FFmpeg's concat returns as av_read_frame's error ("h264_mp4toannexb filter failed
    // to receive output packet"): ffprobe stops there without complaint; ffio says so.
    let (got, _) = case.read_list("list.ffconcat", DemuxerOptions::new());
    let converted = ffprobe_packets_with(&case.path("list.ffconcat"), &[]);
    assert!(converted.len() < expected.len(), "ffprobe stops early too");
    assert_same_packets("up to the filter's failure", &got.packets, &converted);
    assert!(
        matches!(got.error, Some(Error::Ffmpeg { .. })),
        "{:?}",
        got.error
    );
}

#[test]
fn keep_streams_keeps_the_lists_streams_packets() {
    quiet();
    // The packets of the kept stream are those ffprobe shows for it, the others none
    // (by hand: FFmpeg's concat passes the parts' packets per stream unchanged).
    let case = mixed_case("keep");
    let all = ffprobe_packets_with(&case.path("list.ffconcat"), &[]);
    for keep in [0, 1] {
        let store = case.store.fresh();
        let mut d = case
            .open_with("list.ffconcat", DemuxerOptions::new(), store.clone())
            .unwrap();
        d.keep_streams(&[keep]).unwrap();
        let got = read_to_end(&mut d, &store);
        assert!(got.error.is_none(), "{:?}", got.error);
        // keep_streams' documentation: packets queued before the call (while the open
        // found the list's start) may still come; no others.
        let (kept, queued): (Vec<ProbePacket>, Vec<ProbePacket>) = got
            .packets
            .into_iter()
            .partition(|p| p.stream_index == keep);
        assert!(
            queued.len() < 10,
            "{} packets of other streams",
            queued.len()
        );
        let expected: Vec<ProbePacket> = all
            .iter()
            .filter(|p| p.stream_index == keep)
            .cloned()
            .collect();
        assert_same_packets(&format!("stream {keep}"), &kept, &expected);
        assert_eq!(store.names(), ["c.mp4", "d.mkv", "a.ts"]);
    }
}

#[test]
fn boolean_options_take_what_ffmpeg_takes() {
    quiet();
    // safe is an AV_OPT_TYPE_BOOL: av_opt_set reads "true,y,yes,enable,enabled,on",
    // "false,n,no,disable,disabled,off" or a whole strtol number (leading spaces, a sign,
    // leading zeros) in [0, 1]; anything else is refused. Which value means what comes
    // from ffprobe -safe VALUE on a list whose one name is unsafe: refused (safe on),
    // read (safe off), or the option refused.
    let case = Case::new(
        "bool_options",
        &[("a b.ts", "h264_aac.ts")],
        &[("list.ffconcat", "ffconcat version 1.0\nfile 'a b.ts'\n")],
    );
    let values = [
        "1", "0", "true", "false", "yes", "no", "on", "off", "enable", "disable", "y", "n",
        "enabled", "disabled", "TRUE", "01", "+0", " 0", "0 ", "2", "-1", "auto", "maybe", "",
    ];
    let mut wrong = Vec::new();
    for value in values {
        let out = run_ffprobe(
            &[
                "-v",
                "error",
                "-safe",
                value,
                "-show_entries",
                "format=nb_streams",
            ],
            &case.path("list.ffconcat"),
            ProbeInput::File,
        );
        let theirs = if out.stderr.contains("Unsafe file name") {
            "safe"
        } else if out.success {
            "unsafe"
        } else if out.stderr.contains("Unable to parse") && out.stderr.contains("as boolean") {
            // 5.1: `Unable to parse option value "V" as boolean`; 9.0: `Unable to parse
            // "safe" option value "V" as boolean`.
            "refused"
        } else {
            panic!("ffprobe -safe {value:?}: {}", out.stderr)
        };
        let ours = match case.open("list.ffconcat", DemuxerOptions::new().option("safe", value)) {
            Ok(_) => "unsafe",
            Err(e) if e.code() == Some(ffio::sys::AVERROR(libc::EPERM)) => "safe",
            Err(Error::InvalidOption { .. }) => "refused",
            Err(e) => panic!("safe={value:?}: {e:?}"),
        };
        if ours != theirs {
            wrong.push(format!("safe={value:?}: ffio {ours}, ffprobe {theirs}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn seeking_into_parts_with_in_and_out_points() {
    quiet();
    // An inpoint and an outpoint make a part's duration known (outpoint - inpoint): the
    // list is seekable. Part 2 starts at 2 s and holds its file's 0.5 s to 1.5 s; part 3
    // starts at 3 s. A seek to a part's start asks the part for its inpoint (try_seek:
    // ts - (start - inpoint)), the very call open_file makes for the inpoint when the
    // part is reached by reading: the packets are the list's from that part's first on.
    let text = "ffconcat version 1.0\n\
                file c.mp4\nduration 2\n\
                file c.mp4\ninpoint 0.5\noutpoint 1.5\n\
                file c.mp4\nduration 2\n";
    let alone = "ffconcat version 1.0\nfile c.mp4\ninpoint 0.5\noutpoint 1.5\n";
    let case = Case::new(
        "seek_points",
        &[("c.mp4", "h264_aac.mp4")],
        &[("list.ffconcat", text), ("alone.ffconcat", alone)],
    );
    let full = ffprobe_packets_with(&case.path("list.ffconcat"), &[]);
    let first = packets_of(&case.path("c.mp4"));
    // Part 2's packets are those of the same part alone in a list.
    let second = ffprobe_packets_with(&case.path("alone.ffconcat"), &[]).len();
    assert_eq!(full.len(), 2 * first + second);
    same_tags_as_ffprobe(&case, "list.ffconcat", &[("segment_time_metadata", "1")]);
    for (target, from) in [(25_600, first), (38_400, first + second), (0, 0)] {
        let store = case.store.fresh();
        let mut d = case
            .open_with("list.ffconcat", DemuxerOptions::new(), store.clone())
            .unwrap();
        // (video time base 1/12800: 2 s, 3 s, 0 s)
        d.seek_stream(0, target).unwrap();
        let got = read_to_end(&mut d, &store);
        assert!(got.error.is_none(), "{:?}", got.error);
        assert_same_packets(&format!("seek to {target}"), &got.packets, &full[from..]);
    }
}

#[test]
fn a_nested_list_gets_the_default_options_not_its_parents() {
    quiet();
    // open_file passes a part only its `option` directives and recursion_depth: a nested
    // list has safe=1 and auto_convert=1 whatever the outer list was given.
    let case = Case::new(
        "nested_options",
        &[("a b.ts", "h264_aac.ts"), ("c.mp4", "h264_aac.mp4")],
        &[
            ("unsafe.ffconcat", &list_of(&["inner_unsafe.ffconcat"])),
            ("inner_unsafe.ffconcat", &list_of(&["a b.ts"])),
            ("mp4.ffconcat", &list_of(&["inner_mp4.ffconcat", "c.mp4"])),
            ("inner_mp4.ffconcat", &list_of(&["c.mp4"])),
        ],
    );
    // The outer list is unsafe, the inner one is not: refused, as ffprobe refuses it.
    let (detail, message) = ffprobe_failure(&case.path("unsafe.ffconcat"), &["-safe", "0"]);
    assert_eq!(
        detail.as_deref(),
        Some("Unsafe file name 'a b.ts'"),
        "ffprobe's first line"
    );
    let (err, store) =
        case.open_error("unsafe.ffconcat", DemuxerOptions::new().option("safe", "0"));
    assert_eq!(err.code(), Some(ffio::sys::AVERROR(libc::EPERM)), "{err:?}");
    match &err {
        Error::Ffmpeg { message: m, .. } => assert_eq!(m, &message),
        other => panic!("{other:?}"),
    }
    assert_eq!(store.names(), ["inner_unsafe.ffconcat"]);
    // auto_convert=0 on the outer list: the inner list still converts its MP4 (the
    // payloads; the timestamps are the next test's).
    let payload = |p: &ProbePacket| (p.stream_index, p.size, p.key, p.crc32);
    let expected: Vec<_> =
        ffprobe_packets_with(&case.path("mp4.ffconcat"), &["-auto_convert", "0"])
            .iter()
            .map(payload)
            .collect();
    let (got, _) = case.read_list(
        "mp4.ffconcat",
        DemuxerOptions::new().option("auto_convert", "0"),
    );
    assert!(got.error.is_none(), "{:?}", got.error);
    let got: Vec<_> = got.packets.iter().map(payload).collect();
    assert_eq!(got, expected);
    let unconverted = ffprobe_packets(&case.path("c.mp4"));
    assert_ne!(
        got[0].1, unconverted[0].size,
        "the first packet is converted"
    );
}

#[test]
fn a_nested_lists_start_time_offsets_its_packets() {
    // The outer list offsets a part's packets by the part's start time (file_start_time:
    // the part's AVFormatContext.start_time). For a nested list that is the inner list's
    // start time, which FFmpeg's stream discovery takes from its first packets: -23220 µs
    // for an MP4 with AAC priming, so the outer list moves the inner one's packets by
    // +23220 µs.
    let case = Case::new(
        "nested_start",
        &[("c.mp4", "h264_aac.mp4"), ("a.ts", "h264_aac.ts")],
        &[
            ("outer.ffconcat", &list_of(&["inner.ffconcat", "a.ts"])),
            ("inner.ffconcat", &list_of(&["c.mp4"])),
        ],
    );
    assert_eq!(
        ffprobe_start_us(&case.path("inner.ffconcat"), &[]),
        -23_220,
        "the inner list's start (ffprobe)"
    );
    same_as_ffprobe(&case, "outer.ffconcat", true, &[]);
}

#[test]
fn packet_positions_and_durations_are_ffprobes() {
    quiet();
    // Besides the fields every test compares: the byte position (the part's: concatdec.c
    // leaves pkt->pos alone) and the duration (the part's, or what FFmpeg's layer on the
    // list fills in).
    let case = Case::new(
        "pos_duration",
        &[
            ("a.ts", "h264_aac.ts"),
            ("c.mp4", "h264_aac.mp4"),
            ("d.mkv", "h264_aac.mkv"),
        ],
        &[("list.ffconcat", &list_of(&["a.ts", "c.mp4", "d.mkv"]))],
    );
    let out = run_ffprobe(
        &[
            "-v",
            "error",
            "-show_entries",
            "packet=pos,duration",
            "-of",
            "default",
        ],
        &case.path("list.ffconcat"),
        ProbeInput::File,
    );
    assert!(out.success, "{}", out.stderr);
    let expected: Vec<(Option<u64>, i64)> = sections(&out.stdout, "PACKET")
        .iter()
        .map(|p| (p["pos"].parse().ok(), p["duration"].parse().unwrap_or(0)))
        .collect();
    let mut d = case.open("list.ffconcat", DemuxerOptions::new()).unwrap();
    let mut got = Vec::new();
    let mut packet = ffio::Packet::new();
    while d.read_packet_into(&mut packet).unwrap() {
        got.push((packet.position(), packet.duration()));
    }
    assert_eq!(got.len(), expected.len());
    if let Some(i) = got.iter().zip(&expected).position(|(g, e)| g != e) {
        panic!(
            "packet {i}: (pos, duration) {:?}, ffprobe {:?}",
            got[i], expected[i]
        );
    }
}
