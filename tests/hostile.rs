//! Hostile inputs (issue 8): bytes that try to make FFmpeg open files, URLs, devices or
//! sockets by name: concat lists, HLS playlists, DASH manifests, SDP, MOV data references,
//! image sequences, VobSub indexes, IMF playlists. README "Untrusted input" promises that
//! bytes come only from the caller's reader; these tests check that promise.
//!
//! Every input is demuxed in a child process (this test binary run again, see
//! [`hostile_child`]) from a slice (`Demuxer::from_slice`) and from a non-seekable reader
//! (`Demuxer::from_reader` over a type that implements only `Read`). The child's working
//! directory holds the files the inputs name ("bait": `secret.ts`, `init.mp4`, `key.bin`, …,
//! real media where it matters), so an open that gets through really reads something.
//!
//! * [`no_file_or_socket_syscalls_under_strace`]: the child runs under
//!   `strace -f`; between two marker syscalls (the child builds its input in memory before
//!   the first and makes the second after dropping the demuxer) there must be no file,
//!   socket or read syscall at all. Each input also runs a third way: with an in-memory
//!   opener that serves every name it is asked for (an MPEG-TS fixture, read before the
//!   first marker) and concat's `safe=0`, so that concat lists and HLS playlists are read
//!   and every name they hold reaches the opener: still no system call.
//! * [`outcomes_without_strace`]: the demux either fails with a clear error, naming the
//!   demuxer where that demuxer can only work by opening something else, or it succeeds and
//!   every packet it returns is a run of bytes of the input itself.
//!
//! A child is killed after [`child_timeout`] (10 s; `FFIO_HOSTILE_TIMEOUT_SECS`): a hang is
//! a failure. Children run in parallel, at most [`PARALLEL`] at once and never two that use
//! the same UDP ports (the SDP inputs) at the same time. Both tests report every failing
//! input, then fail once.

mod common;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use common::fixture;
use common::mov::{alis_entry, mov_with_dref_entry};
use ffio::{CustomIo, Demuxer, DemuxerOptions, Error};

// ---------------------------------------------------------------------------------------
// The corpus
// ---------------------------------------------------------------------------------------

