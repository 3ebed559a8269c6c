//! The case folder's contents: a multi-label segmentation (3D Slicer `.seg.nrrd`), a glTF scene of
//! named, coloured meshes and a readable Markdown summary. Bytes and volumes only: the caller
//! writes them (atomically).

use serde::Serialize;

use ctplan_core::crop::{BoundingBox, bounding_box, crop};
use ctplan_core::morphology::dilate;
use ctplan_core::{Mask, Volume};
use ctplan_io::seg::Segment;
use ctplan_mesh::TriMesh;
use ctplan_mesh::decimate::decimate;
use ctplan_mesh::extract::mask_surface;
use ctplan_mesh::smooth::taubin;
use rayon::prelude::*;

use crate::names::SEGMENTS;
use crate::plan::{
    BronchusReport, LobeReport, Model, NoduleReport, ResectionReport, SegmentOption, SegmentReport,
    resected_mask,
};

/// The whole report (`report.json`).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub bronchi: Vec<BronchusReport>,
    pub segments: Vec<SegmentReport>,
    pub lobes: Vec<LobeReport>,
    pub lung_volume_ml: f64,
    pub nodules: Vec<NoduleReport>,
    pub resection: Option<ResectionReport>,
    /// Each segment resected alone (see [`crate::plan::each_segment`]).
    pub segment_resections: Vec<SegmentOption>,
    pub warnings: Vec<String>,
    pub seconds: Vec<(String, f64)>,
}

/// Colour of segment `s` (0–1 RGB): lobes in hue families, segments in shades.
pub fn segment_color(s: usize) -> [f64; 3] {
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
    C[s]
}

const AIRWAY: u8 = 19;
const VESSELS: u8 = 20;
const ARTERIES: u8 = 21;
const VEINS: u8 = 22;
const NODULE: u8 = 23;

