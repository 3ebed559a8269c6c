//! NIfTI-1 (`.nii`, `.nii.gz`). Header parsing by the `nifti` crate; voxel data and geometry here.
//!
//! NIfTI world space is RAS; we convert to LPS (negate the first two rows of the affine).
//! Geometry is taken from the sform when `sform_code > 0`, else from the qform when
//! `qform_code > 0`, else from `pixdim` alone — the order nibabel uses. `scl_slope`/`scl_inter`
//! are applied when they change values (the volume is then `f32`). The geometry used is
//! refused when it is singular or not finite, and a zero or non-finite `pixdim` is refused
//! where it gives a spacing (never replaced by 1 mm).
//!
//! Writing stores the exact affine as sform (code 1, scanner) and, when the direction matrix is
//! orthonormal, the same as qform (code 1) with `qfac`; sheared grids get `qform_code = 0`.
//! NIfTI keeps these in `f32`, so geometry survives a round trip at `f32` precision.

use std::io::{BufReader, Read, Write};
use std::path::Path;

use ctplan_core::{AnyVolume, Geometry, MAX_BYTES, ScalarType};
use flate2::bufread::MultiGzDecoder;
use nifti::NiftiHeader;

use crate::geom::checked_geometry;
use crate::input::Input;
use crate::raw::{self, Encoding, Layout, Source};
use crate::{IoError, atomic};

fn datatype_to_scalar(code: i16) -> Option<ScalarType> {
    Some(match code {
        2 => ScalarType::U8,
        4 => ScalarType::I16,
        8 => ScalarType::I32,
        16 => ScalarType::F32,
        64 => ScalarType::F64,
        256 => ScalarType::I8,
        512 => ScalarType::U16,
        768 => ScalarType::U32,
        1024 => ScalarType::I64,
        1280 => ScalarType::U64,
        _ => return None,
    })
}

fn scalar_to_datatype(t: ScalarType) -> i16 {
    match t {
        ScalarType::U8 => 2,
        ScalarType::I16 => 4,
        ScalarType::I32 => 8,
        ScalarType::F32 => 16,
        ScalarType::F64 => 64,
        ScalarType::I8 => 256,
        ScalarType::U16 => 512,
        ScalarType::U32 => 768,
        ScalarType::I64 => 1024,
        ScalarType::U64 => 1280,
    }
}

fn is_gz(path: &Path) -> bool {
    path.to_string_lossy().to_ascii_lowercase().ends_with(".gz")
}