/// Where an input's bytes come from.
#[derive(Clone, Copy)]
enum Input {
    /// A file in `tests/data/hostile/`.
    File(&'static str),
    /// Built at test time (from a fixture) by this function.
    Generated(fn() -> Vec<u8>),
}

/// One hostile input and how to open it.
struct Case {
    name: &'static str,
    input: Input,
    /// What it tries to make FFmpeg open.
    tries: &'static str,
    /// A forced input format (`DemuxerOptions::format`); `None` lets FFmpeg probe.
    format: Option<&'static str>,
    /// Options for the demuxer, as an application might pass them.
    options: &'static [(&'static str, &'static str)],
    /// UDP ports the input asks FFmpeg to bind: no two children using one run at once.
    ports: &'static [u16],
    /// The demuxer FFmpeg picks for this input when it can only work by opening other
    /// files or URLs: ffio must refuse it at open with an error that names it.
    refused: Option<&'static str>,
}

const fn file(
    name: &'static str,
    path: &'static str,
    tries: &'static str,
    refused: Option<&'static str>,
) -> Case {
    Case {
        name,
        input: Input::File(path),
        tries,
        format: None,
        options: &[],
        ports: &[],
        refused,
    }
}

const fn sdp(
    name: &'static str,
    path: &'static str,
    tries: &'static str,
    ports: &'static [u16],
) -> Case {
    Case {
        ports,
        ..file(name, path, tries, Some("sdp"))
    }
}

const CONCAT: Option<&str> = Some("concat");
const HLS: Option<&str> = Some("hls");
const DASH: Option<&str> = Some("dash");

static CASES: &[Case] = &[
    // concat demuxer (probed from "ffconcat version 1.0"): FFmpeg opens every `file` with
    // avformat_open_input and its default io_open, i.e. the real filesystem or network.
    // Its `safe` option (on by default) rejects names with a scheme or an absolute path.
    file(
        "concat_relative",
        "concat_relative.ffconcat",
        "the 36-byte upload of issue 8: secret.ts from the working directory",
        CONCAT,
    ),
    file(
        "concat_subdir",
        "concat_subdir.ffconcat",
        "sub/secret.ts (a relative path with a directory, still 'safe')",
        CONCAT,
    ),
    file(
        "concat_quoted",
        "concat_quoted.ffconcat",
        "'secret.ts' then 'a.ts' (quoted names, two files)",
        CONCAT,
    ),
    file(
        "concat_absolute",
        "concat_absolute.ffconcat",
        "/etc/passwd",
        CONCAT,
    ),
    file(
        "concat_device",
        "concat_device.ffconcat",
        "/dev/zero (a device)",
        CONCAT,
    ),
    file(
        "concat_file_url",
        "concat_file_url.ffconcat",
        "file:secret.ts",
        CONCAT,
    ),
    file(
        "concat_pipe",
        "concat_pipe.ffconcat",
        "pipe:0 (the process's standard input)",
        CONCAT,
    ),
    file(
        "concat_fd",
        "concat_fd.ffconcat",
        "fd:0 (a file descriptor; no such protocol in 5.1)",
        CONCAT,
    ),
    file(
        "concat_http",
        "concat_http.ffconcat",
        "http://127.0.0.1:1/x (a TCP connection)",
        CONCAT,
    ),
    file(
        "concat_subfile",
        "concat_subfile.ffconcat",
        "subfile,,start,0,end,0,,:secret.ts",
        CONCAT,
    ),
    file(
        "concat_concat_proto",
        "concat_concat_proto.ffconcat",
        "concat:a.ts|b.ts (the concat protocol)",
        CONCAT,
    ),
    file(
        "concat_data_uri",
        "concat_data_uri.ffconcat",
        "a data: URI holding another ffconcat list that names secret.ts",
        CONCAT,
    ),
    file(
        "concat_to_hls",
        "concat_to_hls.ffconcat",
        "secret.m3u8, an HLS playlist on disk whose segment is secret.ts",
        CONCAT,
    ),
    file(
        "concat_to_image",
        "concat_to_image.ffconcat",
        "img001.pgm (image2 by file name, in the child context)",
        CONCAT,
    ),
    file(
        "concat_pattern",
        "concat_pattern.ffconcat",
        "img%03d.pgm (an image sequence pattern)",
        CONCAT,
    ),
    // hls demuxer (probed from "#EXTM3U"): segments, keys, init sections and variant
    // playlists go through io_open, which ffio refuses.
    file(
        "hls_relative",
        "hls_relative.m3u8",
        "segment secret.ts",
        HLS,
    ),
    file(
        "hls_absolute",
        "hls_absolute.m3u8",
        "segments /etc/passwd and /dev/zero",
        HLS,
    ),
    file(
        "hls_file_url",
        "hls_file_url.m3u8",
        "segment file:secret.ts",
        HLS,
    ),
    file(
        "hls_http",
        "hls_http.m3u8",
        "segment http://127.0.0.1:1/x.ts",
        HLS,
    ),
    file(
        "hls_crypto_file",
        "hls_crypto_file.m3u8",
        "segment crypto+file:secret.ts",
        HLS,
    ),
    file(
        "hls_data_uri",
        "hls_data_uri.m3u8",
        "a data: URI segment (bytes not in the reader's stream)",
        HLS,
    ),
    file(
        "hls_key",
        "hls_key.m3u8",
        "#EXT-X-KEY URI key.bin, then segment secret.ts",
        HLS,
    ),
    file(
        "hls_key_http",
        "hls_key_http.m3u8",
        "#EXT-X-KEY URI http://127.0.0.1:1/key",
        HLS,
    ),
    file(
        "hls_map",
        "hls_map.m3u8",
        "#EXT-X-MAP init section init.mp4, segment seg1.m4s",
        HLS,
    ),
    file(
        "hls_master",
        "hls_master.m3u8",
        "master playlist, variant variant.m3u8",
        HLS,
    ),
    file(
        "hls_master_media",
        "hls_master_media.m3u8",
        "master playlist, #EXT-X-MEDIA audio.m3u8 and variant.m3u8",
        HLS,
    ),
    file(
        "hls_live",
        "hls_live.m3u8",
        "a live playlist (no #EXT-X-ENDLIST): reload loop",
        HLS,
    ),
    // dash demuxer (probed from "<MPD"): io_open again.
    file(
        "dash_baseurl",
        "dash_baseurl.mpd",
        "BaseURL secret.mp4",
        DASH,
    ),
    file(
        "dash_template",
        "dash_template.mpd",
        "SegmentTemplate initialization init.mp4, media seg$Number$.m4s",
        DASH,
    ),
    file(
        "dash_list",
        "dash_list.mpd",
        "SegmentList Initialization init.mp4, SegmentURL secret.m4s",
        DASH,
    ),
    file(
        "dash_http",
        "dash_http.mpd",
        "BaseURL http://127.0.0.1:1/",
        DASH,
    ),
    file(
        "dash_absolute",
        "dash_absolute.mpd",
        "BaseURL file:/etc/, Initialization passwd",
        DASH,
    ),
    // sdp demuxer (probed from a "c=IN IP" line): opens rtp:// (UDP sockets) itself.
    sdp(
        "sdp_loopback",
        "sdp_loopback.sdp",
        "c=IN IP4 127.0.0.1, m=video 45678: UDP 45678 and 45679",
        &[45678, 45679],
    ),
    sdp(
        "sdp_any",
        "sdp_any.sdp",
        "c=IN IP4 0.0.0.0, m=video 45680",
        &[45680, 45681],
    ),
    sdp(
        "sdp_hostname",
        "sdp_hostname.sdp",
        "c=IN IP4 localhost (a name lookup), m=audio 45682",
        &[45682, 45683],
    ),
    sdp(
        "sdp_ipv6",
        "sdp_ipv6.sdp",
        "c=IN IP6 ::1, m=video 45684",
        &[45684, 45685],
    ),
    sdp(
        "sdp_two_streams",
        "sdp_two_streams.sdp",
        "two m= lines: UDP 45686-45689",
        &[45686, 45687, 45688, 45689],
    ),
    // MOV data references: an `alis` dref entry naming another file. FFmpeg skips it unless
    // the application sets enable_drefs; then it goes through io_open.
    Case {
        name: "mov_dref_relative",
        input: Input::Generated(mov_dref_relative),
        tries: "h264_aac.mp4 whose video track's dref is an alias to secret.mp4 (relative)",
        format: None,
        options: &[],
        ports: &[],
        refused: None,
    },
    Case {
        name: "mov_dref_relative_enabled",
        input: Input::Generated(mov_dref_relative),
        tries: "the same with the application option enable_drefs=1",
        format: None,
        options: &[("enable_drefs", "1")],
        ports: &[],
        refused: None,
    },
    Case {
        name: "mov_dref_absolute_enabled",
        input: Input::Generated(mov_dref_absolute),
        tries: "an alias to /etc/passwd, with enable_drefs=1 and use_absolute_path=1",
        format: None,
        options: &[("enable_drefs", "1"), ("use_absolute_path", "1")],
        ports: &[],
        refused: None,
    },
    // image sequences: with custom I/O the input has no name, so image2 is never probed;
    // forced, it reads the first image from the reader.
    file(
        "image_probed",
        "image.pgm",
        "a PGM image, probed (image2pipe family)",
        None,
    ),
    Case {
        name: "image2_forced",
        input: Input::File("image.pgm"),
        tries: "the PGM image with the format forced to image2 (file sequences by name)",
        format: Some("image2"),
        options: &[],
        ports: &[],
        refused: None,
    },
    // vobsub demuxer (probed from "# VobSub index file"): opens the .sub named after the
    // input (avformat_open_input with the default io_open) or the sub_name option.
    file(
        "vobsub_idx",
        "vobsub.idx",
        "a VobSub index: the .sub file named after the input",
        Some("vobsub"),
    ),
    Case {
        name: "vobsub_sub_name",
        input: Input::File("vobsub.idx"),
        tries: "the VobSub index with the application option sub_name=secret.sub",
        format: None,
        options: &[("sub_name", "secret.sub")],
        ports: &[],
        refused: Some("vobsub"),
    },
    // imf demuxer (probed from "<CompositionPlaylist" + "ContentTitle>"): opens
    // ASSETMAP.xml beside the playlist, then the track files.
    // FFmpeg 5.1 does not probe it (ffprobe: invalid data), so it is also forced.
    file(
        "imf_cpl",
        "imf_cpl.xml",
        "an IMF composition playlist: ASSETMAP.xml, track files",
        None,
    ),
    Case {
        name: "imf_forced",
        input: Input::File("imf_cpl.xml"),
        tries: "the IMF composition playlist with the format forced to imf",
        format: Some("imf"),
        options: &[],
        ports: &[],
        refused: Some("imf"),
    },
];

fn hostile_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/hostile")
}

