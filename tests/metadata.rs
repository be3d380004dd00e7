//! Metadata (issue 10, "truth about the input"): the probe example's JSON compared field by
//! field with `ffprobe -of json -show_format -show_streams` run at test time, over every
//! readable fixture, from a file and from standard input, with and without
//! `--count`/`-count_packets`; and the typed API (`Stream::rotation`, languages,
//! dispositions, colours, …) against the values ffprobe reports. Expected values always
//! come from ffprobe, never from ffio.
//!
//! # The fields compared
//!
//! Every field in [`FORMAT_FIELDS`], [`STREAM_FIELDS`] and (inside a stream's
//! `side_data_list` entries) [`SIDE_DATA_FIELDS`], with everything under `tags` and
//! `disposition`: probe must print each of them exactly when ffprobe does, with the same
//! JSON type and value, and must print nothing else.
//!
//! # The fields ffprobe prints that probe leaves out, and why
//!
//! * `nb_programs`, `probe_score` (format): ffio has no program API yet, and it probes the
//!   format itself (to refuse formats before FFmpeg opens them), so FFmpeg's context holds
//!   no probe score.
//! * `id`, `bits_per_sample`, `initial_padding` (stream): plain codec-parameter fields
//!   outside this list; cheap to add later (`id` is printed only for formats
//!   with `AVFMT_SHOW_IDS`).
//! * `coded_width`, `coded_height`, `closed_captions`, `film_grain`, `refs`,
//!   `max_bit_rate`, `bits_per_raw_sample`, `nb_read_frames`, and decoder-private options
//!   such as `is_avc` and `nal_length_size`: ffprobe takes them from a decoder it opens
//!   (or from decoding frames); ffio demuxes and does not decode.
//! * `extradata_hash` (only with `-show_data_hash`), `mime_codec_string` (newer ffprobe
//!   versions): not printed by the command compared here on every version.
//! * Side data fields other than the display matrix's (`displaymatrix`, `rotation`) and
//!   the CPB properties': ffprobe has a printer per type (stereo 3D, spherical, mastering
//!   display, …); probe prints every entry's `side_data_type` and those two types' fields.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::json::{self, Json};
use common::{fixture, fixture_bytes, quiet, ProbeInput};

/// Format fields compared with ffprobe's.
const FORMAT_FIELDS: &[&str] = &[
    "filename",
    "nb_streams",
    "format_name",
    "format_long_name",
    "start_time",
    "duration",
    "size",
    "bit_rate",
    "tags",
];

/// Stream fields compared with ffprobe's.
const STREAM_FIELDS: &[&str] = &[
    "index",
    "codec_name",
    "codec_long_name",
    "profile",
    "codec_type",
    "codec_tag_string",
    "codec_tag",
    "width",
    "height",
    "has_b_frames",
    "sample_aspect_ratio",
    "display_aspect_ratio",
    "pix_fmt",
    "level",
    "color_range",
    "color_space",
    "color_transfer",
    "color_primaries",
    "chroma_location",
    "field_order",
    "sample_fmt",
    "sample_rate",
    "channels",
    "channel_layout",
    "r_frame_rate",
    "avg_frame_rate",
    "time_base",
    "start_pts",
    "start_time",
    "duration_ts",
    "duration",
    "bit_rate",
    "nb_frames",
    "nb_read_packets",
    "extradata_size",
    "disposition",
    "tags",
    "side_data_list",
];

/// Fields of a `side_data_list` entry compared with ffprobe's.
const SIDE_DATA_FIELDS: &[&str] = &[
    "side_data_type",
    "displaymatrix",
    "rotation",
    "max_bitrate",
    "min_bitrate",
    "avg_bitrate",
    "buffer_size",
    "vbv_delay",
];

/// Every fixture whose metadata is compared: all that FFmpeg opens.
fn fixtures() -> Vec<&'static str> {
    let mut all: Vec<&str> = common::READABLE.to_vec();
    for name in common::METADATA.iter().chain(&["truncated_faststart.mp4"]) {
        if !all.contains(name) {
            all.push(name);
        }
    }
    all
}

