//! An owned bitstream filter (`AVBSFContext`): the `h264_mp4toannexb` conversion that
//! ffio's concat demuxer (`crate::concat`) inserts, as FFmpeg's does, for H.264 parts
//! stored with `avcC` extradata.
//!
//! Bitstream filters run no I/O callback, so their calls need not go through the
//! `CustomIo` call path; their log lines are captured for the error text.

use std::ffi::CStr;
use std::ptr::{self, NonNull};

use ffmpeg_sys_next as ffi;

use crate::capture::with_capture;
use crate::error::{Error, Result};
use crate::packet::Packet;

/// Owns an initialised `AVBSFContext` and frees it on drop.
pub(crate) struct BitstreamFilter(NonNull<ffi::AVBSFContext>);

// SAFETY: the filter context is exclusively owned and FFmpeg's bitstream filters keep no
// thread-affine state; it is only used through `&mut self`.
unsafe impl Send for BitstreamFilter {}

impl BitstreamFilter {
    /// The filter called `name`, initialised for a stream with parameters `par` and time
    /// base `time_base`.
    ///
    /// # Safety
    /// `par` must point to valid codec parameters for the duration of the call.
    pub(crate) unsafe fn new(
        name: &CStr,
        par: *const ffi::AVCodecParameters,
        time_base: ffi::AVRational,
    ) -> Result<Self> {
        // SAFETY: `name` is a valid C string; the result is null or a static description.
        let filter = unsafe { ffi::av_bsf_get_by_name(name.as_ptr()) };
        if filter.is_null() {
            return Err(
                Error::ffmpeg("av_bsf_get_by_name", ffi::AVERROR_BSF_NOT_FOUND).with_detail(Some(
                    format!(
                        "concat: {} bitstream filter required for H.264 streams",
                        name.to_string_lossy()
                    ),
                )),
            );
        }
        let mut raw = ptr::null_mut();
        // SAFETY: `filter` is a valid filter; `raw` receives a new context or stays null.
        let ret = unsafe { ffi::av_bsf_alloc(filter, &mut raw) };
        crate::error::check("av_bsf_alloc", ret)?;
        let Some(raw) = NonNull::new(raw) else {
            return Err(Error::ffmpeg("av_bsf_alloc", ffi::AVERROR(libc::ENOMEM)));
        };
        // From here the context is freed on every path.
        let bsf = BitstreamFilter(raw);
        // SAFETY: `par_in` is the new context's own parameters; `par` is valid (the
        // contract). The copy runs no callback.
        let ret = unsafe {
            (*raw.as_ptr()).time_base_in = time_base;
            ffi::avcodec_parameters_copy((*raw.as_ptr()).par_in, par)
        };
        crate::error::check("avcodec_parameters_copy", ret)?;
        // SAFETY: a fully set up, not yet initialised filter context.
        let (ret, detail) = with_capture(|| unsafe { ffi::av_bsf_init(raw.as_ptr()) });
        crate::error::check("av_bsf_init", ret).map_err(|e| e.with_detail(detail))?;
        Ok(bsf)
    }

    /// The parameters of the filtered stream (valid while `self` is).
    pub(crate) fn output_parameters(&self) -> *const ffi::AVCodecParameters {
        // SAFETY: an initialised context owns its `par_out`.
        unsafe { (*self.0.as_ptr()).par_out }
    }

    /// Filters `packet` in place, as FFmpeg's concat demuxer does: sends it, then receives
    /// until the filter wants more; `packet` holds the last packet received (the one
    /// output packet, for a one-to-one filter such as `h264_mp4toannexb`).
    pub(crate) fn filter(&mut self, packet: &mut Packet) -> Result<()> {
        let ctx = self.0.as_ptr();
        let pkt = packet.as_mut_ptr();
        let (ret, detail) = with_capture(|| {
            // SAFETY: `ctx` is an initialised filter and `pkt` a valid packet, whose
            // reference the filter takes (leaving `pkt` blank).
            let mut ret = unsafe { ffi::av_bsf_send_packet(ctx, pkt) };
            if ret < 0 {
                return ret;
            }
            while ret == 0 {
                // SAFETY: as above; on EAGAIN the filter leaves `pkt` as it was.
                ret = unsafe { ffi::av_bsf_receive_packet(ctx, pkt) };
            }
            if ret == ffi::AVERROR(libc::EAGAIN) || ret == ffi::AVERROR_EOF {
                0
            } else {
                ret
            }
        });
        crate::error::check("av_bsf_send_packet", ret)
            .map(drop)
            .map_err(|e| e.with_detail(detail))
    }
}

impl Drop for BitstreamFilter {
    fn drop(&mut self) {
        let mut raw = self.0.as_ptr();
        // SAFETY: we own the context and free it once; av_bsf_free nulls the pointer.
        unsafe { ffi::av_bsf_free(&mut raw) };
    }
}
