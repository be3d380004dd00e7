//! Remuxes every stream of a media file into another container without re-encoding: what
//! `ffmpeg -i INPUT -map 0 -c copy [-f NAME] [-KEY VALUE]... OUTPUT` does, with every file
//! written through ffio.
//!
//! ```text
//! remux [--format NAME] [--option KEY=VALUE]... [--live] [--chunk N] INPUT OUTPUT
//! remux in.mkv out.mp4 --option movflags=+faststart     # the index before the media data
//! remux in.mp4 out/index.m3u8 --option hls_time=2 --option hls_playlist_type=vod
//! remux --format mpegts in.mp4 -                        # to standard output
//! remux --live --format mp4 --option movflags=frag_keyframe+empty_moov in.mp4 -
//! remux --chunk 1316 --format mpegts in.mp4 - | socat -b1316 - UDP-SENDTO:host:1234
//! ```
//!
//! INPUT is read through `std::fs::File`. The format comes from `--format` or OUTPUT's
//! extension; options go to the muxer (`write_header`). Every output file, the main one and
//! those a multi-file muxer (hls, dash, segment, image2) asks for, goes to an in-memory
//! store filled through an opener; only at the end, after the muxer finished, are the files
//! written under OUTPUT's directory, and each name and size printed. OUTPUT `-` writes a
//! single-file format to standard output. Errors (bad input, refused options, names that
//! would leave OUTPUT's directory) are one line on stderr and exit status 1, with nothing
//! written.
//!
//! The store maps names to `HugeBuffer`s (examples/common/huge_buffer.rs) rather than to
//! `Vec<u8>`s: in-memory files like `Cursor<Vec<u8>>`, whose storage the kernel can back
//! with 2 MiB huge pages. With `Vec<u8>` the whole output (211 MB in scripts/bench-remux.sh)
//! went into fresh memory one 4 KiB page fault at a time, which took this program to 1.2×
//! the wall time of the `ffmpeg` CLI writing the same into files (BENCHMARKS.md). Each
//! buffer is sized and advised from the size expected of it: the input's for the main
//! output (a remux without re-encoding is about as large), for each file a multi-file
//! muxer opens the previous one's of its numbered series (a segment like the one before:
//! `index7.ts` like `index6.ts`, a DASH audio segment like the previous audio segment).
//! Each file then goes out in one `write(2)`, several files at once from up to four
//! threads (the copy out of memory is what this design pays on top of writing as one
//! goes). Where transparent huge pages are off, it is as slow as before.
//!
//! `--live` and `--chunk N` stream a single-file format instead: the output leaves as the
//! muxer makes it, each chunk in one `write(2)` on standard output (not through Rust's
//! line-buffered `Stdout`) or on OUTPUT (created at the first write, and removed again if
//! the run fails and it is a regular file; a FIFO works too). The summary adds how many
//! chunks went out and in how many `write(2)` calls.
//!
//! * `--live`: marker-aware writes (`Muxer::to_chunk_writer`): the header (an MP4 init
//!   segment, Matroska's EBML header and tracks), every fragment (`moof` + `mdat`) or
//!   cluster and the trailer each go out whole, as soon as the muxer finished them.
//!   Formats without markers go out as each packet produced them: MPEG-TS in whole
//!   188-byte packets. As in the library, nothing is switched on behind your back: MP4
//!   needs fragmenting `movflags` (e.g. `frag_keyframe+empty_moov`; without them the
//!   error names that remedy), and Matroska/WebM take `--option live=1` if wanted.
//! * `--chunk N`: every write is a multiple of N bytes (1316 = 7 × 188 makes MPEG-TS
//!   datagrams for UDP or SRT), but the last, which carries the remainder at the end;
//!   nothing is lost or padded. Without `--live` the muxer's output is batched (256 KiB)
//!   before it is cut; `--chunk 1` is that batched stream without alignment. With
//!   `--live`, every packet's output leaves at once, in multiples of N (what is left over
//!   waits for the next packet).
//!
//! `--live` or `--chunk` with a format that writes several files (hls, dash, …) is an
//! error, as is `--chunk` with anything but a whole number from 1 up. A write that fails
//! mid-stream (a reader that went away: `EPIPE`, as Rust ignores `SIGPIPE`) ends the run
//! with one line naming the output and exit status 1.

