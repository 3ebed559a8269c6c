//! Why no implant was designed: the one error of the design, its map and its prior.

/// Why no implant was designed.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DesignError {
    /// The mask holds no voxel.
    #[error("the mask is empty")]
    Empty,
    /// No enclosed region without bone in the vault.
    #[error("no defect found in the cranial vault (no enclosed region without bone)")]
    NoDefect,
    /// The gaps found would take less implant (mL, first) than the smallest (mL, second).
    #[error(
        "no defect found in the cranial vault: the gaps found would take {0:.2} mL of implant, \
         less than the {1} mL of a cranial defect (gaps by the orbits or the skull base)"
    )]
    OnlySmallGaps(f64, f64),
    /// The mask is not a cranial vault (why).
    #[error("not a skull: {0}")]
    NotASkull(String),
    /// A reference skull is not on the defective skull's grid (why).
    #[error("the complete skull is not on the defective skull's grid: {0}")]
    GridMismatch(String),
}
