//! The nomenclature the later stages speak: Boyden's 18 lung segments and 5 lobes with their
//! segmental and lobar bronchi ([`SEGMENTS`], [`LOBES`]), and the typed ids of branches,
//! segments and lobes.

use serde::Serialize;

/// Patient side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The patient's right (−x in LPS).
    Right,
    /// The patient's left (+x in LPS).
    Left,
}

/// A lung segment and its segmental bronchus.
#[derive(Debug, Clone, Copy)]
pub struct SegmentDef {
    /// Bronchus name (Boyden): RB1 … RB10, LB1+2 … LB10.
    pub bronchus: &'static str,
    /// Segment name: RS1 …, LS1+2 ….
    pub segment: &'static str,
    /// The lobe's name (RUL, RML, RLL, LUL, LLL).
    pub lobe: &'static str,
    /// The lung the segment lies in.
    pub side: Side,
    /// Template direction in LPS (x left, y posterior, z superior), not normalised.
    pub dir: [f64; 3],
    /// Units of the 19-segment count used for predicted post-operative function (LS1+2 counts 2).
    pub count: u32,
}

const fn seg(
    bronchus: &'static str,
    segment: &'static str,
    lobe: &'static str,
    side: Side,
    dir: [f64; 3],
    count: u32,
) -> SegmentDef {
    SegmentDef {
        bronchus,
        segment,
        lobe,
        side,
        dir,
        count,
    }
}

/// The 18 segments, right then left; their index + 1 is their label value.
pub const SEGMENTS: [SegmentDef; 18] = [
    seg("RB1", "RS1", "RUL", Side::Right, [-0.1, 0.0, 1.0], 1),
    seg("RB2", "RS2", "RUL", Side::Right, [-0.5, 0.7, 0.4], 1),
    seg("RB3", "RS3", "RUL", Side::Right, [-0.4, -0.9, 0.0], 1),
    seg("RB4", "RS4", "RML", Side::Right, [-0.8, -0.4, -0.3], 1),
    seg("RB5", "RS5", "RML", Side::Right, [-0.1, -0.8, -0.5], 1),
    seg("RB6", "RS6", "RLL", Side::Right, [-0.1, 0.95, 0.2], 1),
    seg("RB7", "RS7", "RLL", Side::Right, [0.25, 0.0, -0.95], 1),
    seg("RB8", "RS8", "RLL", Side::Right, [-0.4, -0.6, -0.7], 1),
    seg("RB9", "RS9", "RLL", Side::Right, [-0.75, 0.2, -0.6], 1),
    seg("RB10", "RS10", "RLL", Side::Right, [-0.2, 0.75, -0.6], 1),
    seg("LB1+2", "LS1+2", "LUL", Side::Left, [0.2, 0.5, 0.85], 2),
    seg("LB3", "LS3", "LUL", Side::Left, [0.4, -0.9, 0.1], 1),
    seg("LB4", "LS4", "LUL", Side::Left, [0.75, -0.5, -0.3], 1),
    seg("LB5", "LS5", "LUL", Side::Left, [0.2, -0.7, -0.65], 1),
    seg("LB6", "LS6", "LLL", Side::Left, [0.1, 0.95, 0.2], 1),
    seg("LB7+8", "LS7+8", "LLL", Side::Left, [0.1, -0.6, -0.8], 1),
    seg("LB9", "LS9", "LLL", Side::Left, [0.7, 0.2, -0.65], 1),
    seg("LB10", "LS10", "LLL", Side::Left, [0.2, 0.75, -0.6], 1),
];

/// Lobes: name, side, template direction from the end of the main bronchus.
pub const LOBES: [(&str, Side, [f64; 3]); 5] = [
    ("RUL", Side::Right, [-0.5, 0.1, 0.85]),
    ("RML", Side::Right, [-0.35, -0.8, -0.5]),
    ("RLL", Side::Right, [-0.15, 0.35, -0.9]),
    ("LUL", Side::Left, [0.45, -0.55, 0.55]),
    ("LLL", Side::Left, [0.15, 0.4, -0.9]),
];

/// The segment of a bronchus or segment name (case-insensitive).
pub fn segment_index(name: &str) -> Option<SegmentId> {
    SEGMENTS
        .iter()
        .position(|s| s.bronchus.eq_ignore_ascii_case(name) || s.segment.eq_ignore_ascii_case(name))
        .map(SegmentId)
}

/// A branch of the airway tree: its index in [`Tree::branches`](super::tree::Tree::branches) (depth-first order from
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
        let rs5 = segment_index("RS5").unwrap();
        assert_eq!(rs5.lobe().name(), "RML");
        let ls12 = segment_index("LB1+2").unwrap();
        assert_eq!(ls12.lobe().name(), "LUL");
        assert_eq!(ls12.lobe().side(), Side::Left);
        assert_eq!(SegmentId::all().count(), 18);
        assert_eq!(LobeId::all().count(), 5);
    }
}
