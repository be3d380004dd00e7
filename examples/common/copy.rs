//! Copying every packet of a demuxer into a muxer (`-c copy`), shared by the programs
//! that remux (examples/remux, benches/remux_direct).

use ffio::{Demuxer, Muxer, Packet};

/// Adds every stream of `demuxer` to `muxer`, writes the header with `options`, copies
/// every packet (rescaled from its stream's time base) and finishes the muxer.
pub fn copy_all<W, R>(
    demuxer: &mut Demuxer<R>,
    mut muxer: Muxer<W>,
    options: &[(&str, &str)],
) -> ffio::Result<W> {
    let time_bases: Vec<ffio::Rational> = demuxer.streams().map(|s| s.time_base()).collect();
    for stream in demuxer.streams() {
        muxer.add_stream_from(&stream)?;
    }
    muxer.write_header(options)?;
    let mut packet = Packet::new();
    while demuxer.read_packet_into(&mut packet)? {
        let time_base = time_bases[packet.stream_index()];
        muxer.write_packet(&mut packet, time_base)?;
    }
    Ok(muxer.finish()?)
}
