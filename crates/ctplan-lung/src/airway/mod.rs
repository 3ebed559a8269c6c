//! The airway tree: its centreline ([`thin`]), its branch graph ([`tree`]) and the anatomical
//! names of its branches ([`names`]), with the typed ids that the later stages use.
//!
//! A branch is a position in [`tree::Tree::branches`] ([`BranchId`]); a segment a position in
//! [`names::SEGMENTS`] ([`SegmentId`]); a lobe a position in [`names::LOBES`] ([`LobeId`]). The
//! territory map stores a branch as its *label* (`0` = no branch), and the label map of the case
//! folder a segment as its label (`1`–`18`): the conversions live here, once.

use serde::Serialize;

pub mod names;
pub mod thin;
pub mod tree;

use names::{LOBES, SEGMENTS, SegmentDef, Side};

/// A branch of the airway tree: its index in [`tree::Tree::branches`] (depth-first order from
/// the root, as the report numbers branches).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct BranchId(pub usize);

impl BranchId {
    /// The branch's value in a territory map (`branch + 1`; `0` means no branch).
    pub fn label(self) -> u32 {
        self.0 as u32 + 1
    }

    /// The branch a territory map value stands for (`None` for `0`).
    pub fn from_label(label: u32) -> Option<BranchId> {
        label.checked_sub(1).map(|b| BranchId(b as usize))
    }
}

impl std::fmt::Display for BranchId {
    /// The branch number, as the report numbers branches.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A lung segment: its index in [`SEGMENTS`] (right RS1–RS10, then left LS1+2–LS10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SegmentId(pub usize);

impl SegmentId {
    /// Every segment, in [`SEGMENTS`] order.
    pub fn all() -> impl Iterator<Item = SegmentId> {
        (0..SEGMENTS.len()).map(SegmentId)
    }

    /// The segment's definition (names, lobe, side, template, 19-count units).
    pub fn def(self) -> &'static SegmentDef {
        &SEGMENTS[self.0]
    }

    /// The segment's value in the case folder's label map (`1`–`18`).
    pub fn label(self) -> u8 {
        self.0 as u8 + 1
    }

    /// The lobe the segment belongs to.
    pub fn lobe(self) -> LobeId {
        LobeId(
            LOBES
                .iter()
                .position(|l| l.0 == self.def().lobe)
                .expect("every segment's lobe is in LOBES"),
        )
    }
}

/// A lobe: its index in [`LOBES`] (RUL, RML, RLL, LUL, LLL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LobeId(pub usize);

impl LobeId {
    /// Every lobe, in [`LOBES`] order.
    pub fn all() -> impl Iterator<Item = LobeId> {
        (0..LOBES.len()).map(LobeId)
    }

    /// The lobe's name (RUL, RML, RLL, LUL, LLL).
    pub fn name(self) -> &'static str {
        LOBES[self.0].0
    }

    /// The lobe's side.
    pub fn side(self) -> Side {
        LOBES[self.0].1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip_and_zero_is_no_branch() {
        assert_eq!(BranchId(0).label(), 1);
        assert_eq!(BranchId::from_label(0), None);
        assert_eq!(
            BranchId::from_label(BranchId(41).label()),
            Some(BranchId(41))
        );
        assert_eq!(SegmentId(0).label(), 1);
        assert_eq!(SegmentId(17).label(), 18);
    }

    #[test]
    fn segments_know_their_lobe() {
        let rs5 = names::segment_index("RS5").unwrap();
        assert_eq!(rs5.lobe().name(), "RML");
        let ls12 = names::segment_index("LB1+2").unwrap();
        assert_eq!(ls12.lobe().name(), "LUL");
        assert_eq!(ls12.lobe().side(), Side::Left);
        assert_eq!(SegmentId::all().count(), 18);
        assert_eq!(LobeId::all().count(), 5);
    }
}
