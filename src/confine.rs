//! Confinement: no format context ffio creates may make FFmpeg open anything by name.
//!
//! A program that hands FFmpeg its own I/O has said where the bytes come from and go to,
//! and the bytes are often a stranger's. libavformat reaches other resources in three
//! ways, and each is closed here for every context ffio creates:
//!
//! * `AVFormatContext.io_open`, which demuxers and muxers call for further files (HLS
//!   segments, MOV data references, image sequences, faststart's second pass): ffio
//!   installs [`refuse_io_open`], unless the application gave an opener
//!   (`crate::opener` then installs its own trampolines, which open only through it);
//! * URL protocols opened directly with the context's `protocol_whitelist`
//!   (`ffurl_open_whitelist`, `ffio_open_whitelist`: the sdp demuxer's RTP sockets, the
//!   concat demuxer's parts, which get a child context with a copy of the parent's lists
//!   but FFmpeg's default opener, which is why ffio never runs it and reads concat lists
//!   itself, `crate::concat`): ffio sets the whitelist to [`NO_PROTOCOL`], which names
//!   no protocol, so every such open fails; callers cannot set it (or the blacklist);
//! * formats that exist only to read other resources by name (concat lists, HLS and DASH
//!   manifests, SDP, IMF) or that ignore custom I/O altogether (`AVFMT_NOFILE`: image2,
//!   RTSP, …): [`check_input_format`] refuses them at open with a clear error, before
//!   FFmpeg parses more than the probe, instead of letting them fail later in their own
//!   words or return nothing.

use std::os::raw::{c_char, c_int};

use ffmpeg_sys_next as ffi;

use crate::error::{Error, Result};

/// The `protocol_whitelist` of every context ffio creates: a name no FFmpeg protocol has
/// (`av_match_list` compares whole names), so nothing is on the list.
pub(crate) const NO_PROTOCOL: &std::ffi::CStr = c"ffio-opens-nothing-by-name";

/// Input formats that read their data by name from other files or URLs, with the reason
/// given to the caller. Matched against each of the demuxer's comma-separated names.
const READS_BY_NAME: &[(&str, &str)] = &[
    (
        "concat",
        "its list names other files, which it would open by name",
    ),
    (
        "hls",
        "its playlist names segments and keys, which it would open by name",
    ),
    (
        "applehttp",
        "its playlist names segments and keys, which it would open by name",
    ),
    (
        "dash",
        "its manifest names segments, which it would open by name",
    ),
    (
        "sdp",
        "it describes RTP streams, for which it would open network sockets",
    ),
    (
        "imf",
        "its composition playlist names track files, which it would open by name",
    ),
    (
        "vobsub",
        "it reads the subtitle data from a .sub file, which it would open by name",
    ),
    ("avisynth", "it runs a script, which opens files by name"),
    ("vapoursynth", "it runs a script, which opens files by name"),
];

/// Confines a fresh format context: `io_open` refuses, and the protocol whitelist lists
/// nothing.
///
/// # Safety
/// `fmt` must be a valid format context that no FFmpeg call is using.
pub(crate) unsafe fn confine(fmt: *mut ffi::AVFormatContext) -> Result<()> {
    // SAFETY: per the contract; av_opt_set copies the string into the context's field.
    let ret = unsafe {
        (*fmt).io_open = Some(refuse_io_open);
        (*fmt).io_close2 = Some(io_close2_sparing_pb);
        ffi::av_opt_set(
            fmt.cast(),
            c"protocol_whitelist".as_ptr(),
            NO_PROTOCOL.as_ptr(),
            0,
        )
    };
    crate::error::check("av_opt_set(protocol_whitelist)", ret).map(drop)
}

/// Refuses options that would let FFmpeg open resources by name.
pub(crate) fn check_option_name(key: &str, value: &str) -> Result<()> {
    if matches!(key, "protocol_whitelist" | "protocol_blacklist") {
        return Err(Error::InvalidOption {
            key: key.to_owned(),
            value: value.to_owned(),
            message: "ffio never lets FFmpeg open files or URLs by name, so the protocol \
                      lists cannot be changed"
                .into(),
        });
    }
    Ok(())
}

