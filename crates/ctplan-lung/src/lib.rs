//! # ctplan-lung
//!
//! Segmentectomy planning on a patient's segmented chest anatomy (masks on one grid):
//! - [`thin`]: 3-D curve thinning (Lee, Kashyap & Chu 1994);
//! - [`tree`]: branch graph of the airway (or vessel) skeleton: root, generations, lengths,
//!   diameters, loops, spur pruning;
pub mod names;
pub mod territory;
pub mod thin;
pub mod tree;
