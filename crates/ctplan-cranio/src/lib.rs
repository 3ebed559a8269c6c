//! # ctplan-cranio
//!
//! Cranioplasty planning on skull masks, the MICCAI AutoImplant workflow:
//! - [`skull`]: the skull from CT (HU threshold, cleaning, cavity filling), and the defective
//!   skull of an input that is a mask or a CT ([`skull::of_volume`]);
//! - [`defects`]: artificial, reproducible defects for training pairs;
//! - [`design`]: the implant for a defective skull, as the stages of docs/cranio.md's method
//!   (detect → plan → fill → voxels → finish); [`Designer`] runs them all;
//! - [`vault`]: the vault seen from its centre, as inner and outer radius fields on a map of
//!   directions, where a defect is an enclosed region of bins without bone;
//! - [`shape`]: the shape prior of complete skulls (storage, build, and the shape model fitted
//!   across a defect);
//! - [`learned`]: the learned correction of the fill and the 3-D reshape of the implant, which
//!   plug into the design through traits it owns; [`nn`]: what their networks share;
//! - [`symmetry`]: the skull's mid-sagittal plane, whose mirror image of the intact side
//!   guides the completion of a one-sided defect;
//! - [`phantom`]: a synthetic skull for the demo and tests.
//!
//! Design decisions: the design works on a two-dimensional map of the vault (two radii per
//! direction) rather than on voxels, so that a defect is a region of a map and its filling is
//! surface interpolation guided by a statistical shape model, fast on a CPU and explainable
//! per defect ([`DefectReport`]); networks correct that classical answer instead of replacing
//! it, and each may be left out. The modules depend one way: `design` on `vault` and `shape`,
//! `learned` on `design` and `nn`; nothing depends on `learned` but the shipped [`Designer`].
//! Every design is deterministic: the same mask gives the same implant, byte for byte.
//!
//! ```
//! use ctplan_cranio::Designer;
//! use ctplan_cranio::phantom::{PhantomSpec, skull};
//!
//! // A synthetic skull with a vault defect, and the implant the shipped design makes for it
//! // (a few seconds: the prior's shape model and the map network run; the phantom's grid is
//! // not one the 3-D network learned, so it leaves the implant as it is).
//! let p = skull(&PhantomSpec::default());
//! let design = Designer::shipped().design(&p.defective).unwrap();
//! assert!(design.implant.nonzero_ml() > 10.0);
//! assert!((design.implant.data.iter().zip(&p.defective.data)).all(|(i, s)| i & s == 0));
//! // Its report (`ctplan implant --json`): every defect found, how well the bone around it
//! // constrains the fill, and whether the networks shaped it.
//! let report = serde_json::to_value(&design).unwrap();
//! assert_eq!(report["defects"].as_array().unwrap().len(), design.defects.len());
//! assert_eq!(report["network"], true);
//! ```

#![deny(missing_docs)]

pub mod defects;
pub mod design;
mod error;
pub mod learned;
pub mod nn;
pub mod phantom;
pub mod rng;
pub mod shape;
pub mod skull;
pub mod symmetry;
pub mod vault;

pub use design::{DefectReport, Design, DesignError, DesignOptions, Designer};
pub use shape::ShapePrior;
