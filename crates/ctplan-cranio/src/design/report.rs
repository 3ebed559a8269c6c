//! The designed implant and how well each defect is constrained.

use ctplan_core::Mask;
use serde::Serialize;

use crate::skull::world_bounds;

/// The largest correction the fill takes at one bin from a learned correction
/// ([`crate::design::Designer::with_net`]), mm; larger ones are cut to it. The fill's true
/// offset from the complete skull stays below it on 95 % of the training samples of every
/// style but the fronto-orbital one (their largest offsets: 6–13 mm at the 95th percentile).
/// On held-out fronto-orbital defects the ensemble's corrections pass it (or cross the
/// surfaces) on 4–30 bins of a region of about 6000 (0.1–0.5 %), at its open edge by the orbit.
pub const MAX_CORRECTION_MM: f64 = 16.0;
/// A defect whose correction passes [`MAX_CORRECTION_MM`], or makes the surfaces cross where
/// the fill kept them apart, on more than this fraction of its bins keeps the shape prior's
/// fill: the correction has failed there as a whole, not at a few bins of an open edge.
pub const MAX_LIMITED_FRACTION: f64 = 0.05;

/// A designed implant. It serializes as its [`DesignReport`].
#[derive(Debug, Clone)]
pub struct Design {
    /// The implant, on the defective skull's grid.
    pub implant: Mask,
    /// Centre of the map (LPS mm).
    pub centre: [f64; 3],
    /// Defect bins on the map.
    pub defect_bins: usize,
    /// Mean radial thickness of the rebuilt vault across the defect, mm.
    pub mean_thickness_mm: f64,
    /// The prior's templates (case names) with the largest weights in the shape model's fit,
    /// up to five per defect; empty without a prior.
    pub templates: Vec<String>,
    /// How well each defect's rebuilt region is constrained, in the order they were rebuilt.
    pub defects: Vec<DefectReport>,
    /// A network was asked to correct the fill ([`crate::design::Designer::with_net`]); each
    /// defect's report says whether its correction was used.
    pub network: bool,
    /// The 3-D reshape ([`crate::design::Designer::with_voxel_net`]) reshaped the implant.
    pub reshaped: bool,
    /// What the 3-D reshape says of the pieces it left as the map made them.
    pub reshape_notes: Vec<String>,
    /// How long the design's parts took (not part of its report).
    pub seconds: Seconds,
}

/// How long a design's parts took, seconds ([`crate::design::Designer::design`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Seconds {
    /// The map's design: every stage from detect to finish.
    pub map: f64,
    /// The 3-D reshape (0 without one).
    pub reshape: f64,
}

/// How well one defect's fill is constrained by the bone around it. Reported, not used by the
/// design: a check for whoever prints the implant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DefectReport {
    /// Bins of the map rebuilt for this defect (the defect and its rim).
    pub region_bins: usize,
    /// Root-mean-square distance (mm) between the outer surface of the intact bone on the
    /// matching ring and the shape model fitted to it; `None` without a prior (or where no
    /// template covers the region). Large where the model cannot follow the bone around the
    /// defect (a brow ridge, an orbital rim).
    pub fit_rms_mm: Option<f64>,
    /// Fraction of the bins just outside the rebuilt region that hold no bone: the defect
    /// reaches the map's edge, an orbit or another gap, and the fill there is extrapolated
    /// from one side instead of interpolated between rims.
    pub open_border: f64,
    /// The skull's own mirror image was a shape of the model fitted across this defect (it
    /// covers the defect: a one-sided defect).
    pub own_mirror: bool,
    /// The learned correction ([`crate::learned::ShapeNet`]) shaped this defect's fill; false without a
    /// network, or where its correction was implausible and the shape model's trend was kept.
    pub learned: bool,
    /// Bins of the region where the learned correction was held back: cut to
    /// [`MAX_CORRECTION_MM`], or not applied where it would have made the
    /// surfaces cross (0 where it was not used).
    pub limited_bins: usize,
}

/// A defect is reported as less certain above these (see [`DefectReport::concerns`]). On the
/// 28 held-out SkullFix cases and the five vault styles of injected defects the fit stays
/// within 0.6 mm and the border closed, but for a second defect region of split B case 066
/// (2.7 mm, 21 % open); docs/cranio.md gives what they flag.
pub const FIT_RMS_CONCERN_MM: f64 = 1.0;
/// See [`FIT_RMS_CONCERN_MM`].
pub const OPEN_BORDER_CONCERN: f64 = 0.1;

