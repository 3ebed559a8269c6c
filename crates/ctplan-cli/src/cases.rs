//! Pairing files of several folders by case name (never by directory order).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// Create the folder `dir` for a batch's outputs, with any missing parents; returns the folders
/// made here, for [`remove_created`].
pub fn create_output_dir(dir: &Path) -> Result<Vec<PathBuf>> {
    let created: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|p| !p.as_os_str().is_empty() && !p.exists())
        .map(Path::to_path_buf)
        .collect();
    std::fs::create_dir_all(dir)
        .with_context(|| format!("{}: cannot create folder", dir.display()))?;
    Ok(created)
}

/// Remove the folders a batch made (see [`create_output_dir`]) when no case wrote into them:
/// a batch whose every case failed leaves nothing behind. Only empty folders go.
pub fn remove_created(created: &[PathBuf]) {
    let mut deepest_first = created.to_vec();
    deepest_first.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    for d in deepest_first {
        let _ = std::fs::remove_dir(d);
    }
}

/// Case name of a volume file: its name without the volume extension (`070.nrrd` → `070`).
pub fn case_name(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_string_lossy().into_owned();
    let lower = name.to_ascii_lowercase();
    for ext in [".nii.gz", ".nrrd", ".nhdr", ".nii", ".mha", ".mhd"] {
        if lower.ends_with(ext) {
            return Some(name[..name.len() - ext.len()].to_string());
        }
    }
    None
}

/// Volume files of a folder by case name; a single file is a folder of one case.
pub fn volumes_in(path: &Path) -> Result<BTreeMap<String, PathBuf>> {
    let mut out = BTreeMap::new();
    if path.is_file() {
        let name =
            case_name(path).with_context(|| format!("{}: not a volume file", path.display()))?;
        out.insert(name, path.to_path_buf());
        return Ok(out);
    }
    let entries = std::fs::read_dir(path)
        .with_context(|| format!("{}: cannot read folder", path.display()))?;
    for e in entries {
        let p = e
            .with_context(|| format!("{}: cannot read folder", path.display()))?
            .path();
        if let Some(name) = case_name(&p)
            && let Some(prev) = out.insert(name.clone(), p.clone())
        {
            bail!(
                "{}: case '{name}' appears twice ({} and {})",
                path.display(),
                prev.display(),
                p.display()
            );
        }
    }
    if out.is_empty() {
        bail!(
            "{}: no volume files (.nrrd, .nhdr, .nii, .nii.gz, .mha, .mhd)",
            path.display()
        );
    }
    Ok(out)
}

/// One case: its name and a file per role.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub pred: PathBuf,
    pub truth: PathBuf,
    pub defective: PathBuf,
}

/// Pair prediction, truth and defective files by case name. Every truth case must have a
/// prediction and a defective skull; missing ones are named in the error. Predictions without
/// a truth are reported in the returned warnings.
pub fn pair(pred: &Path, truth: &Path, defective: &Path) -> Result<(Vec<Case>, Vec<String>)> {
    let p = volumes_in(pred)?;
    let t = volumes_in(truth)?;
    let d = volumes_in(defective)?;
    // A single truth file pairs with single pred/defective files whatever their names.
    if truth.is_file() && pred.is_file() && defective.is_file() {
        let (name, tp) = t.into_iter().next().unwrap();
        return Ok((
            vec![Case {
                name,
                pred: pred.into(),
                truth: tp,
                defective: defective.into(),
            }],
            vec![],
        ));
    }
    let mut missing = Vec::new();
    let mut cases = Vec::new();
    for (name, tp) in &t {
        match (p.get(name), d.get(name)) {
            (Some(pp), Some(dp)) => cases.push(Case {
                name: name.clone(),
                pred: pp.clone(),
                truth: tp.clone(),
                defective: dp.clone(),
            }),
            (pp, dp) => {
                if pp.is_none() {
                    missing.push(format!(
                        "prediction for case '{name}' missing in {}",
                        pred.display()
                    ));
                }
                if dp.is_none() {
                    missing.push(format!(
                        "defective skull for case '{name}' missing in {}",
                        defective.display()
                    ));
                }
            }
        }
    }
    if !missing.is_empty() {
        bail!("{}", missing.join("; "));
    }
    let warnings = p
        .keys()
        .filter(|k| !t.contains_key(*k))
        .map(|k| {
            format!(
                "prediction '{k}' has no truth in {}; ignored",
                truth.display()
            )
        })
        .collect();
    Ok((cases, warnings))
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
}