/// Parse the header and open the voxel data.
pub fn open(input: &Input) -> Result<Source, IoError> {
    let path = input.path();
    let (file, file_len) = input.open("open")?;
    let gz = is_gz(path);
    let buf = BufReader::with_capacity(1 << 20, file);
    let mut reader: Box<dyn Read> = if gz {
        Box::new(MultiGzDecoder::new(buf))
    } else {
        Box::new(buf)
    };
    let mut hbytes = [0u8; 348];
    reader.read_exact(&mut hbytes).map_err(|e| {
        let why = if e.kind() == std::io::ErrorKind::UnexpectedEof {
            "the file is shorter than the 348-byte header".to_string()
        } else {
            format!("cannot read the 348-byte header ({e})")
        };
        IoError::with_source(path, format!("not a NIfTI-1 file: {why}"), e)
    })?;
    let h = NiftiHeader::from_reader(&hbytes[..])
        .map_err(|e| IoError::new(path, format!("not a NIfTI-1 file: {e}")))?;
    if h.sizeof_hdr != 348 {
        return Err(IoError::new(
            path,
            format!("not a NIfTI-1 file (sizeof_hdr = {})", h.sizeof_hdr),
        ));
    }
    if &h.magic != b"n+1\0" {
        return Err(IoError::new(
            path,
            "NIfTI header/image pairs (.hdr/.img) are not supported; use a single .nii file",
        ));
    }
    let big_endian = match h.endianness {
        nifti::Endianness::Big => true,
        nifti::Endianness::Little => false,
    };
    let ndim = h.dim[0] as usize;
    if !(1..=7).contains(&ndim) {
        return Err(IoError::new(
            path,
            format!("invalid NIfTI dim[0] = {}", h.dim[0]),
        ));
    }
    let mut dims = [1usize; 3];
    for a in 0..ndim.min(3) {
        if h.dim[a + 1] == 0 {
            return Err(IoError::new(
                path,
                format!("NIfTI dim[{}] = {} is not a size", a + 1, h.dim[a + 1]),
            ));
        }
        dims[a] = h.dim[a + 1] as usize;
    }
    if (4..=ndim).any(|a| h.dim[a] > 1) {
        return Err(IoError::new(
            path,
            format!("NIfTI volume has {ndim} dimensions; only 3-D scalar volumes are supported"),
        ));
    }
    let stype = datatype_to_scalar(h.datatype)
        .ok_or_else(|| IoError::new(path, format!("unsupported NIfTI datatype {}", h.datatype)))?;
    let geometry = geometry_from_header(&h, ndim, path)?;
    let (slope, inter) = (h.scl_slope as f64, h.scl_inter as f64);
    let scaling = (slope.is_finite() && slope != 0.0 && !(slope == 1.0 && inter == 0.0))
        .then_some((slope, inter));
    if scaling.is_some() && !inter.is_finite() {
        return Err(IoError::new(
            path,
            format!("NIfTI scl_inter = {inter} is not finite"),
        ));
    }
    let layout = Layout {
        dims,
        geometry,
        stype,
        big_endian,
        encoding: if gz { Encoding::Gzip } else { Encoding::Raw },
        scaling,
    };
    if !(h.vox_offset.is_finite() && h.vox_offset >= 0.0 && h.vox_offset as u64 <= MAX_BYTES) {
        return Err(IoError::new(
            path,
            format!("NIfTI vox_offset = {} is not a byte offset", h.vox_offset),
        ));
    }
    let offset = (h.vox_offset as u64).max(348);
    let needed = raw::checked_bytes(dims, stype, path)?;
    raw::check_capacity(
        path,
        needed,
        file_len.saturating_sub(if gz { 0 } else { offset }),
        layout.encoding,
    )?;
    if gz {
        raw::check_stream_holds(path, offset + needed, file_len, raw::PRECHECK_BYTES, || {
            let (f, _) = input.open("open")?;
            Ok(Box::new(MultiGzDecoder::new(BufReader::new(f))))
        })?;
    }
    std::io::copy(&mut (&mut reader).take(offset - 348), &mut std::io::sink()).map_err(|e| {
        IoError::with_source(
            path,
            format!("file is truncated before its voxel data ({e})"),
            e,
        )
    })?;
    Ok(Source {
        layout,
        reader,
        key_values: Vec::new(),
    })
}

/// LPS geometry from a NIfTI header (sform, else qform, else pixdim), refused when the one
/// used is singular or not finite (each error names it). The spacing of an axis beyond `ndim`
/// (the third of a 2-D image) defaults to 1 mm when pixdim leaves it zero or not finite.
fn geometry_from_header(h: &NiftiHeader, ndim: usize, path: &Path) -> Result<Geometry, IoError> {
    let pixdim = |a: usize| -> Result<f64, IoError> {
        let s = h.pixdim[a] as f64;
        if s.is_finite() && s != 0.0 {
            Ok(s)
        } else if a > ndim {
            Ok(1.0)
        } else {
            Err(IoError::new(
                path,
                format!("NIfTI pixdim[{a}] = {s} is not a voxel size (finite and non-zero)"),
            ))
        }
    };
    let ras_to_lps = [-1.0, -1.0, 1.0];
    let mut axes = [[0.0; 3]; 3];
    let mut origin = [0.0; 3];
    if h.sform_code > 0 {
        let rows = [h.srow_x, h.srow_y, h.srow_z];
        for r in 0..3 {
            for a in 0..3 {
                axes[a][r] = rows[r][a] as f64 * ras_to_lps[r];
            }
            origin[r] = rows[r][3] as f64 * ras_to_lps[r];
        }
    } else if h.qform_code > 0 {
        let (b, c, d) = (h.quatern_b as f64, h.quatern_c as f64, h.quatern_d as f64);
        let a = (1.0 - (b * b + c * c + d * d)).max(0.0).sqrt();
        let rot = [
            [
                a * a + b * b - c * c - d * d,
                2.0 * (b * c - a * d),
                2.0 * (b * d + a * c),
            ],
            [
                2.0 * (b * c + a * d),
                a * a + c * c - b * b - d * d,
                2.0 * (c * d - a * b),
            ],
            [
                2.0 * (b * d - a * c),
                2.0 * (c * d + a * b),
                a * a + d * d - c * c - b * b,
            ],
        ];
        let qfac = if h.pixdim[0] < 0.0 { -1.0 } else { 1.0 };
        let sp = [pixdim(1)?, pixdim(2)?, pixdim(3)? * qfac];
        let off = [h.quatern_x as f64, h.quatern_y as f64, h.quatern_z as f64];
        for r in 0..3 {
            for ax in 0..3 {
                axes[ax][r] = rot[r][ax] * sp[ax] * ras_to_lps[r];
            }
            origin[r] = off[r] * ras_to_lps[r];
        }
    } else {
        for a in 0..3 {
            axes[a][a] = pixdim(a + 1)?.abs();
        }
    }
    let (axes_field, origin_field) = if h.sform_code > 0 {
        (
            "NIfTI sform (srow_x/y/z)",
            "NIfTI sform offset (srow_x/y/z[3])",
        )
    } else if h.qform_code > 0 {
        ("NIfTI qform (quatern_b/c/d, pixdim)", "NIfTI qoffset_x/y/z")
    } else {
        ("NIfTI pixdim", "NIfTI origin")
    };
    checked_geometry(path, axes_field, axes, origin_field, origin)
}

