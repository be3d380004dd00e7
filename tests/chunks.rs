//! Marker-aware output (src/chunks.rs): whole, labelled chunks for live relays, and writes
//! aligned to 1316 bytes. Every chunk is checked against the container's own structure
//! (MP4 boxes, Matroska elements, 188-byte TS packets), and the concatenation against the
//! same muxer's batched output.

mod common;

use std::cell::{Cell, RefCell};
use std::io::{self, Write};
use std::rc::Rc;

use common::{assert_same_bytes, fixture_bytes, quiet};
use ffio::{Chunk, ChunkKind, CustomIo, Demuxer, Error, Muxer, Packet, Rational};

#[derive(Clone, Debug)]
struct Got {
    kind: ChunkKind,
    data: Vec<u8>,
    /// How many packets had been handed to write_packet when the chunk arrived.
    after_packets: usize,
}

/// Remuxes `streams` of h264_aac.mp4 into `format`; `write` feeds one packet (counting it
/// in `count`). Returns the packets' key flags in writing order.
fn remux_into<W>(
    mut muxer: Muxer<W>,
    streams: &[usize],
    options: &[(&str, &str)],
    count: &Cell<usize>,
) -> (Muxer<W>, Vec<bool>) {
    let input = fixture_bytes("h264_aac.mp4");
    let mut demuxer = Demuxer::from_slice(&input).unwrap();
    let mut time_bases = Vec::new();
    for &i in streams {
        let stream = demuxer.stream(i).unwrap();
        muxer.add_stream_from(&stream).unwrap();
        time_bases.push(stream.time_base());
    }
    muxer.write_header(options).unwrap();
    let mut keys = Vec::new();
    let mut packet = Packet::new();
    while demuxer.read_packet_into(&mut packet).unwrap() {
        let Some(out) = streams.iter().position(|&s| s == packet.stream_index()) else {
            continue;
        };
        keys.push(packet.is_key());
        packet.set_stream_index(out);
        count.set(count.get() + 1);
        muxer.write_packet(&mut packet, time_bases[out]).unwrap();
    }
    (muxer, keys)
}

/// The chunks a chunk writer receives, and the same muxer's batched output.
fn chunks_and_batched(
    format: &str,
    streams: &[usize],
    options: &[(&str, &str)],
) -> (Vec<Got>, Vec<u8>, Vec<bool>) {
    let got = Rc::new(RefCell::new(Vec::new()));
    let count = Rc::new(Cell::new(0));
    let (sink, counter) = (got.clone(), count.clone());
    let writer = move |chunk: Chunk<'_>| {
        sink.borrow_mut().push(Got {
            kind: chunk.kind,
            data: chunk.data.to_vec(),
            after_packets: counter.get(),
        });
        Ok(())
    };
    let muxer = Muxer::to_chunk_writer(writer, format).unwrap();
    let (muxer, keys) = remux_into(muxer, streams, options, &count);
    drop(muxer.finish().unwrap());
    let plain = Cell::new(0);
    let (muxer, _) = remux_into(
        Muxer::to_writer(Vec::new(), format).unwrap(),
        streams,
        options,
        &plain,
    );
    let batched = muxer.finish().unwrap();
    let chunks = got.borrow().clone();
    (chunks, batched, keys)
}

fn concat(chunks: &[Got]) -> Vec<u8> {
    chunks.iter().flat_map(|c| c.data.iter().copied()).collect()
}

/// The top-level MP4 boxes of `data`, or `None` if it does not end at a box boundary.
fn mp4_boxes(data: &[u8]) -> Option<Vec<String>> {
    common::containers::mp4_boxes(data).map(|b| b.into_iter().map(|(name, _)| name).collect())
}