/// The first libavformat major version (FFmpeg 7.0) whose dash demuxer opens its
/// segments and manifest reloads through `io_open`, by the FFmpeg sources read (5.1, 7.1,
/// 9.0). 5.1's opens them with `ffio_open_whitelist`, FFmpeg's own URL layer; 6.x (60)
/// was not checked and is refused like 5.1.
const DASH_THROUGH_IO_OPEN: u32 = 61;

/// The running libavformat's major version (`avformat_version`), not the one ffio was
/// built against: what matters is which demuxer code runs.
fn libavformat_major() -> u32 {
    // SAFETY: no preconditions; returns a constant.
    unsafe { ffi::avformat_version() >> 16 }
}

/// Whether the format called `part` (one of [`READS_BY_NAME`]) opens every further file
/// through `io_open`, giving its child demuxers a refusing one, so an application's
/// opener can serve it: `hls` always, `dash` from [`DASH_THROUGH_IO_OPEN`] on. Otherwise
/// `Err` says how it bypasses `io_open`: dash before 7.0
/// through FFmpeg's URL layer; sdp opens sockets, imf's children get no `opaque` before
/// FFmpeg 8, vobsub derives its file from the (empty) URL, the script formats run code.
fn opener_serves(part: &str) -> std::result::Result<(), String> {
    match part.to_ascii_lowercase().as_str() {
        "hls" | "applehttp" => Ok(()),
        "dash" if libavformat_major() >= DASH_THROUGH_IO_OPEN => Ok(()),
        "dash" => Err(format!(
            "the dash demuxer of this FFmpeg (libavformat {}) opens its segments with \
             FFmpeg's own URL layer, bypassing the opener; FFmpeg 7.0 and later open them \
             through it",
            libavformat_major()
        )),
        // FFmpeg's own concat demuxer would open its parts with FFmpeg's default opener;
        // with an opener, ffio reads concat lists itself (crate::concat).
        "concat" => Ok(()),
        _ => Err("it bypasses the opener".into()),
    }
}

/// `Err(FormatRefused)` for an input format ffio does not demux: one that ignores custom
/// I/O (`AVFMT_NOFILE`), one that reads by name (unless `opener` is set and the format
/// opens everything through `io_open`), or one not in `whitelist` (FFmpeg's
/// comma-separated `format_whitelist`).
pub(crate) fn check_input_format(
    name: &str,
    flags: c_int,
    whitelist: Option<&str>,
    opener: bool,
) -> Result<()> {
    let refuse = |reason: String| {
        Err(Error::FormatRefused {
            format: name.to_owned(),
            reason,
        })
    };
    if flags & ffi::AVFMT_NOFILE as c_int != 0 {
        return refuse(
            "this demuxer opens its input by name itself and cannot read through custom I/O".into(),
        );
    }
    for part in name.split(',') {
        let Some((_, why)) = READS_BY_NAME
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(part))
        else {
            continue;
        };
        let served = opener_serves(part);
        let remedy = match (&served, opener) {
            (Ok(()), true) => continue,
            (Ok(()), false) => " unless you give an opener (DemuxerOptions::opener)".to_owned(),
            (Err(bypass), true) => format!(" ({bypass})"),
            (Err(_), false) => String::new(),
        };
        return refuse(format!(
            "{why}; ffio reads only the bytes you give it and lets FFmpeg open nothing{remedy}"
        ));
    }
    if let Some(list) = whitelist {
        if !matches_any(name, list) {
            return refuse(format!("not in the format whitelist \"{list}\""));
        }
    }
    Ok(())
}

/// `av_match_list`'s rule: does any comma-separated part of `name` equal (ignoring ASCII
/// case) any part of `list`?
fn matches_any(name: &str, list: &str) -> bool {
    name.split(',')
        .any(|n| list.split(',').any(|l| l.trim().eq_ignore_ascii_case(n)))
}

