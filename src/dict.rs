//! An owned `AVDictionary` for passing options to FFmpeg and reading back the ones it did
//! not use.

use std::ffi::{CStr, CString};
use std::ptr;

use ffmpeg_sys_next as ffi;

use crate::error::{check, Error, Result};

/// Owns an `AVDictionary *` (null while empty) and frees it on drop.
pub(crate) struct Dictionary {
    raw: *mut ffi::AVDictionary,
}

impl Dictionary {
    /// A dictionary holding `options`, in order.
    pub(crate) fn from_pairs(options: &[(String, String)]) -> Result<Self> {
        let mut dict = Dictionary {
            raw: ptr::null_mut(),
        };
        for (key, value) in options {
            let key = c_string(key, "option name")?;
            let value = c_string(value, "option value")?;
            // SAFETY: `dict.raw` is null or a dictionary we own; key and value are valid
            // NUL-terminated strings that av_dict_set copies (no DONT_STRDUP flags).
            let ret = unsafe { ffi::av_dict_set(&mut dict.raw, key.as_ptr(), value.as_ptr(), 0) };
            check("av_dict_set", ret)?;
        }
        Ok(dict)
    }

    /// Sets `key` to `value`, replacing what it held.
    pub(crate) fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let key = c_string(key, "option name")?;
        let value = c_string(value, "option value")?;
        // SAFETY: as in `from_pairs`.
        let ret = unsafe { ffi::av_dict_set(&mut self.raw, key.as_ptr(), value.as_ptr(), 0) };
        check("av_dict_set", ret).map(drop)
    }

    /// The value of `key`, if set.
    pub(crate) fn get(&self, key: &str) -> Option<String> {
        let key = CString::new(key).ok()?;
        // SAFETY: `self.raw` is null or a valid dictionary; `key` a valid C string.
        let entry = unsafe { ffi::av_dict_get(self.raw, key.as_ptr(), ptr::null(), 0) };
        if entry.is_null() {
            return None;
        }
        // SAFETY: a non-null entry has a valid value string owned by the dictionary.
        let value = unsafe { CStr::from_ptr((*entry).value) };
        Some(value.to_string_lossy().into_owned())
    }

    /// Removes `key` and returns its value, if it was set.
    pub(crate) fn take(&mut self, key: &str) -> Result<Option<String>> {
        let value = self.get(key);
        if value.is_some() {
            let key = c_string(key, "option name")?;
            // SAFETY: `self.raw` is a dictionary we own; a null value deletes the entry.
            let ret = unsafe { ffi::av_dict_set(&mut self.raw, key.as_ptr(), ptr::null(), 0) };
            check("av_dict_set", ret)?;
        }
        Ok(value)
    }

    /// The pointer to hand to FFmpeg functions taking `AVDictionary **`.
    pub(crate) fn as_mut_ptr(&mut self) -> *mut *mut ffi::AVDictionary {
        &mut self.raw
    }

    /// The keys still in the dictionary: after an FFmpeg call, the options it did not use.
    pub(crate) fn keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        let mut entry: *mut ffi::AVDictionaryEntry = ptr::null_mut();
        let empty = c"";
        loop {
            // SAFETY: `self.raw` is null or a valid dictionary; `entry` is null or the entry
            // returned by the previous call; AV_DICT_IGNORE_SUFFIX with "" visits every entry.
            entry = unsafe {
                ffi::av_dict_get(self.raw, empty.as_ptr(), entry, ffi::AV_DICT_IGNORE_SUFFIX)
            };
            if entry.is_null() {
                return keys;
            }
            // SAFETY: a non-null entry has a valid NUL-terminated key owned by the dictionary.
            let key = unsafe { CStr::from_ptr((*entry).key) };
            keys.push(key.to_string_lossy().into_owned());
        }
    }

    /// `Err(UnknownOptions)` if FFmpeg left any option unused by `call`.
    pub(crate) fn ensure_consumed(&self, call: &'static str) -> Result<()> {
        let options = self.keys();
        if options.is_empty() {
            Ok(())
        } else {
            Err(Error::UnknownOptions { call, options })
        }
    }
}

impl Drop for Dictionary {
    fn drop(&mut self) {
        // SAFETY: `raw` is null or a dictionary we own; av_dict_free accepts both and nulls it.
        unsafe { ffi::av_dict_free(&mut self.raw) };
    }
}

/// A `CString`, or `InvalidArgument` naming `what` if `s` contains a NUL byte.
pub(crate) fn c_string(s: &str, what: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::InvalidArgument(format!("{what} {s:?} contains a NUL byte")))
}
