//! Stage 2, plan (docs/cranio.md, method step 3): the region to rebuild around each defect,
//! the rings of intact bone around it and the shape model's trend across it.

use std::cell::OnceCell;

use ctplan_core::Mask;

use crate::design::detect::{Detected, detect};
use crate::design::options::DesignOptions;
use crate::design::report::{DefectReport, OPEN_BORDER_CONCERN};
use crate::error::DesignError;
use crate::shape::ShapePrior;
use crate::shape::fit::{Trend, prior_trend};
use crate::symmetry::{Plane, mid_sagittal_plane_of};
use crate::vault::regions::{grown, open_fraction};
use crate::vault::shell::{Shell, mirrored_fields};

/// A ring bin whose outer radius lies this far inside the prior's trend (or its inner radius 1.5
/// times as far) is not the intact vault's shell, mm.
const OFF_TREND_MM: f64 = 4.0;

/// One defect as planned: the bins rebuilt, the rings around them and the shape model's trend.
pub(crate) struct DefectPlan {
    /// The rebuilt region as a bin mask, and as a list (`unknown`).
    pub region: Vec<bool>,
    pub unknown: Vec<usize>,
    /// Intact bins around the region on which the shape model is matched, and on which the
    /// fill is blended into the bone.
    pub matching: Vec<usize>,
    pub blending: Vec<usize>,
    /// The ridge the shape model was fitted with.
    pub ridge: f64,
    /// The shape model's trend over `matching` ∪ `unknown`; `None` without a prior.
    pub trends: Option<Trend>,
    pub report: DefectReport,
}

/// The first stage of the design: the defective skull's shell, its defects, the regions to
/// rebuild and the shape model's trend across each.
pub(crate) struct Plan {
    pub shell: Shell,
    pub known: Vec<bool>,
    /// Defect bins (all defects).
    pub defect: Vec<bool>,
    pub defects: Vec<DefectPlan>,
    /// The skull's mid-sagittal plane, where a defect may be one-sided.
    pub plane: Option<Plane>,
    /// The defective skull's bone voxels.
    pub bone: Vec<usize>,
}

