//! examples/probe's --strict, --timeout and --open-dir: a cut upload is an error under
//! --strict (and printed as usual without it), intact files print the same JSON either
//! way, a stalled upload stops at the deadline; with --open-dir a playlist's files are
//! read from the directory (the packet counts ffprobe gives) and no name leaves it.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{example, ffprobe_counts, fixture, fixture_bytes};

fn probe(args: &[&str]) -> std::process::Output {
    Command::new(example("probe")).args(args).output().unwrap()
}

#[test]
fn strict_fails_on_a_cut_file_and_changes_nothing_for_whole_ones() {
    let dir = common::process_dir("probe_flags");
    let data = fixture_bytes("h264_faststart.mp4");
    let cut = dir.join("half.mp4");
    std::fs::write(&cut, &data[..data.len() / 2]).unwrap();
    let cut = cut.to_str().unwrap();

    let relaxed = probe(&[cut]);
    assert!(
        relaxed.status.success(),
        "without --strict a cut file is described"
    );
    let strict = probe(&["--strict", cut]);
    assert_eq!(strict.status.code(), Some(1));
    assert!(strict.stdout.is_empty(), "nothing on stdout on error");
    let stderr = String::from_utf8_lossy(&strict.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("probe: ") && stderr.contains("truncated"),
        "{stderr}"
    );
    assert!(stderr.contains("byte offset"), "{stderr}");

    for name in ["h264_aac.mkv", "h264_aac.ts", "h264_moov_end.mp4"] {
        let path = fixture(name);
        let path = path.to_str().unwrap();
        let plain = probe(&[path]);
        let strict = probe(&["--strict", path]);
        assert!(
            strict.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&strict.stderr)
        );
        assert_eq!(
            strict.stdout, plain.stdout,
            "{name}: --strict changed the JSON"
        );
    }
}

