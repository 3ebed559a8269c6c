//! Pictures of a plan for the case folder and the docs, drawn by [`ctplan_mesh::render`]: the
//! named airway tree, the segments from the front and the back with their volumes, and the
//! planned resection. Anterior views are radiological (the patient's right on the picture's
//! left); every picture says so in its title.

use ctplan_core::crop::{bounding_box, crop};
use ctplan_core::{Mask, Volume};
use ctplan_mesh::TriMesh;
use ctplan_mesh::render::{Image, Projection, View, bounds, draw_meshes, text_height, text_width};

use super::labels::segment_color;
use super::scene::{ScenePart, view_mesh};
use crate::airway::names::SEGMENTS;
use crate::airway::segments::LOBES;
use crate::airway::{BranchId, SegmentId};
use crate::model::Model;
use crate::report::SegmentReport;
use crate::resection::BranchSet;
use crate::round::{r2, r4};

const BACKGROUND: [u8; 3] = [28, 30, 36];
const WHITE: [u8; 3] = [245, 245, 245];
const BLACK: [u8; 3] = [0, 0, 0];
const NODULE: [u8; 3] = [255, 215, 0];

fn to_u8(c: [f64; 3]) -> [u8; 3] {
    c.map(|x| (x.clamp(0.0, 1.0) * 255.0).round() as u8)
}

fn to_f32(c: [f64; 3]) -> [f32; 3] {
    c.map(|x| x as f32)
}

/// The segment meshes of a scene, by segment index.
fn segment_meshes(parts: &[ScenePart]) -> Vec<(SegmentId, &TriMesh)> {
    parts
        .iter()
        .filter_map(|(name, mesh, _)| {
            let s = SegmentId(SEGMENTS.iter().position(|d| d.segment == name)?);
            (!mesh.triangles.is_empty()).then_some((s, mesh))
        })
        .collect()
}

/// Rectangles already taken by labels: a new one must not overlap them.
struct Placer {
    taken: Vec<[i64; 4]>,
    width: i64,
    height: i64,
}

impl Placer {
    fn free(&self, r: [i64; 4]) -> bool {
        r[0] >= 0
            && r[1] >= 0
            && r[0] + r[2] <= self.width
            && r[1] + r[3] <= self.height
            && self.taken.iter().all(|t| {
                r[0] + r[2] + 3 <= t[0]
                    || t[0] + t[2] + 3 <= r[0]
                    || r[1] + r[3] + 2 <= t[1]
                    || t[1] + t[3] + 2 <= r[1]
            })
    }

    /// Place a `w` × `h` label near `anchor`, preferring the direction `outward` (radians,
    /// picture frame); returns its top-left corner.
    fn place(&mut self, anchor: [f64; 2], w: i64, h: i64, outward: f64) -> Option<[i64; 2]> {
        for radius in [16.0, 30.0, 48.0, 70.0, 95.0, 125.0] {
            for k in 0..12 {
                let turn = ((k + 1) / 2) as f64 * if k % 2 == 0 { 1.0 } else { -1.0 };
                let a = outward + turn * std::f64::consts::PI / 6.0;
                let c = [anchor[0] + radius * a.cos(), anchor[1] + radius * a.sin()];
                let r = [
                    (c[0] - w as f64 / 2.0).round() as i64,
                    (c[1] - h as f64 / 2.0).round() as i64,
                    w,
                    h,
                ];
                if self.free(r) {
                    self.taken.push(r);
                    return Some([r[0], r[1]]);
                }
            }
        }
        None
    }
}

fn title(img: &mut Image, lines: &[&str]) {
    for (i, l) in lines.iter().enumerate() {
        img.text(16, 14 + i as i64 * 22, l, 2, WHITE, None);
    }
}

fn ring(img: &mut Image, c: [f64; 2], r: f64, color: [u8; 3]) {
    let n = 48;
    for k in 0..n {
        let a0 = k as f64 / n as f64 * std::f64::consts::TAU;
        let a1 = (k + 1) as f64 / n as f64 * std::f64::consts::TAU;
        img.line(
            [c[0] + r * a0.cos(), c[1] + r * a0.sin()],
            [c[0] + r * a1.cos(), c[1] + r * a1.sin()],
            3,
            color,
        );
    }
}

