//! The I/O error: always names the file, and keeps what kind of failure it was.
//!
//! The message is one line (`FILE: what is wrong`), printed as it is by the command line. A
//! program that must react to the failure (retry a busy file, report a missing one as 404)
//! reads [`IoError::kind`] instead of parsing the text, and an OS failure stays reachable
//! through [`IoError::os_error`]. It is not the error's `source`: the message already says it
//! in words, and a printer of the error chain (`{:#}`) would say it a second time.

use std::io::ErrorKind;

use ctplan_dicom::DicomErrorKind;
use std::path::{Path, PathBuf};

/// An error reading or writing a file: the file and what is wrong with it, on one line.
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct IoError {
    /// The file (or folder) concerned.
    pub path: PathBuf,
    /// What is wrong, in words (the part of the message after `FILE: `).
    pub message: String,
    kind: ErrorKind,
    os: Option<std::io::Error>,
}

impl IoError {
    /// A file whose content is wrong (a bad header, unsupported type, truncated data): kind
    /// [`ErrorKind::InvalidData`], no OS error behind it.
    pub fn new(path: &Path, message: impl Into<String>) -> Self {
        IoError {
            path: path.to_path_buf(),
            message: message.into(),
            kind: ErrorKind::InvalidData,
            os: None,
        }
    }

    /// A failure with an OS error behind it, described by `message` (which says the OS error
    /// in words): keeps the error and its kind.
    pub fn with_source(path: &Path, message: impl Into<String>, e: std::io::Error) -> Self {
        IoError {
            path: path.to_path_buf(),
            message: message.into(),
            kind: e.kind(),
            os: Some(e),
        }
    }

    /// Wrap an OS error with what was being done (`cannot {doing}: {why}`), the usual cases in
    /// plain words.
    pub fn os(path: &Path, doing: &str, e: std::io::Error) -> Self {
        let what = match e.kind() {
            ErrorKind::NotFound => "no such file".to_string(),
            ErrorKind::PermissionDenied => "permission denied".to_string(),
            _ => e.to_string(),
        };
        IoError::with_source(path, format!("cannot {doing}: {what}"), e)
    }

    /// A DICOM reading failure as an I/O error: the same path and message; the OS error, if
    /// any, is kept; a series over [`MAX_BYTES`](crate::MAX_BYTES) is
    /// [`ErrorKind::OutOfMemory`].
    pub fn from_dicom(e: ctplan_dicom::DicomError) -> Self {
        let kind = match e.kind {
            DicomErrorKind::Invalid => ErrorKind::InvalidData,
            DicomErrorKind::TooLarge { .. } => ErrorKind::OutOfMemory,
            DicomErrorKind::Os(k) => k,
        };
        IoError {
            path: e.path,
            message: e.message,
            kind,
            os: e.os,
        }
    }

    /// What kind of failure this is: the OS error's kind where there is one (e.g.
    /// [`ErrorKind::NotFound`]), else [`ErrorKind::InvalidData`] for a file whose content is
    /// wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The OS error behind the failure, if there is one.
    pub fn os_error(&self) -> Option<&std::io::Error> {
        self.os.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error;

    #[test]
    fn os_error_keeps_kind_source_and_message() {
        let e = IoError::os(
            Path::new("/x/a.nrrd"),
            "open",
            std::io::Error::from(ErrorKind::NotFound),
        );
        assert_eq!(e.to_string(), "/x/a.nrrd: cannot open: no such file");
        assert_eq!(e.kind(), ErrorKind::NotFound);
        let io = e.os_error().expect("the OS error is kept");
        assert_eq!(io.kind(), ErrorKind::NotFound);
        // Said once: the message words it, so it is not chained as the source too.
        assert!(e.source().is_none());
    }

    #[test]
    fn content_error_is_invalid_data_without_source() {
        let e = IoError::new(Path::new("b.nii"), "NIfTI dim[1] is 0");
        assert_eq!(e.to_string(), "b.nii: NIfTI dim[1] is 0");
        assert_eq!(e.kind(), ErrorKind::InvalidData);
        assert!(e.source().is_none() && e.os_error().is_none());
    }

    #[test]
    fn other_os_errors_keep_their_text_and_kind() {
        let e = IoError::os(Path::new("c"), "write", std::io::Error::other("disk full"));
        assert_eq!(e.to_string(), "c: cannot write: disk full");
        assert_eq!(e.kind(), ErrorKind::Other);
    }

    #[test]
    fn dicom_errors_keep_path_message_and_kind() {
        let d = ctplan_dicom::DicomError::too_large("s", "1.2", 1 << 36, 1 << 35);
        let text = d.to_string();
        let e = IoError::from_dicom(d);
        assert_eq!(e.to_string(), text);
        assert_eq!(e.kind(), ErrorKind::OutOfMemory);
        let d =
            ctplan_dicom::DicomError::os("f", "gone", std::io::Error::from(ErrorKind::NotFound));
        let e = IoError::from_dicom(d);
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert!(e.os_error().is_some());
    }
}
