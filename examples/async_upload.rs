//! An async upload checker: a tokio TCP server that demuxes each upload as it arrives,
//! with ffio running on a blocking thread behind tokio-util's `SyncIoBridge`.
//!
//! ```text
//! async_upload [--listen ADDR] [--timeout SECONDS] [--stop-on-stdin-eof]
//! ```
//!
//! It prints `listening on ADDR` on stdout, then for every connection reads the upload
//! (any streamable format: MPEG-TS, Matroska, fragmented MP4, …), answers one line on the
//! same connection (`ok FORMAT: N packets (video h264 50, audio aac 88)` or
//! `error: …`) and logs it on stderr. It stops on Ctrl-C (or, with
//! `--stop-on-stdin-eof`, when its standard input closes, for supervisors and tests):
//! in-flight uploads are cancelled and the runtime is down within a second, even if a
//! client stalls mid-upload.
//!
//! The pieces, as an async service would use them:
//! * ffio is synchronous: each upload's demuxer runs in `spawn_blocking`;
//! * `SyncIoBridge` turns the socket (`AsyncRead`) into the `Read` ffio wants, blocking
//!   that thread (never a runtime worker) while it waits;
//! * a bridge blocked on a silent client would keep the runtime from shutting down, so the
//!   socket is wrapped in a reader that fails once the shutdown token is cancelled, and
//!   the demuxer's `CancelHandle` stops it between reads; `--timeout` bounds each upload.

use std::io;
use std::pin::Pin;
use std::process::ExitCode;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, ReadBuf};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::io::SyncIoBridge;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

const USAGE: &str = "usage: async_upload [--listen ADDR] [--timeout SECONDS] [--stop-on-stdin-eof]";

struct Args {
    listen: String,
    timeout: Duration,
    stop_on_stdin_eof: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        listen: "127.0.0.1:0".into(),
        timeout: Duration::from_secs(60),
        stop_on_stdin_eof: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--listen" => args.listen = value("--listen")?,
            "--timeout" => {
                let v = value("--timeout")?;
                let secs: f64 = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s > 0.0)
                    .ok_or_else(|| format!("--timeout: {v:?} is not a positive number"))?;
                args.timeout = Duration::from_secs_f64(secs);
            }
            "--stop-on-stdin-eof" => args.stop_on_stdin_eof = true,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unexpected argument {other:?}\n{USAGE}")),
        }
    }
    Ok(args)
}

/// An `AsyncRead` that fails ("server shutting down") once its token is cancelled, so a
/// bridge waiting on a silent client wakes up.
struct UntilCancelled<R> {
    inner: R,
    cancelled: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl<R: AsyncRead + Unpin> AsyncRead for UntilCancelled<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.cancelled.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(io::Error::other("server shutting down")));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

use std::future::Future as _;

/// Demuxes one upload from a blocking `Read`; returns the answer line.
fn check_upload<R: io::Read>(
    reader: R,
    timeout: Duration,
    handle_out: std::sync::mpsc::Sender<ffio::CancelHandle>,
) -> Result<String, ffio::Error> {
    let io = ffio::CustomIo::reader(reader)?;
    // The handle exists before the open, so a shutdown can stop stream discovery too.
    let _ = handle_out.send(io.cancel_handle());
    let mut demuxer = ffio::DemuxerOptions::new().timeout(timeout).open(io)?;
    let mut counts = vec![0u64; demuxer.stream_count()];
    let mut packet = ffio::Packet::new();
    while demuxer.read_packet_into(&mut packet)? {
        if let Some(n) = counts.get_mut(packet.stream_index()) {
            *n += 1;
        }
    }
    let streams: Vec<String> = demuxer
        .streams()
        .map(|s| {
            let n = counts.get(s.index()).copied().unwrap_or(0);
            format!("{} {} {n}", s.media_type(), s.codec_name())
        })
        .collect();
    let total: u64 = counts.iter().sum();
    Ok(format!(
        "ok {}: {total} packets ({})",
        demuxer.format_name(),
        streams.join(", ")
    ))
}

async fn serve(args: Args) -> io::Result<()> {
    let listener = TcpListener::bind(&args.listen).await?;
    println!("listening on {}", listener.local_addr()?);
    let shutdown = CancellationToken::new();
    let mut uploads = JoinSet::new();
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut next = 0u64;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (socket, peer) = accepted?;
                next += 1;
                let id = next;
                let token = shutdown.clone();
                let timeout = args.timeout;
                uploads.spawn(async move {
                    let (read, mut write) = socket.into_split();
                    let reader = UntilCancelled {
                        inner: read,
                        cancelled: Box::pin(token.clone().cancelled_owned()),
                    };
                    // Created here, on the runtime: the bridge blocks its thread on it.
                    let bridge = SyncIoBridge::new(reader);
                    let (tx, rx) = std::sync::mpsc::channel();
                    let job = tokio::task::spawn_blocking(move || check_upload(bridge, timeout, tx));
                    // On shutdown, also stop the demuxer between reads.
                    let stopper = {
                        let token = token.clone();
                        tokio::spawn(async move {
                            token.cancelled().await;
                            if let Ok(handle) = rx.try_recv() {
                                handle.cancel();
                            }
                        })
                    };
                    let answer = match job.await {
                        Ok(Ok(line)) => line,
                        Ok(Err(e)) => format!("error: {}", e.chain()),
                        Err(e) => format!("error: the demuxing task failed: {e}"),
                    };
                    stopper.abort();
                    eprintln!("upload #{id} from {peer}: {answer}");
                    let _ = write.write_all(format!("{answer}\n").as_bytes()).await;
                    let _ = write.shutdown().await;
                });
            }
            line = stdin.next_line(), if args.stop_on_stdin_eof => {
                if !matches!(line, Ok(Some(_))) {
                    break; // standard input closed
                }
            }
            _ = tokio::signal::ctrl_c() => break,
            Some(_) = uploads.join_next(), if !uploads.is_empty() => {}
        }
    }
    let start = Instant::now();
    shutdown.cancel();
    while uploads.join_next().await.is_some() {}
    eprintln!(
        "async_upload: shut down in {} ms",
        start.elapsed().as_millis()
    );
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("async_upload: {message}");
            return ExitCode::FAILURE;
        }
    };
    // SAFETY: no thread uses FFmpeg yet: the runtime is not started.
    unsafe { ffio::set_log_level(ffio::LogLevel::Quiet) };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("async_upload: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(serve(args));
    // Every blocking task has ended (serve waited for them); this returns at once.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("async_upload: {e}");
            ExitCode::FAILURE
        }
    }
}
