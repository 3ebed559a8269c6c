//! The airway tree: its centreline ([`thin`]), its branch graph ([`tree`]) and the anatomical
//! names of its branches ([`names`]), with the typed ids that the later stages use.
//!
//! A branch is a position in [`tree::Tree::branches`] ([`BranchId`]); a segment a position in
//! [`names::SEGMENTS`] ([`SegmentId`]); a lobe a position in [`names::LOBES`] ([`LobeId`]). The
//! territory map stores a branch as its *label* (`0` = no branch), and the label map of the case
//! folder a segment as its label (`1`–`18`): the conversions live here, once.

pub mod names;
pub mod segments;
pub mod thin;
pub mod tree;

pub use segments::{BranchId, LobeId, SegmentId};
