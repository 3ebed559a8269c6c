//! # ctplan-io
//!
//! Reading and writing volumes with their full geometry. Formats:
//! - NRRD (`.nrrd`, detached `.nhdr`; raw, gzip and ascii encodings; every scalar type;
//!   `space directions`, `space origin`, LPS/RAS/LAS spaces; `kinds`; key/value pairs) and
//!   3D Slicer's `.seg.nrrd` segment metadata ([`seg`]),
//! - NIfTI-1 (`.nii`, `.nii.gz`; sform, else qform, else pixdim — the order nibabel uses),
//! - MetaImage (`.mha` with LOCAL data, `.mhd` with a detached data file; zlib `CompressedData`),
//! - PNG, write only ([`png`]): 8-bit RGB pictures (renders of a case),
//! - DICOM series, read only ([`is_dicom`]): a DICOM file, a zip archive, or a folder of DICOM
//!   files, optionally followed by `#SERIES` (a SeriesInstanceUID, a unique prefix of one, or a
//!   SeriesNumber) to choose among several series; decoded by [`ctplan_dicom`].
//!
//! Batches work on folders of cases ([`cases`]): volume files named by case, paired across
//! folders by that name, and an output folder removed again when no case wrote into it.
//!
//! Every reader converts to one geometry model ([`ctplan_core::Geometry`], LPS millimetres) and
//! keeps the stored scalar type, so read → write → read is bit-exact in data and geometry
//! (NIfTI stores its affine in `f32`, so its geometry is exact at `f32` precision).
//!
//! Readers refuse, before allocating, a header whose claimed size the file cannot hold
//! ([`MAX_BYTES`], and the data file's length or the gzip/zlib expansion bound). Every error
//! names the file. Only regular files are opened: a FIFO, a socket or a device is refused by its
//! type before anything reads it (opening a FIFO would block). Writers are atomic: data goes to a temporary file in the target folder, then
//! is renamed over the target, so a failure never leaves a partial file. Every error is an
//! [`IoError`]: one line naming the file, with its [`std::io::ErrorKind`] and the OS error as
//! its source where there is one.
//!
//! ```
//! use ctplan_core::{AnyVolume, Geometry, Volume};
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("ct.nrrd");
//! let g = Geometry::new([0.5, 0.5, 2.0], [-10.0, 4.0, 30.0]);
//! let v = AnyVolume::I16(Volume::from_vec([2, 1, 1], g, vec![-1000, 400]).unwrap());
//! ctplan_io::write(&path, &v, &ctplan_io::WriteOptions::default()).unwrap();
//! // Read back bit-exact, in the stored scalar type, with the geometry.
//! assert_eq!(ctplan_io::read(&path).unwrap().volume, v);
//! // A missing file names the file and keeps the OS error's kind.
//! let e = ctplan_io::read(&dir.path().join("none.nrrd")).unwrap_err();
//! assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
//! assert!(e.to_string().ends_with("none.nrrd: cannot open: no such file"));
//! ```

#![deny(missing_docs)]

mod atomic;
pub mod cases;
mod error;
mod geom;
mod input;
mod metaimage;
mod nii;
mod nrrd;
pub mod output;
pub mod png;
mod raw;
pub mod seg;

use std::path::Path;

use ctplan_core::{AnyVolume, Mask};

pub use atomic::publish_dir;
pub use ctplan_core::MAX_BYTES;
pub use error::IoError;
pub use input::read_file;

/// Key/value metadata that a file carries besides its voxels and geometry (NRRD `key:=value`
/// pairs, MetaImage extra fields), in file order.
pub type KeyValues = Vec<(String, String)>;

/// A volume as read from a file, with its extra metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// The voxels with their geometry, in the stored scalar type (`f32` when NIfTI scaling applies).
    pub volume: AnyVolume,
    /// The file's extra key/value metadata, in file order.
    pub key_values: KeyValues,
}

/// File formats known by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `.nrrd` (attached) or `.nhdr` (detached header).
    Nrrd {
        /// True for `.nhdr`: the voxels live in a separate data file.
        detached: bool,
    },
    /// `.nii` or `.nii.gz`.
    Nifti {
        /// True for `.nii.gz`: the whole file is gzip-compressed.
        gzip: bool,
    },
    /// `.mha` (attached) or `.mhd` (detached data).
    MetaImage {
        /// True for `.mhd`: the voxels live in a separate data file.
        detached: bool,
    },
}

impl Format {
    /// The format implied by a file name, if known.
    pub fn from_path(path: &Path) -> Option<Format> {
        let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
        if name.ends_with(".nrrd") {
            Some(Format::Nrrd { detached: false })
        } else if name.ends_with(".nhdr") {
            Some(Format::Nrrd { detached: true })
        } else if name.ends_with(".nii.gz") {
            Some(Format::Nifti { gzip: true })
        } else if name.ends_with(".nii") {
            Some(Format::Nifti { gzip: false })
        } else if name.ends_with(".mha") {
            Some(Format::MetaImage { detached: false })
        } else if name.ends_with(".mhd") {
            Some(Format::MetaImage { detached: true })
        } else {
            None
        }
    }
}

