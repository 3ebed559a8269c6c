//! # ctplan-fuzz
//!
//! One harness per parser or decoder that a user's file reaches. A harness takes arbitrary
//! bytes, puts them where the real entry point reads them (a file with the right name in a
//! scratch folder, since every reader works on paths, exactly as the command-line verbs call
//! them) and runs that entry point. Errors are the expected outcome; a panic, an abort, an
//! allocation over the fuzzer's memory limit or a hang is a defect.
//!
//! The coverage-guided targets in `fuzz/` (libFuzzer, built on the stable toolchain by
//! `fuzz/run`) call these functions, and `tests/regressions.rs` runs every committed corpus
//! and regression input through them in `cargo test`, so an input that once crashed a parser
//! stays a test. How to run them and what the runs found: `docs/bad-input.md`.
//!
//! ```
//! // Garbage is refused with an error, never a panic.
//! ctplan_fuzz::run("nrrd", b"NRRD0004\nsizes: 99999999999 1 1\n\n");
//! assert!(ctplan_fuzz::TARGETS.iter().any(|t| t.name == "nrrd"));
//! ```

#![deny(missing_docs)]

use std::cell::RefCell;

/// The allocator the `ctplan` binary runs with, so that the harnesses (and the fuzz targets
/// and tests that link this crate) meet the same allocation bounds as the verbs.
#[global_allocator]
static ALLOC: ctplan_core::alloc::Capped = ctplan_core::alloc::Capped;
use std::path::{Path, PathBuf};

/// A fuzz target: a name (the `fuzz/` binary and the corpus folder) and its harness.
pub struct Target {
    /// The target's name.
    pub name: &'static str,
    /// What it parses.
    pub what: &'static str,
    /// The harness: runs the parser on the bytes and ignores its result.
    pub run: fn(&[u8]),
}

/// Every target.
pub const TARGETS: &[Target] = &[
    Target {
        name: "nrrd",
        what: "NRRD with attached data (`ctplan_io::read`)",
        run: nrrd,
    },
    Target {
        name: "nhdr",
        what: "detached NRRD header and its data file `x.raw` (split at the first NUL)",
        run: nhdr,
    },
    Target {
        name: "nifti",
        what: "NIfTI-1 `.nii` (`ctplan_io::read`, `read_mask`)",
        run: nifti,
    },
    Target {
        name: "nifti_gz",
        what: "gzip-compressed NIfTI-1 `.nii.gz`",
        run: nifti_gz,
    },
    Target {
        name: "metaimage",
        what: "MetaImage `.mha`, and `.mhd` with its data file `x.raw` (split at the first NUL)",
        run: metaimage,
    },
    Target {
        name: "seg_nrrd",
        what: "3D Slicer `.seg.nrrd` (`ctplan_io::seg::read_seg_nrrd`)",
        run: seg_nrrd,
    },
    Target {
        name: "safetensors",
        what: "network weights (`ShapeNet` and `ImplantNet::from_safetensors`)",
        run: safetensors,
    },
    Target {
        name: "ctprior",
        what: "shape prior `.ctprior` (`ShapePrior::from_bytes`)",
        run: ctprior,
    },
    Target {
        name: "lung_anatomy",
        what: "lung anatomy folder or `.seg.nrrd` (`ctplan_lung::model::anatomy::load`)",
        run: lung_anatomy,
    },
    Target {
        name: "dicom_file",
        what: "one DICOM file to its header (`ctplan_dicom::scan` of a folder holding it, as `ctplan info` and `dicom scan` read it)",
        run: dicom_file,
    },
    Target {
        name: "dicom_series",
        what: "one DICOM file to a volume, every transfer syntax (`ctplan_io::read`)",
        run: dicom_series,
    },
    Target {
        name: "dicom_zip",
        what: "a zip archive of DICOM files, walked and read (`ctplan_dicom::scan`, `read_series`)",
        run: dicom_zip,
    },
    Target {
        name: "dicom_deid",
        what: "de-identification of one DICOM file (`ctplan_dicom::deid::anonymize`)",
        run: dicom_deid,
    },
];

/// Runs the target named `name` on `data`.
///
/// # Panics
/// When no target has that name.
pub fn run(name: &str, data: &[u8]) {
    let t = TARGETS
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no fuzz target named {name}"));
    (t.run)(data)
}

thread_local! {
    static SCRATCH: RefCell<Option<PathBuf>> = const { RefCell::new(None) };
}

/// A scratch folder of this process and thread, emptied of nothing: harnesses overwrite
/// their own fixed file names in it.
fn scratch() -> PathBuf {
    SCRATCH.with(|s| {
        s.borrow_mut()
            .get_or_insert_with(|| {
                let dir = std::env::temp_dir().join(format!(
                    "ctplan-fuzz-{}-{:?}",
                    std::process::id(),
                    std::thread::current().id()
                ));
                std::fs::create_dir_all(&dir).expect("cannot create the fuzz scratch folder");
                dir
            })
            .clone()
    })
}

/// Writes `data` to `name` in the scratch folder and returns its path.
fn put(name: &str, data: &[u8]) -> PathBuf {
    let p = scratch().join(name);
    std::fs::write(&p, data).expect("cannot write to the fuzz scratch folder");
    p
}

/// Writes `data` to `name` in the scratch sub-folder `dir` (holding that file only) and returns
/// the folder and the file.
fn put_in(dir: &str, name: &str, data: &[u8]) -> (PathBuf, PathBuf) {
    let d = scratch().join(dir);
    std::fs::create_dir_all(&d).expect("cannot create a fuzz scratch folder");
    let p = d.join(name);
    std::fs::write(&p, data).expect("cannot write to the fuzz scratch folder");
    (d, p)
}

