//! MetaImage (ITK's `.mha` with LOCAL data, `.mhd` with a detached data file).
//! Reference: <https://itk.org/Wiki/ITK/MetaIO/Documentation>.
//!
//! `TransformMatrix` lists the direction of each array axis in turn (ITK writes
//! `direction[i]` of axis `i`), `Offset` is the first voxel's centre, both in LPS.
//! `CompressedData = True` means a zlib stream. A singular `TransformMatrix` (parallel axes)
//! or a zero `ElementSpacing` is refused.

use std::io::Write;
use std::path::Path;

use ctplan_core::{AnyVolume, ScalarType};

use crate::geom::checked_geometry;
use crate::input::Input;
use crate::raw::{self, Encoding, Layout, Source};
use crate::{IoError, KeyValues, WriteOptions, atomic};

/// Fields this reader interprets (others are kept as key/values).
const KNOWN: &[&str] = &[
    "objecttype",
    "ndims",
    "dimsize",
    "elementtype",
    "elementspacing",
    "offset",
    "origin",
    "position",
    "transformmatrix",
    "rotation",
    "orientation",
    "centerofrotation",
    "anatomicalorientation",
    "binarydata",
    "binarydatabyteordermsb",
    "elementbyteordermsb",
    "compresseddata",
    "compresseddatasize",
    "elementdatafile",
    "headersize",
    "elementnumberofchannels",
    "elementsize",
];

fn element_type(s: &str) -> Option<ScalarType> {
    Some(match s {
        "MET_UCHAR" => ScalarType::U8,
        "MET_CHAR" => ScalarType::I8,
        "MET_USHORT" => ScalarType::U16,
        "MET_SHORT" => ScalarType::I16,
        "MET_UINT" | "MET_ULONG" => ScalarType::U32,
        "MET_INT" | "MET_LONG" => ScalarType::I32,
        "MET_ULONG_LONG" => ScalarType::U64,
        "MET_LONG_LONG" => ScalarType::I64,
        "MET_FLOAT" => ScalarType::F32,
        "MET_DOUBLE" => ScalarType::F64,
        _ => return None,
    })
}

fn element_name(t: ScalarType) -> &'static str {
    match t {
        ScalarType::U8 => "MET_UCHAR",
        ScalarType::I8 => "MET_CHAR",
        ScalarType::U16 => "MET_USHORT",
        ScalarType::I16 => "MET_SHORT",
        ScalarType::U32 => "MET_UINT",
        ScalarType::I32 => "MET_INT",
        ScalarType::U64 => "MET_ULONG_LONG",
        ScalarType::I64 => "MET_LONG_LONG",
        ScalarType::F32 => "MET_FLOAT",
        ScalarType::F64 => "MET_DOUBLE",
    }
}

fn numbers(path: &Path, key: &str, v: &str, n: usize) -> Result<Vec<f64>, IoError> {
    let out: Option<Vec<f64>> = v.split_whitespace().map(|t| t.parse().ok()).collect();
    match out {
        Some(o) if o.len() >= n && o.iter().all(|x: &f64| x.is_finite()) => Ok(o),
        _ => Err(IoError::new(
            path,
            format!("invalid MetaImage field '{key} = {v}' ({n} numbers expected)"),
        )),
    }
}

