//! ffio's own concat demuxer: concat lists (`ffconcat version 1.0`, or any list opened
//! with the `concat` format) whose parts come through the application's [`Opener`](crate::Opener).
//!
//! FFmpeg's concat demuxer cannot be used for this: `concatdec.c` opens every part with
//! `avformat_open_input` on a child context of its own that keeps FFmpeg's default
//! `io_open` (5.1 to 9.0 alike), so its parts never reach an opener. This module does what
//! `concatdec.c` does, in Rust, with each part a [`Demuxer`] opened through the opener:
//!
//! * the list is parsed with FFmpeg's syntax and FFmpeg's own token, time and number
//!   parsers (`av_get_token`, `av_parse_time`, `strtol`), with its error messages;
//! * `safe` (default on), `auto_convert`, `segment_time_metadata` and `recursion_depth`
//!   are the concat demuxer's options, with its defaults (ffio's depth limit applies on
//!   every release: 5.1 has none, and a list naming itself recurses until it crashes);
//! * the list's streams live in a format context of their own that is never opened (a
//!   stream table, [`crate::demux`]'s `InputContext::table`); each part's streams are
//!   matched to them one to one, or by `exact_stream_id`, their properties copied as
//!   FFmpeg copies them;
//! * packets are the parts' packets, with FFmpeg's timestamp offsets (the sum of the
//!   earlier parts' durations, minus the part's start or `inpoint`), its `outpoint` cut,
//!   its `h264_mp4toannexb` auto-conversion and its per-file packet metadata, then what
//!   FFmpeg's generic demuxing layer does to the concat demuxer's packets
//!   ([`crate::timing`]: missing durations and timestamps, the stream start times), with
//!   the list's first packets read ahead at open as FFmpeg's stream discovery reads them;
//! * seeking follows `concat_seek`: any time when every part's duration is known in
//!   advance, otherwise only the start.
//!
//! Parts are opened lazily, in list order, when the previous one ends, as FFmpeg does;
//! the opener sees each name exactly as the list spells it (after unquoting), never
//! resolved against anything: it decides what a name may reach (see the README's
//! "Untrusted input").

use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_int};
use std::panic::{self, AssertUnwindSafe};
use std::ptr;
use std::sync::Arc;

use ffmpeg_sys_next as ffi;

use crate::bsf::BitstreamFilter;
use crate::demux::{Demuxer, DemuxerOptions};
use crate::dict::{c_string, Dictionary};
use crate::error::{Error, Result};
use crate::interrupt::Interrupt;
use crate::io::{buffer_ref, CustomIo};
use crate::mux::set_extradata;
use crate::opener::{ChildStream, OpenMode, SharedOpener};
use crate::packet::Packet;
use crate::timing::StreamTiming;
use crate::truncation::Truncation;

/// The largest list ffio reads (16 MiB, some 500,000 parts): a list is text the
/// application holds in full, and a hostile one must not take unbounded memory.
pub(crate) const MAX_LIST_SIZE: usize = 16 << 20;

/// How much the open reads ahead at most to learn the streams' start times: FFmpeg's
/// default `probesize`, which bounds its own stream discovery.
const READ_AHEAD_BYTES: usize = 5_000_000;

/// FFmpeg's default `max_ts_probe`: how many packets of a stream stream discovery reads
/// at most waiting for its first timestamp.
const MAX_TS_PROBE: u32 = 50;

/// FFmpeg's default `recursion_depth`: how deep lists may name lists.
const DEFAULT_RECURSION_DEPTH: i32 = 10;

const NOPTS: i64 = ffi::AV_NOPTS_VALUE;

/// The AV_TIME_BASE time base, in which the list's times are given.
const TIME_BASE_Q: ffi::AVRational = ffi::AVRational {
    num: 1,
    den: ffi::AV_TIME_BASE,
};

/// The concat demuxer's private options, as FFmpeg's `concat_class` defines them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    safe: bool,
    auto_convert: bool,
    segment_time_metadata: bool,
    recursion_depth: i32,
}

impl Settings {
    /// Takes the concat demuxer's options out of `dict` (the private options given for
    /// the input), leaving whatever else the caller gave for the open to refuse.
    pub(crate) fn take_from(dict: &mut Dictionary) -> Result<Settings> {
        let mut settings = Settings {
            safe: true,
            auto_convert: true,
            segment_time_metadata: false,
            recursion_depth: DEFAULT_RECURSION_DEPTH,
        };
        for (key, slot) in [
            ("safe", &mut settings.safe),
            ("auto_convert", &mut settings.auto_convert),
            ("segment_time_metadata", &mut settings.segment_time_metadata),
        ] {
            if let Some(value) = dict.take(key)? {
                *slot = parse_bool(key, &value)?;
            }
        }
        if let Some(value) = dict.take("recursion_depth")? {
            settings.recursion_depth = value
                .trim()
                .parse::<i32>()
                .ok()
                .filter(|&d| d >= 0)
                .ok_or_else(|| Error::InvalidOption {
                    key: "recursion_depth".into(),
                    value: value.clone(),
                    message: "not an integer from 0 to 2147483647".into(),
                })?;
        }
        Ok(settings)
    }
}

/// An `AV_OPT_TYPE_BOOL` value in 0..=1, as `av_opt_set` reads it (`set_string_bool`):
/// one of "true,y,yes,enable,enabled,on" or "false,n,no,disable,disabled,off" (any case),
/// or a whole base-10 `strtol` number (leading spaces and a sign allowed, "" is 0).
fn parse_bool(key: &str, value: &str) -> Result<bool> {
    let refuse = || Error::InvalidOption {
        key: key.to_owned(),
        value: value.to_owned(),
        message: format!("Unable to parse option value \"{value}\" as boolean"),
    };
    let is = |names: &str| names.split(',').any(|n| n.eq_ignore_ascii_case(value));
    if is("true,y,yes,enable,enabled,on") {
        return Ok(true);
    }
    if is("false,n,no,disable,disabled,off") {
        return Ok(false);
    }
    let c_value = CString::new(value).map_err(|_| refuse())?;
    let mut end: *mut c_char = ptr::null_mut();
    // SAFETY: `c_value` is a valid C string; strtol sets `end` within it.
    let n = unsafe { libc::strtol(c_value.as_ptr(), &mut end, 10) };
    // SAFETY: `end` points into `c_value`, at or after its start.
    let used = unsafe { end.offset_from(c_value.as_ptr()) } as usize;
    match (used == value.len(), n) {
        (true, 0) => Ok(false),
        (true, 1) => Ok(true),
        _ => Err(refuse()),
    }
}

/// One `file` of the list (`ConcatFile`).
struct Part {
    /// The name as the list spells it, for the opener.
    name: String,
    start_time: i64,
    file_start_time: i64,
    file_inpoint: i64,
    duration: i64,
    user_duration: i64,
    next_dts: i64,
    inpoint: i64,
    outpoint: i64,
    metadata: Dictionary,
    /// `metadata` packed (`av_packet_pack_dictionary`) when the part is opened, for each
    /// of its packets' `AV_PKT_DATA_STRINGS_METADATA`; empty without metadata.
    packed_metadata: Vec<u8>,
    /// The `option` directives: options for this part's demuxer.
    options: Vec<(String, String)>,
    /// The part's streams seen so far, by the part's index: where each goes.
    streams: Vec<PartStream>,
}

