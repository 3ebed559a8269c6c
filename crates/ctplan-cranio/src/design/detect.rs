//! Stage 1, detect (docs/cranio.md, method steps 1–2): refuse what is not a skull, then find
//! the defects on the vault map.

use ctplan_core::Mask;
use rayon::prelude::*;

use crate::design::options::DesignOptions;
use crate::error::DesignError;
use crate::shape::ShapePrior;
use crate::skull::{SkullGuard, world_extent};
use crate::vault::map::Map;
use crate::vault::regions::{components, flooded};
use crate::vault::shell::{Shell, bone_voxels, median, shell_of};

/// Bone is expected in a direction when at least this fraction of the prior's templates has it
/// and their outer radii there spread (interquartile range) at most `EXPECTED_SPREAD_MM`.
const EXPECTED_FRACTION: f64 = 0.9;
const EXPECTED_SPREAD_MM: f64 = 6.0;
/// Bone this far inside the expected outer radius is not the vault.
const INSIDE_VAULT_MM: f64 = 12.0;

/// How much wider than the map the disk is on which a defect reaching the map's edge must be
/// enclosed, degrees (the prior's templates reach 7° past the design's 105°).
const WIDER_DEG: f64 = 7.0;
/// A region enclosed only on that wider disk is a defect where the offset templates agree on at
/// least this fraction of its bins that the vault belongs there: 35 % on the one injected
/// defect found this way (split B's fronto-orbital 056); the gaps it admits on the SkullFix
/// skulls (complete, defective and test) are at most 49 bins, too small to be a defect.
const EDGE_AGREED_FRACTION: f64 = 0.25;

/// Smallest defect, square degrees of the map (about 2 cm² on an adult vault).
const MIN_DEFECT_DEG2: f64 = 40.0;

/// Refuse masks that are not a cranial vault: the bone volume and head width of
/// [`SkullGuard`], and a shell seen from its centre (on most directions of the vault the inner
/// radius is at least half the outer one; solid bone is not a skull).
pub(crate) fn is_skull_like(m: &Mask, s: &Shell) -> Result<(), DesignError> {
    let g = SkullGuard::default();
    let ml = m.nonzero_ml();
    let e = world_extent(m).unwrap_or([0.0; 3]);
    if !g.accepts_size(ml, e) {
        return Err(DesignError::NotASkull(format!(
            "{ml:.1} mL of bone, {:.0} × {:.0} mm left–right × anterior–posterior; a skull has \
             {}–{} mL and is {}–{} mm wide",
            e[0], e[1], g.min_volume_ml, g.max_volume_ml, g.min_extent_mm, g.max_extent_mm
        )));
    }
    let known: Vec<usize> = (0..s.r_out.len()).filter(|&b| s.known(b)).collect();
    let shell_like = known
        .iter()
        .filter(|&&b| s.r_in[b] >= 0.5 * s.r_out[b])
        .count();
    if (shell_like as f64) < 0.5 * known.len() as f64 {
        return Err(DesignError::NotASkull(
            "bone fills the inside instead of forming a shell".into(),
        ));
    }
    Ok(())
}

/// The defects of a defective skull: its shell, which bins hold bone, and the components of
/// bins that are defects.
pub(crate) struct Detected {
    /// The defective skull's shell.
    pub shell: Shell,
    /// Whether each bin of the map holds bone.
    pub known: Vec<bool>,
    /// Each defect's bins.
    pub defects: Vec<Vec<usize>>,
    /// The defective skull's bone voxels.
    pub bone: Vec<usize>,
}

