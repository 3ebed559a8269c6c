//! Where and how the 3-D network reshapes an implant.

use ctplan_core::Mask;
use ctplan_core::vec3::{norm, sub};
use rayon::prelude::*;

use crate::design::Design;
use crate::design::finish::{RIM_CLOSING_MM, close_to_rim, keep_large_components};
use crate::learned::voxel_net::{CROP, ImplantNet, POOL};

/// Whether the network applies to a volume's grid: voxels within 25 % of SkullFix's (in-plane
/// 0.36–0.61 mm, slices 0.47–0.79 mm) and axes along left, posterior and superior (each within
/// about 25°; left and right may be swapped, the network learned from both), as it was trained.
pub fn grid_fits(m: &Mask) -> bool {
    let g = &m.geometry;
    let sp = g.spacing;
    let spacing_ok =
        (0..2).all(|a| (0.36..=0.61).contains(&sp[a])) && (0.47..=0.79).contains(&sp[2]);
    let axis = |a: usize| -> [f64; 3] { [g.direction[0][a], g.direction[1][a], g.direction[2][a]] };
    let along = |a: usize, w: usize, sign_free: bool| {
        let v = axis(a)[w];
        if sign_free { v.abs() > 0.9 } else { v > 0.9 }
    };
    spacing_ok && along(0, 0, true) && along(1, 1, false) && along(2, 2, false)
}

/// The network's probability of removed bone on the native crop of [`CROP`] voxels whose first
/// voxel is `origin` (x, y, z; may lie outside the volume, which counts as no bone there):
/// the defective skull's bone fraction pooled by [`POOL`], the prediction, and its bilinear
/// upsampling in-plane (as PyTorch's `interpolate(mode="trilinear", align_corners=False)` with
/// the slices unchanged). Returned in x-fastest order over the crop.
pub fn crop_probability(net: &ImplantNet, defective: &Mask, origin: [isize; 3]) -> Vec<f32> {
    let [nx, ny, nz] = defective.dims;
    let g = [CROP[0] / POOL[0], CROP[1] / POOL[1], CROP[2] / POOL[2]];
    let mut input = vec![0f32; g[0] * g[1] * g[2]];
    let share = 1.0 / (POOL[0] * POOL[1] * POOL[2]) as f32;
    input
        .par_chunks_mut(g[0] * g[1])
        .enumerate()
        .for_each(|(k, plane)| {
            for j in 0..g[1] {
                for i in 0..g[0] {
                    let mut s = 0f32;
                    for (a, b, c) in (0..POOL[0]).flat_map(|a| {
                        (0..POOL[1]).flat_map(move |b| (0..POOL[2]).map(move |c| (a, b, c)))
                    }) {
                        let (x, y, z) = (
                            origin[0] + (i * POOL[0] + a) as isize,
                            origin[1] + (j * POOL[1] + b) as isize,
                            origin[2] + (k * POOL[2] + c) as isize,
                        );
                        if x >= 0
                            && y >= 0
                            && z >= 0
                            && (x as usize) < nx
                            && (y as usize) < ny
                            && (z as usize) < nz
                            && defective.get(x as usize, y as usize, z as usize) != 0
                        {
                            s += share;
                        }
                    }
                    plane[j * g[0] + i] = s;
                }
            }
        });
    let p = net.predict(&input, [g[2], g[1], g[0]]);
    upsample(&p, g, POOL)
}

/// Linear upsampling by integer factors (x, y, z), PyTorch's `align_corners=False`: the source
/// coordinate of output `o` is `(o + 0.5) / f − 0.5`, clamped at 0.
fn upsample(p: &[f32], g: [usize; 3], f: [usize; 3]) -> Vec<f32> {
    let src = |o: usize, f: usize, n: usize| -> (usize, usize, f32) {
        let s = ((o as f32 + 0.5) / f as f32 - 0.5).max(0.0);
        let i0 = (s.floor() as usize).min(n - 1);
        let i1 = (i0 + 1).min(n - 1);
        (i0, i1, s - i0 as f32)
    };
    let n = [g[0] * f[0], g[1] * f[1], g[2] * f[2]];
    let mut out = vec![0f32; n[0] * n[1] * n[2]];
    out.par_chunks_mut(n[0] * n[1])
        .enumerate()
        .for_each(|(z, plane)| {
            let (z0, z1, lz) = src(z, f[2], g[2]);
            for y in 0..n[1] {
                let (y0, y1, ly) = src(y, f[1], g[1]);
                for x in 0..n[0] {
                    let (x0, x1, lx) = src(x, f[0], g[0]);
                    let at = |zz: usize, yy: usize, xx: usize| p[(zz * g[1] + yy) * g[0] + xx];
                    let lerp = |a: f32, b: f32, t: f32| a + (b - a) * t;
                    let v0 = lerp(
                        lerp(at(z0, y0, x0), at(z0, y0, x1), lx),
                        lerp(at(z0, y1, x0), at(z0, y1, x1), lx),
                        ly,
                    );
                    let v1 = lerp(
                        lerp(at(z1, y0, x0), at(z1, y0, x1), lx),
                        lerp(at(z1, y1, x0), at(z1, y1, x1), lx),
                        ly,
                    );
                    plane[y * n[0] + x] = lerp(v0, v1, lz);
                }
            }
        });
    out
}

