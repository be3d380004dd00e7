//! Demuxes a playlist (HLS, a concat list, a DASH manifest, or any input: a MOV file whose
//! data references name other files) whose further files come from an in-memory opener.
//!
//! Input layout: the main input, then any number of files, each introduced by the line
//! `\n%%NAME\n` (a newline, `%%`, the file's name, a newline) and running to the next
//! such line or the end:
//!
//! ```text
//! #EXTM3U
//! #EXT-X-TARGETDURATION:2
//! #EXTINF:2,
//! seg0.ts
//! #EXT-X-ENDLIST
//! %%seg0.ts
//! <MPEG-TS bytes>
//! ```
//!
//! The opener serves those files by exact name (and the main input under the name ffio
//! gives it, for playlist reloads) and fails every other name with `NotFound`. Checks:
//! no crash, no hang, no panic; the opener is only ever asked to read; every
//! `Error::Io` is one of the opener's refusals or ffio's refusal of a name that is not
//! UTF-8 (the in-memory streams never fail); and
//! after the demuxer is dropped no stream it opened is still alive.
#![no_main]

use std::collections::HashMap;
use std::io::{self, Cursor};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;

mod common;
use common::{feature, run_script, ErrClass, Outcome};

/// The separator before each further file's name.
const SEPARATOR: &[u8] = b"\n%%";
/// At most this many further files (the rest of the input stays in the last one).
const MAX_FILES: usize = 16;
/// The name ffio gives an input opened with an opener (`AVFormatContext.url`); the hls
/// demuxer re-reads a live playlist under it.
const MAIN_NAME: &str = "ffio-input.m3u8";
/// What the opener answers for a name it does not hold.
const REFUSAL: &str = "not in the fuzz store: ";

/// Splits the input into the main input and named files.
fn split(data: &[u8]) -> (&[u8], Vec<(String, &[u8])>) {
    let mut cuts = Vec::new();
    let mut at = 0;
    while cuts.len() < MAX_FILES {
        match data[at..]
            .windows(SEPARATOR.len())
            .position(|w| w == SEPARATOR)
        {
            Some(i) => {
                cuts.push(at + i);
                at += i + SEPARATOR.len();
            }
            None => break,
        }
    }
    let main = &data[..cuts.first().copied().unwrap_or(data.len())];
    let mut files = Vec::new();
    for (n, &cut) in cuts.iter().enumerate() {
        let start = cut + SEPARATOR.len();
        let end = cuts.get(n + 1).copied().unwrap_or(data.len());
        let chunk = &data[start..end.max(start)];
        let (name, body) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (&chunk[..i], &chunk[i + 1..]),
            None => (chunk, &chunk[chunk.len()..]),
        };
        files.push((String::from_utf8_lossy(name).into_owned(), body));
    }
    (main, files)
}

/// A stream the opener returned; counts itself alive until dropped.
struct Tracked {
    inner: Cursor<Vec<u8>>,
    alive: Arc<AtomicUsize>,
}

impl io::Read for Tracked {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}

impl io::Seek for Tracked {
    fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.alive.fetch_sub(1, Ordering::SeqCst);
    }
}

fuzz_target!(|data: &[u8]| {
    common::init();
    let (main, files) = split(data);
    let mut store: HashMap<String, Vec<u8>> = HashMap::new();
    store.insert(MAIN_NAME.to_owned(), main.to_vec());
    for (name, body) in &files {
        store.entry(name.clone()).or_insert_with(|| body.to_vec());
    }
    let alive = Arc::new(AtomicUsize::new(0));
    let asked = Arc::new(Mutex::new(Vec::<(String, ffio::OpenMode, bool)>::new()));
    let opener = {
        let (alive, asked) = (alive.clone(), asked.clone());
        move |name: &str, mode: ffio::OpenMode| -> io::Result<ffio::Opened> {
            let found = store.get(name);
            asked
                .lock()
                .unwrap()
                .push((name.to_owned(), mode, found.is_some()));
            match (mode, found) {
                (ffio::OpenMode::Read, Some(bytes)) => {
                    alive.fetch_add(1, Ordering::SeqCst);
                    Ok(ffio::Opened::seekable_reader(Tracked {
                        inner: Cursor::new(bytes.clone()),
                        alive: alive.clone(),
                    }))
                }
                _ => Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("{REFUSAL}{name}"),
                )),
            }
        }
    };
    let options = ffio::DemuxerOptions::new()
        .opener(opener)
        .option_for("mov", "enable_drefs", "1")
        // A live playlist is re-read every target duration: the deadline ends it.
        .timeout(Duration::from_millis(500));
    let records = run_script(
        || options.open(ffio::CustomIo::seekable_reader(Cursor::new(main))?),
        &|| 0,
    );
    drop(options);
    for r in &records {
        match &r.outcome {
            Outcome::Panicked(_) => panic!("{:?} in {:?}", r.outcome, r.phase),
            // ffio's own refusal of a name that is not UTF-8 is the one other Io error.
            Outcome::Err(ErrClass::Io { text, .. })
                if !text.starts_with(REFUSAL)
                    && !text.starts_with("FFmpeg asked to open a name that is not UTF-8") =>
            {
                panic!("Error::Io not from the opener: {text:?} in {:?}", r.phase)
            }
            _ => {}
        }
    }
    assert_eq!(
        alive.load(Ordering::SeqCst),
        0,
        "streams the opener returned outlive the demuxer"
    );
    let asked = asked.lock().unwrap();
    for (name, mode, found) in asked.iter() {
        assert_eq!(
            *mode,
            ffio::OpenMode::Read,
            "a demuxer asked to write {name:?}"
        );
        feature(("playlist-open", *found, name.len().min(64)));
    }
    feature(("playlist-opens", common::log2_bucket(asked.len() as u64)));
    feature(("playlist-files", files.len()));
    common::features("playlist", &records);
});