/// The first stage of the design: the defective skull's shell, refused where it is not a skull,
/// and its defects (the enclosed regions of empty bins, and with a prior the bins where the
/// vault is missing although the complete skulls agree it should be there).
pub(crate) fn detect(
    defective: &Mask,
    prior: Option<&ShapePrior>,
    o: &DesignOptions,
) -> Result<Detected, DesignError> {
    let bone = bone_voxels(defective);
    let s = shell_of(
        defective,
        &bone,
        None,
        o.bin_deg.to_radians(),
        o.max_polar_deg.to_radians(),
        None,
    )?;
    is_skull_like(defective, &s)?;
    let map = &s.map;
    let (n, bin) = (map.n, map.bin);
    let known_bins: Vec<bool> = (0..n * n).map(|b| s.known(b)).collect();
    // Empty bins inside the disk; the defect is made of the empty regions that do not reach the
    // disk's edge (an open edge is where the scan or the skull ends, not a defect).
    let empty = s.empty();
    // Defects: enclosed empty regions, and with a prior the bins where the vault is missing
    // although the complete skulls agree it should be there (a defect reaching low on the side
    // or the front is not enclosed on the map: rays through it meet the petrous bone or the
    // orbital roof, or leave the map). Small enclosed gaps also occur where the map meets the
    // orbits and the skull base; a component is a defect when it spans at least
    // `MIN_DEFECT_DEG2` and a fifth of the largest one.
    let mut candidate = enclosed_regions(&empty, map);
    let mut loose = vec![false; n * n];
    if let Some(p) = prior {
        let (strict, l) = missing_vault(p, &s, defective.dims);
        for b in 0..n * n {
            candidate[b] |= strict[b];
        }
        loose = l;
    }
    let bin_deg2 = bin.to_degrees().powi(2);
    let sized = |candidate: &[bool]| {
        let mut comps = components(candidate, n);
        let largest = comps.iter().map(Vec::len).max().unwrap_or(0);
        comps.retain(|c| c.len() as f64 * bin_deg2 >= MIN_DEFECT_DEG2 && 5 * c.len() >= largest);
        comps
    };
    let mut comps = sized(&candidate);
    // Where nothing else was found: a defect that runs past the map's edge is not enclosed on
    // the map, but it is on a wider disk when bone closes it beyond the edge (a fronto-orbital
    // defect above the orbital rim, seen from a centre high in the vault). Its empty bins on
    // the map count as a defect where the templates, each offset onto this skull, agree on at
    // least `EDGE_AGREED_FRACTION` of them that the vault belongs there: gaps between the orbits
    // and the skull base are enclosed on the wider disk too, but no template has vault there.
    // Only a fallback: joined to a defect found otherwise, these bins widened a parietotemporal
    // defect's rebuilt region and lowered its fill (split B 021, DSC 0.817 → 0.770).
    if comps.is_empty() && prior.is_some() {
        let edge = edge_regions(defective, &bone, &s, &empty, o)?;
        for c in components(&edge, n) {
            let agreed = c.iter().filter(|&&b| loose[b]).count();
            if agreed as f64 >= EDGE_AGREED_FRACTION * c.len() as f64 {
                for b in c {
                    candidate[b] = true;
                }
            }
        }
        comps = sized(&candidate);
    }
    // A defect goes on over the empty bins next to it where the templates, each offset onto
    // this skull, agree that the vault should be.
    if loose.iter().any(|&l| l) {
        let mut kept = vec![false; n * n];
        for &b in comps.iter().flatten() {
            kept[b] = true;
        }
        comps = components(&flooded(&kept, &loose, n), n);
    }
    if comps.is_empty() {
        return Err(DesignError::NoDefect);
    }
    Ok(Detected {
        known: known_bins,
        defects: comps,
        bone,
        shell: s,
    })
}

/// The empty bins of the map (`empty`) that belong to an empty region enclosed on a disk
/// [`WIDER_DEG`] wider than the map, seen from the same centre at the same bin size: regions
/// that reach the map's edge but are closed by bone beyond it.
pub(crate) fn edge_regions(
    defective: &Mask,
    bone: &[usize],
    s: &Shell,
    empty: &[bool],
    o: &DesignOptions,
) -> Result<Vec<bool>, DesignError> {
    let map = &s.map;
    let wide = shell_of(
        defective,
        bone,
        Some(map.bin),
        map.bin,
        (o.max_polar_deg + WIDER_DEG).to_radians(),
        Some(s.centre),
    )?;
    let enclosed = enclosed_regions(&wide.empty(), &wide.map);
    Ok((0..map.n * map.n)
        .map(|b| {
            empty[b]
                && wide
                    .map
                    .bin_of(map.direction(b))
                    .is_some_and(|w| enclosed[w])
        })
        .collect())
}