impl DefectReport {
    /// Why this defect's fill is less certain than on the cases the design was measured on, in
    /// words; empty when nothing stands out.
    pub fn concerns(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(r) = self.fit_rms_mm.filter(|&r| r > FIT_RMS_CONCERN_MM) {
            out.push(format!(
                "the shape model follows the bone around it only to {r:.1} mm RMS (within \
                 {FIT_RMS_CONCERN_MM} mm on the measured cases): check the rebuilt shape"
            ));
        }
        if self.open_border > OPEN_BORDER_CONCERN {
            out.push(format!(
                "{:.0} % of its border has no bone (it reaches an orbit, the skull base or the \
                 map's edge): the implant's edge there is extrapolated, check it",
                100.0 * self.open_border
            ));
        }
        out
    }
}

impl Design {
    /// The concerns of every defect, each prefixed with the defect it is about.
    pub fn concerns(&self) -> Vec<String> {
        let k = self.defects.len();
        (self.defects.iter().enumerate())
            .flat_map(|(i, d)| {
                d.concerns()
                    .into_iter()
                    .map(move |c| format!("defect {} of {k}: {c}", i + 1))
            })
            .collect()
    }

    /// Where the design held the learned correction back: the defects whose correction was
    /// refused as implausible (past [`MAX_CORRECTION_MM`] or crossing the
    /// surfaces on more than [`MAX_LIMITED_FRACTION`] of the region), so
    /// that the shape prior's fill was kept, and those where it was held back on a few bins.
    /// Empty without a network; a defect that no template covers (no shape-model fit) has
    /// nothing for the network to correct. Then the notes of the 3-D reshape.
    pub fn notes(&self) -> Vec<String> {
        let k = self.defects.len();
        (self.defects.iter().enumerate())
            .filter(|(_, d)| self.network && d.fit_rms_mm.is_some())
            .filter_map(|(i, d)| {
                if !d.learned {
                    Some(format!(
                        "defect {} of {k}: the network's correction was implausible, the shape \
                         prior's fill is kept",
                        i + 1
                    ))
                } else if d.limited_bins > 0 {
                    Some(format!(
                        "defect {} of {k}: the network's correction passed {} mm or crossed \
                         the surfaces on {} of {} bins ({:.1} %) and was held back there",
                        i + 1,
                        MAX_CORRECTION_MM,
                        d.limited_bins,
                        d.region_bins,
                        100.0 * d.limited_bins as f64 / d.region_bins.max(1) as f64
                    ))
                } else {
                    None
                }
            })
            .chain(self.reshape_notes.iter().cloned())
            .collect()
    }

    /// What is reported of the design: everything but the implant's voxels.
    pub fn report(&self) -> DesignReport {
        DesignReport {
            implant_ml: self.implant.nonzero_ml(),
            bounding_box_mm: world_bounds(&self.implant).map(|(min, max)| BoundingBox {
                min,
                max,
                size: [0, 1, 2].map(|a| max[a] - min[a]),
            }),
            mean_thickness_mm: self.mean_thickness_mm,
            defect_bins: self.defect_bins,
            templates: self.templates.clone(),
            defects: self.defects.clone(),
            concerns: self.concerns(),
            network: self.network,
            voxel_net: self.reshaped,
            notes: self.notes(),
        }
    }
}

impl Serialize for Design {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.report().serialize(s)
    }
}

/// The report of a design ([`Design::report`]), as `ctplan implant --json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DesignReport {
    /// The implant's volume, mL.
    pub implant_ml: f64,
    /// The implant's extent in patient space; `None` for an empty implant.
    pub bounding_box_mm: Option<BoundingBox>,
    /// See [`Design::mean_thickness_mm`].
    pub mean_thickness_mm: f64,
    /// See [`Design::defect_bins`].
    pub defect_bins: usize,
    /// See [`Design::templates`].
    pub templates: Vec<String>,
    /// See [`Design::defects`].
    pub defects: Vec<DefectReport>,
    /// [`Design::concerns`].
    pub concerns: Vec<String>,
    /// See [`Design::network`].
    pub network: bool,
    /// See [`Design::reshaped`].
    pub voxel_net: bool,
    /// [`Design::notes`].
    pub notes: Vec<String>,
}

/// An extent in patient space: LPS minimum and maximum corners (mm) of the voxels' centres,
/// and the box's sizes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BoundingBox {
    /// The minimum corner.
    pub min: [f64; 3],
    /// The maximum corner.
    pub max: [f64; 3],
    /// `max − min`.
    pub size: [f64; 3],
}
