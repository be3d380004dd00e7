//! Container and stream metadata: [`Tags`] (FFmpeg's `AVDictionary` of key/value
//! strings) and [`Disposition`] (a stream's role flags).

use std::borrow::Cow;
use std::ffi::CStr;
use std::fmt;
use std::marker::PhantomData;
use std::os::raw::c_int;
use std::ptr;

use ffmpeg_sys_next as ffi;

/// The metadata tags of a container or stream (`AVFormatContext.metadata`,
/// `AVStream.metadata`), in the order FFmpeg stores them, which is the order `ffprobe`
/// prints them in: `title`, `artist`, `language`, `encoder`, `handler_name`, …
///
/// Borrowed from the [`Demuxer`](crate::Demuxer): FFmpeg may update tags while it reads
/// packets, which takes `&mut` of the demuxer. Keys and values are FFmpeg's bytes; ones
/// that are not UTF-8 are converted lossily (U+FFFD).
///
/// ```
/// # fn main() -> Result<(), ffio::Error> {
/// # let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/id3_tags.mp3")).unwrap();
/// let demuxer = ffio::Demuxer::from_slice(&bytes)?;
/// assert_eq!(demuxer.tags().get("artist").as_deref(), Some("ffio"));
/// for (key, value) in demuxer.tags() {
///     println!("{key}: {value}");
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy)]
pub struct Tags<'a> {
    dict: *const ffi::AVDictionary,
    _owner: PhantomData<&'a ffi::AVDictionary>,
}

impl<'a> Tags<'a> {
    /// # Safety
    /// `dict` must be null (no tags) or a dictionary that stays valid and unchanged for `'a`.
    pub(crate) unsafe fn from_raw(dict: *const ffi::AVDictionary) -> Self {
        Tags {
            dict,
            _owner: PhantomData,
        }
    }

    /// The value of tag `key`, matched case-insensitively as FFmpeg matches keys
    /// (`av_dict_get`); the first one if there are several.
    pub fn get(&self, key: &str) -> Option<Cow<'a, str>> {
        let key = std::ffi::CString::new(key).ok()?;
        // SAFETY: `dict` is null or valid for `'a` (the constructor's contract); `key` is a
        // NUL-terminated string; a null `prev` asks for the first match.
        let entry = unsafe { ffi::av_dict_get(self.dict, key.as_ptr(), ptr::null(), 0) };
        // SAFETY: a non-null entry belongs to the dictionary, valid for `'a`.
        unsafe { entry.as_ref() }.map(|e| entry_text(e.value))
    }

    /// The number of tags (`av_dict_count`).
    pub fn len(&self) -> usize {
        // SAFETY: `dict` is null (count 0) or a valid dictionary.
        usize::try_from(unsafe { ffi::av_dict_count(self.dict) }).unwrap_or(0)
    }

    /// `true` if there are no tags.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The tags as `(key, value)` pairs, in FFmpeg's order.
    pub fn iter(&self) -> TagIter<'a> {
        TagIter {
            dict: self.dict,
            prev: ptr::null(),
            _owner: PhantomData,
        }
    }
}

impl<'a> IntoIterator for Tags<'a> {
    type Item = (Cow<'a, str>, Cow<'a, str>);
    type IntoIter = TagIter<'a>;

    fn into_iter(self) -> TagIter<'a> {
        self.iter()
    }
}

impl fmt::Debug for Tags<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// Iterator over [`Tags`], yielding `(key, value)`.
#[derive(Clone)]
pub struct TagIter<'a> {
    dict: *const ffi::AVDictionary,
    prev: *const ffi::AVDictionaryEntry,
    _owner: PhantomData<&'a ffi::AVDictionary>,
}

impl<'a> Iterator for TagIter<'a> {
    type Item = (Cow<'a, str>, Cow<'a, str>);

    fn next(&mut self) -> Option<Self::Item> {
        // SAFETY: `dict` is null or valid for `'a` (see `Tags::from_raw`); `prev` is null or
        // the entry the previous call returned; the empty key with AV_DICT_IGNORE_SUFFIX
        // matches every entry, in order.
        let entry = unsafe {
            ffi::av_dict_get(
                self.dict,
                c"".as_ptr(),
                self.prev,
                ffi::AV_DICT_IGNORE_SUFFIX,
            )
        };
        // SAFETY: a non-null entry belongs to the dictionary, valid for `'a`.
        let found = unsafe { entry.as_ref() }?;
        self.prev = entry;
        Some((entry_text(found.key), entry_text(found.value)))
    }
}

impl std::iter::FusedIterator for TagIter<'_> {}

impl fmt::Debug for TagIter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TagIter").finish_non_exhaustive()
    }
}

