//! Artificial skull defects, reproducible from a seed, for training pairs:
//! `implant = complete ∧ D` and `defective = complete ∧ ¬D` for a defect region D.
//!
//! Styles (Li et al., AutoImplant 2020/2021; Kodym et al., SkullBreak, Data in Brief 2021):
//! - `cube`: the 2020 organisers' cube — a vertical square column through the top quarter;
//! - `sphere`: a ball centred on the outer surface of the vault;
//! - `craniotomy`: a rectangular bone flap in the top third with drill-hole cylinders at its
//!   four corners, as the 2020 test set's defects;
//! - `random`: SkullBreak's style, a union of balls under a smooth random (elastic) deformation;
//! - `bilateral`, `frontoorbital`, `parietotemporal`: SkullBreak's anatomically placed defects
//!   (both sides of the vault; the forehead above the orbits; the side of the head).
//!
//! Placement works in world coordinates (LPS mm: superior is +z from the header's geometry),
//! not on raw array axes, so tilted and flipped scans get the same anatomy. Each defect is
//! checked to cut through the full bone thickness along its axis (the ray from the skull's
//! centre through the defect meets no remaining bone there) and to remove mostly the vault's
//! shell (at least half of the removed bone in the outermost run of bone seen from the
//! centroid, not the orbit or the skull base); a placement that fails is retried.

use std::str::FromStr;

use ctplan_core::Mask;
use ctplan_core::vec3::{V3, add, cross, dot, norm, scale, sub};
use rayon::prelude::*;

use crate::rng::Rng;
use crate::skull::world_extent;

/// A defect style.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// A box through the vault.
    Cube,
    /// A ball through the vault.
    Sphere,
    /// A craniotomy's bone flap: a rounded outline cut through the vault.
    Craniotomy,
    /// One of the vault styles drawn at random.
    Random,
    /// Two defects, one on each side.
    Bilateral,
    /// A defect of the forehead reaching the orbital rim.
    Frontoorbital,
    /// A defect low on the side of the head (parietal and temporal bone).
    Parietotemporal,
}

impl Style {
    /// Every style.
    pub const ALL: [Style; 7] = [
        Style::Cube,
        Style::Sphere,
        Style::Craniotomy,
        Style::Random,
        Style::Bilateral,
        Style::Frontoorbital,
        Style::Parietotemporal,
    ];

    /// The style's name, as `--style` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Style::Cube => "cube",
            Style::Sphere => "sphere",
            Style::Craniotomy => "craniotomy",
            Style::Random => "random",
            Style::Bilateral => "bilateral",
            Style::Frontoorbital => "frontoorbital",
            Style::Parietotemporal => "parietotemporal",
        }
    }
}

impl FromStr for Style {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Style::ALL
            .into_iter()
            .find(|st| st.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown defect style '{s}' (one of: {})",
                    Style::ALL.map(|s| s.name()).join(", ")
                )
            })
    }
}

/// Why no defect could be made.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DefectError {
    #[error(
        "the skull is too small for a {style} defect: extent {extent:.0?} mm (needs ≥ 80 mm left–right and anterior–posterior, ≥ 40 mm superior)"
    )]
    /// The skull is too small for the style.
    SkullTooSmall {
        /// The style's name.
        style: &'static str,
        /// The skull's extent, mm.
        extent: [f64; 3],
    },
    #[error(
        "could not place a {0} defect that removes the vault's shell through its full thickness after {1} tries"
    )]
    /// No placement of the style (its name) removed the vault's shell within the tries.
    CannotPlace(&'static str, usize),
}

/// A defective skull and its implant.
#[derive(Debug, Clone)]
pub struct Injected {
    /// The skull with the defect cut out.
    pub defective: Mask,
    /// The bone cut out: the true implant.
    pub implant: Mask,
    /// World position (LPS mm) of the defect's centre on the outer surface.
    pub centre: [f64; 3],
}

