//! Helpers shared by the integration tests: fixture paths, ffprobe run at test time (the
//! source of expected values), a CRC-32 that matches ffprobe's `-show_data_hash CRC32`, and
//! reader wrappers for fault injection.
//!
//! Each test file includes this with `mod common;` and uses only part of it, hence the
//! `dead_code` allowances.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

/// The path of a fixture in `tests/data`. Panics if it does not exist, so a typo in a
/// fixture name cannot turn into a vacuous test.
pub fn fixture(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("data")
        .join(name);
    assert!(
        path.is_file(),
        "missing fixture {} (regenerate with tests/data/make_fixtures.sh)",
        path.display()
    );
    path
}

/// The bytes of a fixture.
pub fn fixture_bytes(name: &str) -> Vec<u8> {
    let path = fixture(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

pub mod containers;
pub mod json;
pub mod mov;

/// Every fixture FFmpeg reads completely, in every container and codec the suite covers.
/// Every test that iterates over it passes with all of them (checked when the metadata
/// fixtures were added), including remuxing into the same container.
pub const READABLE: &[&str] = &[
    "h264_moov_end.mp4",
    "h264_faststart.mp4",
    "h264_fragmented.mp4",
    "h264_aac.mp4",
    "h264_aac.ts",
    "h264_aac.mkv",
    "audio_only.m4a",
    "hevc.mp4",
    "rotated.mp4",
    "vp9_opus.webm",
    "multi_audio_subs.mkv",
    "timecode.mov",
    "id3_tags.mp3",
    "tone.flac",
    "mpeg2_interlaced.ts",
    "hevc_hdr10.mp4",
];

/// The fixtures made for the metadata tests (tests/metadata.rs), one feature each: all are
/// in [`READABLE`] too.
pub const METADATA: &[&str] = &[
    "rotated.mp4",
    "vp9_opus.webm",
    "multi_audio_subs.mkv",
    "timecode.mov",
    "id3_tags.mp3",
    "tone.flac",
    "mpeg2_interlaced.ts",
    "hevc_hdr10.mp4",
];

/// Every fixture, broken ones included.
pub const ALL_FIXTURES: &[&str] = &[
    "h264_moov_end.mp4",
    "h264_faststart.mp4",
    "h264_fragmented.mp4",
    "h264_aac.mp4",
    "h264_aac.ts",
    "h264_aac.mkv",
    "audio_only.m4a",
    "hevc.mp4",
    "rotated.mp4",
    "vp9_opus.webm",
    "multi_audio_subs.mkv",
    "timecode.mov",
    "id3_tags.mp3",
    "tone.flac",
    "mpeg2_interlaced.ts",
    "hevc_hdr10.mp4",
    "empty.bin",
    "random.bin",
    "truncated_header.mp4",
    "truncated_half.mp4",
    "truncated_moov.mp4",
    "truncated_faststart.mp4",
];

/// The path of an example program. `cargo test` builds the examples before it runs the
/// tests, next to the test binaries: target/<profile>/deps/<test> ->
/// target/<profile>/examples/<name>.
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let path = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .join("examples")
        .join(name);
    assert!(
        path.exists(),
        "{} is not built: run the tests with `cargo test` (it builds the examples)",
        path.display()
    );
    // `cargo test --test NAME` does not rebuild the examples: refuse to test a stale one.
    let built = std::fs::metadata(&path).and_then(|m| m.modified()).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let main = root.join("examples").join(format!("{name}.rs"));
    let mut sources = vec![main.clone()];
    for entry in std::fs::read_dir(root.join("src")).unwrap() {
        sources.push(entry.unwrap().path());
    }
    // The shared modules this example includes (`#[path = "common/…"]`): only those, or a
    // change to a module it does not use would make it stale forever (cargo does not
    // rebuild it for that).
    let text = std::fs::read_to_string(&main).unwrap();
    for line in text.lines() {
        if let Some(module) = line
            .trim()
            .strip_prefix("#[path = \"")
            .and_then(|rest| rest.strip_suffix("\"]"))
        {
            sources.push(root.join("examples").join(module));
        }
    }
    for source in sources {
        let changed = std::fs::metadata(&source)
            .and_then(|m| m.modified())
            .unwrap();
        assert!(
            changed <= built,
            "{} is older than {}: rebuild with plain `cargo test` \
             (or `cargo build --examples`)",
            path.display(),
            source.display()
        );
    }
    path
}

/// This process's own directory under the target directory, `GROUP/PID`, created if need
/// be: the suite may run twice at once (e.g. `cargo test` during memcheck), and fixed names
/// would clash. The first call for a group removes the directories of processes that are
/// gone.
pub fn process_dir(group: &str) -> PathBuf {
    static CLEANED: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(group);
    {
        let mut cleaned = CLEANED.lock().unwrap_or_else(|e| e.into_inner());
        if !cleaned.iter().any(|g| g == group) {
            cleaned.push(group.to_owned());
            for entry in std::fs::read_dir(&root).into_iter().flatten().flatten() {
                let gone = match entry
                    .file_name()
                    .to_str()
                    .and_then(|n| n.parse::<u32>().ok())
                {
                    Some(pid) => !Path::new(&format!("/proc/{pid}")).exists(),
                    None => true,
                };
                if gone {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
    }
    let dir = root.join(std::process::id().to_string());
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A fresh, empty directory `NAME` for one test, in [`process_dir`]`(GROUP)`.
pub fn scratch_dir(group: &str, name: &str) -> PathBuf {
    let dir = process_dir(group).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Remuxes every stream of the container in `input` into `muxer` (header written with
/// `options`, packets rescaled from their source time base) and finishes it.
pub fn remux<W: std::io::Write>(
    input: &[u8],
    mut muxer: ffio::Muxer<W>,
    options: &[(&str, &str)],
) -> ffio::Result<W> {
    let mut demuxer = ffio::Demuxer::from_slice(input)?;
    let time_bases: Vec<ffio::Rational> = demuxer.streams().map(|s| s.time_base()).collect();
    for stream in demuxer.streams() {
        muxer.add_stream_from(&stream)?;
    }
    muxer.write_header(options)?;
    let mut packet = ffio::Packet::new();
    while demuxer.read_packet_into(&mut packet)? {
        let time_base = time_bases[packet.stream_index()];
        muxer.write_packet(&mut packet, time_base)?;
    }
    Ok(muxer.finish()?)
}

/// `true` when scripts/memcheck.sh runs this test binary under valgrind (it sets
/// `FFIO_MEMCHECK=1`): the few tests whose loops would take half an hour there take every
/// few cases instead, and wall-clock bounds widen. They say so in their output.
pub fn under_memcheck() -> bool {
    std::env::var_os("FFIO_MEMCHECK").is_some_and(|v| v == "1")
}

/// Every `n`-th item under memcheck (see [`under_memcheck`]), all of them otherwise.
pub fn memcheck_sample<T>(items: Vec<T>, n: usize) -> Vec<T> {
    if !under_memcheck() {
        return items;
    }
    eprintln!(
        "under memcheck: checking every {n}th of {} cases",
        items.len()
    );
    items.into_iter().step_by(n).collect()
}

/// Silences FFmpeg's own logging (process-wide) so expected failures do not clutter the
/// test output. Every test calls it before its first FFmpeg call.
pub fn quiet() {
    static QUIET: std::sync::Once = std::sync::Once::new();
    // SAFETY: every test of the binaries that include this module calls `quiet()` before
    // it uses FFmpeg, and `Once` makes the single write happen before any caller returns,
    // so no FFmpeg code runs on another thread while the level is set.
    QUIET.call_once(|| unsafe { ffio::set_log_level(ffio::LogLevel::Quiet) });
}

// ---------------------------------------------------------------------------------------
// ffprobe
// ---------------------------------------------------------------------------------------

/// What an ffprobe run printed: exit success, stdout, stderr.
#[derive(Clone, Debug)]
pub struct ProbeOutput {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// How ffprobe gets the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProbeInput {
    /// By path: FFmpeg's `file:` protocol, seekable.
    File,
    /// On standard input (`pipe:0`): not seekable, like ffio's `Demuxer::from_reader`.
    Pipe,
}

/// Runs `ffprobe ARGS... PATH` (or `ffprobe ARGS... pipe:0 < PATH`). Results are cached,
/// since several tests ask the same question. Panics with a clear message if ffprobe cannot
/// be run at all: the tests never skip silently.
pub fn run_ffprobe(args: &[&str], path: &Path, input: ProbeInput) -> ProbeOutput {
    type Cache = Mutex<HashMap<(Vec<String>, PathBuf, ProbeInput), ProbeOutput>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let key = (
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        path.to_owned(),
        input,
    );
    let cache = CACHE.get_or_init(Default::default);
    if let Some(hit) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return hit.clone();
    }
    let mut command = Command::new("ffprobe");
    command.args(args);
    match input {
        ProbeInput::File => {
            command.arg(path).stdin(Stdio::null());
        }
        ProbeInput::Pipe => {
            let file = std::fs::File::open(path)
                .unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
            command.arg("pipe:0").stdin(file);
        }
    }
    let output = command.output().unwrap_or_else(|e| {
        panic!(
            "cannot run `ffprobe` ({e}): these tests take their expected values from the \
             ffprobe CLI at test time; install FFmpeg's command-line tools \
             (Debian: apt-get install ffmpeg, or run scripts/setup.sh)"
        )
    });
    let result = ProbeOutput {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, result.clone());
    result
}

const COUNT_ARGS: &[&str] = &[
    "-v",
    "error",
    "-count_packets",
    "-show_entries",
    "stream=index,codec_type,nb_read_packets",
    "-of",
    "csv=p=0",
];

/// `true` if ffprobe reads the file by path (`-count_packets` exits with status 0).
pub fn ffprobe_accepts(path: &Path) -> bool {
    run_ffprobe(COUNT_ARGS, path, ProbeInput::File).success
}

/// Packets per stream according to
/// `ffprobe -v error -count_packets -show_entries stream=index,codec_type,nb_read_packets
/// -of csv=p=0 PATH`, as `(index, codec_type, packets)` sorted by index.
///
/// MPEG-TS files list their streams twice (once more under their program); duplicates are
/// checked to agree and merged. Panics if ffprobe fails on the file or cannot count.
pub fn ffprobe_counts(path: &Path) -> Vec<(usize, String, u64)> {
    known_counts(path, ProbeInput::File)
}

/// [`ffprobe_counts`] with the file fed to ffprobe through a pipe (not seekable).
pub fn ffprobe_counts_piped(path: &Path) -> Vec<(usize, String, u64)> {
    known_counts(path, ProbeInput::Pipe)
}

/// `-count_packets` as ffprobe prints it: `None` where it says `N/A` (it read no packet
/// of the stream, e.g. an MP4 that needs seeking, through a pipe; ffprobe still exits 0).
pub fn ffprobe_counts_raw(path: &Path, input: ProbeInput) -> Vec<(usize, String, Option<u64>)> {
    let out = run_ffprobe(COUNT_ARGS, path, input);
    assert!(
        out.success,
        "ffprobe -count_packets ({input:?}) failed on {}: {}",
        path.display(),
        out.stderr
    );
    let mut streams: BTreeMap<usize, (String, Option<u64>)> = BTreeMap::new();
    for line in out.stdout.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let fields: Vec<&str> = line.split(',').collect();
        assert!(
            fields.len() >= 3,
            "unexpected ffprobe line {line:?} for {}",
            path.display()
        );
        let index: usize = fields[0]
            .parse()
            .unwrap_or_else(|_| panic!("bad stream index in ffprobe line {line:?}"));
        let packets = match fields[2] {
            "N/A" => None,
            n => Some(
                n.parse()
                    .unwrap_or_else(|_| panic!("bad packet count in ffprobe line {line:?}")),
            ),
        };
        let entry = (fields[1].to_owned(), packets);
        if let Some(previous) = streams.insert(index, entry.clone()) {
            assert_eq!(
                previous,
                entry,
                "ffprobe lists stream {index} of {} twice, differently",
                path.display()
            );
        }
    }
    assert!(
        !streams.is_empty(),
        "ffprobe listed no streams for {}",
        path.display()
    );
    streams
        .into_iter()
        .map(|(index, (kind, packets))| (index, kind, packets))
        .collect()
}

fn known_counts(path: &Path, input: ProbeInput) -> Vec<(usize, String, u64)> {
    ffprobe_counts_raw(path, input)
        .into_iter()
        .map(|(index, kind, packets)| {
            let packets = packets.unwrap_or_else(|| {
                panic!(
                    "ffprobe ({input:?}) could not count the packets of stream {index} of {}",
                    path.display()
                )
            });
            (index, kind, packets)
        })
        .collect()
}

/// One packet as ffprobe reports it, or as ffio read it (see [`ProbePacket::from_packet`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbePacket {
    pub stream_index: usize,
    pub pts: Option<i64>,
    pub dts: Option<i64>,
    pub size: usize,
    /// The `K` in ffprobe's flags (`AV_PKT_FLAG_KEY`).
    pub key: bool,
    /// CRC-32 (IEEE, as zlib) of the payload: ffprobe's `-show_data_hash CRC32`.
    pub crc32: u32,
}

impl ProbePacket {
    /// The same description of a packet ffio returned.
    pub fn from_packet(packet: &ffio::Packet) -> Self {
        ProbePacket {
            stream_index: packet.stream_index(),
            pts: packet.pts(),
            dts: packet.dts(),
            size: packet.size(),
            key: packet.is_key(),
            crc32: crc32(packet.data()),
        }
    }
}

/// Every packet of the file, in demuxing order, according to
/// `ffprobe -v error -show_data_hash CRC32
/// -show_entries packet=stream_index,pts,dts,size,flags,data_hash -of default PATH`.
///
/// The `default` writer is used rather than `csv`: packets with side data (the AAC priming
/// packet of an MP4, every packet of an MPEG-TS file) open a nested section that splits a
/// CSV record over several lines. Panics if ffprobe fails on the file.
pub fn ffprobe_packets(path: &Path) -> Vec<ProbePacket> {
    probe_packets(path, ProbeInput::File)
}

/// [`ffprobe_packets`] with the file fed to ffprobe through a pipe (not seekable). FFmpeg
/// does not always produce the same timestamps then: in MPEG-TS it interpolates some audio
/// timestamps differently, exactly as it does for ffio's non-seekable readers.
pub fn ffprobe_packets_piped(path: &Path) -> Vec<ProbePacket> {
    probe_packets(path, ProbeInput::Pipe)
}

/// [`ffprobe_packets`] with further ffprobe arguments before the path: input options such
/// as `-f concat -safe 0`, or `-read_intervals`. Packet tags (`TAG:key=value`, e.g. a
/// concat list's per-file metadata) are in [`ffprobe_packet_fields`].
pub fn ffprobe_packets_with(path: &Path, args: &[&str]) -> Vec<ProbePacket> {
    probe_packets_with(path, ProbeInput::File, args)
}

/// Every `[PACKET]` section of `ffprobe -v error -show_entries packet=stream_index:packet_tags
/// -of default ARGS... PATH`: `stream_index` and one `TAG:key` field per tag. Panics if
/// ffprobe fails on the file.
pub fn ffprobe_packet_fields(path: &Path, args: &[&str]) -> Vec<BTreeMap<String, String>> {
    let mut all = vec!["-show_entries", "packet=stream_index:packet_tags"];
    all.extend_from_slice(args);
    ffprobe_sections(path, &all, "PACKET")
}

fn probe_packets(path: &Path, input: ProbeInput) -> Vec<ProbePacket> {
    probe_packets_with(path, input, &[])
}

fn probe_packets_with(path: &Path, input: ProbeInput, args: &[&str]) -> Vec<ProbePacket> {
    let mut all = vec![
        "-v",
        "error",
        "-show_data_hash",
        "CRC32",
        "-show_entries",
        "packet=stream_index,pts,dts,size,flags,data_hash",
        "-of",
        "default",
    ];
    all.extend_from_slice(args);
    let out = run_ffprobe(&all, path, input);
    assert!(
        out.success,
        "ffprobe {args:?} -show_entries packet ({input:?}) failed on {}: {}",
        path.display(),
        out.stderr
    );
    let packets: Vec<ProbePacket> = sections(&out.stdout, "PACKET")
        .into_iter()
        .map(|fields| {
            let get = |key: &str| -> &str {
                fields
                    .get(key)
                    .unwrap_or_else(|| panic!("ffprobe packet without {key}: {fields:?}"))
            };
            let ts = |key: &str| -> Option<i64> {
                match get(key) {
                    "N/A" => None,
                    v => Some(v.parse().unwrap_or_else(|_| panic!("bad {key} {v:?}"))),
                }
            };
            let hash = get("data_hash");
            let hex = hash
                .strip_prefix("CRC32:")
                .unwrap_or_else(|| panic!("unexpected data_hash {hash:?}"));
            ProbePacket {
                stream_index: get("stream_index").parse().expect("stream_index"),
                pts: ts("pts"),
                dts: ts("dts"),
                size: get("size").parse().expect("size"),
                key: get("flags").contains('K'),
                crc32: u32::from_str_radix(hex, 16).expect("CRC32 hex"),
            }
        })
        .collect();
    assert!(
        !packets.is_empty(),
        "ffprobe listed no packets for {}",
        path.display()
    );
    packets
}

/// The `[STREAM]` sections of `ffprobe -v error -show_streams -of default PATH`, one map of
/// `key -> value` per stream, in index order. Panics if ffprobe fails on the file.
pub fn ffprobe_streams(path: &Path) -> Vec<BTreeMap<String, String>> {
    ffprobe_sections(path, &["-show_streams"], "STREAM")
}

/// The `[FORMAT]` section of `ffprobe -v error -show_format -of default PATH`. Panics if
/// ffprobe fails on the file.
pub fn ffprobe_format(path: &Path) -> BTreeMap<String, String> {
    let mut found = ffprobe_sections(path, &["-show_format"], "FORMAT");
    assert_eq!(found.len(), 1, "ffprobe -show_format: {found:?}");
    found.remove(0)
}

/// The `[NAME]` sections of `ffprobe -v error ARGS... -of default PATH`, one map of
/// `key -> value` each (see [`sections`]). Panics if ffprobe fails on the file.
pub fn ffprobe_sections(path: &Path, args: &[&str], name: &str) -> Vec<BTreeMap<String, String>> {
    let mut all = vec!["-v", "error"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-of", "default"]);
    let out = run_ffprobe(&all, path, ProbeInput::File);
    assert!(
        out.success,
        "ffprobe {args:?} failed on {}: {}",
        path.display(),
        out.stderr
    );
    sections(&out.stdout, name)
}

/// Parses ffprobe's `default` writer output: the `key=value` lines directly inside each
/// `[NAME]` ... `[/NAME]` section (lines of nested sections are ignored).
pub fn sections(text: &str, name: &str) -> Vec<BTreeMap<String, String>> {
    let open = format!("[{name}]");
    let mut result = Vec::new();
    let mut current: Option<BTreeMap<String, String>> = None;
    let mut nested = 0usize;
    for line in text.lines().map(str::trim) {
        if line == open {
            current = Some(BTreeMap::new());
            nested = 0;
        } else if line == format!("[/{name}]") {
            result.extend(current.take());
        } else if line.starts_with("[/") {
            nested = nested.saturating_sub(1);
        } else if line.starts_with('[') && line.ends_with(']') {
            nested += 1;
        } else if let (Some(fields), 0) = (current.as_mut(), nested) {
            if let Some((key, value)) = line.split_once('=') {
                fields.insert(key.to_owned(), value.to_owned());
            }
        }
    }
    result
}

/// CRC-32 as zlib computes it (reflected polynomial 0xEDB88320, initial value and final
/// XOR 0xFFFFFFFF), which is what ffprobe prints for `-show_data_hash CRC32`.
pub fn crc32(data: &[u8]) -> u32 {
    static TABLE: OnceLock<[u32; 256]> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut table = [0u32; 256];
        for (i, entry) in table.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
            *entry = c;
        }
        table
    });
    !data.iter().fold(!0u32, |crc, &b| {
        table[((crc ^ u32::from(b)) & 0xFF) as usize] ^ (crc >> 8)
    })
}

// ---------------------------------------------------------------------------------------
// Reading with ffio
// ---------------------------------------------------------------------------------------

/// What a whole demuxing run produced: each stream's media type name, and every packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Demuxed {
    pub stream_types: Vec<String>,
    pub packets: Vec<ProbePacket>,
}

impl Demuxed {
    /// Packets per stream, as `(index, media type, packets)` like [`ffprobe_counts`].
    pub fn counts(&self) -> Vec<(usize, String, u64)> {
        let mut counts = vec![0u64; self.stream_types.len()];
        for p in &self.packets {
            if p.stream_index >= counts.len() {
                counts.resize(p.stream_index + 1, 0);
            }
            counts[p.stream_index] += 1;
        }
        counts
            .into_iter()
            .enumerate()
            .map(|(i, n)| {
                let kind = self
                    .stream_types
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| "<unknown stream>".to_owned());
                (i, kind, n)
            })
            .collect()
    }
}

