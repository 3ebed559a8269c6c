//! NRRD (teem's "nearly raw raster data"), format versions 1–5.
//! Specification: <http://teem.sourceforge.net/nrrd/format.html>.
//!
//! Geometry: `space directions` gives one world vector per array axis (spacing = its norm, kept
//! oblique as it is), `space origin` the centre of the first voxel. `space` may be LPS, RAS or
//! LAS; everything is converted to LPS on reading and written as LPS. Without `space directions`,
//! `spacings` gives an axis-aligned grid; a negative spacing keeps its sign (the axis runs
//! the other way: the direction is flipped and the spacing is its size, as the specification
//! allows), a zero or non-finite one is refused. Singular `space directions` (parallel axes)
//! and non-finite values are refused, each error naming its field.

use std::path::Path;

use ctplan_core::vec3::norm;
use ctplan_core::{AnyVolume, Geometry, ScalarType};

use crate::geom::checked_geometry;
use crate::input::Input;
use crate::raw::{self, Encoding, Layout, Source};
use crate::{IoError, KeyValues, WriteOptions, atomic};

fn parse_type(s: &str) -> Option<ScalarType> {
    Some(match s {
        "signed char" | "int8" | "int8_t" => ScalarType::I8,
        "uchar" | "unsigned char" | "uint8" | "uint8_t" => ScalarType::U8,
        "short" | "short int" | "signed short" | "signed short int" | "int16" | "int16_t" => {
            ScalarType::I16
        }
        "ushort" | "unsigned short" | "unsigned short int" | "uint16" | "uint16_t" => {
            ScalarType::U16
        }
        "int" | "signed int" | "int32" | "int32_t" => ScalarType::I32,
        "uint" | "unsigned int" | "uint32" | "uint32_t" => ScalarType::U32,
        "longlong"
        | "long long"
        | "long long int"
        | "signed long long"
        | "signed long long int"
        | "int64"
        | "int64_t" => ScalarType::I64,
        "ulonglong" | "unsigned long long" | "unsigned long long int" | "uint64" | "uint64_t" => {
            ScalarType::U64
        }
        "float" => ScalarType::F32,
        "double" => ScalarType::F64,
        _ => return None,
    })
}

fn type_name(t: ScalarType) -> &'static str {
    match t {
        ScalarType::U8 => "unsigned char",
        ScalarType::I8 => "signed char",
        ScalarType::U16 => "unsigned short",
        ScalarType::I16 => "short",
        ScalarType::U32 => "unsigned int",
        ScalarType::I32 => "int",
        ScalarType::U64 => "unsigned long long",
        ScalarType::I64 => "long long",
        ScalarType::F32 => "float",
        ScalarType::F64 => "double",
    }
}

/// Parse `(a,b,c)`.
fn parse_vector(s: &str) -> Option<Vec<f64>> {
    let inner = s.trim().strip_prefix('(')?.strip_suffix(')')?;
    inner
        .split(',')
        .map(|t| t.trim().parse::<f64>().ok())
        .collect()
}

