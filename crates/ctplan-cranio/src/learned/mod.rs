//! The learned stages of the design, behind the traits that [`crate::design`] owns: the map
//! network's correction of the fill ([`ShapeNet`], [`map_net`] and [`correction`]) and the
//! 3-D network's reshape of the implant ([`ImplantNet`], [`voxel_net`] and [`reshape`]).
//!
//! Both learn a residual over the classical design rather than the implant itself: the map
//! network how far the complete skull lies from the shape model's fill, the 3-D network where
//! the implant's voxels lie around the map's design. That keeps them small enough to train from
//! the 56 skulls of SkullFix's training set, and a design they cannot help keeps its classical
//! answer (a correction past [`crate::design::MAX_CORRECTION_MM`], a reshape that finds too
//! little). [`Designer::shipped`] is the design `ctplan implant` runs.

pub mod correction;
pub mod map_net;
pub mod reshape;
pub mod voxel_net;

use ctplan_core::Mask;

use crate::design::fill::Filled;
use crate::design::plan::DefectPlan;
use crate::design::{Design, DesignOptions, Designer, FillCorrector, Refiner};
use crate::shape::ShapePrior;
use crate::vault::shell::Shell;
pub use correction::learning_sample;
pub use map_net::ShapeNet;
pub use voxel_net::ImplantNet;

impl FillCorrector for ShapeNet {
    fn correct(&self, shell: &Shell, known: &[bool], plans: &[DefectPlan], filled: &mut Filled) {
        correction::correct(self, shell, known, plans, filled);
    }
}

impl Refiner for ImplantNet {
    fn reshape(&self, design: &mut Design, defective: &Mask) -> (bool, Vec<String>) {
        reshape::reshape(self, design, defective)
    }
}

impl<'a> Designer<'a> {
    /// The shipped design: the shipped shape prior, the map network's correction of its fill
    /// and the 3-D network's reshape, with the default options (`ctplan implant`).
    pub fn shipped() -> Designer<'static> {
        Designer::new(Some(ShapePrior::shipped()), DesignOptions::default())
            .with_net(ShapeNet::shipped())
            .with_voxel_net(ImplantNet::shipped())
    }

    /// This design with the map network's correction of the fill (used only with a shape
    /// prior: it corrects the shape model's trend; [`correction`]).
    pub fn with_net(self, net: &'a ShapeNet) -> Designer<'a> {
        Designer {
            corrector: Some(net),
            ..self
        }
    }

    /// This design with the 3-D network's reshape of the finished implant where the design
    /// reports a concern or lies on the forehead ([`reshape`]).
    pub fn with_voxel_net(self, net: &'a ImplantNet) -> Designer<'a> {
        Designer {
            refiner: Some(net),
            ..self
        }
    }
}