/// One label map: segments 1–18 (order of [`SEGMENTS`]), then airway, vessels, arteries, veins,
/// nodule drawn over them in that order.
pub fn label_map(model: &Model) -> (Volume<u8>, Vec<Segment>) {
    let a = &model.anatomy;
    let mut out: Volume<u8> = Volume::zeros(a.airway.dims, a.airway.geometry);
    if let Some(t) = &model.territory {
        for (o, &l) in out.data.iter_mut().zip(&t.data) {
            if l != 0
                && let Some(s) = model.naming.segment_of[l as usize - 1]
            {
                *o = s as u8 + 1;
            }
        }
    }
    let mut segs: Vec<Segment> = SEGMENTS
        .iter()
        .enumerate()
        .map(|(s, d)| Segment {
            id: d.segment.to_string(),
            name: format!("{} ({})", d.segment, d.lobe),
            color: segment_color(s),
            label_value: s as u32 + 1,
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

/// A surface mesh of a mask for viewing: sampled every second voxel along axes finer than
/// 1 mm (a quarter to an eighth of the triangles), smoothed, then decimated to at most 30 000
/// triangles.
fn view_mesh(m: &Mask) -> TriMesh {
    let Some(b) = bounding_box(m) else {
        return TriMesh::default();
    };
    let b = b.expand([2, 2, 2], m.dims);
    let local = crop(m, &b);
    let step = local.geometry.spacing.map(|s| if s < 1.0 { 2 } else { 1 });
    let dims = [0, 1, 2].map(|d| local.dims[d].div_ceil(step[d]));
    let mut g = local.geometry;
    g.spacing = [0, 1, 2].map(|d| g.spacing[d] * step[d] as f64);
    let mut sub = Mask::zeros(dims, g);
    for k in 0..dims[2] {
        for j in 0..dims[1] {
            for i in 0..dims[0] {
                let v = local.get(i * step[0], j * step[1], k * step[2]);
                let idx = sub.index(i, j, k);
                sub.data[idx] = v;
            }
        }
    }
    let mut mesh = mask_surface(&sub);
    // The voxel staircase smoothed away (Taubin λ|μ, no shrinking) before simplification.
    taubin(&mut mesh, 10);
    let n = mesh.triangles.len();
    if n > 30_000 {
        decimate(&mesh, 30_000.0 / n as f64, 1.0)
    } else {
        mesh
    }
}

/// Named meshes of the case: segments, airway, vessels, nodule, its margin halo, and the
/// intersegmental plane of the resection.
pub fn scene(
    model: &Model,
    resected: Option<&[bool]>,
    halo_mm: Option<f64>,
) -> Vec<(String, TriMesh, [f32; 4])> {
    let mut parts = Vec::new();
    let a = &model.anatomy;
    if let Some(t) = &model.territory {
        // Each segment meshed from a crop of the territory map around it (small masks, meshed
        // side by side), not from 18 full-grid masks.
        let [nx, ny, _] = t.dims;
        let mut boxes: Vec<Option<BoundingBox>> = vec![None; SEGMENTS.len()];
        for (v, &l) in t.data.iter().enumerate() {
            if l == 0 {
                continue;
            }
            let Some(s) = model.naming.segment_of[l as usize - 1] else {
                continue;
            };
            let c = [v % nx, (v / nx) % ny, v / (nx * ny)];
            let b = boxes[s].get_or_insert(BoundingBox {
                start: c,
                end: [c[0] + 1, c[1] + 1, c[2] + 1],
            });
            for d in 0..3 {
                b.start[d] = b.start[d].min(c[d]);
                b.end[d] = b.end[d].max(c[d] + 1);
            }
        }
        let alpha = if resected.is_some() { 0.35 } else { 0.6 };
        let meshes: Vec<(String, TriMesh, [f32; 4])> = (0..SEGMENTS.len())
            .into_par_iter()
            .map(|s| {
                let mesh = match boxes[s] {
                    Some(b) => {
                        let local = crop(t, &b.expand([1, 1, 1], t.dims));
                        let m = Mask {
                            dims: local.dims,
                            geometry: local.geometry,
                            data: local
                                .data
                                .iter()
                                .map(|&l| {
                                    u8::from(
                                        l != 0
                                            && model.naming.segment_of[l as usize - 1] == Some(s),
                                    )
                                })
                                .collect(),
                        };
                        view_mesh(&m)
                    }
                    None => TriMesh::default(),
                };
                let c = segment_color(s);
                (
                    SEGMENTS[s].segment.to_string(),
                    mesh,
                    [c[0] as f32, c[1] as f32, c[2] as f32, alpha],
                )
            })
            .collect();
        parts.extend(meshes);
    }
    parts.push((
        "airway".into(),
        view_mesh(&a.airway),
        [0.95, 0.95, 0.9, 1.0],
    ));
    for (m, name, c) in [
        (&a.vessels, "vessels", [0.8, 0.25, 0.6, 1.0]),
        (&a.arteries, "arteries", [0.2, 0.35, 0.9, 1.0]),
        (&a.veins, "veins", [0.9, 0.2, 0.2, 1.0]),
    ] {
        if let Some(m) = m {
            parts.push((name.to_string(), view_mesh(m), c));
        }
    }
    if let Some(n) = &a.nodules {
        parts.push(("nodule".into(), view_mesh(n), [1.0, 0.85, 0.0, 1.0]));
        if let Some(r) = halo_mm
            && let Some(b) = bounding_box(n)
        {
            let margin = ctplan_core::crop::margin_voxels(r + 2.0, n.geometry.spacing);
            let b = b.expand(margin, n.dims);
            let local = crop(n, &b);
            let halo = dilate(&local, r);
            parts.push(("margin halo".into(), view_mesh(&halo), [1.0, 0.6, 0.0, 0.3]));
        }
    }
    if let Some(set) = resected {
        parts.push((
            "intersegmental plane".into(),
            plane(model, set),
            [0.1, 0.9, 0.2, 0.9],
        ));
    }
    parts
}

/// The boundary between resected and kept lung: the resected region's surface, keeping the
/// triangles that face kept lung (a kept voxel within one voxel of each corner).
pub fn plane(model: &Model, set: &[bool]) -> TriMesh {
    let Some(t) = &model.territory else {
        return TriMesh::default();
    };
    let r = resected_mask(model, set);
    let full = view_mesh(&r);
    let near_kept = |p: [f64; 3]| -> bool {
        let Some(idx) = t.geometry.world_to_index(p) else {
            return false;
        };
        for dk in -1i64..=1 {
            for dj in -1i64..=1 {
                for di in -1i64..=1 {
                    let q = [
                        idx[0].round() as i64 + di,
                        idx[1].round() as i64 + dj,
                        idx[2].round() as i64 + dk,
                    ];
                    if q.iter().zip(t.dims).any(|(&x, n)| x < 0 || x >= n as i64) {
                        continue;
                    }
                    let l = t.get(q[0] as usize, q[1] as usize, q[2] as usize);
                    if l != 0 && !set[l as usize - 1] {
                        return true;
                    }
                }
            }
        }
        false
    };
    let keep: Vec<bool> = full.vertices.iter().map(|&p| near_kept(p)).collect();
    let triangles: Vec<[u32; 3]> = full
        .triangles
        .iter()
        .filter(|t| t.iter().all(|&v| keep[v as usize]))
        .copied()
        .collect();
    TriMesh {
        vertices: full.vertices,
        triangles,
    }
}

/// The readable summary.
pub fn markdown(report: &Report, case: &str) -> String {
    let mut s = format!("# Segmentectomy plan — {case}\n\n");
    s.push_str(&format!(
        "Lung volume (segments together): {:.0} mL\n\n",
        report.lung_volume_ml
    ));
    s.push_str("## Segments\n\n| segment | lobe | bronchus | volume mL | fraction | textbook (19-count) |\n|---|---|---|---:|---:|---:|\n");
    for g in &report.segments {
        s.push_str(&format!(
            "| {} | {} | {} | {:.1} | {:.1}% | {:.1}% |\n",
            g.name,
            g.lobe,
            g.bronchus,
            g.volume_ml,
            100.0 * g.fraction,
            100.0 * g.textbook_fraction
        ));
    }
    s.push_str("\n## Named bronchi\n\n| name | branch | generation | length mm | diameter mm | confidence |\n|---|---:|---:|---:|---:|---:|\n");
    for b in report.bronchi.iter().filter(|b| b.name.is_some()) {
        s.push_str(&format!(
            "| {} | #{} | {} | {:.1} | {:.1} | {:.2} |\n",
            b.name.as_deref().unwrap_or(""),
            b.id,
            b.generation,
            b.length_mm,
            b.diameter_mm,
            b.confidence.unwrap_or(0.0)
        ));
    }
    for (i, n) in report.nodules.iter().enumerate() {
        s.push_str(&format!(
            "\n## Nodule {}\n\nAt ({:.1}, {:.1}, {:.1}) mm (LPS), in {} ({}), maximal diameter {:.1} mm, {:.2} mL; depth from the pleura {} mm; {:.1} mm from the nearest bronchus.\n\nBronchoscopic route ({:.0} mm): {}; leave the airway at ({:.1}, {:.1}, {:.1}) mm, {:.1} mm from the lesion.\n",
            i + 1,
            n.centroid_mm[0],
            n.centroid_mm[1],
            n.centroid_mm[2],
            n.segment.as_deref().unwrap_or("?"),
            n.lobe.as_deref().unwrap_or("?"),
            n.diameter_mm,
            n.volume_ml,
            n.depth_mm.map_or("?".to_string(), |d| format!("{d:.1}")),
            n.bronchus_distance_mm,
            n.route.length_mm,
            n.route.bronchi.join(" → "),
            n.route.exit_mm[0],
            n.route.exit_mm[1],
            n.route.exit_mm[2],
            n.route.exit_to_lesion_mm
        ));
    }
    if let Some(r) = &report.resection {
        s.push_str(&format!(
            "\n## Resection of {}\n\nSegments: {} ({:.2} of 19 counted). Resected {:.0} mL, remaining {:.0} mL.\n",
            r.targets.join(", "),
            r.segments.join(", "),
            r.segments_counted,
            r.volume_ml,
            r.remaining_ml
        ));
        if let (Some(f), Some(c), Some(v)) = (r.fev1_l, r.ppo_fev1_count, r.ppo_fev1_volume) {
            s.push_str(&format!(
                "\nFEV1 {f:.2} L → predicted post-operative {c:.2} L (segment counting), {v:.2} L (volumetry).\n"
            ));
        }
        if let (Some(m), Some(req), Some(ok)) = (r.margin_mm, r.margin_required_mm, r.margin_ok) {
            s.push_str(&format!(
                "\nMargin {m:.1} mm (ratio {:.2}) against {req:.1} mm required: {}.\n",
                r.margin_ratio.unwrap_or(0.0),
                if ok { "sufficient" } else { "NOT sufficient" }
            ));
            if !r.margin_options.is_empty() {
                s.push_str("\n| add | margin mm | ratio | sufficient | resected mL |\n|---|---:|---:|---|---:|\n");
                for o in &r.margin_options {
                    s.push_str(&format!(
                        "| {} | {:.1} | {:.2} | {} | {:.0} |\n",
                        o.add.join(" + "),
                        o.margin_mm,
                        o.margin_ratio,
                        if o.ok { "yes" } else { "no" },
                        o.volume_ml
                    ));
                }
            }
            if !r.extend_with.is_empty() {
                s.push_str(&format!(
                    "\nExtend with {} to restore the margin.\n",
                    r.extend_with.join(" + ")
                ));
            }
        }
        s.push_str(&format!(
            "\nStain through: {}.\n",
            r.stain_bronchi.join(", ")
        ));
        if !r.crossings.is_empty() {
            s.push_str("\n### Vessels crossing the intersegmental plane\n\n| kind | position mm | diameter mm | note |\n|---|---|---:|---|\n");
            for c in &r.crossings {
                s.push_str(&format!(
                    "| {} | ({:.1}, {:.1}, {:.1}) | {:.1} | {} |\n",
                    c.kind,
                    c.position_mm[0],
                    c.position_mm[1],
                    c.position_mm[2],
                    c.diameter_mm,
                    c.note
                ));
            }
        }
    }
    if !report.segment_resections.is_empty() {
        s.push_str("\n## Each segment resected alone\n\n| segment | resected mL | remaining mL | ppoFEV1 count L | ppoFEV1 volume L | margin mm | ratio | margin ok |\n|---|---:|---:|---:|---:|---:|---:|---|\n");
        let opt = |x: Option<f64>| x.map_or("–".to_string(), |v| format!("{v:.2}"));
        for o in &report.segment_resections {
            s.push_str(&format!(
                "| {} | {:.0} | {:.0} | {} | {} | {} | {} | {} |\n",
                o.segment,
                o.volume_ml,
                o.remaining_ml,
                opt(o.ppo_fev1_count),
                opt(o.ppo_fev1_volume),
                o.margin_mm.map_or("–".to_string(), |v| format!("{v:.1}")),
                opt(o.margin_ratio),
                match o.margin_ok {
                    Some(true) => "yes",
                    Some(false) => "no",
                    None => "–",
                },
            ));
        }
    }
    if !report.warnings.is_empty() {
        s.push_str("\n## Warnings\n\n");
        for w in &report.warnings {
            s.push_str(&format!("- {w}\n"));
        }
    }
    s
}
