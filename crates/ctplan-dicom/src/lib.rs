//! # ctplan-dicom
//!
//! DICOM in ctplan: what hospitals hand over.
//!
//! - [`scan`]: walk a folder (nested, any file names, zip archives, with or without DICOMDIR),
//!   recognise DICOM files by content, group them by StudyInstanceUID / SeriesInstanceUID, and
//!   describe each series (modality, description, size, spacing, kernel, gaps, duplicates, tilt).
//! - [`load`] / [`read_series`]: one series as a volume with its full geometry — slices ordered
//!   along the slice normal ([`layout`]), HU from RescaleSlope/Intercept, gantry tilt kept as an
//!   oblique direction matrix (or resampled on request), enhanced multi-frame CT read from its
//!   functional groups, compressed transfer syntaxes decoded in pure Rust (dicom-pixeldata).
//! - [`deid`]: de-identification by the PS3.15 Annex E Basic Application Level
//!   Confidentiality Profile, with consistent keyed UID remapping.
//!
//! The modules are the stages of reading: [`find`] the files (`files`), read their headers
//! (`header`), group and choose a series (`series`), plan its grid ([`layout`]), decode its
//! pixels (`decode`). Every error names the file (or `archive.zip!entry`) and the problem, and
//! says its [`DicomErrorKind`]; a series over the memory limit every reader shares
//! ([`ctplan_core::MAX_BYTES`]) is refused before its pixels are read.
//!
//! ```
//! use std::path::Path;
//! // `PATH#SERIES` chooses one series of several.
//! let (path, series) = ctplan_dicom::split_selector(Path::new("/no/such/study#3"));
//! assert_eq!((path.to_str(), series.as_deref()), (Some("/no/such/study"), Some("3")));
//! // A folder without DICOM files scans to no series, and choosing one says why.
//! let dir = tempfile::tempdir().unwrap();
//! let scan = ctplan_dicom::scan(dir.path()).unwrap();
//! assert!(scan.series.is_empty());
//! let err = scan.select(None).unwrap_err();
//! assert!(err.to_string().ends_with("no DICOM files found"));
//! ```

#![deny(missing_docs)]

mod codec;
mod decode;
pub mod deid;
mod error;
mod files;
mod guard;
mod header;
pub mod layout;
mod profile_table;
mod series;

/// The unit tests run with the allocator of the `ctplan` binary, so that the bound the parser
/// runs under (`ctplan_core::alloc`) is in force in them too.
#[cfg(test)]
#[global_allocator]
static ALLOC: ctplan_core::alloc::Capped = ctplan_core::alloc::Capped;

pub use decode::{LoadOptions, Loaded, load, read_series};
pub use error::{DicomError, DicomErrorKind};
pub use files::{Origin, Skipped, find, find_memory, is_dicom_file, is_zip};
pub use header::{Frame, Instance};
pub use layout::Layout;
pub use series::{Scan, Series, scan, scan_memory, split_selector};
