//! Prints what a media file is, as one JSON document in the shape of
//! `ffprobe -of json -show_format -show_streams`: for upload checkers that must know exactly
//! what a stranger's bytes are, without running ffprobe.
//!
//! ```text
//! probe FILE           # FILE mapped into memory (av_file_map), demuxed from there
//! probe -              # standard input (not seekable: no size, and MP4s need faststart)
//! probe --count FILE   # also read every packet: nb_read_packets per stream
//! probe --strict FILE  # read every packet; a truncated or corrupt input is an error
//! probe --timeout 5 -  # give up after 5 seconds (a slow or stalled upload)
//! probe --open-dir DIR --count DIR/index.m3u8   # a playlist whose files are in DIR
//! probe --format concat --open-dir DIR --count DIR/list.txt   # a concat list without
//!                                                              # its ffconcat header
//! ```
//!
//! `--format NAME` reads the input as FFmpeg's format NAME instead of probing it.
//! `--open-dir DIR` lets the input name further files (HLS segments and variant
//! playlists, concat lists' parts, DASH segments on FFmpeg 7.0 and later, MOV data
//! references with `enable_drefs`) and serves only plain relative names of regular files under DIR,
//! read-only: no absolute path, no `..`, no scheme (`file:`, `http:`), no symbolic link
//! out of DIR (`common/open_dir.rs`). Any other name fails the run, naming it. Without it
//! such inputs are refused.
//!
//! The fields, their names and their value formats are ffprobe's (`"duration":
//! "10.000000"`, `"time_base": "1/12800"`, `"sample_aspect_ratio": "1:1"`, the display
//! matrix's `rotation` in the stream's `side_data_list`, `disposition` flags as 0/1), and
//! a field is printed exactly when ffprobe prints it. The fields printed are those
//! `tests/metadata.rs` compares with ffprobe's at test time; the fields ffprobe prints
//! that this example leaves out are listed there, with the reasons.
//!
//! Errors (garbage, an empty or missing file, a read error) are one line on stderr, with
//! the error's source chain, and exit status 1; nothing is printed on stdout then.

use std::process::ExitCode;

use std::io::Cursor;

use ffio::{CustomIo, Demuxer, DemuxerOptions, MediaType, Stream};

#[path = "common/count.rs"]
mod count;
#[path = "common/mapped.rs"]
mod mapped;
#[path = "common/open_dir.rs"]
mod open_dir;

const USAGE: &str =
    "usage: probe [--strict] [--timeout SECONDS] [--count] [--format NAME] [--open-dir DIR] FILE|-";

/// Where the input comes from.
enum Input {
    /// A file, mapped into memory.
    File(String),
    /// Standard input.
    Stdin,
}

/// The parsed command line. Options are parsed one by one in `parse_args`; a new one is a
/// field here and an arm there.
struct Args {
    input: Input,
    /// `--count`: read every packet and print `nb_read_packets`.
    count: bool,
    /// `--strict`: read every packet; a cut or damaged input fails (`Error::Truncated`).
    strict: bool,
    /// `--timeout SECONDS`: a deadline for the whole run.
    timeout: Option<std::time::Duration>,
    /// `--open-dir DIR`: further files the input names are served from DIR.
    open_dir: Option<String>,
    /// `--format NAME`: the input's format, not probed.
    format: Option<String>,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Args, String> {
    let mut count = false;
    let mut strict = false;
    let mut timeout = None;
    let mut open_dir = None;
    let mut format = None;
    let mut input = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--count" => count = true,
            "--strict" => strict = true,
            "--timeout" => {
                let value = args
                    .next()
                    .ok_or_else(|| format!("--timeout needs a number of seconds; {USAGE}"))?;
                let secs: f64 = value
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s > 0.0)
                    .ok_or_else(|| format!("--timeout: {value:?} is not a positive number"))?;
                timeout = Some(std::time::Duration::from_secs_f64(secs));
            }
            "--open-dir" => {
                let dir = args
                    .next()
                    .ok_or_else(|| format!("--open-dir needs a directory; {USAGE}"))?;
                open_dir = Some(dir);
            }
            "--format" => {
                let name = args
                    .next()
                    .ok_or_else(|| format!("--format needs a format name; {USAGE}"))?;
                format = Some(name);
            }
            "-h" | "--help" => return Err(USAGE.to_owned()),
            "--" => {
                let path = args
                    .next()
                    .ok_or_else(|| format!("-- needs a FILE; {USAGE}"))?;
                set_input(&mut input, Input::File(path))?;
            }
            "-" => set_input(&mut input, Input::Stdin)?,
            _ if arg.starts_with('-') => return Err(format!("unknown option {arg}; {USAGE}")),
            _ => set_input(&mut input, Input::File(arg))?,
        }
    }
    let input = input.ok_or_else(|| USAGE.to_owned())?;
    Ok(Args {
        input,
        count,
        strict,
        timeout,
        open_dir,
        format,
    })
}

