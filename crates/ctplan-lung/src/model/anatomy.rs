//! The patient's segmented chest anatomy on one grid, from the layouts users bring.
//!
//! Accepted: a folder of mask files named by role — ctplan's own case folder (`lungs`, `airway`,
//! `vessels`, `arteries`, `veins`, `nodule`, `fissures`), TotalSegmentator's output
//! (`lung_upper_lobe_left` … `lung_lower_lobe_right` joined into the lungs, `lung_airways` or
//! `lung_trachea_bronchia`, `lung_vessels`, `lung_arteries`, `lung_veins`, `lung_nodules`) and the
//! Med-MPD layout (`pleuralBoundary`, `bronchialTree`, `vessels`, `fissures`, `nodule`); a 3D
//! Slicer `.seg.nrrd` whose segment names say what they are (lung, airway/bronchi/trachea,
//! vessel, artery, vein, nodule/tumor/lesion, fissure); or a single airway mask file (the
//! airway tree alone: naming only). Files are NIfTI, NRRD or MetaImage. The grid of the lungs
//! (else of the airway) is the case grid; a mask on another grid that overlaps it is resampled
//! onto it (nearest neighbour) with a warning, one that does not overlap is an error.

use std::path::{Path, PathBuf};

use ctplan_core::Mask;
use ctplan_core::resample::{Interpolation, resample};

use crate::error::LungError;

/// Masks on one grid (non-zero = inside).
#[derive(Debug, Clone)]
pub struct Anatomy {
    /// The airway lumen (trachea and bronchi); never empty.
    pub airway: Mask,
    /// Both lungs (lobes joined); the case grid when present.
    pub lungs: Option<Mask>,
    /// Pulmonary vessels not told apart.
    pub vessels: Option<Mask>,
    /// Pulmonary arteries.
    pub arteries: Option<Mask>,
    /// Pulmonary veins.
    pub veins: Option<Mask>,
    /// Nodules (each 26-connected piece is one).
    pub nodules: Option<Mask>,
    /// Fissures (walls between territories).
    pub fissures: Option<Mask>,
    /// Which file gave which role.
    pub sources: Vec<(String, String)>,
    /// Masks resampled or ignored, in words.
    pub warnings: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Role {
    Lungs,
    Airway,
    Vessels,
    Arteries,
    Veins,
    Nodules,
    Fissures,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Lungs => "lungs",
            Role::Airway => "airway",
            Role::Vessels => "vessels",
            Role::Arteries => "arteries",
            Role::Veins => "veins",
            Role::Nodules => "nodules",
            Role::Fissures => "fissures",
        }
    }
}

/// File stems (lower case, extension removed) per role, for the folder layouts.
const STEMS: [(Role, &[&str]); 7] = [
    (
        Role::Lungs,
        &[
            "lungs",
            "lung",
            "pleuralboundary",
            "lung_upper_lobe_left",
            "lung_lower_lobe_left",
            "lung_upper_lobe_right",
            "lung_middle_lobe_right",
            "lung_lower_lobe_right",
        ],
    ),
    (
        Role::Airway,
        &[
            "airway",
            "airways",
            "bronchialtree",
            "lung_airways",
            "lung_trachea_bronchia",
        ],
    ),
    (Role::Vessels, &["vessels", "lung_vessels"]),
    (Role::Arteries, &["arteries", "lung_arteries"]),
    (Role::Veins, &["veins", "lung_veins"]),
    (
        Role::Nodules,
        &["nodule", "nodules", "lung_nodules", "tumor", "lesion"],
    ),
    (Role::Fissures, &["fissures", "fissure"]),
];

fn stem(p: &Path) -> String {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    for ext in [".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd"] {
        if let Some(s) = name.strip_suffix(ext) {
            return s.to_string();
        }
    }
    name
}

fn role_of_segment(name: &str) -> Option<Role> {
    let n = name.to_lowercase();
    let has = |w: &[&str]| w.iter().any(|x| n.contains(x));
    if has(&["nodule", "tumor", "tumour", "lesion"]) {
        Some(Role::Nodules)
    } else if has(&["fissure"]) {
        Some(Role::Fissures)
    } else if has(&["airway", "bronch", "trachea"]) {
        Some(Role::Airway)
    } else if has(&["arter"]) {
        Some(Role::Arteries)
    } else if has(&["vein"]) {
        Some(Role::Veins)
    } else if has(&["vessel"]) {
        Some(Role::Vessels)
    } else if has(&["lung", "lobe", "pleura"]) {
        Some(Role::Lungs)
    } else {
        None
    }
}