/// Which pieces of an implant the network reshapes ([`refine`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scope {
    /// Every piece: the design reports a concern.
    Every,
    /// Only the pieces on the forehead ([`on_forehead`]) as seen from the map's centre
    /// (LPS mm): there the shape model misses an individual brow ridge, frontal sinus and
    /// orbital rim even where it follows the bone around the defect.
    Forehead {
        /// The map's centre (LPS mm).
        centre: [f64; 3],
    },
}

/// A piece lies on the forehead when the direction from the map's centre to its centre of mass
/// is within this many degrees of anterior (world −y in LPS, whatever the scan's axes). The
/// implants designed for the injected fronto-orbital defects of both held-out splits lie 6–31°
/// from anterior (those without a concern 6–26°), the parietotemporal ones 85° and more, the
/// SkullFix ones 124° and more (they are posterior and high), the vault styles' 45° and more
/// but for one random defect reaching low on the forehead (30°; docs/cranio.md).
pub const FOREHEAD_DEG: f64 = 35.0;

/// Whether `p` (LPS mm) lies on the forehead seen from `centre` ([`FOREHEAD_DEG`]).
pub fn on_forehead(centre: [f64; 3], p: [f64; 3]) -> bool {
    let v = sub(p, centre);
    let r = norm(v);
    r > 0.0 && -v[1] / r >= FOREHEAD_DEG.to_radians().cos()
}

/// Where the design calls for the network, if anywhere: on a grid it learned on
/// ([`grid_fits`]), every piece of a design that reports a concern (its shape model misses the
/// bone around a defect by more than [`crate::design::FIT_RMS_CONCERN_MM`], or the defect's
/// border is open: a brow, an orbit, the skull base), and otherwise the pieces on the forehead,
/// if any implant voxel lies there (so that a design elsewhere costs one pass over the grid).
pub fn scope(design: &Design, defective: &Mask) -> Option<Scope> {
    let centre = design.centre;
    let implant = &design.implant;
    if !grid_fits(defective) {
        None
    } else if !design.concerns().is_empty() {
        Some(Scope::Every)
    } else if (implant.data.par_chunks(implant.dims[0]).enumerate()).any(|(r, row)| {
        // Rows without implant (nearly all) are told apart by one branch-free pass.
        row.iter().fold(0u8, |a, &v| a | v) != 0
            && (row.iter().enumerate())
                .any(|(i, &v)| v != 0 && on_forehead(centre, implant.world_of(r * row.len() + i)))
    }) {
        Some(Scope::Forehead { centre })
    } else {
        None
    }
}

/// The design's last stage: its implant reshaped by [`refine`] in place, over the pieces its
/// [`scope`] names. Returns whether any piece was reshaped, and a note for each piece kept as
/// the map made it.
pub fn reshape(net: &ImplantNet, design: &mut Design, defective: &Mask) -> (bool, Vec<String>) {
    let Some(scope) = scope(design, defective) else {
        return (false, Vec::new());
    };
    let r = refine(net, defective, &design.implant, scope);
    let notes = (r.kept.iter())
        .map(|found| {
            format!(
                "the 3-D network found only {:.0} % of an implant piece missing (below {:.0} %: \
                 a defect unlike those it learned), the map's design is kept there",
                100.0 * found,
                100.0 * MIN_FOUND
            )
        })
        .collect();
    design.implant = r.implant;
    (r.reshaped > 0, notes)
}

