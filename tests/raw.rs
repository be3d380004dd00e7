//! Raw access: packet side data and flags against ffprobe, and FFmpeg's decoders fed
//! ffio's packets through `Packet::as_ptr` (no copy), counting what `ffprobe -count_frames`
//! counts.

mod common;

use std::path::Path;

use common::json::{self, Json};
use common::{fixture, fixture_bytes, quiet, run_ffprobe, ProbeInput, READABLE};
use ffio::sys;

/// What `ffprobe ARGS PATH` prints on stdout; panics if it fails.
fn ffprobe(args: &[&str], path: &Path) -> String {
    let out = run_ffprobe(args, path, ProbeInput::File);
    assert!(
        out.success,
        "ffprobe failed on {}: {}",
        path.display(),
        out.stderr
    );
    out.stdout
}

/// Per packet: its stream index and its side data entries, each a type name and the
/// typed values of the two types the fixtures carry.
type PacketSideData = Vec<(usize, Vec<(String, Vec<i64>)>)>;

/// `ffprobe -show_entries packet=stream_index:packet_side_data -of json` as, per packet,
/// `(stream index, [(type name, fields)])`, the fields being the typed values ffprobe
/// prints for the two types the fixtures carry.
fn ffprobe_side_data(path: &Path) -> PacketSideData {
    let args = [
        "-v",
        "error",
        "-show_entries",
        "packet=stream_index:packet_side_data",
        "-of",
        "json",
    ];
    let doc = json::parse(&ffprobe(&args, path)).unwrap();
    let int = |entry: &Json, key: &str| entry.get(key).and_then(Json::as_i64).unwrap();
    doc.get("packets")
        .unwrap()
        .items()
        .iter()
        .map(|packet| {
            let index = usize::try_from(int(packet, "stream_index")).unwrap();
            let list = packet.get("side_data_list").map_or(&[][..], Json::items);
            let entries = list
                .iter()
                .map(|entry| {
                    let name = entry.get("side_data_type").unwrap().as_str().unwrap();
                    let fields = match name {
                        "Skip Samples" => [
                            "skip_samples",
                            "discard_padding",
                            "skip_reason",
                            "discard_reason",
                        ]
                        .iter()
                        .map(|key| int(entry, key))
                        .collect(),
                        "MPEGTS Stream ID" => vec![int(entry, "id")],
                        _ => Vec::new(),
                    };
                    (name.to_owned(), fields)
                })
                .collect();
            (index, entries)
        })
        .collect()
}

/// The same description of every packet ffio reads, from its side data accessors.
fn ffio_side_data(bytes: &[u8]) -> PacketSideData {
    let mut demuxer = ffio::Demuxer::from_slice(bytes).unwrap();
    let mut packets = Vec::new();
    while let Some(packet) = demuxer.read_packet().unwrap() {
        let entries = packet
            .side_data()
            .map(|entry| {
                let fields = if let Some(skip) = entry.skip_samples() {
                    vec![
                        i64::from(skip.skip_start),
                        i64::from(skip.discard_padding),
                        i64::from(skip.skip_reason),
                        i64::from(skip.discard_reason),
                    ]
                } else if let Some(id) = entry.mpegts_stream_id() {
                    vec![i64::from(id)]
                } else {
                    Vec::new()
                };
                // Looked up by type, the entry is the same one.
                let kind = entry.kind_raw();
                for known in [
                    sys::AVPacketSideDataType::AV_PKT_DATA_SKIP_SAMPLES,
                    sys::AVPacketSideDataType::AV_PKT_DATA_MPEGTS_STREAM_ID,
                ] {
                    if known as i32 == kind {
                        let found = packet.side_data_of(known).unwrap();
                        assert_eq!(found.data(), entry.data());
                    }
                }
                (entry.name().to_owned(), fields)
            })
            .collect();
        packets.push((packet.stream_index(), entries));
    }
    packets
}

#[test]
fn packet_side_data_matches_ffprobe() {
    quiet();
    // Skip Samples (AAC priming in MP4, MP3 and Opus padding), the MPEG-TS stream id.
    let fixtures = [
        "h264_aac.mp4",
        "h264_aac.ts",
        "id3_tags.mp3",
        "vp9_opus.webm",
        "mpeg2_interlaced.ts",
    ];
    let mut seen = 0;
    for name in fixtures {
        let expected = ffprobe_side_data(&fixture(name));
        let got = ffio_side_data(&fixture_bytes(name));
        assert_eq!(got, expected, "{name}");
        seen += expected.iter().map(|(_, e)| e.len()).sum::<usize>();
    }
    // Non-vacuous: ffprobe lists 1 + 55 + 2 + 1 + 24 entries on these files.
    assert!(seen > 50, "only {seen} side data entries");
}

