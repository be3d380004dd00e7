//! examples/thumbnail, run as a user would, against the ffmpeg CLI: `--raw` byte-identical
//! to `ffmpeg [-ss S] -i IN -frames:v 1 -f rawvideo -pix_fmt <the stream's own>`, the PPM
//! within 40 dB PSNR of `ffmpeg -i IN -frames:v 1 -pix_fmt rgb24 -c:v ppm`, errors as one
//! line and exit status 1.
//!
//! Every file of tests/data that ffprobe reads as video is checked. The example writes
//! frames as stored, so ffmpeg runs with `-noautorotate` (it would otherwise turn
//! rotated.mp4's frame by its display matrix).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{example, run_ffprobe, ProbeInput};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("data")
}

/// A scratch directory of this test's own, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("ffio-thumb-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn thumbnail(args: &[&str]) -> Output {
    Command::new(example("thumbnail"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn ffmpeg(args: &[&str]) -> Output {
    Command::new("ffmpeg")
        .args(["-hide_banner", "-v", "error", "-nostdin", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg must be installed (scripts/setup.sh installs it)")
}

/// `(pixel format, duration in seconds)` of the first video stream, if ffprobe finds one
/// with a known pixel format.
fn ffprobe_video(path: &Path) -> Option<(String, f64)> {
    let args = [
        "-v",
        "error",
        "-select_streams",
        "v:0",
        "-show_entries",
        "stream=pix_fmt:format=duration",
        "-of",
        "default=nw=1",
    ];
    // Files ffprobe cannot read at all (garbage, a cut header) have no video stream.
    let text = run_ffprobe(&args, path, ProbeInput::File).stdout;
    let value = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(str::to_owned)
    };
    let pix_fmt = value("pix_fmt").filter(|p| p != "unknown")?;
    let duration = value("duration")
        .and_then(|d| d.parse().ok())
        .unwrap_or(0.0);
    Some((pix_fmt, duration))
}

/// Every file directly in tests/data with a video stream ffprobe can name the format of.
fn video_inputs() -> Vec<(PathBuf, String, f64)> {
    let mut inputs: Vec<_> = std::fs::read_dir(data_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .filter_map(|p| ffprobe_video(&p).map(|(fmt, d)| (p, fmt, d)))
        .collect();
    inputs.sort_by(|a, b| a.0.cmp(&b.0));
    inputs
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Exit status 1, exactly one line on stderr, no OUT written.
fn assert_one_line_error(out: &Output, what: &str, output: &Path) {
    assert_eq!(out.status.code(), Some(1), "{what}: {}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{what}: stderr {stderr:?}");
    assert!(stderr.starts_with("thumbnail: "), "{what}: {stderr:?}");
    assert!(!output.exists(), "{what}: left {}", output.display());
}

/// A `format` entry of `input` as ffprobe prints it (`format_name`, `start_time`).
fn format_entry(input: &str, key: &str) -> String {
    let entries = format!("format={key}");
    let args = ["-v", "error", "-show_entries", &entries, "-of", "csv=p=0"];
    run_ffprobe(&args, Path::new(input), ProbeInput::File)
        .stdout
        .trim()
        .to_owned()
}

/// Whether the running FFmpeg's CLI skips the accurate seek for `input`: an MPEG-TS on
/// FFmpeg 7 or newer (libavformat 61), where `-ss` gives the first frame decoded after
/// the seek.
fn cli_skips_accurate_seek(input: &str) -> bool {
    // SAFETY: avformat_version only returns a constant.
    let major = unsafe { ffio::sys::avformat_version() } >> 16;
    major >= 61 && format_entry(input, "format_name") == "mpegts"
}

/// Every frame of `input`'s first video stream, decoded by the CLI into `pix_fmt`, with
/// its presentation time (ffprobe).
fn all_frames(input: &str, pix_fmt: &str) -> Vec<(f64, Vec<u8>)> {
    let dir = Scratch::new("all-frames");
    let out = dir.0.join("all.raw");
    let args = [
        "-i", input, "-map", "0:v:0", "-f", "rawvideo", "-pix_fmt", pix_fmt,
    ];
    let mut args = args.to_vec();
    args.push(out.to_str().unwrap());
    assert!(ffmpeg(&args).status.success(), "{input}: full decode");
    let data = std::fs::read(&out).unwrap();
    let probe = [
        "-v",
        "error",
        "-select_streams",
        "v:0",
        "-show_entries",
        "frame=pts_time",
        "-of",
        "csv=p=0",
    ];
    let times: Vec<f64> = run_ffprobe(&probe, Path::new(input), ProbeInput::File)
        .stdout
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .collect();
    let count = times.len();
    assert!(
        count > 0 && data.len() % count == 0,
        "{input}: {count} frames"
    );
    times
        .into_iter()
        .zip(data.chunks(data.len() / count).map(<[u8]>::to_vec))
        .collect()
}

/// The first frame at or after `at` seconds from the container's start (as `-ss` counts).
fn first_frame_at_or_after(input: &str, pix_fmt: &str, at: f64) -> Vec<u8> {
    let start: f64 = format_entry(input, "start_time").parse().unwrap();
    all_frames(input, pix_fmt)
        .into_iter()
        .find(|(t, _)| *t >= start + at - 1e-6)
        .unwrap_or_else(|| panic!("{input}: no frame at or after {at} s"))
        .1
}

/// Which frame of a full decode `frame` is, for the failure message.
fn frame_index(frames: &[(f64, Vec<u8>)], frame: &[u8]) -> Option<usize> {
    frames.iter().position(|(_, f)| f == frame)
}

/// A mid-file position: half the duration, moved off the 25 fps grid of the fixtures so
/// that no frame sits at the boundary.
fn mid(duration: f64) -> String {
    format!("{:.3}", (duration * 50.0).floor() / 100.0 + 0.013)
}

#[test]
fn raw_frames_equal_ffmpegs_for_every_video_fixture() {
    let scratch = Scratch::new("raw");
    let inputs = video_inputs();
    // tests/data has 15 files with a video stream ffmpeg decodes (a cover picture included).
    assert!(inputs.len() >= 15, "only {} video inputs", inputs.len());
    let mut compared = 0;
    for (input, pix_fmt, duration) in &inputs {
        let name = input.file_name().unwrap().to_string_lossy().into_owned();
        let input = input.to_str().unwrap();
        for at in [None, Some(mid(*duration))] {
            let want = scratch.0.join(format!("{name}.ffmpeg.raw"));
            let got = scratch.0.join(format!("{name}.ffio.raw"));
            let mut args = vec!["-noautorotate"];
            if let Some(at) = &at {
                args.extend(["-ss", at]);
            }
            args.extend(["-i", input, "-frames:v", "1", "-f", "rawvideo", "-pix_fmt"]);
            args.extend([pix_fmt.as_str(), want.to_str().unwrap()]);
            let ff = ffmpeg(&args);
            let mut expected = std::fs::read(&want).unwrap_or_default();
            if let (Some(at), true) = (&at, cli_skips_accurate_seek(input)) {
                // FFmpeg >= 7's CLI writes the first frame it decodes after seeking in an
                // MPEG-TS, not the first at or after -ss (its trim does not run there):
                // on h264_aac.ts, -ss 1.023 gives the keyframe at 2.44 s although the
                // target is 2.48 s (start 1.457 s + 1.023). The reference for this case
                // is then the frame thumbnail promises, from a full decode by the CLI and
                // ffprobe's frame times.
                expected = first_frame_at_or_after(input, pix_fmt, at.parse().unwrap());
            }
            let mut args = vec!["--raw"];
            if let Some(at) = &at {
                args.extend(["--at", at]);
            }
            args.extend([input, got.to_str().unwrap()]);
            let out = thumbnail(&args);
            let what = format!("{name} --at {at:?}");
            if !ff.status.success() || expected.is_empty() {
                // Nothing for ffmpeg to write (a cover picture has no frame mid-file, a
                // damaged index no frame at all): an error here too.
                assert_one_line_error(&out, &what, &got);
                continue;
            }
            assert!(out.status.success(), "{what}: {}", text(&out.stderr));
            let frame = std::fs::read(&got).unwrap();
            if frame != expected {
                let frames = all_frames(input, pix_fmt);
                panic!(
                    "{what}: the frames differ (ffio's is frame {:?} of a full decode, the \
                     reference {:?})",
                    frame_index(&frames, &frame),
                    frame_index(&frames, &expected)
                );
            }
            compared += 1;
            let _ = std::fs::remove_file(&got);
            let _ = std::fs::remove_file(&want);
        }
    }
    // Every input at its start, and all but the cover picture mid-file.
    assert!(compared >= 2 * inputs.len() - 2, "compared {compared}");
}

/// A binary PPM's header (`P6 W H 255`) and its pixels.
fn ppm(bytes: &[u8]) -> ((usize, usize), &[u8]) {
    let mut fields = Vec::new();
    let mut at = 0;
    while fields.len() < 4 {
        while bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        let start = at;
        while !bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        fields.push(std::str::from_utf8(&bytes[start..at]).unwrap().to_owned());
    }
    assert_eq!(fields[0], "P6");
    assert_eq!(fields[3], "255");
    let size = (fields[1].parse().unwrap(), fields[2].parse().unwrap());
    (size, &bytes[at + 1..])
}

/// PSNR in dB of `b` against `a`, over all samples (infinite when identical).
fn psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    let sum: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum();
    let mse = sum / a.len() as f64;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}

#[test]
fn ppm_is_within_40_db_of_ffmpegs() {
    let scratch = Scratch::new("ppm");
    let mut compared = 0;
    for (input, _, _) in video_inputs() {
        let name = input.file_name().unwrap().to_string_lossy().into_owned();
        let input = input.to_str().unwrap();
        let want = scratch.0.join(format!("{name}.ffmpeg.ppm"));
        let got = scratch.0.join(format!("{name}.ffio.ppm"));
        let ff = ffmpeg(&[
            "-noautorotate",
            "-i",
            input,
            "-frames:v",
            "1",
            "-pix_fmt",
            "rgb24",
            "-c:v",
            "ppm",
            want.to_str().unwrap(),
        ]);
        let out = thumbnail(&[input, got.to_str().unwrap()]);
        if !ff.status.success() || !want.exists() {
            assert_one_line_error(&out, &name, &got);
            continue;
        }
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        let (want, got) = (std::fs::read(&want).unwrap(), std::fs::read(&got).unwrap());
        let ((want_size, want_px), (got_size, got_px)) = (ppm(&want), ppm(&got));
        assert_eq!(got_size, want_size, "{name}");
        assert_eq!(want_px.len(), want_size.0 * want_size.1 * 3, "{name}");
        let db = psnr(want_px, got_px);
        assert!(db >= 40.0, "{name}: PSNR {db:.1} dB");
        compared += 1;
    }
    assert!(compared >= 15, "compared {compared}");
}

#[test]
fn bad_input_is_one_line_and_exit_1() {
    let scratch = Scratch::new("errors");
    let out_path = scratch.0.join("out.ppm");
    let out = out_path.to_str().unwrap();
    let data = data_dir();
    let video = data.join("h264_aac.mp4");
    let video = video.to_str().unwrap();
    let audio = data.join("audio_only.m4a");
    let missing = scratch.0.join("missing.mp4");
    let random = data.join("random.bin");
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("no arguments", vec![]),
        ("one path", vec![video]),
        ("three paths", vec![video, out, out]),
        ("unknown option", vec!["--frames", "2", video, out]),
        ("--at without a value", vec![video, out, "--at"]),
        ("--at not a number", vec!["--at", "soon", video, out]),
        ("--at negative", vec!["--at", "-1", video, out]),
        ("--at past the end", vec!["--at", "1000", video, out]),
        ("missing input", vec![missing.to_str().unwrap(), out]),
        ("no video stream", vec![audio.to_str().unwrap(), out]),
        ("not media", vec![random.to_str().unwrap(), out]),
        ("unwritable output", vec![video, "/nonexistent-dir/out.ppm"]),
    ];
    for (what, args) in cases {
        let result = thumbnail(&args);
        assert_one_line_error(&result, what, &out_path);
    }
    // The exact messages of the two a user meets most.
    let past = thumbnail(&["--at", "1000", video, out]);
    assert!(text(&past.stderr).contains("no frame at or after 1000 s"));
    let none = thumbnail(&[audio.to_str().unwrap(), out]);
    assert!(text(&none.stderr).contains("no video stream"));
}