/// `true` for the fields in scope; see the module docs.
fn in_scope(path: &str, key: &str) -> bool {
    if path.is_empty() {
        return key == "format" || key == "streams";
    }
    if path == "format" {
        return FORMAT_FIELDS.contains(&key);
    }
    if let Some(rest) = path.strip_prefix("streams[") {
        if !rest.contains('.') {
            return STREAM_FIELDS.contains(&key);
        }
        if rest.contains(".side_data_list[") && rest.ends_with(']') {
            return SIDE_DATA_FIELDS.contains(&key);
        }
    }
    true // inside tags and disposition: everything
}

/// The in-scope fields of a JSON document.
fn fields(doc: &Json) -> BTreeMap<String, String> {
    json::flatten(doc, &|path, key| !in_scope(path, key))
}

fn parse(what: &str, text: &str) -> Json {
    json::parse(text).unwrap_or_else(|e| panic!("{what}: invalid JSON ({e}):\n{text}"))
}

/// Runs the probe example with `args`, standard input from `stdin` (or nothing).
fn run_probe(args: &[&str], stdin: Option<&Path>) -> Output {
    let mut command = Command::new(common::example("probe"));
    command.args(args);
    match stdin {
        Some(path) => command.stdin(std::fs::File::open(path).unwrap()),
        None => command.stdin(Stdio::null()),
    };
    command.output().expect("running the probe example")
}

/// ffprobe's JSON for `path`.
fn ffprobe_json(path: &Path, count: bool, input: ProbeInput) -> Json {
    let mut args = vec![
        "-v",
        "error",
        "-of",
        "json",
        "-show_format",
        "-show_streams",
    ];
    if count {
        args.push("-count_packets");
    }
    let out = common::run_ffprobe(&args, path, input);
    assert!(
        out.success,
        "ffprobe failed on {}: {}",
        path.display(),
        out.stderr
    );
    parse("ffprobe", &out.stdout)
}

