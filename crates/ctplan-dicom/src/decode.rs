//! The last stage of reading DICOM: decode the chosen series' pixel data into one volume in
//! Hounsfield units, on the grid its [`Layout`] gives (copies and interpolated slices), with
//! an optional deskew of a gantry-tilted grid.
//!
//! The output volume is refused before anything is allocated when it would exceed the memory
//! limit that every volume reader shares ([`ctplan_core::MAX_BYTES`]).

use std::path::Path;

use ctplan_core::resample::{Interpolation, resample};
use ctplan_core::vec3::{cross, dot, sub};
use ctplan_core::{AnyVolume, Geometry, MAX_BYTES, Scalar, Volume};
use dicom_core::value::Value;
use dicom_dictionary_std::tags;
use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
use dicom_object::DefaultDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use rayon::prelude::*;

use crate::DicomError;
use crate::files::Origin;
use crate::header::{Frame, Instance};
use crate::layout::{Layout, SliceSource};
use crate::series::{Series, scan, split_selector, transfer_syntax_name};

/// How to load a series.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LoadOptions {
    /// Resample a gantry-tilted (sheared) grid onto an orthogonal one (trilinear), instead of
    /// keeping the oblique direction matrix.
    pub deskew: bool,
}

/// A series loaded as a volume.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// Values in Hounsfield units (RescaleSlope/Intercept applied): `i16` when every slope and
    /// intercept is an integer and the values fit, else `i32`, else `f32`.
    pub volume: AnyVolume,
    /// The SeriesInstanceUID of the series loaded.
    pub series_uid: String,
    /// The grid and slice plan the volume was built on (for reporting irregularities).
    pub layout: Layout,
    /// What the reader noticed: duplicates, gaps, interpolation, tilt, resampling.
    pub notes: Vec<String>,
}

/// Read a series as a volume from `PATH` or `PATH#SERIES` (a folder, zip archive or file).
pub fn read_series(spec: &Path, opts: LoadOptions) -> Result<Loaded, DicomError> {
    let (path, selector) = split_selector(spec);
    let scan = scan(&path)?;
    let series = scan.select(selector.as_deref())?;
    load(series, opts)
}

/// Load one series as a volume.
///
/// A series whose stored frames or output volume would exceed [`MAX_BYTES`] is refused
/// ([`DicomErrorKind::TooLarge`](crate::DicomErrorKind::TooLarge)) before any pixel data is read.
pub fn load(series: &Series, opts: LoadOptions) -> Result<Loaded, DicomError> {
    let first = &series.instances[0].origin;
    let too_large = |bytes: u64| {
        DicomError::too_large(first.display_path(), &series.series_uid, bytes, MAX_BYTES)
    };
    let stored = stored_bytes(series);
    if stored > MAX_BYTES {
        return Err(too_large(stored));
    }
    let layout = series.layout.clone().map_err(|msg| {
        DicomError::new(
            first.display_path(),
            format!("series {}: {msg}", series.series_uid),
        )
    })?;
    for inst in &series.instances {
        let supported = TransferSyntaxRegistry
            .get(&inst.transfer_syntax)
            .is_some_and(|ts| ts.can_decode_all());
        if !supported {
            return Err(DicomError::new(
                inst.origin.display_path(),
                format!(
                    "unsupported transfer syntax: {} ({}); supported: uncompressed, deflated, RLE, JPEG baseline/extended/lossless, JPEG 2000",
                    transfer_syntax_name(&inst.transfer_syntax),
                    inst.transfer_syntax
                ),
            ));
        }
    }
    let (refs, frames, _) = series.frame_list();
    let integral = frames
        .iter()
        .all(|f| f.slope.fract() == 0.0 && f.intercept.fract() == 0.0);
    let mut notes = layout.problems();
    let fits_i16 = integral && {
        let (lo, hi) = stored_bounds(series, &frames);
        lo >= i16::MIN as f64 && hi <= i16::MAX as f64
    };
    // i16 output is assembled as i16; every other path assembles 4-byte voxels (i32 or f32).
    let output = output_bytes(series, &layout, if fits_i16 { 2 } else { 4 });
    if output > MAX_BYTES {
        return Err(too_large(output));
    }
    let volume = if integral {
        if fits_i16 {
            AnyVolume::I16(assemble::<i16>(series, &layout, &refs, &frames)?)
        } else {
            let v = assemble::<i32>(series, &layout, &refs, &frames)?;
            let (mn, mx) = v
                .data
                .par_iter()
                .fold(|| (i32::MAX, i32::MIN), |(a, b), &x| (a.min(x), b.max(x)))
                .reduce(
                    || (i32::MAX, i32::MIN),
                    |(a, b), (c, d)| (a.min(c), b.max(d)),
                );
            if mn >= i16::MIN as i32 && mx <= i16::MAX as i32 {
                AnyVolume::I16(v.map(|x| x as i16))
            } else {
                AnyVolume::I32(v)
            }
        }
    } else {
        AnyVolume::F32(assemble::<f32>(series, &layout, &refs, &frames)?)
    };
    if layout.tilt_deg > 0.01 {
        if opts.deskew {
            notes.push(format!(
                "gantry tilt {:.2}° resampled onto an orthogonal grid",
                layout.tilt_deg
            ));
        } else {
            notes.push(format!(
                "gantry tilt {:.2}° kept as an oblique (sheared) direction matrix",
                layout.tilt_deg
            ));
        }
    }
    let volume = if opts.deskew && layout.tilt_deg > 0.01 {
        deskew(volume).map_err(|m| DicomError::new(first.display_path(), m))?
    } else {
        volume
    };
    Ok(Loaded {
        volume,
        series_uid: series.series_uid.clone(),
        layout,
        notes,
    })
}

