//! # ctplan-core
//!
//! The imaging core of ctplan: a [`Volume`] is a 3-D voxel array together with its full
//! geometry ([`Geometry`]: spacing, origin and a 3×3 direction matrix, oblique allowed), so that
//! every voxel has one place in patient space (LPS millimetres, the DICOM convention).
//!
//! The algorithms here are pure functions over volumes, each in its own module:
//! - [`edt`]: exact Euclidean distance transform with anisotropic spacing
//!   (Felzenszwalb & Huttenlocher 2012), parallel over lines.
//! - [`label`]: connected components with 6/18/26 connectivity, largest component.
//! - [`morphology`]: binary erosion/dilation/opening/closing with balls in millimetres (exact, via
//!   the EDT), the 6-neighbour erosion and surface used by the segmentation metrics.
//! - [`crop`]: bounding boxes, cropping with a margin and pasting back.
//! - [`resample`]: resampling onto another grid (nearest neighbour, trilinear) in world coordinates.
//! - [`hessian`]: Gaussian scale space over a region and the Hessian's eigen-decomposition, for
//!   the tube (vessel) and plate (fissure) measures.
//!
//! - [`vec3`], [`grid`], [`linalg`]: the small vector, voxel-index and dense-solver helpers,
//!   defined once for every crate so that the arithmetic (and so every output) is the same
//!   wherever it is used.
//!
//! Nothing here reads or writes files (that is `ctplan-io`), and nothing knows about skulls or
//! lungs; the one memory limit every reader shares, [`MAX_BYTES`], lives here because both
//! `ctplan-io` and `ctplan-dicom` (which `ctplan-io` depends on) must see it, and so does
//! [`alloc`], the bound on single allocations while a parser reads untrusted lengths.
//!
//! ```
//! use ctplan_core::{Geometry, Mask, edt::distance_to};
//! // A 5×1×1 row of 2 mm voxels with one foreground voxel in the middle.
//! let g = Geometry::new([2.0, 1.0, 1.0], [0.0; 3]);
//! let mut m = Mask::zeros([5, 1, 1], g);
//! m.data[2] = 1;
//! assert_eq!(m.world_of(2), [4.0, 0.0, 0.0]);
//! // Distances are in millimetres, along the anisotropic spacing.
//! assert_eq!(distance_to(&m).data, vec![4.0, 2.0, 0.0, 2.0, 4.0]);
//! ```

#![deny(missing_docs)]

pub mod alloc;
pub mod crop;
pub mod edt;
pub mod filetype;
pub mod geometry;
pub mod grid;
pub mod hessian;
pub mod label;
pub mod linalg;
pub mod morphology;
pub mod par;
pub mod resample;
pub mod scalar;
pub mod vec3;
pub mod volume;

pub use geometry::Geometry;
pub use scalar::{Scalar, ScalarType};
pub use volume::{AnyVolume, Mask, Volume};

/// The largest voxel block any reader will allocate (32 GiB): the one memory limit of every
/// volume reader (`ctplan-io`'s formats and `ctplan-dicom`'s series). A header or series that
/// claims more is refused before anything is allocated, so a damaged or hostile file cannot
/// exhaust memory.
pub const MAX_BYTES: u64 = 1 << 35;

/// Errors of the core algorithms (shape mismatches and invalid parameters).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CoreError {
    #[error("volume grids differ: {0}")]
    /// Two volumes that must share a grid (dims and geometry) do not; the text says how.
    GridMismatch(String),
    #[error("invalid parameter: {0}")]
    /// A parameter outside its valid range (e.g. a negative radius); the text names it.
    InvalidParameter(String),
}