use std::collections::HashMap;
use std::io::{self, Cursor, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use ffio::{CustomIo, Demuxer, Muxer, OpenMode, Opened};

#[path = "common/copy.rs"]
mod copy;
use copy::copy_all;
#[path = "common/fd_out.rs"]
mod fd_out;
use fd_out::{FdOut, Progress};
#[path = "common/huge_buffer.rs"]
mod huge_buffer;
use huge_buffer::HugeBuffer;

const USAGE: &str =
    "usage: remux [--format NAME] [--option KEY=VALUE]... [--live] [--chunk N] INPUT OUTPUT";

struct Args {
    format: Option<String>,
    options: Vec<(String, String)>,
    /// Marker-aware writes, streamed.
    live: bool,
    /// Writes in multiples of this many bytes, streamed.
    chunk: Option<usize>,
    input: String,
    output: String,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Args, String> {
    let mut format = None;
    let mut options = Vec::new();
    let mut live = false;
    let mut chunk = None;
    let mut paths = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--format" => format = Some(args.next().ok_or("--format needs a value")?),
            "--option" => {
                let value = args.next().ok_or("--option needs KEY=VALUE")?;
                let (key, value) = value
                    .split_once('=')
                    .filter(|(key, _)| !key.is_empty())
                    .ok_or_else(|| format!("--option: {value:?} is not KEY=VALUE"))?;
                options.push((key.to_owned(), value.to_owned()));
            }
            "--live" => live = true,
            "--chunk" => {
                let value = args.next().ok_or("--chunk needs a number of bytes")?;
                match value.parse::<usize>() {
                    Ok(0) => return Err("--chunk must be at least 1 byte".into()),
                    Ok(n) => chunk = Some(n),
                    Err(_) => return Err(format!("--chunk: {value:?} is not a number of bytes")),
                }
            }
            "-h" | "--help" => return Err(USAGE.to_owned()),
            "-" => paths.push(arg),
            _ if arg.starts_with('-') => return Err(format!("unknown option {arg}; {USAGE}")),
            _ => paths.push(arg),
        }
    }
    let [input, output]: [String; 2] = paths
        .try_into()
        .map_err(|_| format!("need INPUT and OUTPUT; {USAGE}"))?;
    Ok(Args {
        format,
        options,
        live,
        chunk,
        input,
        output,
    })
}

/// The output files, by name relative to OUTPUT's directory.
#[derive(Default)]
struct Store {
    files: HashMap<String, HugeBuffer>,
    /// By [`series`]: the size of the series' file stored last, what the next one is
    /// expected to grow to.
    last_len: HashMap<String, usize>,
}

/// `name` without the last run of digits before its extension: the files a muxer numbers
/// (`index7.ts`, `chunk-stream0-00012.m4s`) share it with the ones before them, while a
/// DASH audio stream's segments (`chunk-stream1-…`) and the playlist are series of their
/// own.
fn series(name: &str) -> String {
    let (stem, ext) = match name.rfind('.') {
        Some(dot) => name.split_at(dot),
        None => (name, ""),
    };
    let end = match stem.rfind(|c: char| c.is_ascii_digit()) {
        Some(last) => last + 1,
        None => return name.to_owned(),
    };
    let start = stem[..end]
        .trim_end_matches(|c: char| c.is_ascii_digit())
        .len();
    format!("{}{}{ext}", &stem[..start], &stem[end..])
}

type Files = Arc<Mutex<Store>>;

/// A file being written: its bytes go into [`Files`] when FFmpeg closes it.
struct MemoryFile {
    name: String,
    data: HugeBuffer,
    files: Files,
}

impl Write for MemoryFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.data.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for MemoryFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.data.seek(pos)
    }
}

impl Drop for MemoryFile {
    fn drop(&mut self) {
        let data = std::mem::replace(&mut self.data, HugeBuffer::with_expected_len(0));
        if let Ok(mut store) = self.files.lock() {
            let len = data.as_slice().len();
            store.last_len.insert(series(&self.name), len);
            store.files.insert(std::mem::take(&mut self.name), data);
        }
    }
}

/// Serves the muxer's names: plain relative paths only, nothing that leaves OUTPUT's
/// directory. Writes go to memory; deletes (hls `delete_segments`) remove from memory.
struct MemoryOpener {
    files: Files,
}