fn set_input(slot: &mut Option<Input>, input: Input) -> Result<(), String> {
    if slot.is_some() {
        return Err(format!("more than one input; {USAGE}"));
    }
    *slot = Some(input);
    Ok(())
}

fn run() -> Result<(), String> {
    let args = parse_args(std::env::args().skip(1))?;
    let error = |e: ffio::Error| e.chain();
    let json = match &args.input {
        Input::File(path) => {
            let file = mapped::MappedFile::open(path)?;
            let io = CustomIo::seekable_reader(Cursor::new(file.as_slice())).map_err(error)?;
            let demuxer = options(&args)?.open(io).map_err(error)?;
            probe(demuxer, path, &args)?
        }
        Input::Stdin => {
            let stdin = DeadlineStdin {
                deadline: args.timeout.map(|t| std::time::Instant::now() + t),
            };
            let io = CustomIo::reader(stdin).map_err(error)?;
            let demuxer = options(&args)?.open(io).map_err(error)?;
            probe(demuxer, "pipe:0", &args)?
        }
    };
    // Everything is checked before anything is printed: on error, stdout stays empty.
    println!("{json}");
    Ok(())
}

/// Standard input that gives up at the deadline even while no byte arrives: the
/// demuxer's deadline is checked between reads, and a read blocked on a silent pipe
/// would never return, so each read first waits (`poll`) only until the deadline.
struct DeadlineStdin {
    deadline: Option<std::time::Instant>,
}

impl std::io::Read for DeadlineStdin {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if let Some(deadline) = self.deadline {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let mut fd = libc::pollfd {
                fd: libc::STDIN_FILENO,
                events: libc::POLLIN,
                revents: 0,
            };
            let ms = libc::c_int::try_from(left.as_millis()).unwrap_or(libc::c_int::MAX);
            // SAFETY: one valid pollfd, for the duration of the call.
            let ready = unsafe { libc::poll(&mut fd, 1, ms) };
            if ready < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if ready == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "no data from standard input before the deadline",
                ));
            }
        }
        std::io::stdin().lock().read(buf)
    }
}

/// How ffprobe opens its input: like ffmpeg, it asks the MPEG-TS demuxer to wait for
/// every program's PMT (`scan_all_pmts`), which changes what stream discovery sees.
/// Without `--count` only the description is needed, which ffprobe prints even for an
/// MP4 on a pipe whose packets it could not read.
fn options(args: &Args) -> Result<DemuxerOptions, String> {
    let mut options = DemuxerOptions::new()
        .option_for("mpegts", "scan_all_pmts", "1")
        .headers_only(!args.count && !args.strict)
        .strict(args.strict);
    if let Some(timeout) = args.timeout {
        options = options.timeout(timeout);
    }
    if let Some(format) = &args.format {
        options = options.format(format);
    }
    if let Some(dir) = &args.open_dir {
        options =
            options
                .opener(open_dir::OpenDir::new(dir)?)
                .option_for("mov", "enable_drefs", "1");
    }
    Ok(options)
}

/// The JSON document for an open input. `filename` is printed as given.
fn probe<R>(mut demuxer: Demuxer<R>, filename: &str, args: &Args) -> Result<String, String> {
    let mut packets = Vec::new();
    if args.count || args.strict {
        packets = count::count_packets(&mut demuxer)?;
    }
    let streams = demuxer
        .streams()
        .map(|s| {
            stream_json(
                &s,
                args.count
                    .then(|| packets.get(s.index()).copied().unwrap_or(0)),
            )
        })
        .collect();
    let root = Json::Object(vec![
        ("streams".into(), Json::Array(streams)),
        ("format".into(), format_json(&demuxer, filename)),
    ]);
    Ok(root.to_string())
}