/// Bytes of the series' stored frames (rows × columns × frames × bytes per stored value),
/// saturated: what decoding would read into memory.
fn stored_bytes(series: &Series) -> u64 {
    series
        .instances
        .iter()
        .map(|i| {
            (i.rows as u64)
                .saturating_mul(i.cols as u64)
                .saturating_mul(i.frames.len() as u64)
                .saturating_mul((i.bits_allocated as u64).div_ceil(8).max(1))
        })
        .fold(0, u64::saturating_add)
}

/// Bytes of the output volume (columns × rows × output slices × `voxel` bytes), saturated.
fn output_bytes(series: &Series, layout: &Layout, voxel: u64) -> u64 {
    (series.cols as u64)
        .saturating_mul(series.rows as u64)
        .saturating_mul(layout.slices.len() as u64)
        .saturating_mul(voxel)
}

/// Bounds of the rescaled values implied by BitsStored and PixelRepresentation.
fn stored_bounds(series: &Series, frames: &[Frame]) -> (f64, f64) {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    let (smin, smax) = series
        .instances
        .iter()
        .map(|i| (i.bits_stored(), i.signed()))
        .fold((0.0f64, 0.0f64), |(mn, mx), (bits, signed)| {
            let (a, b) = if signed {
                (
                    -(2f64.powi(bits as i32 - 1)),
                    2f64.powi(bits as i32 - 1) - 1.0,
                )
            } else {
                (0.0, 2f64.powi(bits as i32) - 1.0)
            };
            (mn.min(a), mx.max(b))
        });
    for f in frames {
        for v in [f.slope * smin + f.intercept, f.slope * smax + f.intercept] {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    (lo, hi)
}

/// Output voxel types: converted from the rescaled value (rounded for integer types).
trait Output: Scalar + Send + Sync {
    fn from_value(v: f64) -> Self;
}
impl Output for i16 {
    fn from_value(v: f64) -> Self {
        v.round() as i16
    }
}
impl Output for i32 {
    fn from_value(v: f64) -> Self {
        v.round() as i32
    }
}
impl Output for f32 {
    fn from_value(v: f64) -> Self {
        v as f32
    }
}

fn assemble<T: Output>(
    series: &Series,
    layout: &Layout,
    refs: &[(usize, u32)],
    frames: &[Frame],
) -> Result<Volume<T>, DicomError> {
    let [nx, ny, nz] = [
        series.cols as usize,
        series.rows as usize,
        layout.slices.len(),
    ];
    let plane = nx * ny;
    // Multi-frame files are opened once and shared; single-frame files are opened per slice.
    let multi: Vec<Option<DefaultDicomObject>> = series
        .instances
        .iter()
        .map(|inst| {
            if inst.frames.len() > 1 {
                inst.origin.open(false).map(Some)
            } else {
                Ok(None)
            }
        })
        .collect::<Result<_, _>>()?;
    let stored = |f: usize| -> Result<Vec<i32>, DicomError> {
        let (i, k) = refs[f];
        let inst = &series.instances[i];
        let opened;
        let obj = match &multi[i] {
            Some(o) => o,
            None => {
                opened = inst.origin.open(false)?;
                &opened
            }
        };
        decode_frame(obj, k, inst, plane)
            .map_err(|m| DicomError::new(inst.origin.display_path(), m))
    };
    let mut data = vec![T::from_value(0.0); plane * nz];
    data.par_chunks_mut(plane)
        .zip(layout.slices.par_iter())
        .try_for_each(|(out, src)| -> Result<(), DicomError> {
            match *src {
                SliceSource::Copy(f) => {
                    let (s, b) = (frames[f].slope, frames[f].intercept);
                    let (i, _) = refs[f];
                    if multi[i].is_none() && native_into(&series.instances[i], out, s, b)? {
                        return Ok(());
                    }
                    let v = stored(f)?;
                    for (o, &x) in out.iter_mut().zip(&v) {
                        *o = T::from_value(s * x as f64 + b);
                    }
                }
                SliceSource::Blend(fa, fb, t) => {
                    let (va, vb) = (stored(fa)?, stored(fb)?);
                    let (sa, ba) = (frames[fa].slope, frames[fa].intercept);
                    let (sb, bb) = (frames[fb].slope, frames[fb].intercept);
                    for ((o, &a), &b) in out.iter_mut().zip(&va).zip(&vb) {
                        let a = sa * a as f64 + ba;
                        let b = sb * b as f64 + bb;
                        *o = T::from_value((1.0 - t) * a + t * b);
                    }
                }
            }
            Ok(())
        })?;
    let geometry: Geometry = layout.geometry;
    Volume::from_vec([nx, ny, nz], geometry, data)
        .map_err(|e| DicomError::new(series.instances[0].origin.display_path(), e.to_string()))
}

/// Fast path for the common case, an uncompressed little-endian single-frame file: read the
/// file (or take its bytes in memory), find the PixelData element at the end of the data set (its tag followed by the length
/// the image needs, explicit or implicit VR), and convert straight into the output slice.
/// Returns `Ok(false)` (the caller falls back to the full parser) when the layout is anything
/// else.
fn native_into<T: Output>(
    inst: &Instance,
    out: &mut [T],
    slope: f64,
    intercept: f64,
) -> Result<bool, DicomError> {
    const NATIVE_LE: [&str; 2] = ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1"];
    if !matches!(inst.origin, Origin::File(_) | Origin::Memory { .. })
        || !NATIVE_LE.contains(&inst.transfer_syntax.as_str())
        || inst.bits_allocated != 16
        || inst.samples_per_pixel != 1
    {
        return Ok(false);
    }
    let read;
    let bytes: &[u8] = match &inst.origin {
        Origin::Memory { bytes, .. } => bytes,
        Origin::File(path) => {
            read = std::fs::read(path).map_err(|e| DicomError::new(path, e.to_string()))?;
            &read
        }
        Origin::Zip { .. } => return Ok(false),
    };
    let need = out.len() * 2;
    let Some(start) = pixel_data_offset(bytes, need) else {
        return Ok(false);
    };
    let stored = inst.bits_stored() as u32;
    let mask: u32 = (1u32 << stored.min(31)) - 1;
    let signed = inst.signed();
    for (o, c) in out
        .iter_mut()
        .zip(bytes[start..start + need].chunks_exact(2))
    {
        let v = u16::from_le_bytes([c[0], c[1]]) as u32 & mask;
        let x = if signed && stored < 32 && v & (1 << (stored - 1)) != 0 {
            (v | !mask) as i32
        } else {
            v as i32
        };
        *o = T::from_value(slope * x as f64 + intercept);
    }
    Ok(true)
}

/// Offset of the pixel bytes of a top-level PixelData element holding exactly `need` bytes
/// (an even-padded value may hold one more), searched from the end of the file.
fn pixel_data_offset(bytes: &[u8], need: usize) -> Option<usize> {
    const TAG: [u8; 4] = [0xE0, 0x7F, 0x10, 0x00];
    let mut pos = bytes.len().checked_sub(need + 8)?;
    let lowest = pos.saturating_sub(64);
    loop {
        if bytes[pos..pos + 4] == TAG {
            // Implicit VR: tag, 4-byte length.
            let len = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().ok()?) as usize;
            if len >= need && pos + 8 + len == bytes.len() {
                return Some(pos + 8);
            }
            // Explicit VR OW/OB: tag, VR, 2 reserved bytes, 4-byte length.
            if pos + 12 <= bytes.len()
                && (&bytes[pos + 4..pos + 6] == b"OW" || &bytes[pos + 4..pos + 6] == b"OB")
            {
                let len = u32::from_le_bytes(bytes[pos + 8..pos + 12].try_into().ok()?) as usize;
                if len >= need && pos + 12 + len == bytes.len() {
                    return Some(pos + 12);
                }
            }
        }
        if pos == lowest {
            return None;
        }
        pos -= 1;
    }
}

/// The stored values of one frame, masked to BitsStored and sign-extended when signed.
fn decode_frame(
    obj: &DefaultDicomObject,
    frame: u32,
    inst: &Instance,
    plane: usize,
) -> Result<Vec<i32>, String> {
    let bits = inst.bits_allocated;
    let stored = inst.bits_stored() as u32;
    let width = (bits as usize).div_ceil(8);
    let pixel = obj
        .element_opt(tags::PIXEL_DATA)
        .ok()
        .flatten()
        .ok_or("no PixelData (the file is truncated or holds no image)")?;
    let decoded;
    let native;
    // Uncompressed pixel data is read as it is (no attribute beyond the pixel layout needed);
    // encapsulated data goes through dicom-pixeldata's decoders.
    let bytes: &[u8] = if let Value::Primitive(p) = pixel.value() {
        native = p.to_bytes();
        let frame_bytes = plane * width;
        let start = frame as usize * frame_bytes;
        native.get(start..start + frame_bytes).ok_or_else(|| {
            format!(
                "pixel data holds {} bytes, frame {frame} of {}×{} needs bytes {start}..{} (the file is truncated or damaged)",
                native.len(),
                inst.cols,
                inst.rows,
                start + frame_bytes
            )
        })?
    } else {
        decoded = crate::codec::decode_frame(obj, frame, inst)?;
        &decoded
    };
    let signed = inst.signed();
    if ![1, 2, 4].contains(&width) {
        return Err(format!("unsupported BitsAllocated {bits}"));
    }
    if bytes.len() < plane * width {
        return Err(format!(
            "pixel data holds {} bytes, a {}×{} frame needs {} (the file is truncated or damaged)",
            bytes.len(),
            inst.cols,
            inst.rows,
            plane * width
        ));
    }
    let mask: u32 = if stored >= 32 {
        u32::MAX
    } else {
        (1u32 << stored) - 1
    };
    let extend = |raw: u32| -> i32 {
        let v = raw & mask;
        if signed && stored < 32 && v & (1 << (stored - 1)) != 0 {
            (v | !mask) as i32
        } else {
            v as i32
        }
    };
    let out = match width {
        1 => bytes[..plane].iter().map(|&b| extend(b as u32)).collect(),
        2 => bytes[..plane * 2]
            .chunks_exact(2)
            .map(|c| extend(u16::from_le_bytes([c[0], c[1]]) as u32))
            .collect(),
        _ => bytes[..plane * 4]
            .chunks_exact(4)
            .map(|c| extend(u32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
    };
    Ok(out)
}

fn deskew(volume: AnyVolume) -> Result<AnyVolume, String> {
    fn run<T: Scalar>(v: &Volume<T>) -> Result<Volume<T>, String> {
        let g = v.geometry;
        let axes = g.axis_vectors();
        let d = g.direction;
        let r = [d[0][0], d[1][0], d[2][0]];
        let c = [d[0][1], d[1][1], d[2][1]];
        let n = cross(r, c);
        let slice_step = dot(axes[2], n);
        let spacing = [g.spacing[0], g.spacing[1], slice_step.abs()];
        let frame = [r, c, n];
        let mut lo = [f64::INFINITY; 3];
        let mut hi = [f64::NEG_INFINITY; 3];
        for corner in 0..8 {
            let idx = [
                if corner & 1 != 0 {
                    (v.dims[0] - 1) as f64
                } else {
                    0.0
                },
                if corner & 2 != 0 {
                    (v.dims[1] - 1) as f64
                } else {
                    0.0
                },
                if corner & 4 != 0 {
                    (v.dims[2] - 1) as f64
                } else {
                    0.0
                },
            ];
            let p = g.index_to_world(idx);
            let rel = sub(p, g.origin);
            for a in 0..3 {
                let t = dot(rel, frame[a]);
                lo[a] = lo[a].min(t);
                hi[a] = hi[a].max(t);
            }
        }
        let mut dims = [0usize; 3];
        let mut origin = g.origin;
        for a in 0..3 {
            dims[a] = ((hi[a] - lo[a]) / spacing[a] + 1e-6).floor() as usize + 1;
            for k in 0..3 {
                origin[k] += lo[a] * frame[a][k];
            }
        }
        let geometry = Geometry {
            spacing,
            origin,
            direction: [[r[0], c[0], n[0]], [r[1], c[1], n[1]], [r[2], c[2], n[2]]],
        };
        let fill = v
            .data
            .iter()
            .copied()
            .fold(None, |m: Option<T>, x| match m {
                Some(m) if m.to_f64() <= x.to_f64() => Some(m),
                _ => Some(x),
            })
            .unwrap_or_default();
        resample(v, dims, geometry, Interpolation::Linear, fill).map_err(|e| e.to_string())
    }
    Ok(match volume {
        AnyVolume::I16(v) => AnyVolume::I16(run(&v)?),
        AnyVolume::I32(v) => AnyVolume::I32(run(&v)?),
        AnyVolume::F32(v) => AnyVolume::F32(run(&v)?),
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DicomErrorKind;
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_object::{FileMetaTableBuilder, InMemDicomObject};

    /// Write a CT header without pixel data: `size` × `size` pixels of 16 bits, one frame at
    /// `z` mm (a forged header: the file holds none of the pixels it claims).
    fn forged(dir: &Path, size: u16, z: f64) {
        let sop = format!("1.2.826.0.1.99.{}", (z * 10.0) as i64);
        let ct = "1.2.840.10008.5.1.4.1.1.2";
        let el = |tag, vr, v: PrimitiveValue| DataElement::new(tag, vr, v);
        let obj = InMemDicomObject::from_element_iter([
            el(tags::SOP_CLASS_UID, VR::UI, ct.into()),
            el(tags::SOP_INSTANCE_UID, VR::UI, sop.as_str().into()),
            el(tags::STUDY_INSTANCE_UID, VR::UI, "1.2.826.0.1.99".into()),
            el(tags::SERIES_INSTANCE_UID, VR::UI, "1.2.826.0.1.99.1".into()),
            el(tags::MODALITY, VR::CS, "CT".into()),
            el(
                tags::IMAGE_POSITION_PATIENT,
                VR::DS,
                format!("0\\0\\{z}").into(),
            ),
            el(
                tags::IMAGE_ORIENTATION_PATIENT,
                VR::DS,
                "1\\0\\0\\0\\1\\0".into(),
            ),
            el(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16)),
            el(tags::ROWS, VR::US, PrimitiveValue::from(size)),
            el(tags::COLUMNS, VR::US, PrimitiveValue::from(size)),
            el(tags::PIXEL_SPACING, VR::DS, "0.5\\0.5".into()),
            el(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16u16)),
            el(tags::BITS_STORED, VR::US, PrimitiveValue::from(16u16)),
            el(
                tags::PIXEL_REPRESENTATION,
                VR::US,
                PrimitiveValue::from(1u16),
            ),
        ]);
        let meta = FileMetaTableBuilder::new()
            .transfer_syntax("1.2.840.10008.1.2.1")
            .media_storage_sop_class_uid(ct)
            .media_storage_sop_instance_uid(sop.as_str());
        obj.with_meta(meta)
            .unwrap()
            .write_to_file(dir.join(format!("{z}.dcm")))
            .unwrap();
    }

    /// Five 65535 × 65535 slices of 16 bits claim 43 GB, over the 32 GiB limit: refused from
    /// the headers, before any pixel data is read (the files hold none).
    #[test]
    fn a_series_over_the_memory_limit_is_refused_before_decoding() {
        let dir = tempfile::tempdir().unwrap();
        for z in 0..5 {
            forged(dir.path(), u16::MAX, z as f64);
        }
        let e = read_series(dir.path(), LoadOptions::default()).unwrap_err();
        let want = 5 * 65535u64 * 65535 * 2;
        assert_eq!(
            e.kind,
            DicomErrorKind::TooLarge {
                bytes: want,
                limit: MAX_BYTES
            }
        );
        assert!(e.path.starts_with(dir.path()), "names a file: {e}");
        assert!(e.to_string().contains("series 1.2.826.0.1.99.1"), "{e}");
        assert!(e.to_string().contains("32 GiB"), "{e}");
    }

    /// Four such slices fit the limit as stored (34.36e9 bytes ≤ 2^35), but a gap in the stack
    /// is filled by interpolated slices and the output volume would not: refused too.
    #[test]
    fn an_output_volume_over_the_memory_limit_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        for z in [0.0, 1.0, 2.0, 4.0] {
            forged(dir.path(), u16::MAX, z);
        }
        let e = read_series(dir.path(), LoadOptions::default()).unwrap_err();
        let DicomErrorKind::TooLarge { bytes, limit } = e.kind else {
            panic!("{e}")
        };
        assert_eq!(limit, MAX_BYTES);
        assert_eq!(bytes, 5 * 65535u64 * 65535 * 2, "{e}");
    }

    /// A small forged series is under the limit and fails only where its pixels are missing.
    #[test]
    fn a_small_series_passes_the_size_check() {
        let dir = tempfile::tempdir().unwrap();
        for z in 0..3 {
            forged(dir.path(), 4, z as f64);
        }
        let e = read_series(dir.path(), LoadOptions::default()).unwrap_err();
        assert_eq!(e.kind, DicomErrorKind::Invalid, "{e}");
        assert!(e.to_string().contains("PixelData"), "{e}");
    }

    /// A linear ramp of world position is reproduced exactly by trilinear resampling, so the
    /// deskewed grid must carry f(world) = a · world at every voxel inside the sheared data.
    #[test]
    fn deskew_puts_the_same_world_values_on_an_orthogonal_grid() {
        let a = [0.3, -0.7, 1.1];
        let f = |p: [f64; 3]| a[0] * p[0] + a[1] * p[1] + a[2] * p[2];
        // 0.5 mm pixels, slices 2 mm apart along z, shifted 0.4 mm posterior per slice (tilt).
        let g = Geometry::from_axis_vectors(
            [[0.5, 0.0, 0.0], [0.0, 0.5, 0.0], [0.0, 0.4, 2.0]],
            [-5.0, 3.0, 10.0],
        )
        .unwrap();
        let dims = [20, 24, 8];
        let mut v: Volume<f32> = Volume::zeros(dims, g);
        for k in 0..dims[2] {
            for j in 0..dims[1] {
                for i in 0..dims[0] {
                    let idx = v.index(i, j, k);
                    v.data[idx] = f(g.index_to_world([i as f64, j as f64, k as f64])) as f32;
                }
            }
        }
        let AnyVolume::F32(out) = deskew(AnyVolume::F32(v.clone())).unwrap() else {
            panic!()
        };
        let og = out.geometry;
        assert!(og.is_axis_aligned(1e-12), "orthogonal grid: {og:?}");
        assert_eq!(og.spacing, [0.5, 0.5, 2.0]);
        let mut checked = 0;
        for k in 0..out.dims[2] {
            for j in 0..out.dims[1] {
                for i in 0..out.dims[0] {
                    let p = og.index_to_world([i as f64, j as f64, k as f64]);
                    let src = g.world_to_index(p).unwrap();
                    let inside = (0..3).all(|d| src[d] >= 0.0 && src[d] <= (dims[d] - 1) as f64);
                    if inside {
                        let got = out.get(i, j, k) as f64;
                        assert!((got - f(p)).abs() < 1e-3, "{got} vs {} at {p:?}", f(p));
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > dims.iter().product::<usize>() / 2, "{checked}");
        // The orthogonal grid covers the sheared one: 0.4 × 7 = 2.8 mm more along y.
        assert_eq!(out.dims[1], 24 + (2.8f64 / 0.5 + 1e-6).floor() as usize);
    }
}
