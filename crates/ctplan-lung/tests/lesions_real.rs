//! Lesions on real CTs: grown from the centre of a radiologist's tumour box on the
//! Lung-PET-CT-Dx series (`lung/lung-pet-ct-dx`, A0001 at 5 mm and A0002 at 8 mm slices), and
//! found by the candidate list on `lung/chest-ct-2mm`.
//!
//! References: the Lung-PET-CT-Dx boxes are the dataset's own per-slice annotations
//! (`annotations/A000N/<SOPInstanceUID>.xml`, PASCAL-VOC pixel boxes). The `chest-ct-2mm`
//! tumour was located by looking at its axial slices: a round solid mass about 2 cm across in
//! the right lung, posterior to the right upper lobe bronchus, visible on the slices
//! z = −16.5 … −0.5 mm, centred near (−85, 81, −8.5) mm LPS.

use std::collections::HashMap;
use std::path::Path;

use ctplan_core::Volume;
use ctplan_lung::segment::{self, hounsfield};

/// The number in `<tag>…</tag>` of a PASCAL-VOC file.
fn tag(xml: &str, name: &str) -> f64 {
    let open = format!("<{name}>");
    let a = xml.find(&open).unwrap() + open.len();
    let b = a + xml[a..].find('<').unwrap();
    xml[a..b].trim().parse().unwrap()
}

/// One annotated slice: its index in the volume and the box as voxel ranges (i0..=i1, j0..=j1).
struct Annotated {
    k: usize,
    i: [usize; 2],
    j: [usize; 2],
}

/// The CT of the DICOM folder `series` and the boxes of `annotations` on its slices (the
/// annotation file named by the SOPInstanceUID of its slice; files of other series skipped).
fn load(series: &Path, annotations: &Path) -> (Volume<i16>, Vec<Annotated>) {
    let ct = hounsfield(&ctplan_io::read(series).unwrap().volume);
    let scan = ctplan_dicom::scan(series).unwrap();
    let s = scan.select(None).unwrap();
    let frames: HashMap<&str, &ctplan_dicom::Frame> = s
        .instances
        .iter()
        .map(|i| (i.sop_instance_uid.as_str(), &i.frames[0]))
        .collect();
    let mut out = Vec::new();
    for e in std::fs::read_dir(annotations).unwrap() {
        let p = e.unwrap().path();
        let uid = p.file_stem().unwrap().to_string_lossy().to_string();
        let Some(f) = frames.get(uid.as_str()) else {
            continue;
        };
        let xml = std::fs::read_to_string(&p).unwrap();
        let (pos, o, ps) = (
            f.position.unwrap(),
            f.orientation.unwrap(),
            f.pixel_spacing.unwrap(),
        );
        // Pixel (column c, row r) of the slice in the world, then on the volume's grid.
        let index = |c: f64, r: f64| {
            let w = [0, 1, 2].map(|a| pos[a] + c * ps[1] * o[a] + r * ps[0] * o[3 + a]);
            ct.geometry.world_to_index(w).unwrap()
        };
        let lo = index(tag(&xml, "xmin"), tag(&xml, "ymin"));
        let hi = index(tag(&xml, "xmax"), tag(&xml, "ymax"));
        let r = |x: f64| x.round() as usize;
        out.push(Annotated {
            k: r(lo[2]),
            i: [r(lo[0].min(hi[0])), r(lo[0].max(hi[0]))],
            j: [r(lo[1].min(hi[1])), r(lo[1].max(hi[1]))],
        });
    }
    out.sort_by_key(|a| a.k);
    (ct, out)
}

/// Box IoU (inclusive voxel ranges).
fn iou(a: ([usize; 2], [usize; 2]), b: ([usize; 2], [usize; 2])) -> f64 {
    let len = |r: [usize; 2]| (r[1] + 1 - r[0]) as f64;
    let over = |x: [usize; 2], y: [usize; 2]| {
        (x[1].min(y[1]) as f64 + 1.0 - x[0].max(y[0]) as f64).max(0.0)
    };
    let inter = over(a.0, b.0) * over(a.1, b.1);
    inter / (len(a.0) * len(a.1) + len(b.0) * len(b.1) - inter)
}

