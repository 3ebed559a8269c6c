//! The case folder's label map (`segments.seg.nrrd`): segments 1–18, then airway, vessels,
//! arteries, veins and nodule, with names and colours that 3D Slicer shows.

use ctplan_core::{Mask, Volume};
use ctplan_io::seg::Segment;

use crate::airway::SegmentId;
use crate::model::Model;

/// Colour of segment `s` (0–1 RGB): lobes in hue families, segments in shades.
pub fn segment_color(s: SegmentId) -> [f64; 3] {
    const C: [[f64; 3]; 18] = [
        [0.95, 0.55, 0.55],
        [0.85, 0.35, 0.35],
        [0.70, 0.20, 0.25],
        [0.55, 0.80, 0.45],
        [0.35, 0.65, 0.30],
        [0.55, 0.65, 0.95],
        [0.40, 0.50, 0.90],
        [0.30, 0.40, 0.75],
        [0.45, 0.75, 0.95],
        [0.25, 0.30, 0.60],
        [0.95, 0.80, 0.45],
        [0.90, 0.65, 0.30],
        [0.80, 0.55, 0.80],
        [0.65, 0.40, 0.70],
        [0.45, 0.85, 0.80],
        [0.30, 0.70, 0.65],
        [0.55, 0.90, 0.65],
        [0.20, 0.55, 0.50],
    ];
    C[s.0]
}

const AIRWAY: u8 = 19;
const VESSELS: u8 = 20;
const ARTERIES: u8 = 21;
const VEINS: u8 = 22;
const NODULE: u8 = 23;

/// One label map: segments 1–18 (order of [`SEGMENTS`](crate::airway::names::SEGMENTS)), then airway, vessels, arteries, veins,
/// nodule drawn over them in that order.
pub fn label_map(model: &Model) -> (Volume<u8>, Vec<Segment>) {
    let a = &model.anatomy;
    let mut out: Volume<u8> = Volume::zeros(a.airway.dims, a.airway.geometry);
    if let Some(t) = &model.territory {
        for (o, &l) in out.data.iter_mut().zip(&t.data) {
            if let Some(s) = model.naming.segment_of_label(l) {
                *o = s.label();
            }
        }
    }
    let mut segs: Vec<Segment> = SegmentId::all()
        .map(|s| Segment {
            id: s.def().segment.to_string(),
            name: format!("{} ({})", s.def().segment, s.def().lobe),
            color: segment_color(s),
            label_value: s.label() as u32,
            layer: 0,
            tags: String::new(),
        })
        .collect();
    let overlays: [(Option<&Mask>, u8, &str, [f64; 3]); 5] = [
        (Some(&a.airway), AIRWAY, "airway", [0.95, 0.95, 0.9]),
        (a.vessels.as_ref(), VESSELS, "vessels", [0.8, 0.25, 0.6]),
        (a.arteries.as_ref(), ARTERIES, "arteries", [0.2, 0.35, 0.9]),
        (a.veins.as_ref(), VEINS, "veins", [0.9, 0.2, 0.2]),
        (a.nodules.as_ref(), NODULE, "nodule", [1.0, 0.85, 0.0]),
    ];
    for (m, v, name, color) in overlays {
        let Some(m) = m else { continue };
        for (o, &x) in out.data.iter_mut().zip(&m.data) {
            if x != 0 {
                *o = v;
            }
        }
        segs.push(Segment {
            id: name.to_string(),
            name: name.to_string(),
            color,
            label_value: v as u32,
            layer: 0,
            tags: String::new(),
        });
    }
    (out, segs)
}
