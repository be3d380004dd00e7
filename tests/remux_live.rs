//! `examples/remux --live` and `--chunk N` on standard output, traced with strace: every
//! `write(2)` to descriptor 1 ends at a box, cluster or 188-byte boundary, or is a
//! multiple of N but the last, and the bytes are those of the run without the flag. The
//! container structure is parsed here (tests/common/containers.rs); the write sizes come
//! from strace, not from the program.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::containers::{matroska_elements, mp4_boxes, CLUSTER, EBML};
use common::{assert_same_bytes, example, fixture, quiet};

/// A fresh, empty directory for one test.
fn scratch(name: &str) -> PathBuf {
    common::scratch_dir("remux_live", name)
}

/// An 8-second 640x360 H.264 + AAC MP4 (about 2.8 MB, a keyframe every second): several
/// 256 KiB batches and eight fragments. Made once per run with the ffmpeg CLI.
fn source() -> PathBuf {
    static MADE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    MADE.get_or_init(|| {
        let dir = scratch("source");
        let status = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
            .arg("testsrc2=size=640x360:rate=25")
            .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
            .args(["-t", "8", "-vf", "noise=alls=12:allf=t", "-c:v", "libx264"])
            .args(["-preset", "ultrafast", "-g", "25", "-b:v", "2500k"])
            .args(["-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k"])
            .arg("source.mp4")
            .current_dir(&dir)
            .status()
            .expect("running ffmpeg");
        assert!(status.success(), "ffmpeg could not make the source");
        dir.join("source.mp4")
    })
    .clone()
}