/// Parse the header and open the voxel data.
pub fn open(input: &Input) -> Result<Source, IoError> {
    let path = input.path();
    let mut fields: Vec<(String, String, String)> = Vec::new(); // (lower key, key, value)
    let mut data_file = None;
    let (consumed, _) = raw::read_text_header(input, "MetaImage", |text| {
        let text = text.trim();
        if text.is_empty() {
            return Ok(false);
        }
        let Some((k, v)) = text.split_once('=') else {
            return Err(IoError::new(
                path,
                format!("malformed MetaImage header line: '{text}'"),
            ));
        };
        let (k, v) = (k.trim(), v.trim());
        if k.eq_ignore_ascii_case("ElementDataFile") {
            data_file = Some(v.to_string());
            return Ok(true);
        }
        fields.push((k.to_ascii_lowercase(), k.to_string(), v.to_string()));
        Ok(false)
    })?;
    let get = |name: &str| fields.iter().find(|f| f.0 == name).map(|f| f.2.as_str());
    let data_file = data_file.ok_or_else(|| {
        IoError::new(
            path,
            "MetaImage header lacks ElementDataFile (not a MetaImage file?)",
        )
    })?;
    let ndims: usize = get("ndims")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| IoError::new(path, "MetaImage header lacks a valid NDims"))?;
    if !(ndims == 2 || ndims == 3) {
        return Err(IoError::new(
            path,
            format!("MetaImage NDims = {ndims} is not supported (2-D or 3-D only)"),
        ));
    }
    if let Some(c) = get("elementnumberofchannels")
        && c.trim() != "1"
    {
        return Err(IoError::new(
            path,
            format!("MetaImage with {c} channels per voxel is not supported"),
        ));
    }
    let ds = get("dimsize").ok_or_else(|| IoError::new(path, "MetaImage header lacks DimSize"))?;
    let sizes: Vec<usize> = ds
        .split_whitespace()
        .map(|t| t.parse::<usize>().ok().filter(|&v| v > 0))
        .collect::<Option<_>>()
        .filter(|v: &Vec<usize>| v.len() == ndims)
        .ok_or_else(|| IoError::new(path, format!("invalid MetaImage field 'DimSize = {ds}'")))?;
    let dims = [sizes[0], sizes[1], sizes.get(2).copied().unwrap_or(1)];
    let et = get("elementtype")
        .ok_or_else(|| IoError::new(path, "MetaImage header lacks ElementType"))?;
    let stype = element_type(et)
        .ok_or_else(|| IoError::new(path, format!("unsupported MetaImage ElementType '{et}'")))?;
    let msb = get("binarydatabyteordermsb")
        .or(get("elementbyteordermsb"))
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let compressed = get("compresseddata").is_some_and(|v| v.eq_ignore_ascii_case("true"));

    let mut spacing = [1.0; 3];
    if let Some(v) = get("elementspacing").or(get("elementsize")) {
        let s = numbers(path, "ElementSpacing", v, ndims)?;
        spacing[..ndims].copy_from_slice(&s[..ndims]);
    }
    let mut origin = [0.0; 3];
    if let Some(v) = get("offset").or(get("origin")).or(get("position")) {
        let o = numbers(path, "Offset", v, ndims)?;
        origin[..ndims].copy_from_slice(&o[..ndims]);
    }
    let mut axes = [[0.0; 3]; 3];
    for a in 0..3 {
        axes[a][a] = spacing[a];
    }
    if let Some(v) = get("transformmatrix")
        .or(get("rotation"))
        .or(get("orientation"))
    {
        let m = numbers(path, "TransformMatrix", v, ndims * ndims)?;
        for a in 0..ndims {
            for r in 0..ndims {
                axes[a][r] = m[a * ndims + r] * spacing[a];
            }
            if ndims == 2 {
                axes[a][2] = 0.0;
            }
        }
    }
    let geometry = checked_geometry(
        path,
        "MetaImage TransformMatrix × ElementSpacing",
        axes,
        "MetaImage Offset",
        origin,
    )?;
    let layout = Layout {
        dims,
        geometry,
        stype,
        big_endian: msb,
        encoding: if compressed {
            Encoding::Zlib
        } else {
            Encoding::Raw
        },
        scaling: None,
    };
    let key_values: KeyValues = fields
        .iter()
        .filter(|f| !KNOWN.contains(&f.0.as_str()))
        .map(|f| (f.1.clone(), f.2.clone()))
        .collect();
    let reader = if data_file == "LOCAL" {
        raw::open_data(input, consumed, 0, &layout)?
    } else if data_file.starts_with("LIST") || data_file.contains('%') {
        return Err(IoError::new(
            path,
            format!("MetaImage ElementDataFile = {data_file} (file lists) is not supported"),
        ));
    } else {
        let dpath = input.beside(&data_file)?;
        let skip = match get("headersize") {
            Some("-1") => {
                let len = dpath
                    .len("open data file")
                    .map_err(|e| crate::input::in_data_file(e, path))?;
                len.saturating_sub(raw::checked_bytes(dims, stype, path)?)
            }
            Some(v) => v.parse().map_err(|_| {
                IoError::new(path, format!("invalid MetaImage field 'HeaderSize = {v}'"))
            })?,
            None => 0,
        };
        raw::open_data(&dpath, skip, 0, &layout).map_err(|e| crate::input::in_data_file(e, path))?
    };
    Ok(Source {
        layout,
        reader,
        key_values,
    })
}