/// The direction of `a`, scaled by the reciprocal of its length (`a · (1/|a|)`, which may
/// differ in the last bit from [`ctplan_core::vec3::unit`]'s division): the defects are drawn
/// with it, and a changed bit would move an injected defect's voxels.
fn unit_mul(a: V3) -> V3 {
    scale(a, 1.0 / norm(a))
}

/// Two unit vectors spanning the plane normal to `n`.
fn tangents(n: V3) -> (V3, V3) {
    let helper = if n[2].abs() < 0.9 {
        [0.0, 0.0, 1.0]
    } else {
        [1.0, 0.0, 0.0]
    };
    let u = unit_mul(cross(n, helper));
    (u, cross(n, u))
}

/// Direction from elevation above the axial plane and azimuth (0 = left, 90° = posterior).
fn direction(elev_deg: f64, az_deg: f64) -> V3 {
    let (e, a) = (elev_deg.to_radians(), az_deg.to_radians());
    [e.cos() * a.cos(), e.cos() * a.sin(), e.sin()]
}

/// Where the skull is: its centroid (world) and the voxel lookup for rays.
struct Frame<'a> {
    skull: &'a Mask,
    centroid: V3,
    top: f64,
    height: f64,
    extent: V3,
    step: f64,
}

impl<'a> Frame<'a> {
    fn new(skull: &'a Mask) -> Option<Self> {
        let (mut sum, mut n) = ([0.0; 3], 0usize);
        let (mut top, mut bottom) = (f64::NEG_INFINITY, f64::INFINITY);
        for (i, _) in skull.data.iter().enumerate().filter(|(_, v)| **v != 0) {
            let p = skull.world_of(i);
            sum = add(sum, p);
            n += 1;
            top = top.max(p[2]);
            bottom = bottom.min(p[2]);
        }
        if n == 0 {
            return None;
        }
        Some(Frame {
            skull,
            centroid: scale(sum, 1.0 / n as f64),
            top,
            height: top - bottom,
            extent: world_extent(skull)?,
            step: 0.4
                * skull
                    .geometry
                    .spacing
                    .iter()
                    .copied()
                    .fold(f64::INFINITY, f64::min),
        })
    }

    fn at(&self, m: &Mask, p: V3) -> bool {
        m.nearest_voxel(p)
            .is_some_and(|[i, j, k]| m.get(i, j, k) != 0)
    }

    /// The outermost run of bone along the ray `from + t·dir`: (t_in, t_out), if any.
    fn outer_run(&self, m: &Mask, from: V3, dir: V3) -> Option<(f64, f64)> {
        let t_max = norm(self.extent);
        let mut run: Option<(f64, f64)> = None;
        let mut inside = false;
        let mut t = 0.0;
        while t <= t_max {
            let b = self.at(m, add(from, scale(dir, t)));
            if b && !inside {
                run = Some((t, t));
            }
            if b {
                run = run.map(|(a, _)| (a, t));
            }
            inside = b;
            t += self.step;
        }
        run
    }

    /// True if no bone of `defective` remains on the ray where `complete` had its outer run.
    fn cut_through(&self, defective: &Mask, from: V3, dir: V3) -> bool {
        let Some((a, b)) = self.outer_run(self.skull, from, dir) else {
            return false;
        };
        let mut t = a - 1.0;
        while t <= b + 1.0 {
            if self.at(defective, add(from, scale(dir, t))) {
                return false;
            }
            t += self.step;
        }
        true
    }

    /// The share of `implant`'s voxels (a sample of at most `SHARE_SAMPLES`) that lie in the
    /// outermost run of bone along the ray from the centroid through them: the vault's shell,
    /// not the orbital roof, the ethmoid or the skull base seen further in.
    fn shell_share(&self, implant: &Mask) -> f64 {
        let voxels: Vec<usize> = (0..implant.data.len())
            .filter(|&i| implant.data[i] != 0)
            .collect();
        if voxels.is_empty() {
            return 0.0;
        }
        let every = voxels.len().div_ceil(SHARE_SAMPLES);
        let sample: Vec<usize> = voxels.into_iter().step_by(every).collect();
        let in_shell = sample
            .par_iter()
            .filter(|&&i| {
                let d = sub(implant.world_of(i), self.centroid);
                let t = norm(d);
                if t == 0.0 {
                    return false;
                }
                self.outer_run(self.skull, self.centroid, scale(d, 1.0 / t))
                    .is_some_and(|(a, b)| t >= a - self.step && t <= b + self.step)
            })
            .count();
        in_shell as f64 / sample.len() as f64
    }

