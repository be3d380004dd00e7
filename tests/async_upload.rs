//! examples/async_upload end to end: uploads over local TCP demuxed behind tokio's
//! SyncIoBridge, a client that aborts mid-upload, a client that stalls, and a shutdown
//! that must finish within a second. Expected counts come from ffprobe.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{example, ffprobe_counts_piped, fixture, fixture_bytes};

/// Makes `close` send a reset instead of a clean end (SO_LINGER with a zero timeout): a
/// client that aborts.
fn abort_on_close(stream: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket descriptor and a correctly sized option value.
    let ret = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(ret, 0, "setsockopt(SO_LINGER)");
}

#[test]
fn uploads_aborts_stalls_and_shutdown() {
    let mut server = Command::new(example("async_upload"))
        .args(["--listen", "127.0.0.1:0", "--stop-on-stdin-eof"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the example starts");
    let mut stdout = BufReader::new(server.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let addr = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_owned();

    // 1. A whole upload: the answer names ffprobe's packet counts.
    let name = "h264_aac.ts";
    let data = fixture_bytes(name);
    let mut client = TcpStream::connect(&addr).unwrap();
    client.write_all(&data).unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let mut answer = String::new();
    client.read_to_string(&mut answer).unwrap();
    let counts = ffprobe_counts_piped(&fixture(name));
    let total: u64 = counts.iter().map(|(_, _, n)| n).sum();
    assert!(
        answer.starts_with(&format!("ok mpegts: {total} packets (")),
        "{answer:?}"
    );
    for (_, kind, n) in &counts {
        assert!(
            answer.contains(&format!("{kind} ")),
            "{answer:?} lacks {kind}"
        );
        assert!(answer.contains(&format!(" {n}")), "{answer:?} lacks {n}");
    }

    // 2. A client that aborts half-way: its upload ends with an error, the server goes on.
    let aborting = TcpStream::connect(&addr).unwrap();
    (&aborting).write_all(&data[..data.len() / 2]).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    abort_on_close(&aborting);
    drop(aborting);

    // 3. A client that stalls mid-upload and never closes.
    let mut stalled = TcpStream::connect(&addr).unwrap();
    stalled.write_all(&data[..5000]).unwrap();
    std::thread::sleep(Duration::from_millis(300));

    // The server still serves.
    let mut again = TcpStream::connect(&addr).unwrap();
    again.write_all(&data).unwrap();
    again.shutdown(Shutdown::Write).unwrap();
    let mut answer2 = String::new();
    again.read_to_string(&mut answer2).unwrap();
    assert_eq!(answer2, answer, "the same upload, the same answer");

    // 4. Shutdown with the stalled upload in flight: within a second, cleanly.
    let start = Instant::now();
    drop(server.stdin.take());
    let status = loop {
        if let Some(status) = server.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(10) {
            server.kill().unwrap();
            panic!("the server did not shut down");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let took = start.elapsed();
    let mut stderr = String::new();
    server
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{status:?}: {stderr}");
    assert!(
        took < Duration::from_secs(1),
        "shutdown took {took:?}: {stderr}"
    );
    assert!(stderr.contains("shut down in"), "{stderr}");
    let line = |n: u32| {
        stderr
            .lines()
            .find(|l| l.starts_with(&format!("upload #{n} ")))
            .unwrap_or_else(|| panic!("no line for upload #{n}: {stderr}"))
            .to_owned()
    };
    assert!(line(1).contains(": ok mpegts"), "{stderr}");
    // The aborted upload failed with the socket's own error (or as a cut input).
    assert!(line(2).contains("error"), "{}", line(2));
    // The stalled one was stopped by the shutdown.
    let stalled_line = line(3);
    assert!(
        stalled_line.contains("shutting down") || stalled_line.contains("cancelled"),
        "{stalled_line}"
    );
    // Its client got the answer before the server went.
    let mut told = String::new();
    stalled
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = stalled.read_to_string(&mut told);
    assert!(told.starts_with("error: "), "{told:?}");
}

#[test]
fn bad_arguments_get_one_line_and_exit_1() {
    for args in [&["--timeout", "-1"][..], &["--listen"], &["--bogus"]] {
        let out = Command::new(example("async_upload"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with("async_upload: "), "{args:?}: {stderr}");
    }
}
