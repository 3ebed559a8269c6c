//! The skull pipeline on real SkullFix skulls: every training skull gets a defect of every
//! style, and a CT-like volume built from a real skull segments back to it.

use ctplan_core::Mask;
use ctplan_cranio::defects::{Style, inject};
use ctplan_cranio::rng::Rng;
use ctplan_cranio::skull::{SkullGuard, segment};
use rayon::prelude::*;

fn ml(m: &Mask) -> f64 {
    m.count_nonzero() as f64 * m.voxel_volume_mm3() / 1000.0
}

#[test]
fn every_training_skull_takes_every_style() {
    let Some(dir) = ctplan_testdata::data_dir() else {
        return;
    };
    let dir = dir.join("skullfix/training_set/complete_skull");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 70);
    let volumes: Vec<Vec<(Style, f64)>> = files
        .par_iter()
        .map(|f| {
            let complete = ctplan_io::read_mask(f).unwrap();
            let name = f.file_stem().unwrap().to_string_lossy().into_owned();
            Style::ALL
                .iter()
                .map(|&style| {
                    let mut rng = Rng::derive(2026, &format!("{name}/{}", style.name()));
                    let inj = inject(&complete, style, &mut rng)
                        .unwrap_or_else(|e| panic!("{name}: {e}"));
                    for ((&c, &d), &i) in complete
                        .data
                        .iter()
                        .zip(&inj.defective.data)
                        .zip(&inj.implant.data)
                    {
                        assert!(
                            c == (d | i) && (d & i) == 0,
                            "{name} {style:?}: identity broken"
                        );
                    }
                    (style, ml(&inj.implant))
                })
                .collect()
        })
        .collect();
    for style in Style::ALL {
        let v: Vec<f64> = volumes
            .iter()
            .flatten()
            .filter(|(s, _)| *s == style)
            .map(|(_, v)| *v)
            .collect();
        let (lo, hi) = v
            .iter()
            .fold((f64::INFINITY, 0.0f64), |(a, b), &x| (a.min(x), b.max(x)));
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        eprintln!(
            "{:16} implant volume over 70 skulls: {lo:5.1}–{hi:5.1} mL, mean {mean:5.1} mL",
            style.name()
        );
        // Plausible cranial defects: more than a burr hole, less than a hemicraniectomy. For
        // scale, the 70 SkullFix training implants are 22.7–71.8 mL.
        assert!(lo >= 5.0 && hi <= 150.0, "{style:?}: {lo}–{hi} mL");
    }
}

#[test]
fn segmentation_recovers_a_real_skull_from_a_synthetic_ct() {
    let Some(f) = ctplan_testdata::data_file("skullfix/training_set/complete_skull/012.nrrd")
    else {
        return;
    };
    let skull = ctplan_io::read_mask(&f).unwrap();
    let [nx, ny, nz] = skull.dims;
    // CT-like intensities: air −1000, soft tissue 40 in a head-sized ellipse, bone 700–1200,
    // a CT table (bone-dense, separate) under the head, Gaussian-ish noise σ≈20 HU and isolated
    // bright specks that only the cleaning removes.
    let mut rng = Rng::new(5);
    let mut ct = skull.map(|_| -1000i16);
    let (cx, cy) = (nx as f64 / 2.0, ny as f64 / 2.0);
    for k in 0..nz {
        for j in 0..ny {
            for i in 0..nx {
                let idx = i + nx * (j + ny * k);
                let r2 = ((i as f64 - cx) / (0.42 * nx as f64)).powi(2)
                    + ((j as f64 - cy) / (0.46 * ny as f64)).powi(2);
                let mut v = if r2 <= 1.0 { 40.0 } else { -1000.0 };
                if skull.data[idx] != 0 {
                    v = 700.0 + 500.0 * rng.uniform();
                }
                if j >= ny - 12 && j < ny - 4 {
                    v = 900.0; // the table
                }
                let noise = (rng.uniform() + rng.uniform() + rng.uniform() - 1.5) * 40.0;
                if rng.uniform() < 2e-4 {
                    v = 2000.0; // isolated bright specks (streaks, calcifications)
                }
                ct.data[idx] = (v + noise) as i16;
            }
        }
    }
    let bone = ctplan_cranio::skull::threshold(&ct, 150.0);
    assert!(
        bone.count_nonzero() > skull.count_nonzero() + 10_000,
        "table and specks are above threshold"
    );
    let got = segment(&ct, 150.0, None, &SkullGuard::default()).unwrap();
    let both = got
        .data
        .iter()
        .zip(&skull.data)
        .filter(|(a, b)| **a != 0 && **b != 0)
        .count();
    let dsc = 2.0 * both as f64 / (got.count_nonzero() + skull.count_nonzero()) as f64;
    eprintln!("segmentation DSC {dsc:.5}");
    assert!(dsc >= 0.99, "DSC {dsc}");
}
