//! Writes one frame of a video as an image: the input is held in memory and demuxed by ffio,
//! the frame decoded by FFmpeg's own decoder (reached through `ffio::sys`) straight from
//! ffio's packets, and converted to RGB by libswscale.
//!
//! ```text
//! thumbnail IN OUT.ppm                # the first frame, as a PPM (P6, RGB24) image
//! thumbnail --at SECONDS IN OUT.ppm   # the first frame at or after SECONDS
//! thumbnail --raw IN OUT              # the decoder's frame in its own pixel format
//! ```
//!
//! The frame is the one `ffmpeg [-ss SECONDS] -i IN -frames:v 1` writes: `--at` seeks to
//! the keyframe at or before SECONDS (counted from the start of the file, like `-ss`),
//! decodes from there and keeps the first frame whose timestamp is at or after SECONDS.
//! `--raw` writes its planes tightly packed (`av_image_copy_to_buffer`, no padding), the
//! bytes `ffmpeg -f rawvideo -pix_fmt <the stream's own>` writes. The PPM is what
//! `ffmpeg -pix_fmt rgb24 -c:v ppm` makes, up to libswscale's rounding.
//!
//! Errors are one line on stderr and exit status 1: an unreadable IN, no video stream, a
//! bad `--at` (not a number, negative), and an `--at` past the last frame (nothing to
//! write; no OUT is left behind). A one-line summary goes to stderr on success.

use std::os::raw::c_int;
use std::process::ExitCode;
use std::ptr::{self, NonNull};
use std::time::Duration;

use ffio::{sys, Demuxer, MediaType, Packet};

const USAGE: &str = "usage: thumbnail [--at SECONDS] [--raw] IN OUT";

struct Args {
    input: String,
    output: String,
    at: Option<Duration>,
    raw: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut at = None;
    let mut raw = false;
    let mut paths = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--at" => {
                let value = args.next().ok_or("--at needs a value")?;
                let seconds = value
                    .parse::<f64>()
                    .ok()
                    .and_then(|s| Duration::try_from_secs_f64(s).ok())
                    .ok_or_else(|| format!("--at: {value:?} is not a number of seconds"))?;
                at = Some(seconds);
            }
            "--raw" => raw = true,
            "-h" | "--help" => return Err(USAGE.to_owned()),
            _ if arg.starts_with("--") => return Err(format!("unknown option {arg}; {USAGE}")),
            _ => paths.push(arg),
        }
    }
    let [input, output]: [String; 2] = paths
        .try_into()
        .map_err(|_| format!("expected IN and OUT; {USAGE}"))?;
    Ok(Args {
        input,
        output,
        at,
        raw,
    })
}

/// FFmpeg functions whose pixel-format parameter is declared here as the `int` it is at
/// the C ABI: a frame's `format` is an `int`, and turning it into the bindings' Rust enum
/// would be undefined for a value the bindings do not list.
mod c {
    use std::os::raw::c_int;

    extern "C" {
        pub fn av_image_get_buffer_size(pix_fmt: c_int, w: c_int, h: c_int, align: c_int) -> c_int;
        pub fn av_image_copy_to_buffer(
            dst: *mut u8,
            dst_size: c_int,
            src_data: *const *const u8,
            src_linesize: *const c_int,
            pix_fmt: c_int,
            w: c_int,
            h: c_int,
            align: c_int,
        ) -> c_int;
        pub fn sws_getContext(
            src_w: c_int,
            src_h: c_int,
            src_format: c_int,
            dst_w: c_int,
            dst_h: c_int,
            dst_format: c_int,
            flags: c_int,
            src_filter: *mut ffio::sys::SwsFilter,
            dst_filter: *mut ffio::sys::SwsFilter,
            param: *const f64,
        ) -> *mut ffio::sys::SwsContext;
    }
}