#[test]
fn timeout_stops_a_stalled_upload() {
    let mut child = Command::new(example("probe"))
        .args(["--timeout", "1", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = fixture_bytes("h264_aac.ts");
    let start = Instant::now();
    // A trickle, then silence: the deadline must end it.
    let feeder = std::thread::spawn(move || {
        for chunk in data[..2000].chunks(100) {
            if stdin.write_all(chunk).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_secs(5));
    });
    let out = child.wait_with_output().unwrap();
    let took = start.elapsed();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The deadline fires between reads ("deadline exceeded") or while stdin is silent
    // (the example's own reader gives up: "... before the deadline").
    assert!(stderr.contains("deadline"), "{stderr}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
    drop(feeder);
    for bad in [
        &["--timeout", "0", "-"][..],
        &["--timeout"],
        &["--timeout", "soon", "x"],
    ] {
        let out = probe(bad);
        assert_eq!(out.status.code(), Some(1), "{bad:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).starts_with("probe: "),
            "{bad:?}"
        );
    }
}

/// A fresh directory for one --open-dir test.
fn open_dir_scratch(name: &str) -> PathBuf {
    common::scratch_dir("probe_open_dir", name)
}

/// probe --open-dir DIR --count PLAYLIST.
fn probe_open_dir(dir: &Path, playlist: &Path) -> std::process::Output {
    probe(&[
        "--open-dir",
        dir.to_str().unwrap(),
        "--count",
        playlist.to_str().unwrap(),
    ])
}

/// Writes at `path` a VOD playlist of one segment, `name`.
fn one_segment_playlist(path: &Path, name: &str) {
    let text = format!("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n{name}\n#EXT-X-ENDLIST\n");
    std::fs::write(path, text).unwrap();
}

/// `(index, codec_type, nb_read_packets)` per stream of probe's JSON.
fn probe_counts(stdout: &[u8]) -> Vec<(usize, String, u64)> {
    let json = common::json::parse(std::str::from_utf8(stdout).unwrap()).unwrap();
    json.get("streams")
        .unwrap()
        .items()
        .iter()
        .map(|s| {
            let field = |k: &str| s.get(k).unwrap_or_else(|| panic!("no {k} in {s:?}"));
            (
                field("index").as_i64().unwrap() as usize,
                field("codec_type").as_str().unwrap().to_owned(),
                field("nb_read_packets").as_str().unwrap().parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn open_dir_reads_a_playlists_files_as_ffprobe_does() {
    common::quiet();
    let dir = open_dir_scratch("hls");
    // Segments in a subdirectory too: plain relative names with directories are served.
    std::fs::create_dir(dir.join("v")).unwrap();
    common::ffmpeg(
        &dir,
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=64x48:rate=10",
            "-f",
            "lavfi",
            "-i",
            "sine=sample_rate=8000",
            "-t",
            "5",
            "-c:v",
            "libx264",
            "-g",
            "10",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-f",
            "hls",
            "-hls_time",
            "1",
            "-hls_playlist_type",
            "vod",
            "-hls_segment_filename",
            "v/seg%d.ts",
            "-hls_base_url",
            "v/",
            "index.m3u8",
        ],
    );
    let playlist = dir.join("index.m3u8");
    let text = std::fs::read_to_string(&playlist).unwrap();
    assert!(text.contains("v/seg0.ts"), "{text}");
    let out = probe_open_dir(&dir, &playlist);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = ffprobe_counts(&playlist);
    assert!(
        expected.iter().map(|c| c.2).sum::<u64>() > 50,
        "{expected:?}"
    );
    assert_eq!(probe_counts(&out.stdout), expected);
    // Without --open-dir the playlist is refused (FFmpeg 5.1, 6.x: ffio's refusal;
    // FFmpeg >= 7 does not even detect HLS in an unnamed input).
    let out = probe(&["--count", playlist.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn open_dir_reads_a_concat_lists_parts_as_ffprobe_does() {
    common::quiet();
    let dir = open_dir_scratch("concat");
    std::fs::create_dir(dir.join("v")).unwrap();
    std::fs::copy(fixture("h264_aac.ts"), dir.join("a.ts")).unwrap();
    std::fs::copy(fixture("h264_aac.mp4"), dir.join("v/c.mp4")).unwrap();
    let list = dir.join("list.ffconcat");
    std::fs::write(
        &list,
        "ffconcat version 1.0\nfile a.ts\nfile v/c.mp4\nfile a.ts\n",
    )
    .unwrap();
    // ffprobe reads the parts from the same directory (plain relative names: its safe
    // mode accepts them).
    let expected = ffprobe_counts(&list);
    let part: u64 = ffprobe_counts(&dir.join("a.ts")).iter().map(|c| c.2).sum();
    let mp4: u64 = ffprobe_counts(&dir.join("v/c.mp4"))
        .iter()
        .map(|c| c.2)
        .sum();
    assert_eq!(expected.iter().map(|c| c.2).sum::<u64>(), 2 * part + mp4);
    let out = probe_open_dir(&dir, &list);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(probe_counts(&out.stdout), expected);
    // Without --open-dir the list stays refused.
    let out = probe(&["--count", list.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn format_concat_reads_a_list_without_the_header() {
    common::quiet();
    let dir = open_dir_scratch("concat_no_header");
    std::fs::copy(fixture("h264_aac.ts"), dir.join("a.ts")).unwrap();
    std::fs::copy(fixture("h264_aac.mkv"), dir.join("b.mkv")).unwrap();
    let list = dir.join("list.txt");
    std::fs::write(&list, "file a.ts\nfile b.mkv\n").unwrap();
    // ffprobe -f concat on the same files: packets per stream.
    let mut expected: Vec<u64> = Vec::new();
    for p in common::ffprobe_packets_with(&list, &["-f", "concat"]) {
        if expected.len() <= p.stream_index {
            expected.resize(p.stream_index + 1, 0);
        }
        expected[p.stream_index] += 1;
    }
    assert_eq!(expected.len(), 2, "{expected:?}");
    let dir_arg = dir.to_str().unwrap();
    let list_arg = list.to_str().unwrap();
    let out = probe(&[
        "--format",
        "concat",
        "--open-dir",
        dir_arg,
        "--count",
        list_arg,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Vec<u64> = probe_counts(&out.stdout).iter().map(|c| c.2).collect();
    assert_eq!(got, expected);
    // Without --format the list is not a concat list: refused in one line, like a
    // wrong --format or a missing name.
    for args in [
        &["--open-dir", dir_arg, "--count", list_arg][..],
        &[
            "--format",
            "no-such-format",
            "--open-dir",
            dir_arg,
            list_arg,
        ],
        &["--format"],
    ] {
        let out = probe(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("probe: "), "{args:?}: {stderr}");
    }
}

/// A scratch `root` holding `outside.ts` and the served directory `dir` (returned), which
/// holds `inside.ts` and two links out: `link.ts` to `root/outside.ts`, `passwd.ts` to
/// `/etc/passwd`: what a hostile playlist tries to reach from `dir`.
fn escape_scratch(tag: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let root = open_dir_scratch(tag);
    let dir = root.join("served");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(fixture("h264_aac.ts"), root.join("outside.ts")).unwrap();
    std::fs::copy(fixture("h264_aac.ts"), dir.join("inside.ts")).unwrap();
    std::os::unix::fs::symlink(root.join("outside.ts"), dir.join("link.ts")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", dir.join("passwd.ts")).unwrap();
    (root, dir)
}

#[test]
fn open_dir_refuses_concat_parts_that_leave_the_directory() {
    common::quiet();
    let (_root, dir) = escape_scratch("concat_escape");
    // `../`, absolute and `file:` names fail the concat's safe mode before the opener is
    // asked ("Unsafe file name"); the links and the missing file are the opener's
    // refusals. Each is named in the one line, after a part that is served.
    let names = [
        "../outside.ts",
        "/etc/passwd.ts",
        "file:inside.ts",
        "link.ts",
        "passwd.ts",
        "missing.ts",
    ];
    let list = dir.join("bad.ffconcat");
    for name in names {
        std::fs::write(
            &list,
            format!("ffconcat version 1.0\nfile inside.ts\nfile '{name}'\n"),
        )
        .unwrap();
        let out = probe_open_dir(&dir, &list);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        assert!(out.stdout.is_empty(), "{name}");
        assert_eq!(stderr.lines().count(), 1, "{name}: {stderr}");
        assert!(stderr.starts_with("probe: "), "{name}: {stderr}");
        assert!(stderr.contains(name), "{name}: {stderr}");
    }
    // The same list naming the file inside twice is read.
    std::fs::write(
        &list,
        "ffconcat version 1.0\nfile inside.ts\nfile inside.ts\n",
    )
    .unwrap();
    let out = probe_open_dir(&dir, &list);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: u64 = probe_counts(&out.stdout).iter().map(|c| c.2).sum();
    let part: u64 = ffprobe_counts(&dir.join("inside.ts"))
        .iter()
        .map(|c| c.2)
        .sum();
    assert_eq!(got, 2 * part);
}

#[test]
fn open_dir_refuses_every_name_that_leaves_the_directory() {
    common::quiet();
    let (root, dir) = escape_scratch("escape");
    // (The hls demuxer itself drops names without a media extension, so each name ends
    // in .ts: the refusal is the opener's.)
    let cases = [
        ("../outside.ts", "'..'"),
        ("/etc/passwd.ts", "absolute"),
        ("file:/etc/passwd.ts", "scheme"),
        ("http://169.254.169.254/latest/meta-data.ts", "scheme"),
        ("link.ts", "symbolic link"),
        ("passwd.ts", "symbolic link"),
        ("./inside.ts", "'.'"),
        ("missing.ts", "no such file"),
    ];
    let playlist = dir.join("bad.m3u8");
    for (name, why) in cases {
        one_segment_playlist(&playlist, name);
        let out = probe_open_dir(&dir, &playlist);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        assert!(out.stdout.is_empty(), "{name}");
        assert_eq!(stderr.lines().count(), 1, "{name}: {stderr}");
        assert!(stderr.starts_with("probe: "), "{name}: {stderr}");
        assert!(stderr.contains(&format!("{name:?}")), "{name}: {stderr}");
        assert!(stderr.contains(why), "{name}: {stderr}");
    }
    // The same playlist naming the file inside is read (what ffprobe reads of it alone).
    one_segment_playlist(&playlist, "inside.ts");
    let out = probe_open_dir(&dir, &playlist);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: u64 = probe_counts(&out.stdout).iter().map(|c| c.2).sum();
    let expected: u64 = ffprobe_counts(&playlist).iter().map(|c| c.2).sum();
    assert_eq!(got, expected);
    assert!(got > 0);
    // A directory that does not exist: one line, exit 1.
    let out = probe(&[
        "--open-dir",
        root.join("nope").to_str().unwrap(),
        playlist.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--open-dir"));
}