#[test]
fn added_side_data_reads_back_and_is_copied() {
    quiet();
    // Side data added by hand, read back from the packet and from a copy (av_packet_ref
    // copies side data too).
    let mut packet = ffio::Packet::from_data(&[1, 2, 3]).unwrap();
    let kind = sys::AVPacketSideDataType::AV_PKT_DATA_SKIP_SAMPLES;
    packet
        .add_side_data(kind, &[0x40, 0x02, 0, 0, 0x10, 0, 0, 0, 1, 0])
        .unwrap();
    // Adding the same type again replaces the entry.
    packet
        .add_side_data(kind, &[0x00, 0x04, 0, 0, 0x20, 0, 0, 0, 0, 0])
        .unwrap();
    let copy = packet.clone();
    for p in [&packet, &copy] {
        assert_eq!(p.side_data().count(), 1);
        let skip = p.side_data_of(kind).unwrap().skip_samples().unwrap();
        // 0x400 = 1024, 0x20 = 32, as FFmpeg's little-endian layout says.
        assert_eq!((skip.skip_start, skip.discard_padding), (1024, 32));
        assert_eq!(p.side_data_of(kind).unwrap().name(), "Skip Samples");
    }
}

/// The flags of every packet of stream 0, as ffprobe prints them (`K__`).
fn ffprobe_flags(path: &Path) -> Vec<String> {
    let args = [
        "-v",
        "error",
        "-select_streams",
        "0",
        "-show_entries",
        "packet=flags",
        "-of",
        "csv=p=0",
    ];
    ffprobe(&args, path)
        .lines()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

/// The sync samples an MP4 with one track declares: its `stss` box's 1-based sample
/// numbers, read by hand (version and flags, a count, then one big-endian u32 each).
fn mp4_sync_samples(mp4: &[u8]) -> Vec<u32> {
    let at = mp4
        .windows(4)
        .position(|w| w == b"stss")
        .expect("an stss box: not every sample is a keyframe");
    let be32 = |i: usize| u32::from_be_bytes(mp4[i..i + 4].try_into().unwrap());
    let count = be32(at + 8) as usize;
    (0..count).map(|i| be32(at + 12 + 4 * i)).collect()
}

#[test]
fn flag_setters_round_trip_through_a_muxer() {
    quiet();
    // H.264 into MP4: the muxer writes the key flags as the sync sample table (`stss`),
    // read back by hand (ffprobe's demuxer re-derives H.264 key flags with FFmpeg's
    // parser, whatever the container says); ffprobe shows that the discard and corrupt
    // flags, which muxers ignore, come back on no packet.
    let input = fixture_bytes("h264_aac.mp4");
    let mut demuxer = ffio::Demuxer::from_slice(&input).unwrap();
    let video = demuxer.best_stream(ffio::MediaType::Video).unwrap();
    let time_base = demuxer.stream(video).unwrap().time_base();
    let mut muxer =
        ffio::Muxer::to_seekable_writer(std::io::Cursor::new(Vec::new()), "mp4").unwrap();
    muxer
        .add_stream_from(&demuxer.stream(video).unwrap())
        .unwrap();
    muxer.write_header(&[]).unwrap();
    let mut expected = Vec::new();
    let mut packet = ffio::Packet::new();
    let mut n = 0;
    while demuxer.read_packet_into(&mut packet).unwrap() {
        if packet.stream_index() != video {
            continue;
        }
        // Every 7th packet a keyframe (whatever it really is), every 3rd marked corrupt
        // and every 5th discard.
        let key = n % 7 == 0;
        packet.set_key(key);
        packet.set_corrupt(n % 3 == 0);
        packet.set_discard(n % 5 == 0);
        assert_eq!(packet.is_key(), key);
        assert_eq!(packet.is_corrupt(), n % 3 == 0);
        assert_eq!(packet.is_discard(), n % 5 == 0);
        if key {
            expected.push(n + 1);
        }
        packet.set_stream_index(0);
        muxer.write_packet(&mut packet, time_base).unwrap();
        n += 1;
    }
    let mp4 = muxer.finish().unwrap().into_inner();
    // ffprobe's packet count for the fixture's video, for a non-vacuous check.
    let video_packets = common::ffprobe_counts(&fixture("h264_aac.mp4"))[video].2;
    assert_eq!(u64::from(n), video_packets);
    assert_eq!(mp4_sync_samples(&mp4), expected);
    let dir = std::env::temp_dir().join(format!("ffio-raw-flags-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("flags.mp4");
    std::fs::write(&path, mp4).unwrap();
    let flags = ffprobe_flags(&path);
    std::fs::remove_dir_all(&dir).unwrap();
    // ffprobe prints `K` or `_`, then `D` or `_` (and since FFmpeg 6, `C` or `_`).
    assert_eq!(flags.len() as u64, video_packets);
    assert!(
        flags.iter().all(|f| !f.contains('D') && !f.contains('C')),
        "{flags:?}"
    );
}

/// `ffprobe -count_frames` for the first video stream.
fn ffprobe_video_frames(path: &Path) -> u64 {
    let args = [
        "-v",
        "error",
        "-select_streams",
        "v:0",
        "-count_frames",
        "-show_entries",
        "stream=nb_read_frames",
        "-of",
        "default=nw=1:nk=1",
    ];
    let text = ffprobe(&args, path);
    let first = text.lines().next().unwrap_or_default().trim().to_owned();
    first
        .parse()
        .unwrap_or_else(|_| panic!("ffprobe frame count {first:?} for {}", path.display()))
}

/// Frames FFmpeg's decoder makes from the packets of `stream` (the first video stream),
/// each handed over with `Packet::as_ptr`.
fn decode_frames(bytes: &[u8]) -> u64 {
    let mut demuxer = ffio::Demuxer::from_slice(bytes).unwrap();
    let video = demuxer
        .streams()
        .find(|s| s.media_type() == ffio::MediaType::Video)
        .unwrap()
        .index();
    let mut frames = 0;
    // SAFETY: the codec parameters are read (copied) while the demuxer is borrowed; each
    // packet pointer is used while its packet is; the context and frame are freed below.
    unsafe {
        let par = demuxer.stream(video).unwrap().codecpar_ptr();
        let codec = sys::avcodec_find_decoder((*par).codec_id);
        assert!(!codec.is_null());
        let mut ctx = sys::avcodec_alloc_context3(codec);
        assert!(sys::avcodec_parameters_to_context(ctx, par) >= 0);
        assert!(sys::avcodec_open2(ctx, codec, std::ptr::null_mut()) >= 0);
        let mut frame = sys::av_frame_alloc();
        let mut packet = ffio::Packet::new();
        loop {
            let more = demuxer.read_packet_into(&mut packet).unwrap();
            if more && packet.stream_index() != video {
                continue;
            }
            let pkt = if more {
                packet.as_ptr()
            } else {
                std::ptr::null()
            };
            let sent = sys::avcodec_send_packet(ctx, pkt);
            assert!(
                sent >= 0 || sent == sys::AVERROR_INVALIDDATA,
                "avcodec_send_packet: {sent}"
            );
            while sys::avcodec_receive_frame(ctx, frame) >= 0 {
                frames += 1;
            }
            if !more {
                break;
            }
        }
        sys::av_frame_free(&mut frame);
        sys::avcodec_free_context(&mut ctx);
    }
    frames
}

#[test]
fn decoding_ffio_packets_gives_ffprobes_frame_count() {
    quiet();
    const NO_VIDEO: &[&str] = &["audio_only.m4a", "tone.flac"];
    let mut checked = 0;
    for &name in READABLE.iter().filter(|n| !NO_VIDEO.contains(n)) {
        let expected = ffprobe_video_frames(&fixture(name));
        assert!(expected > 0, "{name}: ffprobe decoded no frame");
        assert_eq!(decode_frames(&fixture_bytes(name)), expected, "{name}");
        checked += 1;
    }
    assert_eq!(checked, READABLE.len() - NO_VIDEO.len());
}

#[test]
fn format_context_pointers_see_what_the_accessors_see() {
    quiet();
    let bytes = fixture_bytes("h264_aac.mkv");
    let mut demuxer = ffio::Demuxer::from_slice(&bytes).unwrap();
    // SAFETY: plain field reads while the demuxer is borrowed.
    let (streams, duration) =
        unsafe { ((*demuxer.as_ptr()).nb_streams, (*demuxer.as_ptr()).duration) };
    assert_eq!(streams as usize, demuxer.stream_count());
    assert_eq!(
        Some(std::time::Duration::from_micros(duration as u64)),
        demuxer.duration()
    );
    let raw = demuxer.as_mut_ptr();
    assert_eq!(raw.cast_const(), demuxer.as_ptr());
    let muxer = ffio::Muxer::to_writer(Vec::new(), "mpegts").unwrap();
    // SAFETY: a read of the static output format's name while the muxer is borrowed.
    let name = unsafe { std::ffi::CStr::from_ptr((*(*muxer.as_ptr()).oformat).name) };
    assert_eq!(name.to_str().unwrap(), muxer.format_name());
}
