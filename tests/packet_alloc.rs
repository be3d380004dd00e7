//! A read must report `ENOMEM`, not abort the process, when FFmpeg cannot allocate the
//! packet itself (`set_max_alloc` below the size of an `AVPacket`). In a binary of its
//! own: the cap is process-wide, and this is its only test, so no other thread runs
//! FFmpeg while it is set.

mod common;

#[test]
fn a_read_reports_enomem_when_no_packet_can_be_allocated() {
    common::quiet();
    let data = common::fixture_bytes("h264_aac.mp4");
    let mut demuxer = ffio::Demuxer::from_slice(&data).unwrap();
    // SAFETY: the only test of this binary; no other thread uses FFmpeg.
    unsafe { ffio::set_max_alloc(16) };
    let result = demuxer.read_packet();
    // SAFETY: as above; back to FFmpeg's default (INT_MAX) before anything else runs.
    unsafe { ffio::set_max_alloc(i32::MAX as usize) };
    let err = result.expect_err("no packet can be allocated under a 16-byte cap");
    assert_eq!(err.code(), Some(-libc::ENOMEM), "{err:?}");
    // Nothing was consumed: with the cap lifted, every packet is still there.
    let expected = common::ffprobe_packets(&common::fixture("h264_aac.mp4")).len();
    let mut count = 0;
    while demuxer.read_packet().unwrap().is_some() {
        count += 1;
    }
    assert_eq!(count, expected);
}
