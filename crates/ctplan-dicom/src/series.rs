//! The first stages of reading DICOM: scan a folder into studies and series (headers only),
//! describe each series and the grid its frames map to, and choose one series. Decoding the
//! chosen series into a volume is the next stage ([`decode`](crate::decode)).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use rayon::prelude::*;

use crate::DicomError;
use crate::files::{Origin, Skipped, find, sole_refusal};
use crate::header::{Frame, Instance, MEDIA_STORAGE_DIRECTORY};
use crate::layout::{Layout, plan};

/// One series: its files' headers and the grid they map to.
#[derive(Debug, Clone)]
pub struct Series {
    /// StudyInstanceUID shared by the series' files.
    pub study_uid: String,
    /// SeriesInstanceUID shared by the series' files.
    pub series_uid: String,
    /// Modality of the first file (CT, MR, SR, ...).
    pub modality: String,
    /// SeriesDescription of the first file.
    pub description: String,
    /// SeriesNumber of the first file, when given.
    pub series_number: Option<i64>,
    /// ConvolutionKernel of the first file.
    pub kernel: String,
    /// TransferSyntaxUID of the first file.
    pub transfer_syntax: String,
    /// Rows of the first file (every file must agree to form a volume).
    pub rows: u32,
    /// Columns of the first file.
    pub cols: u32,
    /// SliceThickness of the first frame, mm.
    pub slice_thickness: Option<f64>,
    /// The headers of every file of the series.
    pub instances: Vec<Instance>,
    /// The grid the frames map to, or why they do not form a volume.
    pub layout: Result<Layout, String>,
}

impl Series {
    /// Number of image frames (slices) in the series, duplicates included.
    pub fn frames(&self) -> usize {
        self.instances.iter().map(|i| i.frames.len()).sum()
    }

    /// True if the series holds pixel data that could form a volume (not a report, not a scout).
    pub fn is_image(&self) -> bool {
        self.frames() > 0 && !self.instances.iter().all(Instance::is_localizer)
    }

    /// Human-readable transfer syntax name.
    pub fn transfer_syntax_name(&self) -> String {
        transfer_syntax_name(&self.transfer_syntax)
    }

    /// Voxel spacing (x, y, z) in mm, when the series is a volume.
    pub fn spacing(&self) -> Option<[f64; 3]> {
        self.layout.as_ref().ok().map(|l| l.geometry.spacing)
    }

    /// Every frame of the series in file order: (instance index, frame number), the frame's
    /// header, and the instance number used to order duplicates.
    pub(crate) fn frame_list(&self) -> (Vec<(usize, u32)>, Vec<Frame>, Vec<i64>) {
        let mut refs = Vec::new();
        let mut frames = Vec::new();
        let mut keys = Vec::new();
        for (i, inst) in self.instances.iter().enumerate() {
            for (k, f) in inst.frames.iter().enumerate() {
                refs.push((i, k as u32));
                frames.push(f.clone());
                keys.push(inst.instance_number.unwrap_or(i64::MAX));
            }
        }
        (refs, frames, keys)
    }
}

pub(crate) fn transfer_syntax_name(uid: &str) -> String {
    TransferSyntaxRegistry
        .get(uid)
        .map(|ts| ts.name().to_string())
        .unwrap_or_else(|| format!("unknown transfer syntax {uid}"))
}

/// The series found below a folder (or in a zip archive or one file), and what was left out.
#[derive(Debug, Clone)]
pub struct Scan {
    /// The folder, archive or file that was scanned.
    pub root: PathBuf,
    /// Ordered by study, then series number, then UID.
    pub series: Vec<Series>,
    /// Files that are not DICOM, could not be parsed, or are file-set indexes (DICOMDIR).
    pub skipped: Vec<Skipped>,
}

/// Walk `root` and group every DICOM file by StudyInstanceUID / SeriesInstanceUID, reading only
/// headers (stops before the pixel data).
pub fn scan(root: &Path) -> Result<Scan, DicomError> {
    let (found, skipped) = find(root)?;
    Ok(group(root, found, skipped))
}

/// [`scan`] for files already in memory, as (name, bytes) pairs (an upload that must not touch
/// the disk): the same grouping, description and choice; `root` names the whole in messages.
/// [`load`](crate::load) then decodes a series from the same bytes.
pub fn scan_memory(root: &str, files: Vec<(String, Vec<u8>)>) -> Scan {
    let (found, skipped) = crate::files::find_memory(files);
    group(Path::new(root), found, skipped)
}

