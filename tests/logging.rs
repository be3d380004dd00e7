//! FFmpeg's own words in errors (src/capture.rs): the line FFmpeg logs about an object
//! during a failing call becomes part of the error, attributed to the right object even
//! with many threads at work; with the `log` feature, FFmpeg's messages become `log`
//! records. Expected lines come from ffprobe's stderr on the same files.

mod common;

use std::thread;

use common::{fixture, fixture_bytes, quiet};
use ffio::{Demuxer, Error};

/// What ffprobe says about a file on stderr at level error (and warning).
fn ffprobe_stderr(name: &str) -> String {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "warning", "-hide_banner"])
        .arg(fixture(name))
        .output()
        .expect("ffprobe runs");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn open_error(name: &str) -> Error {
    let data = fixture_bytes(name);
    Demuxer::from_slice(&data).expect_err(name)
}

#[test]
fn errors_carry_ffmpegs_own_explanation() {
    quiet();
    for name in [
        "truncated_header.mp4",
        "truncated_half.mp4",
        "truncated_moov.mp4",
    ] {
        let err = open_error(name);
        let detail = err
            .ffmpeg_detail()
            .unwrap_or_else(|| panic!("{name}: no FFmpeg detail in {err}"));
        // "item: text": the text is what ffprobe prints for the same file.
        let (item, text) = detail.split_once(": ").expect("item: text");
        assert_eq!(item, "mov,mp4,m4a,3gp,3g2,mj2", "{name}");
        let probe = ffprobe_stderr(name);
        assert!(
            probe.contains(text),
            "{name}: {text:?} not in ffprobe's {probe:?}"
        );
        assert!(err.to_string().contains(detail), "{name}: {err}");
    }
}

#[test]
fn empty_garbage_moovless_and_truncated_inputs_are_told_apart() {
    quiet();
    let names = [
        "empty.bin",
        "random.bin",
        "truncated_header.mp4",
        "truncated_moov.mp4",
    ];
    let texts: Vec<String> = names.iter().map(|n| open_error(n).to_string()).collect();
    for (i, a) in texts.iter().enumerate() {
        for b in &texts[i + 1..] {
            assert_ne!(a, b, "two inputs with the same error");
        }
    }
    assert!(texts[0].contains("empty"), "{}", texts[0]);
    assert!(texts[1].contains("no demuxer recognised"), "{}", texts[1]);
    assert!(texts[2].contains("moov atom not found"), "{}", texts[2]);
}

#[test]
fn a_muxers_error_explains_itself() {
    quiet();
    // moov_size too small: FFmpeg says "Invalid argument" and logs how much is missing.
    let input = fixture_bytes("h264_aac.mp4");
    let mut demuxer = Demuxer::from_slice(&input).unwrap();
    let mut muxer =
        ffio::Muxer::to_seekable_writer(std::io::Cursor::new(Vec::new()), "mp4").unwrap();
    let mut time_bases = Vec::new();
    for stream in demuxer.streams() {
        muxer.add_stream_from(&stream).unwrap();
        time_bases.push(stream.time_base());
    }
    muxer.write_header(&[("moov_size", "100")]).unwrap();
    while let Some(mut packet) = demuxer.read_packet().unwrap() {
        let tb = time_bases[packet.stream_index()];
        muxer.write_packet(&mut packet, tb).unwrap();
    }
    let err = muxer.finish().unwrap_err().into_error();
    let detail = err.ffmpeg_detail().unwrap_or_default();
    assert!(
        detail.starts_with("mp4: ") && detail.contains("needed") && detail.contains("additional"),
        "{err}"
    );
}

#[test]
fn bad_option_values_say_why() {
    quiet();
    let input = fixture_bytes("h264_aac.mp4");
    let err = ffio::DemuxerOptions::new()
        .option("probesize", "bogus")
        .open(ffio::CustomIo::seekable_reader(std::io::Cursor::new(&input[..])).unwrap())
        .unwrap_err();
    let Error::InvalidOption { message, .. } = &err else {
        panic!("{err:?}");
    };
    // FFmpeg's words, as the CLI prints them for the same option.
    let (_, detail) = message.split_once(" (").expect("a detail");
    let detail = detail.trim_end_matches(')');
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "warning", "-hide_banner", "-probesize", "bogus"])
        .arg(fixture("h264_aac.mp4"))
        .output()
        .unwrap();
    let cli = String::from_utf8_lossy(&out.stderr);
    let text = detail.split_once(": ").map_or(detail, |(_, t)| t);
    assert!(cli.contains(text), "{text:?} not in {cli:?}");
}

#[test]
fn lines_are_attributed_to_the_object_whose_call_logged_them() {
    quiet();
    let cases = [
        ("truncated_header.mp4", "moov atom not found"),
        ("random.bin", "no demuxer recognised"),
        ("truncated_moov.mp4", "error reading header"),
        ("empty.bin", "the input is empty"),
    ];
    thread::scope(|scope| {
        for round in 0..8 {
            for (name, want) in cases {
                scope.spawn(move || {
                    let data = fixture_bytes(name);
                    for _ in 0..10 {
                        // Good inputs on the same threads log nothing that sticks.
                        let good = fixture_bytes("h264_aac.ts");
                        common::demux_all(Demuxer::from_slice(&good)).unwrap();
                        let err = Demuxer::from_slice(&data).expect_err(name).to_string();
                        assert!(err.contains(want), "{name}, round {round}: {err}");
                        for (other, other_want) in cases {
                            if other != name {
                                assert!(!err.contains(other_want), "{name} got {other}'s line");
                            }
                        }
                    }
                });
            }
        }
    });
}

#[cfg(feature = "log")]
mod log_feature {
    use super::*;
    use std::sync::Mutex;

    static RECORDS: Mutex<Vec<(String, log::Level, String)>> = Mutex::new(Vec::new());

    struct Recorder;

    impl log::Log for Recorder {
        fn enabled(&self, _: &log::Metadata<'_>) -> bool {
            true
        }
        fn log(&self, record: &log::Record<'_>) {
            RECORDS.lock().unwrap().push((
                record.target().to_owned(),
                record.level(),
                record.args().to_string(),
            ));
        }
        fn flush(&self) {}
    }

    #[test]
    fn ffmpeg_messages_become_log_records() {
        quiet();
        log::set_logger(&Recorder).unwrap();
        log::set_max_level(log::LevelFilter::Trace);
        let err = open_error("truncated_header.mp4");
        assert!(err.to_string().contains("moov atom not found"));
        let records = RECORDS.lock().unwrap();
        let hit = records
            .iter()
            .find(|(_, _, m)| m.contains("moov atom not found"))
            .unwrap_or_else(|| panic!("no record: {records:?}"));
        assert_eq!(hit.0, "ffmpeg");
        assert_eq!(hit.1, log::Level::Error);
        // The ffio object and FFmpeg's item are named.
        assert!(hit.2.starts_with("ffio reader #"), "{hit:?}");
        assert!(hit.2.contains("mov,mp4,m4a,3gp,3g2,mj2: "), "{hit:?}");
    }
}