fn format_json<R>(demuxer: &Demuxer<R>, filename: &str) -> Json {
    let mut o = Fields::default();
    o.str("filename", filename);
    o.int("nb_streams", demuxer.stream_count() as i64);
    o.str("format_name", demuxer.format_name());
    o.str("format_long_name", demuxer.format_long_name());
    if let Some(start) = demuxer.start_timestamp() {
        o.str("start_time", start.to_string());
    }
    if let Some(duration) = demuxer.duration() {
        o.str("duration", format!("{:.6}", duration.as_secs_f64()));
    }
    if let Some(size) = demuxer.size() {
        o.str("size", size.to_string());
    }
    if let Some(bit_rate) = demuxer.bit_rate() {
        o.str("bit_rate", bit_rate.to_string());
    }
    o.tags(demuxer.tags());
    Json::Object(o.0)
}

fn stream_json(s: &Stream<'_>, read_packets: Option<u64>) -> Json {
    let mut o = Fields::default();
    o.int("index", s.index() as i64);
    if let Some(long_name) = s.codec_long_name() {
        o.str("codec_name", s.codec_name());
        o.str("codec_long_name", long_name);
    }
    if let Some(profile) = s.profile() {
        o.str("profile", profile.to_string());
    }
    let kind = s.media_type();
    if kind != MediaType::Unknown {
        o.str("codec_type", kind.as_str());
    }
    o.str("codec_tag_string", s.codec_tag_string());
    o.str("codec_tag", format!("0x{:04x}", s.codec_tag()));
    match kind {
        MediaType::Video => {
            o.int("width", s.width().map_or(0, i64::from));
            o.int("height", s.height().map_or(0, i64::from));
            o.int("has_b_frames", i64::from(s.video_delay()));
            if let (Some(sar), Some(dar)) = (s.sample_aspect_ratio(), s.display_aspect_ratio()) {
                o.str("sample_aspect_ratio", format!("{}:{}", sar.num, sar.den));
                o.str("display_aspect_ratio", format!("{}:{}", dar.num, dar.den));
            }
            if let Some(format) = s.pixel_format() {
                o.str("pix_fmt", format.name());
            }
            // ffprobe prints the level of every video stream, -99 when unknown.
            o.int("level", i64::from(s.level().unwrap_or(-99)));
            if let Some(v) = s.color_range() {
                o.str("color_range", v.name());
            }
            if let Some(v) = s.color_space() {
                o.str("color_space", v.name());
            }
            if let Some(v) = s.color_transfer() {
                o.str("color_transfer", v.name());
            }
            if let Some(v) = s.color_primaries() {
                o.str("color_primaries", v.name());
            }
            if let Some(v) = s.chroma_location() {
                o.str("chroma_location", v.name());
            }
            if let Some(v) = s.field_order() {
                o.str("field_order", v.name());
            }
        }
        MediaType::Audio => {
            if let Some(format) = s.sample_format() {
                o.str("sample_fmt", format.name());
            }
            o.str("sample_rate", s.sample_rate().unwrap_or(0).to_string());
            o.int("channels", s.channels().map_or(0, i64::from));
            if let Some(layout) = s.channel_layout() {
                o.str("channel_layout", layout);
            }
        }
        MediaType::Subtitle => {
            if let Some(width) = s.width() {
                o.int("width", i64::from(width));
            }
            if let Some(height) = s.height() {
                o.int("height", i64::from(height));
            }
        }
        _ => {}
    }
    let ratio = |r: ffio::Rational| format!("{}/{}", r.num, r.den);
    o.str("r_frame_rate", ratio(s.r_frame_rate()));
    o.str("avg_frame_rate", ratio(s.avg_frame_rate()));
    o.str("time_base", ratio(s.time_base()));
    if let Some(start) = s.start_time() {
        o.int("start_pts", start.pts);
        o.str("start_time", start.to_string());
    }
    if let Some(duration) = s.duration() {
        let time = ffio::Timestamp {
            pts: duration,
            time_base: s.time_base(),
        };
        o.int("duration_ts", duration);
        o.str("duration", time.to_string());
    }
    if let Some(bit_rate) = s.bit_rate() {
        o.str("bit_rate", bit_rate.to_string());
    }
    if let Some(frames) = s.frames() {
        o.str("nb_frames", frames.to_string());
    }
    if let Some(n) = read_packets.filter(|&n| n > 0) {
        o.str("nb_read_packets", n.to_string());
    }
    let extradata = s.extradata();
    if !extradata.is_empty() {
        o.int("extradata_size", extradata.len() as i64);
    }
    let disposition = s
        .disposition()
        .flags()
        .map(|(name, set)| (name.to_owned(), Json::Int(i64::from(set))))
        .collect();
    o.0.push(("disposition".into(), Json::Object(disposition)));
    o.tags(s.tags());
    let side_data: Vec<Json> = s.side_data().map(|sd| side_data_json(&sd)).collect();
    if !side_data.is_empty() {
        o.0.push(("side_data_list".into(), Json::Array(side_data)));
    }
    Json::Object(o.0)
}

