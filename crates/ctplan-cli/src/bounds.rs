//! Bounds of the numeric options, checked when the command line is parsed: a value out of
//! range is refused with clap's one-line error naming the option (`error: invalid value 'nan'
//! for '--fev1 <FEV1>': nan is not a number in 0.1..=10`). Limits are generous for real use;
//! they exist so that no option can make a command run or allocate without bound.

/// A finite number in `lo..=hi`.
fn finite_in(s: &str, lo: f64, hi: f64) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && (lo..=hi).contains(&v) => Ok(v),
        _ => Err(format!("{s} is not a number in {lo}..={hi}")),
    }
}

/// `--fev1`: litres, 0.1..=10.
pub fn fev1(s: &str) -> Result<f64, String> {
    finite_in(s, 0.1, 10.0)
}

/// `--margin-k`: a multiple of the nodule's diameter, 0..=10.
pub fn margin_k(s: &str) -> Result<f64, String> {
    finite_in(s, 0.0, 10.0)
}

/// `--margin-mm`: 0..=200 mm.
pub fn margin_mm(s: &str) -> Result<f64, String> {
    finite_in(s, 0.0, 200.0)
}

/// `--threshold`: Hounsfield units, -32768..=65535 (any CT's stored range).
pub fn hu(s: &str) -> Result<f64, String> {
    finite_in(s, -32768.0, 65535.0)
}

/// `--fill-ml`: 0..=10000 mL.
pub fn fill_ml(s: &str) -> Result<f64, String> {
    finite_in(s, 0.0, 10000.0)
}

/// `--band`: 0..=1000 (mm or voxels).
pub fn band(s: &str) -> Result<f64, String> {
    finite_in(s, 0.0, 1000.0)
}

/// `--decimate`: a fraction in (0, 1].
pub fn fraction(s: &str) -> Result<f64, String> {
    match finite_in(s, 0.0, 1.0) {
        Ok(v) if v > 0.0 => Ok(v),
        _ => Err(format!("{s} is not a number in (0, 1]")),
    }
}

/// Largest coordinate of a `--resect` point, in mm from the scanner's origin.
pub const MAX_COORD_MM: f64 = 100_000.0;

/// A point `x,y,z` of `--resect`: `None` when `s` is not three numbers; an error when it is
/// three numbers but one is not finite or beyond ±[`MAX_COORD_MM`].
pub fn point(s: &str) -> Result<Option<[f64; 3]>, String> {
    let parts: Vec<&str> = s.split(',').collect();
    if parts.len() != 3 {
        return Ok(None);
    }
    let mut p = [0.0; 3];
    for (c, t) in p.iter_mut().zip(&parts) {
        match t.trim().parse::<f64>() {
            Ok(v) => *c = v,
            Err(_) => return Ok(None),
        }
    }
    if p.iter()
        .any(|v| !(v.is_finite() && v.abs() <= MAX_COORD_MM))
    {
        return Err(format!(
            "--resect {s:?}: a point needs three finite coordinates within ±{MAX_COORD_MM} mm"
        ));
    }
    Ok(Some(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_infinite_negative_and_huge_values_are_refused() {
        for bad in ["nan", "NaN", "inf", "-1", "1e9", "x", ""] {
            assert!(fev1(bad).is_err(), "{bad}");
        }
        assert_eq!(fev1("2.5"), Ok(2.5));
        assert_eq!(margin_k("-1").unwrap_err(), "-1 is not a number in 0..=10");
        assert!(fraction("0").is_err() && fraction("1").is_ok());
    }

    #[test]
    fn points_need_finite_coordinates() {
        assert_eq!(point("1,2,3"), Ok(Some([1.0, 2.0, 3.0])));
        assert_eq!(point("RB3"), Ok(None));
        assert!(point("nan,1,2").is_err());
        assert!(point("1,inf,2").is_err());
        assert!(point("1,2,1e300").is_err());
    }
}
