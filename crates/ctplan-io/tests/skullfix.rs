//! Reading the real SkullFix files (pynrrd-written gzip NRRD, oblique `space directions`).

use std::path::Path;

use ctplan_core::AnyVolume;

/// Parse `space directions`/`space origin` from the header text independently of the reader.
fn header_numbers(path: &Path) -> (Vec<f64>, Vec<f64>) {
    let bytes = std::fs::read(path).unwrap();
    let text = String::from_utf8_lossy(&bytes[..2000]);
    let nums = |line: &str| -> Vec<f64> {
        line.split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == 'e' || c == '+'))
            .filter(|t| !t.is_empty())
            .map(|t| t.parse().unwrap())
            .collect()
    };
    let dirs = text
        .lines()
        .find(|l| l.starts_with("space directions:"))
        .unwrap();
    let org = text
        .lines()
        .find(|l| l.starts_with("space origin:"))
        .unwrap();
    (nums(&dirs[17..]), nums(&org[13..]))
}

#[test]
fn oblique_case_keeps_full_direction_matrix_and_round_trips() {
    let Some(p) = ctplan_testdata::data_file("skullfix/training_set/complete_skull/000.nrrd")
    else {
        return;
    };
    let img = ctplan_io::read(&p).unwrap();
    let AnyVolume::I32(v) = &img.volume else {
        panic!("SkullFix is int32, got {:?}", img.volume.scalar_type())
    };
    assert_eq!(v.dims[0], 512);
    assert_eq!(v.dims[1], 512);
    let (dirs, origin) = header_numbers(&p);
    let axes = v.geometry.axis_vectors();
    for a in 0..3 {
        for r in 0..3 {
            assert_eq!(axes[a][r], dirs[3 * a + r], "axis {a} component {r}");
        }
    }
    assert_eq!(v.geometry.origin.to_vec(), origin);
    assert!(
        !v.geometry.is_axis_aligned(1e-6),
        "case 000 has a gantry tilt"
    );
    assert!(v.data.iter().all(|&x| x == 0 || x == 1));

    // Write in every format and read back.
    let dir = tempfile::tempdir().unwrap();
    for name in ["x.nrrd", "x.nhdr", "x.mha", "x.mhd"] {
        let out = dir.path().join(name);
        ctplan_io::write(&out, &img.volume, &Default::default()).unwrap();
        assert_eq!(ctplan_io::read(&out).unwrap().volume, img.volume, "{name}");
    }
    // The mask reader agrees with the typed reader.
    let m = ctplan_io::read_mask(&p).unwrap();
    assert_eq!(m, img.volume.to_mask());
}

#[test]
fn training_triplets_satisfy_the_identities() {
    let Some(dir) = ctplan_testdata::data_dir() else {
        return;
    };
    let t = dir.join("skullfix/training_set");
    for case in ["005", "042"] {
        let c = ctplan_io::read_mask(&t.join(format!("complete_skull/{case}.nrrd"))).unwrap();
        let d = ctplan_io::read_mask(&t.join(format!("defective_skull/{case}.nrrd"))).unwrap();
        let i = ctplan_io::read_mask(&t.join(format!("implant/{case}.nrrd"))).unwrap();
        assert_eq!(c.geometry, d.geometry);
        for ((&c, &d), &i) in c.data.iter().zip(&d.data).zip(&i.data) {
            assert_eq!(c, d | i);
            assert_eq!(d & i, 0);
        }
    }
}
