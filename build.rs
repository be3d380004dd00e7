//! Turns the FFmpeg version that ffmpeg-sys-next detected into cfg flags.
//!
//! ffmpeg-sys-next (`links = "ffmpeg"`) prints `cargo:ffmpeg_X_Y=true` for every FFmpeg
//! release the installed libraries are at least as new as; Cargo hands those to us as
//! `DEP_FFMPEG_FFMPEG_X_Y`. The differences we need:
//! * `ffio_ffmpeg_7`: since FFmpeg 7.0 (libavformat 61) `write_packet` takes a
//!   `const uint8_t *` buffer;
//! * `ffio_ffmpeg_6_1`: since FFmpeg 6.1 stream side data (the display matrix) lives in
//!   `AVCodecParameters.coded_side_data` (`AVStream.side_data` is gone in 7.0).

fn main() {
    println!("cargo:rustc-check-cfg=cfg(ffio_ffmpeg_7)");
    println!("cargo:rerun-if-env-changed=DEP_FFMPEG_FFMPEG_7_0");
    let ffmpeg_7 = std::env::var("DEP_FFMPEG_FFMPEG_7_0")
        .map(|v| v == "true")
        .unwrap_or(false);
    if ffmpeg_7 {
        println!("cargo:rustc-cfg=ffio_ffmpeg_7");
    }
    println!("cargo:rustc-check-cfg=cfg(ffio_ffmpeg_6_1)");
    println!("cargo:rerun-if-env-changed=DEP_FFMPEG_FFMPEG_6_1");
    if std::env::var("DEP_FFMPEG_FFMPEG_6_1").is_ok_and(|v| v == "true") {
        println!("cargo:rustc-cfg=ffio_ffmpeg_6_1");
    }
}