/// Opens (the result of a `Demuxer` constructor) and reads every packet, stopping at the
/// first error, wherever it comes from.
pub fn demux_all<R>(opened: ffio::Result<ffio::Demuxer<R>>) -> ffio::Result<Demuxed> {
    let mut demuxer = opened?;
    let mut packets = Vec::new();
    let mut packet = ffio::Packet::new();
    while demuxer.read_packet_into(&mut packet)? {
        packets.push(ProbePacket::from_packet(&packet));
    }
    let stream_types = demuxer
        .streams()
        .map(|s| s.media_type().as_str().to_owned())
        .collect();
    Ok(Demuxed {
        stream_types,
        packets,
    })
}

/// Asserts that two packet lists are equal, reporting the first difference rather than
/// two walls of packets.
pub fn assert_same_packets(what: &str, got: &[ProbePacket], expected: &[ProbePacket]) {
    if let Some(i) = got.iter().zip(expected).position(|(g, e)| g != e) {
        panic!(
            "{what}: packet {i} differs\n     got: {:?}\nexpected: {:?}",
            got[i], expected[i]
        );
    }
    assert_eq!(
        got.len(),
        expected.len(),
        "{what}: {} packets read, ffprobe reads {}",
        got.len(),
        expected.len()
    );
}

// ---------------------------------------------------------------------------------------
// Reader wrappers for fault injection
// ---------------------------------------------------------------------------------------