fn run_remux(args: &[&str], dir: &Path) -> Output {
    Command::new(example("remux"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// A run under strace: its output, what it wrote to standard output, and the size of
/// every `write(2)` to descriptor 1, in order.
struct Traced {
    stdout: Vec<u8>,
    stderr: String,
    writes: Vec<usize>,
}

fn run_traced(args: &[&str], dir: &Path) -> Traced {
    let log = dir.join("strace.log");
    let out_path = dir.join("stdout.bin");
    let status = Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=write", "-o"])
        .arg(&log)
        .arg("--")
        .arg(example("remux"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(dir.join("stderr.txt")).unwrap())
        .status()
        .unwrap_or_else(|e| {
            panic!("cannot run strace: {e} (scripts/setup.sh installs it; this test never skips)")
        });
    let stderr = std::fs::read_to_string(dir.join("stderr.txt")).unwrap();
    assert!(status.success(), "remux {args:?}: {stderr}");
    let log = std::fs::read_to_string(&log).unwrap();
    let writes = log
        .lines()
        .filter_map(|line| {
            // "PID write(1, \"...\"..., N) = N"; a line cut in two by another thread
            // ("<unfinished ...>") would hide a size, so it fails the test.
            let call = line
                .trim_start_matches(|c: char| c.is_ascii_digit())
                .trim_start();
            if !call.starts_with("write(1,") {
                assert!(!call.contains("write resumed"), "{line}");
                return None;
            }
            let (_, ret) = line.rsplit_once(" = ").unwrap_or_else(|| panic!("{line}"));
            Some(
                ret.parse::<usize>()
                    .unwrap_or_else(|_| panic!("a failed write: {line}")),
            )
        })
        .collect();
    Traced {
        stdout: std::fs::read(&out_path).unwrap(),
        stderr,
        writes,
    }
}

impl Traced {
    /// The offset where each write ends.
    fn ends(&self) -> Vec<usize> {
        self.writes
            .iter()
            .scan(0, |end, n| {
                *end += n;
                Some(*end)
            })
            .collect()
    }

    /// Checks the writes cover the output, and the summary line reports them.
    fn check_totals(&self, what: &str) {
        assert_eq!(
            self.writes.iter().sum::<usize>(),
            self.stdout.len(),
            "{what}: the writes are the output"
        );
        assert!(!self.writes.is_empty(), "{what}");
        assert_eq!(
            self.stderr.trim_end(),
            format!(
                "- {} ({} chunks, {} writes)",
                self.stdout.len(),
                self.writes.len(),
                self.writes.len()
            ),
            "{what}: one write per chunk"
        );
    }
}

/// Asserts `out` is a failure: exit status 1 and one line on stderr that starts with
/// `starts` and contains `says`.
fn assert_one_line_error(what: &str, out: &Output, starts: &str, says: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{what}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{what}: {stderr:?}");
    assert!(
        stderr.starts_with(starts) && stderr.contains(says),
        "{what}: {stderr}"
    );
}

/// The output of the same remux without `--live` / `--chunk`, into a file.
fn plain_run(dir: &Path, args: &[&str]) -> Vec<u8> {
    let mut all = args.to_vec();
    all.push("plain.out");
    let out = run_remux(&all, dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(dir.join("plain.out")).unwrap()
}

#[test]
fn live_fragmented_mp4_is_one_write_per_fragment() {
    quiet();
    let input = source();
    let input = input.to_str().unwrap();
    for flags in ["frag_keyframe+empty_moov", "frag_every_frame+empty_moov"] {
        let dir = scratch(&format!("mp4_{flags}"));
        let movflags = format!("movflags={flags}");
        let args = ["--format", "mp4", "--option", &movflags, input];
        let traced = run_traced(&[&["--live"], &args[..], &["-"]].concat(), &dir);
        traced.check_totals(flags);
        assert_same_bytes(flags, &traced.stdout, &plain_run(&dir, &args));
        let boxes = mp4_boxes(&traced.stdout).expect("whole boxes");
        // The boxes each write holds: the init segment, then one fragment per write.
        let mut start = 0;
        let mut per_write = Vec::new();
        for end in traced.ends() {
            let inside: Vec<&str> = boxes
                .iter()
                .filter(|(_, e)| *e > start && *e <= end)
                .map(|(name, _)| name.as_str())
                .collect();
            assert!(
                boxes.iter().any(|(_, e)| *e == end),
                "{flags}: a write ends at {end}, inside a box"
            );
            per_write.push(inside);
            start = end;
        }
        assert_eq!(per_write[0], ["ftyp", "moov"], "{flags}");
        for (i, b) in per_write.iter().enumerate().skip(1) {
            assert!(
                b == &["moof", "mdat"] || b == &["mfra"],
                "{flags}: write {i} holds {b:?}"
            );
        }
        let fragments = per_write.iter().filter(|b| b[0] == "moof").count();
        // 8 s with a keyframe every second: at least 8 fragments, many more per frame.
        assert!(fragments >= 8, "{flags}: {fragments} fragments");
        if flags.starts_with("frag_every_frame") {
            assert!(fragments >= 200, "{flags}: {fragments} fragments");
        }
    }
}

#[test]
fn live_matroska_and_webm_are_one_write_per_cluster() {
    quiet();
    let mp4 = source();
    let webm = fixture("vp9_opus.webm");
    // bitexact: otherwise each run writes a new random SegmentUID.
    // (format, input, options, the fewest clusters: the 8-second source has a keyframe
    // every second, the WebM fixture is 1 s long)
    let cases: [(&str, &Path, &[&str], usize); 3] = [
        ("matroska", &mp4, &["--option", "fflags=+bitexact"], 8),
        (
            "matroska",
            &mp4,
            &["--option", "fflags=+bitexact", "--option", "live=1"],
            8,
        ),
        ("webm", &webm, &["--option", "fflags=+bitexact"], 2),
    ];
    for (n, (format, input, options, fewest)) in cases.into_iter().enumerate() {
        let what = format!("{format} {options:?}");
        let dir = scratch(&format!("mkv{n}"));
        let args = [&["--format", format], options, &[input.to_str().unwrap()]].concat();
        let traced = run_traced(&[&["--live"], &args[..], &["-"]].concat(), &dir);
        traced.check_totals(&what);
        // The run without the flag writes into memory, which is seekable: there Matroska
        // goes back for sizes, cues and duration. The same streamed muxer batched
        // (`--chunk 1`, 256 KiB writes) is the reference.
        let batched = run_traced(&[&["--chunk", "1"], &args[..], &["-"]].concat(), &dir);
        assert_same_bytes(&what, &traced.stdout, &batched.stdout);
        let elements = matroska_elements(&traced.stdout).expect("whole elements");
        assert_eq!(elements[0].0, EBML, "{what}");
        let ends = traced.ends();
        for &end in &ends {
            assert!(
                elements.iter().any(|&(_, _, e)| e == end),
                "{what}: a write ends at {end}, inside an element"
            );
        }
        // The header (EBML header, segment info, tracks) ends where the first cluster
        // starts; every later write starts with a cluster and holds one.
        let clusters: Vec<(usize, usize)> = elements
            .iter()
            .filter(|e| e.0 == CLUSTER)
            .map(|&(_, s, e)| (s, e))
            .collect();
        assert_eq!(ends[0], clusters[0].0, "{what}: the header write");
        let mut start = ends[0];
        for &end in &ends[1..] {
            let inside = clusters
                .iter()
                .filter(|&&(s, _)| s >= start && s < end)
                .count();
            assert!(
                clusters.iter().any(|&(s, _)| s == start) && inside == 1,
                "{what}: the write {start}..{end} holds {inside} clusters"
            );
            start = end;
        }
        println!("{what}: {} clusters, {} writes", clusters.len(), ends.len());
        assert!(
            clusters.len() >= fewest,
            "{what}: {} clusters",
            clusters.len()
        );
    }
}

/// Checks `data` is whole 188-byte TS packets.
fn assert_ts_packets(what: &str, data: &[u8]) {
    assert_eq!(data.len() % 188, 0, "{what}");
    assert!(data.chunks(188).all(|p| p[0] == 0x47), "{what}: sync bytes");
}

#[test]
fn mpegts_live_and_1316_byte_chunks() {
    quiet();
    let input = source();
    let args = ["--format", "mpegts", input.to_str().unwrap()];
    let dir = scratch("mpegts");
    let plain = plain_run(&dir, &args);
    assert_ts_packets("plain", &plain);

    let live = run_traced(&[&["--live"], &args[..], &["-"]].concat(), &dir);
    live.check_totals("--live");
    assert_same_bytes("--live", &live.stdout, &plain);
    for (i, n) in live.writes.iter().enumerate() {
        assert_eq!(n % 188, 0, "--live: write {i} is {n} bytes");
    }
    // One write per packet or so: far more than the batches.
    assert!(live.writes.len() > 100, "{} writes", live.writes.len());

    for (extra, what) in [
        (&[][..], "--chunk 1316"),
        (&["--live"][..], "--live --chunk 1316"),
    ] {
        let chunked = run_traced(
            &[extra, &["--chunk", "1316"], &args[..], &["-"]].concat(),
            &dir,
        );
        chunked.check_totals(what);
        assert_same_bytes(what, &chunked.stdout, &plain);
        let (last, rest) = chunked.writes.split_last().unwrap();
        for (i, n) in rest.iter().enumerate() {
            assert_eq!(n % 1316, 0, "{what}: write {i} is {n} bytes");
        }
        // The remainder, at the end: what is left of the total after the multiples.
        assert_eq!(*last % 1316, plain.len() % 1316, "{what}: the last write");
        if extra.is_empty() {
            // 256 KiB batches (a batch and at most one more FFmpeg buffer), each cut to a
            // multiple of 1316.
            const BATCH: usize = 256 * 1024;
            assert!(rest.len() >= 8, "{what}: {} writes", chunked.writes.len());
            for (i, n) in rest.iter().enumerate() {
                assert!(
                    (BATCH - 1315..2 * BATCH).contains(n),
                    "{what}: write {i} is {n} bytes"
                );
            }
        } else {
            assert!(
                chunked.writes.len() > 100,
                "{what}: {} writes",
                chunked.writes.len()
            );
        }
    }
}

#[test]
fn live_to_a_file_is_the_same_stream() {
    quiet();
    let input = source();
    let dir = scratch("live_file");
    let args = [
        "--live",
        "--format",
        "mp4",
        "--option",
        "movflags=frag_keyframe+empty_moov",
        input.to_str().unwrap(),
    ];
    let traced = run_traced(&[&args[..], &["-"]].concat(), &dir);
    let out = run_remux(&[&args[..], &["out.mp4"]].concat(), &dir);
    assert!(out.status.success());
    let data = std::fs::read(dir.join("out.mp4")).unwrap();
    assert_same_bytes("file", &data, &traced.stdout);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "./out.mp4 {} ({} chunks, {} writes)\n",
            data.len(),
            traced.writes.len(),
            traced.writes.len()
        )
    );
}

#[test]
fn a_reader_that_goes_away_is_one_line_and_exit_1() {
    quiet();
    let input = source();
    let input = input.to_str().unwrap();
    let dir = scratch("epipe");
    let mp4 = [
        "--live",
        "--format",
        "mp4",
        "--option",
        "movflags=frag_keyframe+empty_moov",
    ];
    let ts = ["--chunk", "1316", "--format", "mpegts"];
    for args in [&mp4[..], &ts[..], &["--live", "--format", "matroska"][..]] {
        let mut child = Command::new(example("remux"))
            .args(args)
            .args([input, "-"])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Read the start, then close the pipe while 2.8 MB are still to come.
        let mut stdout = child.stdout.take().unwrap();
        let mut start = vec![0; 4096];
        stdout.read_exact(&mut start).unwrap();
        drop(stdout);
        let out = child.wait_with_output().unwrap();
        let what = format!("{args:?}");
        assert_one_line_error(&what, &out, "remux: standard output: ", "Broken pipe");
    }
}

#[test]
fn live_and_chunk_errors_are_one_line_and_write_nothing() {
    quiet();
    let mp4 = fixture("h264_aac.mp4");
    let mp4 = mp4.to_str().unwrap();
    let random = fixture("random.bin");
    let random = random.to_str().unwrap();
    let cases: &[(&str, &[&str], &str)] = &[
        (
            "--live with hls",
            &["--live", mp4, "out.m3u8"],
            "several files",
        ),
        (
            "--chunk with dash",
            &["--chunk", "1316", "--format", "dash", mp4, "out.mpd"],
            "several files",
        ),
        ("--chunk 0", &["--chunk", "0", mp4, "out.ts"], "at least 1"),
        (
            "--chunk -3",
            &["--chunk", "-3", mp4, "out.ts"],
            "not a number",
        ),
        (
            "--chunk abc",
            &["--chunk", "abc", mp4, "out.ts"],
            "not a number",
        ),
        (
            "--chunk 1.5",
            &["--chunk", "1.5", mp4, "out.ts"],
            "not a number",
        ),
        (
            "--chunk without N",
            &[mp4, "out.ts", "--chunk"],
            "needs a number",
        ),
        (
            "--chunk too large",
            &["--chunk", "99999999999", mp4, "out.ts"],
            "alignment",
        ),
        (
            "--live plain mp4",
            &["--live", mp4, "out.mp4"],
            "frag_keyframe",
        ),
        (
            "--live faststart",
            &["--live", mp4, "out.mp4", "--option", "movflags=+faststart"],
            "read the output back",
        ),
        (
            "--live to stdout without a format",
            &["--live", mp4, "-"],
            "--format",
        ),
        ("--live bad input", &["--live", random, "out.ts"], ""),
    ];
    for (what, args, says) in cases {
        let dir = scratch("errors");
        let out = run_remux(args, &dir);
        assert_one_line_error(what, &out, "remux: ", says);
        assert!(out.stdout.is_empty(), "{what}");
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
        assert!(left.is_empty(), "{what}: wrote {left:?}");
    }
}

#[test]
fn a_file_that_cannot_grow_is_removed_after_the_error() {
    use std::os::unix::process::CommandExt;
    quiet();
    let input = source();
    let dir = scratch("efbig");
    let mut command = Command::new(example("remux"));
    command
        .args(["--chunk", "1316", "--format", "mpegts"])
        .arg(&input)
        .arg("out.ts")
        .current_dir(&dir)
        .stdin(Stdio::null());
    // SAFETY: between fork and exec the closure calls only async-signal-safe functions
    // (signal, setrlimit) and allocates nothing.
    unsafe {
        command.pre_exec(|| {
            // Writes past 300 kB fail with EFBIG (instead of killing with SIGXFSZ).
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let limit = libc::rlimit {
                rlim_cur: 300_000,
                rlim_max: 300_000,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    };
    let out = command.output().unwrap();
    assert_one_line_error("EFBIG", &out, "remux: ./out.ts: ", "File too large");
    assert!(out.stdout.is_empty());
    assert!(!dir.join("out.ts").exists(), "the partial file is removed");
}