/// Read the anatomy at `path` (a folder, a `.seg.nrrd` or one airway mask).
pub fn load(path: &Path) -> Result<Anatomy, LungError> {
    let mut parts: Vec<(Role, String, Mask)> = Vec::new();
    if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|source| LungError::ListFolder {
                path: path.to_path_buf(),
                source,
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && ctplan_io::is_volume_file(p))
            .collect();
        files.sort();
        for f in files {
            let s = stem(&f);
            let Some(role) = STEMS
                .iter()
                .find(|(_, names)| names.contains(&s.as_str()))
                .map(|r| r.0)
            else {
                continue;
            };
            let m = ctplan_io::read_mask(&f)?;
            parts.push((role, f.display().to_string(), m));
        }
        if parts.is_empty() {
            return Err(LungError::Anatomy(format!(
                "{}: no anatomy masks found (expected files such as lungs/airway/vessels/nodule, TotalSegmentator lung_* files or Med-MPD pleuralBoundary/bronchialTree)",
                path.display()
            )));
        }
    } else if path.to_string_lossy().to_lowercase().ends_with(".seg.nrrd") {
        let (vol, segs) = ctplan_io::seg::read_seg_nrrd(path)?;
        let labels = vol.to_f32();
        for s in &segs {
            let Some(role) = role_of_segment(&s.name) else {
                continue;
            };
            let v = s.label_value as f32;
            let m = labels.map(|x| u8::from(x == v));
            parts.push((role, format!("{}#{}", path.display(), s.name), m));
        }
        if parts.is_empty() {
            return Err(LungError::Anatomy(format!(
                "{}: none of its segments is named as lung, airway, vessel, artery, vein, nodule or fissure",
                path.display()
            )));
        }
    } else {
        let m = ctplan_io::read_mask(path)?;
        parts.push((Role::Airway, path.display().to_string(), m));
    }
    assemble(parts)
}

fn assemble(parts: Vec<(Role, String, Mask)>) -> Result<Anatomy, LungError> {
    let reference = parts
        .iter()
        .find(|p| p.0 == Role::Lungs)
        .or_else(|| parts.iter().find(|p| p.0 == Role::Airway))
        .ok_or_else(|| LungError::Anatomy("no lung or airway mask among the inputs".into()))?;
    let (dims, geometry) = (reference.2.dims, reference.2.geometry);
    let mut warnings = Vec::new();
    let mut sources = Vec::new();
    let mut merged: Vec<(Role, Mask)> = Vec::new();
    for (role, src, m) in parts {
        let m = if m
            .check_same_grid(&Mask::zeros(dims, geometry), 1e-3)
            .is_ok()
        {
            m
        } else {
            let r =
                resample(&m, dims, geometry, Interpolation::Nearest, 0u8).map_err(|source| {
                    LungError::Resample {
                        mask: src.clone(),
                        source,
                    }
                })?;
            if r.count_nonzero() == 0 && m.count_nonzero() > 0 {
                return Err(LungError::Anatomy(format!(
                    "{src}: on a different grid ({}×{}×{} voxels) that does not overlap the case grid ({}×{}×{}); the masks must come from the same CT",
                    m.dims[0], m.dims[1], m.dims[2], dims[0], dims[1], dims[2]
                )));
            }
            warnings.push(format!(
                "{src} is on a different grid ({}×{}×{} voxels); resampled onto the case grid ({}×{}×{}) by nearest neighbour",
                m.dims[0], m.dims[1], m.dims[2], dims[0], dims[1], dims[2]
            ));
            r
        };
        sources.push((role.name().to_string(), src));
        if let Some(x) = merged.iter_mut().find(|x| x.0 == role) {
            for (a, b) in x.1.data.iter_mut().zip(&m.data) {
                *a |= u8::from(*b != 0);
            }
        } else {
            let m = m.map(|v| u8::from(v != 0));
            merged.push((role, m));
        }
    }
    let mut take = |r: Role| -> Option<Mask> {
        let i = merged.iter().position(|x| x.0 == r)?;
        Some(merged.swap_remove(i).1)
    };
    let airway = take(Role::Airway).ok_or_else(|| {
        LungError::Anatomy(
            "no airway mask: the airway tree is needed to name bronchi and segments".into(),
        )
    })?;
    if airway.count_nonzero() == 0 {
        let files: Vec<&str> = sources
            .iter()
            .filter(|(role, _)| role == Role::Airway.name())
            .map(|(_, src)| src.as_str())
            .collect();
        return Err(LungError::Anatomy(format!(
            "{}: the airway mask is empty",
            files.join(", ")
        )));
    }
    let empty_to_none = |m: Option<Mask>, what: &str, w: &mut Vec<String>| {
        m.and_then(|m| {
            if m.count_nonzero() == 0 {
                w.push(format!("the {what} mask is empty; ignored"));
                None
            } else {
                Some(m)
            }
        })
    };
    let lungs = empty_to_none(take(Role::Lungs), "lung", &mut warnings);
    let vessels = empty_to_none(take(Role::Vessels), "vessel", &mut warnings);
    let arteries = empty_to_none(take(Role::Arteries), "artery", &mut warnings);
    let veins = empty_to_none(take(Role::Veins), "vein", &mut warnings);
    let nodules = empty_to_none(take(Role::Nodules), "nodule", &mut warnings);
    let fissures = empty_to_none(take(Role::Fissures), "fissure", &mut warnings);
    Ok(Anatomy {
        airway,
        lungs,
        vessels,
        arteries,
        veins,
        nodules,
        fissures,
        sources,
        warnings,
    })
}

