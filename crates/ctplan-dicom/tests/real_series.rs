//! Real DICOM series from ../shared/data, checked voxel for voxel against pydicom + numpy
//! (tests/reference/dicom_reference.py reads the same files independently: its own slice sort,
//! its own rescale) and against files re-encoded by independent encoders (pydicom's RLE,
//! OpenJPEG, libjpeg-turbo, CharLS).

use std::path::{Path, PathBuf};
use std::process::Command;

use ctplan_core::AnyVolume;
use ctplan_dicom::{LoadOptions, load, read_series, scan};
use sha2::{Digest, Sha256};

fn reference(py: &Path, args: &[&str]) -> serde_json::Value {
    let script = ctplan_testdata::workspace_root().join("tests/reference/dicom_reference.py");
    let out = Command::new(py).arg(script).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "reference script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn sha(v: &AnyVolume) -> String {
    let mut h = Sha256::new();
    h.update(v.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn f(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap()
}

/// Load `rel` with ctplan and compare with pydicom: identical voxels and type, same grid.
fn check_against_pydicom(rel: &str, z_spacing_too: bool) {
    let (Some(data), Some(py)) = (ctplan_testdata::data_dir(), ctplan_testdata::python()) else {
        return;
    };
    let path = data.join(rel);
    let loaded = read_series(&path, LoadOptions::default()).unwrap();
    let r = reference(&py, &["volume", path.to_str().unwrap()]);
    let v = &loaded.volume;
    let dims: Vec<usize> = r["dims"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect();
    assert_eq!(v.dims().to_vec(), dims, "{rel}: dims");
    assert_eq!(
        v.scalar_type().name(),
        r["dtype"].as_str().unwrap(),
        "{rel}: type"
    );
    assert_eq!(
        sha(v),
        r["sha256"].as_str().unwrap(),
        "{rel}: voxels differ from pydicom"
    );
    let g = v.geometry();
    for a in 0..3 {
        assert!(
            (g.origin[a] - f(&r["origin"][a])).abs() < 1e-6,
            "{rel}: origin {g:?}"
        );
        if a < 2 || z_spacing_too {
            assert!(
                (g.spacing[a] - f(&r["spacing"][a])).abs() < 1e-6,
                "{rel}: spacing {g:?}"
            );
            for row in 0..3 {
                assert!(
                    (g.direction[row][a] - f(&r["direction"][row][a])).abs() < 1e-6,
                    "{rel}: direction {g:?}"
                );
            }
        }
    }
}

#[test]
fn lung_pet_ct_dx_5mm_chest_matches_pydicom() {
    check_against_pydicom("lung/lung-pet-ct-dx/A0001-chest-5mm", true);
}

#[test]
fn lung_pet_ct_dx_8mm_thorax_matches_pydicom() {
    check_against_pydicom("lung/lung-pet-ct-dx/A0002-thorax-8mm-B40f", true);
}

#[test]
fn cip_ct64_dicom_matches_pydicom() {
    check_against_pydicom("lung/cip/ct-64Dicom", true);
}

#[test]
fn enhanced_multiframe_ct_matches_pydicom() {
    check_against_pydicom("dicom-samples/eCT_Supplemental.dcm", true);
}

#[test]
fn single_slices_match_pydicom() {
    for f in ["CT_small.dcm", "693_UNCI.dcm", "lungmask_chest_slice.dcm"] {
        check_against_pydicom(&format!("dicom-samples/{f}"), false);
    }
}

#[test]
fn scan_describes_the_series() {
    let Some(data) = ctplan_testdata::data_dir() else {
        return;
    };
    let s = scan(&data.join("lung/lung-pet-ct-dx")).unwrap();
    assert_eq!(s.series.len(), 2, "two series under lung-pet-ct-dx");
    let a1 = s
        .series
        .iter()
        .find(|x| x.frames() == 64)
        .expect("the 64-slice series");
    assert_eq!(a1.modality, "CT");
    assert_eq!((a1.cols, a1.rows), (512, 512));
    assert_eq!(a1.spacing().unwrap()[2], 5.0);
    let a2 = s
        .series
        .iter()
        .find(|x| x.frames() == 30)
        .expect("the 30-slice series");
    assert!(a2.kernel.contains("B40f"), "kernel {:?}", a2.kernel);
    assert!(a2.layout.as_ref().unwrap().problems().is_empty());
    // The annotations, licence and XML files are listed as skipped, not fatal.
    assert!(
        s.skipped
            .iter()
            .any(|k| k.origin.to_string().ends_with(".xml"))
    );
    // Two series and no selector: ambiguous, and the error lists both UIDs.
    let e = s.select(None).unwrap_err().to_string();
    assert!(
        e.contains(&a1.series_uid) && e.contains(&a2.series_uid),
        "{e}"
    );
    // A UID prefix picks one.
    let pick = s
        .select(Some(&a2.series_uid[..a2.series_uid.len() - 3]))
        .unwrap();
    assert_eq!(pick.series_uid, a2.series_uid);
}

fn copy_dir(from: &Path, to: &Path) -> Vec<PathBuf> {
    std::fs::create_dir_all(to).unwrap();
    let mut out = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(from)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for p in names {
        let dst = to.join(p.file_name().unwrap());
        std::fs::copy(&p, &dst).unwrap();
        let mut perm = std::fs::metadata(&dst).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perm.set_readonly(false);
        std::fs::set_permissions(&dst, perm).unwrap();
        out.push(dst);
    }
    out
}

#[test]
fn a_missing_slice_is_reported_and_interpolated() {
    let Some(data) = ctplan_testdata::data_dir() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let files = copy_dir(
        &data.join("lung/lung-pet-ct-dx/A0002-thorax-8mm-B40f"),
        tmp.path(),
    );
    let full = read_series(tmp.path(), LoadOptions::default()).unwrap();
    // Remove the slice that sorts 11th along the normal.
    let s = scan(tmp.path()).unwrap();
    let layout = s.series[0].layout.clone().unwrap();
    let ctplan_dicom::layout::SliceSource::Copy(victim) = layout.slices[10] else {
        panic!()
    };
    let victim_path = match &s.series[0].instances[victim].origin {
        ctplan_dicom::Origin::File(p) => p.clone(),
        _ => unreachable!(),
    };
    assert!(files.contains(&victim_path));
    std::fs::remove_file(&victim_path).unwrap();
    let gap = read_series(tmp.path(), LoadOptions::default()).unwrap();
    assert_eq!(
        gap.volume.dims(),
        full.volume.dims(),
        "the grid keeps its 30 slices"
    );
    assert_eq!(gap.layout.missing.len(), 1);
    assert_eq!(gap.layout.interpolated(), 1);
    assert!(
        gap.notes.iter().any(|n| n.contains("1 missing slice")),
        "{:?}",
        gap.notes
    );
    assert!(
        gap.volume
            .geometry()
            .approx_eq(&full.volume.geometry(), 1e-9)
    );
    // The interpolated slice is the mean of its neighbours; the others are untouched.
    let (AnyVolume::I16(a), AnyVolume::I16(b)) = (&full.volume, &gap.volume) else {
        panic!()
    };
    let plane = 512 * 512;
    assert_eq!(a.data[..10 * plane], b.data[..10 * plane]);
    assert_eq!(a.data[11 * plane..], b.data[11 * plane..]);
    for p in (0..plane).step_by(997) {
        let mean = (a.data[9 * plane + p] as f64 + a.data[11 * plane + p] as f64) / 2.0;
        assert!((b.data[10 * plane + p] as f64 - mean).abs() <= 0.5);
    }
}

#[test]
fn bad_files_are_reported_by_name() {
    let Some(data) = ctplan_testdata::data_dir() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let files = copy_dir(
        &data.join("lung/lung-pet-ct-dx/A0002-thorax-8mm-B40f"),
        tmp.path(),
    );
    std::fs::write(tmp.path().join("notes.txt"), "not an image").unwrap();
    std::fs::write(tmp.path().join("tiny"), "x").unwrap();
    // Truncate one file in its pixel data.
    let victim = &files[5];
    let bytes = std::fs::read(victim).unwrap();
    std::fs::write(victim, &bytes[..bytes.len() / 2]).unwrap();
    let s = scan(tmp.path()).unwrap();
    assert_eq!(s.series.len(), 1);
    let skipped: Vec<String> = s
        .skipped
        .iter()
        .map(|k| format!("{}: {}", k.origin, k.reason))
        .collect();
    assert!(
        skipped
            .iter()
            .any(|k| k.contains("notes.txt") && k.contains("not a DICOM file")),
        "{skipped:?}"
    );
    assert!(skipped.iter().any(|k| k.contains("tiny")), "{skipped:?}");
    let e = load(&s.series[0], LoadOptions::default()).unwrap_err();
    assert_eq!(&e.path, victim, "{e}");
    assert!(
        e.to_string().contains("truncated") || e.to_string().contains("cannot"),
        "{e}"
    );
}

#[test]
fn compressed_transfer_syntaxes_decode_to_the_same_values() {
    let (Some(data), Some(py)) = (ctplan_testdata::data_dir(), ctplan_testdata::python()) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let src = data.join("dicom-samples/CT_small.dcm");
    reference(
        &py,
        &[
            "compress",
            src.to_str().unwrap(),
            tmp.path().to_str().unwrap(),
        ],
    );
    let original = read_series(&src, LoadOptions::default()).unwrap().volume;
    for name in ["rle.dcm", "j2k.dcm", "jpeg_lossless.dcm"] {
        let v = read_series(&tmp.path().join(name), LoadOptions::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .volume;
        assert_eq!(
            v, original,
            "{name}: lossless decode differs from the uncompressed file"
        );
    }
    // Lossy baseline JPEG: within one grey level of libjpeg-turbo's own decode.
    let v = read_series(&tmp.path().join("baseline.dcm"), LoadOptions::default())
        .unwrap()
        .volume;
    let expected = std::fs::read(tmp.path().join("baseline.u8")).unwrap();
    let AnyVolume::I16(v) = v else {
        panic!("8-bit baseline loads as int16")
    };
    let worst = v
        .data
        .iter()
        .zip(&expected)
        .map(|(&a, &b)| (a as i32 - b as i32).abs())
        .max()
        .unwrap();
    assert!(
        worst <= 1,
        "baseline JPEG differs from libjpeg-turbo by {worst}"
    );
    // JPEG-LS has no pure-Rust decoder here: a clear refusal naming the file and the syntax.
    let e = read_series(&tmp.path().join("jpegls.dcm"), LoadOptions::default()).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("jpegls.dcm")
            && msg.contains("unsupported transfer syntax")
            && msg.contains("JPEG-LS"),
        "{msg}"
    );
}

#[test]
fn a_zip_archive_reads_like_its_folder() {
    let Some(data) = ctplan_testdata::data_dir() else {
        return;
    };
    let dir = data.join("lung/lung-pet-ct-dx/A0002-thorax-8mm-B40f");
    let tmp = tempfile::tempdir().unwrap();
    let zip_path = tmp.path().join("study.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for p in names {
        zip.start_file(
            format!("nested/{}", p.file_name().unwrap().to_string_lossy()),
            opts,
        )
        .unwrap();
        std::io::Write::write_all(&mut zip, &std::fs::read(&p).unwrap()).unwrap();
    }
    zip.finish().unwrap();
    let a = read_series(&dir, LoadOptions::default()).unwrap();
    let b = read_series(&zip_path, LoadOptions::default()).unwrap();
    assert_eq!(a.volume, b.volume);
}
