//! Implant design: complete the cranial vault across the defect, then subtract.
//!
//! The vault seen from its centre is a shell ([`crate::vault`]): along each direction the bone
//! lies between an inner radius (inner table) and an outer radius (outer table), on the
//! azimuthal equidistant map of directions around the superior pole. On this map a defect is
//! an enclosed region of bins without bone. The inner and outer radius fields are filled
//! across each defect by a trend plus the trend's residual on the intact bone around the
//! defect carried across it by a smoothing thin-plate spline (or, as an option, by harmonic
//! interpolation: the Laplace equation with the rim as boundary condition) — the classical
//! surface-interpolation approach to cranial implant design. The trend comes from a shape prior
//! when one is given ([`crate::shape`]: a statistical shape model of complete skulls fitted to
//! the intact bone around the defect), then a quadratic fitted on a ring of intact bone blends
//! it in; without a prior the trend is that quadratic alone (which, unlike harmonic
//! interpolation, can bulge above the rim as the vault does). The implant is every voxel
//! in and around the defect whose radius lies between the filled fields and that the defective
//! skull does not contain.
//!
//! The modules are the stages of docs/cranio.md's method, in order: `detect` (steps 1–2),
//! `plan` (step 3), `fill` (step 4), `voxels` (steps 5–7) and `finish` (steps 8–10).
//! Two stages may be learned: the fill's correction (`FillCorrector`, after `fill`) and the
//! 3-D reshape (`Refiner`, after `finish`); this module owns their traits and imports no
//! network ([`crate::learned`] implements them). [`Designer`] is the whole pipeline.

pub(crate) mod detect;
pub(crate) mod fill;
pub(crate) mod finish;
mod options;
pub(crate) mod plan;
mod report;
#[cfg(test)]
mod tests;
pub(crate) mod voxels;

use std::time::Instant;

use ctplan_core::Mask;

pub use crate::error::DesignError;
use crate::shape::ShapePrior;
use crate::vault::shell::Shell;
pub use fill::Reference;
use fill::{Filled, fill_plans};
pub use finish::{RIM_CLOSING_MM, close_to_rim};
pub use options::{DesignOptions, MIN_IMPLANT_ML, ThinPlate};
use plan::{DefectPlan, Plan, plan};
pub use report::{
    BoundingBox, DefectReport, Design, DesignReport, FIT_RMS_CONCERN_MM, MAX_CORRECTION_MM,
    MAX_LIMITED_FRACTION, OPEN_BORDER_CONCERN, Seconds,
};

/// A learned correction of the fill ([`fill`]'s fields across each defect), run after the
/// fill stage; it sets each defect's report's `learned` and `limited_bins`.
pub(crate) trait FillCorrector: Sync {
    /// Correct `filled` (the fields of `shell` with every planned defect filled) in place.
    fn correct(&self, shell: &Shell, known: &[bool], plans: &[DefectPlan], filled: &mut Filled);
}

/// A reshape of the finished implant (the last stage): returns whether it reshaped any piece,
/// and a note for each piece it left as the map made it.
pub(crate) trait Refiner: Sync {
    /// Reshape `design`'s implant in place.
    fn reshape(&self, design: &mut Design, defective: &Mask) -> (bool, Vec<String>);
}

/// The whole design pipeline: the shape prior (if any), the learned correction of the fill
/// and the 3-D reshape (if any), and the options. [`Designer::shipped`] is what
/// `ctplan implant` runs by default; [`Designer::new`], [`Designer::with_net`] and
/// [`Designer::with_voxel_net`] make the others.
#[derive(Clone, Copy)]
pub struct Designer<'a> {
    pub(crate) prior: Option<&'a ShapePrior>,
    pub(crate) corrector: Option<&'a dyn FillCorrector>,
    pub(crate) refiner: Option<&'a dyn Refiner>,
    pub(crate) options: DesignOptions,
}