/// The airway surface from the front with its centreline drawn over it, each branch coloured by
/// the segment it feeds, and every named bronchus labelled.
pub fn airway_picture(model: &Model, airway: &TriMesh) -> Image {
    let (w, h) = (1400usize, 1150usize);
    let mut img = Image::filled(w, h, BACKGROUND);
    let tree = &model.tree;
    let Some((lo, hi)) = bounds([airway]) else {
        return img;
    };
    let cam = Projection::fit(
        View::Anterior,
        lo,
        hi,
        [0.0, 70.0, w as f64, h as f64 - 70.0],
        60.0,
    );
    draw_meshes(&mut img, &cam, &[(airway, [0.62, 0.62, 0.66])]);
    let colour_of = |b: usize| -> [u8; 3] {
        match model.naming.segment(BranchId(b)) {
            Some(s) => to_u8(segment_color(s)),
            None => WHITE,
        }
    };
    for (b, br) in tree.branches.iter().enumerate() {
        for pair in br.points.windows(2) {
            let p = cam.project(pair[0]);
            let q = cam.project(pair[1]);
            img.line([p[0], p[1]], [q[0], q[1]], 3, colour_of(b));
        }
    }
    let root = cam.project(tree.branches[tree.root].end());
    let mut placer = Placer {
        taken: vec![[0, 0, w as i64, 60]],
        width: w as i64,
        height: h as i64,
    };
    // Larger (proximal) names first, so the trachea and lobar labels get the best places.
    let mut named: Vec<(usize, &str)> = model
        .naming
        .names
        .iter()
        .enumerate()
        .filter_map(|(b, n)| n.as_ref().map(|n| (b, n.name.as_str())))
        .collect();
    named.sort_by_key(|&(b, _)| tree.branches[b].generation);
    let scale = 2;
    for (b, name) in named {
        let br = &tree.branches[b];
        let mid = cam.project(br.points[br.points.len() / 2]);
        let anchor = [mid[0], mid[1]];
        let outward = (anchor[1] - root[1]).atan2(anchor[0] - root[0]);
        let tw = text_width(name, scale) + 2 * scale;
        let th = text_height(scale) + 2 * scale;
        if let Some([x, y]) = placer.place(anchor, tw, th, outward) {
            let centre = [(x + tw / 2) as f64, (y + th / 2) as f64];
            img.line(anchor, centre, 1, [200, 200, 200]);
            img.fill_rect(
                anchor[0] as i64 - 3,
                anchor[1] as i64 - 3,
                7,
                7,
                colour_of(b),
            );
            img.text(x + scale, y + scale, name, scale, WHITE, Some(BLACK));
        }
    }
    title(
        &mut img,
        &[
            "AIRWAY TREE, ANTERIOR VIEW (PATIENT RIGHT ON THE LEFT)",
            "CENTRELINES COLOURED BY THE SEGMENT THEY FEED",
        ],
    );
    img.text(20, h as i64 / 2, "R", 4, WHITE, None);
    img.text(w as i64 - 40, h as i64 / 2, "L", 4, WHITE, None);
    img
}

/// A panel's nodules ringed and its `label` centred under `rect` (x, y, width, height).
fn finish_panel(img: &mut Image, cam: &Projection, model: &Model, rect: [f64; 4], label: &str) {
    for n in &model.nodules {
        let p = cam.project(n.centroid);
        ring(
            img,
            [p[0], p[1]],
            (0.5 * n.diameter_mm * cam.scale + 8.0).max(12.0),
            NODULE,
        );
    }
    img.text(
        (rect[0] + rect[2] / 2.0) as i64 - text_width(label, 2) / 2,
        img.height as i64 - 30,
        label,
        2,
        WHITE,
        None,
    );
}