impl Case {
    fn bytes(&self) -> Vec<u8> {
        match self.input {
            Input::File(name) => {
                let path = hostile_dir().join(name);
                std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
            }
            Input::Generated(make) => make(),
        }
    }

    fn by_name(name: &str) -> &'static Case {
        CASES
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no hostile case named {name:?}"))
    }
}

/// An alias whose relative resolution (one level up, one down) is `secret.mp4`.
fn mov_dref_relative() -> Vec<u8> {
    mov_with_dref_entry(&alis_entry("Vol", "secret.mp4", "Vol:media:secret.mp4", 1))
}

/// An alias to the absolute path /etc/passwd (nlvl 0: FFmpeg tries it only when
/// use_absolute_path is set).
fn mov_dref_absolute() -> Vec<u8> {
    mov_with_dref_entry(&alis_entry("Vol", "passwd", "Vol:etc:passwd", 0))
}

// ---------------------------------------------------------------------------------------
// The child: demux one input between two markers
// ---------------------------------------------------------------------------------------

const CASE_ENV: &str = "FFIO_HOSTILE_CASE";
const MODE_ENV: &str = "FFIO_HOSTILE_MODE";
const NONCE_ENV: &str = "FFIO_HOSTILE_NONCE";
/// What the child prints before its outcome, on a line of its own.
const RESULT_PREFIX: &str = "FFIO-HOSTILE-RESULT ";

/// How the child hands the input to ffio.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// `Demuxer::from_slice` (seekable).
    Slice,
    /// `Demuxer::from_reader` over [`PipeReader`] (not seekable).
    Pipe,
    /// Nothing between the markers: the baseline of what a child does there by itself.
    Idle,
    /// Opens bait/secret.ts with `std::fs` between the markers: the detector must see it.
    Control,
    /// From a slice, with an in-memory opener serving every name (and concat's `safe=0`).
    Opener,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::Slice => "slice",
            Mode::Pipe => "pipe",
            Mode::Idle => "idle",
            Mode::Control => "control",
            Mode::Opener => "opener",
        }
    }

    fn parse(s: &str) -> Mode {
        match s {
            "slice" => Mode::Slice,
            "pipe" => Mode::Pipe,
            "idle" => Mode::Idle,
            "control" => Mode::Control,
            "opener" => Mode::Opener,
            other => panic!("{MODE_ENV}={other:?} is not a mode"),
        }
    }
}

/// A reader that can only `Read`, like a pipe or a socket.
struct PipeReader(Cursor<Vec<u8>>);

impl Read for PipeReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

fn marker_path(nonce: &str, which: &str) -> String {
    format!("/nonexistent-ffio-hostile-marker/{which}-{nonce}")
}

/// A syscall strace shows with its path: `statx` (or `newfstatat`) of a path that does not
/// exist.
fn marker(nonce: &str, which: &str) {
    let path = marker_path(nonce, which);
    assert!(
        std::fs::metadata(&path).is_err(),
        "marker path {path} exists"
    );
}

