//! # ctplan-lung
//!
//! Segmentectomy planning on a patient's segmented chest anatomy (masks on one grid). The
//! modules are the stages of the pipeline, in order:
//! - [`model`]: the patient model — [`model::anatomy`] reads the masks (ctplan, TotalSegmentator,
//!   3D Slicer or Med-MPD layouts), [`model::analyse`] builds the airway tree with its names, the
//!   lung sides, the segments, the nodules and the vessel centrelines;
//! - [`airway`]: [`airway::thin`] (3-D curve thinning, Lee, Kashyap & Chu 1994, voxel-exact with
//!   scikit-image), [`airway::tree`] (branch graph: root, generations, lengths, diameters, loops,
//!   spurs), [`airway::names`] (Boyden names by direction templates), with the typed ids
//!   [`airway::BranchId`], [`airway::SegmentId`], [`airway::LobeId`];
//! - [`territory`]: right/left lung split and geodesic bronchial territories (the segments);
//! - [`resection`]: the virtual resection — [`resection::targets`], predicted function
//!   ([`resection::function`], ppoFEV1 by segment counting and by volumetry), the margin and the
//!   segments that would restore it ([`resection::margin`]), vessels crossing the
//!   intersegmental plane ([`resection::crossings`]), the bronchoscopic route
//!   ([`resection::route`]);
//! - [`report`]: [`report::plan_case`], the one call that plans a case on an analysed model;
//! - [`case`]: the case folder's files as volumes and bytes (label map, glTF scene, pictures,
//!   Markdown).
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

use std::path::PathBuf;

pub mod airway;
pub mod case;
pub mod model;
pub mod report;
pub mod resection;
pub mod round;
pub mod territory;

pub use model::{Model, analyse};
pub use report::{Report, Request, plan_case};

/// What can go wrong reading an anatomy or planning on it.
#[derive(Debug, thiserror::Error)]
pub enum LungError {
    /// A mask file could not be read.
    #[error(transparent)]
    Io(#[from] ctplan_io::IoError),
    /// The anatomy folder could not be listed.
    #[error("{}: cannot list the folder", path.display())]
    ListFolder {
        /// The folder.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A mask on another grid could not be resampled onto the case grid.
    #[error("{mask}: cannot be put on the case grid")]
    Resample {
        /// The mask's source (file, or file#segment).
        mask: String,
        /// Why.
        #[source]
        source: ctplan_core::CoreError,
    },
    /// The masks do not make an anatomy (none found, no airway, empty, grids apart).
    #[error("{0}")]
    Anatomy(String),
    /// Thinning the airway left nothing.
    #[error("the airway mask has no centreline")]
    NoCentreline,
    /// A user's renaming names no branch or no bronchus.
    #[error("{0}")]
    Rename(String),
    /// The lung mask could not be split into right and left lungs.
    #[error("{0}")]
    LungSplit(String),
    /// A resection target names nothing in the tree.
    #[error("{0}")]
    Target(String),
    /// A resection was asked for without a lung mask.
    #[error("no lung mask: a resection needs the lungs")]
    NoLungs,
    /// The report could not be serialized.
    #[error("cannot write the report as JSON")]
    Json(#[from] serde_json::Error),
}
