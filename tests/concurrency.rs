//! Many demuxers and muxers at once, on several threads, moved between threads: the results
//! equal the single-threaded run.

mod common;

use std::fs::File;
use std::io::Cursor;
use std::sync::mpsc;
use std::thread;

use common::{fixture, quiet, remux, READABLE as FIXTURES};
use ffio::{CustomIo, Demuxer, Muxer, Packet, Rational};

// Compile-time checks: these fail to build if Demuxer or Muxer stop being Send for the
// readers and writers users hand them.
const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<Demuxer<Cursor<&'static [u8]>>>();
    assert_send::<Demuxer<File>>();
    assert_send::<Demuxer<&'static [u8]>>();
    assert_send::<Demuxer<Box<dyn std::io::Read + Send>>>();
    assert_send::<Muxer<Vec<u8>>>();
    assert_send::<Muxer<Cursor<Vec<u8>>>>();
    assert_send::<Muxer<File>>();
    assert_send::<CustomIo<File>>();
    assert_send::<Packet>();
};

/// (stream, pts, dts, size, first bytes) of every packet.
type Summary = Vec<(usize, Option<i64>, Option<i64>, usize, Vec<u8>)>;

fn summarize(packet: &Packet) -> (usize, Option<i64>, Option<i64>, usize, Vec<u8>) {
    let data = packet.data();
    (
        packet.stream_index(),
        packet.pts(),
        packet.dts(),
        data.len(),
        data[..data.len().min(16)].to_vec(),
    )
}

fn demux_file(name: &str) -> Summary {
    let mut demuxer = Demuxer::from_seekable_reader(File::open(fixture(name)).unwrap()).unwrap();
    demuxer.packets().map(|p| summarize(&p.unwrap())).collect()
}

/// Remuxes a fixture into MPEG-TS in memory.
fn remux_ts(name: &str) -> Vec<u8> {
    let bytes = std::fs::read(fixture(name)).unwrap();
    remux(&bytes, Muxer::to_writer(Vec::new(), "mpegts").unwrap(), &[]).unwrap()
}

#[test]
fn many_demuxers_and_muxers_on_many_threads() {
    quiet();
    let expected_demux: Vec<Summary> = FIXTURES.iter().map(|n| demux_file(n)).collect();
    let expected_mux: Vec<Vec<u8>> = FIXTURES[..6].iter().map(|n| remux_ts(n)).collect();
    assert!(expected_demux.iter().all(|s| !s.is_empty()));

    thread::scope(|scope| {
        let mut handles = Vec::new();
        for round in 0..4 {
            for (i, name) in FIXTURES.iter().enumerate() {
                let want = &expected_demux[i];
                handles.push(scope.spawn(move || {
                    assert_eq!(&demux_file(name), want, "{name}, round {round}");
                }));
            }
            for (i, name) in FIXTURES[..6].iter().enumerate() {
                let want = &expected_mux[i];
                handles.push(scope.spawn(move || {
                    assert!(&remux_ts(name) == want, "{name} remux, round {round}");
                }));
            }
        }
        for handle in handles {
            handle.join().unwrap();
        }
    });
}

#[test]
fn demuxers_and_muxers_move_between_threads_mid_stream() {
    quiet();
    for name in ["h264_aac.mp4", "h264_aac.ts", "h264_aac.mkv"] {
        let want = demux_file(name);
        let want_ts = remux_ts(name);
        let bytes = std::fs::read(fixture(name)).unwrap();

        // Open and start on one thread, hand the half-read demuxer and half-written muxer
        // to another, finish there.
        let (tx, rx) = mpsc::channel();
        let half = want.len() / 2;
        let first = thread::spawn(move || {
            let mut demuxer = Demuxer::from_seekable_reader(Cursor::new(bytes)).unwrap();
            let mut muxer = Muxer::to_writer(Vec::new(), "mpegts").unwrap();
            for stream in demuxer.streams() {
                muxer.add_stream_from(&stream).unwrap();
            }
            muxer.write_header(&[]).unwrap();
            let time_bases: Vec<Rational> = demuxer.streams().map(|s| s.time_base()).collect();
            let mut got = Summary::new();
            for _ in 0..half {
                let mut packet = demuxer.read_packet().unwrap().unwrap();
                got.push(summarize(&packet));
                let tb = time_bases[packet.stream_index()];
                muxer.write_packet(&mut packet, tb).unwrap();
            }
            tx.send((demuxer, muxer, time_bases, got)).unwrap();
        });
        let (mut demuxer, mut muxer, time_bases, mut got) = rx.recv().unwrap();
        first.join().unwrap();
        let second = thread::spawn(move || {
            while let Some(mut packet) = demuxer.read_packet().unwrap() {
                got.push(summarize(&packet));
                let tb = time_bases[packet.stream_index()];
                muxer.write_packet(&mut packet, tb).unwrap();
            }
            (got, muxer.finish().unwrap())
        });
        let (got, ts) = second.join().unwrap();
        assert_eq!(got, want, "{name}");
        assert!(ts == want_ts, "{name}: remux across threads differs");
    }
}