/// True if the file name has an extension this crate reads.
pub fn is_volume_file(path: &Path) -> bool {
    Format::from_path(path).is_some()
}

fn format_of(path: &Path) -> Result<Format, IoError> {
    Format::from_path(path).ok_or_else(|| {
        IoError::new(
            path,
            "unknown volume format (expected .nrrd, .nhdr, .nii, .nii.gz, .mha or .mhd)",
        )
    })
}

/// True if `path` names DICOM input rather than a volume file: a file with the DICOM marker, a
/// zip archive, or a folder with no volume files (by extension) but DICOM files somewhere below;
/// `PATH#SERIES` when `PATH` is one of these.
pub fn is_dicom(path: &Path) -> bool {
    let (base, _) = ctplan_dicom::split_selector(path);
    if base.is_file() {
        return Format::from_path(&base).is_none()
            && (ctplan_dicom::is_dicom_file(&base)
                || ctplan_dicom::is_zip(&base)
                || dicom_name(&base));
    }
    if !base.is_dir() {
        // A FIFO, socket or device without a volume extension: the DICOM reader refuses it
        // by its file type (never opening it, which could block).
        return Format::from_path(&base).is_none()
            && std::fs::metadata(&base)
                .is_ok_and(|m| ctplan_core::filetype::special(&m).is_some());
    }
    let Ok(entries) = std::fs::read_dir(&base) else {
        return false;
    };
    let entries: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    if entries.iter().any(|p| is_volume_file(p)) {
        return false;
    }
    ctplan_dicom::find(&base).is_ok_and(|(found, _)| !found.is_empty())
}

/// A name that says DICOM (`.dcm`, `.dicom`, `.zip`): such a file goes to the DICOM reader even
/// when its content is not DICOM (empty, truncated, a corrupt archive), so that the message
/// says what is wrong with it rather than that its format is unknown.
fn dicom_name(path: &Path) -> bool {
    let name = path.to_string_lossy().to_ascii_lowercase();
    [".dcm", ".dicom", ".zip"].iter().any(|e| name.ends_with(e))
}

fn read_dicom(path: &Path) -> Result<Image, IoError> {
    let loaded = ctplan_dicom::read_series(path, ctplan_dicom::LoadOptions::default())
        .map_err(IoError::from_dicom)?;
    Ok(Image {
        volume: loaded.volume,
        key_values: Vec::new(),
    })
}

/// Read a volume in its stored scalar type.
pub fn read(path: &Path) -> Result<Image, IoError> {
    input::check_input(path)?;
    if is_dicom(path) {
        return read_dicom(path);
    }
    let src = open(path)?;
    let volume = src.layout.decode_volume(src.reader, path)?;
    Ok(Image {
        volume,
        key_values: src.key_values,
    })
}

/// Read a volume as a binary mask (non-zero voxels are foreground), streaming: the stored type
/// is converted chunk by chunk, so a 32-bit label file costs one byte per voxel in memory.
pub fn read_mask(path: &Path) -> Result<Mask, IoError> {
    input::check_input(path)?;
    if is_dicom(path) {
        return Ok(read_dicom(path)?.volume.to_mask());
    }
    let src = open(path)?;
    src.layout.decode_mask(src.reader, path)
}

/// Read only the header: sizes, geometry and scalar type (for `ctplan info` and grid checks).
pub fn read_header(path: &Path) -> Result<Header, IoError> {
    input::check_input(path)?;
    if is_dicom(path) {
        let img = read_dicom(path)?;
        return Ok(Header {
            dims: img.volume.dims(),
            geometry: img.volume.geometry(),
            scalar_type: img.volume.scalar_type(),
            key_values: img.key_values,
        });
    }
    let src = open(path)?;
    Ok(Header {
        dims: src.layout.dims,
        geometry: src.layout.geometry,
        scalar_type: src.layout.output_type(),
        key_values: src.key_values,
    })
}

/// What a header says about a volume.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// Voxel counts `[nx, ny, nz]`.
    pub dims: [usize; 3],
    /// Where the grid lies in patient space (LPS mm).
    pub geometry: ctplan_core::Geometry,
    /// The scalar type a full read would return.
    pub scalar_type: ctplan_core::ScalarType,
    /// The file's extra key/value metadata, in file order.
    pub key_values: KeyValues,
}

fn open(path: &Path) -> Result<raw::Source, IoError> {
    if Format::from_path(path).is_none() {
        return Err(input::unreadable(path));
    }
    open_input(&input::Input::Disk(path.to_path_buf()))
}

/// Open an input whose name has a known volume extension.
fn open_input(input: &input::Input) -> Result<raw::Source, IoError> {
    match format_of(input.path())? {
        Format::Nrrd { .. } => nrrd::open(input),
        Format::Nifti { .. } => nii::open(input),
        Format::MetaImage { .. } => metaimage::open(input),
    }
}