fn header_text(
    volume: &AnyVolume,
    compressed_size: Option<usize>,
    data_file: &str,
    kv: &KeyValues,
) -> String {
    let g = volume.geometry();
    let d = volume.dims();
    let fmt3 = |v: [f64; 3]| format!("{} {} {}", v[0], v[1], v[2]);
    let mut s = String::from("ObjectType = Image\nNDims = 3\nBinaryData = True\n");
    s += &format!(
        "BinaryDataByteOrderMSB = {}\n",
        if cfg!(target_endian = "big") {
            "True"
        } else {
            "False"
        }
    );
    s += &format!(
        "CompressedData = {}\n",
        if compressed_size.is_some() {
            "True"
        } else {
            "False"
        }
    );
    if let Some(n) = compressed_size {
        s += &format!("CompressedDataSize = {n}\n");
    }
    let m = g.direction;
    s += &format!(
        "TransformMatrix = {} {} {} {} {} {} {} {} {}\n",
        m[0][0], m[1][0], m[2][0], m[0][1], m[1][1], m[2][1], m[0][2], m[1][2], m[2][2]
    );
    s += &format!("Offset = {}\n", fmt3(g.origin));
    s += "CenterOfRotation = 0 0 0\nAnatomicalOrientation = RAI\n";
    s += &format!("ElementSpacing = {}\n", fmt3(g.spacing));
    s += &format!("DimSize = {} {} {}\n", d[0], d[1], d[2]);
    for (k, v) in kv {
        s += &format!(
            "{} = {}\n",
            k.replace(['=', '\n'], "_"),
            v.replace('\n', " ")
        );
    }
    s += &format!("ElementType = {}\n", element_name(volume.scalar_type()));
    s += &format!("ElementDataFile = {data_file}\n");
    s
}

/// Write a MetaImage file (`.mha` with the data inside, or `.mhd` + `.raw`/`.zraw`).
pub fn write(
    path: &Path,
    volume: &AnyVolume,
    opts: &WriteOptions,
    detached: bool,
) -> Result<(), IoError> {
    let data = if opts.compress {
        let mut buf = Vec::new();
        raw::write_data(&mut buf, volume, Encoding::Zlib, opts.level)
            .map_err(|e| IoError::with_source(path, format!("cannot compress: {e}"), e))?;
        Some(buf)
    } else {
        None
    };
    let csize = data.as_ref().map(|d| d.len());
    let write_data = |w: &mut dyn Write| match &data {
        Some(d) => w.write_all(d),
        None => w.write_all(volume.as_bytes()),
    };
    if detached {
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "data".into());
        let data_name = format!("{stem}.{}", if opts.compress { "zraw" } else { "raw" });
        atomic::write_file(&path.with_file_name(&data_name), write_data)?;
        let text = header_text(volume, csize, &data_name, &opts.key_values);
        atomic::write_file(path, |w| w.write_all(text.as_bytes()))
    } else {
        let text = header_text(volume, csize, "LOCAL", &opts.key_values);
        atomic::write_file(path, |w| {
            w.write_all(text.as_bytes())?;
            write_data(w)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctplan_core::{Geometry, Volume};

    #[test]
    fn singular_transform_matrix_and_zero_spacing_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.mha");
        let head = "NDims = 3\nDimSize = 1 1 1\nElementType = MET_UCHAR\n";
        // Before: the singular matrix was accepted and written on.
        std::fs::write(
            &p,
            format!("{head}TransformMatrix = 1 0 0 1 0 0 0 0 1\nElementDataFile = LOCAL\n\x01"),
        )
        .unwrap();
        let e = crate::read(&p).unwrap_err().to_string();
        assert!(
            e.contains("MetaImage TransformMatrix × ElementSpacing is singular"),
            "{e}"
        );
        std::fs::write(
            &p,
            format!("{head}ElementSpacing = 1 0 1\nElementDataFile = LOCAL\n\x01"),
        )
        .unwrap();
        let e = crate::read(&p).unwrap_err().to_string();
        assert!(e.contains("axis 2 has zero length"), "{e}");
    }

    #[test]
    fn round_trip_bit_exact() {
        let dir = tempfile::tempdir().unwrap();
        let g = Geometry::from_axis_vectors(
            [[0.7, 0.0, 0.0], [0.0, 0.69, 0.12], [0.0, -0.2, 1.25]],
            [1.0 / 3.0, -200.125, 55.5],
        )
        .unwrap();
        let mut v: Volume<f32> = Volume::zeros([5, 4, 3], g);
        for (i, x) in v.data.iter_mut().enumerate() {
            *x = i as f32 * 0.1 - 2.0;
        }
        let any = AnyVolume::F32(v);
        for (name, compress) in [
            ("a.mha", true),
            ("b.mha", false),
            ("c.mhd", true),
            ("d.mhd", false),
        ] {
            let p = dir.path().join(name);
            let opts = WriteOptions {
                compress,
                key_values: vec![("Modality".into(), "MET_MOD_CT".into())],
                ..Default::default()
            };
            crate::write(&p, &any, &opts).unwrap();
            let back = crate::read(&p).unwrap();
            assert_eq!(back.volume, any, "{name}");
            assert_eq!(back.key_values, opts.key_values);
        }
    }
}