/// What becomes of one stream of a part (`ConcatStream`).
struct PartStream {
    /// The list's stream its packets become, if any.
    out: Option<usize>,
    /// The `h264_mp4toannexb` filter auto-inserted for it.
    bsf: Option<BitstreamFilter>,
}

/// What a list is opened with, besides its bytes and its stream table.
pub(crate) struct Setup {
    /// The concat demuxer's options.
    pub(crate) settings: Settings,
    /// For a list that is a part of another: how deep lists may still nest.
    pub(crate) depth: Option<i32>,
    /// The options each part's demuxer gets.
    pub(crate) part_options: DemuxerOptions,
    /// The application's opener, for the parts.
    pub(crate) opener: SharedOpener,
    /// The list's cancellation, shared with every part.
    pub(crate) interrupt: Arc<Interrupt>,
    /// Whether stream discovery runs (the read-ahead for the start times).
    pub(crate) discover: bool,
}

/// The state of one concat list being read: what the Demuxer of a list keeps besides its
/// stream table.
pub(crate) struct Concat {
    /// The open part (after the list, which outlives it: dropped first).
    current: Option<(usize, Box<Demuxer<ChildStream>>)>,
    parts: Vec<Part>,
    opener: SharedOpener,
    settings: Settings,
    /// How deep this list is allowed to nest more lists.
    depth: i32,
    /// The options each part's demuxer gets.
    part_options: DemuxerOptions,
    /// The list's cancellation, shared with every part.
    interrupt: Arc<Interrupt>,
    match_exact_id: bool,
    seekable: bool,
    eof: bool,
    /// The first failure that left no part open: every later read says so.
    failed: Option<String>,
    /// Set once the opener or a part panicked.
    poisoned: bool,
    /// A truncation a part found, for the list's own bookkeeping.
    found: Option<Truncation>,
    /// Per stream of the list: FFmpeg's generic layer's timestamp state.
    timing: Vec<StreamTiming>,
    /// Packets read ahead at open, returned first.
    ahead: std::collections::VecDeque<Packet>,
    /// The failure that stopped the read-ahead, returned after its packets.
    pending: Option<Error>,
}

// SAFETY: a Concat exclusively owns its parts (`Demuxer<ChildStream>`, Send), filters
// and dictionaries; the opener is an `Arc<Mutex<dyn Opener>>` with `Opener: Send`.
unsafe impl Send for Concat {}

/// An `Error::Ffmpeg` with FFmpeg's code and the line FFmpeg's concat demuxer would log.
fn list_error(code: c_int, line: String) -> Error {
    Error::ffmpeg("avformat_open_input", code).with_detail(Some(format!("concat: {line}")))
}

fn invalid(line: String) -> Error {
    list_error(ffi::AVERROR_INVALIDDATA, line)
}

/// Reads the whole list behind `io` (from its first byte: the probe left what it read in
/// the buffer) through the one call path.
pub(crate) fn read_list<R>(io: &mut CustomIo<R>) -> Result<Vec<u8>> {
    let pb = io.as_ptr();
    let mut list = Vec::new();
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        let len = chunk.len() as c_int;
        let buf = chunk.as_mut_ptr();
        // SAFETY: `pb` is our reading context and `buf` a writable buffer of `len` bytes;
        // avio_read runs our read callback, through the call path.
        let read = match io.call("avio_read", || unsafe { ffi::avio_read(pb, buf, len) }) {
            Ok(n) => n as usize,
            Err(e) if e.is_eof() => 0,
            Err(e) => return Err(e),
        };
        if read == 0 {
            return Ok(list);
        }
        if list.len() + read > MAX_LIST_SIZE {
            return Err(invalid(format!(
                "the list is larger than ffio reads ({} MiB)",
                MAX_LIST_SIZE >> 20
            )));
        }
        list.extend_from_slice(&chunk[..read]);
    }
}

/// The list's lines as `read_string_to_bprint` cuts them: at `\n`, `\r`, `\r\n` and NUL.
fn lines(list: &[u8]) -> Vec<&[u8]> {
    let mut lines = Vec::new();
    let mut rest = list;
    while !rest.is_empty() {
        let end = rest
            .iter()
            .position(|&b| b == b'\n' || b == b'\r' || b == 0)
            .unwrap_or(rest.len());
        lines.push(&rest[..end]);
        let mut next = (end + 1).min(rest.len());
        if rest.get(end) == Some(&b'\r') && rest.get(end + 1) == Some(&b'\n') {
            next += 1;
        }
        rest = &rest[next..];
    }
    lines
}

/// `SPACE_CHARS` of libavformat.
const SPACE: &[u8] = b" \t\r\n";
const SPACE_C: &CStr = c" \t\r\n";

/// A cursor over one line, with `concatdec.c`'s `get_keyword` and FFmpeg's
/// `av_get_token`.
struct Cursor {
    line: CString,
    at: usize,
}

impl Cursor {
    fn bytes(&self) -> &[u8] {
        &self.line.as_bytes()[self.at..]
    }

    /// `get_keyword`: skips spaces, takes everything up to the next space, skips the
    /// spaces after it.
    fn keyword(&mut self) -> Vec<u8> {
        let skip = |b: &[u8]| b.iter().take_while(|c| SPACE.contains(c)).count();
        self.at += skip(self.bytes());
        let len = self
            .bytes()
            .iter()
            .take_while(|c| !SPACE.contains(c))
            .count();
        let word = self.bytes()[..len].to_vec();
        self.at += len;
        self.at += skip(self.bytes());
        word
    }

