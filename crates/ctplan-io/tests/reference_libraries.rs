//! Cross-check of the readers and writers against the reference libraries: files written by
//! SimpleITK, pynrrd and nibabel (tests/reference/io_fixtures.py) must read with the same
//! voxels (CRC-32 of the data) and geometry, and files we write must read the same in SimpleITK.

use std::path::Path;
use std::process::Command;

use ctplan_core::{AnyVolume, Geometry, Volume, with_volume};
use serde_json::Value;

fn script() -> std::path::PathBuf {
    ctplan_testdata::workspace_root().join("tests/reference/io_fixtures.py")
}

fn run_py(py: &Path, args: &[&std::ffi::OsStr]) -> Value {
    let out = Command::new(py).arg(script()).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn describe(v: &AnyVolume) -> (f64, u32) {
    let mut crc = flate2::Crc::new();
    crc.update(v.as_bytes());
    let sum =
        with_volume!(v, x => x.data.iter().map(|&e| ctplan_core::Scalar::to_f64(e)).sum::<f64>());
    (sum, crc.sum())
}

fn close(a: &[f64], b: &Value, tol: f64, what: &str) {
    let b: Vec<f64> = b
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_eq!(a.len(), b.len(), "{what}");
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() <= tol, "{what}: {a:?} vs {b:?}");
    }
}

fn check(name: &str, v: &AnyVolume, e: &Value, tol: f64) {
    let g = v.geometry();
    let dims: Vec<f64> = v.dims().iter().map(|&d| d as f64).collect();
    close(&dims, &e["sizes"], 0.0, name);
    close(&g.spacing, &e["spacing"], tol, &format!("{name} spacing"));
    close(
        &g.origin,
        &e["origin"],
        tol * 100.0,
        &format!("{name} origin"),
    );
    let dir: Vec<f64> = g.direction.iter().flatten().copied().collect();
    close(&dir, &e["direction"], tol, &format!("{name} direction"));
    let (sum, crc) = describe(v);
    let want = e["sum"].as_f64().unwrap();
    assert!(
        (sum - want).abs() <= 1e-12 * want.abs().max(1.0),
        "{name} sum {sum} vs {want}"
    );
    assert_eq!(
        crc as u64,
        e["crc32"].as_u64().unwrap(),
        "{name} voxel checksum"
    );
}

#[test]
fn reads_what_reference_libraries_write() {
    let Some(py) = ctplan_testdata::python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let expected = run_py(&py, &["write".as_ref(), dir.path().as_os_str()]);
    let expected = expected.as_object().unwrap();
    assert_eq!(expected.len(), 8);
    for (name, e) in expected {
        let img = ctplan_io::read(&dir.path().join(name)).unwrap_or_else(|err| panic!("{err}"));
        // NIfTI stores geometry in f32.
        let tol = if name.contains(".nii") { 2e-6 } else { 1e-12 };
        check(name, &img.volume, e, tol);
        // The streaming mask reader sees the same foreground.
        let mask = ctplan_io::read_mask(&dir.path().join(name)).unwrap();
        assert_eq!(mask, img.volume.to_mask(), "{name}");
    }
}

#[test]
fn simpleitk_reads_what_we_write() {
    let Some(py) = ctplan_testdata::python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let g = Geometry::from_axis_vectors(
        [[0.6, 0.05, 0.0], [-0.05, 0.6, 0.0], [0.0, 0.0, 1.5]],
        [-99.75, 12.5, -40.125],
    )
    .unwrap();
    let mut v: Volume<i16> = Volume::zeros([17, 9, 5], g);
    for (i, x) in v.data.iter_mut().enumerate() {
        *x = ((i * 7919) % 4001) as i16 - 2000;
    }
    let any = AnyVolume::I16(v);
    let names = ["w.nrrd", "w.nhdr", "w.nii.gz", "w.nii", "w.mha", "w.mhd"];
    let mut args: Vec<std::ffi::OsString> = vec!["read".into()];
    for n in names {
        let p = dir.path().join(n);
        ctplan_io::write(&p, &any, &Default::default()).unwrap();
        args.push(p.into_os_string());
    }
    let arg_refs: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    let seen = run_py(&py, &arg_refs);
    for n in names {
        let e = &seen[dir.path().join(n).to_str().unwrap()];
        assert_eq!(e["type"], "16-bit signed integer", "{n}");
        let tol = if n.contains(".nii") { 2e-6 } else { 1e-12 };
        check(n, &any, e, tol);
    }
}
