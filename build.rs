//! Turns the FFmpeg version that ffmpeg-sys-next detected into cfg flags, and sets the
//! link order.
//!
//! ffmpeg-sys-next (`links = "ffmpeg"`) prints `cargo:ffmpeg_X_Y=true` for every FFmpeg
//! release the installed libraries are at least as new as; Cargo hands those to us as
//! `DEP_FFMPEG_FFMPEG_X_Y`. The differences we need:
//! * `ffio_ffmpeg_7`: since FFmpeg 7.0 (libavformat 61) `write_packet` takes a
//!   `const uint8_t *` buffer;
//! * `ffio_ffmpeg_6_1`: since FFmpeg 6.1 stream side data (the display matrix) lives in
//!   `AVCodecParameters.coded_side_data` (`AVStream.side_data` is gone in 7.0).
//!
//! It also links libavformat, libavcodec and libavutil in that order (dependents first, as
//! C programs do), which makes every process start faster: see `main`.

fn main() {
    println!("cargo:rustc-check-cfg=cfg(ffio_ffmpeg_7)");
    println!("cargo:rerun-if-env-changed=DEP_FFMPEG_FFMPEG_7_0");
    let ffmpeg_7 = std::env::var("DEP_FFMPEG_FFMPEG_7_0")
        .map(|v| v == "true")
        .unwrap_or(false);
    if ffmpeg_7 {
        println!("cargo:rustc-cfg=ffio_ffmpeg_7");
    }
    // Set by scripts/bench-probe.sh only (RUSTFLAGS), to measure the log capture.
    println!("cargo:rustc-check-cfg=cfg(ffio_no_capture)");
    println!("cargo:rustc-check-cfg=cfg(ffio_ffmpeg_6_1)");
    println!("cargo:rerun-if-env-changed=DEP_FFMPEG_FFMPEG_6_1");
    if std::env::var("DEP_FFMPEG_FFMPEG_6_1").is_ok_and(|v| v == "true") {
        println!("cargo:rustc-cfg=ffio_ffmpeg_6_1");
    }
    // Dependents first, as C programs link them: binaries then list them in this order in
    // their NEEDED entries, the order in which the dynamic loader searches every symbol of
    // the ~130 libraries Debian's FFmpeg pulls in. ffmpeg-sys-next prints avutil first;
    // its lines come later on the link line and add nothing. Measured with callgrind on
    // `count_frames` (built-in sample): 102.47 M -> 98.54 M instructions per run.
    for lib in ["avformat", "avcodec", "avutil"] {
        println!("cargo:rustc-link-lib=dylib={lib}");
    }
}