/// Stop reading after this many packets (no hostile input holds anywhere near as many).
const MAX_PACKETS: usize = 100_000;

/// Whether `needle` occurs in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// What a demux produced, as one line for the parent.
fn demux_outcome<R>(opened: ffio::Result<Demuxer<R>>, input: &[u8]) -> String {
    let mut demuxer = match opened {
        Ok(d) => d,
        Err(e) => return error_line("open", &e),
    };
    let format = demuxer.format_name().to_owned();
    let streams = demuxer.stream_count();
    let (mut packets, mut foreign) = (0usize, 0usize);
    let mut first_foreign = String::new();
    let mut packet = ffio::Packet::new();
    let end = loop {
        if packets == MAX_PACKETS {
            break format!("stopped after {MAX_PACKETS} packets");
        }
        match demuxer.read_packet_into(&mut packet) {
            Ok(true) => {
                packets += 1;
                if !contains(input, packet.data()) {
                    if foreign == 0 {
                        first_foreign = format!(
                            " first_foreign=stream{}/{}bytes",
                            packet.stream_index(),
                            packet.size()
                        );
                    }
                    foreign += 1;
                }
            }
            Ok(false) => break "eof".to_owned(),
            Err(e) => break error_line("read", &e),
        }
    };
    drop(demuxer);
    format!(
        "ok format={format} streams={streams} packets={packets} foreign={foreign}{first_foreign} end={end}"
    )
}

fn error_line(phase: &str, e: &Error) -> String {
    let debug = format!("{e:?}");
    let variant = debug
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or("?");
    format!("err phase={phase} variant={variant} message={e}")
}

/// The child side: does nothing unless the parent set [`CASE_ENV`]. Not a test by itself.
#[test]
fn hostile_child() {
    let Ok(case_name) = std::env::var(CASE_ENV) else {
        return;
    };
    let mode = Mode::parse(&std::env::var(MODE_ENV).expect("FFIO_HOSTILE_MODE"));
    let nonce = std::env::var(NONCE_ENV).expect("FFIO_HOSTILE_NONCE");
    // FFmpeg's own log (default level) goes to stderr, which the parent keeps.
    let case = Case::by_name(&case_name);
    let input = case.bytes();
    let mut options = DemuxerOptions::new();
    if let Some(format) = case.format {
        options = options.format(format);
    }
    for (key, value) in case.options {
        options = options.option(key, value);
    }
    let plain = case.format.is_none() && case.options.is_empty();
    let pipe = PipeReader(Cursor::new(input.clone()));
    // What the opener serves for every name, read before the markers.
    let served = common::fixture_bytes("h264_aac.ts");
    if mode == Mode::Opener {
        // Demuxed once before the markers: its service names are converted with iconv,
        // whose first use makes glibc load its gconv modules from disk (once per process,
        // whatever the input; not a file the input chose).
        let mut warm = Demuxer::from_slice(&served).expect("the served fixture opens");
        while warm
            .read_packet()
            .expect("the served fixture reads")
            .is_some()
        {}
    }
    let opener = move |_name: &str, mode: ffio::OpenMode| -> std::io::Result<ffio::Opened> {
        if mode != ffio::OpenMode::Read {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "read only",
            ));
        }
        Ok(ffio::Opened::seekable_reader(Cursor::new(served.clone())))
    };
    let with_opener = options
        .clone()
        .opener(opener)
        .option_for("concat", "safe", "0");

    marker(&nonce, "begin");
    let outcome = match mode {
        Mode::Slice if plain => demux_outcome(Demuxer::from_slice(&input), &input),
        Mode::Slice => demux_outcome(
            CustomIo::seekable_reader(Cursor::new(&input[..])).and_then(|io| options.open(io)),
            &input,
        ),
        Mode::Pipe if plain => demux_outcome(Demuxer::from_reader(pipe), &input),
        Mode::Pipe => demux_outcome(
            CustomIo::reader(pipe).and_then(|io| options.open(io)),
            &input,
        ),
        Mode::Opener => demux_outcome(
            CustomIo::seekable_reader(Cursor::new(&input[..])).and_then(|io| with_opener.open(io)),
            &input,
        ),
        Mode::Idle => "idle".to_owned(),
        Mode::Control => {
            let mut byte = [0u8];
            let read = std::fs::File::open("secret.ts").and_then(|mut f| f.read(&mut byte));
            format!("control read={read:?}")
        }
    };
    marker(&nonce, "end");
    // On a line of its own: libtest has already printed "test hostile_child ... ".
    println!("\n{RESULT_PREFIX}{outcome}");
}

// ---------------------------------------------------------------------------------------
// The parent: bait directories, running children, reading strace logs
// ---------------------------------------------------------------------------------------

/// At most this many children at once (2 shared cores; most children take milliseconds).
const PARALLEL: usize = 8;

fn child_timeout() -> Duration {
    let secs = std::env::var("FFIO_HOSTILE_TIMEOUT_SECS")
        .ok()
        .map(|s| {
            s.parse()
                .expect("FFIO_HOSTILE_TIMEOUT_SECS: a number of seconds")
        })
        .unwrap_or(10);
    Duration::from_secs(secs)
}