/// A dictionary entry's key or value as text.
fn entry_text<'a>(text: *const std::os::raw::c_char) -> Cow<'a, str> {
    if text.is_null() {
        return Cow::Borrowed("");
    }
    // SAFETY: entries of a valid dictionary hold NUL-terminated strings it owns, valid as
    // long as the dictionary (`'a`, chosen by the caller from the dictionary's borrow).
    String::from_utf8_lossy(unsafe { CStr::from_ptr(text) }.to_bytes())
}

/// A stream's disposition flags (`AVStream.disposition`): whether it is the default track,
/// a cover picture, forced subtitles, a commentary, …
///
/// `ffprobe` prints every flag FFmpeg knows as a `0`/`1` entry of a `disposition` object;
/// [`flags`](Self::flags) yields the same list, with FFmpeg's names
/// (`av_disposition_to_string`), so it grows with FFmpeg (FFmpeg 6.1 added
/// `non_diegetic`, 7.1 `multilayer`).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Disposition(u32);

impl Disposition {
    /// The default track of its type (`AV_DISPOSITION_DEFAULT`).
    pub const DEFAULT: Disposition = Disposition(1 << 0);
    /// A dubbed track (`dub`).
    pub const DUB: Disposition = Disposition(1 << 1);
    /// The original language track (`original`).
    pub const ORIGINAL: Disposition = Disposition(1 << 2);
    /// A commentary track (`comment`).
    pub const COMMENT: Disposition = Disposition(1 << 3);
    /// Lyrics (`lyrics`).
    pub const LYRICS: Disposition = Disposition(1 << 4);
    /// Karaoke (`karaoke`).
    pub const KARAOKE: Disposition = Disposition(1 << 5);
    /// Forced: to be shown even when the user did not ask for subtitles (`forced`).
    pub const FORCED: Disposition = Disposition(1 << 6);
    /// For the hearing impaired (`hearing_impaired`).
    pub const HEARING_IMPAIRED: Disposition = Disposition(1 << 7);
    /// For the visually impaired (`visual_impaired`).
    pub const VISUAL_IMPAIRED: Disposition = Disposition(1 << 8);
    /// Clean effects, without speech (`clean_effects`).
    pub const CLEAN_EFFECTS: Disposition = Disposition(1 << 9);
    /// A single picture attached to the file, e.g. album art; not a video track
    /// (`attached_pic`).
    pub const ATTACHED_PIC: Disposition = Disposition(1 << 10);
    /// Thumbnails at intervals (`timed_thumbnails`).
    pub const TIMED_THUMBNAILS: Disposition = Disposition(1 << 11);
    /// Captions (`captions`).
    pub const CAPTIONS: Disposition = Disposition(1 << 16);
    /// Descriptions (`descriptions`).
    pub const DESCRIPTIONS: Disposition = Disposition(1 << 17);
    /// Timed metadata (`metadata`).
    pub const METADATA: Disposition = Disposition(1 << 18);
    /// Meant to be mixed with another stream, not used alone (`dependent`).
    pub const DEPENDENT: Disposition = Disposition(1 << 19);
    /// A still image in a video stream (`still_image`).
    pub const STILL_IMAGE: Disposition = Disposition(1 << 20);

    /// The disposition for FFmpeg's bit set.
    pub const fn from_bits(bits: u32) -> Self {
        Disposition(bits)
    }

    /// FFmpeg's bit set (`AV_DISPOSITION_*`).
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// `true` if every flag of `other` is set.
    pub const fn contains(self, other: Disposition) -> bool {
        self.0 & other.0 == other.0
    }

    /// `true` if no flag is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Every flag FFmpeg knows, in bit order, with its name and whether it is set: what
    /// `ffprobe -show_streams` prints as `disposition`.
    pub fn flags(self) -> impl Iterator<Item = (&'static str, bool)> {
        (0..32u32).filter_map(move |bit| {
            let flag = 1u32 << bit;
            let name = flag_name(flag)?;
            Some((name, self.0 & flag != 0))
        })
    }

    /// The names of the flags that are set, e.g. `["default", "forced"]`.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        self.flags().filter(|&(_, set)| set).map(|(name, _)| name)
    }
}

/// FFmpeg's name for one disposition flag (`av_disposition_to_string`).
fn flag_name(flag: u32) -> Option<&'static str> {
    let flag = c_int::from_ne_bytes(flag.to_ne_bytes());
    // SAFETY: av_disposition_to_string accepts any int and returns null or a static name.
    let name = unsafe { ffi::av_disposition_to_string(flag) };
    if name.is_null() {
        return None;
    }
    // SAFETY: non-null: a static NUL-terminated ASCII name.
    unsafe { CStr::from_ptr(name) }.to_str().ok()
}

impl std::ops::BitOr for Disposition {
    type Output = Disposition;

    fn bitor(self, other: Disposition) -> Disposition {
        Disposition(self.0 | other.0)
    }
}

impl fmt::Debug for Disposition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.names()).finish()
    }
}
