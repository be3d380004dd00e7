//! An opener that serves, read-only, the files of one directory by plain relative name:
//! what an application demuxing a stranger's playlist should allow, and no more.

use std::fs::File;
use std::io;
use std::path::{Component, Path, PathBuf};

use ffio::{OpenMode, Opened};

/// Serves files under `root` (canonical) to FFmpeg's requests; see [`OpenDir::open`].
pub struct OpenDir {
    root: PathBuf,
}

impl OpenDir {
    /// An opener for the directory `dir`, which must exist.
    pub fn new(dir: &str) -> Result<Self, String> {
        let root = Path::new(dir)
            .canonicalize()
            .map_err(|e| format!("--open-dir {dir}: {e}"))?;
        if !root.is_dir() {
            return Err(format!("--open-dir {dir}: not a directory"));
        }
        Ok(OpenDir { root })
    }

    /// The file `name` names under the root, or why it is refused. Accepted: a relative
    /// name of normal components (`seg0.ts`, `video/seg0.ts`) that resolves, symbolic
    /// links followed, to a regular file under the root. Refused: an empty name, an
    /// absolute one, any `:` (schemes such as `file:` and `http:`), `\`, control
    /// characters, `.` and `..` components, empty components, and anything whose real
    /// path leaves the root.
    fn resolve(&self, name: &str) -> Result<PathBuf, (io::ErrorKind, &'static str)> {
        let denied = |why| Err((io::ErrorKind::PermissionDenied, why));
        if name.is_empty() {
            return denied("an empty name");
        }
        if name.contains(':') {
            return denied("a URL or scheme (':')");
        }
        if name.contains('\\') || name.chars().any(char::is_control) {
            return denied("a backslash or control character");
        }
        if name.starts_with('/') {
            return denied("an absolute path");
        }
        if name
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
        {
            return denied("an empty, '.' or '..' component");
        }
        let relative = Path::new(name);
        if !relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
        {
            return denied("not a plain relative name");
        }
        let real = self
            .root
            .join(relative)
            .canonicalize()
            .map_err(|_| (io::ErrorKind::NotFound, "no such file"))?;
        if !real.starts_with(&self.root) {
            return denied("outside the directory (a symbolic link leads out)");
        }
        if !real.is_file() {
            return denied("not a regular file");
        }
        Ok(real)
    }

    /// Opens `name` for reading; every refusal is a `PermissionDenied` (or `NotFound`)
    /// error naming `name` as FFmpeg asked for it.
    pub fn open(&self, name: &str, mode: OpenMode) -> io::Result<Opened> {
        let refuse =
            |kind, why: &str| io::Error::new(kind, format!("--open-dir refuses {name:?}: {why}"));
        if mode != OpenMode::Read {
            return Err(refuse(io::ErrorKind::PermissionDenied, "read-only"));
        }
        let path = self
            .resolve(name)
            .map_err(|(kind, why)| refuse(kind, why))?;
        // The checked, canonical path holds no symbolic link; O_NOFOLLOW refuses one that
        // replaced the file since.
        use std::os::unix::fs::OpenOptionsExt;
        let file = File::options()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|e| refuse(e.kind(), &e.to_string()))?;
        Ok(Opened::seekable_reader(file))
    }
}

impl ffio::Opener for OpenDir {
    fn open(&mut self, name: &str, mode: OpenMode) -> io::Result<Opened> {
        OpenDir::open(self, name, mode)
    }
}