fn plain_relative(name: &str) -> io::Result<()> {
    let path = Path::new(name);
    let plain = !name.is_empty()
        && !name.contains(':')
        && path.components().all(|c| matches!(c, Component::Normal(_)));
    if plain {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{name:?} is not a plain name under the output directory"),
        ))
    }
}

impl ffio::Opener for MemoryOpener {
    fn open(&mut self, name: &str, mode: OpenMode) -> io::Result<Opened> {
        plain_relative(name)?;
        let store = self
            .files
            .lock()
            .map_err(|_| io::Error::other("poisoned"))?;
        match mode {
            OpenMode::Write => Ok(Opened::seekable_writer(MemoryFile {
                name: name.to_owned(),
                data: HugeBuffer::with_expected_len(
                    store.last_len.get(&series(name)).copied().unwrap_or(0),
                ),
                files: self.files.clone(),
            })),
            _ => match store.files.get(name) {
                Some(data) => Ok(Opened::seekable_reader(Cursor::new(
                    data.as_slice().to_vec(),
                ))),
                None => Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("{name:?} was not written"),
                )),
            },
        }
    }

    fn delete(&mut self, name: &str) -> io::Result<()> {
        plain_relative(name)?;
        let mut store = self
            .files
            .lock()
            .map_err(|_| io::Error::other("poisoned"))?;
        store.files.remove(name);
        Ok(())
    }
}

/// Muxes as `args` say; returns the summary, a line per file written (name, size).
fn run(args: &Args) -> Result<Vec<String>, String> {
    let to_stdout = args.output == "-";
    let output = Path::new(&args.output);
    let main_name = if to_stdout {
        "-".to_owned()
    } else {
        output
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| format!("{}: not a file name", args.output))?
            .to_owned()
    };
    let dir = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() && !to_stdout => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let format = match &args.format {
        Some(name) => name.clone(),
        None if to_stdout => return Err("writing to standard output needs --format".into()),
        None => Muxer::format_for_file_name(&main_name).map_err(|e| e.chain())?,
    };
    let multi_file = Muxer::writes_files_of_its_own(&format).map_err(|e| e.chain())?;
    let streamed = args.live || args.chunk.is_some();
    if multi_file && streamed {
        return Err(format!(
            "{format} writes several files: --live and --chunk are for one output stream"
        ));
    }
    if multi_file && to_stdout {
        return Err(format!(
            "{format} writes several files: give an OUTPUT name, not -"
        ));
    }
    let file = std::fs::File::open(&args.input).map_err(|e| format!("{}: {e}", args.input))?;
    let input_len = file
        .metadata()
        .ok()
        .and_then(|m| usize::try_from(m.len()).ok())
        .unwrap_or(0);
    let mut demuxer = Demuxer::from_seekable_reader(file)
        .map_err(|e| format!("{}: {}", args.input, e.chain()))?;
    let options: Vec<(&str, &str)> = args
        .options
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if streamed {
        let (out, shown) = if to_stdout {
            (FdOut::stdout(), PathBuf::from("-"))
        } else {
            let path = dir.join(&main_name);
            (FdOut::file(path.clone()), path)
        };
        let out = stream(&mut demuxer, out, &shown, args, &format, &options)?;
        let line = format!(
            "{} {} ({} chunks, {} writes)",
            shown.display(),
            out.bytes,
            out.chunks,
            out.writes
        );
        return Ok(vec![line]);
    }
    let files: Files = Arc::default();
    let opener = MemoryOpener {
        files: files.clone(),
    };
    if multi_file {
        let muxer = Muxer::to_opener(opener, &format, &main_name).map_err(|e| e.chain())?;
        copy_all(&mut demuxer, muxer, &options).map_err(|e| e.chain())?;
    } else {
        // A stream that can be read back, so that faststart works too.
        let main = HugeBuffer::with_expected_len(input_len);
        let muxer = Muxer::to_seekable_stream(main, &format)
            .and_then(|m| m.with_opener(opener))
            .map_err(|e| e.chain())?;
        let data = copy_all(&mut demuxer, muxer, &options).map_err(|e| e.chain())?;
        if to_stdout {
            let mut stdout = io::stdout().lock();
            stdout
                .write_all(data.as_slice())
                .and_then(|()| stdout.flush())
                .map_err(|e| format!("standard output: {e}"))?;
            return Ok(vec![format!("- {}", data.as_slice().len())]);
        }
        files
            .lock()
            .map_err(|_| "poisoned")?
            .files
            .insert(main_name.clone(), data);
    }
    let files = std::mem::take(&mut files.lock().map_err(|_| "poisoned")?.files);
    let mut names: Vec<_> = files.into_iter().collect();
    names.sort_by(|a, b| a.0.cmp(&b.0));
    let mut written = Vec::new();
    let mut made_dirs = Vec::new();
    let mut out = Vec::new();
    for (name, data) in &names {
        let path = dir.join(name);
        if let Some(parent) = path
            .parent()
            .filter(|p| !made_dirs.iter().any(|d: &PathBuf| d == p))
        {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
            made_dirs.push(parent.to_path_buf());
        }
        written.push(format!("{} {}", path.display(), data.as_slice().len()));
        out.push((path, data.as_slice()));
    }
    write_files(&out)?;
    Ok(written)
}