#[test]
fn fragmented_mp4_arrives_one_whole_box_sequence_per_chunk() {
    quiet();
    for flags in [
        "frag_keyframe+empty_moov",
        "frag_keyframe+empty_moov+default_base_moof",
        "frag_every_frame+empty_moov",
    ] {
        let (chunks, batched, _) = chunks_and_batched("mp4", &[0, 1], &[("movflags", flags)]);
        assert_same_bytes(flags, &concat(&chunks), &batched);
        let boxes: Vec<Vec<String>> = chunks
            .iter()
            .map(|c| mp4_boxes(&c.data).unwrap_or_else(|| panic!("{flags}: cut inside a box")))
            .collect();
        assert_eq!(chunks[0].kind, ChunkKind::Header, "{flags}");
        assert_eq!(boxes[0], ["ftyp", "moov"], "{flags}: the init segment");
        let fragments = &chunks[1..];
        assert!(
            fragments.len() >= 2,
            "{flags}: {} fragments",
            fragments.len()
        );
        assert_eq!(fragments[0].kind, ChunkKind::SyncPoint, "{flags}");
        for (c, b) in fragments.iter().zip(&boxes[1..]) {
            match c.kind {
                // Fragments that start at a keyframe are sync points, others (with
                // frag_every_frame) boundary points.
                ChunkKind::SyncPoint | ChunkKind::BoundaryPoint => {
                    assert_eq!(b, &["moof", "mdat"], "{flags}")
                }
                ChunkKind::Trailer => assert_eq!(b, &["mfra"], "{flags}"),
                other => panic!("{flags}: a {other} chunk {b:?}"),
            }
        }
    }
}

#[test]
fn a_fragment_arrives_before_the_next_fragment_is_written() {
    quiet();
    // One stream, so interleaving holds nothing back: every frame its own fragment,
    // written (and so sent) when the next frame arrives.
    let (chunks, _, keys) =
        chunks_and_batched("mp4", &[0], &[("movflags", "frag_every_frame+empty_moov")]);
    let fragments: Vec<&Got> = chunks
        .iter()
        .filter(|c| c.kind == ChunkKind::SyncPoint || c.kind == ChunkKind::BoundaryPoint)
        .collect();
    assert_eq!(fragments.len(), keys.len(), "one fragment per frame");
    for (i, f) in fragments.iter().enumerate() {
        // By the end of the write_packet of packet i + 1 (then i + 2 packets were given).
        assert!(
            f.after_packets <= i + 2,
            "fragment {i} came after {} packets",
            f.after_packets
        );
    }
    // Fragments at keyframes: fragment k is sent during the write_packet of the keyframe
    // that starts fragment k + 1.
    let (chunks, _, keys) =
        chunks_and_batched("mp4", &[0], &[("movflags", "frag_keyframe+empty_moov")]);
    let starts: Vec<usize> = (0..keys.len()).filter(|&i| keys[i]).collect();
    let fragments: Vec<&Got> = chunks
        .iter()
        .filter(|c| c.kind == ChunkKind::SyncPoint)
        .collect();
    assert_eq!(fragments.len(), starts.len(), "{starts:?}");
    for (k, f) in fragments.iter().enumerate() {
        let deadline = starts.get(k + 1).map_or(keys.len(), |&next| next + 1);
        assert!(
            f.after_packets <= deadline,
            "fragment {k} came after packet {} (next fragment starts at {deadline})",
            f.after_packets
        );
    }
}

/// Reads an EBML element ID at the start of `data`.
fn ebml_id(data: &[u8]) -> u32 {
    let len = data[0].leading_zeros() as usize + 1;
    data[..len]
        .iter()
        .fold(0u32, |id, &b| id << 8 | u32::from(b))
}

#[test]
fn live_matroska_arrives_one_cluster_per_chunk() {
    quiet();
    use common::containers::{CLUSTER, EBML};
    // bitexact: otherwise every run writes a new random SegmentUID.
    let options = [("live", "1"), ("fflags", "+bitexact")];
    let (chunks, batched, _) = chunks_and_batched("matroska", &[0, 1], &options);
    assert_same_bytes("matroska", &concat(&chunks), &batched);
    assert_eq!(chunks[0].kind, ChunkKind::Header);
    assert_eq!(ebml_id(&chunks[0].data), EBML);
    assert!(chunks.len() >= 3, "{} chunks", chunks.len());
    for (i, c) in chunks.iter().enumerate().skip(1) {
        // Every chunk after the header starts with a cluster. (FFmpeg 5.1's matroskaenc
        // marks sync points only for a cluster at offset 0, so the kind is not asserted
        // here beyond "not a header".)
        assert_eq!(ebml_id(&c.data), CLUSTER, "chunk {i} ({})", c.kind);
        assert_ne!(c.kind, ChunkKind::Header, "chunk {i}");
    }
}

