//! Atomic writes. A file: write a temporary file beside the target, then rename it over the
//! target. A folder: fill a hidden staging folder beside the target, then rename it into place
//! ([`publish_dir`]). Readers never see a half-written file or folder, and a failed write
//! leaves the target untouched.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::IoError;
use crate::cases::{create_output_dir, remove_created};
use crate::output::{MARKER, check_dir_target, unique_name};

/// Write `path` atomically with the bytes that `fill` writes.
pub fn write_file(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), IoError> {
    let tmp = temp_path(path);
    let result = (|| {
        let file = File::create(&tmp)?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        fill(&mut w)?;
        w.into_inner().map_err(|e| e.into_error())?.sync_data()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(IoError::os(path, "write", e));
    }
    Ok(())
}

/// Write the folder `target` whole or not at all: `fill` writes into a fresh staging folder
/// beside `target` (same file system, so the final rename is atomic), which then replaces
/// `target`. The folder gets a [`MARKER`] file naming `command`, so that a later run may
/// replace it; an existing folder without one (and not empty) is replaced only with `force`
/// ([`crate::output::check_dir_target`]). Missing parent folders are made, and removed again
/// when nothing is published. If `fill` fails, or the move does, the staging folder is removed
/// and an existing `target` is left as it was.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let case = dir.path().join("case");
/// ctplan_io::publish_dir(&case, "test", false, |d| std::fs::write(d.join("a.txt"), b"a")
///     .map_err(|e| ctplan_io::IoError::os(&d.join("a.txt"), "write", e))).unwrap();
/// assert_eq!(std::fs::read(case.join("a.txt")).unwrap(), b"a");
/// // A failing fill leaves the published folder as it was.
/// let r: Result<(), ctplan_io::IoError> = ctplan_io::publish_dir(&case, "test", false, |d| {
///     std::fs::write(d.join("b.txt"), b"b").unwrap();
///     Err(ctplan_io::IoError::new(d, "failed"))
/// });
/// assert!(r.is_err() && !case.join("b.txt").exists() && case.join("a.txt").exists());
/// ```
pub fn publish_dir<T, E: From<IoError>>(
    target: &Path,
    command: &str,
    force: bool,
    fill: impl FnOnce(&Path) -> Result<T, E>,
) -> Result<T, E> {
    check_dir_target(target, force)?;
    let staging = Staging::new(target)?;
    let marker = staging.dir.join(MARKER);
    fs::write(&marker, format!("{command}\n")).map_err(|e| IoError::os(&marker, "write", e))?;
    let value = fill(&staging.dir)?;
    staging.publish(target)?;
    Ok(value)
}

/// A staging folder that removes itself unless it was published.
struct Staging {
    dir: PathBuf,
    /// Parent folders made for it, removed again unless it is published.
    created: Vec<PathBuf>,
    published: bool,
}

impl Staging {
    fn new(target: &Path) -> Result<Staging, IoError> {
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let created = create_output_dir(&parent)?;
        let base = target
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| "case".into());
        let dir = parent.join(unique_name(&format!(".{base}.partial")));
        if let Err(e) = fs::create_dir(&dir) {
            remove_created(&created);
            return Err(IoError::os(&dir, "create the staging folder", e));
        }
        Ok(Staging {
            dir,
            created,
            published: false,
        })
    }

    /// Move the complete folder into place, replacing an older one at `target` only once the
    /// new one is whole.
    fn publish(mut self, target: &Path) -> Result<(), IoError> {
        let old = self.dir.with_file_name(unique_name(".ctplan-old"));
        let had_old = target.exists();
        if had_old {
            fs::rename(target, &old).map_err(|e| IoError::os(target, "replace the folder", e))?;
        }
        if let Err(e) = fs::rename(&self.dir, target) {
            if had_old {
                let _ = fs::rename(&old, target);
            }
            return Err(IoError::os(target, "move the folder into place", e));
        }
        self.published = true;
        if had_old {
            let _ = fs::remove_dir_all(&old);
        }
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.published {
            let _ = fs::remove_dir_all(&self.dir);
            remove_created(&self.created);
        }
    }
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(unique_name(&format!(".{name}.tmp")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_write_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.bin");
        fs::write(&target, b"old").unwrap();
        let err = write_file(&target, |w| {
            w.write_all(b"partial")?;
            Err(std::io::Error::other("disk full"))
        });
        assert!(err.is_err());
        assert_eq!(fs::read(&target).unwrap(), b"old");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "temp file removed"
        );
    }

    #[test]
    fn successful_write_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.bin");
        write_file(&target, |w| w.write_all(b"new")).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"new");
    }
}

#[cfg(test)]
mod folder_tests {
    use super::*;

    fn fill_a(d: &Path) -> Result<(), IoError> {
        fs::write(d.join("a.txt"), b"a").map_err(|e| IoError::os(d, "write", e))
    }

    #[test]
    fn a_folder_of_other_files_is_kept_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        fs::create_dir(&out).unwrap();
        fs::write(out.join("mine.txt"), b"mine").unwrap();
        let e = publish_dir(&out, "test", false, fill_a).unwrap_err();
        assert!(e.message.contains("was not written by ctplan"), "{e}");
        assert!(out.join("mine.txt").exists());
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no staging left"
        );
        publish_dir(&out, "test", true, fill_a).unwrap();
        assert!(!out.join("mine.txt").exists());
        assert_eq!(fs::read_to_string(out.join(MARKER)).unwrap(), "test\n");
        // Now it is ctplan's: replaced without force.
        publish_dir(&out, "test", false, fill_a).unwrap();
    }

    #[test]
    fn parents_made_for_a_failed_folder_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("a/b/out");
        let r = publish_dir(&out, "test", false, |_| -> Result<(), IoError> {
            Err(IoError::new(Path::new("x"), "failed"))
        });
        assert!(r.is_err());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
