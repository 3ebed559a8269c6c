//! # ctplan-cranio
//!
//! Cranioplasty planning on skull masks, the MICCAI AutoImplant workflow:
//! - [`skull`]: the skull from CT (HU threshold, cleaning, cavity filling);
//! - [`defects`]: artificial, reproducible defects for training pairs;
//! - [`phantom`]: a synthetic skull for the demo and tests.

pub mod defects;
pub mod implant;
pub mod phantom;
pub mod rng;
pub mod skull;
