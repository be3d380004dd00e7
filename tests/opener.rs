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

/// A fresh, empty directory under the target directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("opener").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs the ffmpeg CLI in `dir` with `args` (after `-v error -y`); panics on failure.
fn ffmpeg(dir: &Path, args: &[&str]) {
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
    for input in ["h264_aac.mp4", "h264_moov_end.mp4", "audio_only.m4a", "hevc.mp4"] {
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
    remux(&fixture_bytes("h264_aac.mp4"), muxer, &[("movflags", "faststart")]).unwrap();
    assert_faststart("file", &std::fs::read(&path).unwrap(), &path, &expected);
}

#[test]
fn faststart_into_a_plain_writer_is_refused_naming_the_remedy() {
    quiet();
    // A plain writer cannot hold a plain MP4 at all: the error says what faststart needs.
    let muxer = Muxer::to_writer(Vec::new(), "mp4").unwrap();
    let err = remux(&fixture_bytes("h264_aac.mp4"), muxer, &[("movflags", "+faststart")])
        .unwrap_err();
    assert!(matches!(err, Error::NotSeekable { .. }), "{err:?}");
    assert!(err.to_string().contains("to_seekable_stream"), "{err}");
    // A seekable writer that cannot be read back is refused the same way.
    let muxer = Muxer::to_seekable_writer(Cursor::new(Vec::new()), "mp4").unwrap();
    let err = remux(&fixture_bytes("h264_aac.mp4"), muxer, &[("movflags", "128")]).unwrap_err();
    assert!(err.to_string().contains("to_seekable_stream"), "{err}");
}
