//! The I/O error: always names the file.

use std::path::{Path, PathBuf};

/// An error reading or writing a file: the file and what is wrong with it, on one line.
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct IoError {
    pub path: PathBuf,
    pub message: String,
}

impl IoError {
    pub fn new(path: &Path, message: impl Into<String>) -> Self {
        IoError {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }

    /// Wrap an OS error with what was being done.
    pub fn os(path: &Path, doing: &str, e: std::io::Error) -> Self {
        let what = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_string(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            _ => e.to_string(),
        };
        IoError::new(path, format!("cannot {doing}: {what}"))
    }
}