/// A synthetic mask volume helper for tests in this crate.
#[cfg(test)]
pub(crate) fn filled(dims: [usize; 3], f: impl Fn(usize, usize, usize) -> bool) -> Mask {
    let mut m = Mask::zeros(dims, ctplan_core::Geometry::new([1.0; 3], [0.0; 3]));
    for k in 0..dims[2] {
        for j in 0..dims[1] {
            for i in 0..dims[0] {
                let idx = m.index(i, j, k);
                m.data[idx] = u8::from(f(i, j, k));
            }
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_from_names() {
        assert_eq!(
            stem(Path::new("/a/lung_trachea_bronchia.nii.gz")),
            "lung_trachea_bronchia"
        );
        assert_eq!(role_of_segment("Right lung"), Some(Role::Lungs));
        assert_eq!(role_of_segment("Airways"), Some(Role::Airway));
        assert_eq!(role_of_segment("Pulmonary veins"), Some(Role::Veins));
        assert_eq!(role_of_segment("Nodule 1"), Some(Role::Nodules));
        assert_eq!(role_of_segment("heart"), None);
    }

    #[test]
    fn empty_airway_is_an_error_and_other_grids_are_resampled() {
        let a = filled([10, 10, 10], |_, _, _| false);
        let e = assemble(vec![(Role::Airway, "a.nii".into(), a)]).unwrap_err();
        // Before: "the airway mask is empty", without the file.
        assert_eq!(e.to_string(), "a.nii: the airway mask is empty");
        let a = filled([10, 10, 10], |i, _, _| i == 5);
        let mut f = filled([5, 5, 5], |_, _, _| true);
        f.geometry.spacing = [2.0; 3];
        let an = assemble(vec![
            (Role::Airway, "a".into(), a),
            (Role::Fissures, "f".into(), f),
        ])
        .unwrap();
        assert_eq!(an.fissures.unwrap().dims, [10, 10, 10]);
        // A grid that does not overlap is named in words, not as a Rust array.
        let a = filled([10, 10, 10], |i, _, _| i == 5);
        let mut f = filled([5, 5, 5], |_, _, _| true);
        f.geometry.origin = [1000.0; 3];
        let e = assemble(vec![
            (Role::Airway, "a".into(), a),
            (Role::Fissures, "f".into(), f),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("(5×5×5 voxels) that does not overlap the case grid (10×10×10)"),
            "{e}"
        );
        assert!(
            an.warnings[0].contains("different grid"),
            "{:?}",
            an.warnings
        );
    }
}
