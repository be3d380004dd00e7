//! Turns the FFmpeg version that ffmpeg-sys-next detected into cfg flags.
//!
//! ffmpeg-sys-next (`links = "ffmpeg"`) prints `cargo:ffmpeg_X_Y=true` for every FFmpeg
//! release the installed libraries are at least as new as; Cargo hands those to us as
//! `DEP_FFMPEG_FFMPEG_X_Y`. We only need one difference today: since FFmpeg 7.0
//! (libavformat 61) `write_packet` takes a `const uint8_t *` buffer.

fn main() {
    println!("cargo:rustc-check-cfg=cfg(ffio_ffmpeg_7)");
    println!("cargo:rerun-if-env-changed=DEP_FFMPEG_FFMPEG_7_0");
    let ffmpeg_7 = std::env::var("DEP_FFMPEG_FFMPEG_7_0")
        .map(|v| v == "true")
        .unwrap_or(false);
    if ffmpeg_7 {
        println!("cargo:rustc-cfg=ffio_ffmpeg_7");
    }
}