/// Weight of the network's probability against the map's implant (1 inside, 0 outside) where
/// the two are averaged ([`refine`]): a voxel is implant where `WEIGHT · p + (1 − WEIGHT) ·
/// map ≥ 0.5`, so inside the map's implant the network keeps it unless it is sure it is wrong
/// (p below 1/6) and outside adds it where it is sure (p above 5/6).
pub const WEIGHT: f32 = 0.6;

/// The least share of the map's implant piece that the network must find missing in its crop
/// for its probability to be used there. On the fronto-orbital and parietotemporal designs of
/// split A that raise a concern, it finds 0.92–1.44 times the map's piece; on split A's
/// SkullFix defects (large cube-shaped holes across the midline, a shape it never learned),
/// run through it for this check, 0.37–0.71 times, and averaging them in lowered them.
pub const MIN_FOUND: f64 = 0.8;

/// What [`refine`] did.
#[derive(Debug, Clone)]
pub struct Refined {
    /// The implant: the map's, with the network's probability averaged in around the pieces
    /// it reshaped.
    pub implant: Mask,
    /// Pieces reshaped.
    pub reshaped: usize,
    /// For each piece kept as the map made it, the share of it the network found missing
    /// (below [`MIN_FOUND`]).
    pub kept: Vec<f64>,
}

/// For each z and y of the crop whose first voxel is `origin` (x, y, z), the rows that lie in
/// a volume of `dims`: the crop's flat index of the row's first voxel inside, the volume's, and
/// how many voxels of the row are inside.
fn crop_rows(dims: [usize; 3], origin: [isize; 3]) -> impl Iterator<Item = (usize, usize, usize)> {
    let span = |a: usize| {
        let lo = origin[a].max(0);
        let hi = (origin[a] + CROP[a] as isize).min(dims[a] as isize);
        (lo, hi.max(lo))
    };
    let ((x0, x1), (y0, y1), (z0, mut z1)) = (span(0), span(1), span(2));
    if x0 == x1 {
        z1 = z0; // no row reaches into the volume
    }
    (z0..z1).flat_map(move |z| {
        (y0..y1).map(move |y| {
            let (i, j, k) = (x0 - origin[0], y - origin[1], z - origin[2]);
            let q = (k as usize * CROP[1] + j as usize) * CROP[0] + i as usize;
            let at = (z as usize * dims[1] + y as usize) * dims[0] + x0 as usize;
            (q, at, (x1 - x0) as usize)
        })
    })
}

