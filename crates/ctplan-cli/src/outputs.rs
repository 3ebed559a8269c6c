//! What a command may write, checked before the work starts (the rules are
//! `ctplan_io::output`'s): an output is never an input, nor inside or around one; an existing
//! file or foreign folder is replaced only with `--force`; FIFOs, devices and folders where a
//! file is expected are refused; the folder must be writable and the extension known. Files are
//! written to staging paths and published together by [`Outputs::commit`].

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use ctplan_io::output::{FileSet, check_dir_target};

/// What an output file holds, for the check of its extension.
#[derive(Clone, Copy)]
pub enum Kind {
    /// A volume (.nrrd, .nhdr, .nii, .nii.gz, .mha, .mhd).
    Volume,
    /// A surface mesh (.stl, .ply, .obj, .glb).
    Mesh,
    /// Anything (reports, priors).
    Any,
}

/// The outputs of one command run.
pub struct Outputs {
    force: bool,
    inputs: Vec<(PathBuf, PathBuf)>,
    /// The files staged so far, resolved, so that no path is named twice.
    staged: Vec<PathBuf>,
    files: FileSet,
}

impl Outputs {
    /// Outputs of a command reading `inputs` (paths as given; those that do not exist are
    /// left to the readers to report). `force` allows replacing what ctplan did not write.
    pub fn new(force: bool, inputs: &[&Path]) -> Outputs {
        let inputs = inputs
            .iter()
            .filter_map(|p| resolve_input(p).map(|c| (p.to_path_buf(), c)))
            .collect();
        Outputs {
            force,
            inputs,
            staged: Vec::new(),
            files: FileSet::new(force),
        }
    }

    /// Check the output file `target` and return the path to write it at; it appears at
    /// `target` on [`Outputs::commit`].
    pub fn file(&mut self, target: &Path, kind: Kind) -> Result<PathBuf> {
        match kind {
            Kind::Volume if ctplan_io::Format::from_path(target).is_none() => bail!(
                "{}: unknown output format (expected .nrrd, .nhdr, .nii, .nii.gz, .mha or .mhd)",
                target.display()
            ),
            Kind::Mesh => {
                ctplan_mesh::pipeline::MeshFormat::of(target)?;
            }
            _ => {}
        }
        self.not_an_input(target)?;
        let resolved = resolve(target).unwrap_or_else(|| target.to_path_buf());
        if self.staged.contains(&resolved) {
            bail!("{}: is named twice as an output", target.display());
        }
        self.staged.push(resolved);
        if let Kind::Volume = kind {
            self.no_data_file_in_the_way(target)?;
        }
        Ok(self.files.stage(target)?)
    }

    /// A detached header (`.nhdr`, `.mhd`) writes its voxels beside it (`NAME.raw`,
    /// `NAME.raw.gz`, `NAME.zraw`): such a file already there is refused like the output itself.
    fn no_data_file_in_the_way(&self, target: &Path) -> Result<()> {
        let detached = matches!(
            ctplan_io::Format::from_path(target),
            Some(ctplan_io::Format::Nrrd { detached: true })
                | Some(ctplan_io::Format::MetaImage { detached: true })
        );
        if !detached || self.force {
            return Ok(());
        }
        for ext in ["raw", "raw.gz", "zraw"] {
            let data = target.with_extension(ext);
            if std::fs::symlink_metadata(&data).is_ok() {
                bail!(
                    "{}: exists and would be replaced by the voxel data of {}; ctplan does not \
                     overwrite files (use --force to replace it)",
                    data.display(),
                    target.display()
                );
            }
        }
        Ok(())
    }

    /// Check the output folder `target` (published later by `ctplan_io::publish_dir`).
    pub fn dir(&self, target: &Path) -> Result<()> {
        self.not_an_input(target)?;
        Ok(check_dir_target(target, self.force)?)
    }

    /// Check a new output (file or folder) that the writer itself creates and never replaces.
    pub fn new_path(&self, target: &Path) -> Result<()> {
        self.not_an_input(target)?;
        if let Ok(m) = std::fs::metadata(target)
            && !m.is_file()
            && !m.is_dir()
        {
            bail!(
                "{}: is not a regular file (a FIFO, socket or device); refusing to write to it",
                target.display()
            );
        }
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        Ok(check_dir_target(&parent.join(".ctplan-check"), false)?)
    }

    /// Move every staged file into place, all or none.
    pub fn commit(self) -> Result<()> {
        Ok(self.files.commit()?)
    }

