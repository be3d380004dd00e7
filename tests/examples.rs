//! The two example programs, run as a user would, checked against ffprobe and ffmpeg.
//!
//! `cargo test` builds the examples before it runs the tests; these tests find them next
//! to the test binary.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{example, fixture, READABLE};

fn run(name: &str, args: &[&str], stdin: Option<&[u8]>, dir: Option<&Path>) -> Output {
    let mut cmd = Command::new(example(name));
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    let mut child = cmd.spawn().unwrap();
    if let Some(bytes) = stdin {
        // The program may stop reading early (an error): a broken pipe is fine.
        let _ = child.stdin.take().unwrap().write_all(bytes);
    }
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `(codec_type, packets)` per stream, from `ffprobe -count_packets`.
fn ffprobe_counts(path: &Path) -> Vec<(String, u64)> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_packets",
            "-show_entries",
            "stream=codec_type,nb_read_packets",
            "-of",
            "flat",
        ])
        .arg(path)
        .output()
        .expect("ffprobe must be installed (scripts/setup.sh installs it)");
    assert!(out.status.success(), "ffprobe failed on {}", path.display());
    // Lines like `streams.stream.1.nb_read_packets="88"`; MPEG-TS also lists its streams
    // under `programs.`, which we skip.
    let mut streams: Vec<(String, u64)> = Vec::new();
    for line in text(&out.stdout).lines() {
        let Some(rest) = line.strip_prefix("streams.stream.") else {
            continue;
        };
        let (index, rest) = rest.split_once('.').unwrap();
        let index: usize = index.parse().unwrap();
        let (key, value) = rest.split_once('=').unwrap();
        let value = value.trim_matches('"');
        if streams.len() <= index {
            streams.resize(index + 1, (String::new(), 0));
        }
        match key {
            "codec_type" => streams[index].0 = value.to_owned(),
            "nb_read_packets" => streams[index].1 = value.parse().unwrap(),
            _ => {}
        }
    }
    streams
}

/// What count_frames must print for `path`: a line per stream, then the frame count of the
/// first video stream, all from ffprobe.
fn expected_count_output(path: &Path) -> (Vec<(String, u64)>, u64) {
    let counts = ffprobe_counts(path);
    let video = counts
        .iter()
        .find(|(kind, _)| kind == "video")
        .map(|(_, n)| *n)
        .expect("fixture has video");
    (counts, video)
}

fn assert_count_output(out: &Output, path: &Path, how: &str) {
    assert!(
        out.status.success(),
        "count_frames {how} {} failed: {}",
        path.display(),
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    let (streams, frames) = expected_count_output(path);
    assert_eq!(lines.len(), streams.len() + 1, "{how}: {stdout}");
    for (i, ((kind, n), line)) in streams.iter().zip(&lines).enumerate() {
        assert!(
            line.starts_with(&format!("stream {i}: {kind} "))
                && line.ends_with(&format!(", {n} packets")),
            "{how} {}: line {line:?}, ffprobe says {kind} {n}",
            path.display()
        );
    }
    assert_eq!(
        lines.last().unwrap(),
        &format!("There are {frames} frames in total."),
        "{how} {}",
        path.display()
    );
}

/// Exit status 1, nothing on stdout, exactly one line on stderr (returned).
fn assert_one_line_error(out: &Output, what: &str) -> String {
    assert_eq!(out.status.code(), Some(1), "{what}: {}", text(&out.stderr));
    assert!(
        out.stdout.is_empty(),
        "{what}: printed {}",
        text(&out.stdout)
    );
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{what}: stderr {stderr:?}");
    stderr
}

/// The readable fixtures with a video stream (a cover picture is not one).
fn video_fixtures() -> impl Iterator<Item = &'static str> {
    const AUDIO_ONLY: &[&str] = &["audio_only.m4a", "tone.flac", "id3_tags.mp3"];
    READABLE.iter().copied().filter(|n| !AUDIO_ONLY.contains(n))
}

