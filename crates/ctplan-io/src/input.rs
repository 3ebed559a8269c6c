//! What an input path must be before anything reads it.
//!
//! Opening a FIFO blocks until a writer appears and reading a device never ends, so every file
//! a reader opens (a volume, a detached data file, a prior or weights file) is checked by its
//! type first: only a regular file is read. Folders and empty files get their own message
//! rather than "unknown volume format".

use std::fs::{File, Metadata};
use std::io::{Cursor, Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::IoError;

/// The kind of a file that is not a regular file, in words (`None` for a regular file).
fn special_kind(m: &Metadata) -> Option<&'static str> {
    if m.is_dir() {
        return Some("a folder");
    }
    ctplan_core::filetype::special(m)
}

/// The error for `path` being `kind` where a regular file is needed.
fn not_regular(path: &Path, kind: &str) -> IoError {
    IoError::with_source(
        path,
        ctplan_core::filetype::refusal(kind),
        std::io::Error::from(std::io::ErrorKind::InvalidInput),
    )
}

/// Refuse `path` unless it is a regular file (symbolic links followed). `doing` says what was
/// being done in the error for a missing file (`open`, `open data file`).
pub fn check_regular_file(path: &Path, doing: &str) -> Result<Metadata, IoError> {
    let m = std::fs::metadata(path).map_err(|e| IoError::os(path, doing, e))?;
    match special_kind(&m) {
        None => Ok(m),
        Some(kind) => Err(not_regular(path, kind)),
    }
}

/// Open `path` for reading once [`check_regular_file`] accepts it; returns the file and its
/// length.
pub fn open_regular(path: &Path, doing: &str) -> Result<(File, u64), IoError> {
    check_regular_file(path, doing)?;
    let f = File::open(path).map_err(|e| IoError::os(path, doing, e))?;
    let len = f
        .metadata()
        .map_err(|e| IoError::os(path, "read metadata", e))?
        .len();
    Ok((f, len))
}

/// A reader that can also seek (a file, or a cursor over bytes in memory).
pub trait ReadSeek: Read + Seek {}
impl<T: Read + Seek> ReadSeek for T {}

/// Where a reader's bytes come from: a file on disk (checked by [`open_regular`] before it is
/// opened), or bytes already in memory under a name (an upload that must never be written to
/// disk before it is decoded). Every format reader opens its input through this, so both read
/// the same way; only a detached data file (`.nhdr`, `.mhd`) needs the disk.
#[derive(Debug, Clone)]
pub enum Input {
    /// A file on disk.
    Disk(PathBuf),
    /// The whole file in memory; `name` names it in errors and gives its format.
    Memory {
        /// The name the bytes came with.
        name: PathBuf,
        /// The file's bytes.
        bytes: Arc<[u8]>,
    },
}

impl Input {
    /// The path (or name) that errors name.
    pub fn path(&self) -> &Path {
        match self {
            Input::Disk(p) => p,
            Input::Memory { name, .. } => name,
        }
    }

    /// Open for reading (a file only once it is known to be a regular file); the reader and
    /// the length in bytes. `doing` names the step in errors (`open`, `open data file`).
    pub fn open(&self, doing: &str) -> Result<(Box<dyn ReadSeek>, u64), IoError> {
        match self {
            Input::Disk(p) => {
                let (f, len) = open_regular(p, doing)?;
                Ok((Box::new(f), len))
            }
            Input::Memory { bytes, .. } => {
                Ok((Box::new(Cursor::new(bytes.clone())), bytes.len() as u64))
            }
        }
    }

    /// The length in bytes (a file only once it is known to be a regular file).
    pub fn len(&self, doing: &str) -> Result<u64, IoError> {
        match self {
            Input::Disk(p) => Ok(check_regular_file(p, doing)?.len()),
            Input::Memory { bytes, .. } => Ok(bytes.len() as u64),
        }
    }

    /// The data file `name` that a detached header names, beside it. Bytes in memory have
    /// nothing beside them: refused in words.
    pub fn beside(&self, name: &str) -> Result<Input, IoError> {
        match self {
            Input::Disk(p) => Ok(Input::Disk(p.parent().unwrap_or(Path::new(".")).join(name))),
            Input::Memory { name: own, .. } => Err(IoError::new(
                own,
                format!(
                    "the header names a separate data file ({name}); give one file with the data attached (.nrrd, .nii, .nii.gz, .mha)"
                ),
            )),
        }
    }
}

/// `e`, an error about the data file that `header` names, saying so (the user gave the header).
pub fn in_data_file(mut e: IoError, header: &Path) -> IoError {
    if e.path != header {
        e.message = format!(
            "{} (the data file named by {})",
            e.message,
            header.display()
        );
    }
    e
}