/// Returns at most one byte per `read` call.
#[derive(Debug)]
pub struct OneByteReader<R> {
    pub inner: R,
    /// Number of `read` calls so far.
    pub reads: u64,
}

impl<R> OneByteReader<R> {
    pub fn new(inner: R) -> Self {
        OneByteReader { inner, reads: 0 }
    }
}

impl<R: Read> Read for OneByteReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reads += 1;
        let len = buf.len().min(1);
        self.inner.read(&mut buf[..len])
    }
}

impl<R: Seek> Seek for OneByteReader<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

/// What a [`FaultyReader`] does once it reaches its offset.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Fail every read with an `io::Error` of this kind and message.
    Fail(io::ErrorKind, String),
    /// Panic with this message (a `String` payload).
    Panic(String),
}

/// Reads normally until the position reaches `offset`, then injects its [`Fault`] on every
/// read. A read that would cross `offset` is cut short at it, so the fault happens exactly
/// there. Seeks pass through (and move the position, so reading before `offset` again
/// works).
#[derive(Debug)]
pub struct FaultyReader<R> {
    pub inner: R,
    pub position: u64,
    pub offset: u64,
    pub fault: Fault,
    /// Number of faults injected so far.
    pub faults: u64,
}

/// A [`FaultyReader`] that fails with an `io::Error` of `kind` and `message`.
pub fn failing_reader<R>(
    inner: R,
    offset: u64,
    kind: io::ErrorKind,
    message: &str,
) -> FaultyReader<R> {
    FaultyReader::new(inner, offset, Fault::Fail(kind, message.to_owned()))
}

