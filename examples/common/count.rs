//! Counting a demuxer's packets per stream, shared by count_frames and probe.

use ffio::{Demuxer, Packet};

/// Reads every packet and counts them per stream index (streams that appear while reading,
/// as in MPEG-TS, get their own count). Errors come as one line with their source chain.
pub fn count_packets<R>(demuxer: &mut Demuxer<R>) -> Result<Vec<u64>, String> {
    let mut packets = vec![0u64; demuxer.stream_count()];
    let mut packet = Packet::new();
    while demuxer
        .read_packet_into(&mut packet)
        .map_err(|e| e.chain())?
    {
        let index = packet.stream_index();
        if index >= packets.len() {
            // A stream that appeared while reading (MPEG-TS can do that).
            packets.resize(index + 1, 0);
        }
        packets[index] += 1;
    }
    Ok(packets)
}
