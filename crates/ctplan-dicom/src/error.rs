//! The DICOM error: always names the file or folder, on one line.

use std::fmt;
use std::path::{Path, PathBuf};

/// What went wrong, and where.
#[derive(Debug, thiserror::Error)]
pub struct DicomError {
    /// The file, archive entry (`archive.zip!entry`) or folder concerned.
    pub path: PathBuf,
    pub message: String,
}

impl fmt::Display for DicomError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

impl DicomError {
    pub fn new(path: impl AsRef<Path>, message: impl Into<String>) -> Self {
        DicomError {
            path: path.as_ref().to_path_buf(),
            message: message.into(),
        }
    }
}