fn read_volume(p: &Path) {
    let _ = ctplan_io::read(p);
    let _ = ctplan_io::read_header(p);
}

/// NRRD with attached data.
pub fn nrrd(data: &[u8]) {
    read_volume(&put("x.nrrd", data));
}

/// The bytes before the first NUL and those after it (all and nothing when there is none).
fn split_nul(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

/// Detached NRRD: the header up to the first NUL as `x.nhdr`, the rest as `x.raw` (seeds name
/// `data file: x.raw`).
pub fn nhdr(data: &[u8]) {
    let (header, raw) = split_nul(data);
    put("x.raw", raw);
    read_volume(&put("x.nhdr", header));
}

/// NIfTI-1, uncompressed.
pub fn nifti(data: &[u8]) {
    let p = put("x.nii", data);
    read_volume(&p);
    let _ = ctplan_io::read_mask(&p);
}

/// NIfTI-1, gzip-compressed (the bytes are the `.nii.gz` file).
pub fn nifti_gz(data: &[u8]) {
    read_volume(&put("x.nii.gz", data));
}

/// MetaImage: the bytes as `x.mha`, then split at the first NUL into `x.mhd` and `x.raw`.
pub fn metaimage(data: &[u8]) {
    read_volume(&put("x.mha", data));
    let (header, raw) = split_nul(data);
    put("x.raw", raw);
    read_volume(&put("x.mhd", header));
}

/// 3D Slicer segmentation.
pub fn seg_nrrd(data: &[u8]) {
    let _ = ctplan_io::seg::read_seg_nrrd(&put("x.seg.nrrd", data));
}

/// Network weights, as both networks read them.
pub fn safetensors(data: &[u8]) {
    let _ = ctplan_cranio::learned::ShapeNet::from_safetensors(data);
    let _ = ctplan_cranio::learned::ImplantNet::from_safetensors(data);
}

/// A shape prior.
pub fn ctprior(data: &[u8]) {
    let _ = ctplan_cranio::ShapePrior::from_bytes(data);
}

/// A small valid mask (a 4×4×4 cube with a 2×2×2 core set), written once per process.
fn valid_mask(name: &str) -> PathBuf {
    let p = scratch().join("valid").join(name);
    if !p.exists() {
        std::fs::create_dir_all(p.parent().unwrap())
            .expect("cannot create the fuzz scratch folder");
        let mut m = ctplan_core::Mask::zeros([4, 4, 4], ctplan_core::Geometry::default());
        for (i, v) in m.data.iter_mut().enumerate() {
            *v = u8::from((i % 4) / 2 == 1 && (i / 4 % 4) / 2 == 1 && i / 16 >= 1 && i / 16 <= 2);
        }
        ctplan_io::write_mask(&p, &m).expect("cannot write a valid mask");
    }
    p
}

/// The lung anatomy loader. The first byte chooses the layout, the rest is the fuzzed file:
/// 0, a folder with a fuzzed `airway.nii` beside a valid `lungs.nrrd`; 1, a folder with a fuzzed
/// `lungs.nrrd` beside a valid `airway.nii.gz`; 2, a `.seg.nrrd`; 3, a single airway mask
/// `.nii.gz`.
pub fn lung_anatomy(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let load = ctplan_lung::model::anatomy::load;
    match mode % 4 {
        0 | 1 => {
            let dir = scratch().join(format!("anatomy{}", mode % 4));
            std::fs::create_dir_all(&dir).expect("cannot create the fuzz scratch folder");
            let (fuzzed, valid) = if mode % 4 == 0 {
                ("airway.nii", "lungs.nrrd")
            } else {
                ("lungs.nrrd", "airway.nii.gz")
            };
            let v = dir.join(valid);
            if !v.exists() {
                std::fs::copy(valid_mask(valid), &v).expect("cannot copy a valid mask");
            }
            std::fs::write(dir.join(fuzzed), rest)
                .expect("cannot write to the fuzz scratch folder");
            let _ = load(&dir);
        }
        2 => {
            let _ = load(&put("anatomy.seg.nrrd", rest));
        }
        _ => {
            let _ = load(&put("airway.nii.gz", rest));
        }
    }
}

/// One DICOM file to its header: the folder scan (headers only) and the choice of a series.
pub fn dicom_file(data: &[u8]) {
    let (dir, _) = put_in("dicom_file", "x.dcm", data);
    if let Ok(scan) = ctplan_dicom::scan(&dir) {
        let _ = scan.select(None);
    }
}

/// One DICOM file to a volume: header, layout and pixel decoding.
pub fn dicom_series(data: &[u8]) {
    let (_, p) = put_in("dicom_series", "x.dcm", data);
    let _ = ctplan_io::read(&p);
}

/// A zip archive of DICOM files: its entries walked, their headers read, a series decoded.
pub fn dicom_zip(data: &[u8]) {
    let (_, p) = put_in("dicom_zip", "x.zip", data);
    if ctplan_dicom::scan(&p).is_ok() {
        let _ = ctplan_dicom::read_series(&p, ctplan_dicom::LoadOptions::default());
    }
}

/// De-identification of one DICOM file into a new file (removed again after each run).
pub fn dicom_deid(data: &[u8]) {
    let (dir, p) = put_in("dicom_deid", "x.dcm", data);
    let out = dir.join("out.dcm");
    let _ = std::fs::remove_file(&out);
    let opts = ctplan_dicom::deid::DeidOptions {
        key: b"fuzz".to_vec(),
        allow_burned_in: false,
    };
    let _ = ctplan_dicom::deid::anonymize(&p, &out, &opts);
    let _ = std::fs::remove_file(&out);
}