/// Formats a non-seekable reader can demux.
const STREAMABLE: &[&str] = &[
    "h264_faststart.mp4",
    "h264_fragmented.mp4",
    "h264_aac.ts",
    "h264_aac.mkv",
];

#[test]
fn count_frames_counts_its_built_in_sample() {
    let out = run("count_frames", &[], None, None);
    // The embedded sample is tests/data/h264_aac.mp4.
    assert_count_output(&out, &fixture("h264_aac.mp4"), "(built-in)");
}

#[test]
fn count_frames_matches_ffprobe_from_memory_and_from_a_file() {
    for name in video_fixtures() {
        let path = fixture(name);
        let p = path.to_str().unwrap();
        // FILE is mapped into memory; --stream reads it through File.
        assert_count_output(&run("count_frames", &[p], None, None), &path, "mapped");
        assert_count_output(
            &run("count_frames", &["--stream", p], None, None),
            &path,
            "--stream",
        );
        for size in ["1", "4096"] {
            let out = run("count_frames", &["--buffer-size", size, p], None, None);
            assert_count_output(&out, &path, &format!("--buffer-size {size}"));
        }
    }
}

#[test]
fn count_frames_reads_streamable_formats_from_a_pipe() {
    for name in STREAMABLE {
        let path = fixture(name);
        let bytes = std::fs::read(&path).unwrap();
        assert_count_output(
            &run("count_frames", &["-"], Some(&bytes), None),
            &path,
            "pipe",
        );
    }
}

#[test]
fn count_frames_on_a_pipe_refuses_an_mp4_that_needs_seeking() {
    for name in ["h264_moov_end.mp4", "h264_aac.mp4"] {
        let bytes = std::fs::read(fixture(name)).unwrap();
        let out = run("count_frames", &["-"], Some(&bytes), None);
        let err = assert_one_line_error(&out, name);
        assert!(err.contains("not seekable"), "{err}");
    }
}

#[test]
fn count_frames_rejects_bad_input_with_one_line() {
    let missing = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("no-such-file.mp4");
    let mut cases: Vec<(String, Vec<String>)> = Vec::new();
    for name in [
        "empty.bin",
        "random.bin",
        "truncated_header.mp4",
        "truncated_half.mp4",
        "truncated_moov.mp4",
        "truncated_faststart.mp4",
        "audio_only.m4a",
    ] {
        let p = fixture(name).to_str().unwrap().to_owned();
        cases.push((name.to_owned(), vec![p.clone()]));
        cases.push((format!("--stream {name}"), vec!["--stream".into(), p]));
    }
    cases.push(("missing".into(), vec![missing.to_str().unwrap().into()]));
    let dir = fixture("empty.bin")
        .parent()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    cases.push(("a directory".into(), vec![dir.clone()]));
    cases.push(("--stream a directory".into(), vec!["--stream".into(), dir]));
    cases.push((
        "zero buffer".into(),
        vec!["--buffer-size".into(), "0".into()],
    ));
    cases.push(("bad option".into(), vec!["--frobnicate".into()]));
    for (what, args) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let err = assert_one_line_error(&run("count_frames", &args, None, None), &what);
        assert!(err.starts_with("count_frames: "), "{what}: {err}");
    }
    // Bad input on a pipe too.
    for name in ["empty.bin", "random.bin", "truncated_half.mp4"] {
        let bytes = std::fs::read(fixture(name)).unwrap();
        assert_one_line_error(&run("count_frames", &["-"], Some(&bytes), None), name);
    }
}

/// The ffmpeg CLI's extract of the first video stream as raw H.264.
fn ffmpeg_extract(input: &Path, dir: &Path) -> Vec<u8> {
    let out = dir.join(format!(
        "ffmpeg-{}.h264",
        input.file_name().unwrap().to_str().unwrap()
    ));
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(input)
        .args(["-map", "0:v:0", "-c", "copy", "-f", "h264"])
        .arg(&out)
        .status()
        .expect("ffmpeg must be installed (scripts/setup.sh installs it)");
    assert!(
        status.success(),
        "ffmpeg could not extract {}",
        input.display()
    );
    std::fs::read(out).unwrap()
}

