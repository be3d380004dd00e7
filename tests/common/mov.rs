//! MP4 files with an external data reference (a QuickTime `alis` entry in a track's
//! `dref`), built by hand from tests/data/h264_aac.mp4: the ffmpeg CLI cannot write one.

use super::fixture_bytes;

/// (offset, size, type) of the boxes in `data[start..end]` (32-bit sizes only).
pub fn boxes(data: &[u8], start: usize, end: usize) -> Vec<(usize, usize, [u8; 4])> {
    let mut out = Vec::new();
    let mut at = start;
    while at + 8 <= end {
        let size = u32::from_be_bytes(data[at..at + 4].try_into().expect("4 bytes")) as usize;
        let kind: [u8; 4] = data[at + 4..at + 8].try_into().expect("4 bytes");
        assert!(
            size >= 8 && at + size <= end,
            "box {:?} at {at} has a size ({size}) this helper does not handle",
            String::from_utf8_lossy(&kind)
        );
        out.push((at, size, kind));
        at += size;
    }
    out
}

/// A QuickTime alias record (`alis` data reference entry) as FFmpeg 5.1's `mov_read_dref`
/// reads it: 150 bytes of fixed fields, then (type, length, value) records; type 2 is the
/// absolute path, with ':' as separator and the volume name first.
pub fn alis_entry(volume: &str, file_name: &str, path: &str, nlvl: u16) -> Vec<u8> {
    fn padded(out: &mut Vec<u8>, text: &str, width: usize) {
        out.push(text.len() as u8);
        let mut field = text.as_bytes().to_vec();
        field.resize(width, 0);
        out.extend_from_slice(&field);
    }
    let mut body = vec![0u8; 10];
    padded(&mut body, volume, 27);
    body.extend_from_slice(&[0; 12]);
    padded(&mut body, file_name, 63);
    body.extend_from_slice(&[0; 16]);
    body.extend_from_slice(&nlvl.to_be_bytes()); // nlvl_from
    body.extend_from_slice(&nlvl.to_be_bytes()); // nlvl_to
    body.extend_from_slice(&[0; 16]);
    assert_eq!(body.len(), 150);
    let mut value = path.as_bytes().to_vec();
    if value.len() % 2 == 1 {
        value.push(0);
    }
    body.extend_from_slice(&2u16.to_be_bytes());
    body.extend_from_slice(&(path.len() as u16).to_be_bytes());
    body.extend_from_slice(&value);
    body.extend_from_slice(&0xffffu16.to_be_bytes()); // end of records
    body.extend_from_slice(&0u16.to_be_bytes());
    let mut entry = Vec::new();
    entry.extend_from_slice(&((12 + body.len()) as u32).to_be_bytes());
    entry.extend_from_slice(b"alis");
    entry.extend_from_slice(&0u32.to_be_bytes()); // version, flags: not self-contained
    entry.extend_from_slice(&body);
    entry
}

/// h264_aac.mp4 with the single entry of its first track's `dref` replaced by `entry`. The
/// fixture's `moov` follows `mdat`, so growing it moves no sample.
pub fn mov_with_dref_entry(entry: &[u8]) -> Vec<u8> {
    let data = fixture_bytes("h264_aac.mp4");
    let find = |start: usize, end: usize, kind: &[u8; 4]| {
        boxes(&data, start, end)
            .into_iter()
            .find(|b| &b.2 == kind)
            .unwrap_or_else(|| panic!("h264_aac.mp4: no {:?} box", String::from_utf8_lossy(kind)))
    };
    let moov = find(0, data.len(), b"moov");
    let mdat = find(0, data.len(), b"mdat");
    assert!(
        moov.0 > mdat.0,
        "h264_aac.mp4 was expected to have moov after mdat"
    );
    let mut path = vec![moov];
    for kind in [b"trak", b"mdia", b"minf", b"dinf", b"dref"] {
        let (at, size, _) = *path.last().expect("non-empty");
        path.push(find(at + 8, at + size, kind));
    }
    let dref = *path.last().expect("dref");
    // dref: header (8), version/flags (4), entry count (4), then the entries.
    let count = u32::from_be_bytes(data[dref.0 + 12..dref.0 + 16].try_into().expect("4 bytes"));
    assert_eq!(count, 1, "h264_aac.mp4: expected one dref entry");
    let old = boxes(&data, dref.0 + 16, dref.0 + dref.1);
    assert_eq!(old.len(), 1);
    let (old_at, old_size, _) = old[0];
    let growth = entry.len() - old_size;
    let mut out = data[..old_at].to_vec();
    out.extend_from_slice(entry);
    out.extend_from_slice(&data[old_at + old_size..]);
    for (at, size, _) in path {
        let new = u32::try_from(size + growth).expect("small boxes");
        out[at..at + 4].copy_from_slice(&new.to_be_bytes());
    }
    out
}
