//! # ctplan-cranio
//!
//! Cranioplasty planning on skull masks: the AutoImplant workflow. For now it holds the
//! synthetic skull [`phantom`] that the demo and tests use when no real data is at hand.

pub mod phantom;