    /// Outer-surface point along a direction from the centroid.
    fn surface_point(&self, dir: V3) -> Option<V3> {
        let (_, b) = self.outer_run(self.skull, self.centroid, dir)?;
        Some(add(self.centroid, scale(dir, b)))
    }
}

/// A union of balls, optionally under a smooth displacement field (Gaussian bumps).
struct Blob {
    balls: Vec<(V3, f64)>,
    bumps: Vec<(V3, V3, f64)>,
}

impl Blob {
    fn contains(&self, x: V3) -> bool {
        let mut y = x;
        for (c, a, sigma) in &self.bumps {
            let d = sub(x, *c);
            let w = (-dot(d, d) / (2.0 * sigma * sigma)).exp();
            y = add(y, scale(*a, w));
        }
        self.balls.iter().any(|(c, r)| {
            let d = sub(y, *c);
            dot(d, d) <= r * r
        })
    }

    /// Balls scattered around `p` in the tangent plane of `n`, radii in `[r0, r1)`.
    #[allow(clippy::too_many_arguments)]
    fn around(
        rng: &mut Rng,
        p: V3,
        n: V3,
        count: usize,
        spread: f64,
        r0: f64,
        r1: f64,
        deform: bool,
    ) -> Blob {
        let (u, v) = tangents(n);
        let mut balls = vec![(p, rng.range(r0, r1))];
        for _ in 1..count {
            let c = add(
                add(p, scale(u, rng.range(-spread, spread))),
                add(
                    scale(v, rng.range(-spread, spread)),
                    scale(n, rng.range(-4.0, 4.0)),
                ),
            );
            balls.push((c, rng.range(r0, r1)));
        }
        let bumps = if deform {
            (0..4)
                .map(|_| {
                    let c = add(
                        p,
                        [
                            rng.range(-20.0, 20.0),
                            rng.range(-20.0, 20.0),
                            rng.range(-20.0, 20.0),
                        ],
                    );
                    let a = [
                        rng.range(-6.0, 6.0),
                        rng.range(-6.0, 6.0),
                        rng.range(-6.0, 6.0),
                    ];
                    (c, a, rng.range(10.0, 16.0))
                })
                .collect()
        } else {
            Vec::new()
        };
        Blob { balls, bumps }
    }
}

/// The region of one defect and the rays along which it must cut through.
struct Plan {
    region: Box<dyn Fn(V3) -> bool + Sync>,
    rays: Vec<(V3, V3)>,
    centre: V3,
}

