//! # ctplan-metrics
//!
//! Segmentation metrics exactly as the MICCAI AutoImplant challenge defines them
//! ([`autoimplant`]), plus the statistics the challenge reports: per-metric summaries
//! ([`stats`]), ranking of submissions and Welch's two-sided t-test ([`ranking`]).
//!
//! The modules follow an evaluation run: [`batch`] pairs the files of a case by name across
//! folders and measures every case in parallel ([`autoimplant`]); [`report`] summarizes the
//! cases and renders the report (text tables of [`table`], CSV, JSON by serde); [`ranking`]
//! ranks several submissions on the same cases. A front end parses its arguments, calls these
//! and prints, so every front end reports the same numbers.
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
//!
//! ```
//! use ctplan_core::{Geometry, Mask};
//! use ctplan_metrics::{EvalOptions, evaluate, report::{CaseResult, Report}};
//! let g = Geometry::new([1.0; 3], [0.0; 3]);
//! let mut truth = Mask::zeros([4, 4, 4], g);
//! truth.data[21] = 1;
//! truth.data[22] = 1;
//! let mut pred = truth.clone();
//! pred.data[22] = 0;
//! let defective = Mask::zeros([4, 4, 4], g);
//! let m = evaluate(&pred, &truth, &defective, &EvalOptions::default()).unwrap();
//! assert!((m.dsc - 2.0 / 3.0).abs() < 1e-12);
//! assert_eq!(m.hd, Some(1.0));
//! let report = Report::new(vec![CaseResult { case: "001".into(), metrics: m }], &EvalOptions::default());
//! assert_eq!(report.summary.n_failed, 0);
//! ```

#![deny(missing_docs)]

pub mod autoimplant;
pub mod batch;
pub mod ranking;
pub mod report;
pub mod stats;
pub mod table;

pub use autoimplant::{BandUnits, CaseMetrics, CaseStatus, EvalOptions, evaluate};