/// Refuse an input that is neither a regular file nor a folder (a FIFO, a socket, a device)
/// before anything opens it. A path that does not exist passes: it may carry a `#SERIES`
/// selector, and the reader says it is missing.
pub fn check_input(path: &Path) -> Result<(), IoError> {
    match std::fs::metadata(path) {
        Ok(m) if !m.is_dir() => special_kind(&m).map_or(Ok(()), |k| Err(not_regular(path, k))),
        _ => Ok(()),
    }
}

/// Why `path`, which no reader took, cannot be read as a volume: a folder (empty, of volume
/// files, or of neither), an empty file, or an unknown extension.
pub fn unreadable(path: &Path) -> IoError {
    if path.is_dir() {
        let entries: Vec<_> = std::fs::read_dir(path)
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        let message = if entries.is_empty() {
            "the folder is empty (no volume or DICOM files)"
        } else if entries.iter().any(|p| crate::is_volume_file(p)) {
            "is a folder of volume files, not one volume (name one of its files)"
        } else {
            "the folder holds no volume or DICOM files"
        };
        return IoError::new(path, message);
    }
    if std::fs::metadata(path).is_ok_and(|m| m.len() == 0) {
        return IoError::new(path, "the file is empty (0 bytes)");
    }
    IoError::new(
        path,
        "unknown volume format (expected .nrrd, .nhdr, .nii, .nii.gz, .mha or .mhd)",
    )
}

/// The whole of a small input file (a shape prior, network weights), refused by type before
/// opening and by size (over `max` bytes) before reading.
pub fn read_file(path: &Path, max: u64) -> Result<Vec<u8>, IoError> {
    let (f, len) = open_regular(path, "open")?;
    if len > max {
        return Err(IoError::new(
            path,
            format!("the file is {len} bytes, more than the {max} bytes this input may have"),
        ));
    }
    let mut out = Vec::with_capacity(len as usize);
    std::io::Read::read_to_end(&mut std::io::Read::take(f, max + 1), &mut out)
        .map_err(|e| IoError::os(path, "read", e))?;
    if out.len() as u64 > max {
        return Err(IoError::new(
            path,
            format!("the file is more than the {max} bytes this input may have"),
        ));
    }
    Ok(out)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn mkfifo(p: &Path) {
        let ok = std::process::Command::new("mkfifo")
            .arg(p)
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }

    #[test]
    fn a_fifo_is_refused_by_type_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["v.nrrd", "v.nii", "v.nii.gz", "v.mha", "v"] {
            let p = dir.path().join(name);
            mkfifo(&p);
            // Before: opening the FIFO blocked for ever.
            let e = crate::read(&p).unwrap_err();
            assert!(
                e.to_string()
                    .ends_with("not a regular file (a FIFO); refusing to read it"),
                "{e}"
            );
            assert!(crate::read_header(&p).is_err() && crate::read_mask(&p).is_err());
            assert!(read_file(&p, 100).is_err());
        }
        let e = crate::read(Path::new("/dev/null")).unwrap_err();
        assert!(e.to_string().contains("(a character device)"), "{e}");
    }

    #[test]
    fn a_detached_data_file_that_is_a_fifo_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        mkfifo(&dir.path().join("x.raw"));
        let p = dir.path().join("x.nhdr");
        std::fs::write(
            &p,
            "NRRD0004\ntype: uchar\ndimension: 3\nsizes: 1 1 1\nencoding: raw\ndata file: x.raw\n",
        )
        .unwrap();
        let e = crate::read(&p).unwrap_err();
        assert!(
            e.to_string().contains(
                "x.raw: not a regular file (a FIFO); refusing to read it (the data file named by "
            ),
            "{e}"
        );
        let p = dir.path().join("x.mhd");
        std::fs::write(
            &p,
            "NDims = 3\nDimSize = 1 1 1\nElementType = MET_UCHAR\nElementDataFile = x.raw\n",
        )
        .unwrap();
        let e = crate::read(&p).unwrap_err();
        assert!(
            e.to_string().contains("x.raw: not a regular file (a FIFO)"),
            "{e}"
        );
    }

    #[test]
    fn folders_and_empty_files_say_what_they_are() {
        let dir = tempfile::tempdir().unwrap();
        let e = crate::read(dir.path()).unwrap_err();
        assert!(
            e.to_string()
                .ends_with(": the folder is empty (no volume or DICOM files)"),
            "{e}"
        );
        std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
        let e = crate::read(dir.path()).unwrap_err();
        assert!(
            e.to_string()
                .ends_with(": the folder holds no volume or DICOM files"),
            "{e}"
        );
        let p = dir.path().join("empty.dcm");
        std::fs::write(&p, "").unwrap();
        let e = crate::read(&p).unwrap_err();
        // A `.dcm` goes to the DICOM reader, which says the same in its words.
        assert!(
            e.to_string()
                .ends_with("empty.dcm: not a DICOM file (empty, 0 bytes)"),
            "{e}"
        );
        let e = read_file(&dir.path().join("notes.txt"), 0).unwrap_err();
        assert!(e.to_string().contains("more than the 0 bytes"), "{e}");
    }
}