/// Segments from the front and from the back, with the nodule ringed and a legend of volumes.
/// With `resected`, segments outside the resection are drawn grey.
pub fn segments_picture(
    model: &Model,
    parts: &[ScenePart],
    segments: &[SegmentReport],
    resected: Option<(&BranchSet, &str)>,
) -> Image {
    let (w, h) = (1600usize, 900usize);
    let mut img = Image::filled(w, h, BACKGROUND);
    let meshes = segment_meshes(parts);
    let Some((lo, hi)) = bounds(meshes.iter().map(|m| m.1)) else {
        title(&mut img, &["NO SEGMENTS"]);
        return img;
    };
    let in_resection: Vec<bool> = SegmentId::all()
        .map(|s| {
            resected.is_some_and(|(set, _)| set.iter().any(|b| model.naming.segment(b) == Some(s)))
        })
        .collect();
    let colour = |s: SegmentId| -> [f64; 3] {
        if resected.is_some() && !in_resection[s.0] {
            [0.55, 0.57, 0.6]
        } else {
            segment_color(s)
        }
    };
    let drawn: Vec<(&TriMesh, [f32; 3])> = meshes
        .iter()
        .map(|&(s, m)| (m, to_f32(colour(s))))
        .collect();
    // Two views side by side, the legend in the last 270 pixels.
    let panel = (w as f64 - 270.0) / 2.0;
    for (i, view) in [View::Anterior, View::Posterior].into_iter().enumerate() {
        let rect = [i as f64 * panel, 80.0, panel, h as f64 - 80.0];
        let cam = Projection::fit(view, lo, hi, rect, 30.0);
        draw_meshes(&mut img, &cam, &drawn);
        let label = match view {
            View::Anterior => "ANTERIOR VIEW",
            _ => "POSTERIOR VIEW",
        };
        finish_panel(&mut img, &cam, model, rect, label);
    }
    // Legend: colour, segment, mL, % of both lungs.
    let x0 = (2.0 * panel) as i64 + 15;
    img.text(x0, 90, "SEGMENT    ML    %", 2, WHITE, None);
    for (k, g) in segments.iter().enumerate() {
        let Some(s) = SEGMENTS
            .iter()
            .position(|d| d.segment == g.name)
            .map(SegmentId)
        else {
            continue;
        };
        let y = 125 + k as i64 * 30;
        img.fill_rect(x0, y - 2, 22, 18, to_u8(colour(s)));
        let row = format!(
            "{:<6}{:>6.0}{:>6.1}",
            g.name,
            r2(g.volume_ml),
            100.0 * r4(g.fraction)
        );
        img.text(x0 + 30, y, &row, 2, WHITE, None);
    }
    let y = 125 + segments.len() as i64 * 30 + 10;
    img.fill_rect(x0, y - 2, 22, 18, NODULE);
    img.text(x0 + 30, y, "NODULE", 2, WHITE, None);
    let head = match resected {
        Some((_, what)) => format!("RESECTION OF {what}: RESECTED SEGMENTS IN COLOUR"),
        None => "LUNG SEGMENTS (GEODESIC BRONCHIAL TERRITORIES)".to_string(),
    };
    title(
        &mut img,
        &[
            &head,
            "ANTERIOR VIEW LEFT (PATIENT RIGHT ON THE LEFT), POSTERIOR VIEW RIGHT",
        ],
    );
    img
}

/// Colour of lobe label `l` (1 RUL … 5 LLL): the hue family of its segments.
fn lobe_color(l: usize) -> [f64; 3] {
    const C: [[f64; 3]; 5] = [
        [0.85, 0.35, 0.35],
        [0.35, 0.65, 0.30],
        [0.40, 0.50, 0.90],
        [0.90, 0.65, 0.30],
        [0.30, 0.70, 0.65],
    ];
    C[l - 1]
}

/// The mesh of label `l` of `labels`, meshed from a crop around it.
fn label_mesh(labels: &Volume<u8>, l: u8) -> TriMesh {
    let m = Mask {
        dims: labels.dims,
        geometry: labels.geometry,
        data: labels.data.iter().map(|&v| u8::from(v == l)).collect(),
    };
    let Some(b) = bounding_box(&m) else {
        return TriMesh::default();
    };
    view_mesh(&crop(&m, &b.expand([1, 1, 1], m.dims)))
}

