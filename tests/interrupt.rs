//! Cancellation and deadlines (src/interrupt.rs): a trickling reader stopped by a deadline,
//! a cancel from another thread, no user code after either, every later call refused, and
//! stream discovery unable to swallow the interrupt.

mod common;

use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use common::{fixture_bytes, quiet};
use ffio::{CancelHandle, CustomIo, Demuxer, DemuxerOptions, Error};

/// Hands out `chunk` bytes per read after sleeping `pause`, counting reads.
struct Trickle {
    data: Vec<u8>,
    pos: usize,
    chunk: usize,
    pause: Duration,
    reads: Arc<Mutex<Vec<Instant>>>,
}

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reads.lock().unwrap().push(Instant::now());
        thread::sleep(self.pause);
        let n = buf.len().min(self.chunk).min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn trickle(chunk: usize, pause: Duration) -> (Trickle, Arc<Mutex<Vec<Instant>>>) {
    let reads = Arc::new(Mutex::new(Vec::new()));
    let reader = Trickle {
        data: fixture_bytes("h264_aac.ts"),
        pos: 0,
        chunk,
        pause,
        reads: reads.clone(),
    };
    (reader, reads)
}

#[test]
fn a_one_byte_every_10ms_reader_meets_its_deadline() {
    quiet();
    let (reader, reads) = trickle(1, Duration::from_millis(10));
    let start = Instant::now();
    let opened = DemuxerOptions::new()
        .timeout(Duration::from_secs(1))
        .open(CustomIo::reader(reader).unwrap());
    let err = match opened {
        Err(e) => e,
        Ok(mut demuxer) => loop {
            match demuxer.read_packet() {
                Ok(Some(_)) => {}
                Ok(None) => panic!("the whole file arrived within the deadline"),
                Err(e) => break e,
            }
        },
    };
    let elapsed = start.elapsed();
    assert!(matches!(err, Error::DeadlineExceeded { .. }), "{err:?}");
    assert!(err.is_interrupted());
    // Under valgrind everything but the sleeps runs ~50 times slower.
    let bound = if common::under_memcheck() { 5000 } else { 1200 };
    assert!(
        elapsed < Duration::from_millis(bound),
        "ended after {elapsed:?}"
    );
    // The deadline is set inside `open`, before the first read, so it falls before
    // `first + 1 s`. Each read is checked against it just before the reader runs; `slack`
    // covers the trampoline between that check and the reader's own clock read.
    let reads = reads.lock().unwrap();
    let (first, last) = (reads[0], *reads.last().unwrap());
    let slack = Duration::from_millis(if common::under_memcheck() { 50 } else { 5 });
    assert!(
        last < first + Duration::from_secs(1) + slack,
        "a read started {:?} after the first, past the 1 s deadline",
        last - first
    );
}

#[test]
fn a_cancel_from_another_thread_stops_the_next_callback_and_every_later_call() {
    quiet();
    let (reader, reads) = trickle(188, Duration::from_millis(2));
    let mut demuxer = Demuxer::from_reader(reader).unwrap();
    let cancel = demuxer.cancel_handle();
    let cancelled_at = Arc::new(OnceLock::new());
    let at = cancelled_at.clone();
    let canceller = thread::spawn(move || {
        thread::sleep(Duration::from_millis(100));
        // Cancelled first, then stamped: only a read whose check ran before the cancel can
        // start after the stamp.
        cancel.cancel();
        at.set(Instant::now()).unwrap();
    });
    let err = loop {
        match demuxer.read_packet() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("read to the end despite the cancel"),
            Err(e) => break e,
        }
    };
    canceller.join().unwrap();
    assert!(matches!(err, Error::Cancelled { .. }), "{err:?}");
    let at = *cancelled_at.get().unwrap();
    let after = reads.lock().unwrap().iter().filter(|&&t| t > at).count();
    assert!(after <= 1, "{after} reads started after the cancel");
    let count = reads.lock().unwrap().len();
    for _ in 0..3 {
        assert!(matches!(
            demuxer.read_packet(),
            Err(Error::Cancelled { .. })
        ));
    }
    assert!(matches!(
        demuxer.seek(Duration::ZERO),
        Err(Error::Cancelled { .. })
    ));
    assert_eq!(reads.lock().unwrap().len(), count, "the reader ran again");
    assert!(demuxer.cancel_handle().is_cancelled());
}

