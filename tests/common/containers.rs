//! Container structure, parsed here by hand (independently of ffio and FFmpeg): MP4
//! top-level boxes and Matroska's EBML elements, to check where output is cut.

/// The top-level MP4 boxes of `data` as (type, end offset), or `None` if `data` does not
/// end exactly at a box boundary.
pub fn mp4_boxes(data: &[u8]) -> Option<Vec<(String, usize)>> {
    let mut boxes = Vec::new();
    let mut pos = 0usize;
    while pos < data.len() {
        let head = data.get(pos..pos + 8)?;
        let mut size = u32::from_be_bytes(head[..4].try_into().unwrap()) as usize;
        if size == 1 {
            size = u64::from_be_bytes(data.get(pos + 8..pos + 16)?.try_into().unwrap()) as usize;
        }
        if size < 8 {
            return None;
        }
        pos = pos.checked_add(size)?;
        boxes.push((String::from_utf8_lossy(&head[4..8]).into_owned(), pos));
    }
    (pos == data.len()).then_some(boxes)
}

/// Matroska's Segment element ID.
pub const SEGMENT: u32 = 0x1853_8067;
/// Matroska's Cluster element ID.
pub const CLUSTER: u32 = 0x1F43_B675;
/// The EBML header's element ID.
pub const EBML: u32 = 0x1A45_DFA3;

/// An EBML variable-length integer at `data[pos..]`: (value, length). IDs keep their
/// length marker bits, sizes do not; a size of all ones is "unknown" (`None`).
fn vint(data: &[u8], pos: usize, id: bool) -> Option<(Option<u64>, usize)> {
    let first = *data.get(pos)?;
    let len = first.leading_zeros() as usize + 1;
    if len > 8 {
        return None;
    }
    let bytes = data.get(pos..pos + len)?;
    let marker_mask = if id {
        0xFF
    } else {
        0xFFu8.checked_shr(len as u32).unwrap_or(0)
    };
    let value = bytes[1..]
        .iter()
        .fold(u64::from(first & marker_mask), |v, &b| {
            v << 8 | u64::from(b)
        });
    let all_ones = !id && value == (1u64 << (7 * len)) - 1;
    Some(((!all_ones).then_some(value), len))
}

/// The elements of a Matroska/WebM file at the top level and directly inside the Segment,
/// as (ID, start offset, end offset), in order; the Segment itself (whose size a live
/// muxer leaves unknown) is not listed. `None` if an element is cut short or has an
/// unknown size other than the Segment's.
pub fn matroska_elements(data: &[u8]) -> Option<Vec<(u32, usize, usize)>> {
    let mut elements = Vec::new();
    let mut pos = 0usize;
    while pos < data.len() {
        let (id, id_len) = vint(data, pos, true)?;
        let id = u32::try_from(id?).ok()?;
        let (size, size_len) = vint(data, pos + id_len, false)?;
        let body = pos + id_len + size_len;
        if id == SEGMENT {
            pos = body; // its children follow, whatever its size says
            continue;
        }
        let end = body.checked_add(usize::try_from(size?).ok()?)?;
        if end > data.len() {
            return None;
        }
        elements.push((id, pos, end));
        pos = end;
    }
    Some(elements)
}
