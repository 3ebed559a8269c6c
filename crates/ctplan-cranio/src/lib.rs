//! # ctplan-cranio
//!
//! Cranioplasty planning on skull masks, the MICCAI AutoImplant workflow:
//! - [`skull`]: the skull from CT (HU threshold, cleaning, cavity filling);
//! - [`defects`]: artificial, reproducible defects for training pairs;
//! - [`implant`]: the implant for a defective skull (vault completion across the defect);
//! - [`prior`]: the shape prior of complete skulls that guides the completion;
//! - [`symmetry`]: the skull's mid-sagittal plane, whose mirror image of the intact side
//!   guides the completion of a one-sided defect;
//! - [`shapenet`]: the learned correction of the implant's fill (a shipped network);
//! - [`phantom`]: a synthetic skull for the demo and tests.

pub mod defects;
pub mod implant;
pub mod implant3d;
pub mod phantom;
pub mod prior;
pub mod rng;
pub mod shapenet;
pub mod skull;
pub mod symmetry;
