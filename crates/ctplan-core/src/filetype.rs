//! What kind of file a path is, when it is not one a reader may open.
//!
//! A FIFO blocks its opener until a writer comes, a device may never end, a socket cannot be
//! opened at all: readers refuse them by their file type, from the metadata, before anything
//! opens them. This is the one classifier every reader uses (volumes and their data files in
//! `ctplan-io`, DICOM files and folders in `ctplan-dicom`), so that each says it the same way.

use std::fs::Metadata;

/// The kind of a file that is neither a regular file nor a folder, in words ("a FIFO", "a
/// socket", "a character device", "a block device", "a special file"); `None` for a regular
/// file or a folder (symbolic links are followed by the `std::fs::metadata` that made `m`).
pub fn special(m: &Metadata) -> Option<&'static str> {
    let t = m.file_type();
    if t.is_file() || t.is_dir() {
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return Some("a FIFO");
        }
        if t.is_socket() {
            return Some("a socket");
        }
        if t.is_char_device() {
            return Some("a character device");
        }
        if t.is_block_device() {
            return Some("a block device");
        }
    }
    Some("a special file")
}

/// The refusal for a file of `kind` where a regular file is needed.
pub fn refusal(kind: &str) -> String {
    format!("not a regular file ({kind}); refusing to read it")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_and_folders_pass_devices_do_not() {
        let dir = std::env::temp_dir();
        assert_eq!(special(&std::fs::metadata(&dir).unwrap()), None);
        let f = dir.join(format!("ctplan-filetype-{}", std::process::id()));
        std::fs::write(&f, b"x").unwrap();
        assert_eq!(special(&std::fs::metadata(&f).unwrap()), None);
        std::fs::remove_file(&f).unwrap();
        #[cfg(unix)]
        {
            let null = std::fs::metadata("/dev/null").unwrap();
            assert_eq!(special(&null), Some("a character device"));
            assert_eq!(
                refusal("a FIFO"),
                "not a regular file (a FIFO); refusing to read it"
            );
        }
    }
}