fn plan(f: &Frame, style: Style, rng: &mut Rng) -> Option<Plan> {
    let c = f.centroid;
    let ray_to = |p: V3| (c, unit_mul(sub(p, c)));
    match style {
        Style::Cube => {
            let a = rng.range(0.40, 0.55) * f.extent[0].min(f.extent[1]);
            let cx = c[0] + rng.range(-0.08, 0.08) * f.extent[0];
            let cy = c[1] + rng.range(-0.08, 0.08) * f.extent[1];
            let floor = f.top - f.height / 4.0;
            let from = [cx, cy, c[2]];
            let p = add(
                from,
                scale(
                    [0.0, 0.0, 1.0],
                    f.outer_run(f.skull, from, [0.0, 0.0, 1.0])?.1,
                ),
            );
            Some(Plan {
                region: Box::new(move |x: V3| {
                    (x[0] - cx).abs() <= a / 2.0 && (x[1] - cy).abs() <= a / 2.0 && x[2] >= floor
                }),
                rays: vec![(from, [0.0, 0.0, 1.0])],
                centre: p,
            })
        }
        Style::Sphere => {
            let p = f.surface_point(direction(rng.range(45.0, 90.0), rng.range(0.0, 360.0)))?;
            let r = rng.range(30.0, 45.0);
            Some(Plan {
                region: Box::new(move |x: V3| dot(sub(x, p), sub(x, p)) <= r * r),
                rays: vec![ray_to(p)],
                centre: p,
            })
        }
        Style::Craniotomy => {
            let p = f.surface_point(direction(rng.range(50.0, 90.0), rng.range(0.0, 360.0)))?;
            let n = unit_mul(sub(p, c));
            let (u, v) = tangents(n);
            let (a, b) = (rng.range(60.0, 90.0) / 2.0, rng.range(50.0, 75.0) / 2.0);
            let rc = rng.range(3.0, 5.0);
            let depth = 25.0;
            Some(Plan {
                region: Box::new(move |x: V3| {
                    let q = sub(x, p);
                    let (qu, qv, qn) = (dot(q, u), dot(q, v), dot(q, n));
                    if qn.abs() > depth {
                        return false;
                    }
                    if qu.abs() <= a && qv.abs() <= b {
                        return true;
                    }
                    [(a, b), (a, -b), (-a, b), (-a, -b)]
                        .iter()
                        .any(|(cu, cv)| (qu - cu).powi(2) + (qv - cv).powi(2) <= rc * rc)
                }),
                rays: vec![ray_to(p)],
                centre: p,
            })
        }
        Style::Random => {
            let p = f.surface_point(direction(rng.range(20.0, 90.0), rng.range(0.0, 360.0)))?;
            let n = unit_mul(sub(p, c));
            let blob = {
                let k = rng.int(3, 6);
                Blob::around(rng, p, n, k, 18.0, 14.0, 28.0, true)
            };
            Some(Plan {
                region: Box::new(move |x| blob.contains(x)),
                rays: vec![ray_to(p)],
                centre: p,
            })
        }
        Style::Bilateral => {
            let d = direction(rng.range(25.0, 50.0), rng.range(-30.0, 30.0));
            let pl = f.surface_point(d)?;
            let pr = f.surface_point([-d[0], d[1], d[2]])?;
            let (k, r0, r1) = (rng.int(2, 3), 18.0, 28.0);
            let left = Blob::around(rng, pl, unit_mul(sub(pl, c)), k, 10.0, r0, r1, false);
            let right = Blob::around(rng, pr, unit_mul(sub(pr, c)), k, 10.0, r0, r1, false);
            Some(Plan {
                region: Box::new(move |x| left.contains(x) || right.contains(x)),
                rays: vec![ray_to(pl), ray_to(pr)],
                centre: pl,
            })
        }
        Style::Frontoorbital => {
            let p = f.surface_point(direction(
                rng.range(5.0, 25.0),
                -90.0 + rng.range(-20.0, 20.0),
            ))?;
            let blob = {
                let k = rng.int(2, 4);
                Blob::around(rng, p, unit_mul(sub(p, c)), k, 12.0, 20.0, 32.0, true)
            };
            Some(Plan {
                region: Box::new(move |x| blob.contains(x)),
                rays: vec![ray_to(p)],
                centre: p,
            })
        }
        Style::Parietotemporal => {
            let side = if rng.uniform() < 0.5 { 0.0 } else { 180.0 };
            let az = side
                + if side == 0.0 {
                    rng.range(0.0, 30.0)
                } else {
                    -rng.range(0.0, 30.0)
                };
            let p = f.surface_point(direction(rng.range(5.0, 35.0), az))?;
            let blob = {
                let k = rng.int(3, 5);
                Blob::around(rng, p, unit_mul(sub(p, c)), k, 16.0, 24.0, 38.0, true)
            };
            Some(Plan {
                region: Box::new(move |x| blob.contains(x)),
                rays: vec![ray_to(p)],
                centre: p,
            })
        }
    }
}