/// Grow from the centre of the middle annotated box of `series` and compare the lesion's
/// in-plane extent with the box on every annotated slice: mean IoU at least `min_iou`.
fn grown_in_box(series: &str, annotations: &str, min_iou: f64) {
    let (Some(dir), Some(ann)) = (
        ctplan_testdata::data_file(series),
        ctplan_testdata::data_file(annotations),
    ) else {
        return;
    };
    let (ct, boxes) = load(&dir, &ann);
    assert!(boxes.len() >= 5, "{} annotated slices", boxes.len());
    let mid = &boxes[boxes.len() / 2];
    let centre = [
        (mid.i[0] + mid.i[1]) as f64 / 2.0,
        (mid.j[0] + mid.j[1]) as f64 / 2.0,
        mid.k as f64,
    ];
    let seed = ct.geometry.index_to_world(centre);
    let segment::Built {
        chest: m,
        summary: s,
        ..
    } = segment::model(&ct, &[seed], &mut |_| {}).unwrap();
    // The lungs are split in two, and the airway holds no lung (a leak adds litres).
    let n = |l: u8| m.lungs.data.iter().filter(|&&v| v == l).count();
    assert!(
        n(1) * 5 > n(2) && n(2) * 5 > n(1),
        "right {} left {}",
        n(1),
        n(2)
    );
    assert!(
        s.airway.volume_ml < 250.0,
        "airway {} mL (leak at {:?} HU, threshold {} HU, steps {:?})",
        s.airway.volume_ml,
        s.airway.leak_at_hu,
        s.airway.threshold_hu,
        s.airway.steps
    );
    let lesion = &m.lesions[0];
    let [nx, ny, _] = ct.dims;
    let mut ious = Vec::new();
    for b in &boxes {
        let (mut i, mut j) = ([usize::MAX, 0], [usize::MAX, 0]);
        for jj in 0..ny {
            for ii in 0..nx {
                if lesion.mask.data[ct.index(ii, jj, b.k)] != 0 {
                    i = [i[0].min(ii), i[1].max(ii)];
                    j = [j[0].min(jj), j[1].max(jj)];
                }
            }
        }
        let v = if i[0] == usize::MAX {
            0.0
        } else {
            iou((i, j), (b.i, b.j))
        };
        println!(
            "{series} slice {}: box {:?} {:?}, grown {:?} {:?}, IoU {v:.2}",
            b.k, b.i, b.j, i, j
        );
        ious.push(v);
    }
    let mean = ious.iter().sum::<f64>() / ious.len() as f64;
    println!(
        "{series}: mean IoU {mean:.3} over {} slices; lesion {:.1} mm, {:.1} mL, {:.0} HU, {:?}; airway {:.1} mL, leak at {:?}",
        ious.len(),
        lesion.diameter_mm,
        lesion.volume_ml,
        lesion.mean_hu,
        s.lesions[0].lobe,
        s.airway.volume_ml,
        s.airway.leak_at_hu
    );
    assert!(mean >= min_iou, "{series}: mean IoU {mean:.3}: {ious:.2?}");
}

#[test]
fn a0001_5mm_tumour_fills_its_boxes() {
    grown_in_box(
        "lung/lung-pet-ct-dx/A0001-chest-5mm",
        "lung/lung-pet-ct-dx/annotations/A0001",
        0.5,
    );
}

/// The 0.5, with little margin (0.511 on 2026-12-07, BENCHMARKS.md): on the two
/// highest annotated slices the mass lies medial to the lung, inside the mediastinum beside the
/// trachea, where the lung's hull (the bound that keeps a lesion out of the mediastinum) does
/// not reach, so those slices score 0.10 and 0.
#[test]
fn a0002_8mm_tumour_fills_its_boxes() {
    grown_in_box(
        "lung/lung-pet-ct-dx/A0002-thorax-8mm-B40f",
        "lung/lung-pet-ct-dx/annotations/A0002",
        0.5,
    );
}

#[test]
fn chest_ct_tumour_heads_the_candidates() {
    let Some(dir) = ctplan_testdata::data_file("lung/chest-ct-2mm") else {
        return;
    };
    let ct = hounsfield(&ctplan_io::read(&dir).unwrap().volume);
    let reference = [-85.0, 81.0, -8.5];
    let segment::Built {
        chest: m,
        summary: s,
        ..
    } = segment::model(&ct, &[reference], &mut |_| {}).unwrap();
    for (n, c) in s.candidates.iter().enumerate() {
        println!("candidate {}: {c:?}", n + 1);
    }
    let at = s.candidates.iter().position(|c| {
        (0..3)
            .map(|a| (c.centre_mm[a] - reference[a]).powi(2))
            .sum::<f64>()
            .sqrt()
            < 10.0
    });
    assert!(
        matches!(at, Some(0..=2)),
        "tumour at {at:?} of the candidates"
    );
    assert!(s.candidates.len() <= segment::CANDIDATES);
    // Grown from the reference point: a 2 cm solid mass.
    let l = &s.lesions[0];
    println!("grown: {l:?}");
    assert!((15.0..35.0).contains(&l.diameter_mm), "{l:?}");
    assert!(l.mean_hu > -300.0, "{l:?}");
    assert_eq!(l.side, "right");
    assert_eq!(
        m.nodules()
            .unwrap()
            .data
            .iter()
            .filter(|&&v| v == 1)
            .count() as f64
            * ct.voxel_volume_mm3()
            / 1000.0,
        l.volume_ml
    );
}
