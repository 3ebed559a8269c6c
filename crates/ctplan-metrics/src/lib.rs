//! # ctplan-metrics
//!
//! Segmentation metrics exactly as the MICCAI AutoImplant challenge defines them
//! ([`autoimplant`]), plus the statistics the challenge reports: per-metric summaries
//! ([`stats`]), ranking of submissions and Welch's two-sided t-test ([`ranking`]).
//!
//! Definitions (Li et al., "AutoImplant 2020 – First MICCAI Challenge on Automatic Cranial
//! Implant Design", IEEE TMI 40(9), 2021, and the challenge's evaluation code, which follows
//! MedPy's `medpy.metric.binary`):
//! - DSC = 2|A∩B| / (|A| + |B|), 0 when both are empty; foreground is any non-zero voxel.
//! - surface(X) = X xor erode(X, 6-neighbour cross), voxels on the array border being surface.
//! - d(A→B) = Euclidean distance (voxel spacing in mm) from each surface voxel of A to the
//!   nearest surface voxel of B.
//! - HD = max of both directed maxima; HD95 = the 95th percentile (linear interpolation, as
//!   `numpy.percentile`) of both directions' distances pooled together; ASSD = the mean of the
//!   two directed mean distances (MedPy's `assd`).
//! - Border DSC (bDSC) = DSC after removing from both implants the voxels farther than 10 mm
//!   from the defective skull.

#![deny(missing_docs)]

pub mod autoimplant;
pub mod ranking;
pub mod stats;

pub use autoimplant::{BandUnits, CaseMetrics, CaseStatus, EvalOptions, evaluate};
