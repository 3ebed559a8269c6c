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
//! Every error names the file (or `archive.zip!entry`) and the problem.

pub mod deid;
mod error;
mod files;
mod header;
pub mod layout;
mod profile_table;
mod series;

pub use error::DicomError;
pub use files::{Origin, Skipped, find, is_dicom_file, is_zip};
pub use header::{Frame, Instance};
pub use layout::Layout;
pub use series::{LoadOptions, Loaded, Scan, Series, load, read_series, scan, split_selector};