/// Read the headers of `found` and group them into series (the files that fail join `skipped`).
fn group(root: &Path, found: Vec<Origin>, mut skipped: Vec<Skipped>) -> Scan {
    let parsed: Vec<Result<Instance, Skipped>> = found
        .into_par_iter()
        .map(|origin| match origin.open(true) {
            Ok(obj) => {
                let inst = match Instance::from_object(origin.clone(), &obj, origin.size()) {
                    Ok(inst) => inst,
                    Err(reason) => return Err(Skipped { origin, reason }),
                };
                if inst.sop_class_uid == MEDIA_STORAGE_DIRECTORY {
                    Err(Skipped {
                        origin,
                        reason: "DICOMDIR (a file-set index; the files it lists are read directly)"
                            .to_string(),
                    })
                } else {
                    Ok(inst)
                }
            }
            Err(e) => Err(Skipped {
                origin,
                reason: e.message,
            }),
        })
        .collect();
    let mut groups: BTreeMap<(String, String), Vec<Instance>> = BTreeMap::new();
    for p in parsed {
        match p {
            Ok(inst) => groups
                .entry((inst.study_uid.clone(), inst.series_uid.clone()))
                .or_default()
                .push(inst),
            Err(s) => skipped.push(s),
        }
    }
    skipped.sort_by(|a, b| a.origin.cmp(&b.origin));
    let mut series: Vec<Series> = groups
        .into_values()
        .map(|instances| {
            let first = &instances[0];
            let mut s = Series {
                study_uid: first.study_uid.clone(),
                series_uid: first.series_uid.clone(),
                modality: first.modality.clone(),
                description: first.series_description.clone(),
                series_number: first.series_number,
                kernel: first.kernel.clone(),
                transfer_syntax: first.transfer_syntax.clone(),
                rows: first.rows,
                cols: first.cols,
                slice_thickness: first.frames.first().and_then(|f| f.slice_thickness),
                layout: Err(String::new()),
                instances,
            };
            s.layout = layout_of(&s);
            s
        })
        .collect();
    series.sort_by(|a, b| {
        (&a.study_uid, a.series_number, &a.series_uid).cmp(&(
            &b.study_uid,
            b.series_number,
            &b.series_uid,
        ))
    });
    Scan {
        root: root.to_path_buf(),
        series,
        skipped,
    }
}

fn layout_of(s: &Series) -> Result<Layout, String> {
    if s.frames() == 0 {
        return Err("no image pixel data".to_string());
    }
    if let Some(i) = s
        .instances
        .iter()
        .find(|i| i.rows != s.rows || i.cols != s.cols)
    {
        return Err(format!(
            "images of different sizes ({}×{} and {}×{}, {}): not one volume",
            s.cols, s.rows, i.cols, i.rows, i.origin
        ));
    }
    if let Some(i) = s.instances.iter().find(|i| i.samples_per_pixel != 1) {
        return Err(format!(
            "{} samples per pixel (colour) in {}: not a CT volume",
            i.samples_per_pixel, i.origin
        ));
    }
    let (_, frames, keys) = s.frame_list();
    let mut l = plan(&frames, &keys)?;
    l.dims[0] = s.cols as usize;
    l.dims[1] = s.rows as usize;
    Ok(l)
}

impl Scan {
    /// Choose a series: by SeriesInstanceUID, a unique UID prefix, or SeriesNumber; without a
    /// selector, the only series, or else the only image series with more than two slices that
    /// is not a localizer.
    pub fn select(&self, selector: Option<&str>) -> Result<&Series, DicomError> {
        let err = |msg: String| DicomError::new(&self.root, msg);
        let listing = || {
            self.series
                .iter()
                .map(|s| {
                    format!(
                        "\n  {}  #{} {} {:?} ({} slices)",
                        s.series_uid,
                        s.series_number.map(|n| n.to_string()).unwrap_or_default(),
                        s.modality,
                        s.description,
                        s.frames()
                    )
                })
                .collect::<String>()
        };
        if self.series.is_empty() {
            if let Some(e) = sole_refusal(&self.root, &self.skipped) {
                return Err(e);
            }
            let why = if self.skipped.is_empty() {
                "no DICOM files found".to_string()
            } else {
                format!(
                    "no readable DICOM series ({} file(s) skipped, first: {}: {})",
                    self.skipped.len(),
                    self.skipped[0].origin,
                    self.skipped[0].reason
                )
            };
            return Err(err(why));
        }
        if let Some(sel) = selector {
            if let Some(s) = self.series.iter().find(|s| s.series_uid == sel) {
                return Ok(s);
            }
            let by_prefix: Vec<&Series> = self
                .series
                .iter()
                .filter(|s| s.series_uid.starts_with(sel))
                .collect();
            if by_prefix.len() == 1 {
                return Ok(by_prefix[0]);
            }
            let by_number: Vec<&Series> = self
                .series
                .iter()
                .filter(|s| s.series_number.is_some_and(|n| n.to_string() == sel))
                .collect();
            if by_number.len() == 1 {
                return Ok(by_number[0]);
            }
            return Err(err(format!(
                "no single series matches {sel:?} (UID, UID prefix or series number); series here:{}",
                listing()
            )));
        }
        if self.series.len() == 1 {
            return Ok(&self.series[0]);
        }
        let volumes: Vec<&Series> = self
            .series
            .iter()
            .filter(|s| s.is_image() && s.frames() > 2)
            .collect();
        if volumes.len() == 1 {
            return Ok(volumes[0]);
        }
        Err(err(format!(
            "{} series here; choose one as PATH#SERIES (UID, UID prefix or series number):{}",
            self.series.len(),
            listing()
        )))
    }
}

/// Split `PATH#SERIES` into the path and the optional series selector.
pub fn split_selector(spec: &Path) -> (PathBuf, Option<String>) {
    let s = spec.to_string_lossy();
    if !spec.exists()
        && let Some((path, sel)) = s.rsplit_once('#')
        && !sel.is_empty()
    {
        return (PathBuf::from(path), Some(sel.to_string()));
    }
    (spec.to_path_buf(), None)
}