fn scratch_dir(name: &str) -> PathBuf {
    common::scratch_dir("examples", name)
}

/// The readable fixtures with H.264 video.
fn h264_fixtures() -> impl Iterator<Item = &'static str> {
    READABLE.iter().copied().filter(|n| n.starts_with("h264"))
}

#[test]
fn extract_h264_is_byte_identical_to_the_ffmpeg_cli() {
    let dir = scratch_dir("extract");
    for name in h264_fixtures() {
        let input = fixture(name);
        let want = ffmpeg_extract(&input, &dir);
        assert!(!want.is_empty());
        let output = dir.join(format!("ffio-{name}.h264"));
        let args = [input.to_str().unwrap(), output.to_str().unwrap()];
        let out = run("extract_h264", &args, None, None);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        let got = std::fs::read(&output).unwrap();
        assert!(
            got == want,
            "{name}: {} bytes, ffmpeg wrote {}",
            got.len(),
            want.len()
        );
        // The summary line: packets (ffprobe's count of the video stream) and bytes.
        let (_, frames) = expected_count_output(&input);
        let summary = text(&out.stderr);
        assert_eq!(summary.lines().count(), 1, "{summary}");
        assert!(
            summary.contains(&format!("{frames} packets, {} bytes", want.len())),
            "{summary}"
        );

        // To standard output, with small buffers, per-packet flushing, the input loaded
        // into memory, and with `--stream` (the default's old name, still accepted).
        for extra in [
            &["--buffer-size", "4096"][..],
            &["--flush-packets"][..],
            &["--memory"][..],
            &["--memory", "--buffer-size", "4096"][..],
            &["--stream"][..],
        ] {
            let mut args: Vec<&str> = extra.to_vec();
            args.extend([input.to_str().unwrap(), "-"]);
            let out = run("extract_h264", &args, None, None);
            assert!(
                out.status.success(),
                "{name} {extra:?}: {}",
                text(&out.stderr)
            );
            assert!(out.stdout == want, "{name} {extra:?} to stdout differs");
        }
    }
}

#[test]
fn extract_h264_without_arguments_writes_output_h264() {
    let dir = scratch_dir("extract-default");
    let _ = std::fs::remove_file(dir.join("output.h264"));
    let out = run("extract_h264", &[], None, Some(&dir));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let got = std::fs::read(dir.join("output.h264")).unwrap();
    // The embedded sample is tests/data/h264_aac.mp4.
    assert!(got == ffmpeg_extract(&fixture("h264_aac.mp4"), &dir));
}

#[test]
fn extract_h264_rejects_input_without_h264_video() {
    let dir = scratch_dir("extract-bad");
    for name in [
        "hevc.mp4",
        "audio_only.m4a",
        "random.bin",
        "empty.bin",
        "truncated_half.mp4",
    ] {
        let output = dir.join(format!("{name}.h264"));
        let (input, out) = (fixture(name), output.to_str().unwrap().to_owned());
        // Read through File (the default) and loaded into memory.
        for mode in [&[][..], &["--memory"][..]] {
            let mut args = mode.to_vec();
            args.extend([input.to_str().unwrap(), &out]);
            let what = format!("{name} {mode:?}");
            let err = assert_one_line_error(&run("extract_h264", &args, None, None), &what);
            assert!(err.starts_with("extract_h264: "), "{what}: {err}");
            assert!(!output.exists(), "{what}: left a partial output behind");
        }
    }
    let err = assert_one_line_error(
        &run(
            "extract_h264",
            &[fixture("hevc.mp4").to_str().unwrap(), "-"],
            None,
            None,
        ),
        "hevc to stdout",
    );
    assert!(err.contains("hevc"), "{err}");
}
