//! The case's glTF scene: named, coloured meshes of the segments, airway, vessels, nodule, its
//! margin halo and the intersegmental plane.

use ctplan_core::Mask;
use ctplan_core::crop::{BoundingBox, bounding_box, crop};
use ctplan_core::grid::{self, OFFSETS26};
use ctplan_core::morphology::dilate;
use ctplan_mesh::TriMesh;
use ctplan_mesh::decimate::decimate;
use ctplan_mesh::extract::mask_surface;
use ctplan_mesh::smooth::taubin;
use rayon::prelude::*;

use super::labels::segment_color;
use crate::airway::SegmentId;
use crate::airway::names::SEGMENTS;
use crate::model::Model;
use crate::resection::BranchSet;
use crate::resection::crossings::resected_mask;

/// A named, coloured mesh of the scene (RGBA, 0–1).
pub type ScenePart = (String, TriMesh, [f32; 4]);

/// A surface mesh of a mask for viewing: sampled every second voxel along axes finer than
/// 1 mm (a quarter to an eighth of the triangles), smoothed, then decimated to at most 30 000
/// triangles.
pub(crate) fn view_mesh(m: &Mask) -> TriMesh {
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
pub fn scene(model: &Model, resected: Option<&BranchSet>, halo_mm: Option<f64>) -> Vec<ScenePart> {
    let mut parts = Vec::new();
    let a = &model.anatomy;
    if let Some(t) = &model.territory {
        // Each segment meshed from a crop of the territory map around it (small masks, meshed
        // side by side), not from 18 full-grid masks.
        let mut boxes: Vec<Option<BoundingBox>> = vec![None; SEGMENTS.len()];
        for (v, &l) in t.data.iter().enumerate() {
            let Some(s) = model.naming.segment_of_label(l) else {
                continue;
            };
            let c = grid::coords(t.dims, v);
            let b = boxes[s.0].get_or_insert(BoundingBox {
                start: c,
                end: [c[0] + 1, c[1] + 1, c[2] + 1],
            });
            for d in 0..3 {
                b.start[d] = b.start[d].min(c[d]);
                b.end[d] = b.end[d].max(c[d] + 1);
            }
        }
        let alpha = if resected.is_some() { 0.35 } else { 0.6 };
        let meshes: Vec<ScenePart> = (0..SEGMENTS.len())
            .into_par_iter()
            .map(|s| {
                let s = SegmentId(s);
                let mesh = match boxes[s.0] {
                    Some(b) => {
                        let local = crop(t, &b.expand([1, 1, 1], t.dims));
                        let m = Mask {
                            dims: local.dims,
                            geometry: local.geometry,
                            data: local
                                .data
                                .iter()
                                .map(|&l| u8::from(model.naming.segment_of_label(l) == Some(s)))
                                .collect(),
                        };
                        view_mesh(&m)
                    }
                    None => TriMesh::default(),
                };
                let c = segment_color(s);
                (
                    s.def().segment.to_string(),
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
pub fn plane(model: &Model, set: &BranchSet) -> TriMesh {
    let (Some(t), Some(r)) = (&model.territory, resected_mask(model, set)) else {
        return TriMesh::default();
    };
    let full = view_mesh(&r);
    // A kept voxel in the 3×3×3 block around the point.
    let near_kept = |p: [f64; 3]| -> bool {
        let Some(idx) = t.geometry.world_to_index(p) else {
            return false;
        };
        let c = idx.map(|x| x.round() as i64);
        std::iter::once([0, 0, 0]).chain(OFFSETS26).any(|d| {
            let q = [c[0] + d[0], c[1] + d[1], c[2] + d[2]];
            if q.iter().zip(t.dims).any(|(&x, n)| x < 0 || x >= n as i64) {
                return false;
            }
            let l = t.get(q[0] as usize, q[1] as usize, q[2] as usize);
            l != 0 && !set.contains_label(l)
        })
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