/// Cancels its own demuxer once it has handed out `after` bytes: during stream discovery.
struct CancelsItself {
    inner: io::Cursor<Vec<u8>>,
    after: u64,
    handle: Arc<OnceLock<CancelHandle>>,
}

impl Read for CancelsItself {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.inner.position() >= self.after {
            self.handle.get().unwrap().cancel();
        }
        let len = buf.len().min(1000);
        self.inner.read(&mut buf[..len])
    }
}

#[test]
fn stream_discovery_cannot_swallow_a_cancel() {
    quiet();
    let data = fixture_bytes("h264_aac.ts");
    let handle = Arc::new(OnceLock::new());
    let reader = CancelsItself {
        inner: io::Cursor::new(data),
        after: 20_000,
        handle: handle.clone(),
    };
    let io = CustomIo::reader(reader).unwrap();
    handle.set(io.cancel_handle()).unwrap();
    let err = Demuxer::open(io).unwrap_err();
    assert!(matches!(err, Error::Cancelled { .. }), "{err:?}");
}

/// A writer that counts its calls.
#[derive(Debug, Default)]
struct Counting {
    calls: usize,
    bytes: Vec<u8>,
}

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.calls += 1;
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_cancelled_muxer_writes_nothing_more_and_gives_its_writer_back() {
    quiet();
    let input = fixture_bytes("h264_aac.mp4");
    let mut demuxer = Demuxer::from_slice(&input).unwrap();
    let io = CustomIo::builder()
        .flush_packets(true)
        .writer(Counting::default())
        .unwrap();
    let mut muxer = ffio::Muxer::new(io, "mpegts").unwrap();
    let mut time_bases = Vec::new();
    for stream in demuxer.streams() {
        muxer.add_stream_from(&stream).unwrap();
        time_bases.push(stream.time_base());
    }
    muxer.write_header(&[]).unwrap();
    let mut packets = 0;
    let err = loop {
        let Some(mut packet) = demuxer.read_packet().unwrap() else {
            panic!("all packets written despite the cancel");
        };
        packets += 1;
        if packets == 20 {
            muxer.cancel_handle().cancel();
        }
        let tb = time_bases[packet.stream_index()];
        if let Err(e) = muxer.write_packet(&mut packet, tb) {
            break e;
        }
    };
    assert!(matches!(err, Error::Cancelled { .. }), "{err:?}");
    assert_eq!(packets, 20);
    let calls = muxer.get_ref().calls;
    let (err, writer) = muxer.finish().unwrap_err().into_parts();
    assert!(matches!(err, Error::Cancelled { .. }), "{err:?}");
    assert_eq!(writer.calls, calls, "finish wrote after the cancel");
}

#[test]
fn a_deadline_can_be_set_and_lifted_later() {
    quiet();
    let data = fixture_bytes("h264_aac.mp4");
    let mut demuxer = Demuxer::from_slice(&data).unwrap();
    let handle = demuxer.cancel_handle();
    handle.set_deadline(Some(Instant::now() + Duration::from_secs(3600)));
    assert!(demuxer.read_packet().unwrap().is_some());
    handle.set_deadline(Some(Instant::now()));
    assert!(matches!(
        demuxer.read_packet(),
        Err(Error::DeadlineExceeded { .. })
    ));
    handle.set_deadline(None);
    assert!(demuxer.read_packet().unwrap().is_some(), "lifted");
}
