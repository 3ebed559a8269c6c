//! Finding DICOM files: a folder walked recursively (any file names, nested folders), zip
//! archives opened in place, and each candidate recognised by content (the `DICM` marker of a
//! PS3.10 file), never by its name.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use ctplan_core::alloc::with_limit;
use dicom_dictionary_std::tags;
use dicom_object::{DefaultDicomObject, OpenFileOptions};

use crate::DicomError;

/// Where a DICOM file's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Origin {
    /// A file on disk.
    File(PathBuf),
    /// An entry of a zip archive.
    Zip {
        /// The archive file.
        archive: PathBuf,
        /// The entry's name inside the archive.
        entry: String,
    },
    /// A whole file already in memory (an upload de-identified before anything is stored),
    /// under the name it came with.
    Memory {
        /// The name the bytes came with (for messages only).
        name: String,
        /// The file's bytes.
        bytes: std::sync::Arc<[u8]>,
    },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File(p) => write!(f, "{}", p.display()),
            Origin::Zip { archive, entry } => write!(f, "{}!{entry}", archive.display()),
            Origin::Memory { name, .. } => write!(f, "{name}"),
        }
    }
}

impl Origin {
    /// A path naming this origin in messages (`archive.zip!entry` for archive entries).
    pub fn display_path(&self) -> PathBuf {
        PathBuf::from(self.to_string())
    }

    /// The file's size in bytes (an archive entry's declared size); 0 when unknown.
    pub fn size(&self) -> u64 {
        match self {
            Origin::File(p) => std::fs::metadata(p).map_or(0, |m| m.len()),
            Origin::Zip { archive, entry } => File::open(archive)
                .ok()
                .and_then(|f| zip::ZipArchive::new(f).ok())
                .and_then(|mut z| z.by_name(entry).ok().map(|f| f.size()))
                .unwrap_or(0),
            Origin::Memory { bytes, .. } => bytes.len() as u64,
        }
    }

    /// All bytes of the file.
    pub fn read(&self) -> Result<Vec<u8>, DicomError> {
        match self {
            Origin::File(p) => {
                let mut out = Vec::new();
                open_regular(p)?
                    .read_to_end(&mut out)
                    .map_err(|e| DicomError::os(p, os_message(&e), e))?;
                Ok(out)
            }
            Origin::Zip { archive, entry } => {
                let file =
                    File::open(archive).map_err(|e| DicomError::os(archive, os_message(&e), e))?;
                let mut zip = zip::ZipArchive::new(file)
                    .map_err(|e| DicomError::new(archive, corrupt_zip(&e)))?;
                let mut f = zip
                    .by_name(entry)
                    .map_err(|e| DicomError::new(self.display_path(), e.to_string()))?;
                // The declared size is a hint from the archive, not a promise: bounded.
                let mut out = Vec::with_capacity(f.size().min(1 << 24) as usize);
                f.read_to_end(&mut out)
                    .map_err(|e| DicomError::os(self.display_path(), e.to_string(), e))?;
                Ok(out)
            }
            Origin::Memory { bytes, .. } => Ok(bytes.to_vec()),
        }
    }

    /// Parse the file; with `headers_only` stop before the pixel data (fast, for scanning).
    pub fn open(&self, headers_only: bool) -> Result<DefaultDicomObject, DicomError> {
        let opts = if headers_only {
            OpenFileOptions::new().read_until(tags::PIXEL_DATA)
        } else {
            OpenFileOptions::new()
        };
        // Every declared length is checked against the bytes present before the parser,
        // which allocates what a length says, reads the file; and the parser runs with its
        // single allocations bounded by the file's size, whatever it makes of the bytes (it
        // reserves fallibly, so a larger value is an error, not an allocation).
        let parsed = match self {
            Origin::File(p) => {
                let file = open_regular(p)?;
                let size = file.metadata().map_or(u64::MAX, |m| m.len());
                let bound = crate::guard::check(file, size, headers_only)
                    .map_err(|m| DicomError::new(p, m))?;
                with_limit(bound, || opts.open_file(p))
            }
            Origin::Zip { .. } | Origin::Memory { .. } => {
                let read;
                let bytes: &[u8] = match self {
                    Origin::Memory { bytes, .. } => bytes,
                    _ => {
                        read = self.read()?;
                        &read
                    }
                };
                if !is_part10(bytes) {
                    return Err(DicomError::new(self.display_path(), NOT_DICOM));
                }
                let bound = crate::guard::check(bytes, bytes.len() as u64, headers_only)
                    .map_err(|m| DicomError::new(self.display_path(), m))?;
                with_limit(bound, || opts.from_reader(&bytes[128..]))
            }
        };
        parsed.map_err(|e| DicomError::new(self.display_path(), parse_message(&e)))
    }
}