/// One entry of a stream's `side_data_list`: its type, and the fields ffprobe prints for
/// a display matrix and for CPB properties (other types: the type only).
fn side_data_json(sd: &ffio::SideData<'_>) -> Json {
    let mut o = Fields::default();
    o.str("side_data_type", sd.name());
    if let Some(matrix) = sd.display_matrix() {
        o.str("displaymatrix", matrix_text(&matrix.values()));
        if let Some(rotation) = matrix.rotation() {
            // ffprobe prints the double as an integer (truncated, as C converts it).
            o.int("rotation", rotation as i64);
        }
    }
    if let Some(cpb) = sd.cpb_properties() {
        o.int("max_bitrate", cpb.max_bitrate);
        o.int("min_bitrate", cpb.min_bitrate);
        o.int("avg_bitrate", cpb.avg_bitrate);
        o.int("buffer_size", cpb.buffer_size);
        // ffprobe prints this uint64_t through its int64_t printer.
        o.int("vbv_delay", cpb.vbv_delay as i64);
    }
    Json::Object(o.0)
}

/// The display matrix as ffprobe prints it: a leading newline, then per row the row
/// number (`%08x: `) and three `" %11d"` values, each row ending in a newline.
fn matrix_text(values: &[i32; 9]) -> String {
    let mut text = String::from("\n");
    for (row, chunk) in values.chunks(3).enumerate() {
        text.push_str(&format!("{row:08x}: "));
        for v in chunk {
            text.push_str(&format!(" {v:11}"));
        }
        text.push('\n');
    }
    text
}

/// An object's fields, in order, as they are added.
#[derive(Default)]
struct Fields(Vec<(String, Json)>);

impl Fields {
    fn str(&mut self, key: &str, value: impl Into<String>) {
        self.0.push((key.to_owned(), Json::Str(value.into())));
    }

    fn int(&mut self, key: &str, value: i64) {
        self.0.push((key.to_owned(), Json::Int(value)));
    }

    /// A `tags` object, if there are tags (ffprobe prints none otherwise).
    fn tags(&mut self, tags: ffio::Tags<'_>) {
        if tags.is_empty() {
            return;
        }
        let fields = tags
            .iter()
            .map(|(k, v)| (k.into_owned(), Json::Str(v.into_owned())))
            .collect();
        self.0.push(("tags".into(), Json::Object(fields)));
    }
}

/// Just enough JSON: strings, integers, arrays and objects with ordered keys.
enum Json {
    Str(String),
    Int(i64),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// Writes the value indented like ffprobe's JSON writer (four spaces per level).
    fn write(&self, out: &mut String, depth: usize) {
        let pad = |out: &mut String, depth: usize| out.push_str(&"    ".repeat(depth));
        match self {
            Json::Str(s) => write_string(out, s),
            Json::Int(n) => out.push_str(&n.to_string()),
            Json::Array(items) if items.is_empty() => out.push_str("[]"),
            Json::Array(items) => {
                out.push_str("[\n");
                for (i, item) in items.iter().enumerate() {
                    pad(out, depth + 1);
                    item.write(out, depth + 1);
                    out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
                }
                pad(out, depth);
                out.push(']');
            }
            Json::Object(fields) if fields.is_empty() => out.push_str("{}"),
            Json::Object(fields) => {
                out.push_str("{\n");
                for (i, (key, value)) in fields.iter().enumerate() {
                    pad(out, depth + 1);
                    write_string(out, key);
                    out.push_str(": ");
                    value.write(out, depth + 1);
                    out.push_str(if i + 1 < fields.len() { ",\n" } else { "\n" });
                }
                pad(out, depth);
                out.push('}');
            }
        }
    }
}

impl std::fmt::Display for Json {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = String::new();
        self.write(&mut out, 0);
        f.write_str(&out)
    }
}

/// A JSON string literal: quotes, backslashes and control characters escaped (as
/// ffprobe's writer does: the short escapes where JSON has them, `\u00XX` otherwise).
fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn main() -> ExitCode {
    // Errors are reported once, by us, as one line.
    // SAFETY: nothing else runs FFmpeg yet: main has started no other thread.
    unsafe { ffio::set_log_level(ffio::LogLevel::Quiet) };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("probe: {}", message.replace('\n', "; "));
            ExitCode::FAILURE
        }
    }
}