/// Quaternion (b, c, d) and qfac of an orthonormal RAS rotation matrix (columns = axes),
/// following nifti1_io's `nifti_mat44_to_quatern`.
fn quaternion(m: [[f64; 3]; 3]) -> Option<([f64; 3], f64)> {
    let mut m = m;
    let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    let qfac = if det < 0.0 { -1.0 } else { 1.0 };
    if qfac < 0.0 {
        for row in m.iter_mut() {
            row[2] = -row[2];
        }
    }
    // Orthonormality check: MᵀM = I.
    for i in 0..3 {
        for j in 0..3 {
            let dot: f64 = (0..3).map(|r| m[r][i] * m[r][j]).sum();
            if (dot - if i == j { 1.0 } else { 0.0 }).abs() > 1e-5 {
                return None;
            }
        }
    }
    let a = 1.0 + m[0][0] + m[1][1] + m[2][2];
    let (a, b, c, d) = if a > 0.5 {
        let a = 0.5 * a.sqrt();
        (
            a,
            0.25 * (m[2][1] - m[1][2]) / a,
            0.25 * (m[0][2] - m[2][0]) / a,
            0.25 * (m[1][0] - m[0][1]) / a,
        )
    } else {
        let xd = 1.0 + m[0][0] - (m[1][1] + m[2][2]);
        let yd = 1.0 + m[1][1] - (m[0][0] + m[2][2]);
        let zd = 1.0 + m[2][2] - (m[0][0] + m[1][1]);
        if xd > 1.0 {
            let b = 0.5 * xd.sqrt();
            (
                0.25 * (m[2][1] - m[1][2]) / b,
                b,
                0.25 * (m[0][1] + m[1][0]) / b,
                0.25 * (m[0][2] + m[2][0]) / b,
            )
        } else if yd > 1.0 {
            let c = 0.5 * yd.sqrt();
            (
                0.25 * (m[0][2] - m[2][0]) / c,
                0.25 * (m[0][1] + m[1][0]) / c,
                c,
                0.25 * (m[1][2] + m[2][1]) / c,
            )
        } else {
            let d = 0.5 * zd.sqrt();
            (
                0.25 * (m[1][0] - m[0][1]) / d,
                0.25 * (m[0][2] + m[2][0]) / d,
                0.25 * (m[1][2] + m[2][1]) / d,
                d,
            )
        }
    };
    let s = if a < 0.0 { -1.0 } else { 1.0 };
    Some(([b * s, c * s, d * s], qfac))
}

