//! What FFmpeg's generic demuxing layer does to the timestamps of a demuxer's packets
//! (`compute_pkt_fields` in `libavformat/demux.c`), for packets ffio makes itself: its
//! concat demuxer (`crate::concat`). FFmpeg runs that layer on the packets its concat
//! demuxer returns, on top of the parts' own, so the list's packets differ from the parts'
//! where a part left something unset:
//!
//! * a missing duration comes from the stream's frame rate or the audio frame size;
//! * for codecs that never reorder, without decode delay, a packet with no timestamp gets
//!   the stream's running time (`cur_dts`: the end of the packet before, counted from 0
//!   before any real timestamp, as FFmpeg's "relative" timestamps are) and its `dts` is
//!   its `pts`;
//! * a missing `dts` of a reordering codec (H.264, HEVC, VVC) is guessed from the `pts`
//!   seen so far (`pts_buffer`, `pts_reorder_error`): the first packets of a Matroska part
//!   with B-frames get one from the parts before it;
//! * the stream's start time is decided at its first packet with a real `dts`
//!   (`update_initial_timestamps`).
//!
//! Left out: parsers (the list's streams have none), `AVFMT_FLAG_IGNDTS`, timestamp
//! wrapping (the list's streams have 64-bit timestamps), the shifting of "relative"
//! timestamps already returned once a real one arrives (FFmpeg shifts only the packets its
//! stream discovery still holds), and durations from a decoder's frame rate.

use ffmpeg_sys_next as ffi;

use crate::packet::Packet;

const NOPTS: i64 = ffi::AV_NOPTS_VALUE;

/// FFmpeg's `MAX_REORDER_DELAY`.
const MAX_REORDER_DELAY: usize = 16;

/// A running time: an absolute timestamp, or one counted from the stream's unknown start
/// (FFmpeg's timestamps relative to `RELATIVE_TS_BASE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Time {
    Absolute(i64),
    Relative(i64),
}

/// FFmpeg's per-stream timestamp state (`FFStream`'s `cur_dts`, `first_dts`,
/// `pts_buffer`, `pts_reorder_error`, `last_IP_*`) for one stream of a list.
#[derive(Clone)]
pub(crate) struct StreamTiming {
    pts_buffer: [i64; MAX_REORDER_DELAY + 1],
    error: [i64; MAX_REORDER_DELAY + 1],
    count: [i64; MAX_REORDER_DELAY + 1],
    cur_dts: Time,
    /// `first_dts` is set: the stream's start was decided.
    pub(crate) started: bool,
    last_ip_pts: i64,
    last_ip_duration: i64,
    /// The `pts` of the stream's first packet that came with one.
    first_pts: i64,
    /// Packets of the stream so far (during stream discovery, `codec_info_nb_frames`).
    pub(crate) packets: u32,
}

impl Default for StreamTiming {
    fn default() -> Self {
        StreamTiming {
            pts_buffer: [NOPTS; MAX_REORDER_DELAY + 1],
            error: [0; MAX_REORDER_DELAY + 1],
            count: [0; MAX_REORDER_DELAY + 1],
            cur_dts: Time::Relative(0),
            started: false,
            last_ip_pts: NOPTS,
            last_ip_duration: 0,
            first_pts: NOPTS,
            packets: 0,
        }
    }
}

/// `compute_frame_duration` without a parser or a decoder: a video frame lasts a frame
/// of the stream's real frame rate (or one tick of a coarse time base), an audio packet
/// its samples (`av_get_audio_frame_duration2`). `(num, den)` seconds.
fn frame_duration(st: &ffi::AVStream, size: usize) -> Option<(i64, i64)> {
    // SAFETY: a valid stream's parameters.
    let par = unsafe { &*st.codecpar };
    match par.codec_type {
        ffi::AVMediaType::AVMEDIA_TYPE_VIDEO => {
            if st.r_frame_rate.num != 0 {
                Some((st.r_frame_rate.den.into(), st.r_frame_rate.num.into()))
            } else if i64::from(st.time_base.num) * 1000 > i64::from(st.time_base.den) {
                Some((st.time_base.num.into(), st.time_base.den.into()))
            } else {
                None
            }
        }
        ffi::AVMediaType::AVMEDIA_TYPE_AUDIO => {
            let size = std::os::raw::c_int::try_from(size).unwrap_or(std::os::raw::c_int::MAX);
            // SAFETY: valid codec parameters; the function only reads them.
            let frame = unsafe { ffi::av_get_audio_frame_duration2(st.codecpar, size) };
            (frame > 0 && par.sample_rate > 0).then(|| (frame.into(), par.sample_rate.into()))
        }
        _ => None,
    }
}