/// A [`FaultyReader`] that panics with `message`.
pub fn panicking_reader<R>(inner: R, offset: u64, message: &str) -> FaultyReader<R> {
    FaultyReader::new(inner, offset, Fault::Panic(message.to_owned()))
}

impl<R> FaultyReader<R> {
    pub fn new(inner: R, offset: u64, fault: Fault) -> Self {
        FaultyReader {
            inner,
            position: 0,
            offset,
            fault,
            faults: 0,
        }
    }
}

impl<R: Read> Read for FaultyReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.position >= self.offset {
            self.faults += 1;
            match &self.fault {
                Fault::Fail(kind, message) => return Err(io::Error::new(*kind, message.clone())),
                Fault::Panic(message) => panic!("{message}"),
            }
        }
        let room = usize::try_from(self.offset - self.position).unwrap_or(usize::MAX);
        let len = buf.len().min(room);
        let n = self.inner.read(&mut buf[..len])?;
        self.position += n as u64;
        Ok(n)
    }
}

impl<R: Seek> Seek for FaultyReader<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let new = self.inner.seek(pos)?;
        self.position = new;
        Ok(new)
    }
}

/// Fails every other call with `ErrorKind::Interrupted` (which means "try again"), starting
/// with the first: reads and seeks each have their own alternation.
#[derive(Debug)]
pub struct InterruptingReader<R> {
    pub inner: R,
    /// Number of `read` calls answered with `Interrupted`.
    pub read_interruptions: u64,
    /// Number of `seek` calls answered with `Interrupted`.
    pub seek_interruptions: u64,
    reads: u64,
    seeks: u64,
}

