//! A header's grid geometry, checked before anything is computed on it.
//!
//! Every format gives one world vector per array axis (spacing × direction) and an origin. A
//! vector that is not finite or has zero length, an origin that is not finite, or axes that are
//! parallel (a singular direction matrix: the grid is flat, world points have no index) would be
//! carried into every result and written on, so they are refused here, each error naming the
//! header field that holds the bad value.

use std::path::Path;

use ctplan_core::Geometry;
use ctplan_core::vec3::norm;

use crate::IoError;

/// The smallest |determinant| of the unit axis vectors accepted: below it the axes are
/// parallel or nearly so (`1e-3` is a shear of about 89.94°; a real gantry tilt is under 30°).
const MIN_DETERMINANT: f64 = 1e-3;

fn fmt3(v: [f64; 3]) -> String {
    // `+ 0.0` prints -0 as 0.
    format!("({}, {}, {})", v[0] + 0.0, v[1] + 0.0, v[2] + 0.0)
}

/// The geometry of axis vectors `axes` (one per array axis, world mm) and `origin`, or an error
/// naming `axes_field` or `origin_field` (e.g. "NRRD 'space directions'").
pub fn checked_geometry(
    path: &Path,
    axes_field: &str,
    axes: [[f64; 3]; 3],
    origin_field: &str,
    origin: [f64; 3],
) -> Result<Geometry, IoError> {
    for (a, v) in axes.iter().enumerate() {
        let what = if v.iter().any(|x| !x.is_finite()) {
            "is not finite"
        } else if norm(*v) == 0.0 {
            "has zero length"
        } else if !norm(*v).is_finite() {
            "is too long"
        } else {
            continue;
        };
        return Err(IoError::new(
            path,
            format!("{axes_field}: axis {} {what}: {}", a + 1, fmt3(*v)),
        ));
    }
    if origin.iter().any(|x| !x.is_finite()) {
        return Err(IoError::new(
            path,
            format!("{origin_field} is not finite: {}", fmt3(origin)),
        ));
    }
    let g = Geometry::from_axis_vectors(axes, origin)
        .ok_or_else(|| IoError::new(path, format!("{axes_field} is not a valid grid")))?;
    let d = g.direction;
    let det = d[0][0] * (d[1][1] * d[2][2] - d[1][2] * d[2][1])
        - d[0][1] * (d[1][0] * d[2][2] - d[1][2] * d[2][0])
        + d[0][2] * (d[1][0] * d[2][1] - d[1][1] * d[2][0]);
    if det.is_nan() || det.abs() < MIN_DETERMINANT {
        return Err(IoError::new(
            path,
            format!(
                "{axes_field} is singular: the axes {}, {}, {} are parallel or nearly so (a flat grid)",
                fmt3(axes[0]),
                fmt3(axes[1]),
                fmt3(axes[2])
            ),
        ));
    }
    Ok(g)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_bad_part_is_named() {
        let p = Path::new("g.nrrd");
        let id = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 2.0]];
        assert!(checked_geometry(p, "A", id, "O", [0.0; 3]).is_ok());
        let e = checked_geometry(p, "A", id, "O", [0.0, f64::INFINITY, 0.0]).unwrap_err();
        assert_eq!(e.to_string(), "g.nrrd: O is not finite: (0, inf, 0)");
        let mut bad = id;
        bad[1] = [0.0, f64::NAN, 0.0];
        let e = checked_geometry(p, "A", bad, "O", [0.0; 3]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "g.nrrd: A: axis 2 is not finite: (0, NaN, 0)"
        );
        bad[1] = [-0.0; 3];
        let e = checked_geometry(p, "A", bad, "O", [0.0; 3]).unwrap_err();
        assert!(
            e.to_string().ends_with("axis 2 has zero length: (0, 0, 0)"),
            "{e}"
        );
        bad[1] = [2.0, 0.0, 0.0];
        let e = checked_geometry(p, "A", bad, "O", [0.0; 3]).unwrap_err();
        assert!(e.to_string().starts_with("g.nrrd: A is singular"), "{e}");
        // A 30° gantry tilt is a sheared grid, not a singular one.
        bad[2] = [0.0, 0.5, 0.75f64.sqrt()];
        bad[1] = [0.0, 1.0, 0.0];
        assert!(checked_geometry(p, "A", bad, "O", [0.0; 3]).is_ok());
    }
}
