//! The safetensors reader of the networks (F32, or F16 widened to f32).
//!
//! A user can pass weights of their own, so every count in the header is checked: shapes and
//! offsets must be integers, a shape's byte size must not overflow and must equal the bytes its
//! offsets give, and those must lie inside the file.

use std::collections::HashMap;

/// Why a network could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// Not a safetensors file (why).
    #[error("not a safetensors file: {0}")]
    Format(String),
    /// A tensor the network needs is missing.
    #[error("tensor `{0}` is missing")]
    Missing(String),
    #[error(
        "tensor `{name}` has shape {}, expected {}",
        shape_text(got),
        shape_text(want)
    )]
    /// A tensor has the wrong shape.
    Shape {
        /// The tensor.
        name: String,
        /// Its shape.
        got: Vec<usize>,
        /// The shape the network needs.
        want: Vec<usize>,
    },
}

/// A shape in words: `3×4×5` (`scalar` for no dimension).
pub(crate) fn shape_text(s: &[usize]) -> String {
    if s.is_empty() {
        return "scalar".into();
    }
    s.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("×")
}

/// The non-negative integers of a JSON array field, `None` when it is missing or holds
/// anything else.
fn usizes(v: &serde_json::Value) -> Option<Vec<usize>> {
    v.as_array()?
        .iter()
        .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
        .collect()
}

/// The tensors of a safetensors file (F32, or F16 widened to f32) by name, with its metadata.
pub(crate) fn read_safetensors(
    bytes: &[u8],
) -> Result<(Tensors, HashMap<String, String>), NetError> {
    let fmt = |m: &str| NetError::Format(m.to_string());
    if bytes.len() < 8 {
        return Err(fmt("shorter than its header length"));
    }
    let hlen = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = bytes
        .get(8..8usize.saturating_add(hlen))
        .ok_or_else(|| fmt("header runs past the end"))?;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(header).map_err(|e| NetError::Format(e.to_string()))?;
    let data = &bytes[8 + hlen..];
    let mut metadata = HashMap::new();
    let mut tensors: Tensors = HashMap::new();
    for (name, v) in &header {
        if name == "__metadata__" {
            for (k, val) in v.as_object().into_iter().flatten() {
                metadata.insert(k.clone(), val.as_str().unwrap_or_default().to_string());
            }
            continue;
        }
        let width = match v["dtype"].as_str().unwrap_or_default() {
            "F32" => 4,
            "F16" => 2,
            dtype => {
                return Err(NetError::Format(format!(
                    "tensor `{name}` is {dtype}, not F32 or F16"
                )));
            }
        };
        let shape = usizes(&v["shape"])
            .ok_or_else(|| NetError::Format(format!("tensor `{name}` has a bad shape")))?;
        let Some(&[s, e]) = usizes(&v["data_offsets"]).as_deref() else {
            return Err(NetError::Format(format!("tensor `{name}` has bad offsets")));
        };
        // The byte size its shape claims, refused on overflow before anything is compared.
        let bytes = shape
            .iter()
            .try_fold(width as usize, |acc: usize, &d| acc.checked_mul(d))
            .ok_or_else(|| {
                NetError::Format(format!(
                    "tensor `{name}` has shape {}, too large",
                    shape_text(&shape)
                ))
            })?;
        let raw = data
            .get(s..e)
            .ok_or_else(|| NetError::Format(format!("tensor `{name}` runs past the end")))?;
        if raw.len() != bytes {
            return Err(NetError::Format(format!(
                "tensor `{name}` has {} bytes of data, its shape {} needs {bytes}",
                raw.len(),
                shape_text(&shape)
            )));
        }
        let vals = if width == 4 {
            raw.chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect()
        } else {
            raw.chunks_exact(2)
                .map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]])))
                .collect()
        };
        tensors.insert(name.clone(), (shape, vals));
    }
    Ok((tensors, metadata))
}

/// An IEEE 754 half-precision value as f32 (exact: every f16 is an f32).
fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = match (exp, frac) {
        (0, 0) => sign,
        // subnormal: frac · 2^-24
        (0, f) => {
            return f32::from_bits(sign)
                + (if sign != 0 { -1.0 } else { 1.0 }) * f as f32 * 2f32.powi(-24);
        }
        (0x1f, f) => sign | 0x7f80_0000 | (f << 13),
        (e, f) => sign | ((e + 127 - 15) << 23) | (f << 13),
    };
    f32::from_bits(bits)
}

/// Tensors by name: shape and values.
pub(crate) type Tensors = HashMap<String, (Vec<usize>, Vec<f32>)>;

/// The values of tensor `name`, taken out of `t`, if it has the shape `want`.
pub(crate) fn take_tensor(
    t: &mut Tensors,
    name: &str,
    want: &[usize],
) -> Result<Vec<f32>, NetError> {
    let (got, v) = t
        .remove(name)
        .ok_or_else(|| NetError::Missing(name.to_string()))?;
    if got != want {
        return Err(NetError::Shape {
            name: name.to_string(),
            got,
            want: want.to_vec(),
        });
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(header: &str, data: &[u8]) -> Vec<u8> {
        let mut b = (header.len() as u64).to_le_bytes().to_vec();
        b.extend_from_slice(header.as_bytes());
        b.extend_from_slice(data);
        b
    }

    #[test]
    fn overflowing_shapes_and_bad_counts_are_errors() {
        // Before: the product of this shape overflowed (a panic with overflow checks, a
        // wrapped size without them).
        let huge =
            r#"{"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,0]}}"#;
        let e = read_safetensors(&file(huge, &[])).unwrap_err().to_string();
        assert_eq!(
            e,
            "not a safetensors file: tensor `a` has shape 4294967296×4294967296×16, too large"
        );
        let neg = r#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#;
        let e = read_safetensors(&file(neg, &[0; 4]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad shape"), "{e}");
        let short = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#;
        let e = read_safetensors(&file(short, &[0; 4]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("has 4 bytes of data, its shape 2 needs 8"),
            "{e}"
        );
        let ok = r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#;
        assert_eq!(
            read_safetensors(&file(ok, &1f32.to_le_bytes())).unwrap().0["a"].1,
            [1.0]
        );
    }
}