/// Removed bone that must lie in the vault's shell (outermost run of bone seen from the
/// centroid) for a placement to count as a cranial defect. On the SkullFix skulls the
/// fronto-orbital placements that reach the orbital roof keep 68 % and more; one on a skull with
/// its face tilted down kept 31 % (orbit and ethmoid, no vault bone).
const MIN_SHELL_SHARE: f64 = 0.5;

/// Voxels sampled to measure that share.
const SHARE_SAMPLES: usize = 4000;

/// The `k`-th defect of `style` cut into the complete skull of case `case` with `seed`, as
/// `ctplan skull inject` cuts and names it: the generator is derived from the seed and
/// `{case}/{style}/{k}`, so the same case, style, seed and index give the same defect wherever
/// it is cut; the name is `{case}_{style}_s{seed}_{k}`.
pub fn inject_seeded(
    complete: &Mask,
    case: &str,
    style: Style,
    seed: u64,
    k: usize,
) -> Result<(String, Injected), DefectError> {
    let name = format!("{case}_{}_s{seed}_{k}", style.name());
    let mut rng = Rng::derive(seed, &format!("{case}/{}/{k}", style.name()));
    Ok((name, inject(complete, style, &mut rng)?))
}

/// Cut a defect of `style` into the complete skull.
pub fn inject(complete: &Mask, style: Style, rng: &mut Rng) -> Result<Injected, DefectError> {
    let frame = Frame::new(complete).ok_or(DefectError::SkullTooSmall {
        style: style.name(),
        extent: [0.0; 3],
    })?;
    let e = frame.extent;
    if e[0] < 80.0 || e[1] < 80.0 || e[2] < 40.0 {
        return Err(DefectError::SkullTooSmall {
            style: style.name(),
            extent: e,
        });
    }
    const TRIES: usize = 25;
    let [nx, ny, _] = complete.dims;
    let g = complete.geometry;
    for _ in 0..TRIES {
        let Some(plan) = plan(&frame, style, rng) else {
            continue;
        };
        let mut implant = complete.map(|_| 0u8);
        implant
            .data
            .par_chunks_mut(nx)
            .zip(complete.data.par_chunks(nx))
            .enumerate()
            .for_each(|(row, (out, src))| {
                let (j, k) = ((row % ny) as f64, (row / ny) as f64);
                for (i, (o, &s)) in out.iter_mut().zip(src).enumerate() {
                    if s != 0 && (plan.region)(g.index_to_world([i as f64, j, k])) {
                        *o = 1;
                    }
                }
            });
        let n = implant.count_nonzero();
        // At least 1 mL of bone removed.
        if (n as f64) * implant.voxel_volume_mm3() < 1000.0 {
            continue;
        }
        // A cranial defect: most of the removed bone is the vault's shell (a forehead
        // placement on a skull whose face is tilted down would otherwise cut the orbit and
        // the ethmoid, and leave the vault whole).
        if frame.shell_share(&implant) < MIN_SHELL_SHARE {
            continue;
        }
        let defective = Mask {
            data: complete
                .data
                .iter()
                .zip(&implant.data)
                .map(|(&c, &i)| ((c != 0) && i == 0) as u8)
                .collect(),
            ..implant.clone()
        };
        if plan
            .rays
            .iter()
            .all(|&(from, dir)| frame.cut_through(&defective, from, dir))
        {
            return Ok(Injected {
                defective,
                implant,
                centre: plan.centre,
            });
        }
    }
    Err(DefectError::CannotPlace(style.name(), TRIES))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phantom::{PhantomSpec, skull};

    fn small_phantom() -> Mask {
        let spec = PhantomSpec {
            dims: [100, 120, 90],
            spacing: [1.7, 1.7, 1.8],
            defect_radius: 0.0,
            ..Default::default()
        };
        skull(&spec).complete
    }

    #[test]
    fn every_style_satisfies_the_identities_and_is_reproducible() {
        let complete = small_phantom();
        for style in Style::ALL {
            let a = inject(&complete, style, &mut Rng::derive(3, "phantom"))
                .unwrap_or_else(|e| panic!("{e}"));
            for ((&c, &d), &i) in complete
                .data
                .iter()
                .zip(&a.defective.data)
                .zip(&a.implant.data)
            {
                assert_eq!(c, d | i, "{style:?}");
                assert_eq!(d & i, 0, "{style:?}");
            }
            let ml = a.implant.nonzero_ml();
            assert!((1.0..150.0).contains(&ml), "{style:?}: {ml} mL");
            let b = inject(&complete, style, &mut Rng::derive(3, "phantom")).unwrap();
            assert_eq!(a.implant, b.implant, "{style:?} reproducible");
        }
    }

    #[test]
    fn placement_follows_world_axes_on_a_flipped_grid() {
        // Flip the array's z axis and say so in the direction matrix: the anatomy is the same,
        // so the defect must land on the same bone.
        let complete = small_phantom();
        let [nx, ny, nz] = complete.dims;
        let mut flipped = complete.clone();
        for k in 0..nz {
            for j in 0..ny {
                for i in 0..nx {
                    flipped.data[i + nx * (j + ny * k)] = complete.get(i, j, nz - 1 - k);
                }
            }
        }
        let g = complete.geometry;
        flipped.geometry.origin = g.index_to_world([0.0, 0.0, (nz - 1) as f64]);
        flipped.geometry.direction[2][2] = -1.0;
        let a = inject(&complete, Style::Sphere, &mut Rng::new(11)).unwrap();
        let b = inject(&flipped, Style::Sphere, &mut Rng::new(11)).unwrap();
        for k in 0..nz {
            for j in 0..ny {
                for i in 0..nx {
                    assert_eq!(a.implant.get(i, j, k), b.implant.get(i, j, nz - 1 - k));
                }
            }
        }
        assert!(
            a.centre[2] > g.index_to_world([0.0, 0.0, (nz / 2) as f64])[2],
            "defect in the upper skull"
        );
    }

    #[test]
    fn shell_share_tells_the_vault_from_bone_inside_it() {
        // The phantom's shell, plus a plate of bone inside it (as the orbital roof lies behind
        // the forehead): a cap of the shell is all vault, the plate none of it.
        let mut complete = small_phantom();
        let [nx, ny, nz] = complete.dims;
        let mut plate = complete.map(|_| 0u8);
        for k in nz / 2..nz / 2 + 3 {
            for j in ny / 3..2 * ny / 3 {
                for i in nx / 3..2 * nx / 3 {
                    complete.data[i + nx * (j + ny * k)] = 1;
                    plate.data[i + nx * (j + ny * k)] = 1;
                }
            }
        }
        let frame = Frame::new(&complete).unwrap();
        let mut cap = complete.map(|_| 0u8);
        for k in 3 * nz / 4..nz {
            for j in 0..ny {
                for i in 0..nx {
                    cap.data[i + nx * (j + ny * k)] =
                        complete.get(i, j, k) & (plate.get(i, j, k) ^ 1);
                }
            }
        }
        assert!(cap.count_nonzero() > 0 && plate.count_nonzero() > 0);
        let (c, p) = (frame.shell_share(&cap), frame.shell_share(&plate));
        assert!(c > 0.95 && p < 0.05, "cap {c}, plate {p}");
    }

    #[test]
    fn refuses_a_skull_too_small() {
        let spec = PhantomSpec {
            dims: [40, 40, 30],
            spacing: [1.0; 3],
            radii: [15.0, 18.0, 14.0],
            thickness: 3.0,
            ..Default::default()
        };
        let tiny = skull(&spec).complete;
        assert!(matches!(
            inject(&tiny, Style::Cube, &mut Rng::new(1)),
            Err(DefectError::SkullTooSmall { .. })
        ));
    }
}