/// Syscalls strace records: every syscall that takes a file name (`%file`: open*, stat*,
/// access, readlink, mkdir, unlink, rename, execve, …), every socket call (`%network`), and
/// reads: the child's input is in memory, so FFmpeg has no business reading any file
/// descriptor (`pipe:0` opens nothing by name, it just reads fd 0).
const TRACE: &str = "trace=%file,%network,read,readv,pread64,preadv,preadv2";

/// Lines between the markers that are not FFmpeg opening something.
fn allowed(line: &str) -> bool {
    // Signal deliveries and exits, not syscalls.
    let rest = line.split_once(' ').map_or(line, |(_, r)| r).trim_start();
    rest.starts_with("---") || rest.starts_with("+++")
}

/// glibc's malloc reads `/proc/sys/vm/overcommit_memory` (one byte) the first time it
/// shrinks a thread's heap, whatever the program does: that open and its read are not
/// FFmpeg's.
const MALLOC_PROBE: &str = "\"/proc/sys/vm/overcommit_memory\", O_RDONLY|O_CLOEXEC) = ";

/// The lines between the markers that are neither [`allowed`] nor malloc's probe (its
/// open, and the one-byte read of the descriptor it returned).
fn violations(lines: &[String]) -> Vec<String> {
    let mut probe_fd = None;
    let mut found = Vec::new();
    for line in lines {
        if allowed(line) {
            continue;
        }
        let rest = line
            .split_once(' ')
            .map_or(line.as_str(), |(_, r)| r)
            .trim_start();
        if rest.starts_with("openat(AT_FDCWD, ") && rest.contains(MALLOC_PROBE) {
            probe_fd = rest.rsplit(" = ").next().map(str::to_owned);
            continue;
        }
        if let Some(fd) = &probe_fd {
            let one_byte = rest.contains(", 1)") && rest.trim_end().ends_with("= 1");
            if rest.starts_with(&format!("read({fd}, ")) && one_byte {
                probe_fd = None;
                continue;
            }
        }
        found.push(shorten(line));
    }
    found
}