/// The 348-byte header (little-endian) plus the 4-byte empty extension block.
fn header_bytes(volume: &AnyVolume) -> Vec<u8> {
    let g = volume.geometry();
    let d = volume.dims();
    let st = volume.scalar_type();
    let mut h = vec![0u8; 352];
    let put_i32 =
        |h: &mut Vec<u8>, off: usize, v: i32| h[off..off + 4].copy_from_slice(&v.to_le_bytes());
    let put_i16 =
        |h: &mut Vec<u8>, off: usize, v: i16| h[off..off + 2].copy_from_slice(&v.to_le_bytes());
    let put_f32 =
        |h: &mut Vec<u8>, off: usize, v: f32| h[off..off + 4].copy_from_slice(&v.to_le_bytes());
    put_i32(&mut h, 0, 348);
    h[38] = b'r'; // regular
    let dims = [3i16, d[0] as i16, d[1] as i16, d[2] as i16, 1, 1, 1, 1];
    for (i, v) in dims.iter().enumerate() {
        put_i16(&mut h, 40 + 2 * i, *v);
    }
    put_i16(&mut h, 70, scalar_to_datatype(st));
    put_i16(&mut h, 72, (st.size() * 8) as i16);
    // RAS affine rows.
    let axes = g.axis_vectors();
    let lps_to_ras = [-1.0, -1.0, 1.0];
    let mut rot = [[0.0; 3]; 3];
    for r in 0..3 {
        for a in 0..3 {
            rot[r][a] = g.direction[r][a] * lps_to_ras[r];
        }
    }
    let q = quaternion(rot);
    let qfac = q.map(|q| q.1).unwrap_or(1.0);
    let pixdim = [
        qfac as f32,
        g.spacing[0] as f32,
        g.spacing[1] as f32,
        g.spacing[2] as f32,
        1.0,
        1.0,
        1.0,
        1.0,
    ];
    for (i, v) in pixdim.iter().enumerate() {
        put_f32(&mut h, 76 + 4 * i, *v);
    }
    put_f32(&mut h, 108, 352.0); // vox_offset
    put_f32(&mut h, 112, 1.0); // scl_slope
    h[123] = 2 | 8; // xyzt_units: mm, s
    if let Some((bcd, _)) = q {
        put_i16(&mut h, 252, 1); // qform_code: scanner
        put_f32(&mut h, 256, bcd[0] as f32);
        put_f32(&mut h, 260, bcd[1] as f32);
        put_f32(&mut h, 264, bcd[2] as f32);
    }
    for r in 0..3 {
        put_f32(&mut h, 268 + 4 * r, (g.origin[r] * lps_to_ras[r]) as f32);
    }
    put_i16(&mut h, 254, 1); // sform_code: scanner
    for r in 0..3 {
        for a in 0..3 {
            put_f32(
                &mut h,
                280 + 16 * r + 4 * a,
                (axes[a][r] * lps_to_ras[r]) as f32,
            );
        }
        put_f32(
            &mut h,
            280 + 16 * r + 12,
            (g.origin[r] * lps_to_ras[r]) as f32,
        );
    }
    h[344..348].copy_from_slice(b"n+1\0");
    h
}