impl<R> InterruptingReader<R> {
    pub fn new(inner: R) -> Self {
        InterruptingReader {
            inner,
            read_interruptions: 0,
            seek_interruptions: 0,
            reads: 0,
            seeks: 0,
        }
    }
}

impl<R: Read> Read for InterruptingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reads += 1;
        if self.reads % 2 == 1 {
            self.read_interruptions += 1;
            return Err(io::Error::new(
                io::ErrorKind::Interrupted,
                "interrupted read",
            ));
        }
        self.inner.read(buf)
    }
}

impl<R: Seek> Seek for InterruptingReader<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.seeks += 1;
        if self.seeks % 2 == 1 {
            self.seek_interruptions += 1;
            return Err(io::Error::new(
                io::ErrorKind::Interrupted,
                "interrupted seek",
            ));
        }
        self.inner.seek(pos)
    }
}

/// Asserts two outputs are byte-identical, naming the sizes and the first difference (not
/// the bytes, which can be megabytes).
pub fn assert_same_bytes(what: &str, got: &[u8], want: &[u8]) {
    if got != want {
        let at = got.iter().zip(want).position(|(a, b)| a != b);
        panic!(
            "{what}: {} bytes vs {} expected, first difference at {at:?}",
            got.len(),
            want.len()
        );
    }
}

/// Runs the ffmpeg CLI in `dir` with `args` (after `-v error -y`); panics on failure.
pub fn ffmpeg(dir: &Path, args: &[&str]) {
    let out = Command::new("ffmpeg")
        .current_dir(dir)
        .args(["-v", "error", "-nostdin", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg runs");
    assert!(
        out.status.success(),
        "ffmpeg {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