/// The first two stages of the design: the defects ([`detect`]), then the regions to rebuild
/// and the shape model's trend across each.
pub(crate) fn plan(
    defective: &Mask,
    prior: Option<&ShapePrior>,
    o: &DesignOptions,
) -> Result<Plan, DesignError> {
    let Detected {
        shell: s,
        known: known_bins,
        defects: comps,
        bone,
    } = detect(defective, prior, o)?;
    let map = &s.map;
    let (n, bin) = (map.n, map.bin);
    let (r_in, r_out) = (&s.r_in, &s.r_out);
    let known = |b: usize| known_bins[b];
    let mut defect = vec![false; n * n];
    let mut defects = Vec::new();
    // The skull's own mirror image through its mid-sagittal plane, a shape of the model where
    // it holds bone across a defect (the intact side of a one-sided defect). Found only for the
    // first defect that may be one-sided: more than half of its region's bins in the disk have
    // intact bone at their mirror bin on the map (u → −u, the mirror through the centre's
    // sagittal plane; the fitted plane is within a few degrees of it, and the shape model
    // asks `MIRROR_COVER` of the mirror image itself).
    let mirror: OnceCell<Option<(Plane, [Vec<f64>; 2])>> = OnceCell::new();
    let may_be_one_sided = |region: &[bool]| {
        let inside: Vec<usize> = (0..n * n)
            .filter(|&b| region[b] && map.disk_margin(b) > 0.0)
            .collect();
        let mirrored = |b: usize| (n - 1 - b % n) + n * (b / n);
        let held = inside.iter().filter(|&&b| known(mirrored(b))).count();
        2 * held > inside.len()
    };
    // Region to rebuild: the defect grown by a few bins. Bins at the rim hold bone cut at an
    // angle, whose radii understate the thickness, so they are rebuilt too, from intact bone.
    let grow = (o.rim_deg.to_radians() / bin).round().max(1.0) as usize;
    let blend_bins = ((o.blend_deg.to_radians() / bin).round() as usize).max(4);
    let match_bins = ((o.match_deg.to_radians() / bin).round() as usize).max(blend_bins);
    for comp in &comps {
        let mut this = vec![false; n * n];
        for &b in comp {
            this[b] = true;
            defect[b] = true;
        }
        let mut this_region = grown(&this, n, grow);
        let ring_of = |width: usize, this_region: &[bool]| -> Vec<usize> {
            let ring = grown(this_region, n, width);
            (0..n * n)
                .filter(|&b| ring[b] && !this_region[b] && known(b))
                .collect()
        };
        let (mut matching, mut blending) = (
            ring_of(match_bins, &this_region),
            ring_of(blend_bins, &this_region),
        );
        let mut unknown: Vec<usize> = (0..n * n).filter(|&b| this_region[b]).collect();
        // The trend across the region: the prior's shape model fitted to the ring; without a
        // prior (or when no template covers the region), zero, and the blending
        // quadratic alone makes the trend.
        let ridge = if open_fraction(&this_region, &known_bins, n) > OPEN_BORDER_CONCERN {
            o.open_ridge
        } else {
            o.ridge
        };
        let own = (o.own_mirror_weight)
            .filter(|_| prior.is_some() && may_be_one_sided(&this_region))
            .and_then(|w| {
                let fields = mirror.get_or_init(|| {
                    let plane = mid_sagittal_plane_of(defective, &bone)?;
                    Some((plane, mirrored_fields(defective, &bone, &s, &plane)))
                });
                fields.as_ref().map(|(_, f)| (f, w))
            });
        let trend = |matching: &[usize], unknown: &[usize]| {
            prior.and_then(|p| prior_trend(p, map, matching, unknown, [r_in, r_out], ridge, own))
        };
        let mut trends = trend(&matching, &unknown);
        // Ring bins far inside the prior's trend hold bone that is not this vault's shell (the
        // orbital roof seen through a forehead defect, the petrous bone behind the temple):
        // they join the region and the trend is fitted again without them. Only inside: bone
        // seen through a defect always lies deeper than the vault, while bone further out than
        // the trend is this vault itself (a forehead over a large frontal sinus, a brow ridge)
        // and is what the refit must follow.
        for _ in 0..2 {
            let Some(Trend {
                fields: [ti, to], ..
            }) = &trends
            else {
                break;
            };
            let off: Vec<usize> = matching
                .iter()
                .copied()
                .filter(|&b| {
                    to[b] - r_out[b] > OFF_TREND_MM || ti[b] - r_in[b] > 1.5 * OFF_TREND_MM
                })
                .collect();
            if off.is_empty() {
                break;
            }
            for b in off {
                this_region[b] = true;
            }
            matching = ring_of(match_bins, &this_region);
            blending = ring_of(blend_bins, &this_region);
            unknown = (0..n * n).filter(|&b| this_region[b]).collect();
            trends = trend(&matching, &unknown);
        }
        let report = DefectReport {
            region_bins: unknown.len(),
            fit_rms_mm: trends.as_ref().map(|t| {
                let to = &t.fields[1];
                let sq = matching.iter().map(|&b| (to[b] - r_out[b]).powi(2));
                (sq.sum::<f64>() / matching.len() as f64).sqrt()
            }),
            open_border: open_fraction(&this_region, &known_bins, n),
            own_mirror: trends.as_ref().is_some_and(|t| t.own_mirror),
            learned: false,
            limited_bins: 0,
        };
        defects.push(DefectPlan {
            region: this_region,
            unknown,
            matching,
            blending,
            ridge,
            trends,
            report,
        });
    }
    let plane = mirror.get().and_then(|m| m.as_ref().map(|(p, _)| *p));
    Ok(Plan {
        shell: s,
        known: known_bins,
        defect,
        plane,
        bone,
        defects,
    })
}