impl<'a> Designer<'a> {
    /// The design with this shape prior (`None`: geometric completion alone) and no network.
    pub fn new(prior: Option<&'a ShapePrior>, options: DesignOptions) -> Designer<'a> {
        Designer {
            prior,
            corrector: None,
            refiner: None,
            options,
        }
    }

    /// The design's options.
    pub fn options(&self) -> &DesignOptions {
        &self.options
    }

    /// Design the implant for a defective skull: plan and fill with the prior, the learned
    /// correction (only with a prior: it corrects the shape model's trend), the voxels, the
    /// finish, then the 3-D reshape.
    pub fn design(&self, defective: &Mask) -> Result<Design, DesignError> {
        let corrector = self.corrector.filter(|_| self.prior.is_some());
        let t = Instant::now();
        let mut d = design_with(defective, self.prior, corrector, &self.options, None)?;
        d.seconds.map = t.elapsed().as_secs_f64();
        if let Some(r) = self.refiner {
            let t = Instant::now();
            let (reshaped, notes) = r.reshape(&mut d, defective);
            d.reshaped = reshaped;
            d.reshape_notes = notes;
            d.seconds.reshape = t.elapsed().as_secs_f64();
        }
        Ok(d)
    }
}

/// A complete skull given beside a defective one must lie on its grid.
pub(crate) fn check_reference_grid(complete: &Mask, defective: &Mask) -> Result<(), DesignError> {
    complete
        .check_same_grid(defective, 1e-6)
        .map_err(|e| DesignError::GridMismatch(e.to_string()))
}

/// Design an implant for a defective skull. With a shape prior, the vault across the defect
/// follows the complete skulls of the prior that best match the intact bone around it.
pub fn design(
    defective: &Mask,
    prior: Option<&ShapePrior>,
    o: &DesignOptions,
) -> Result<Design, DesignError> {
    design_with(defective, prior, None, o, None)
}

/// The design of [`design`] with the answer known: the same defects and rebuilt regions, but
/// the fields across them taken from `complete` (the skull before the defect, on the same grid)
/// as `what` says. A measuring tool, not a design method: it separates what the map
/// representation loses from what the shape model loses and from what fitting the model to the
/// rim alone loses (`examples/implant_ceiling.rs`, `bench/implant_ceiling.py`).
pub fn design_against(
    defective: &Mask,
    complete: &Mask,
    prior: Option<&ShapePrior>,
    o: &DesignOptions,
    what: Reference,
) -> Result<Design, DesignError> {
    check_reference_grid(complete, defective)?;
    design_with(defective, prior, None, o, Some((complete, what)))
}

/// The pipeline's stages in order, each in its module; `corrector` after the fill, and with a
/// `reference` the fields across the defects taken from the complete skull instead.
fn design_with(
    defective: &Mask,
    prior: Option<&ShapePrior>,
    corrector: Option<&dyn FillCorrector>,
    o: &DesignOptions,
    reference: Option<(&Mask, Reference)>,
) -> Result<Design, DesignError> {
    let Plan {
        shell: s,
        known: known_bins,
        defect,
        defects: plans,
        plane,
        bone,
    } = plan(defective, prior, o)?;
    // The complete skull seen from the defective skull's centre, on the same map.
    let reference = match reference {
        Some((m, what)) => Some((s.seen_from_here(m)?, what)),
        None => None,
    };
    let mut filled = fill_plans(&s, &known_bins, &plans, prior, reference.as_ref(), o);
    if let Some(c) = corrector {
        c.correct(&s, &known_bins, &plans, &mut filled);
    }
    let Filled {
        r_in,
        r_out,
        region,
        mut templates,
        reports,
    } = filled;
    let n = s.map.n;
    templates.sort();
    templates.dedup();
    let defect_bins = defect.iter().filter(|&&d| d).count();
    let mean_thickness_mm = (0..n * n)
        .filter(|&b| defect[b])
        .map(|b| r_out[b] - r_in[b])
        .sum::<f64>()
        / defect_bins as f64;
    let below_edge = plane.filter(|_| reference.is_none());
    let implant = voxels::implant_voxels(
        defective,
        &s,
        &bone,
        &defect,
        &known_bins,
        &region,
        [&r_in, &r_out],
        below_edge,
        o,
    );
    let implant = finish::finish(&implant, defective, o, reference.is_none())?;
    Ok(Design {
        implant,
        centre: s.centre,
        defect_bins,
        mean_thickness_mm,
        templates,
        defects: reports,
        network: corrector.is_some(),
        reshaped: false,
        reshape_notes: Vec::new(),
        seconds: Seconds::default(),
    })
}