impl StreamTiming {
    /// Does to `packet`, a packet of the list's stream `st`, what `compute_pkt_fields`
    /// does after stream discovery. Returns the stream's start time when this packet
    /// decided it (`Some(NOPTS)` if it was decided without one).
    pub(crate) fn process(&mut self, packet: &mut Packet, st: &ffi::AVStream) -> Option<i64> {
        // SAFETY: a valid stream's parameters.
        let par = unsafe { &*st.codecpar };
        let tb = st.time_base;
        let reorders = matches!(
            par.codec_id,
            ffi::AVCodecID::AV_CODEC_ID_H264
                | ffi::AVCodecID::AV_CODEC_ID_HEVC
                | ffi::AVCodecID::AV_CODEC_ID_VVC
        );
        let delay = usize::try_from(par.video_delay).unwrap_or(0);
        self.packets = self.packets.saturating_add(1);
        let mut pts = packet.pts().unwrap_or(NOPTS);
        let mut dts = packet.dts().unwrap_or(NOPTS);
        if self.first_pts == NOPTS {
            self.first_pts = pts;
        }
        let mut start = None;

        // The duration, when the part gave none.
        let mut duration = ffi::AVRational { num: 0, den: 1 };
        if packet.duration() > 0 {
            // SAFETY: a pure function.
            duration = unsafe {
                ffi::av_mul_q(
                    ffi::AVRational {
                        num: packet.duration().try_into().unwrap_or(i32::MAX),
                        den: 1,
                    },
                    tb,
                )
            };
        } else if let Some((num, den)) = frame_duration(st, packet.size()) {
            if let (Ok(n), Ok(d)) = (i32::try_from(num), i32::try_from(den)) {
                duration = ffi::AVRational { num: n, den: d };
            }
            // SAFETY: a pure function.
            let ticks = unsafe {
                ffi::av_rescale_rnd(
                    1,
                    num.saturating_mul(tb.den.into()),
                    den.saturating_mul(tb.num.into()),
                    ffi::AVRounding::AV_ROUND_DOWN,
                )
            };
            packet.set_duration(ticks);
        }
        let pkt_duration = packet.duration();

        // Codecs that never reorder, without decode delay: timestamps interpolated.
        let mut pts_relative = false;
        if delay == 0 && !reorders {
            let delayed = pts != NOPTS && dts != NOPTS && pts > dts;
            if delayed {
                start = start.or(self.update_initial(dts, pts, par, packet));
                if self.last_ip_duration == 0 && pkt_duration <= i64::from(i32::MAX) {
                    self.last_ip_duration = pkt_duration;
                }
                self.cur_dts = Time::Absolute(dts.saturating_add(self.last_ip_duration));
                if pkt_duration <= i64::from(i32::MAX) {
                    self.last_ip_duration = pkt_duration;
                }
                self.last_ip_pts = pts;
            } else if pts != NOPTS || dts != NOPTS || pkt_duration > 0 {
                if pts == NOPTS {
                    pts = dts;
                }
                start = start.or(self.update_initial(pts, pts, par, packet));
                if pts == NOPTS {
                    let (value, relative) = match self.cur_dts {
                        Time::Absolute(t) => (t, false),
                        Time::Relative(t) => (t, true),
                    };
                    pts = value;
                    pts_relative = relative;
                }
                dts = pts;
                if duration.num >= 0 {
                    // SAFETY: a pure function.
                    let next = unsafe { ffi::av_add_stable(tb, pts, duration, 1) };
                    self.cur_dts = if pts_relative {
                        Time::Relative(next)
                    } else {
                        Time::Absolute(next)
                    };
                }
            }
        }

        // The dts guess from the pts seen so far (select_from_pts_buffer); the decode
        // delay counts as guessed, as it does once stream discovery has ended.
        if pts != NOPTS && !pts_relative && delay <= MAX_REORDER_DELAY {
            dts = self.select_dts(pts, dts, delay, reorders);
        }
        if reorders {
            start = start.or(self.update_initial(dts, pts, par, packet));
        }
        if !pts_relative && dts != NOPTS {
            if let Time::Absolute(cur) = self.cur_dts {
                if dts > cur {
                    self.cur_dts = Time::Absolute(dts);
                }
            }
        }
        packet.set_pts((pts != NOPTS).then_some(pts));
        packet.set_dts((dts != NOPTS).then_some(dts));
        start
    }

    /// `update_initial_timestamps` at the stream's first packet with a real `dts`: the
    /// stream's running time becomes absolute, and its start is the first `pts` it had
    /// (the list's streams skip no samples).
    fn update_initial(
        &mut self,
        dts: i64,
        pts: i64,
        par: &ffi::AVCodecParameters,
        packet: &Packet,
    ) -> Option<i64> {
        if self.started || dts == NOPTS {
            return None;
        }
        self.started = true;
        self.cur_dts = Time::Absolute(dts);
        let audio = par.codec_type == ffi::AVMediaType::AVMEDIA_TYPE_AUDIO;
        Some(if self.first_pts != NOPTS {
            self.first_pts
        } else if audio || !packet.is_discard() {
            pts
        } else {
            NOPTS
        })
    }

    /// `select_from_pts_buffer` after the pts is sorted into the buffer.
    fn select_dts(&mut self, pts: i64, dts: i64, delay: usize, reorders: bool) -> i64 {
        self.pts_buffer[0] = pts;
        let mut i = 0;
        while i < delay && self.pts_buffer[i] > self.pts_buffer[i + 1] {
            self.pts_buffer.swap(i, i + 1);
            i += 1;
        }
        let mut dts = dts;
        if reorders {
            if dts == NOPTS {
                let mut best = i64::MAX;
                for i in 0..delay {
                    if self.count[i] != 0 {
                        let score = self.error[i] / self.count[i];
                        if score < best {
                            best = score;
                            dts = self.pts_buffer[i];
                        }
                    }
                }
            } else {
                for i in 0..delay {
                    if self.pts_buffer[i] != NOPTS {
                        let diff = self.pts_buffer[i].abs_diff(dts);
                        self.error[i] = match i64::try_from(diff) {
                            Ok(d) if d <= i64::MAX - self.error[i] => d + self.error[i],
                            _ => i64::MAX,
                        };
                        self.count[i] += 1;
                        if self.count[i] > 250 {
                            self.error[i] >>= 1;
                            self.count[i] >>= 1;
                        }
                    }
                }
            }
        }
        if dts == NOPTS {
            dts = self.pts_buffer[0];
        }
        dts
    }
}
