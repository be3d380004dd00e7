//! The work of `examples/remux` for `scripts/bench-remux.sh`, writing straight into files
//! instead of an in-memory store: separates what ffio costs from what the example's
//! design (every output file kept in memory until the muxer finished) costs.
//!
//! ```text
//! remux_direct faststart INPUT DIR   # DIR/out.mp4, movflags=+faststart, into a File
//! remux_direct hls INPUT DIR         # DIR/index.m3u8 + segments, hls_time=2, vod
//! ```
//!
//! Built with `cargo build --release --benches` (a `harness = false` bench target; run by
//! `cargo bench`, `cargo test --all-targets` or memcheck, without arguments or with
//! `--` flags, it only says what it is for); errors are one line, exit 1.

use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ffio::{Demuxer, Muxer, OpenMode, Opened};

#[path = "../examples/common/copy.rs"]
mod copy;
use copy::copy_all;

const USAGE: &str = "usage: remux_direct faststart|hls INPUT DIR";

fn run(task: &str, input: &str, dir: &Path) -> Result<(), String> {
    let file = std::fs::File::open(input).map_err(|e| format!("{input}: {e}"))?;
    let mut demuxer = Demuxer::from_seekable_reader(file).map_err(|e| e.chain())?;
    match task {
        "faststart" => {
            let path = dir.join("out.mp4");
            let out = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(&path)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            let muxer = Muxer::to_seekable_stream(out, "mp4").map_err(|e| e.chain())?;
            copy_all(&mut demuxer, muxer, &[("movflags", "+faststart")]).map_err(|e| e.chain())?;
        }
        "hls" => {
            // The muxer's names are its own (index.m3u8, index0.ts, ...), not a stranger's.
            let root = dir.to_path_buf();
            let opener = move |name: &str, mode: OpenMode| -> io::Result<Opened> {
                if mode != OpenMode::Write {
                    return Err(io::Error::other(format!("{name}: only writes are served")));
                }
                Ok(Opened::seekable_writer(std::fs::File::create(
                    root.join(name),
                )?))
            };
            let muxer = Muxer::to_opener(opener, "hls", "index.m3u8").map_err(|e| e.chain())?;
            let options = [("hls_time", "2"), ("hls_playlist_type", "vod")];
            copy_all(&mut demuxer, muxer, &options).map_err(|e| e.chain())?;
        }
        _ => return Err(USAGE.into()),
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map_or(true, |a| a.starts_with("--")) {
        // Run as a harness would: `cargo bench` (`--bench`), `cargo test --all-targets`
        // and scripts/memcheck.sh (no arguments, `--test-threads=1`). There is nothing to
        // test without the script's input.
        eprintln!("remux_direct: run by scripts/bench-remux.sh; {USAGE}");
        return ExitCode::SUCCESS;
    }
    let [task, input, dir] = match <[String; 3]>::try_from(args) {
        Ok(args) => args,
        Err(_) => {
            eprintln!("remux_direct: {USAGE}");
            return ExitCode::FAILURE;
        }
    };
    match run(&task, &input, &PathBuf::from(dir)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("remux_direct: {}", message.replace('\n', "; "));
            ExitCode::FAILURE
        }
    }
}