/// Writes each file with one write(2), several files at once when there are several
/// (HLS, DASH, segments): copying 200 MB out of memory is what the example pays on top
/// of the CLI, which writes as it goes, and a second core halves it. The first error is
/// returned, naming its file.
fn write_files(files: &[(PathBuf, &[u8])]) -> Result<(), String> {
    let writers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4)
        .min(files.len());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failed: Mutex<Option<String>> = Mutex::new(None);
    let work = || loop {
        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let Some((path, data)) = files.get(i) else {
            return;
        };
        if failed.lock().map_or(true, |f| f.is_some()) {
            return;
        }
        if let Err(e) = std::fs::write(path, data) {
            let mut failed = failed.lock().unwrap_or_else(|p| p.into_inner());
            failed.get_or_insert_with(|| format!("{}: {e}", path.display()));
            return;
        }
    };
    std::thread::scope(|scope| {
        for _ in 1..writers {
            scope.spawn(work);
        }
        work();
    });
    match failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// `--live` / `--chunk`: muxes into `out` (named `shown`) as the packets come, and returns
/// it (with its counts). A failed run removes the regular file it created; a failed write
/// is named after the output.
fn stream<R>(
    demuxer: &mut Demuxer<R>,
    out: FdOut,
    shown: &Path,
    args: &Args,
    format: &str,
    options: &[(&str, &str)],
) -> Result<FdOut, String> {
    let progress: Rc<Progress> = out.progress();
    let shown = if shown == Path::new("-") {
        "standard output".to_owned()
    } else {
        shown.display().to_string()
    };
    let result = match args.chunk {
        None => {
            Muxer::to_chunk_writer(out, format).and_then(|muxer| copy_all(demuxer, muxer, options))
        }
        Some(n) => CustomIo::builder()
            .flush_packets(args.live)
            .align_writes(n)
            .writer(out)
            .and_then(|io| Muxer::new(io, format))
            .and_then(|muxer| copy_all(demuxer, muxer, options)),
    };
    result.map_err(|e| {
        progress.remove_created();
        if progress.write_failed() {
            format!("{shown}: {}", e.chain())
        } else {
            e.chain()
        }
    })
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("remux: {message}");
            return ExitCode::FAILURE;
        }
    };
    // FFmpeg's own messages are part of ffio's errors; keep stderr to one line.
    // SAFETY: no other thread is running FFmpeg code yet.
    unsafe { ffio::set_log_level(ffio::LogLevel::Quiet) };
    match run(&args) {
        Ok(written) => {
            let summary: String = written.iter().map(|line| format!("{line}\n")).collect();
            // The summary goes to stderr when the output itself is on stdout. Written
            // whole, and a closed stdout is an error, not a panic as in `println!`.
            let (result, stream) = if args.output == "-" {
                (
                    io::stderr().lock().write_all(summary.as_bytes()),
                    "standard error",
                )
            } else {
                let mut stdout = io::stdout().lock();
                let result = stdout
                    .write_all(summary.as_bytes())
                    .and_then(|()| stdout.flush());
                (result, "standard output")
            };
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("remux: {stream}: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(message) => {
            eprintln!("remux: {message}");
            ExitCode::FAILURE
        }
    }
}
