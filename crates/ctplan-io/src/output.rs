//! Output safety: what a command may write where. A command never deletes or overwrites what it
//! did not create unless told (`force`):
//! - an existing output *file* is replaced only with `force` (then atomically);
//! - an existing output *folder* is replaced only when it is empty, when it is a ctplan output
//!   folder (it holds the [`MARKER`] file that [`crate::publish_dir`] writes), or with `force`;
//! - a FIFO, socket or device, or a folder where a file is expected, is never written to;
//! - the folder an output goes into must be writable, which is tried before any work starts.
//!
//! [`FileSet`] publishes several files together: each is written into a hidden staging folder
//! beside its target and all are moved into place at the end, or none.

use std::fs;
use std::path::{Path, PathBuf};

use crate::IoError;

/// The file in every folder [`crate::publish_dir`] writes, naming the command that wrote it:
/// such a folder may be replaced by a later run.
pub const MARKER: &str = ".ctplan-output";

/// What to say about `force` in a refusal.
const FORCE_HINT: &str = "use --force to replace it";

/// The folder `target` goes into (`.` for a bare name).
fn parent_of(target: &Path) -> PathBuf {
    match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Refuse an output *file* path that is a folder, a FIFO, socket or device, or (without
/// `force`) an existing file; its folder must exist and be writable.
pub fn check_file_target(target: &Path, force: bool) -> Result<(), IoError> {
    if let Ok(m) = fs::metadata(target) {
        if m.is_dir() {
            return Err(IoError::new(
                target,
                "is a folder; the output here is a file",
            ));
        }
        if !m.is_file() {
            return Err(IoError::new(
                target,
                "is not a regular file (a FIFO, socket or device); refusing to write to it",
            ));
        }
        if !force {
            return Err(IoError::new(
                target,
                format!("exists; ctplan does not overwrite files ({FORCE_HINT})"),
            ));
        }
    }
    let parent = parent_of(target);
    match fs::metadata(&parent) {
        Ok(m) if m.is_dir() => probe_writable(&parent),
        Ok(_) => Err(IoError::new(&parent, "is not a folder")),
        Err(e) => Err(IoError::os(&parent, "write into the folder", e)),
    }
}

/// Refuse an output *folder* path that exists as something else, or (without `force`) a
/// folder that holds files and was not written by ctplan. Missing parent folders are allowed
/// (they are made when the folder is published); the nearest existing one must be writable.
pub fn check_dir_target(target: &Path, force: bool) -> Result<(), IoError> {
    match fs::symlink_metadata(target) {
        Ok(m) if m.is_dir() => {
            let not_ours = !target.join(MARKER).is_file()
                && fs::read_dir(target)
                    .map_err(|e| IoError::os(target, "read the folder", e))?
                    .next()
                    .is_some();
            if not_ours && !force {
                return Err(IoError::new(
                    target,
                    format!(
                        "exists, is not empty and was not written by ctplan (no {MARKER} file); \
                         ctplan replaces only its own output folders ({FORCE_HINT})"
                    ),
                ));
            }
        }
        Ok(_) => {
            return Err(IoError::new(
                target,
                "exists and is not a folder; the output here is a folder",
            ));
        }
        Err(_) => {}
    }
    let existing = target
        .ancestors()
        .skip(1)
        .map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
        .find(|p| p.exists())
        .unwrap_or(Path::new("."));
    if !existing.is_dir() {
        return Err(IoError::new(existing, "is not a folder"));
    }
    probe_writable(existing)
}

/// Whether files can be made in `dir`: make and remove an empty folder there.
fn probe_writable(dir: &Path) -> Result<(), IoError> {
    let probe = dir.join(unique_name(".ctplan-probe"));
    fs::create_dir(&probe).map_err(|e| IoError::os(dir, "write into the folder", e))?;
    let _ = fs::remove_dir(&probe);
    Ok(())
}

/// A hidden name unique within this process.
pub(crate) fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{n}", std::process::id())
}

/// Files written together: [`FileSet::stage`] checks a target and gives the path to write it
/// at (in a hidden staging folder beside it, under the same name, so that a detached header
/// names its data file rightly); [`FileSet::commit`] moves every staged file into place. A set
/// dropped without commit, or whose commit fails, leaves nothing behind and every earlier file
/// as it was.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let (a, b) = (dir.path().join("a.txt"), dir.path().join("b.txt"));
/// let mut set = ctplan_io::output::FileSet::new(false);
/// std::fs::write(set.stage(&a).unwrap(), b"a").unwrap();
/// std::fs::write(set.stage(&b).unwrap(), b"b").unwrap();
/// assert!(!a.exists());
/// set.commit().unwrap();
/// assert_eq!(std::fs::read(&b).unwrap(), b"b");
/// // Existing files are refused without force.
/// assert!(ctplan_io::output::FileSet::new(false).stage(&a).is_err());
/// ```
pub struct FileSet {
    force: bool,
    /// Staging folders, one per target folder: (staging, target folder).
    staging: Vec<(PathBuf, PathBuf)>,
    committed: bool,
}

impl FileSet {
    /// An empty set; `force` allows replacing existing files.
    pub fn new(force: bool) -> FileSet {
        FileSet {
            force,
            staging: Vec::new(),
            committed: false,
        }
    }

    /// Check `target` ([`check_file_target`]) and return the path to write it at.
    pub fn stage(&mut self, target: &Path) -> Result<PathBuf, IoError> {
        check_file_target(target, self.force)?;
        let name = target
            .file_name()
            .ok_or_else(|| IoError::new(target, "is not a file name"))?;
        let parent = parent_of(target);
        let canon = fs::canonicalize(&parent).unwrap_or_else(|_| parent.clone());
        if let Some((s, _)) = self.staging.iter().find(|(_, p)| *p == canon) {
            return Ok(s.join(name));
        }
        let s = parent.join(unique_name(".ctplan-staging"));
        fs::create_dir(&s).map_err(|e| IoError::os(&parent, "write into the folder", e))?;
        self.staging.push((s.clone(), canon));
        Ok(s.join(name))
    }

    /// Move every staged file into place, all or none: a file in the way is replaced only with
    /// `force` (kept aside until every file is in place, and restored on failure).
    pub fn commit(mut self) -> Result<(), IoError> {
        let mut done: Vec<(PathBuf, PathBuf, Option<PathBuf>)> = Vec::new();
        let result = self.move_all(&mut done);
        if result.is_err() {
            for (staged, target, old) in done.into_iter().rev() {
                let _ = fs::rename(&target, &staged);
                if let Some(old) = old {
                    let _ = fs::rename(&old, &target);
                }
            }
        } else {
            self.committed = true;
        }
        self.remove_staging();
        result
    }

    fn move_all(&self, done: &mut Vec<(PathBuf, PathBuf, Option<PathBuf>)>) -> Result<(), IoError> {
        for (s, parent) in &self.staging {
            let files = fs::read_dir(s).map_err(|e| IoError::os(s, "read the folder", e))?;
            let mut names: Vec<_> = files
                .filter_map(|e| e.ok())
                .map(|e| e.file_name())
                .collect();
            names.sort();
            for name in names {
                let staged = s.join(&name);
                let target = parent.join(&name);
                let mut old = None;
                if let Ok(m) = fs::symlink_metadata(&target) {
                    if !self.force || !m.is_file() {
                        return Err(IoError::new(
                            &target,
                            format!("appeared while the command ran ({FORCE_HINT})"),
                        ));
                    }
                    let aside = s.join(format!(".old-{}", name.to_string_lossy()));
                    fs::rename(&target, &aside)
                        .map_err(|e| IoError::os(&target, "replace the file", e))?;
                    old = Some(aside);
                }
                if let Err(e) = fs::rename(&staged, &target) {
                    if let Some(old) = &old {
                        let _ = fs::rename(old, &target);
                    }
                    return Err(IoError::os(&target, "move the file into place", e));
                }
                done.push((staged, target, old));
            }
        }
        Ok(())
    }

    fn remove_staging(&mut self) {
        for (s, _) in self.staging.drain(..) {
            let _ = fs::remove_dir_all(s);
        }
    }
}

impl Drop for FileSet {
    fn drop(&mut self) {
        if !self.committed {
            self.remove_staging();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn existing_files_are_refused_unless_forced_then_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.txt");
        fs::write(&a, b"old").unwrap();
        let e = FileSet::new(false).stage(&a).unwrap_err();
        assert!(e.to_string().ends_with("--force to replace it)"), "{e}");
        let mut set = FileSet::new(true);
        fs::write(set.stage(&a).unwrap(), b"new").unwrap();
        set.commit().unwrap();
        assert_eq!(fs::read(&a).unwrap(), b"new");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no staging left"
        );
    }

    #[test]
    fn a_failed_commit_restores_everything() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.txt"), dir.path().join("b.txt"));
        fs::write(&a, b"old").unwrap();
        let mut set = FileSet::new(true);
        fs::write(set.stage(&a).unwrap(), b"new").unwrap();
        fs::write(set.stage(&b).unwrap(), b"b").unwrap();
        // `b.txt` becomes a folder while the command runs: the set cannot be published.
        fs::create_dir(&b).unwrap();
        assert!(set.commit().is_err());
        assert_eq!(fs::read(&a).unwrap(), b"old");
        assert!(b.is_dir());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn a_dropped_set_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut set = FileSet::new(false);
        fs::write(set.stage(&dir.path().join("a.txt")).unwrap(), b"a").unwrap();
        drop(set);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn folders_fifos_and_missing_folders_are_refused_as_files() {
        let dir = tempfile::tempdir().unwrap();
        let e = check_file_target(dir.path(), true).unwrap_err();
        assert_eq!(e.message, "is a folder; the output here is a file");
        let e = check_file_target(Path::new("/dev/null"), true).unwrap_err();
        assert!(e.message.starts_with("is not a regular file"), "{e}");
        let e = check_file_target(&dir.path().join("gone/a.nrrd"), false).unwrap_err();
        assert_eq!(e.message, "cannot write into the folder: no such file");
    }

    #[test]
    fn only_empty_or_ctplan_folders_are_replaceable() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("case");
        assert!(check_dir_target(&d, false).is_ok(), "a new folder");
        fs::create_dir(&d).unwrap();
        assert!(check_dir_target(&d, false).is_ok(), "an empty folder");
        fs::write(d.join("notes.txt"), b"mine").unwrap();
        let e = check_dir_target(&d, false).unwrap_err();
        assert!(e.message.contains("was not written by ctplan"), "{e}");
        assert!(check_dir_target(&d, true).is_ok());
        fs::write(d.join(MARKER), b"lung plan\n").unwrap();
        assert!(check_dir_target(&d, false).is_ok());
        let f = dir.path().join("file");
        fs::write(&f, b"").unwrap();
        assert!(check_dir_target(&f, true).is_err());
        assert!(check_dir_target(&f.join("sub"), false).is_err());
    }
}