/// `AVFormatContext.io_open` for every format context ffio creates: refuses. Runs no user
/// code.
///
/// # Safety
/// Called by FFmpeg only; it touches none of its arguments.
pub(crate) unsafe extern "C" fn refuse_io_open(
    _s: *mut ffi::AVFormatContext,
    _pb: *mut *mut ffi::AVIOContext,
    _url: *const c_char,
    _flags: c_int,
    _options: *mut *mut ffi::AVDictionary,
) -> c_int {
    ffi::AVERROR(libc::EPERM)
}

/// `AVFormatContext.io_close2` for every format context ffio creates: closes contexts as
/// FFmpeg's default does (`avio_close`), except the context's own `pb`, which is ffio's
/// custom context and must never reach `avio_close` (it would treat ffio's `opaque` as a
/// `URLContext`). Nothing is ever opened through [`refuse_io_open`], so this only runs if
/// FFmpeg closes something it opened itself, or mistakes `pb` for its own. Runs no user
/// code.
///
/// # Safety
/// Called by FFmpeg only, with a valid context `s` and a context `pb` it wants closed.
unsafe extern "C" fn io_close2_sparing_pb(
    s: *mut ffi::AVFormatContext,
    pb: *mut ffi::AVIOContext,
) -> c_int {
    // SAFETY: `s` is valid (FFmpeg's contract); comparing pointers reads nothing else.
    if pb.is_null() || unsafe { (*s).pb } == pb {
        return 0;
    }
    // SAFETY: `pb` is a context FFmpeg opened itself with avio_open (not ffio's: ffio's
    // only context reachable from `s` is its `pb`), so avio_close is its matching close.
    unsafe { ffi::avio_close(pb) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_name_and_nofile_formats_are_refused() {
        let err = check_input_format("concat", 0, None, false).unwrap_err();
        assert!(err.to_string().contains("concat"), "{err}");
        assert!(check_input_format("image2", ffi::AVFMT_NOFILE as c_int, None, false).is_err());
        for name in ["hls", "dash", "sdp", "imf", "vobsub", "vapoursynth"] {
            assert!(check_input_format(name, 0, None, false).is_err(), "{name}");
        }
        assert!(check_input_format("mov,mp4,m4a,3gp,3g2,mj2", 0, None, false).is_ok());
        // An opener serves hls, and dash where FFmpeg routes it through io_open (7.0 and
        // later, by the FFmpeg sources), nothing that bypasses it.
        assert!(check_input_format("hls", 0, None, true).is_ok());
        // SAFETY: no preconditions.
        let major = unsafe { ffi::avformat_version() } >> 16;
        let dash = check_input_format("dash", 0, None, true);
        if major >= 61 {
            assert!(dash.is_ok(), "{dash:?}");
        } else {
            let err = dash.unwrap_err().to_string();
            assert!(err.contains(&format!("libavformat {major}")), "{err}");
            assert!(err.contains("FFmpeg 7.0 and later"), "{err}");
        }
        // ffio reads concat lists itself through the opener (crate::concat).
        assert!(check_input_format("concat", 0, None, true).is_ok());
        for name in ["sdp", "imf", "vobsub"] {
            assert!(check_input_format(name, 0, None, true).is_err(), "{name}");
        }
    }

    #[test]
    fn whitelist_matches_any_name_of_a_demuxer() {
        let list = Some("mp4,webm");
        assert!(check_input_format("mov,mp4,m4a,3gp,3g2,mj2", 0, list, false).is_ok());
        assert!(check_input_format("matroska,webm", 0, list, false).is_ok());
        let err = check_input_format("mpegts", 0, list, false).unwrap_err();
        assert!(matches!(err, Error::FormatRefused { .. }), "{err:?}");
        assert!(err.to_string().contains("whitelist"), "{err}");
        assert!(check_input_format("MPEGTS", 0, Some(" mpegts"), false).is_ok());
    }

    #[test]
    fn protocol_lists_cannot_be_set() {
        assert!(check_option_name("protocol_whitelist", "file").is_err());
        assert!(check_option_name("protocol_blacklist", "").is_err());
        assert!(check_option_name("probesize", "32").is_ok());
    }
}