#[test]
fn mpegts_arrives_in_whole_188_byte_packets() {
    quiet();
    let (chunks, batched, _) = chunks_and_batched("mpegts", &[0, 1], &[]);
    assert_same_bytes("mpegts", &concat(&chunks), &batched);
    assert!(chunks.len() > 10);
    for c in &chunks {
        assert_eq!(c.data.len() % 188, 0, "a {}-byte chunk", c.data.len());
        assert!(c.data.chunks(188).all(|p| p[0] == 0x47), "sync byte");
    }
}

#[test]
fn flush_fragment_sends_a_custom_fragment_at_once() {
    quiet();
    let got = Rc::new(RefCell::new(Vec::new()));
    let sink = got.clone();
    let writer = move |chunk: Chunk<'_>| {
        sink.borrow_mut().push((chunk.kind, chunk.data.to_vec()));
        Ok(())
    };
    let input = fixture_bytes("h264_aac.mp4");
    let mut demuxer = Demuxer::from_slice(&input).unwrap();
    let mut muxer = Muxer::to_chunk_writer(writer, "mp4").unwrap();
    let video = demuxer.stream(0).unwrap();
    let tb = video.time_base();
    muxer.add_stream_from(&video).unwrap();
    muxer
        .write_header(&[("movflags", "frag_custom+empty_moov")])
        .unwrap();
    demuxer.keep_streams(&[0]).unwrap();
    let mut written = 0;
    while written < 10 {
        let mut packet = demuxer.read_packet().unwrap().unwrap();
        if packet.stream_index() == 0 {
            muxer.write_packet(&mut packet, tb).unwrap();
            written += 1;
        }
    }
    let fragments = |got: &[(ChunkKind, Vec<u8>)]| {
        got.iter()
            .filter(|(k, _)| matches!(k, ChunkKind::SyncPoint | ChunkKind::BoundaryPoint))
            .count()
    };
    assert_eq!(
        fragments(&got.borrow()),
        0,
        "frag_custom: nothing before the flush"
    );
    muxer.flush_fragment().unwrap();
    let after = got.borrow().clone();
    assert_eq!(fragments(&after), 1, "one fragment per flush");
    // The init segment (its moov is written with the first fragment) came first.
    assert_eq!(after[0].0, ChunkKind::Header);
    let (kind, data) = after.last().unwrap();
    assert!(matches!(
        kind,
        ChunkKind::SyncPoint | ChunkKind::BoundaryPoint
    ));
    assert_eq!(mp4_boxes(data).unwrap(), ["moof", "mdat"]);
    drop(muxer.finish().unwrap());
}

/// Records the size of every write.
#[derive(Debug, Default)]
struct Sizes {
    sizes: Vec<usize>,
    data: Vec<u8>,
    fail_after: Option<usize>,
}

impl Write for Sizes {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.fail_after.is_some_and(|n| self.sizes.len() >= n) {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "receiver gone"));
        }
        self.sizes.push(buf.len());
        self.data.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn ts_through(io: CustomIo<Sizes>) -> Result<Sizes, Error> {
    let count = Cell::new(0);
    let muxer = Muxer::new(io, "mpegts")?;
    let input = fixture_bytes("h264_aac.mp4");
    let mut demuxer = Demuxer::from_slice(&input)?;
    let mut muxer = muxer;
    let mut time_bases = Vec::new();
    for stream in demuxer.streams() {
        muxer.add_stream_from(&stream)?;
        time_bases.push(stream.time_base());
    }
    muxer.write_header(&[])?;
    while let Some(mut packet) = demuxer.read_packet()? {
        count.set(count.get() + 1);
        let tb: Rational = time_bases[packet.stream_index()];
        muxer.write_packet(&mut packet, tb)?;
    }
    Ok(muxer.finish()?)
}

