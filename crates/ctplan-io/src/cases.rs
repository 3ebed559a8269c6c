//! Folders of cases: volume files named by case (`070.nrrd` is case `070`), paired across
//! folders by that name and never by directory order (which the file system does not fix), and
//! the output folder of a batch, removed again when no case wrote into it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::IoError;

/// The volume extensions a case file may have, longest first so that `.nii.gz` wins over `.gz`.
const EXTENSIONS: [&str; 6] = [".nii.gz", ".nrrd", ".nhdr", ".nii", ".mha", ".mhd"];

/// Case name of a volume file: its name without the volume extension (`070.nrrd` → `070`).
pub fn case_name(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_string_lossy().into_owned();
    let lower = name.to_ascii_lowercase();
    for ext in EXTENSIONS {
        if lower.ends_with(ext) {
            return Some(name[..name.len() - ext.len()].to_string());
        }
    }
    None
}

/// Volume files of a folder by case name; a single file is a folder of one case. A folder
/// without volume files, or with two files of one case (`a.nrrd` and `a.nii`), is an error.
pub fn volumes_in(path: &Path) -> Result<BTreeMap<String, PathBuf>, IoError> {
    let mut out = BTreeMap::new();
    if path.is_file() {
        let name = case_name(path).ok_or_else(|| IoError::new(path, "not a volume file"))?;
        out.insert(name, path.to_path_buf());
        return Ok(out);
    }
    let unreadable =
        |e: std::io::Error| IoError::with_source(path, format!("cannot read folder: {e}"), e);
    for e in std::fs::read_dir(path).map_err(unreadable)? {
        let p = e.map_err(unreadable)?.path();
        if let Some(name) = case_name(&p)
            && let Some(prev) = out.insert(name.clone(), p.clone())
        {
            return Err(IoError::new(
                path,
                format!(
                    "case '{name}' appears twice ({} and {})",
                    prev.display(),
                    p.display()
                ),
            ));
        }
    }
    if out.is_empty() {
        return Err(IoError::new(
            path,
            "no volume files (.nrrd, .nhdr, .nii, .nii.gz, .mha, .mhd)",
        ));
    }
    Ok(out)
}

/// Create the folder `dir` for outputs, with any missing parents; returns the folders made
/// here, for [`remove_created`].
pub fn create_output_dir(dir: &Path) -> Result<Vec<PathBuf>, IoError> {
    let created: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|p| !p.as_os_str().is_empty() && !p.exists())
        .map(Path::to_path_buf)
        .collect();
    std::fs::create_dir_all(dir)
        .map_err(|e| IoError::with_source(dir, format!("cannot create folder: {e}"), e))?;
    Ok(created)
}

/// Remove the folders [`create_output_dir`] made when nothing was written into them: a
/// command that failed leaves nothing behind. Only empty folders go.
pub fn remove_created(created: &[PathBuf]) {
    let mut deepest_first = created.to_vec();
    deepest_first.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    for d in deepest_first {
        let _ = std::fs::remove_dir(d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_strip_volume_extensions() {
        assert_eq!(case_name(Path::new("a/070.nrrd")).as_deref(), Some("070"));
        assert_eq!(case_name(Path::new("x.y.NII.GZ")).as_deref(), Some("x.y"));
        assert_eq!(case_name(Path::new("readme.txt")), None);
    }

    #[test]
    fn a_folder_maps_case_names_to_files_and_refuses_twins() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for f in ["002.nrrd", "001.nii.gz", "notes.txt"] {
            std::fs::write(d.join(f), b"").unwrap();
        }
        let v = volumes_in(d).unwrap();
        assert_eq!(v.keys().collect::<Vec<_>>(), ["001", "002"]);
        assert_eq!(v["001"], d.join("001.nii.gz"));
        let one = volumes_in(&d.join("002.nrrd")).unwrap();
        assert_eq!(one.len(), 1);
        std::fs::write(d.join("002.mha"), b"").unwrap();
        let e = volumes_in(d).unwrap_err();
        assert!(e.message.starts_with("case '002' appears twice"), "{e}");
    }

    #[test]
    fn empty_or_missing_folders_are_errors_naming_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let e = volumes_in(dir.path()).unwrap_err();
        assert_eq!(e.path, dir.path());
        assert!(e.message.starts_with("no volume files"), "{e}");
        let gone = dir.path().join("gone");
        let e = volumes_in(&gone).unwrap_err();
        // The OS error in the message (the one line the command prints), and kept with its kind.
        let os = e.os_error().expect("the OS error is kept");
        assert_eq!(
            e.to_string(),
            format!("{}: cannot read folder: {os}", gone.display())
        );
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn created_folders_are_removed_only_when_empty() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("a/b");
        let made = create_output_dir(&out).unwrap();
        assert_eq!(made, [out.clone(), dir.path().join("a")]);
        remove_created(&made);
        assert!(!dir.path().join("a").exists());
        let made = create_output_dir(&out).unwrap();
        std::fs::write(out.join("case.nrrd"), b"x").unwrap();
        remove_created(&made);
        assert!(out.join("case.nrrd").exists());
    }
}