pub(crate) const NOT_DICOM: &str = "not a DICOM file (no DICM marker at byte 128)";

/// True if the bytes start like a DICOM PS3.10 file (128-byte preamble, then `DICM`).
pub(crate) fn is_part10(head: &[u8]) -> bool {
    head.len() >= 132 && &head[128..132] == b"DICM"
}

/// Why `meta` cannot be read as a file (`ctplan_core::filetype`): a FIFO, socket or device
/// would block a reader or never end, so they are refused by file type before anything opens
/// them. `None` for a regular file or a folder.
fn special_file(meta: &std::fs::Metadata) -> Option<String> {
    ctplan_core::filetype::special(meta).map(ctplan_core::filetype::refusal)
}

/// Opens `path` for reading after checking that it is a regular file (a FIFO would block the
/// open itself).
pub(crate) fn open_regular(path: &Path) -> Result<File, DicomError> {
    let meta = std::fs::metadata(path).map_err(|e| DicomError::os(path, os_message(&e), e))?;
    if let Some(why) = special_file(&meta) {
        return Err(DicomError::new(path, why));
    }
    if meta.is_dir() {
        return Err(DicomError::new(path, "a folder, not a file"));
    }
    File::open(path).map_err(|e| DicomError::os(path, os_message(&e), e))
}

/// True if `path` is a regular file (symbolic links followed): the only kind opened for reading.
fn regular(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file())
}

/// True if the file on disk starts like a DICOM PS3.10 file.
pub fn is_dicom_file(path: &Path) -> bool {
    let mut head = [0u8; 132];
    regular(path)
        && File::open(path)
            .and_then(|mut f| f.read_exact(&mut head))
            .is_ok()
        && is_part10(&head)
}

/// True if the file starts like a zip archive.
pub fn is_zip(path: &Path) -> bool {
    let mut head = [0u8; 4];
    regular(path)
        && File::open(path)
            .and_then(|mut f| f.read_exact(&mut head))
            .is_ok()
        && head == *b"PK\x03\x04"
}

/// The DICOM objects among files already in memory, as (name, bytes) pairs (an upload, never
/// written to disk): those with the `DICM` marker become [`Origin::Memory`], the others are
/// skipped with the reason, as [`find`] does on disk.
pub fn find_memory(files: Vec<(String, Vec<u8>)>) -> (Vec<Origin>, Vec<Skipped>) {
    let mut found = Vec::new();
    let mut skipped = Vec::new();
    for (name, bytes) in files {
        let reason = match bytes.len() {
            0 => Some("not a DICOM file (empty, 0 bytes)".to_string()),
            n if n < 132 => Some(format!("not a DICOM file ({n} bytes)")),
            _ if !is_part10(&bytes) => Some(NOT_DICOM.to_string()),
            _ => None,
        };
        let origin = Origin::Memory {
            name,
            bytes: bytes.into(),
        };
        match reason {
            None => found.push(origin),
            Some(reason) => skipped.push(Skipped { origin, reason }),
        }
    }
    found.sort();
    skipped.sort_by(|a, b| a.origin.cmp(&b.origin));
    (found, skipped)
}

/// A file that was looked at and left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The file or archive entry.
    pub origin: Origin,
    /// Why it was left out (not DICOM, unreadable, a DICOMDIR index).
    pub reason: String,
}

/// When `root` is one file and it alone was left out, its reason is the whole answer.
pub(crate) fn sole_refusal(root: &Path, skipped: &[Skipped]) -> Option<DicomError> {
    match skipped {
        [one] if one.origin == Origin::File(root.to_path_buf()) => {
            Some(DicomError::new(root, one.reason.clone()))
        }
        _ => None,
    }
}