/// The bins of the empty regions of the map that do not reach the disk's edge (within 3 bins
/// of it); tiny gaps (a few bins) are sampling holes, not defects.
pub(crate) fn enclosed_regions(empty: &[bool], map: &Map) -> Vec<bool> {
    let n = map.n;
    let mut out = vec![false; n * n];
    for c in components(empty, n) {
        if c.len() > 20 && c.iter().all(|&b| map.disk_margin(b) >= 3.0) {
            for b in c {
                out[b] = true;
            }
        }
    }
    out
}

/// Bins where the vault is missing although the prior expects it, as two sets.
///
/// `strict`: the complete skulls agree on the outer radius in that direction (at least
/// `EXPECTED_FRACTION` of them have bone there, spread under `EXPECTED_SPREAD_MM`), the expected
/// point (their median, shifted by this skull's median size difference) lies inside the scanned
/// grid (a direction that leaves the scan is unobserved, not a defect), and this skull has no
/// bone there, or only bone far inside the vault (the petrous bone or the orbital roof seen
/// through a defect that reaches low on the side or the front).
///
/// `loose`: this skull has no bone in that direction, and the templates agree once each is
/// offset onto this skull by its own median difference: a spread that measures shape, not head
/// size. Head widths differ more than vault heights, so on the side of the head the raw radii
/// spread too much to call a direction missing; the offset ones do not. Thin temporal bone
/// that the threshold lost is also empty there, so these bins only extend a defect found by
/// other means (see [`flooded`]).
pub(crate) fn missing_vault(p: &ShapePrior, s: &Shell, dims: [usize; 3]) -> (Vec<bool>, Vec<bool>) {
    let map = &s.map;
    let n = map.n;
    let none = || (vec![false; n * n], vec![false; n * n]);
    if p.is_empty() {
        return none();
    }
    let inside = |b: usize| map.disk_margin(b) > 0.0;
    // The templates' agreed radius in a bin, each offset by `off(t)`.
    let agreed = |b: usize, off: &(dyn Fn(usize) -> Option<f64> + Sync)| -> Option<f64> {
        let (u, v) = map.uv(b);
        let mut radii: Vec<f64> = (0..p.len())
            .filter_map(|t| Some(p.sample(t, 1, u, v)? + off(t)?))
            .collect();
        if (radii.len() as f64) < EXPECTED_FRACTION * p.len() as f64 {
            return None;
        }
        radii.sort_by(|a, b| a.total_cmp(b));
        let q = |f: f64| radii[((radii.len() - 1) as f64 * f).round() as usize];
        (q(0.75) - q(0.25) <= EXPECTED_SPREAD_MM).then(|| q(0.5))
    };
    let in_grid = |b: usize, r: f64| {
        let d = map.direction(b);
        let q = [0, 1, 2].map(|a| s.centre[a] + r * d[a]);
        s.geometry
            .world_to_index(q)
            .is_some_and(|i| (0..3).all(|a| i[a] >= 0.0 && i[a] <= dims[a] as f64 - 1.0))
    };
    let raw: Vec<Option<f64>> = (0..n * n)
        .into_par_iter()
        .map(|b| {
            if inside(b) {
                agreed(b, &|_| Some(0.0))
            } else {
                None
            }
        })
        .collect();
    // This skull's size against the templates': the median difference where both have bone.
    let Some(offset) = median(
        (0..n * n)
            .filter_map(|b| raw[b].filter(|_| s.known(b)).map(|e| s.r_out[b] - e))
            .collect(),
    ) else {
        return none();
    };
    // Each template's own offset onto this skull.
    let offsets: Vec<Option<f64>> = (0..p.len())
        .into_par_iter()
        .map(|t| {
            median(
                (0..n * n)
                    .filter(|&b| s.known(b) && inside(b))
                    .filter_map(|b| {
                        let (u, v) = map.uv(b);
                        p.sample(t, 1, u, v).map(|r| s.r_out[b] - r)
                    })
                    .collect(),
            )
        })
        .collect();
    (0..n * n)
        .into_par_iter()
        .map(|b| {
            let strict = raw[b].is_some_and(|e| {
                let r = e + offset;
                !(s.known(b) && s.r_out[b] > r - INSIDE_VAULT_MM) && in_grid(b, r)
            });
            let loose = inside(b)
                && !s.known(b)
                && agreed(b, &|t| offsets[t]).is_some_and(|r| in_grid(b, r));
            (strict, loose)
        })
        .unzip()
}