/// The bait every child's working directory holds: the files the inputs name. One per
/// test (`tag`), removed when that test ends; child directories hold hard links to it.
fn make_bait_dir(tag: &str) -> PathBuf {
    {
        let dir = std::env::temp_dir().join(format!("ffio-hostile-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).expect("creating the bait directory");
        let ts = fixture("h264_aac.ts");
        // Real MPEG-TS under every media name: whatever FFmpeg opens, it finds packets.
        for name in [
            "secret.ts",
            "sub/secret.ts",
            "a.ts",
            "b.ts",
            "seg1.ts",
            "secret.mp4",
            "init.mp4",
            "seg1.m4s",
            "secret.m4s",
            "secret.sub",
        ] {
            std::fs::copy(&ts, dir.join(name)).expect("copying bait");
        }
        let playlist =
            "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10.0,\nsecret.ts\n#EXT-X-ENDLIST\n";
        let files: &[(&str, &[u8])] = &[
            ("key.bin", b"0123456789abcdef"),
            ("secret.m3u8", playlist.as_bytes()),
            ("variant.m3u8", playlist.as_bytes()),
            ("audio.m3u8", playlist.as_bytes()),
            ("ASSETMAP.xml", b"<?xml version=\"1.0\"?><AssetMap/>\n"),
            ("img001.pgm", b"P5\n2 2\n255\n\x01\x02\x03\x04"),
        ];
        for (name, bytes) in files {
            std::fs::write(dir.join(name), bytes).expect("writing bait");
        }
        dir
    }
}

/// A fresh working directory for one child, with hard links to the bait.
fn child_dir(bait: &Path, tag: &str) -> PathBuf {
    let dir = bait.with_file_name(format!(
        "{}-{tag}",
        bait.file_name()
            .and_then(|n| n.to_str())
            .expect("utf-8 name")
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("sub")).expect("creating a child directory");
    for sub in ["", "sub"] {
        for entry in std::fs::read_dir(bait.join(sub)).expect("listing bait") {
            let entry = entry.expect("bait entry");
            if entry.path().is_file() {
                let to = dir.join(sub).join(entry.file_name());
                std::fs::hard_link(entry.path(), &to)
                    .or_else(|_| std::fs::copy(entry.path(), &to).map(|_| ()))
                    .expect("linking bait");
            }
        }
    }
    dir
}

/// Process-wide scheduling of children: a slot count and the UDP ports in use.
struct Slots {
    running: usize,
    ports: BTreeSet<u16>,
}

static SLOTS: Mutex<Slots> = Mutex::new(Slots {
    running: 0,
    ports: BTreeSet::new(),
});
static SLOT_FREED: Condvar = Condvar::new();

struct SlotGuard(&'static [u16]);

fn acquire_slot(ports: &'static [u16]) -> SlotGuard {
    let mut slots = SLOTS.lock().unwrap_or_else(|e| e.into_inner());
    while slots.running >= PARALLEL || ports.iter().any(|p| slots.ports.contains(p)) {
        slots = SLOT_FREED.wait(slots).unwrap_or_else(|e| e.into_inner());
    }
    slots.running += 1;
    slots.ports.extend(ports);
    SlotGuard(ports)
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        let mut slots = SLOTS.lock().unwrap_or_else(|e| e.into_inner());
        slots.running -= 1;
        for p in self.0 {
            slots.ports.remove(p);
        }
        SLOT_FREED.notify_all();
    }
}

/// What one child run produced.
struct Run {
    case: &'static str,
    mode: Mode,
    dir: PathBuf,
    timed_out: bool,
    status: Option<ExitStatus>,
    elapsed: Duration,
    /// The child's outcome line, without [`RESULT_PREFIX`].
    result: Option<String>,
    stdout: String,
    stderr: String,
    /// The strace log, when traced.
    log: Option<String>,
    nonce: String,
}

impl Run {
    fn label(&self) -> String {
        format!("{} ({})", self.case, self.mode.as_str())
    }

    /// The last lines of the child's stderr (FFmpeg's log), for messages.
    fn stderr_tail(&self) -> String {
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        let tail = &lines[lines.len().saturating_sub(6)..];
        tail.iter().map(|l| format!("\n      | {l}")).collect()
    }
}

fn run_child(
    bait: &Path,
    case: &'static str,
    mode: Mode,
    ports: &'static [u16],
    traced: bool,
) -> Run {
    let _slot = acquire_slot(ports);
    let tag = format!("{case}-{}", mode.as_str());
    let dir = child_dir(bait, &tag);
    let nonce = format!("{}-{}-{tag}", std::process::id(), traced);
    let exe = std::env::current_exe().expect("the test binary's path");
    let log_path = dir.join("strace.log");
    let mut command = if traced {
        let mut c = Command::new("strace");
        c.args(["-f", "-qq", "-e", TRACE, "-o"])
            .arg(&log_path)
            .arg("--")
            .arg(&exe);
        c
    } else {
        Command::new(&exe)
    };
    let stdout_path = dir.join("stdout.txt");
    let stderr_path = dir.join("stderr.txt");
    let create = |p: &Path| std::fs::File::create(p).expect("creating a child output file");
    // Standard input is a real MPEG-TS file: if `pipe:0` gets through, it finds packets.
    let stdin = std::fs::File::open(dir.join("secret.ts")).expect("opening bait for stdin");
    command
        .args([
            "--exact",
            "hostile_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CASE_ENV, case)
        .env(MODE_ENV, mode.as_str())
        .env(NONCE_ENV, &nonce)
        .current_dir(&dir)
        .stdin(stdin)
        .stdout(create(&stdout_path))
        .stderr(create(&stderr_path));
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let start = Instant::now();
    let mut child = command.spawn().unwrap_or_else(|e| {
        panic!(
            "cannot run {}: {e}{}",
            if traced { "strace" } else { "the test binary" },
            if traced {
                " (install it: scripts/setup.sh installs strace; this test never skips)"
            } else {
                ""
            }
        )
    });
    let deadline = start + child_timeout();
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => {
                timed_out = true;
                // The child (and strace) lead their own process group: kill all of it.
                let pgid = i32::try_from(child.id()).expect("pid fits i32");
                // SAFETY: kill(2) with a negative pid signals that process group, which we
                // created for this child; no memory is involved.
                unsafe { libc::kill(-pgid, libc::SIGKILL) };
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("waiting for the {tag} child: {e}"),
        }
    };
    let elapsed = start.elapsed();
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    let stdout = read(&stdout_path);
    let stderr = read(&stderr_path);
    let result = stdout
        .lines()
        .find_map(|l| {
            l.find(RESULT_PREFIX)
                .map(|at| &l[at + RESULT_PREFIX.len()..])
        })
        .map(str::to_owned);
    let log = traced.then(|| read(&log_path));
    Run {
        case,
        mode,
        dir,
        timed_out,
        status,
        elapsed,
        result,
        stdout,
        stderr,
        log,
        nonce,
    }
}

/// Runs every (case, mode) pair, in parallel (see [`acquire_slot`]).
/// Each child's directory is created next to `bait`.
fn run_all(bait: &Path, jobs: &[(&'static str, Mode, &'static [u16])], traced: bool) -> Vec<Run> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .iter()
            .map(|&(case, mode, ports)| {
                scope.spawn(move || run_child(bait, case, mode, ports, traced))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

fn corpus_jobs(modes: &[Mode]) -> Vec<(&'static str, Mode, &'static [u16])> {
    CASES
        .iter()
        .flat_map(|c| modes.iter().map(move |&m| (c.name, m, c.ports)))
        .collect()
}

/// The strace lines between the markers, or why there are none to judge.
fn between_markers(run: &Run) -> Result<Vec<String>, String> {
    let log = run.log.as_deref().unwrap_or("");
    let begin = marker_path(&run.nonce, "begin");
    let end = marker_path(&run.nonce, "end");
    let lines: Vec<&str> = log.lines().collect();
    let find = |m: &str| lines.iter().position(|l| l.contains(m));
    let end_at = match find(&end) {
        // A child killed on timeout never reaches its end marker: judge what it did until
        // then (a hang is reported anyway).
        None if run.timed_out => Some(lines.len()),
        found => found,
    };
    match (find(&begin), end_at) {
        (Some(b), Some(e)) if b < e => Ok(lines[b + 1..e]
            .iter()
            .filter(|l| !l.contains("resumed>") || !l.contains("statx"))
            .map(|l| l.to_string())
            .collect()),
        (b, e) => Err(format!(
            "the strace log ({} lines) does not hold both markers in order \
             (begin at {b:?}, end at {e:?}); exit status {:?}, stderr:{}",
            lines.len(),
            run.status,
            run.stderr_tail()
        )),
    }
}

/// `bind`, `connect`, `sendto`, `open*`, `stat*`, … lines shortened for a message.
fn shorten(line: &str) -> String {
    let line = line.trim();
    if line.chars().count() > 160 {
        format!("{}…", line.chars().take(160).collect::<String>())
    } else {
        line.to_owned()
    }
}

/// Keeps the child directories of passing runs out of /tmp; failing ones stay for a look.
fn clean_up(runs: &[Run], failed: &BTreeSet<String>) {
    for run in runs {
        if !failed.contains(&run.label()) {
            let _ = std::fs::remove_dir_all(&run.dir);
        }
    }
}

/// Checks that strace works here and that the detector sees an open between the markers:
/// the `idle` child must be clean, the `control` child must show its openat of secret.ts.
/// Panics with a clear message otherwise (no strace, ptrace not permitted, markers lost).
fn check_strace_works() {
    match Command::new("strace").arg("-V").output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "`strace -V` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!(
            "cannot run strace ({e}): this test needs it and never skips; install it \
             (scripts/setup.sh does, Debian: apt-get install strace)"
        ),
    }
    let bait = make_bait_dir("strace-check");
    let runs = run_all(
        &bait,
        &[
            ("concat_relative", Mode::Idle, &[]),
            ("concat_relative", Mode::Control, &[]),
        ],
        true,
    );
    for run in &runs {
        let lines = between_markers(run).unwrap_or_else(|why| {
            panic!(
                "strace does not work here for {}: {why}\n(is ptrace permitted? in a \
                 container it may need CAP_SYS_PTRACE or a seccomp profile allowing ptrace)",
                run.label()
            )
        });
        let violations: Vec<&String> = lines.iter().filter(|l| !allowed(l)).collect();
        match run.mode {
            Mode::Idle => assert!(
                violations.is_empty(),
                "a child that does nothing between the markers still makes these syscalls \
                 there (the allowlist needs a look): {violations:#?}"
            ),
            _ => assert!(
                violations
                    .iter()
                    .any(|l| l.contains("open") && l.contains("\"secret.ts\"")),
                "the control child opened secret.ts between the markers, but the strace log \
                 does not show it there: {lines:#?}"
            ),
        }
        assert!(
            run.status.is_some_and(|s| s.success()),
            "{} child failed: {:?}\n{}",
            run.label(),
            run.status,
            run.stderr
        );
    }
    clean_up(&runs, &BTreeSet::new());
    let _ = std::fs::remove_dir_all(&bait);
}

// ---------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------

/// Every input, from a slice, from a pipe and through an in-memory opener, under
/// `strace -f`: between the markers, FFmpeg makes no file, socket or read syscall, and the
/// child neither hangs nor crashes.
#[test]
fn no_file_or_socket_syscalls_under_strace() {
    let start = Instant::now();
    check_strace_works();
    let bait = make_bait_dir("strace");
    let modes = [Mode::Slice, Mode::Pipe, Mode::Opener];
    let runs = run_all(&bait, &corpus_jobs(&modes), true);
    let _ = std::fs::remove_dir_all(&bait);
    let mut report = String::new();
    let mut failed = BTreeSet::new();
    for run in &runs {
        let mut problems = Vec::new();
        if run.timed_out {
            problems.push(format!("hung: killed after {:?}", run.elapsed));
        } else if !run.status.is_some_and(|s| s.success()) {
            problems.push(format!(
                "child failed ({:?}): {}{}",
                run.status,
                run.stdout
                    .lines()
                    .filter(|l| l.contains("panicked"))
                    .collect::<Vec<_>>()
                    .join(" "),
                run.stderr_tail()
            ));
        }
        match between_markers(run) {
            Ok(lines) => {
                let violations = violations(&lines);
                if !violations.is_empty() {
                    let mut text = format!("{} syscalls between the markers:", violations.len());
                    for v in violations.iter().take(12) {
                        let _ = write!(text, "\n      {v}");
                    }
                    if violations.len() > 12 {
                        let _ = write!(text, "\n      … ({} more)", violations.len() - 12);
                    }
                    problems.push(text);
                }
            }
            Err(why) => problems.push(why),
        }
        let outcome = run.result.as_deref().unwrap_or("(no result)");
        // Through the opener, a concat list is read, every name served: the run is not
        // vacuous.
        let list = Case::by_name(run.case).refused == CONCAT;
        if run.mode == Mode::Opener && list && !outcome.starts_with("ok format=concat ") {
            problems.push("the concat list was not read through the opener".to_owned());
        }
        if problems.is_empty() {
            let _ = writeln!(report, "ok   {}: {outcome}", run.label());
        } else {
            failed.insert(run.label());
            let _ = writeln!(report, "FAIL {}: {outcome}", run.label());
            for p in &problems {
                let _ = writeln!(report, "    {p}");
            }
            let _ = writeln!(
                report,
                "    (log: {})",
                run.dir.join("strace.log").display()
            );
        }
    }
    println!("{report}");
    println!("{} runs in {:?}", runs.len(), start.elapsed());
    clean_up(&runs, &failed);
    assert!(
        failed.is_empty(),
        "{} of {} runs let FFmpeg touch files or sockets, hung or crashed: {}\n\n{report}",
        failed.len(),
        runs.len(),
        failed.iter().cloned().collect::<Vec<_>>().join(", ")
    );
}

/// Every input, from a slice and from a pipe, in a child without strace: the demux fails
/// with a clear error (naming the demuxer, for those that can only work by opening other
/// files) or returns only packets whose bytes are in the input; nothing hangs.
///
/// Children rather than threads of this process: a hung SDP demux cannot be stopped from
/// inside (it would keep its UDP ports bound for the other tests).
#[test]
fn outcomes_without_strace() {
    let start = Instant::now();
    let bait = make_bait_dir("plain");
    let runs = run_all(&bait, &corpus_jobs(&[Mode::Slice, Mode::Pipe]), false);
    let _ = std::fs::remove_dir_all(&bait);
    let mut report = String::new();
    let mut failed = BTreeSet::new();
    for run in &runs {
        let case = Case::by_name(run.case);
        let mut problems = Vec::new();
        if run.timed_out {
            problems.push(format!("hung: killed after {:?}", run.elapsed));
        } else if !run.status.is_some_and(|s| s.success()) {
            problems.push(format!(
                "child failed ({:?}){}",
                run.status,
                run.stderr_tail()
            ));
        }
        match run.result.as_deref() {
            None if run.timed_out => {}
            None => problems.push("the child printed no result".to_owned()),
            Some(result) => {
                if let Some(err) = result.strip_prefix("err ") {
                    let message = err.split_once("message=").map_or("", |(_, m)| m).trim();
                    if message.is_empty() {
                        problems.push("an error without a message".to_owned());
                    }
                    if err.contains("variant=Io ") {
                        problems.push("Error::Io from a reader that cannot fail".to_owned());
                    }
                    if let Some(format) = case.refused {
                        if !message.to_lowercase().contains(format) {
                            problems.push(format!(
                                "the error does not say that the {format} demuxer is refused \
                                 (it opens other files by name): {message:?}"
                            ));
                        }
                    }
                } else if result.starts_with("ok ") {
                    if !result.contains(" foreign=0") {
                        problems.push(
                            "packets whose bytes are not in the input: they came from \
                             somewhere else"
                                .to_owned(),
                        );
                    }
                    if let Some(format) = case.refused {
                        problems.push(format!(
                            "the {format} demuxer can only work by opening other files; ffio \
                             must refuse it at open"
                        ));
                    }
                } else {
                    problems.push(format!("unexpected result line {result:?}"));
                }
            }
        }
        let outcome = run.result.as_deref().unwrap_or("(no result)");
        if problems.is_empty() {
            let _ = writeln!(report, "ok   {}: {outcome}", run.label());
        } else {
            failed.insert(run.label());
            let _ = writeln!(report, "FAIL {}: {outcome}", run.label());
            let _ = writeln!(report, "    tries: {}", case.tries);
            for p in &problems {
                let _ = writeln!(report, "    {p}");
            }
            let _ = writeln!(report, "    FFmpeg said:{}", run.stderr_tail());
        }
    }
    println!("{report}");
    println!("{} runs in {:?}", runs.len(), start.elapsed());
    clean_up(&runs, &failed);
    assert!(
        failed.is_empty(),
        "{} of {} runs failed: {}\n\n{report}",
        failed.len(),
        runs.len(),
        failed.iter().cloned().collect::<Vec<_>>().join(", ")
    );
}

/// The corpus is what the tests run: every file in tests/data/hostile is some case's input,
/// every case's file exists, names are unique, and the generated MOV inputs really carry an
/// alias data reference.
#[test]
fn corpus_is_complete() {
    let mut on_disk = BTreeSet::new();
    for entry in std::fs::read_dir(hostile_dir()).expect("listing tests/data/hostile") {
        let name = entry
            .expect("entry")
            .file_name()
            .into_string()
            .expect("utf-8");
        on_disk.insert(name);
    }
    let used: BTreeSet<String> = CASES
        .iter()
        .filter_map(|c| match c.input {
            Input::File(f) => Some(f.to_owned()),
            Input::Generated(_) => None,
        })
        .collect();
    let orphans: Vec<_> = on_disk.difference(&used).collect();
    let missing: Vec<_> = used.difference(&on_disk).collect();
    assert!(orphans.is_empty(), "files no case uses: {orphans:?}");
    assert!(
        missing.is_empty(),
        "cases whose file is missing: {missing:?}"
    );
    let names: BTreeSet<&str> = CASES.iter().map(|c| c.name).collect();
    assert_eq!(names.len(), CASES.len(), "duplicate case names");
    for case in CASES {
        let bytes = case.bytes();
        assert!(!bytes.is_empty(), "{}: empty input", case.name);
        if let Input::Generated(_) = case.input {
            assert!(contains(&bytes, b"alis"), "{}: no alis entry", case.name);
        }
    }
    // The generated MOV still parses: as many streams as ffprobe finds in the fixture.
    common::quiet();
    let bytes = mov_dref_relative();
    let demuxer = Demuxer::from_slice(&bytes).expect("the patched MP4 opens");
    let expected = common::ffprobe_streams(&fixture("h264_aac.mp4")).len();
    assert_eq!(
        demuxer.stream_count(),
        expected,
        "the patched MP4 keeps the fixture's tracks"
    );
}
