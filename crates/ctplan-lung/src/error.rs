//! The crate's error: what can go wrong reading an anatomy or planning on it.

use std::path::PathBuf;

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
    /// The CT does not show what the model needs (a body, a trachea, lungs).
    #[error("{0}")]
    Segment(String),
    /// A lesion could not be grown from the point given (off the CT, outside the lungs, in
    /// air).
    #[error("{0}")]
    Lesion(String),
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