/// Read a volume from a whole file already in memory, `name` giving its format by extension
/// (`.nrrd`, `.nii`, `.nii.gz`, `.mha`) and naming it in errors: for bytes that must not be
/// written anywhere before they are decoded (an upload). The same readers and checks as
/// [`read`]; a header naming a separate data file (`.nhdr`, `.mhd`) is refused, and so is
/// DICOM (`ctplan_dicom::scan_memory` reads DICOM objects from memory).
///
/// ```
/// use ctplan_core::{AnyVolume, Geometry, Volume};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("ct.nrrd");
/// let v = AnyVolume::I16(Volume::from_vec([2, 1, 1], Geometry::new([1.0; 3], [0.0; 3]), vec![-1000, 40]).unwrap());
/// ctplan_io::write(&path, &v, &ctplan_io::WriteOptions::default()).unwrap();
/// let bytes = std::fs::read(&path).unwrap();
/// assert_eq!(ctplan_io::read_bytes("upload.nrrd", bytes).unwrap().volume, v);
/// ```
pub fn read_bytes(name: &str, bytes: Vec<u8>) -> Result<Image, IoError> {
    let input = input::Input::Memory {
        name: name.into(),
        bytes: bytes.into(),
    };
    let path = input.path();
    if input.len("open")? == 0 {
        return Err(IoError::new(path, "the file is empty (0 bytes)"));
    }
    let src = open_input(&input)?;
    let volume = src.layout.decode_volume(src.reader, path)?;
    Ok(Image {
        volume,
        key_values: src.key_values,
    })
}

/// Options for writing.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteOptions {
    /// Compress the voxel data (gzip for NRRD and NIfTI `.nii.gz`, zlib for MetaImage).
    /// For NIfTI the file name decides (`.nii.gz`), for the others this flag.
    pub compress: bool,
    /// Compression level 0–9.
    pub level: u32,
    /// Extra key/value pairs to store where the format allows (NRRD, MetaImage).
    pub key_values: KeyValues,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            compress: true,
            level: 6,
            key_values: Vec::new(),
        }
    }
}

/// Write a volume atomically in the format its file name implies.
pub fn write(path: &Path, volume: &AnyVolume, opts: &WriteOptions) -> Result<(), IoError> {
    match format_of(path)? {
        Format::Nrrd { detached } => nrrd::write(path, volume, opts, detached),
        Format::Nifti { gzip } => nii::write(path, volume, gzip, opts.level),
        Format::MetaImage { detached } => metaimage::write(path, volume, opts, detached),
    }
}

/// Write bytes to `path` atomically (temporary file, then rename).
pub fn write_bytes(path: &Path, bytes: &[u8]) -> Result<(), IoError> {
    atomic::write_file(path, |w| w.write_all(bytes))
}

/// Write a binary mask as `u8` (0/1) with default options.
pub fn write_mask(path: &Path, mask: &Mask) -> Result<(), IoError> {
    write(path, &AnyVolume::U8(mask.clone()), &WriteOptions::default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctplan_core::{Geometry, Volume};

    fn volume() -> AnyVolume {
        let g = Geometry::new([0.5, 0.75, 2.0], [-3.0, 4.0, 5.0]);
        let data: Vec<i16> = (0..60).map(|i| i * 7 - 200).collect();
        AnyVolume::I16(Volume::from_vec([5, 4, 3], g, data).unwrap())
    }

    #[test]
    fn bytes_in_memory_read_as_the_file_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["v.nrrd", "v.nii", "v.nii.gz", "v.mha"] {
            for compress in [false, true] {
                let path = dir.path().join(name);
                let opts = WriteOptions {
                    compress,
                    ..Default::default()
                };
                write(&path, &volume(), &opts).unwrap();
                let disk = read(&path).unwrap();
                let memory = read_bytes(name, std::fs::read(&path).unwrap()).unwrap();
                assert_eq!(memory, disk, "{name}");
            }
        }
    }

    #[test]
    fn bytes_in_memory_are_refused_in_words() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.nrrd");
        let raw = WriteOptions {
            compress: false,
            ..Default::default()
        };
        write(&path, &volume(), &raw).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.truncate(bytes.len() - 5);
        let e = read_bytes("upload.nrrd", bytes).unwrap_err();
        assert!(e.to_string().starts_with("upload.nrrd: "), "{e}");
        let e = read_bytes("v.nhdr", b"NRRD0004\ntype: short\ndimension: 3\nsizes: 1 1 1\nendian: little\nencoding: raw\ndata file: v.raw\n\n".to_vec()).unwrap_err();
        assert!(e.to_string().contains("separate data file (v.raw)"), "{e}");
        let e = read_bytes("v.nrrd", Vec::new()).unwrap_err();
        assert!(
            e.to_string().ends_with("the file is empty (0 bytes)"),
            "{e}"
        );
        let e = read_bytes("v.txt", b"x".to_vec()).unwrap_err();
        assert!(e.to_string().contains("unknown volume format"), "{e}");
    }
}
