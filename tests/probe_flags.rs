//! examples/probe's --strict and --timeout: a cut upload is an error under --strict (and
//! printed as usual without it), intact files print the same JSON either way, a stalled
//! upload stops at the deadline.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{example, fixture, fixture_bytes};

fn probe(args: &[&str]) -> std::process::Output {
    Command::new(example("probe")).args(args).output().unwrap()
}

#[test]
fn strict_fails_on_a_cut_file_and_changes_nothing_for_whole_ones() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("probe_flags");
    std::fs::create_dir_all(&dir).unwrap();
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