/// Parse the `space directions` value: one `(…)` or `none` per axis.
fn parse_directions(s: &str) -> Option<Vec<Option<Vec<f64>>>> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("none") {
            out.push(None);
            rest = r.trim_start();
        } else {
            let end = rest.find(')')? + 1;
            out.push(Some(parse_vector(&rest[..end])?));
            rest = rest[end..].trim_start();
        }
    }
    Some(out)
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('\\') => out.push('\\'),
                Some(o) => {
                    out.push('\\');
                    out.push(o);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

/// The parsed header text.
struct Header {
    fields: Vec<(String, String)>,
    key_values: KeyValues,
    /// Byte offset just after the blank line ending the header, if there was one.
    data_offset: Option<u64>,
}

impl Header {
    fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn read_header(input: &Input) -> Result<Header, IoError> {
    let path = input.path();
    let mut first = true;
    let mut fields = Vec::new();
    let mut key_values = Vec::new();
    let (consumed, ended) = raw::read_text_header(input, "NRRD", |text| {
        if first {
            if !text.starts_with("NRRD000") {
                return Err(IoError::new(
                    path,
                    "not a NRRD file (missing the NRRD000x magic line)",
                ));
            }
            first = false;
            return Ok(false);
        }
        if text.is_empty() {
            return Ok(true);
        }
        if text.starts_with('#') {
            return Ok(false);
        }
        if let Some((k, v)) = text.split_once(":=") {
            key_values.push((unescape(k), unescape(v)));
        } else if let Some((k, v)) = text.split_once(": ") {
            fields.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        } else {
            return Err(IoError::new(
                path,
                format!("malformed NRRD header line: '{text}'"),
            ));
        }
        Ok(false)
    })?;
    if first {
        return Err(IoError::new(path, "empty file (not a NRRD file)"));
    }
    Ok(Header {
        fields,
        key_values,
        data_offset: ended.then_some(consumed),
    })
}

fn field_error(path: &Path, field: &str, value: &str) -> IoError {
    IoError::new(path, format!("invalid NRRD field '{field}: {value}'"))
}

/// A per-axis field must give one value per axis.
fn check_count(path: &Path, field: &str, n: usize, dimension: usize) -> Result<(), IoError> {
    if n == dimension {
        return Ok(());
    }
    Err(IoError::new(
        path,
        format!("NRRD '{field}' has {n} values for dimension {dimension}"),
    ))
}

/// Parse the header and open the voxel data.
pub fn open(input: &Input) -> Result<Source, IoError> {
    let path = input.path();
    let h = read_header(input)?;
    let need = |name: &str| {
        h.get(name).ok_or_else(|| {
            IoError::new(
                path,
                format!("NRRD header lacks the required field '{name}'"),
            )
        })
    };
    let type_str = need("type")?;
    let stype = parse_type(type_str)
        .ok_or_else(|| IoError::new(path, format!("unsupported NRRD type '{type_str}'")))?;
    let dim_str = need("dimension")?;
    let dimension: usize = dim_str
        .parse()
        .map_err(|_| field_error(path, "dimension", dim_str))?;
    if !(dimension == 2 || dimension == 3) {
        return Err(IoError::new(
            path,
            format!("NRRD dimension {dimension} is not supported (2-D or 3-D scalar volumes only)"),
        ));
    }
    let sizes_str = need("sizes")?;
    let sizes: Vec<usize> = sizes_str
        .split_whitespace()
        .map(|t| t.parse::<usize>().ok().filter(|&v| v > 0))
        .collect::<Option<_>>()
        .ok_or_else(|| field_error(path, "sizes", sizes_str))?;
    check_count(path, "sizes", sizes.len(), dimension)?;
    let dims = [sizes[0], sizes[1], sizes.get(2).copied().unwrap_or(1)];
    let encoding = match need("encoding")? {
        "raw" => Encoding::Raw,
        "gzip" | "gz" => Encoding::Gzip,
        "ascii" | "text" | "txt" => Encoding::Ascii,
        other => {
            return Err(IoError::new(
                path,
                format!("unsupported NRRD encoding '{other}'"),
            ));
        }
    };
    let big_endian = match h.get("endian") {
        Some("big") => true,
        Some("little") | None => false,
        Some(o) => return Err(field_error(path, "endian", o)),
    };
    if stype.size() > 1 && encoding != Encoding::Ascii && h.get("endian").is_none() {
        return Err(IoError::new(
            path,
            "NRRD header lacks 'endian' for multi-byte data",
        ));
    }
    let geometry = parse_geometry(&h, dimension, path)?;

    // Where the voxel data is.
    let (data_path, mut offset, line_skip) = match h.get("data file").or(h.get("datafile")) {
        Some(df) => {
            if df.starts_with("LIST") || df.split_whitespace().count() > 1 {
                return Err(IoError::new(
                    path,
                    format!("multi-file NRRD data ('data file: {df}') is not supported"),
                ));
            }
            (input.beside(df)?, 0u64, 0usize)
        }
        None => {
            let off = h.data_offset.ok_or_else(|| {
                IoError::new(
                    path,
                    "NRRD header has no blank line before data and no 'data file' (no voxel data)",
                )
            })?;
            (input.clone(), off, 0)
        }
    };
    let line_skip = match h.get("line skip").or(h.get("lineskip")) {
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| field_error(path, "line skip", v))?,
        None => line_skip,
    };
    let layout = Layout {
        dims,
        geometry,
        stype,
        big_endian,
        encoding,
        scaling: None,
    };
    if let Some(v) = h.get("byte skip").or(h.get("byteskip")) {
        let skip: i64 = v.parse().map_err(|_| field_error(path, "byte skip", v))?;
        match (skip, encoding) {
            (0, _) => {}
            (-1, Encoding::Raw) => {
                let len = data_path
                    .len("open data file")
                    .map_err(|e| crate::input::in_data_file(e, path))?;
                let needed = raw::checked_bytes(dims, stype, path)?;
                offset = len.checked_sub(needed).ok_or_else(|| {
                    IoError::new(
                        data_path.path(),
                        format!("file is truncated: the header needs {needed} bytes of voxel data"),
                    )
                })?;
            }
            (s, Encoding::Raw) if s > 0 => offset += s as u64,
            _ => {
                return Err(IoError::new(
                    path,
                    format!("'byte skip: {v}' is only supported for raw encoding"),
                ));
            }
        }
    }
    let reader = raw::open_data(&data_path, offset, line_skip, &layout)
        .map_err(|e| crate::input::in_data_file(e, path))?;
    Ok(Source {
        layout,
        reader,
        key_values: h.key_values,
    })
}

fn parse_geometry(h: &Header, dimension: usize, path: &Path) -> Result<Geometry, IoError> {
    // Sign flips that take the header's space to LPS.
    let flip = match h.get("space").map(|s| s.to_ascii_lowercase()) {
        None => [1.0, 1.0, 1.0],
        Some(s) => match s.as_str() {
            "left-posterior-superior" | "lps" | "scanner-xyz" | "3d-right-handed" => {
                [1.0, 1.0, 1.0]
            }
            "right-anterior-superior" | "ras" => [-1.0, -1.0, 1.0],
            "left-anterior-superior" | "las" => [1.0, -1.0, 1.0],
            other => {
                return Err(IoError::new(
                    path,
                    format!("unsupported NRRD space '{other}'"),
                ));
            }
        },
    };
    if let Some(sd) = h.get("space directions") {
        let dirs = parse_directions(sd).ok_or_else(|| field_error(path, "space directions", sd))?;
        let dirs: Vec<Vec<f64>> = dirs.into_iter().flatten().collect();
        if dirs.len() != dimension || dirs.iter().any(|d| d.len() != 3) {
            return Err(IoError::new(
                path,
                format!("NRRD 'space directions' must give {dimension} 3-vectors: '{sd}'"),
            ));
        }
        let mut axes = [[0.0; 3]; 3];
        for (a, d) in dirs.iter().enumerate() {
            for r in 0..3 {
                axes[a][r] = d[r] * flip[r];
            }
        }
        if dimension == 2 {
            // The slice normal, 1 mm long.
            let (u, v) = (axes[0], axes[1]);
            let c = [
                u[1] * v[2] - u[2] * v[1],
                u[2] * v[0] - u[0] * v[2],
                u[0] * v[1] - u[1] * v[0],
            ];
            let n = norm(c);
            axes[2] = if n > 0.0 {
                c.map(|x| x / n)
            } else {
                [0.0, 0.0, 1.0]
            };
        }
        let mut origin = [0.0; 3];
        if let Some(o) = h.get("space origin") {
            let v = parse_vector(o)
                .filter(|v| v.len() == 3)
                .ok_or_else(|| field_error(path, "space origin", o))?;
            for r in 0..3 {
                origin[r] = v[r] * flip[r];
            }
        }
        return checked_geometry(
            path,
            "NRRD 'space directions'",
            axes,
            "NRRD 'space origin'",
            origin,
        );
    }
    // Without a world space, `spacings` scales the index axes. A negative spacing keeps its
    // sign: the axis runs the other way (the direction is flipped, the spacing is its size).
    let mut axes = ctplan_core::geometry::IDENTITY;
    if let Some(s) = h.get("spacings") {
        let values: Vec<&str> = s.split_whitespace().collect();
        check_count(path, "spacings", values.len(), dimension)?;
        for (a, t) in values.iter().enumerate() {
            let v: f64 = t.parse().map_err(|_| field_error(path, "spacings", s))?;
            if !v.is_finite() || v == 0.0 {
                return Err(IoError::new(
                    path,
                    format!(
                        "NRRD 'spacings' value '{t}' of axis {} is not a voxel size (finite and non-zero)",
                        a + 1
                    ),
                ));
            }
            axes[a][a] = v;
        }
    }
    checked_geometry(
        path,
        "NRRD 'spacings'",
        axes,
        "NRRD 'space origin'",
        [0.0; 3],
    )
}

fn fmt_vec(v: [f64; 3]) -> String {
    format!("({},{},{})", v[0], v[1], v[2])
}

/// The header text for `volume`.
fn header_text(
    volume: &AnyVolume,
    encoding: &str,
    data_file: Option<&str>,
    kv: &KeyValues,
) -> String {
    let g = volume.geometry();
    let d = volume.dims();
    let axes = g.axis_vectors();
    let mut s = String::from("NRRD0005\n");
    s += "# Complete NRRD file format specification at:\n";
    s += "# http://teem.sourceforge.net/nrrd/format.html\n";
    s += &format!("type: {}\n", type_name(volume.scalar_type()));
    s += "dimension: 3\n";
    s += "space: left-posterior-superior\n";
    s += &format!("sizes: {} {} {}\n", d[0], d[1], d[2]);
    s += &format!(
        "space directions: {} {} {}\n",
        fmt_vec(axes[0]),
        fmt_vec(axes[1]),
        fmt_vec(axes[2])
    );
    s += "kinds: domain domain domain\n";
    s += if cfg!(target_endian = "big") {
        "endian: big\n"
    } else {
        "endian: little\n"
    };
    s += &format!("encoding: {encoding}\n");
    s += &format!("space origin: {}\n", fmt_vec(g.origin));
    if let Some(df) = data_file {
        s += &format!("data file: {df}\n");
    }
    for (k, v) in kv {
        s += &format!("{}:={}\n", escape(k), escape(v));
    }
    s
}

/// Write a NRRD file (attached `.nrrd`, or `.nhdr` with a `.raw[.gz]` data file beside it).
pub fn write(
    path: &Path,
    volume: &AnyVolume,
    opts: &WriteOptions,
    detached: bool,
) -> Result<(), IoError> {
    let (enc, enc_name) = if opts.compress {
        (Encoding::Gzip, "gzip")
    } else {
        (Encoding::Raw, "raw")
    };
    if detached {
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "data".into());
        let data_name = format!("{stem}.raw{}", if opts.compress { ".gz" } else { "" });
        let data_path = path.with_file_name(&data_name);
        atomic::write_file(&data_path, |w| raw::write_data(w, volume, enc, opts.level))?;
        let text = header_text(volume, enc_name, Some(&data_name), &opts.key_values);
        atomic::write_file(path, |w| w.write_all(text.as_bytes()))
    } else {
        let text = header_text(volume, enc_name, None, &opts.key_values);
        atomic::write_file(path, |w| {
            w.write_all(text.as_bytes())?;
            w.write_all(b"\n")?;
            raw::write_data(w, volume, enc, opts.level)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctplan_core::Volume;

    // The literals are SkullFix case 000's header text, digit for digit.
    #[allow(clippy::excessive_precision)]
    fn oblique_volume() -> Volume<i32> {
        let g = Geometry::from_axis_vectors(
            [
                [0.45117199999999991, 0.0, 0.0],
                [0.0, 0.445617352660377, -0.07057866952526852],
                [0.0, 0.099022671809384913, 0.62520618710809539],
            ],
            [-120.20000000000002, -127.8461171845037, -10.215863564566289],
        )
        .unwrap();
        let mut v: Volume<i32> = Volume::zeros([7, 5, 3], g);
        for (i, x) in v.data.iter_mut().enumerate() {
            *x = (i as i32 * 7919) % 1000 - 500;
        }
        v
    }

    fn read_text(text: &str) -> Result<crate::Image, crate::IoError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("h.nrrd");
        std::fs::write(&p, text).unwrap();
        crate::read(&p)
    }

    const HEAD: &str = "NRRD0004\ntype: uchar\ndimension: 3\nsizes: 2 1 1\nencoding: raw\n";

    #[test]
    fn singular_directions_and_bad_origin_name_their_field() {
        // Before: parallel axes were accepted and written on.
        let e = read_text(&format!(
            "{HEAD}space: lps\nspace directions: (1,0,0) (2,0,0) (0,0,1)\n\n\x01\x00"
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("NRRD 'space directions' is singular"), "{e}");
        // Before: an inf origin was blamed on 'space directions'.
        let e = read_text(&format!("{HEAD}space: lps\nspace directions: (1,0,0) (0,1,0) (0,0,1)\nspace origin: (inf,0,0)\n\n\x01\x00"))
            .unwrap_err()
            .to_string();
        assert!(
            e.ends_with("NRRD 'space origin' is not finite: (inf, 0, 0)"),
            "{e}"
        );
        let e = read_text(&format!(
            "{HEAD}space: lps\nspace directions: (1,0,0) (0,nan,0) (0,0,1)\n\n\x01\x00"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            e.ends_with("NRRD 'space directions': axis 2 is not finite: (0, NaN, 0)"),
            "{e}"
        );
    }

    #[test]
    fn negative_spacing_keeps_its_sign_and_nan_is_refused() {
        let img = read_text(&format!("{HEAD}spacings: -1 2 3\n\n\x01\x00")).unwrap();
        let g = img.volume.geometry();
        // Before: the sign was dropped and the axis ran the wrong way.
        assert_eq!(g.spacing, [1.0, 2.0, 3.0]);
        assert_eq!(g.direction[0][0], -1.0);
        assert_eq!(g.index_to_world([1.0, 0.0, 0.0]), [-1.0, 0.0, 0.0]);
        for bad in ["nan 1 1", "0 1 1", "1 1"] {
            let e = read_text(&format!("{HEAD}spacings: {bad}\n\n\x01\x00")).unwrap_err();
            assert!(e.to_string().contains("NRRD 'spacings'"), "{e}");
        }
    }

    #[test]
    fn ascii_sizes_are_checked_against_the_text_and_line_skip_ends() {
        let t = std::time::Instant::now();
        let e = read_text("NRRD0004\ntype: double\ndimension: 3\nsizes: 1000 1000 1000\nencoding: ascii\n\n1 2 3\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("ascii values"), "{e}");
        let e = read_text(&format!("{HEAD}line skip: 1000000000000\n\n\x01\x00")).unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
        assert!(t.elapsed().as_secs() < 2);
    }

    #[test]
    fn parse_directions_with_none() {
        let d = parse_directions("none (1,0,0) (0, 2.5,0) (0,0,-1e-3)").unwrap();
        assert_eq!(d.len(), 4);
        assert!(d[0].is_none());
        assert_eq!(d[2].as_ref().unwrap()[1], 2.5);
    }

    #[test]
    fn round_trip_all_encodings_bit_exact() {
        let dir = tempfile::tempdir().unwrap();
        let v = AnyVolume::I32(oblique_volume());
        for (name, compress) in [
            ("a.nrrd", true),
            ("b.nrrd", false),
            ("c.nhdr", true),
            ("d.nhdr", false),
        ] {
            let p = dir.path().join(name);
            let opts = WriteOptions {
                compress,
                key_values: vec![("note".into(), "two\nlines".into())],
                ..Default::default()
            };
            crate::write(&p, &v, &opts).unwrap();
            let back = crate::read(&p).unwrap();
            assert_eq!(back.volume, v, "{name}");
            assert_eq!(back.key_values, opts.key_values);
        }
    }

    #[test]
    fn ras_space_is_converted_to_lps() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ras.nrrd");
        let text = "NRRD0004\ntype: uchar\ndimension: 3\nspace: right-anterior-superior\nsizes: 2 1 1\nspace directions: (-0.5,0,0) (0,-0.5,0) (0,0,2)\nspace origin: (10,20,30)\nencoding: raw\n\n\x01\x00";
        std::fs::write(&p, text).unwrap();
        let img = crate::read(&p).unwrap();
        let g = img.volume.geometry();
        assert_eq!(g.origin, [-10.0, -20.0, 30.0]);
        assert_eq!(g.direction[0][0], 1.0);
        assert_eq!(g.spacing, [0.5, 0.5, 2.0]);
    }

    #[test]
    fn ascii_and_big_endian_and_spacings() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.nrrd");
        std::fs::write(&p, "NRRD0001\ntype: short\ndimension: 3\nsizes: 2 2 1\nspacings: 0.5 0.7 3\nencoding: ascii\n\n1 -2\n3 400\n").unwrap();
        match crate::read(&p).unwrap().volume {
            AnyVolume::I16(v) => {
                assert_eq!(v.data, vec![1, -2, 3, 400]);
                assert_eq!(v.geometry.spacing, [0.5, 0.7, 3.0]);
            }
            other => panic!("{other:?}"),
        }
        let mut bytes =
            b"NRRD0004\ntype: ushort\ndimension: 3\nsizes: 2 1 1\nendian: big\nencoding: raw\n\n"
                .to_vec();
        bytes.extend_from_slice(&[0x01, 0x02, 0x00, 0x03]);
        std::fs::write(&p, bytes).unwrap();
        match crate::read(&p).unwrap().volume {
            AnyVolume::U16(v) => assert_eq!(v.data, vec![0x0102, 0x0003]),
            other => panic!("{other:?}"),
        }
    }
}