/// The patient's model built from the CT, for `lung model`: the lobes from the front (left
/// panel) and, from the front too, what lies inside them (right panel): the airway tree, the
/// vessels (arteries blue, veins red, vessels not told apart purple) and the lesions, with a
/// legend of lobe volumes.
pub fn model_picture(model: &Model, lobes: &Volume<u8>) -> Image {
    let (w, h) = (1600usize, 900usize);
    let mut img = Image::filled(w, h, BACKGROUND);
    let ml = lobes.voxel_volume_mm3() / 1000.0;
    let lobe_meshes: Vec<(usize, TriMesh, f64)> = (1..=LOBES.len())
        .map(|l| {
            let n = lobes.data.iter().filter(|&&v| v == l as u8).count();
            (l, label_mesh(lobes, l as u8), n as f64 * ml)
        })
        .collect();
    let a = &model.anatomy;
    let mut inner: Vec<(TriMesh, [f32; 3])> = vec![(view_mesh(&a.airway), [0.95, 0.95, 0.9])];
    let mut legend = vec![("AIRWAY", [0.95, 0.95, 0.9])];
    for (m, name, c) in [
        (&a.vessels, "VESSEL", [0.8, 0.25, 0.6]),
        (&a.arteries, "ARTERY", [0.2, 0.35, 0.9]),
        (&a.veins, "VEIN", [0.9, 0.2, 0.2]),
        (&a.nodules, "LESION", [1.0, 0.85, 0.0]),
    ] {
        if let Some(m) = m {
            inner.push((view_mesh(m), c));
            legend.push((name, c));
        }
    }
    let all = lobe_meshes
        .iter()
        .map(|m| &m.1)
        .chain(inner.iter().map(|m| &m.0));
    let Some((lo, hi)) = bounds(all) else {
        title(&mut img, &["NO MODEL"]);
        return img;
    };
    let panel = (w as f64 - 270.0) / 2.0;
    let drawn_lobes: Vec<(&TriMesh, [f32; 3])> = lobe_meshes
        .iter()
        .map(|(l, m, _)| (m, to_f32(lobe_color(*l))))
        .collect();
    let drawn_inner: Vec<(&TriMesh, [f32; 3])> = inner.iter().map(|(m, c)| (m, *c)).collect();
    for (i, (parts, label)) in [
        (&drawn_lobes, "LOBES"),
        (&drawn_inner, "AIRWAY, VESSELS, LESIONS"),
    ]
    .into_iter()
    .enumerate()
    {
        let rect = [i as f64 * panel, 80.0, panel, h as f64 - 80.0];
        let cam = Projection::fit(View::Anterior, lo, hi, rect, 30.0);
        draw_meshes(&mut img, &cam, parts);
        finish_panel(&mut img, &cam, model, rect, label);
    }
    let x0 = (2.0 * panel) as i64 + 15;
    img.text(x0, 90, "LOBE       ML", 2, WHITE, None);
    for (k, (l, _, v)) in lobe_meshes.iter().enumerate() {
        let y = 125 + k as i64 * 30;
        img.fill_rect(x0, y - 2, 22, 18, to_u8(lobe_color(*l)));
        let row = format!("{:<6}{:>7.0}", LOBES[l - 1].0, r2(*v));
        img.text(x0 + 30, y, &row, 2, WHITE, None);
    }
    for (k, (name, c)) in legend.into_iter().enumerate() {
        let y = 125 + (LOBES.len() + 1 + k) as i64 * 30;
        img.fill_rect(x0, y - 2, 22, 18, to_u8(c.map(f64::from)));
        img.text(x0 + 30, y, name, 2, WHITE, None);
    }
    title(
        &mut img,
        &[
            "PATIENT MODEL FROM THE CT",
            "ANTERIOR VIEWS (PATIENT RIGHT ON THE LEFT)",
        ],
    );
    img.text(20, h as i64 / 2, "R", 4, WHITE, None);
    img
}