    /// Refuse an output that is an input, lies inside an input folder or holds an input.
    fn not_an_input(&self, target: &Path) -> Result<()> {
        let Some(out) = resolve(target) else {
            bail!("{}: cannot tell where this path leads", target.display());
        };
        for (given, input) in &self.inputs {
            let (o, i) = (target.display(), given.display());
            if out == *input {
                bail!("{o}: is the input {i}; the output must be a different path");
            }
            if out.starts_with(input) {
                bail!("{o}: is inside the input {i}; write the output elsewhere");
            }
            if input.starts_with(&out) {
                bail!("{o}: holds the input {i}; write the output elsewhere");
            }
        }
        Ok(())
    }
}

/// Run a batch into the folder `output`, published (see `ctplan_io::publish_dir`) with the
/// cases that succeeded; when every case fails (`failed`), nothing is. The results of every
/// case come back either way, to report.
pub fn publish_batch<T>(
    output: &Path,
    command: &str,
    force: bool,
    run: impl FnOnce(&Path) -> Vec<T>,
    failed: impl Fn(&T) -> bool,
) -> Result<Vec<T>> {
    enum Unpublished<T> {
        AllFailed(Vec<T>),
        Io(ctplan_io::IoError),
    }
    impl<T> From<ctplan_io::IoError> for Unpublished<T> {
        fn from(e: ctplan_io::IoError) -> Self {
            Unpublished::Io(e)
        }
    }
    let published = ctplan_io::publish_dir(output, command, force, |dir| {
        let results = run(dir);
        if results.iter().all(&failed) {
            return Err(Unpublished::AllFailed(results));
        }
        Ok(results)
    });
    match published {
        Ok(r) | Err(Unpublished::AllFailed(r)) => Ok(r),
        Err(Unpublished::Io(e)) => Err(e.into()),
    }
}

/// An input path made absolute with links resolved; `PATH#SERIES` (a DICOM series picked in a
/// folder) counts as `PATH`.
fn resolve_input(p: &Path) -> Option<PathBuf> {
    std::fs::canonicalize(p).ok().or_else(|| {
        let s = p.to_str()?;
        let (base, _) = s.rsplit_once('#')?;
        std::fs::canonicalize(base).ok()
    })
}

/// A path made absolute with links resolved; for one that does not exist yet, its nearest
/// existing folder resolved and the rest appended.
fn resolve(p: &Path) -> Option<PathBuf> {
    if let Ok(c) = std::fs::canonicalize(p) {
        return Some(c);
    }
    let mut rest = Vec::new();
    let mut cur = p;
    loop {
        rest.push(cur.file_name()?);
        cur = cur.parent()?;
        let base = if cur.as_os_str().is_empty() {
            Path::new(".")
        } else {
            cur
        };
        if let Ok(mut c) = std::fs::canonicalize(base) {
            c.extend(rest.iter().rev());
            return Some(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_equal_to_inside_or_around_an_input_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("anatomy");
        std::fs::create_dir(&input).unwrap();
        let o = Outputs::new(false, &[&input]);
        let e = o.dir(&input).unwrap_err().to_string();
        assert!(e.ends_with("the output must be a different path"), "{e}");
        let e = o.dir(&input.join("new/case")).unwrap_err().to_string();
        assert!(e.contains("is inside the input"), "{e}");
        let e = o.dir(dir.path()).unwrap_err().to_string();
        assert!(e.contains("holds the input"), "{e}");
        // Through `..` and a relative spelling too.
        let e = o.dir(&input.join("../anatomy")).unwrap_err().to_string();
        assert!(e.contains("the output must be a different path"), "{e}");
        assert!(o.dir(&dir.path().join("case")).is_ok());
    }

    #[test]
    fn one_file_named_twice_as_an_output_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = Outputs::new(false, &[]);
        let a = dir.path().join("a.nrrd");
        o.file(&a, Kind::Volume).unwrap();
        let e = o
            .file(&dir.path().join("./a.nrrd"), Kind::Volume)
            .unwrap_err();
        assert!(
            e.to_string()
                .ends_with("a.nrrd: is named twice as an output"),
            "{e}"
        );
    }

    #[test]
    fn a_series_spec_counts_as_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        let spec = PathBuf::from(format!("{}#2", dir.path().display()));
        let o = Outputs::new(false, &[&spec]);
        assert!(o.new_path(&dir.path().join("x.nrrd")).is_err());
    }
}