/// FFmpeg's message for an error code, with the call that returned it.
fn av_error(call: &str, code: c_int) -> String {
    let mut buf = [0u8; 128];
    // SAFETY: `buf` is writable for its length; av_strerror NUL-terminates what it writes.
    unsafe { sys::av_strerror(code, buf.as_mut_ptr().cast(), buf.len()) };
    let message = std::ffi::CStr::from_bytes_until_nul(&buf)
        .map(|m| m.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("{call}: {message}")
}

/// An open decoder (`AVCodecContext`), freed on drop.
struct Decoder(NonNull<sys::AVCodecContext>);

impl Decoder {
    /// A decoder for `stream`, opened with its codec parameters and FFmpeg's default
    /// threading (as the `ffmpeg` tool opens one).
    fn open(stream: &ffio::Stream<'_>) -> Result<Self, String> {
        let par = stream.codecpar_ptr();
        // SAFETY: `par` is valid while `stream` borrows the demuxer; it is only read.
        let codec = unsafe { sys::avcodec_find_decoder((*par).codec_id) };
        if codec.is_null() {
            return Err(format!("no decoder for {}", stream.codec_name()));
        }
        // SAFETY: `codec` is a valid decoder description; null is checked.
        let ctx = NonNull::new(unsafe { sys::avcodec_alloc_context3(codec) })
            .ok_or("avcodec_alloc_context3: out of memory")?;
        let decoder = Decoder(ctx);
        let ctx = decoder.0.as_ptr();
        // SAFETY: `ctx` is our fresh context; `par` is valid and only read (copied).
        let ret = unsafe { sys::avcodec_parameters_to_context(ctx, par) };
        if ret < 0 {
            return Err(av_error("avcodec_parameters_to_context", ret));
        }
        // SAFETY: `ctx` is ours and not open yet. The packets' time base lets the decoder
        // compute best-effort timestamps as the ffmpeg tool's does; 0 threads is "auto".
        let ret = unsafe {
            (*ctx).pkt_timebase = stream.time_base().into();
            (*ctx).thread_count = 0;
            sys::avcodec_open2(ctx, codec, ptr::null_mut())
        };
        if ret < 0 {
            return Err(av_error("avcodec_open2", ret));
        }
        Ok(decoder)
    }

    /// Sends `packet` (`None`: the end, which drains the decoder).
    fn send(&mut self, packet: Option<&Packet>) -> Result<(), String> {
        let pkt = packet.map_or(ptr::null(), Packet::as_ptr);
        // SAFETY: the context is open; `pkt` is null or a valid packet borrowed for the
        // call (the decoder takes its own reference to the data: no copy).
        let ret = unsafe { sys::avcodec_send_packet(self.0.as_ptr(), pkt) };
        // A decoder refusing a damaged packet is no reason to stop: ffmpeg goes on too.
        if ret < 0 && ret != sys::AVERROR_INVALIDDATA {
            return Err(av_error("avcodec_send_packet", ret));
        }
        Ok(())
    }

    /// The next decoded frame into `frame`; `Ok(false)` when the decoder needs more input
    /// or is drained.
    fn receive(&mut self, frame: &mut Frame) -> Result<bool, String> {
        // SAFETY: the context is open, the frame valid; the call replaces its contents.
        let ret = unsafe { sys::avcodec_receive_frame(self.0.as_ptr(), frame.0.as_ptr()) };
        match ret {
            0 => Ok(true),
            _ if ret == sys::AVERROR(libc::EAGAIN) || ret == sys::AVERROR_EOF => Ok(false),
            _ => Err(av_error("avcodec_receive_frame", ret)),
        }
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        let mut ctx = self.0.as_ptr();
        // SAFETY: we own the context and free it once.
        unsafe { sys::avcodec_free_context(&mut ctx) };
    }
}

/// A decoded frame (`AVFrame`), freed on drop.
struct Frame(NonNull<sys::AVFrame>);

impl Frame {
    fn new() -> Result<Self, String> {
        // SAFETY: no preconditions; null is checked.
        NonNull::new(unsafe { sys::av_frame_alloc() })
            .map(Frame)
            .ok_or_else(|| "av_frame_alloc: out of memory".to_owned())
    }

    fn raw(&self) -> &sys::AVFrame {
        // SAFETY: the frame is valid while `self` lives; FFmpeg changes it only in
        // `Decoder::receive`, which takes `&mut Frame`.
        unsafe { self.0.as_ref() }
    }

    /// Width, height and pixel format (as the `int` it is).
    fn shape(&self) -> (c_int, c_int, c_int) {
        let f = self.raw();
        (f.width, f.height, f.format)
    }

    /// The frame's planes, tightly packed: what `ffmpeg -f rawvideo` writes.
    fn packed(&self) -> Result<Vec<u8>, String> {
        let (w, h, format) = self.shape();
        // SAFETY: plain computation from the frame's own shape.
        let size = unsafe { c::av_image_get_buffer_size(format, w, h, 1) };
        let len = usize::try_from(size).map_err(|_| av_error("av_image_get_buffer_size", size))?;
        let mut out = vec![0u8; len];
        let f = self.raw();
        // SAFETY: `out` has the `size` bytes the image needs at alignment 1; the frame's
        // planes and line sizes are valid for its shape (a decoder made them).
        let ret = unsafe {
            c::av_image_copy_to_buffer(
                out.as_mut_ptr(),
                size,
                f.data.as_ptr().cast(),
                f.linesize.as_ptr(),
                format,
                w,
                h,
                1,
            )
        };
        if ret < 0 {
            return Err(av_error("av_image_copy_to_buffer", ret));
        }
        Ok(out)
    }

    /// The frame as a binary PPM (P6): RGB24 through libswscale, with the frame's own
    /// YUV matrix and range, as FFmpeg's scale filter converts it.
    fn ppm(&self) -> Result<Vec<u8>, String> {
        let (w, h, format) = self.shape();
        // libswscale's bicubic flag, 4 in every release: a #define before FFmpeg 8, a
        // member of `enum SwsFlags` since (which the bindings then spell differently).
        const SWS_BICUBIC: c_int = 4;
        let rgb24 = sys::AVPixelFormat::AV_PIX_FMT_RGB24 as c_int;
        // SAFETY: valid sizes and formats (the frame's); null filters and parameters are
        // allowed; null (an unsupported format) is checked.
        let sws = unsafe {
            c::sws_getContext(
                w,
                h,
                format,
                w,
                h,
                rgb24,
                SWS_BICUBIC,
                ptr::null_mut(),
                ptr::null_mut(),
                ptr::null(),
            )
        };
        let sws = Scaler(NonNull::new(sws).ok_or("sws_getContext: unsupported pixel format")?);
        let f = self.raw();
        // The frame's colour space and range, read as the ints they are.
        // SAFETY: C enum fields of a valid frame, `int`-sized, read through raw pointers.
        let (space, range) = unsafe {
            (
                ptr::addr_of!(f.colorspace).cast::<c_int>().read(),
                ptr::addr_of!(f.color_range).cast::<c_int>().read(),
            )
        };
        let full_range = c_int::from(range == sys::AVColorRange::AVCOL_RANGE_JPEG as c_int);
        // SAFETY: sws_getCoefficients takes any int (an unknown space gives the default
        // matrix) and returns a static table; the context is ours. Formats without YUV
        // ignore the details (the call then fails harmlessly).
        unsafe {
            let table = sys::sws_getCoefficients(space);
            sys::sws_setColorspaceDetails(
                sws.0.as_ptr(),
                table,
                full_range,
                table,
                1,
                0,
                1 << 16,
                1 << 16,
            );
        }
        let (width, height) = (
            usize::try_from(w).map_err(|_| "bad frame width")?,
            usize::try_from(h).map_err(|_| "bad frame height")?,
        );
        let header = format!("P6\n{width} {height}\n255\n");
        let mut out = vec![0u8; header.len() + width * height * 3];
        out[..header.len()].copy_from_slice(header.as_bytes());
        // sws_scale reads four destination planes and strides (packed RGB uses the first).
        let dst = [
            out[header.len()..].as_mut_ptr(),
            ptr::null_mut(),
            ptr::null_mut(),
            ptr::null_mut(),
        ];
        let stride = [w * 3, 0, 0, 0];
        // SAFETY: the source planes and strides are the frame's, of the size the context
        // was made for; `dst` and `stride` have the four entries sws_scale reads, the
        // first pointing at `h` rows of `w * 3` bytes after the header.
        let ret = unsafe {
            sys::sws_scale(
                sws.0.as_ptr(),
                f.data.as_ptr().cast(),
                f.linesize.as_ptr(),
                0,
                h,
                dst.as_ptr(),
                stride.as_ptr(),
            )
        };
        if ret != h {
            return Err(av_error("sws_scale", ret.min(-1)));
        }
        Ok(out)
    }
}

impl Drop for Frame {
    fn drop(&mut self) {
        let mut frame = self.0.as_ptr();
        // SAFETY: we own the frame and free it (and its buffers) once.
        unsafe { sys::av_frame_free(&mut frame) };
    }
}

/// A libswscale context, freed on drop.
struct Scaler(NonNull<sys::SwsContext>);

impl Drop for Scaler {
    fn drop(&mut self) {
        // SAFETY: we own the context and free it once.
        unsafe { sys::sws_freeContext(self.0.as_ptr()) };
    }
}

/// Where `ffmpeg -ss AT` seeks to: AT itself, or 3/23 s before it when the format seeks
/// by decoding timestamps and a stream reorders frames (B-frames: a keyframe's DTS comes
/// before its PTS), so that the keyframe found precedes AT in presentation order too.
fn seek_position<R>(demuxer: &Demuxer<R>, at: Duration) -> Duration {
    // SAFETY: a plain read of the input format's flags (a static description) while
    // `demuxer` is borrowed.
    let flags = unsafe { (*(*demuxer.as_ptr()).iformat).flags };
    let reorders = demuxer.streams().any(|s| s.video_delay() > 0);
    if flags & sys::AVFMT_SEEK_TO_PTS as c_int == 0 && reorders {
        at.saturating_sub(Duration::from_micros(3 * 1_000_000 / 23))
    } else {
        at
    }
}

/// The first frame of the video of `data` at or after `at` (the first frame at all without
/// it), and its timestamp in seconds from the start of the file.
fn decode(data: &[u8], at: Option<Duration>) -> Result<(Frame, f64), String> {
    let mut demuxer = Demuxer::from_slice(data).map_err(|e| e.chain())?;
    let video = demuxer
        .best_stream(MediaType::Video)
        .ok_or("the input has no video stream")?;
    let stream = demuxer.stream(video).ok_or("the video stream vanished")?;
    let mut decoder = Decoder::open(&stream)?;
    let time_base = stream.time_base();
    // Timestamps count from the container's start, as `-ss` counts: the target is `at`
    // past it, in the stream's time base.
    let start_us = demuxer.start_timestamp().map_or(0, |t| t.pts);
    let to_stream = |us: i64| {
        // SAFETY: av_rescale_q is plain arithmetic.
        unsafe { sys::av_rescale_q(us, sys::AV_TIME_BASE_Q, time_base.into()) }
    };
    let seconds = |pts: i64| {
        let from_start = pts - to_stream(start_us);
        from_start as f64 * time_base.as_f64()
    };
    let target = match at {
        Some(at) => {
            let us = i64::try_from(at.as_micros()).map_err(|_| "--at is too large")?;
            // Like ffmpeg, a format that cannot seek (an MP3 whose default stream is its
            // cover) is decoded from the start instead: the frames before the target are
            // dropped all the same.
            let _ = demuxer.seek(seek_position(&demuxer, at));
            Some(to_stream(us.saturating_add(start_us)))
        }
        None => None,
    };
    // After the seek, which picks its reference stream among those not discarded.
    demuxer.keep_streams(&[video]).map_err(|e| e.chain())?;
    let mut frame = Frame::new()?;
    let mut packet = Packet::new();
    let mut ended = false;
    loop {
        while decoder.receive(&mut frame)? {
            let pts = frame.raw().best_effort_timestamp;
            let wanted = match target {
                None => true,
                Some(target) => pts != sys::AV_NOPTS_VALUE && pts >= target,
            };
            if wanted {
                let at = if pts == sys::AV_NOPTS_VALUE {
                    0.0
                } else {
                    seconds(pts)
                };
                return Ok((frame, at));
            }
        }
        if ended {
            return Err(match at {
                Some(at) => format!("no frame at or after {} s", at.as_secs_f64()),
                None => "the video has no frame".to_owned(),
            });
        }
        if demuxer
            .read_packet_into(&mut packet)
            .map_err(|e| e.chain())?
        {
            if packet.stream_index() == video {
                decoder.send(Some(&packet))?;
            }
        } else {
            decoder.send(None)?;
            ended = true;
        }
    }
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    let input = &args.input;
    let data = std::fs::read(input).map_err(|e| format!("{input}: {e}"))?;
    let (frame, at) = decode(&data, args.at).map_err(|e| format!("{input}: {e}"))?;
    let image = if args.raw {
        frame.packed()?
    } else {
        frame.ppm()?
    };
    let output = &args.output;
    std::fs::write(output, &image).map_err(|e| format!("{output}: {e}"))?;
    let (w, h, _) = frame.shape();
    eprintln!(
        "thumbnail: {w}x{h} frame at {at:.3} s of {input} to {output} ({} bytes{})",
        image.len(),
        if args.raw { ", raw" } else { ", PPM" }
    );
    Ok(())
}

fn main() -> ExitCode {
    // SAFETY: nothing else runs FFmpeg yet: main has started no other thread.
    unsafe { ffio::set_log_level(ffio::LogLevel::Quiet) };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("thumbnail: {}", message.replace('\n', "; "));
            ExitCode::FAILURE
        }
    }
}