/// Write a NIfTI-1 single file, gzip-compressed when `gzip`.
pub fn write(path: &Path, volume: &AnyVolume, gzip: bool, level: u32) -> Result<(), IoError> {
    let d = volume.dims();
    if d.iter().any(|&n| n > i16::MAX as usize) {
        return Err(IoError::new(
            path,
            format!("NIfTI-1 cannot store sizes over 32767: {d:?}"),
        ));
    }
    let header = header_bytes(volume);
    atomic::write_file(path, |w| {
        if gzip {
            let mut e = flate2::write::GzEncoder::new(w, flate2::Compression::new(level.min(9)));
            e.write_all(&header)?;
            raw::write_data(&mut e, volume, Encoding::Raw, 0)?;
            e.finish().map(|_| ())
        } else {
            w.write_all(&header)?;
            raw::write_data(w, volume, Encoding::Raw, 0)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctplan_core::Volume;

    fn f32_geometry(oblique: bool) -> Geometry {
        let c = (0.3f32 as f64).cos();
        let s = (0.3f32 as f64).sin();
        let mut g = Geometry::new([0.5, 0.75, 2.0], [-12.5, 30.25, 7.0]);
        if oblique {
            g.direction = [[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]];
        }
        g
    }

    /// A valid 2×1×1 `.nii` written by the writer, with `patch` applied to its bytes.
    fn patched(dir: &Path, patch: impl Fn(&mut Vec<u8>)) -> std::path::PathBuf {
        let p = dir.join("p.nii");
        let v = Volume::from_vec([2, 1, 1], f32_geometry(false), vec![1u8, 0]).unwrap();
        write(&p, &AnyVolume::U8(v), false, 6).unwrap();
        let mut b = std::fs::read(&p).unwrap();
        patch(&mut b);
        std::fs::write(&p, &b).unwrap();
        p
    }

    fn err(p: &Path) -> String {
        crate::read(p).unwrap_err().to_string()
    }

    #[test]
    fn a_short_file_says_so_in_words() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.nii");
        std::fs::write(&p, b"").unwrap();
        // Before: "... (failed to fill whole buffer)".
        assert!(
            err(&p).ends_with(
                "e.nii: not a NIfTI-1 file: the file is shorter than the 348-byte header"
            ),
            "{}",
            err(&p)
        );
    }

    #[test]
    fn nan_pixdim_is_refused_not_replaced_by_one() {
        let dir = tempfile::tempdir().unwrap();
        let p = patched(dir.path(), |b| {
            b[252..256].fill(0); // qform_code, sform_code = 0: pixdim alone
            b[80..84].copy_from_slice(&f32::NAN.to_le_bytes());
        });
        // Before: the NaN spacing silently became 1 mm.
        assert!(
            err(&p).ends_with("NIfTI pixdim[1] = NaN is not a voxel size (finite and non-zero)"),
            "{}",
            err(&p)
        );
        let p = patched(dir.path(), |b| {
            b[254..256].fill(0); // qform only, pixdim[2] = 0
            b[84..88].fill(0);
        });
        assert!(
            err(&p).contains("NIfTI pixdim[2] = 0 is not a voxel size"),
            "{}",
            err(&p)
        );
    }

    #[test]
    fn singular_or_non_finite_affines_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = patched(dir.path(), |b| {
            for row in [280, 296, 312] {
                let a: Vec<u8> = b[row..row + 4].to_vec();
                b[row + 4..row + 8].copy_from_slice(&a); // axis 2 = axis 1
            }
        });
        assert!(
            err(&p).contains("NIfTI sform (srow_x/y/z) is singular"),
            "{}",
            err(&p)
        );
        let p = patched(dir.path(), |b| {
            b[292..296].copy_from_slice(&f32::INFINITY.to_le_bytes()); // srow_x[3]
        });
        assert!(
            err(&p).contains("NIfTI sform offset (srow_x/y/z[3]) is not finite"),
            "{}",
            err(&p)
        );
        let p = patched(dir.path(), |b| b[42..44].fill(0)); // dim[1]
        assert!(
            err(&p).ends_with("NIfTI dim[1] = 0 is not a size"),
            "{}",
            err(&p)
        );
        let p = patched(dir.path(), |b| {
            b[108..112].copy_from_slice(&f32::NAN.to_le_bytes()); // vox_offset
        });
        assert!(
            err(&p).ends_with("NIfTI vox_offset = NaN is not a byte offset"),
            "{}",
            err(&p)
        );
        // Found by fuzzing: in a .nii.gz, a vox_offset of 1e38 overflowed the offset plus the
        // data size.
        let p = patched(dir.path(), |b| {
            b[108..112].copy_from_slice(&1e38f32.to_le_bytes());
        });
        let gz = dir.path().join("p.nii.gz");
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&std::fs::read(&p).unwrap()).unwrap();
        std::fs::write(&gz, e.finish().unwrap()).unwrap();
        assert!(err(&gz).ends_with("is not a byte offset"), "{}", err(&gz));
    }

    #[test]
    fn round_trip_types_and_compression() {
        let dir = tempfile::tempdir().unwrap();
        for (name, oblique) in [("a.nii", false), ("b.nii.gz", true)] {
            let g = f32_geometry(oblique);
            let mut v: Volume<i16> = Volume::zeros([4, 3, 2], g);
            for (i, x) in v.data.iter_mut().enumerate() {
                *x = i as i16 * 100 - 1000;
            }
            let any = AnyVolume::I16(v);
            let p = dir.path().join(name);
            crate::write(&p, &any, &Default::default()).unwrap();
            let back = crate::read(&p).unwrap().volume;
            assert_eq!(back.dims(), any.dims());
            assert_eq!(back.as_bytes(), any.as_bytes());
            assert!(
                back.geometry().approx_eq(&g, 1e-5),
                "{:?} vs {g:?}",
                back.geometry()
            );
            // Rewriting what was read is exact.
            let p2 = dir.path().join(format!("again-{name}"));
            crate::write(&p2, &back, &Default::default()).unwrap();
            assert_eq!(crate::read(&p2).unwrap().volume, back);
        }
    }

    #[test]
    fn qform_matches_sform() {
        let g = f32_geometry(true);
        let v: Volume<u8> = Volume::zeros([2, 2, 2], g);
        let bytes = header_bytes(&AnyVolume::U8(v));
        let mut h = NiftiHeader::from_reader(&bytes[..348]).unwrap();
        let from_s = geometry_from_header(&h, 3, Path::new("q.nii")).unwrap();
        h.sform_code = 0;
        let from_q = geometry_from_header(&h, 3, Path::new("q.nii")).unwrap();
        assert!(from_s.approx_eq(&from_q, 1e-5), "{from_s:?} vs {from_q:?}");
    }
}