#[test]
fn aligned_writes_are_multiples_of_1316_but_the_last() {
    quiet();
    let plain = ts_through(CustomIo::writer(Sizes::default()).unwrap()).unwrap();
    for flush in [false, true] {
        let io = CustomIo::builder()
            .flush_packets(flush)
            .align_writes(1316)
            .writer(Sizes::default())
            .unwrap();
        let aligned = ts_through(io).unwrap();
        assert_same_bytes("aligned", &aligned.data, &plain.data);
        let (last, rest) = aligned.sizes.split_last().unwrap();
        assert!(rest.iter().all(|n| n % 1316 == 0), "{:?}", aligned.sizes);
        assert!(*last > 0 && *last <= plain.data.len());
        if flush {
            assert!(aligned.sizes.len() > 10, "one write per packet or so");
        }
    }
    // A receiver that goes away mid-stream: its own error.
    let io = CustomIo::builder()
        .flush_packets(true)
        .align_writes(1316)
        .writer(Sizes {
            fail_after: Some(5),
            ..Sizes::default()
        })
        .unwrap();
    let err = ts_through(io).unwrap_err();
    assert_eq!(
        err.io_error().map(io::Error::kind),
        Some(io::ErrorKind::BrokenPipe)
    );
    // Alignment is for plain writers only.
    assert!(CustomIo::builder()
        .align_writes(1316)
        .seekable_writer(io::Cursor::new(Vec::new()))
        .is_err());
    assert!(CustomIo::builder()
        .align_writes(0)
        .writer(Vec::new())
        .is_err());
}

#[test]
fn a_failing_chunk_writer_gives_its_own_error() {
    quiet();
    let mut calls = 0;
    let writer = move |_: Chunk<'_>| {
        calls += 1;
        if calls == 3 {
            Err(io::Error::new(io::ErrorKind::ConnectionReset, "peer reset"))
        } else {
            Ok(())
        }
    };
    let input = fixture_bytes("h264_aac.mp4");
    let mut demuxer = Demuxer::from_slice(&input).unwrap();
    let mut muxer = Muxer::to_chunk_writer(writer, "mpegts").unwrap();
    let mut time_bases = Vec::new();
    for stream in demuxer.streams() {
        muxer.add_stream_from(&stream).unwrap();
        time_bases.push(stream.time_base());
    }
    muxer.write_header(&[]).unwrap();
    let err = loop {
        let mut packet = demuxer
            .read_packet()
            .unwrap()
            .expect("fails before the end");
        let tb = time_bases[packet.stream_index()];
        if let Err(e) = muxer.write_packet(&mut packet, tb) {
            break e;
        }
    };
    assert_eq!(
        err.io_error().map(|e| e.to_string()),
        Some("peer reset".into())
    );
    let mut packet = demuxer.read_packet().unwrap().unwrap();
    assert!(matches!(
        muxer.write_packet(&mut packet, time_bases[0]),
        Err(Error::Failed { .. })
    ));
}

#[test]
fn batched_fragmented_mp4_keeps_every_box_whole() {
    quiet();
    // movenc patches each moof's sizes by seeking back inside FFmpeg's buffer. Batches
    // much smaller than the output make many moofs straddle a batch boundary; each must
    // still come out whole, the same bytes as the chunk writer's. (The buffer must hold
    // the largest box FFmpeg patches, here the 1.2 kB moov, as in FFmpeg itself.)
    let flags = [("movflags", "frag_every_frame+empty_moov")];
    let (chunks, _, _) = chunks_and_batched("mp4", &[0, 1], &flags);
    let whole = concat(&chunks);
    for size in [2048, 4096, 8192] {
        let io = CustomIo::builder()
            .buffer_size(size)
            .writer(Vec::new())
            .unwrap();
        let muxer = Muxer::new(io, "mp4").unwrap();
        let (muxer, _) = remux_into(muxer, &[0, 1], &flags, &Cell::new(0));
        let batched = muxer.finish().unwrap();
        assert!(
            batched.len() > 10 * size,
            "{size}: {} bytes, not enough batches",
            batched.len()
        );
        let boxes = mp4_boxes(&batched)
            .unwrap_or_else(|| panic!("{size}-byte batches: a box size is wrong"));
        assert!(boxes.iter().filter(|b| *b == "moof").count() > 50, "{size}");
        assert_same_bytes(&format!("{size}-byte batches"), &batched, &whole);
    }
}
