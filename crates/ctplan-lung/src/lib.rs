//! # ctplan-lung
//!
//! Segmentectomy planning on a patient's segmented chest anatomy (masks on one grid), in
//! pipeline order:
//! - [`anatomy`]: the masks from ctplan, TotalSegmentator, 3D Slicer or Med-MPD layouts;
//! - [`thin`]: 3-D curve thinning (Lee, Kashyap & Chu 1994), voxel-exact with scikit-image;
//! - [`tree`]: branch graph of a skeleton: root, generations, lengths, diameters, loops, spurs;
//! - [`names`]: Boyden names of lobar and segmental bronchi by direction templates;
//! - [`territory`]: right/left lung split and geodesic bronchial territories (segments);
//! - [`plan`]: the patient model, virtual resection, predicted FEV1, margins, vessels crossing
//!   the planes, bronchoscopic route;
//! - [`case`]: the case folder's label map, glTF scene and Markdown summary;
//! - [`pictures`]: the case's pictures (named airway tree, segments, resection), drawn on the CPU.

pub mod anatomy;
pub mod case;
pub mod names;
pub mod pictures;
pub mod plan;
pub mod territory;
pub mod thin;
pub mod tree;
