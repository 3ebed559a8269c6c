//! The options of the design.

use crate::design::finish::RIM_CLOSING_MM;

/// Options of the design.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DesignOptions {
    /// Smallest bin size of the map, degrees; coarser voxels get coarser bins (each bin spans
    /// at least 1.2 voxels at the median bone radius, so intact bone leaves no empty bin).
    pub bin_deg: f64,
    /// Margin around the defect that is rebuilt from intact bone, degrees.
    pub rim_deg: f64,
    /// The vault: directions up to this angle from superior, degrees.
    pub max_polar_deg: f64,
    /// Width of the ring of intact bone around the rebuilt region on which the prior's
    /// templates are matched, degrees.
    pub match_deg: f64,
    /// Width of the ring on which the fill is blended into the intact bone (the quadratic
    /// correction), degrees.
    pub blend_deg: f64,
    /// The skull's own mirror image through its mid-sagittal plane ([`crate::symmetry`]) joins
    /// the shape model where it holds bone across a defect, counted as this many templates
    /// (in the model's mean and with its ridge penalty divided by as much); `None` leaves it
    /// out.
    pub own_mirror_weight: Option<f64>,
    /// Below the map's edge, the implant goes on down to this angle from superior, degrees,
    /// where the skull's own mirror image holds bone and the defective skull has none at that
    /// depth, connected to a defect's rebuilt region (docs/cranio.md, step 7); `None` stops it at the
    /// map's edge. Only where the mirror image was found (a defect that may be one-sided).
    pub below_edge_deg: Option<f64>,
    /// Ridge regularisation of the shape model's fit, relative to the mean squared norm of a
    /// template's deviation on the matching ring: larger keeps the trend nearer the mean skull.
    pub ridge: f64,
    /// The ridge for a defect whose rebuilt region (the defect and its rim, before off-trend
    /// ring bins join it) has more than [`crate::design::OPEN_BORDER_CONCERN`] of its border without bone (it
    /// reaches the map's edge or an orbit): intact bone on one side
    /// only constrains the fit less, and the stronger pull towards the mean skull bent low
    /// temporal walls inwards.
    pub open_ridge: f64,
    /// A voxel belongs to the implant when its centre lies between the filled inner and outer
    /// radius widened by this margin, mm: the fields are averages (of templates, of bilinear
    /// samples, of the smoothing spline) that pull the extreme radii of bone voxels inwards.
    pub surface_margin_mm: f64,
    /// An implant voxel that touches the defective skull where the bone's surface faces the
    /// centre or away from it (the cosine between its normal and the radial direction above
    /// this) lies on the intact skull's outer or inner table, not against the defect's cut
    /// edge, and is dropped; `None` keeps every voxel (docs/cranio.md, step 6 of the method).
    pub natural_surface_cos: Option<f64>,
    /// Narrow gaps between the implant and the defective skull's cut edge are filled
    /// ([`crate::design::close_to_rim`] with a ball of this radius, mm); `None` leaves them (docs/cranio.md,
    /// step 8 of the method).
    pub rim_closing_mm: Option<f64>,
    /// How the rim's residual (what the intact bone leaves of the trend) is carried across the
    /// defect: a smoothing thin-plate spline through the residual on a band of intact bone
    /// around the rebuilt region (docs/cranio.md, step 4 of the method); `None` uses the
    /// harmonic interpolation of the residual on the rim alone.
    pub thin_plate: Option<ThinPlate>,
    /// Smallest implant, mL: a design that takes less is refused
    /// ([`crate::DesignError::OnlySmallGaps`]; default [`MIN_IMPLANT_ML`]).
    pub min_implant_ml: f64,
}

/// The smoothing thin-plate spline that carries the rim's residual across a defect.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThinPlate {
    /// Width of the band of intact bone around the rebuilt region whose residual the spline
    /// follows, degrees.
    pub band_deg: f64,
    /// Smoothing added to the spline's kernel matrix (Wahba's λ, for the kernel r² log r with
    /// r in bins of the map): larger follows the band's residual less closely and bends less.
    pub smoothing: f64,
}

impl Default for DesignOptions {
    fn default() -> Self {
        DesignOptions {
            bin_deg: 0.5,
            rim_deg: 3.5,
            max_polar_deg: 105.0,
            match_deg: 8.0,
            blend_deg: 5.0,
            ridge: 0.1,
            own_mirror_weight: Some(64.0),
            below_edge_deg: Some(135.0),
            open_ridge: 0.01,
            surface_margin_mm: 0.2,
            natural_surface_cos: Some(0.8),
            rim_closing_mm: Some(RIM_CLOSING_MM),
            thin_plate: Some(ThinPlate {
                band_deg: 1.5,
                smoothing: 2000.0,
            }),
            min_implant_ml: MIN_IMPLANT_ML,
        }
    }
}

/// Smallest implant by default, mL (a plate 2 × 2 cm, 5 mm thick): less is not a cranial
/// defect but gaps the map shows by the orbits or the skull base. On 4 of the 70 intact
/// SkullFix skulls such gaps took 0.01–0.93 mL; the smallest of the 336 designs of the
/// accuracy benchmark (held-out and injected defects, BENCHMARKS.md) is 5.8 mL, of the 31 test,
/// out-of-distribution and SkullBreak designs 11.4 mL, and the smallest true implant there
/// 13.2 mL.
pub const MIN_IMPLANT_ML: f64 = 2.0;