/// The lung window (level −600 HU, width 1500 HU), in which parenchyma, vessels and airway
/// walls are all seen.
pub const LUNG_WINDOW: (f64, f64) = (-600.0, 1500.0);

/// One plane of the CT through voxel `index` across `axis` (0: sagittal, 1: coronal, 2:
/// axial), in the lung window, with the label map blended over it (`colors[label]`, RGB 0–1,
/// `None` for a label not drawn; 40 % opacity), one pixel per voxel. Oriented as radiologists
/// read it, for an LPS grid with the identity direction: axial and coronal with the patient's
/// right on the left, axial anterior up, coronal and sagittal superior up, sagittal anterior on
/// the left. `None` when `index` is outside the grid or the two grids differ.
pub fn ct_slice(
    ct: &Volume<i16>,
    labels: &Volume<u8>,
    colors: &[Option<[f64; 3]>; 256],
    axis: usize,
    index: usize,
) -> Option<Image> {
    if axis > 2 || index >= ct.dims[axis] || labels.dims != ct.dims {
        return None;
    }
    let [nx, ny, nz] = ct.dims;
    // Picture column and row → voxel.
    let (w, h) = match axis {
        0 => (ny, nz),
        1 => (nx, nz),
        _ => (nx, ny),
    };
    let (lo, width) = (LUNG_WINDOW.0 - LUNG_WINDOW.1 / 2.0, LUNG_WINDOW.1);
    let mut rgb = vec![0u8; w * h * 3];
    for r in 0..h {
        for c in 0..w {
            let (i, j, k) = match axis {
                0 => (index, c, nz - 1 - r),
                1 => (c, index, nz - 1 - r),
                _ => (c, r, index),
            };
            let v = ct.data[i + nx * (j + ny * k)] as f64;
            let g = ((v - lo) / width).clamp(0.0, 1.0) * 255.0;
            let mut px = [g; 3];
            if let Some(col) = colors[labels.data[i + nx * (j + ny * k)] as usize] {
                for d in 0..3 {
                    px[d] = 0.6 * px[d] + 0.4 * col[d] * 255.0;
                }
            }
            let o = (r * w + c) * 3;
            for d in 0..3 {
                rgb[o + d] = px[d].round() as u8;
            }
        }
    }
    Some(Image {
        width: w,
        height: h,
        rgb,
    })
}

#[cfg(test)]
mod slice_tests {
    use super::*;
    use ctplan_core::Geometry;

    #[test]
    fn a_slice_is_windowed_oriented_and_overlaid() {
        let g = Geometry::new([1.0, 1.0, 1.0], [0.0; 3]);
        let mut ct = Volume::<i16>::zeros([4, 3, 2], g);
        ct.data.fill(-1350); // the window's bottom: black
        ct.data[1] = 150; // i = 1, j = 0, k = 0: the window's top, white
        let mut labels = Volume::<u8>::zeros([4, 3, 2], g);
        labels.data[2] = 7; // i = 2, j = 0, k = 0
        let mut colors = [None; 256];
        colors[7] = Some([1.0, 0.0, 0.0]);
        let axial = ct_slice(&ct, &labels, &colors, 2, 0).unwrap();
        assert_eq!((axial.width, axial.height), (4, 3));
        assert_eq!(&axial.rgb[0..3], &[0, 0, 0]);
        assert_eq!(&axial.rgb[3..6], &[255, 255, 255]);
        assert_eq!(&axial.rgb[6..9], &[102, 0, 0]);
        // Coronal: superior up, so k = 0 is the bottom row.
        let cor = ct_slice(&ct, &labels, &colors, 1, 0).unwrap();
        assert_eq!((cor.width, cor.height), (4, 2));
        assert_eq!(&cor.rgb[(4 + 1) * 3..(4 + 1) * 3 + 3], &[255, 255, 255]);
        assert!(ct_slice(&ct, &labels, &colors, 2, 2).is_none());
        assert!(ct_slice(&ct, &labels, &colors, 3, 0).is_none());
    }
}
