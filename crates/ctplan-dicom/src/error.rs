//! The DICOM error: always names the file or folder, on one line, and says what kind of
//! failure it was so that a caller (the volume reader, a server) can react without parsing text.

use std::fmt;
use std::path::{Path, PathBuf};

/// What kind of failure a [`DicomError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DicomErrorKind {
    /// The content is not what DICOM or ctplan needs (not DICOM, damaged, no volume, an
    /// unsupported transfer syntax, an ambiguous series choice).
    Invalid,
    /// The series' voxels would need more than the memory limit
    /// ([`MAX_BYTES`](ctplan_core::MAX_BYTES)); refused before anything is allocated.
    TooLarge {
        /// Bytes the decoded series would need (saturated at `u64::MAX`).
        bytes: u64,
        /// The limit it exceeds.
        limit: u64,
    },
    /// The operating system refused (missing file, permission, read error).
    Os(std::io::ErrorKind),
}

/// What went wrong, and where.
#[derive(Debug, thiserror::Error)]
pub struct DicomError {
    /// The file, archive entry (`archive.zip!entry`) or folder concerned.
    pub path: PathBuf,
    /// What is wrong, in words (the part of the message after `PATH: `).
    pub message: String,
    /// What kind of failure this is.
    pub kind: DicomErrorKind,
    /// The OS error behind an [`DicomErrorKind::Os`] failure. Kept, but not as the error's
    /// `source`: [`message`](Self::message) already says it in words, and a printer of the
    /// error chain would say it twice.
    pub os: Option<std::io::Error>,
}

impl fmt::Display for DicomError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

impl DicomError {
    /// Content that is wrong or unusable ([`DicomErrorKind::Invalid`]).
    pub fn new(path: impl AsRef<Path>, message: impl Into<String>) -> Self {
        DicomError {
            path: path.as_ref().to_path_buf(),
            message: message.into(),
            kind: DicomErrorKind::Invalid,
            os: None,
        }
    }

    /// An OS failure described by `message` (the OS error in words), keeping the OS error and
    /// its kind.
    pub fn os(path: impl AsRef<Path>, message: impl Into<String>, e: std::io::Error) -> Self {
        DicomError {
            path: path.as_ref().to_path_buf(),
            message: message.into(),
            kind: DicomErrorKind::Os(e.kind()),
            os: Some(e),
        }
    }

    /// Series `series_uid` would need `bytes` bytes of voxels, over `limit`.
    pub fn too_large(path: impl AsRef<Path>, series_uid: &str, bytes: u64, limit: u64) -> Self {
        DicomError {
            path: path.as_ref().to_path_buf(),
            message: format!(
                "series {series_uid}: the volume needs {bytes} bytes, over the {} GiB limit",
                limit >> 30
            ),
            kind: DicomErrorKind::TooLarge { bytes, limit },
            os: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error;

    #[test]
    fn os_error_is_kept_with_its_kind_and_said_once() {
        let e = DicomError::os(
            "a/b.dcm",
            "no such file or folder",
            std::io::Error::from(std::io::ErrorKind::NotFound),
        );
        assert_eq!(e.to_string(), "a/b.dcm: no such file or folder");
        assert_eq!(e.kind, DicomErrorKind::Os(std::io::ErrorKind::NotFound));
        assert!(e.os.is_some() && e.source().is_none());
        assert!(DicomError::new("x", "y").os.is_none());
    }

    #[test]
    fn too_large_names_the_series_and_the_limit() {
        let e = DicomError::too_large("d", "1.2.3", 1 << 36, 1 << 35);
        assert_eq!(
            e.to_string(),
            "d: series 1.2.3: the volume needs 68719476736 bytes, over the 32 GiB limit"
        );
        assert_eq!(
            e.kind,
            DicomErrorKind::TooLarge {
                bytes: 1 << 36,
                limit: 1 << 35
            }
        );
    }
}