/// Compares probe's output with ffprobe's for one fixture and returns how many fields
/// were compared; panics on the first difference, listing all of them.
fn compare(name: &str, count: bool, input: ProbeInput) -> usize {
    let path = fixture(name);
    let path_arg = path.to_str().unwrap();
    let mut args = Vec::new();
    if count {
        args.push("--count");
    }
    let out = match input {
        ProbeInput::File => {
            args.push(path_arg);
            run_probe(&args, None)
        }
        ProbeInput::Pipe => {
            args.push("-");
            run_probe(&args, Some(&path))
        }
    };
    let what = format!("{name} (count: {count}, {input:?})");
    let stdout = String::from_utf8(out.stdout).expect("UTF-8 output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected_doc = ffprobe_json(&path, count, input);
    if !out.status.success() {
        // The one refusal allowed: an MP4 that needs seeking, read through a pipe. ffprobe
        // then reads what it can and prints N/A counts; ffio must say why it cannot.
        assert!(
            input == ProbeInput::Pipe && count && stderr.contains("not seekable"),
            "{what}: probe failed: {stderr}"
        );
        let streams = expected_doc.get("streams").map(Json::items).unwrap_or(&[]);
        assert!(
            streams.iter().any(|s| s.get("nb_read_packets").is_none()),
            "{what}: probe refused an input ffprobe counted completely: {stderr}"
        );
        return 0;
    }
    let doc = parse(&what, &stdout);
    let got = fields(&doc);
    assert_eq!(
        got,
        json::flatten(&doc, &|_, _| false),
        "{what}: probe printed fields outside the compared set"
    );
    let expected = fields(&expected_doc);
    let mut differences = Vec::new();
    for key in got.keys().chain(expected.keys()) {
        let (a, b) = (got.get(key), expected.get(key));
        if a != b && !differences.iter().any(|(k, _, _)| k == key) {
            differences.push((key.clone(), a.cloned(), b.cloned()));
        }
    }
    assert!(
        differences.is_empty(),
        "{what}: probe and ffprobe differ (field, probe, ffprobe):\n{}",
        differences
            .iter()
            .map(|(k, a, b)| format!("  {k}: {a:?} vs {b:?}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        expected.keys().any(|k| k.starts_with("streams[0].")),
        "{what}: nothing compared"
    );
    expected.len()
}

fn compare_all(count: bool, input: ProbeInput) {
    let mut total = 0;
    for name in fixtures() {
        total += compare(name, count, input);
    }
    eprintln!("compared {total} fields with ffprobe (count: {count}, {input:?})");
    assert!(total > 500, "only {total} fields compared");
}

#[test]
fn probe_matches_ffprobe_on_files() {
    compare_all(false, ProbeInput::File);
}

#[test]
fn probe_count_matches_ffprobe_count_packets_on_files() {
    compare_all(true, ProbeInput::File);
}

#[test]
fn probe_matches_ffprobe_on_stdin() {
    compare_all(false, ProbeInput::Pipe);
}

#[test]
fn probe_count_matches_ffprobe_count_packets_on_stdin() {
    compare_all(true, ProbeInput::Pipe);
}

/// Runs probe with `args` and checks it failed the way a command-line tool should: exit
/// status 1 (not a panic's 101), nothing on stdout, one line on stderr naming the program.
fn assert_fails(args: &[&str], stdin: Option<&Path>, needle: &str) {
    let out = run_probe(args, stdin);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "probe {args:?}: {stderr}");
    assert!(out.stdout.is_empty(), "probe {args:?} printed on stdout");
    assert_eq!(stderr.lines().count(), 1, "probe {args:?}: {stderr}");
    assert!(
        stderr.starts_with("probe: ") && stderr.contains(needle),
        "probe {args:?}: expected {needle:?} in {stderr:?}"
    );
}

#[test]
fn probe_rejects_bad_input_with_one_line() {
    for name in [
        "empty.bin",
        "random.bin",
        "truncated_header.mp4",
        "truncated_moov.mp4",
    ] {
        let path = fixture(name);
        assert!(!common::ffprobe_accepts(&path), "ffprobe reads {name}");
        assert_fails(&[path.to_str().unwrap()], None, "avformat_open_input");
        assert_fails(&["-"], Some(&path), "avformat_open_input");
    }
    assert_fails(&["/nonexistent/file.mp4"], None, "No such file");
    assert_fails(&[env!("CARGO_MANIFEST_DIR")], None, "is a directory");
    // Standard input at its end right away: nothing to probe.
    assert_fails(&["-"], None, "avformat_open_input");
}

#[test]
fn probe_usage_errors() {
    assert_fails(&[], None, "usage: probe");
    assert_fails(&["--bogus", "x"], None, "unknown option --bogus");
    assert_fails(&["a", "b"], None, "more than one input");
    assert_fails(&["--help"], None, "usage: probe");
}

#[test]
fn probe_escapes_strings() {
    // Tag values with quotes, backslashes and control characters survive the round trip
    // through probe's hand-written JSON (the parser here is strict).
    let dir = std::env::temp_dir().join(format!("ffio-probe-escape-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("escape.mkv");
    let title = "quote \" backslash \\ tab \t newline \n bell \u{7} é";
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i"])
        .arg(fixture("h264_aac.mkv"))
        .args(["-c", "copy", "-metadata"])
        .arg(format!("title={title}"))
        .arg(&path)
        .status()
        .expect("running ffmpeg");
    assert!(status.success());
    let out = run_probe(&[path.to_str().unwrap()], None);
    assert!(out.status.success());
    let doc = parse("probe", std::str::from_utf8(&out.stdout).unwrap());
    let expected = ffprobe_json(&path, false, ProbeInput::File);
    let tag = |doc: &Json| {
        doc.get("format")
            .and_then(|f| f.get("tags"))
            .and_then(|t| t.get("title"))
            .and_then(Json::as_str)
            .map(str::to_owned)
    };
    assert_eq!(tag(&doc), tag(&expected));
    assert_eq!(tag(&doc).as_deref(), Some(title));
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------------------------------
// The typed API, against ffprobe's values.
// ---------------------------------------------------------------------------------------

/// ffprobe's stream `index` of `name`.
fn ffprobe_stream(name: &str, index: usize) -> Json {
    let doc = ffprobe_json(&fixture(name), false, ProbeInput::File);
    doc.get("streams").unwrap().items()[index].clone()
}

fn str_field(stream: &Json, key: &str) -> Option<String> {
    stream.get(key).and_then(Json::as_str).map(str::to_owned)
}

#[test]
fn rotation_of_the_phone_video() {
    quiet();
    let expected = ffprobe_stream("rotated.mp4", 0);
    let side = &expected.get("side_data_list").expect("side data").items()[0];
    let rotation = side.get("rotation").and_then(Json::as_i64).unwrap();
    assert_eq!(rotation, -90, "the fixture is a phone-style -90 rotation");
    let bytes = fixture_bytes("rotated.mp4");
    let demuxer = ffio::Demuxer::from_slice(&bytes).unwrap();
    let stream = demuxer.stream(0).unwrap();
    assert_eq!(stream.rotation(), Some(rotation as f64));
    let sd: Vec<_> = stream.side_data().collect();
    assert_eq!(sd.len(), 1);
    assert_eq!(
        Some(sd[0].name()),
        side.get("side_data_type").and_then(Json::as_str)
    );
    // Streams without a display matrix have no rotation.
    let plain = fixture_bytes("h264_aac.mp4");
    let demuxer = ffio::Demuxer::from_slice(&plain).unwrap();
    assert_eq!(demuxer.stream(0).unwrap().rotation(), None);
}

#[test]
fn languages_dispositions_and_tags() {
    quiet();
    let name = "multi_audio_subs.mkv";
    let bytes = fixture_bytes(name);
    let demuxer = ffio::Demuxer::from_slice(&bytes).unwrap();
    let mut languages = Vec::new();
    for stream in demuxer.streams() {
        let expected = ffprobe_stream(name, stream.index());
        let tags = expected.get("tags");
        let language = tags.and_then(|t| t.get("language")).and_then(Json::as_str);
        assert_eq!(stream.language().as_deref(), language);
        languages.extend(stream.language().map(|l| l.into_owned()));
        // Tags in ffprobe's order, with ffprobe's values.
        let got: Vec<(String, String)> = stream
            .tags()
            .iter()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let want: Vec<(String, String)> = match tags {
            Some(Json::Object(fields)) => fields
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect(),
            _ => Vec::new(),
        };
        assert_eq!(got, want, "stream {}", stream.index());
        assert_eq!(stream.tags().len(), want.len());
        // Every disposition flag, in ffprobe's order.
        let got: Vec<(&str, bool)> = stream.disposition().flags().collect();
        let want: Vec<(String, bool)> = match expected.get("disposition") {
            Some(Json::Object(fields)) => fields
                .iter()
                .map(|(k, v)| (k.clone(), v.as_i64() == Some(1)))
                .collect(),
            _ => panic!("ffprobe printed no disposition"),
        };
        let got: Vec<(String, bool)> = got.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        assert_eq!(got, want, "stream {}", stream.index());
    }
    assert_eq!(languages, ["eng", "deu", "eng"], "the fixture's languages");
    let d = |i: usize| demuxer.stream(i).unwrap().disposition();
    assert!(d(1).contains(ffio::Disposition::DEFAULT));
    assert!(!d(2).contains(ffio::Disposition::DEFAULT));
    assert!(d(3).contains(ffio::Disposition::FORCED));
    assert_eq!(d(3).names().collect::<Vec<_>>(), ["forced"]);
    // Case-insensitive lookup, as FFmpeg matches keys.
    assert_eq!(
        demuxer.tags().get("TITLE").as_deref(),
        Some("Two languages")
    );
}

#[test]
fn cover_art_and_id3_tags() {
    quiet();
    let name = "id3_tags.mp3";
    let expected = ffprobe_json(&fixture(name), false, ProbeInput::File);
    let tags = expected.get("format").unwrap().get("tags").unwrap();
    let bytes = fixture_bytes(name);
    let demuxer = ffio::Demuxer::from_slice(&bytes).unwrap();
    for key in ["title", "artist"] {
        let want = tags.get(key).and_then(Json::as_str);
        assert!(want.is_some(), "ffprobe has no {key}");
        assert_eq!(demuxer.tags().get(key).as_deref(), want);
    }
    let cover = demuxer.stream(1).unwrap();
    let want = ffprobe_stream(name, 1);
    let attached = want
        .get("disposition")
        .unwrap()
        .get("attached_pic")
        .unwrap();
    assert_eq!(attached.as_i64(), Some(1));
    assert!(cover
        .disposition()
        .contains(ffio::Disposition::ATTACHED_PIC));
    assert_eq!(
        Some(cover.codec_name().to_owned()),
        str_field(&want, "codec_name")
    );
    assert_eq!(
        demuxer.size(),
        str_field(expected.get("format").unwrap(), "size").map(|s| s.parse().unwrap())
    );
}

#[test]
fn hdr_colours_profile_and_pixel_format() {
    quiet();
    let name = "hevc_hdr10.mp4";
    let want = ffprobe_stream(name, 0);
    let bytes = fixture_bytes(name);
    let demuxer = ffio::Demuxer::from_slice(&bytes).unwrap();
    let s = demuxer.stream(0).unwrap();
    let name_of = |v: Option<&'static str>| v.map(str::to_owned);
    assert_eq!(
        name_of(s.pixel_format().map(|v| v.name())),
        str_field(&want, "pix_fmt")
    );
    assert_eq!(
        name_of(s.color_range().map(|v| v.name())),
        str_field(&want, "color_range")
    );
    assert_eq!(
        name_of(s.color_space().map(|v| v.name())),
        str_field(&want, "color_space")
    );
    assert_eq!(
        name_of(s.color_primaries().map(|v| v.name())),
        str_field(&want, "color_primaries")
    );
    assert_eq!(
        name_of(s.color_transfer().map(|v| v.name())),
        str_field(&want, "color_transfer")
    );
    assert_eq!(
        s.profile().map(|p| p.to_string()),
        str_field(&want, "profile")
    );
    assert_eq!(
        s.level().map(i64::from),
        want.get("level").and_then(Json::as_i64)
    );
    assert_eq!(
        Some(s.codec_tag_string()),
        str_field(&want, "codec_tag_string")
    );
    assert_eq!(
        Some(format!("0x{:04x}", s.codec_tag())),
        str_field(&want, "codec_tag")
    );
    // The fixture is what its name says.
    assert_eq!(s.codec_tag_string(), "hvc1");
    assert_eq!(s.pixel_format().unwrap().name(), "yuv420p10le");
    assert_eq!(s.color_transfer().unwrap().name(), "smpte2084");
    assert!(s.color_range().unwrap().is_limited());
    // Unspecified colours are None, not a name.
    let plain = fixture_bytes("h264_aac.mp4");
    let demuxer = ffio::Demuxer::from_slice(&plain).unwrap();
    let s = demuxer.stream(0).unwrap();
    assert_eq!(s.color_primaries(), None);
    assert_eq!(
        s.sample_format(),
        None,
        "a video stream has no sample format"
    );
}

#[test]
fn interlaced_field_order() {
    quiet();
    let name = "mpeg2_interlaced.ts";
    let want = ffprobe_stream(name, 0);
    let bytes = fixture_bytes(name);
    let demuxer = ffio::Demuxer::from_slice(&bytes).unwrap();
    let s = demuxer.stream(0).unwrap();
    let order = s.field_order().expect("a field order");
    assert_eq!(
        Some(order.name().to_owned()),
        str_field(&want, "field_order")
    );
    assert_eq!(order, ffio::FieldOrder::TopFirst);
    assert!(order.is_interlaced());
}

#[test]
fn audio_layout_sample_format_and_times() {
    quiet();
    for name in [
        "vp9_opus.webm",
        "tone.flac",
        "audio_only.m4a",
        "h264_aac.mp4",
    ] {
        let bytes = fixture_bytes(name);
        let demuxer = ffio::Demuxer::from_slice(&bytes).unwrap();
        for s in demuxer.streams() {
            let want = ffprobe_stream(name, s.index());
            assert_eq!(
                s.channel_layout(),
                str_field(&want, "channel_layout"),
                "{name}"
            );
            assert_eq!(
                s.sample_format().map(|f| f.name().to_owned()),
                str_field(&want, "sample_fmt"),
                "{name}"
            );
            assert_eq!(
                s.extradata().len() as i64,
                want.get("extradata_size")
                    .and_then(Json::as_i64)
                    .unwrap_or(0)
            );
            let duration = str_field(&want, "duration").map(|d| d.parse::<f64>().unwrap());
            let got = s.duration_time().map(|d| d.as_secs_f64());
            match (got, duration) {
                (Some(a), Some(b)) => assert!((a - b).abs() < 1e-6, "{name}: {a} vs {b}"),
                (a, b) => assert_eq!(a, b, "{name}"),
            }
            assert_eq!(
                s.start_time().map(|t| t.to_string()),
                str_field(&want, "start_time")
            );
        }
    }
}

#[test]
fn size_is_known_only_when_seekable() {
    quiet();
    let path = fixture("h264_aac.mkv");
    let want = ffprobe_json(&path, false, ProbeInput::File);
    let size: u64 = str_field(want.get("format").unwrap(), "size")
        .unwrap()
        .parse()
        .unwrap();
    let bytes = fixture_bytes("h264_aac.mkv");
    assert_eq!(
        ffio::Demuxer::from_slice(&bytes).unwrap().size(),
        Some(size)
    );
    let file = std::fs::File::open(&path).unwrap();
    assert_eq!(
        ffio::Demuxer::from_seekable_reader(file).unwrap().size(),
        Some(size)
    );
    let piped = ffprobe_json(&path, false, ProbeInput::Pipe);
    assert!(piped.get("format").unwrap().get("size").is_none());
    assert_eq!(ffio::Demuxer::from_reader(&bytes[..]).unwrap().size(), None);
}

#[test]
fn option_for_applies_to_its_format_only() {
    quiet();
    let open = |name: &str, options: ffio::DemuxerOptions| {
        let bytes = fixture_bytes(name);
        options
            .open(ffio::CustomIo::seekable_reader(std::io::Cursor::new(bytes)).unwrap())
            .map(|_| ())
    };
    let scan = || ffio::DemuxerOptions::new().option_for("mpegts", "scan_all_pmts", "1");
    open("h264_aac.ts", scan()).unwrap();
    open("h264_aac.mp4", scan()).unwrap();
    // A misspelt option for the format at hand is reported, as with `option`.
    let bogus = ffio::DemuxerOptions::new().option_for("mpegts", "scan_all_pmtz", "1");
    assert!(matches!(
        open("h264_aac.ts", bogus.clone()),
        Err(ffio::Error::UnknownOptions { .. })
    ));
    open("h264_aac.mkv", bogus).unwrap();
    // Format-context options are refused: avformat_open_input would apply them after ffio.
    let fflags = ffio::DemuxerOptions::new().option_for("mpegts", "fflags", "+genpts");
    assert!(matches!(
        open("h264_aac.ts", fflags),
        Err(ffio::Error::InvalidOption { .. })
    ));
}