    /// `av_get_token(&cursor, SPACE_CHARS)`: a string with FFmpeg's quoting and escapes.
    fn token(&mut self) -> Result<Vec<u8>> {
        // SAFETY: `start` points into our NUL-terminated line at a byte boundary.
        let start: *const c_char = unsafe { self.line.as_ptr().add(self.at) };
        let mut p = start;
        // SAFETY: `p` points into a NUL-terminated string, `SPACE_C` is one; av_get_token
        // advances `p` within it and returns a NUL-terminated copy we free below.
        let token = unsafe { ffi::av_get_token(&mut p, SPACE_C.as_ptr()) };
        if token.is_null() {
            return Err(Error::ffmpeg("av_get_token", ffi::AVERROR(libc::ENOMEM)));
        }
        // SAFETY: `p` stayed within the same string, at or after `start`.
        self.at += unsafe { p.offset_from(start) } as usize;
        // SAFETY: av_get_token returned a valid NUL-terminated string we own.
        let bytes = unsafe { CStr::from_ptr(token) }.to_bytes().to_vec();
        // SAFETY: allocated by av_get_token with av_malloc, freed once.
        unsafe { ffi::av_free(token.cast()) };
        Ok(bytes)
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `av_parse_time(…, 1)`: a duration such as `12.5`, `1:02:03.5` or `500ms`, in µs.
fn parse_duration(word: &[u8]) -> Option<i64> {
    let word = CString::new(word).ok()?;
    let mut us = 0i64;
    // SAFETY: `word` is a valid C string, `us` a valid out-parameter.
    let ret = unsafe { ffi::av_parse_time(&mut us, word.as_ptr(), 1) };
    (ret >= 0).then_some(us)
}

/// `strtol(word, NULL, 0)`, as the list's integers are read.
fn parse_int(word: &[u8]) -> i64 {
    let Ok(word) = CString::new(word) else {
        return 0;
    };
    // SAFETY: `word` is a valid C string; a null end pointer is allowed.
    unsafe { libc::strtol(word.as_ptr(), ptr::null_mut(), 0) }
}

/// `concatdec.c`'s `safe_filename`: only `[A-Za-z0-9_-]` and `.`, `/` inside names, no
/// component starting with anything but `[A-Za-z0-9_-]`.
fn safe_name(name: &[u8]) -> bool {
    let mut start = 0;
    for (i, &c) in name.iter().enumerate() {
        if c.is_ascii_alphanumeric() || c == b'_' || c == b'-' {
            continue;
        }
        if i == start {
            return false;
        } else if c == b'/' {
            start = i + 1;
        } else if c != b'.' {
            return false;
        }
    }
    true
}

/// `ff_hex_to_data`: the bytes of a hex string (spaces ignored, stopping at anything else).
fn hex_to_data(word: &[u8]) -> Vec<u8> {
    let mut data = Vec::new();
    let mut v: u32 = 1;
    for &c in word {
        if SPACE.contains(&c) {
            continue;
        }
        let Some(digit) = (c as char).to_digit(16) else {
            break;
        };
        v = (v << 4) | digit;
        if v & 0x100 != 0 {
            data.push(v as u8);
            v = 1;
        }
    }
    data
}

/// The directives of the list language, with their arguments (`d` duration, `i` integer,
/// `k` keyword, `s` string) and needs.
const DIRECTIVES: &[(&str, &str, u8)] = &[
    ("ffconcat", "kk", 0),
    ("file", "s", 0),
    ("duration", "d", NEEDS_FILE),
    ("inpoint", "d", NEEDS_FILE),
    ("outpoint", "d", NEEDS_FILE),
    ("file_packet_meta", "ks", NEEDS_FILE),
    ("file_packet_metadata", "s", NEEDS_FILE),
    ("option", "ks", NEEDS_FILE | NEEDS_UNSAFE),
    ("stream", "", 0),
    ("exact_stream_id", "i", NEEDS_STREAM),
    ("stream_meta", "ks", NEEDS_STREAM),
    ("stream_codec", "k", NEEDS_STREAM),
    ("stream_extradata", "k", NEEDS_STREAM),
    ("chapter", "idd", 0),
];
const NEEDS_UNSAFE: u8 = 1;
const NEEDS_FILE: u8 = 2;
const NEEDS_STREAM: u8 = 4;

/// One parsed argument.
enum Arg {
    Int(i64),
    Word(Vec<u8>),
}

impl Arg {
    fn int(&self) -> i64 {
        match self {
            Arg::Int(i) => *i,
            Arg::Word(_) => 0,
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Arg::Word(w) => w,
            Arg::Int(_) => b"",
        }
    }
}

/// Sets `key` to `value` in the dictionary behind `dict` (`av_dict_set`, copying both).
///
/// # Safety
/// `dict` must point to a valid `AVDictionary *` (null or a dictionary the caller owns).
unsafe fn dict_set(dict: *mut *mut ffi::AVDictionary, key: &[u8], value: &[u8]) -> Result<()> {
    let key = c_string(&text(key), "metadata key")?;
    let value = c_string(&text(value), "metadata value")?;
    // SAFETY: per the contract; key and value are valid C strings that av_dict_set copies.
    let ret = unsafe { ffi::av_dict_set(dict, key.as_ptr(), value.as_ptr(), 0) };
    crate::error::check("av_dict_set", ret).map(drop)
}

/// Parses the list into `parts`, creating the streams and chapters it declares in the
/// stream table `table` (`concat_parse_script`).
///
/// # Safety
/// `table` must be a valid format context ffio owns, that no FFmpeg call is using.
unsafe fn parse(list: &[u8], table: *mut ffi::AVFormatContext, safe: bool) -> Result<Vec<Part>> {
    let mut parts: Vec<Part> = Vec::new();
    let mut stream: *mut ffi::AVStream = ptr::null_mut();
    for (number, line) in lines(list).into_iter().enumerate() {
        let number = number + 1;
        let Ok(line) = CString::new(line) else {
            unreachable!("lines are cut at NUL bytes")
        };
        let mut cursor = Cursor { line, at: 0 };
        let keyword = cursor.keyword();
        if keyword.is_empty() || keyword[0] == b'#' {
            continue;
        }
        let Some(&(name, syntax, needs)) = DIRECTIVES
            .iter()
            .find(|(name, _, _)| name.as_bytes() == keyword.as_slice())
        else {
            return Err(invalid(format!(
                "Line {number}: unknown keyword '{}'",
                text(&keyword)
            )));
        };
        if needs & NEEDS_UNSAFE != 0 && safe {
            return Err(invalid(format!(
                "Line {number}: {name} not allowed if safe"
            )));
        }
        if needs & NEEDS_FILE != 0 && parts.is_empty() {
            return Err(invalid(format!("Line {number}: {name} without file")));
        }
        // SAFETY: `table` is valid (the contract).
        if needs & NEEDS_STREAM != 0 && unsafe { (*table).nb_streams } == 0 {
            return Err(invalid(format!("Line {number}: {name} without stream")));
        }
        let mut args = Vec::new();
        for kind in syntax.bytes() {
            args.push(match kind {
                b'd' => {
                    let word = cursor.keyword();
                    match parse_duration(&word) {
                        Some(us) => Arg::Int(us),
                        None => {
                            return Err(list_error(
                                ffi::AVERROR(libc::EINVAL),
                                format!("Line {number}: invalid duration '{}'", text(&word)),
                            ))
                        }
                    }
                }
                b'i' => Arg::Int(parse_int(&cursor.keyword())),
                b'k' => Arg::Word(cursor.keyword()),
                _ => {
                    let token = cursor.token()?;
                    if token.is_empty() {
                        return Err(invalid(format!("Line {number}: string required")));
                    }
                    Arg::Word(token)
                }
            });
        }
        let part = parts.last_mut();
        match name {
            "ffconcat" => {
                if args[0].bytes() != b"version" || args[1].bytes() != b"1.0" {
                    return Err(invalid(format!("Line {number}: invalid version")));
                }
            }
            "file" => {
                let raw = args[0].bytes();
                if safe && !safe_name(raw) {
                    return Err(list_error(
                        ffi::AVERROR(libc::EPERM),
                        format!("Unsafe file name '{}'", text(raw)),
                    ));
                }
                let Ok(name) = std::str::from_utf8(raw) else {
                    return Err(invalid(format!(
                        "Line {number}: the file name is not UTF-8: {:?}",
                        text(raw)
                    )));
                };
                parts.push(Part {
                    name: name.to_owned(),
                    start_time: NOPTS,
                    file_start_time: 0,
                    file_inpoint: 0,
                    duration: NOPTS,
                    user_duration: NOPTS,
                    next_dts: NOPTS,
                    inpoint: NOPTS,
                    outpoint: NOPTS,
                    metadata: Dictionary::from_pairs(&[])?,
                    packed_metadata: Vec::new(),
                    options: Vec::new(),
                    streams: Vec::new(),
                });
            }
            "duration" => part.expect("checked").user_duration = args[0].int(),
            "inpoint" => part.expect("checked").inpoint = args[0].int(),
            "outpoint" => part.expect("checked").outpoint = args[0].int(),
            "file_packet_meta" => {
                let part = part.expect("checked");
                part.metadata
                    .set(&text(args[0].bytes()), &text(args[1].bytes()))?;
            }
            "file_packet_metadata" => {
                let part = part.expect("checked");
                let value = c_string(&text(args[0].bytes()), "metadata")?;
                // SAFETY: the part's own dictionary; valid C strings for the separators.
                let ret = unsafe {
                    ffi::av_dict_parse_string(
                        part.metadata.as_mut_ptr(),
                        value.as_ptr(),
                        c"=".as_ptr(),
                        c"".as_ptr(),
                        0,
                    )
                };
                if ret < 0 {
                    return Err(invalid(format!(
                        "Line {number}: failed to parse metadata string"
                    )));
                }
            }
            "option" => {
                let part = part.expect("checked");
                let (key, value) = (text(args[0].bytes()), text(args[1].bytes()));
                part.options.retain(|(k, _)| *k != key);
                part.options.push((key, value));
            }
            "stream" => {
                // SAFETY: `table` is valid and idle (the contract).
                stream = unsafe { ffi::avformat_new_stream(table, ptr::null()) };
                if stream.is_null() {
                    return Err(Error::ffmpeg(
                        "avformat_new_stream",
                        ffi::AVERROR(libc::ENOMEM),
                    ));
                }
            }
            // SAFETY: `stream` is the table's last stream (the table has one, checked
            // above, and `stream` is set whenever one is made).
            "exact_stream_id" => unsafe { (*stream).id = args[0].int() as c_int },
            // SAFETY: as above; the stream's own dictionary.
            "stream_meta" => unsafe {
                dict_set(&mut (*stream).metadata, args[0].bytes(), args[1].bytes())?
            },
            "stream_codec" => {
                let codec = c_string(&text(args[0].bytes()), "codec name")?;
                // SAFETY: a valid C string; the result is null or a static descriptor.
                let desc = unsafe { ffi::avcodec_descriptor_get_by_name(codec.as_ptr()) };
                if desc.is_null() {
                    return Err(list_error(
                        ffi::AVERROR_DECODER_NOT_FOUND,
                        format!("Line {number}: codec '{}' not found", text(args[0].bytes())),
                    ));
                }
                // SAFETY: `stream` as above; `desc` a valid descriptor.
                unsafe {
                    (*(*stream).codecpar).codec_type = (*desc).type_;
                    (*(*stream).codecpar).codec_id = (*desc).id;
                }
            }
            "stream_extradata" => {
                let data = hex_to_data(args[0].bytes());
                // SAFETY: `stream` as above; its parameters are ours to change.
                unsafe { set_extradata((*stream).codecpar, &data)? };
            }
            "chapter" => {
                let (id, start, end) = (args[0].int(), args[1].int(), args[2].int());
                if end != NOPTS && start > end {
                    // FFmpeg logs "Chapter end time … before start …", then its concat
                    // demuxer returns a positive code (FAIL(ENOMEM)), which its caller does
                    // not take for an error: the list ends at this line, with the files
                    // read so far and no further checks.
                    return finish_early(parts);
                }
                // SAFETY: `table` is valid and idle (the contract).
                unsafe { new_chapter(table, id, start, end)? };
            }
            _ => unreachable!("every directive is handled"),
        }
    }
    let Some(last) = parts.last() else {
        return Err(invalid("No files to concat".into()));
    };
    if last.inpoint != NOPTS
        && last.outpoint != NOPTS
        && (last.inpoint > last.outpoint || last.outpoint.checked_sub(last.inpoint).is_none())
    {
        return Err(invalid(format!(
            "the outpoint of '{}' comes before its inpoint",
            last.name
        )));
    }
    Ok(parts)
}

/// The parts of a list whose parsing stopped early, as `concat_read_header` takes them.
fn finish_early(parts: Vec<Part>) -> Result<Vec<Part>> {
    if parts.is_empty() {
        return Err(invalid("No files to concat".into()));
    }
    Ok(parts)
}

/// `av_packet_pack_dictionary` of `dict` (`key\0value\0…`), copied; empty for no dictionary.
///
/// # Safety
/// `dict` must be null or a valid dictionary nothing changes during the call.
unsafe fn pack(dict: *const ffi::AVDictionary) -> Result<Vec<u8>> {
    if dict.is_null() {
        return Ok(Vec::new());
    }
    let mut size = 0;
    // SAFETY: a valid dictionary (the contract); the result is null or `size` bytes we own.
    let packed = unsafe { ffi::av_packet_pack_dictionary(dict.cast_mut(), &mut size) };
    if packed.is_null() {
        return Err(Error::ffmpeg(
            "av_packet_pack_dictionary",
            ffi::AVERROR(libc::ENOMEM),
        ));
    }
    // SAFETY: `packed` holds `size` bytes; freed once, after the copy.
    unsafe {
        let bytes = std::slice::from_raw_parts(packed, size).to_vec();
        ffi::av_free(packed.cast());
        Ok(bytes)
    }
}

/// Adds chapter `id` (or updates the one with that id), as `avpriv_new_chapter` does.
///
/// # Safety
/// `fmt` must be a valid format context ffio owns, that no FFmpeg call is using.
unsafe fn new_chapter(fmt: *mut ffi::AVFormatContext, id: i64, start: i64, end: i64) -> Result<()> {
    if end != NOPTS && start > end {
        return Err(invalid(format!(
            "Chapter end time {end} before start {start}"
        )));
    }
    // SAFETY: `fmt` is valid (the contract): `chapters` holds `nb_chapters` valid chapters.
    let existing = unsafe {
        (0..(*fmt).nb_chapters as usize)
            .map(|i| *(*fmt).chapters.add(i))
            .find(|&c| (*c).id == id)
    };
    let chapter = match existing {
        Some(chapter) => chapter,
        None => {
            // SAFETY: a zeroed allocation of one AVChapter, which avformat_free_context
            // frees with av_freep (after its metadata).
            let chapter = unsafe { ffi::av_mallocz(std::mem::size_of::<ffi::AVChapter>()) }
                .cast::<ffi::AVChapter>();
            if chapter.is_null() {
                return Err(Error::ffmpeg("av_mallocz", ffi::AVERROR(libc::ENOMEM)));
            }
            // SAFETY: `chapters`/`nb_chapters` are the context's array (av_malloc'd, as
            // av_dynarray_add_nofree needs); on failure the array is untouched.
            let ret = unsafe {
                ffi::av_dynarray_add_nofree(
                    ptr::addr_of_mut!((*fmt).chapters).cast(),
                    ptr::addr_of_mut!((*fmt).nb_chapters).cast(),
                    chapter.cast(),
                )
            };
            if ret < 0 {
                // SAFETY: ours, not added anywhere.
                unsafe { ffi::av_free(chapter.cast()) };
                return Err(Error::ffmpeg("av_dynarray_add_nofree", ret));
            }
            chapter
        }
    };
    // SAFETY: a valid chapter of `fmt`.
    unsafe {
        (*chapter).id = id as _;
        (*chapter).time_base = TIME_BASE_Q;
        (*chapter).start = start;
        (*chapter).end = end;
    }
    Ok(())
}

/// `copy_stream_props`: makes the list's stream `st` describe the part's stream `source`
/// (only the extradata, once `st` has a codec).
///
/// # Safety
/// Both must be valid streams that no FFmpeg call is using; `st` is ffio's own.
unsafe fn copy_stream_props(st: *mut ffi::AVStream, source: *const ffi::AVStream) -> Result<()> {
    // SAFETY: both valid (the contract).
    unsafe {
        let (par, src) = ((*st).codecpar, (*source).codecpar);
        if (*par).codec_id != ffi::AVCodecID::AV_CODEC_ID_NONE
            || (*src).codec_id == ffi::AVCodecID::AV_CODEC_ID_NONE
        {
            let data = buffer_ref((*src).extradata, (*src).extradata_size).unwrap_or(&[]);
            if (*par).extradata_size < (*src).extradata_size {
                set_extradata(par, data)?;
            } else if !data.is_empty() {
                // FFmpeg copies over the start of a larger extradata, keeping its size.
                ptr::copy_nonoverlapping(data.as_ptr(), (*par).extradata, data.len());
            }
            return fill_discovered(par, src);
        }
        let ret = ffi::avcodec_parameters_copy(par, src);
        crate::error::check("avcodec_parameters_copy", ret)?;
        (*st).r_frame_rate = (*source).r_frame_rate;
        (*st).avg_frame_rate = (*source).avg_frame_rate;
        (*st).sample_aspect_ratio = (*source).sample_aspect_ratio;
        (*st).time_base = (*source).time_base;
        let ret = ffi::av_dict_copy(&mut (*st).metadata, (*source).metadata, 0);
        crate::error::check("av_dict_copy", ret).map(drop)
    }
}

/// For a list's stream whose codec the list names (`stream_codec`) but nothing else: what
/// FFmpeg's stream discovery on the list finds by decoding its first packets, taken from
/// the part's stream of the same codec (its own discovery decoded the same packets): the
/// sample rate, channel layout and sample format, the picture size, pixel format and
/// aspect ratio. Fields the list's stream has are kept.
///
/// # Safety
/// Both must be valid codec parameters that no FFmpeg call is using.
unsafe fn fill_discovered(
    par: *mut ffi::AVCodecParameters,
    src: *const ffi::AVCodecParameters,
) -> Result<()> {
    // SAFETY: both valid (the contract).
    unsafe {
        if (*par).codec_id != (*src).codec_id || (*par).codec_type != (*src).codec_type {
            return Ok(());
        }
        match (*par).codec_type {
            ffi::AVMediaType::AVMEDIA_TYPE_AUDIO => {
                if (*par).sample_rate == 0 {
                    (*par).sample_rate = (*src).sample_rate;
                }
                if (*par).ch_layout.nb_channels == 0 && (*src).ch_layout.nb_channels > 0 {
                    let ret = ffi::av_channel_layout_copy(&mut (*par).ch_layout, &(*src).ch_layout);
                    crate::error::check("av_channel_layout_copy", ret)?;
                }
                if (*par).format < 0 {
                    (*par).format = (*src).format;
                }
                if (*par).frame_size == 0 {
                    (*par).frame_size = (*src).frame_size;
                }
            }
            ffi::AVMediaType::AVMEDIA_TYPE_VIDEO => {
                if (*par).width == 0 && (*par).height == 0 {
                    (*par).width = (*src).width;
                    (*par).height = (*src).height;
                }
                if (*par).format < 0 {
                    (*par).format = (*src).format;
                }
                if (*par).sample_aspect_ratio.num == 0 {
                    (*par).sample_aspect_ratio = (*src).sample_aspect_ratio;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// `av_rescale_q`.
fn rescale(value: i64, from: ffi::AVRational, to: ffi::AVRational) -> i64 {
    // SAFETY: a pure function.
    unsafe { ffi::av_rescale_q(value, from, to) }
}

/// `ff_rescale_interval`: `ts` rounded to nearest, `min` up and `max` down, with
/// `i64::MIN` and `i64::MAX` passed through unchanged (`AV_ROUND_PASS_MINMAX`, done here:
/// the bindings' `AVRounding` enum cannot hold the combined flags).
fn rescale_interval(
    from: ffi::AVRational,
    to: ffi::AVRational,
    (min, ts, max): (i64, i64, i64),
) -> (i64, i64, i64) {
    let round = |value: i64, rounding: ffi::AVRounding| {
        if value == i64::MIN || value == i64::MAX {
            value
        } else {
            // SAFETY: a pure function, with a valid rounding mode.
            unsafe { ffi::av_rescale_q_rnd(value, from, to, rounding) }
        }
    };
    (
        round(min, ffi::AVRounding::AV_ROUND_UP),
        rescale(ts, from, to),
        round(max, ffi::AVRounding::AV_ROUND_DOWN),
    )
}

impl Concat {
    /// Parses `list` into the stream table `table`, then opens its first part
    /// (`concat_read_header`) and, if stream discovery runs, reads ahead for the start
    /// times.
    ///
    /// # Safety
    /// `table` must be a valid format context ffio owns (the list's stream table), that no
    /// FFmpeg call is using, and that outlives the returned value's use with it.
    pub(crate) unsafe fn open(
        list: &[u8],
        table: *mut ffi::AVFormatContext,
        setup: Setup,
    ) -> Result<Concat> {
        let Setup {
            settings,
            depth,
            part_options,
            opener,
            interrupt,
            discover,
        } = setup;
        let depth = depth.unwrap_or(settings.recursion_depth);
        if depth <= 0 {
            return Err(invalid("Too deep recursion".into()));
        }
        // SAFETY: per this function's contract.
        let mut parts = unsafe { parse(list, table, settings.safe)? };
        let mut time: i64 = 0;
        let mut all_known = true;
        for part in &mut parts {
            if part.start_time == NOPTS {
                part.start_time = time;
            } else {
                time = part.start_time;
            }
            if part.user_duration == NOPTS {
                let span = (part.inpoint != NOPTS && part.outpoint != NOPTS)
                    .then(|| part.outpoint.checked_sub(part.inpoint))
                    .flatten();
                match span {
                    Some(span) => part.user_duration = span,
                    None => {
                        all_known = false;
                        break;
                    }
                }
            }
            part.duration = part.user_duration;
            time = time
                .checked_add(part.user_duration)
                .ok_or_else(|| invalid("the parts' durations overflow".into()))?;
        }
        // SAFETY: `table` is valid and idle (the contract).
        unsafe { (*table).duration = if all_known { time } else { NOPTS } };
        let mut concat = Concat {
            current: None,
            parts,
            opener,
            settings,
            depth,
            part_options,
            interrupt,
            // SAFETY: as above.
            match_exact_id: unsafe { (*table).nb_streams } > 0,
            seekable: all_known,
            eof: false,
            failed: None,
            poisoned: false,
            found: None,
            timing: Vec::new(),
            ahead: Default::default(),
            pending: None,
        };
        // SAFETY: as above.
        let first = unsafe { concat.open_part(table, 0)? };
        concat.current = Some((0, first));
        if discover {
            // SAFETY: as above.
            unsafe { concat.read_ahead(table)? };
        }
        Ok(concat)
    }

    /// Reads the list's first packets ahead, as FFmpeg's stream discovery on the concat
    /// demuxer does, until every audio and video stream has a start time or
    /// [`MAX_TS_PROBE`] packets (the list's streams come with their parameters, so that is
    /// what discovery waits for), or [`READ_AHEAD_BYTES`] are held, and sets the list's
    /// start time from them
    /// (`update_stream_timings`: the earliest stream start, subtitle streams only when
    /// nothing else has one). The packets are returned by the next reads; a failure
    /// comes after them, where it happened (a panic is resumed now).
    ///
    /// # Safety
    /// `table` must be the list's valid, idle stream table.
    unsafe fn read_ahead(&mut self, table: *mut ffi::AVFormatContext) -> Result<()> {
        let mut held = 0;
        loop {
            // SAFETY: `table` is valid (the contract); streams below nb_streams.
            let all_started = unsafe {
                (0..(*table).nb_streams as usize).all(|i| {
                    let kind = (*(**(*table).streams.add(i)).codecpar).codec_type;
                    let av = kind == ffi::AVMediaType::AVMEDIA_TYPE_VIDEO
                        || kind == ffi::AVMediaType::AVMEDIA_TYPE_AUDIO;
                    let state = self.timing.get(i);
                    !av || state.is_some_and(|s| s.started || s.packets >= MAX_TS_PROBE)
                })
            };
            if all_started || held >= READ_AHEAD_BYTES {
                break;
            }
            let mut packet = Packet::try_new()?;
            // SAFETY: per this function's contract.
            match unsafe { self.read_part(table, &mut packet) } {
                Ok(true) => {
                    held += packet.size();
                    self.ahead.push_back(packet);
                }
                Ok(false) => break,
                Err(e) => {
                    self.pending = Some(e);
                    break;
                }
            }
        }
        let (mut start, mut start_text) = (i64::MAX, i64::MAX);
        // SAFETY: as above.
        unsafe {
            for i in 0..(*table).nb_streams as usize {
                let st = &**(*table).streams.add(i);
                if st.start_time == NOPTS || st.time_base.den == 0 {
                    continue;
                }
                let us = rescale(st.start_time, st.time_base, TIME_BASE_Q);
                let kind = (*st.codecpar).codec_type;
                if kind == ffi::AVMediaType::AVMEDIA_TYPE_SUBTITLE
                    || kind == ffi::AVMediaType::AVMEDIA_TYPE_DATA
                {
                    start_text = start_text.min(us);
                } else {
                    start = start.min(us);
                }
            }
            if start == i64::MAX
                || (start > start_text && start.wrapping_sub(start_text) < ffi::AV_TIME_BASE as i64)
            {
                start = start_text;
            }
            (*table).start_time = if start == i64::MAX { NOPTS } else { start };
        }
        Ok(())
    }

    /// Opens part `index` through the opener and sets it up (`open_file`), without
    /// closing the current one (the caller replaces it).
    ///
    /// # Safety
    /// `table` must be the list's valid, idle stream table.
    unsafe fn open_part(
        &mut self,
        table: *mut ffi::AVFormatContext,
        index: usize,
    ) -> Result<Box<Demuxer<ChildStream>>> {
        if let Some(reason) = self.interrupt.check() {
            return Err(reason.error("av_read_frame"));
        }
        let name = self.parts[index].name.clone();
        let opener = &self.opener;
        let stream = match panic::catch_unwind(AssertUnwindSafe(|| {
            opener.open_stream(&name, OpenMode::Read)
        })) {
            Ok(stream) => stream.map_err(Error::Io)?,
            Err(payload) => {
                self.poisoned = true;
                panic::resume_unwind(payload);
            }
        };
        let mut io = stream.into_io()?;
        io.set_interrupt(self.interrupt.clone());
        let mut options = self.part_options.clone();
        options.set_concat_depth(self.depth - 1);
        for (key, value) in &self.parts[index].options {
            options = options.option(key, value);
        }
        let opened = panic::catch_unwind(AssertUnwindSafe(|| Demuxer::open_with(io, &options)));
        let mut part = match opened {
            Ok(Ok(part)) => Box::new(part),
            Ok(Err(e)) => {
                return Err(e.with_detail(Some(format!("concat: Impossible to open '{name}'"))))
            }
            Err(payload) => {
                self.poisoned = true;
                panic::resume_unwind(payload);
            }
        };
        let child = part.as_mut_ptr();
        let prev = index.checked_sub(1).map(|i| &self.parts[i]);
        let start_time = match prev {
            None => 0,
            Some(prev) => prev.start_time.wrapping_add(prev.duration),
        };
        // SAFETY: `child` is the part's open input, idle.
        let (child_start, child_duration) = unsafe { ((*child).start_time, (*child).duration) };
        let file = &mut self.parts[index];
        file.start_time = start_time;
        file.file_start_time = if child_start == NOPTS { 0 } else { child_start };
        file.file_inpoint = if file.inpoint == NOPTS {
            file.file_start_time
        } else {
            file.inpoint
        };
        file.duration = best_effort_duration(file, child_duration);
        if self.settings.segment_time_metadata {
            let start = file.start_time.to_string();
            file.metadata.set("lavf.concatdec.start_time", &start)?;
            if file.duration != NOPTS {
                let duration = file.duration.to_string();
                file.metadata.set("lavf.concatdec.duration", &duration)?;
            }
        }
        // SAFETY: the part's own dictionary, valid.
        self.parts[index].packed_metadata =
            unsafe { pack(*self.parts[index].metadata.as_mut_ptr())? };
        // SAFETY: `table` per the contract, `child` the part's idle open input.
        unsafe { self.match_streams(table, index, child)? };
        let inpoint = self.parts[index].inpoint;
        if inpoint != NOPTS {
            part.seek_interval(-1, i64::MIN, inpoint, inpoint)?;
        }
        Ok(part)
    }

    /// `match_streams`: maps the part's streams not seen yet to the list's.
    ///
    /// # Safety
    /// `table` must be the list's valid stream table and `child` part `index`'s open
    /// input, both idle.
    unsafe fn match_streams(
        &mut self,
        table: *mut ffi::AVFormatContext,
        index: usize,
        child: *mut ffi::AVFormatContext,
    ) -> Result<()> {
        let file = &mut self.parts[index];
        let seen = file.streams.len();
        // SAFETY: `child` is valid (the contract).
        let count = unsafe { (*child).nb_streams } as usize;
        if seen >= count {
            return Ok(());
        }
        for i in seen..count {
            // SAFETY: `i` is below the child's stream count.
            let st = unsafe { *(*child).streams.add(i) };
            let bsf = if self.settings.auto_convert {
                // SAFETY: `st` is a valid stream of the idle child.
                unsafe { annexb_filter(st)? }
            } else {
                None
            };
            file.streams.push(PartStream { out: None, bsf });
        }
        for i in seen..count {
            // SAFETY: as above.
            let source = unsafe { *(*child).streams.add(i) };
            if self.match_exact_id {
                // SAFETY: `table` is valid; its streams are below nb_streams.
                for j in 0..unsafe { (*table).nb_streams } as usize {
                    // SAFETY: as above.
                    let st = unsafe { *(*table).streams.add(j) };
                    // SAFETY: both valid and idle.
                    if unsafe { (*st).id == (*source).id } {
                        // SAFETY: as above.
                        unsafe { copy_stream_props(st, source)? };
                        file.streams[i].out = Some(j);
                    }
                }
            } else {
                // SAFETY: `table` is valid and idle.
                let st = if i < unsafe { (*table).nb_streams } as usize {
                    // SAFETY: below nb_streams.
                    unsafe { *(*table).streams.add(i) }
                } else {
                    // SAFETY: as above.
                    let st = unsafe { ffi::avformat_new_stream(table, ptr::null()) };
                    if st.is_null() {
                        return Err(Error::ffmpeg(
                            "avformat_new_stream",
                            ffi::AVERROR(libc::ENOMEM),
                        ));
                    }
                    st
                };
                // SAFETY: both valid and idle.
                unsafe { copy_stream_props(st, source)? };
                file.streams[i].out = Some(i);
            }
        }
        // The list's skipped streams stay skipped in this part (Demuxer::keep_streams).
        // SAFETY: as above.
        unsafe { sync_discard(table, &file.streams, child) };
        Ok(())
    }

    /// Makes the current part skip the streams the list skips.
    ///
    /// # Safety
    /// `table` must be the list's valid, idle stream table.
    pub(crate) unsafe fn apply_discard(&mut self, table: *mut ffi::AVFormatContext) {
        if let Some((index, part)) = &mut self.current {
            let child = part.as_mut_ptr();
            // SAFETY: per the contract; `child` is the open part, idle.
            unsafe { sync_discard(table, &self.parts[*index].streams, child) };
        }
    }

    /// The next packet of the list into `packet`; `Ok(false)` at its end: the packets read
    /// ahead at open first, then the failure that stopped that, then the parts'.
    ///
    /// # Safety
    /// `table` must be the list's valid, idle stream table.
    pub(crate) unsafe fn read(
        &mut self,
        table: *mut ffi::AVFormatContext,
        packet: &mut Packet,
    ) -> Result<bool> {
        if self.poisoned {
            return Err(Error::Poisoned);
        }
        // A cancelled or expired list says so on every call, whatever failed first.
        if let Some(reason) = self.interrupt.check() {
            return Err(reason.error("av_read_frame"));
        }
        if let Some(ahead) = self.ahead.pop_front() {
            *packet = ahead;
            return Ok(true);
        }
        if let Some(e) = self.pending.take() {
            return Err(e);
        }
        // SAFETY: per this function's contract.
        unsafe { self.read_part(table, packet) }
    }

    /// The next packet of the parts (`concat_read_packet`, and what FFmpeg's generic
    /// layer does to it: the `dts` guess, the stream's start time).
    ///
    /// # Safety
    /// `table` must be the list's valid, idle stream table.
    unsafe fn read_part(
        &mut self,
        table: *mut ffi::AVFormatContext,
        packet: &mut Packet,
    ) -> Result<bool> {
        if let Some(first) = &self.failed {
            return Err(Error::Failed {
                call: "av_read_frame",
                kind: None,
                first: first.clone(),
            });
        }
        if self.eof {
            return Ok(false);
        }
        let (index, stream) = loop {
            let Some((index, part)) = &mut self.current else {
                return Ok(false);
            };
            let index = *index;
            let read = match panic::catch_unwind(AssertUnwindSafe(|| part.read_packet_into(packet)))
            {
                Ok(read) => read?,
                Err(payload) => {
                    self.poisoned = true;
                    panic::resume_unwind(payload);
                }
            };
            if !read {
                // SAFETY: per this function's contract.
                if unsafe { !self.next_part(table)? } {
                    return Ok(false);
                }
                continue;
            }
            let child = part.as_mut_ptr();
            // SAFETY: per the contract; `child` is the open part, idle between reads.
            unsafe { self.match_streams(table, index, child)? };
            let stream = packet.stream_index();
            // SAFETY: the packet's stream exists in the part.
            let child_tb = unsafe { (**(*child).streams.add(stream)).time_base };
            let outpoint = self.parts[index].outpoint;
            if outpoint != NOPTS {
                if let Some(dts) = packet.dts() {
                    // SAFETY: a pure function.
                    if unsafe { ffi::av_compare_ts(dts, child_tb, outpoint, TIME_BASE_Q) } >= 0 {
                        packet.clear();
                        // SAFETY: per this function's contract.
                        if unsafe { !self.next_part(table)? } {
                            return Ok(false);
                        }
                        continue;
                    }
                }
            }
            let Some(out) = self.parts[index].streams[stream].out else {
                continue;
            };
            // SAFETY: `out` is below the table's stream count (it was mapped to it).
            let skipped =
                unsafe { (**(*table).streams.add(out)).discard } == ffi::AVDiscard::AVDISCARD_ALL;
            if skipped {
                continue;
            }
            break (index, (stream, out, child_tb));
        };
        let (stream, out, child_tb) = stream;
        let file = &mut self.parts[index];
        if let Some(bsf) = &mut file.streams[stream].bsf {
            bsf.filter(packet)?;
        }
        let delta = rescale(
            file.start_time.wrapping_sub(file.file_inpoint),
            TIME_BASE_Q,
            child_tb,
        );
        if let Some(pts) = packet.pts() {
            packet.set_pts(Some(pts.wrapping_add(delta)));
        }
        if let Some(dts) = packet.dts() {
            packet.set_dts(Some(dts.wrapping_add(delta)));
        }
        if !file.packed_metadata.is_empty() {
            packet.add_side_data(
                ffi::AVPacketSideDataType::AV_PKT_DATA_STRINGS_METADATA,
                &file.packed_metadata,
            )?;
        }
        if file.duration == NOPTS {
            // FFmpeg follows the part's internal `cur_dts`; the end of the packet is the
            // same for every packet read in order.
            if let Some(dts) = packet.dts() {
                let end = rescale(
                    dts.wrapping_sub(delta).wrapping_add(packet.duration()),
                    child_tb,
                    TIME_BASE_Q,
                );
                if file.next_dts == NOPTS || end > file.next_dts {
                    file.next_dts = end;
                }
            }
        }
        packet.set_stream_index(out);
        if self.timing.len() <= out {
            self.timing.resize(out + 1, StreamTiming::default());
        }
        // SAFETY: `out` is below the table's stream count; the table is idle.
        let st = unsafe { *(*table).streams.add(out) };
        // SAFETY: as above: a valid stream nothing else uses during the call.
        if let Some(start) = self.timing[out].process(packet, unsafe { &*st }) {
            // SAFETY: as above.
            unsafe {
                if (*st).start_time == NOPTS {
                    (*st).start_time = start;
                }
            }
        }
        Ok(true)
    }

    /// `open_next_file`: the current part ended; opens the next. `Ok(false)` after the
    /// last part.
    ///
    /// # Safety
    /// `table` must be the list's valid, idle stream table.
    unsafe fn next_part(&mut self, table: *mut ffi::AVFormatContext) -> Result<bool> {
        let Some((index, part)) = self.current.take() else {
            return Ok(false);
        };
        if let Some(found) = part.truncation() {
            if self.found.is_none() {
                self.found = Some(found.clone());
            }
        }
        // SAFETY: the part's open input, idle.
        let child_duration = unsafe { (*part.as_ptr()).duration };
        let file = &mut self.parts[index];
        file.duration = best_effort_duration(file, child_duration);
        // The part is closed before the next one is opened, as FFmpeg does.
        drop(part);
        let next = index + 1;
        if next >= self.parts.len() {
            self.eof = true;
            self.current = None;
            return Ok(false);
        }
        // SAFETY: per this function's contract.
        match unsafe { self.open_part(table, next) } {
            Ok(part) => {
                self.current = Some((next, part));
                Ok(true)
            }
            Err(e) => {
                self.failed = Some(e.chain());
                Err(e)
            }
        }
    }

    /// A truncation a finished part found, once.
    pub(crate) fn take_truncation(&mut self) -> Option<Truncation> {
        self.found.take()
    }

    /// `concat_seek`: seeks `stream` (or all, for -1) to the `(min, ts, max)` interval of
    /// `avformat_seek_file` (in the list's stream's time base, or microseconds), opening
    /// the part that holds it; on failure the current part stays as it was.
    ///
    /// # Safety
    /// `table` must be the list's valid, idle stream table.
    pub(crate) unsafe fn seek(
        &mut self,
        table: *mut ffi::AVFormatContext,
        stream: i32,
        mut interval: (i64, i64, i64),
    ) -> Result<()> {
        if self.poisoned {
            return Err(Error::Poisoned);
        }
        if stream >= 0 {
            // SAFETY: the caller checked the index against the table's streams.
            let tb = unsafe { (**(*table).streams.add(stream as usize)).time_base };
            interval = rescale_interval(tb, TIME_BASE_Q, interval);
        }
        let (_, target, max) = interval;
        let (mut left, mut right) = (0, self.parts.len());
        if target <= 0 {
            right = 1;
        } else if !self.seekable {
            return Err(Error::NotSeekable {
                call: "avformat_seek_file",
                message: "a concat list seeks only to its start unless every part's duration \
                          is known"
                    .into(),
                remedy: "give every part a duration (or an inpoint and an outpoint) in the list",
            });
        }
        while right - left > 1 {
            let mid = (left + right) / 2;
            if target < self.parts[mid].start_time {
                right = mid;
            } else {
                left = mid;
            }
        }
        // SAFETY: per this function's contract.
        let result = unsafe { self.seek_in(table, left, stream, interval) };
        let result = match result {
            Err(_) if left + 1 < self.parts.len() && self.parts[left + 1].start_time < max => {
                // SAFETY: as above.
                unsafe { self.seek_in(table, left + 1, stream, interval) }
            }
            other => other,
        };
        if result.is_ok() {
            self.eof = false;
            self.failed = None;
            self.ahead.clear();
            self.pending = None;
        }
        result
    }

    /// Seeks within part `index` (opening it unless it is the current one), and makes it
    /// the current part if that succeeds (`real_seek`'s `try_seek`).
    ///
    /// # Safety
    /// `table` must be the list's valid, idle stream table.
    unsafe fn seek_in(
        &mut self,
        table: *mut ffi::AVFormatContext,
        index: usize,
        stream: i32,
        interval: (i64, i64, i64),
    ) -> Result<()> {
        let reuse = matches!(&self.current, Some((i, _)) if *i == index);
        let mut part = if reuse {
            self.current.take().expect("checked").1
        } else {
            // SAFETY: per this function's contract.
            unsafe { self.open_part(table, index)? }
        };
        let file = &self.parts[index];
        let t0 = file.start_time.wrapping_sub(file.file_inpoint);
        let (min, ts, max) = interval;
        let mut shifted = (
            if min == i64::MIN {
                min
            } else {
                min.wrapping_sub(t0)
            },
            ts.wrapping_sub(t0),
            if max == i64::MAX {
                max
            } else {
                max.wrapping_sub(t0)
            },
        );
        let result = if stream >= 0 {
            // SAFETY: the part's open input, idle.
            let child = unsafe { &*part.as_ptr() };
            if stream as u32 >= child.nb_streams {
                Err(Error::ffmpeg("avformat_seek_file", ffi::AVERROR(libc::EIO)))
            } else {
                // SAFETY: below nb_streams.
                let tb = unsafe { (**child.streams.add(stream as usize)).time_base };
                shifted = rescale_interval(TIME_BASE_Q, tb, shifted);
                Ok(())
            }
        } else {
            Ok(())
        };
        let result =
            result.and_then(|()| part.seek_interval(stream, shifted.0, shifted.1, shifted.2));
        match result {
            Ok(()) => {
                self.current = Some((index, part));
                Ok(())
            }
            Err(e) => {
                if reuse {
                    self.current = Some((index, part));
                }
                Err(e)
            }
        }
    }
}

/// `get_best_effort_duration`, with the part's `AVFormatContext.duration`.
fn best_effort_duration(file: &Part, child_duration: i64) -> i64 {
    if file.user_duration != NOPTS {
        file.user_duration
    } else if file.outpoint != NOPTS {
        file.outpoint.saturating_sub(file.file_inpoint)
    } else if child_duration > 0 {
        child_duration.saturating_sub(file.file_inpoint.wrapping_sub(file.file_start_time))
    } else if file.next_dts != NOPTS {
        file.next_dts.wrapping_sub(file.file_inpoint)
    } else {
        NOPTS
    }
}

/// `detect_stream_specific`: an `h264_mp4toannexb` filter for an H.264 stream whose
/// extradata is not already Annex B, with the stream's parameters replaced by the
/// filter's output (as FFmpeg's concat changes its child's stream).
///
/// # Safety
/// `st` must be a valid stream of an idle input ffio owns.
unsafe fn annexb_filter(st: *mut ffi::AVStream) -> Result<Option<BitstreamFilter>> {
    // SAFETY: per the contract.
    unsafe {
        let par = (*st).codecpar;
        if (*par).codec_id != ffi::AVCodecID::AV_CODEC_ID_H264 {
            return Ok(None);
        }
        let data = buffer_ref((*par).extradata, (*par).extradata_size).unwrap_or(&[]);
        let annexb =
            data.is_empty() || data.starts_with(&[0, 0, 1]) || data.starts_with(&[0, 0, 0, 1]);
        if annexb {
            return Ok(None);
        }
        let bsf = BitstreamFilter::new(c"h264_mp4toannexb", par, (*st).time_base)?;
        let ret = ffi::avcodec_parameters_copy(par, bsf.output_parameters());
        crate::error::check("avcodec_parameters_copy", ret)?;
        Ok(Some(bsf))
    }
}

/// Sets the discard level of `child`'s streams from the list's streams they map to.
///
/// # Safety
/// `table` and `child` must be valid, idle format contexts ffio owns; `streams` `child`'s
/// mapping, whose targets exist in `table`.
unsafe fn sync_discard(
    table: *mut ffi::AVFormatContext,
    streams: &[PartStream],
    child: *mut ffi::AVFormatContext,
) {
    for (i, part_stream) in streams.iter().enumerate() {
        let Some(out) = part_stream.out else { continue };
        // SAFETY: per the contract, both indices are in range.
        unsafe {
            let discard = (**(*table).streams.add(out)).discard;
            (**(*child).streams.add(i)).discard = discard;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_cut_like_ffmpeg_reads_them() {
        assert_eq!(
            lines(b"a\nb\r\nc\rd\0e\n\nf"),
            [&b"a"[..], b"b", b"c", b"d", b"e", b"", b"f"]
        );
        assert!(lines(b"").is_empty());
    }

    #[test]
    fn safe_names_follow_concatdec() {
        for ok in ["a.ts", "dir/a-1_b.mp4", "a..b", "x/y/z"] {
            assert!(safe_name(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "../a.ts",
            "/abs.ts",
            ".hidden",
            "file:a.ts",
            "a b.ts",
            "a//b",
            "http://x/y",
        ] {
            assert!(!safe_name(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn hex_extradata_is_read_in_pairs() {
        assert_eq!(hex_to_data(b"0142 e01e"), [0x01, 0x42, 0xe0, 0x1e]);
        assert_eq!(hex_to_data(b"abc"), [0xab]);
        assert_eq!(hex_to_data(b"12zz34"), [0x12]);
    }

    #[test]
    fn tokens_unquote_like_av_get_token() {
        let mut cursor = Cursor {
            line: CString::new("file 'a b.ts' rest").unwrap(),
            at: 0,
        };
        assert_eq!(cursor.keyword(), b"file");
        assert_eq!(cursor.token().unwrap(), b"a b.ts");
        let mut cursor = Cursor {
            line: CString::new(r"file a\ b\'c.ts").unwrap(),
            at: 0,
        };
        cursor.keyword();
        assert_eq!(cursor.token().unwrap(), b"a b'c.ts");
    }
}
