//! # ctplan-lung
//!
//! Segmentectomy planning on a patient's chest anatomy (masks on one grid), segmented by
//! another tool or by [`segment`] from the CT itself. The modules are the stages of the
//! pipeline, in order:
//! - [`segment`]: the model from the CT — body, lungs (right and left), airway tree grown from
//!   an automatically found trachea with leak control;
//! - [`model`]: the patient model — [`model::anatomy`] reads the masks (ctplan, TotalSegmentator,
//!   3D Slicer or Med-MPD layouts), [`model::analyse`] builds the airway tree with its names, the
//!   lung sides, the segments, the nodules and the vessel centrelines;
//! - [`airway`]: [`airway::thin`] (3-D curve thinning, Lee, Kashyap & Chu 1994, voxel-exact with
//!   scikit-image), [`airway::tree`] (branch graph: root, generations, lengths, diameters, loops,
//!   spurs), [`airway::names`] (Boyden names by direction templates), and
//!   [`airway::segments`], the nomenclature (18 segments, 5 lobes) with the typed ids
//!   [`airway::BranchId`], [`airway::SegmentId`], [`airway::LobeId`];
//! - [`territory`]: right/left lung split and geodesic bronchial territories (the segments);
//! - [`resection`]: the virtual resection — [`resection::targets`], predicted function
//!   ([`resection::function`], ppoFEV1 by segment counting and by volumetry), the margin and the
//!   segments that would restore it ([`resection::margin`]), vessels crossing the
//!   intersegmental plane ([`resection::crossings`]), the bronchoscopic route
//!   ([`resection::route`]);
//! - [`report`]: [`report::plan_case`], the one call that plans a case on an analysed model;
//! - [`case`]: the case folder's files as volumes and bytes ([`case::labels`],
//!   [`case::scene`], [`case::pictures`], [`case::markdown`]);
//! - [`phantom`]: a chest CT rendered from label masks (Med-MPD's or the procedural
//!   [`phantom::synthetic`] anatomy), its truth the masks; [`evaluate`]: the metrics that
//!   measure the model from the CT against that truth (DSC, ATM'22 tree length, leak, vessel
//!   centreline recall, lobe border distance).
//!
//! Errors are one [`LungError`] ([`error`]); output precision is [`round`].
//!
//! Design decisions:
//! - The analysis (thinning, tree, territories: seconds) is separate from the plan (counts and a
//!   table per nodule: milliseconds), so that a front end re-plans a resection on one [`Model`]
//!   without re-analysing.
//! - Values keep full precision; they are rounded only when written ([`round`]), the same way
//!   in `report.json`, `report.md`, the pictures and the terminal summary.
//! - Nothing here reads the environment, prints or writes files: what the analysis notices goes
//!   into the report's warnings, and the caller writes the case folder (atomically).
//!
//! ```
//! use ctplan_core::vec3::{dist, dot, scale, sub};
//! use ctplan_core::{Geometry, Mask, grid};
//! use ctplan_lung::model::{analyse, anatomy::Anatomy};
//! use ctplan_lung::report::{Request, plan_case};
//!
//! // An airway alone: a trachea dividing into two main bronchi (tubes of radius 2.5 mm).
//! let dims = [40, 12, 50];
//! let mut airway = Mask::zeros(dims, Geometry::new([1.0; 3], [0.0; 3]));
//! let top = [20.0, 6.0, 47.0];
//! let carina = [20.0, 6.0, 25.0];
//! let tubes = [(top, carina), (carina, [6.0, 6.0, 4.0]), (carina, [34.0, 6.0, 4.0])];
//! for v in 0..airway.data.len() {
//!     let p = grid::coords(dims, v).map(|x| x as f64);
//!     let near = tubes.iter().any(|&(a, b)| {
//!         let t = (dot(sub(p, a), sub(b, a)) / dot(sub(b, a), sub(b, a))).clamp(0.0, 1.0);
//!         dist(p, [0, 1, 2].map(|d| a[d] + scale(sub(b, a), t)[d])) <= 2.5
//!     });
//!     airway.data[v] = u8::from(near);
//! }
//! let anatomy = Anatomy {
//!     airway,
//!     lungs: None,
//!     vessels: None,
//!     arteries: None,
//!     veins: None,
//!     nodules: None,
//!     fissures: None,
//!     sources: vec![],
//!     warnings: vec![],
//! };
//! let model = analyse(anatomy, &[]).unwrap();
//! let report = plan_case(&model, &Request::default()).unwrap();
//! let names: Vec<_> = report.bronchi.iter().filter_map(|b| b.name.as_deref()).collect();
//! // The main bronchus on the patient's right (−x in LPS) is RMB.
//! assert_eq!(names, ["Trachea", "RMB", "LMB"]);
//! assert!(report.warnings.iter().any(|w| w.contains("no lung mask")));
//! assert!(report.to_json().unwrap().contains("\"Trachea\""));
//! ```

#![deny(missing_docs)]

pub mod airway;
pub mod case;
pub mod error;
pub mod evaluate;
pub mod model;
pub mod phantom;
pub mod report;
pub mod resection;
pub mod round;
pub mod segment;
pub mod territory;

pub use error::LungError;
pub use model::{Model, analyse};
pub use report::{Report, Request, plan_case};