/// The map's implant reshaped by the network: around each piece of `implant` in `scope` (a
/// crop of [`CROP`] voxels centred on its centre of mass) the map's implant and the network's
/// probability are averaged ([`WEIGHT`]), unless the network finds less than [`MIN_FOUND`]
/// of the piece missing; voxels of the defective skull never join, components smaller than a
/// tenth of the largest are dropped and what is kept is closed against the cut edge
/// ([`crate::design::close_to_rim`]), as in the map's design.
pub fn refine(net: &ImplantNet, defective: &Mask, implant: &Mask, scope: Scope) -> Refined {
    let mut out = Refined {
        implant: implant.clone(),
        reshaped: 0,
        kept: Vec::new(),
    };
    // The pieces, labelled within the implant's bounding box.
    let Some((bbox, pieces)) = ctplan_core::label::label_in_bounding_box(
        implant,
        ctplan_core::label::Connectivity::TwentySix,
    ) else {
        return out;
    };
    let [bx, by, _] = bbox.dims();
    let largest = pieces.largest().map_or(0, |l| pieces.sizes[l as usize]);
    // Every piece's voxel-index sums, in one pass, for its centre of mass.
    let mut sums = vec![[0f64; 3]; pieces.count() + 1];
    for (i, &v) in pieces.labels.data.iter().enumerate() {
        let s = &mut sums[v as usize];
        s[0] += (i % bx) as f64;
        s[1] += ((i / bx) % by) as f64;
        s[2] += (i / (bx * by)) as f64;
    }
    let dims = implant.dims;
    for l in 1..=pieces.count() as u32 {
        let n = pieces.sizes[l as usize];
        if n * 10 < largest {
            continue;
        }
        let mass = [0, 1, 2].map(|a| sums[l as usize][a] / n as f64 + bbox.start[a] as f64);
        if let Scope::Forehead { centre } = scope
            && !on_forehead(centre, implant.geometry.index_to_world(mass))
        {
            continue;
        }
        let origin = [0, 1, 2].map(|a| mass[a].round() as isize - (CROP[a] / 2) as isize);
        let p = crop_probability(net, defective, origin);
        // What the network finds missing in the crop against the map's piece: far less means
        // it does not recognise this defect (MIN_FOUND).
        let in_crop = |i: usize| {
            let c = [i % bx, (i / bx) % by, i / (bx * by)];
            (0..3).all(|a| {
                let q = (bbox.start[a] + c[a]) as isize - origin[a];
                q >= 0 && q < CROP[a] as isize
            })
        };
        let map_n = (pieces.labels.data.iter().enumerate())
            .filter(|&(i, &v)| v == l && in_crop(i))
            .count();
        let mut net_n = 0usize;
        for (q, at, len) in crop_rows(dims, origin) {
            for i in 0..len {
                net_n += (p[q + i] >= 0.5 && defective.data[at + i] == 0) as usize;
            }
        }
        let found = net_n as f64 / map_n.max(1) as f64;
        if found < MIN_FOUND {
            out.kept.push(found);
            continue;
        }
        out.reshaped += 1;
        for (q, at, len) in crop_rows(dims, origin) {
            for i in 0..len {
                let map = (implant.data[at + i] != 0) as u8 as f32;
                let v = WEIGHT * p[q + i] + (1.0 - WEIGHT) * map;
                out.implant.data[at + i] = (v >= 0.5 && defective.data[at + i] == 0) as u8;
            }
        }
    }
    if out.reshaped > 0 {
        let kept = keep_large_components(&out.implant);
        // Closed against the cut edge as the map's design is (docs/cranio.md, step 8).
        out.implant = close_to_rim(&kept, defective, RIM_CLOSING_MM);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctplan_core::Geometry;

    /// PyTorch: `interpolate([[0, 1]], scale_factor=2, mode="linear", align_corners=False)`
    /// is `[0, 0.25, 0.75, 1]`.
    #[test]
    fn upsampling_follows_align_corners_false() {
        let up = upsample(&[0.0, 1.0], [2, 1, 1], [2, 1, 1]);
        assert_eq!(up, vec![0.0, 0.25, 0.75, 1.0]);
        let up = upsample(&[0.0, 1.0, 2.0, 3.0], [2, 2, 1], [2, 2, 1]);
        assert_eq!(up.len(), 16);
        assert_eq!(up[5], 0.75); // (x 1, y 1): 0.75 · 0.25 + … bilinear of 0, 1, 2, 3
    }

    /// A ring of bone (SkullFix's voxels, z up) with the part at x > 190 cut out as the map's
    /// implant, and the fixture network with its head's bias set to `bias`: far negative, every
    /// probability near 0 (it finds nothing missing); far positive, near 1.
    fn ring_case(bias: f32) -> (ImplantNet, Mask, Mask) {
        let mut net = ImplantNet::from_safetensors(include_bytes!(
            "../../tests/data/implant3d_fixture.safetensors"
        ))
        .unwrap();
        net.head_b = bias;
        let g = Geometry {
            spacing: [0.45, 0.45, 0.625],
            ..Geometry::default()
        };
        let dims = [240, 240, 170];
        let mut defective = Mask::zeros(dims, g);
        let mut implant = Mask::zeros(dims, g);
        for k in 0..dims[2] {
            for j in 0..dims[1] {
                for i in 0..dims[0] {
                    let at = defective.index(i, j, k);
                    let r = ((i as f64 - 120.0).powi(2) + (j as f64 - 120.0).powi(2)).sqrt();
                    if (80.0..90.0).contains(&r) && (40..130).contains(&k) {
                        if i > 190 {
                            implant.data[at] = 1;
                        } else {
                            defective.data[at] = 1;
                        }
                    }
                }
            }
        }
        (net, defective, implant)
    }

    /// A network that finds nothing missing leaves the map's implant as it is and says so; one
    /// that finds everything missing reshapes it, never into the defective skull.
    #[test]
    fn a_network_that_finds_too_little_keeps_the_map_design() {
        let (net, defective, implant) = ring_case(-100.0);
        let r = refine(&net, &defective, &implant, Scope::Every);
        assert_eq!(r.reshaped, 0);
        assert_eq!(r.kept.len(), 1);
        assert!(r.kept[0] < MIN_FOUND, "{:?}", r.kept);
        assert_eq!(r.implant.data, implant.data);
        let (net, defective, implant) = ring_case(100.0);
        let r = refine(&net, &defective, &implant, Scope::Every);
        assert_eq!((r.reshaped, r.kept.len()), (1, 0));
        let count = |m: &Mask| m.data.iter().filter(|&&v| v != 0).count();
        assert!(count(&r.implant) > 10 * count(&implant));
        assert!(
            r.implant
                .data
                .iter()
                .zip(&defective.data)
                .all(|(&a, &b)| a == 0 || b == 0)
        );
    }

    /// The forehead is a cone of [`FOREHEAD_DEG`] around world anterior (−y in LPS); without a
    /// concern only the pieces inside it are reshaped.
    #[test]
    fn without_a_concern_only_pieces_on_the_forehead_are_reshaped() {
        let c = [10.0, 20.0, 30.0];
        let at = |v: [f64; 3]| [c[0] + v[0], c[1] + v[1], c[2] + v[2]];
        assert!(on_forehead(c, at([0.0, -80.0, 20.0])), "14° above anterior");
        assert!(on_forehead(c, at([-40.0, -80.0, 0.0])), "27° to the right");
        assert!(
            !on_forehead(c, at([0.0, -80.0, 70.0])),
            "41° above anterior"
        );
        assert!(!on_forehead(c, at([80.0, -10.0, 0.0])), "on the left side");
        assert!(!on_forehead(c, at([0.0, 80.0, 0.0])), "behind");
        assert!(!on_forehead(c, c), "at the centre itself");
        // The ring's piece lies at x ≈ 90 mm, y ≈ 54 mm, z ≈ 53 mm (world).
        let (net, defective, implant) = ring_case(100.0);
        let piece_to_the_left = Scope::Forehead {
            centre: [54.0, 54.0, 53.0],
        };
        let r = refine(&net, &defective, &implant, piece_to_the_left);
        assert_eq!((r.reshaped, r.kept.len()), (0, 0));
        assert_eq!(r.implant.data, implant.data);
        let piece_in_front = Scope::Forehead {
            centre: [90.0, 94.0, 53.0],
        };
        let r = refine(&net, &defective, &implant, piece_in_front);
        assert_eq!((r.reshaped, r.kept.len()), (1, 0));
        assert_ne!(r.implant.data, implant.data);
    }

    #[test]
    fn crop_rows_cover_the_crop_inside_the_volume() {
        let dims = [240, 240, 170];
        let origin = [-5, 20, 100];
        let rows: Vec<_> = crop_rows(dims, origin).collect();
        // y 20..240 and z 100..170 inside: 220 × 70 rows of x 0..219.
        assert_eq!(rows.len(), 220 * 70);
        assert_eq!(rows[0], (5, (100 * 240 + 20) * 240, 219));
        let last = rows[rows.len() - 1];
        assert_eq!(last.0, (69 * CROP[1] + 219) * CROP[0] + 5);
        assert_eq!(last.1, (169 * 240 + 239) * 240);
        // Every covered voxel, recomputed from its coordinates.
        let (mut n, mut ok) = (0usize, true);
        for (q, at, len) in &rows {
            for i in 0..*len {
                let (qi, qj, qk) = (
                    (q + i) % CROP[0],
                    ((q + i) / CROP[0]) % CROP[1],
                    (q + i) / (CROP[0] * CROP[1]),
                );
                let (x, y, z) = (
                    (at + i) % dims[0],
                    ((at + i) / dims[0]) % dims[1],
                    (at + i) / (dims[0] * dims[1]),
                );
                ok &= [
                    qi as isize + origin[0],
                    qj as isize + origin[1],
                    qk as isize + origin[2],
                ] == [x as isize, y as isize, z as isize];
                n += 1;
            }
        }
        assert!(ok);
        assert_eq!(n, 219 * 220 * 70);
        assert_eq!(crop_rows(dims, [300, 0, 0]).count(), 0);
        assert_eq!(crop_rows(dims, [0, 0, -400]).count(), 0);
    }

    #[test]
    fn network_applies_only_to_skullfix_like_grids() {
        let mut m = Mask::zeros([4, 4, 4], Geometry::default());
        assert!(!grid_fits(&m), "1 mm voxels");
        m.geometry.spacing = [0.45, 0.45, 0.625];
        assert!(grid_fits(&m));
        m.geometry.direction[0][0] = -1.0;
        assert!(grid_fits(&m), "left and right swapped");
        m.geometry.direction[2][2] = -1.0;
        assert!(!grid_fits(&m), "superior flipped");
    }
}