/// Every DICOM candidate below `root` (a folder, a zip archive or one file), in path order, and
/// the files that are not DICOM.
pub fn find(root: &Path) -> Result<(Vec<Origin>, Vec<Skipped>), DicomError> {
    let meta = std::fs::metadata(root).map_err(|e| DicomError::os(root, os_message(&e), e))?;
    if let Some(why) = special_file(&meta) {
        return Err(DicomError::new(root, why));
    }
    let mut found = Vec::new();
    let mut skipped = Vec::new();
    if meta.is_dir() {
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            let rd =
                std::fs::read_dir(&dir).map_err(|e| DicomError::os(&dir, os_message(&e), e))?;
            for entry in rd {
                let entry = entry.map_err(|e| DicomError::os(&dir, os_message(&e), e))?;
                let path = entry.path();
                let ft = entry
                    .file_type()
                    .map_err(|e| DicomError::os(&path, os_message(&e), e))?;
                if ft.is_dir() {
                    stack.push(path);
                } else {
                    classify(&path, &mut found, &mut skipped);
                }
            }
        }
    } else {
        classify(root, &mut found, &mut skipped);
    }
    found.sort();
    skipped.sort_by(|a, b| a.origin.cmp(&b.origin));
    Ok((found, skipped))
}

fn classify(path: &Path, found: &mut Vec<Origin>, skipped: &mut Vec<Skipped>) {
    if is_dicom_file(path) {
        found.push(Origin::File(path.to_path_buf()));
    } else if is_zip(path) {
        match zip_entries(path) {
            Ok((f, s)) => {
                found.extend(f);
                skipped.extend(s);
            }
            Err(reason) => skipped.push(Skipped {
                origin: Origin::File(path.to_path_buf()),
                reason,
            }),
        }
    } else {
        let reason = match std::fs::metadata(path) {
            Ok(m) if special_file(&m).is_some() => special_file(&m).unwrap_or_default(),
            Ok(m) if m.len() == 0 => "not a DICOM file (empty, 0 bytes)".to_string(),
            Ok(m) if m.len() < 132 => format!("not a DICOM file ({} bytes)", m.len()),
            Ok(_) => NOT_DICOM.to_string(),
            Err(e) => os_message(&e),
        };
        skipped.push(Skipped {
            origin: Origin::File(path.to_path_buf()),
            reason,
        });
    }
}

type Entries = (Vec<Origin>, Vec<Skipped>);

fn zip_entries(path: &Path) -> Result<Entries, String> {
    let file = File::open(path).map_err(|e| os_message(&e))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| corrupt_zip(&e))?;
    let mut found = Vec::new();
    let mut skipped = Vec::new();
    for i in 0..zip.len() {
        let mut f = zip
            .by_index(i)
            .map_err(|e| format!("corrupt zip archive: entry {i}: {e}"))?;
        if f.is_dir() {
            continue;
        }
        let origin = Origin::Zip {
            archive: path.to_path_buf(),
            entry: f.name().to_string(),
        };
        let mut head = Vec::with_capacity(132);
        let ok = (&mut f).take(132).read_to_end(&mut head).is_ok();
        if ok && is_part10(&head) {
            found.push(origin);
        } else {
            skipped.push(Skipped {
                origin,
                reason: NOT_DICOM.to_string(),
            });
        }
    }
    Ok((found, skipped))
}

/// Why a zip archive cannot be opened, in words (the zip reader's own words after the colon).
fn corrupt_zip(e: &zip::result::ZipError) -> String {
    match e {
        zip::result::ZipError::Io(io) => format!("corrupt zip archive: {}", os_message(io)),
        _ => format!("corrupt zip archive: {e}"),
    }
}

pub(crate) fn os_message(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or folder".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string(),
    }
}

/// dicom-rs errors chain their causes; a truncated file reads as "unexpected end of file".
pub(crate) fn parse_message(e: &dyn std::error::Error) -> String {
    let mut msg = format!("cannot parse DICOM: {e}");
    let mut src = e.source();
    let mut depth = 0;
    while let Some(s) = src {
        msg.push_str(&format!(": {s}"));
        src = s.source();
        depth += 1;
        if depth > 4 {
            break;
        }
    }
    if msg.contains("failed to fill whole buffer") || msg.contains("UnexpectedEof") {
        msg.push_str(" (the file is truncated)");
    } else if msg.contains("Could not reserve memory") {
        // Refused by the allocation bound the parser runs under (`open`).
        msg.push_str(" (a value longer than the file holds: damaged)");
    }
    msg
}
