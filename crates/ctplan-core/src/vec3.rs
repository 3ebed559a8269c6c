//! Three-vectors in patient space (LPS millimetres) as plain `[f64; 3]` arrays.
//!
//! One definition of each small operation, used by every crate: [`norm`] is always a *length*
//! and [`unit`] always a *direction*. The arithmetic is written out in one fixed order, so
//! results are bit-for-bit the same wherever they are used.
//!
//! ```
//! use ctplan_core::vec3::{cross, dist, norm, unit};
//! assert_eq!(norm([3.0, 4.0, 0.0]), 5.0);
//! assert_eq!(dist([1.0, 1.0, 1.0], [1.0, 1.0, 3.0]), 2.0);
//! assert_eq!(cross([1.0, 0.0, 0.0], [0.0, 1.0, 0.0]), [0.0, 0.0, 1.0]);
//! assert_eq!(unit([0.0, 0.0, 2.0]), Some([0.0, 0.0, 1.0]));
//! assert_eq!(unit([0.0; 3]), None);
//! ```

/// A point or direction in patient space.
pub type V3 = [f64; 3];

/// `a + b`.
#[inline]
pub fn add(a: V3, b: V3) -> V3 {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

/// `a − b`.
#[inline]
pub fn sub(a: V3, b: V3) -> V3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

/// `a · s`.
#[inline]
pub fn scale(a: V3, s: f64) -> V3 {
    [a[0] * s, a[1] * s, a[2] * s]
}

/// The dot product.
#[inline]
pub fn dot(a: V3, b: V3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// The cross product `a × b` (right-handed).
#[inline]
pub fn cross(a: V3, b: V3) -> V3 {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

/// The Euclidean length `|a|`.
#[inline]
pub fn norm(a: V3) -> f64 {
    dot(a, a).sqrt()
}

/// The Euclidean distance `|a − b|`.
#[inline]
pub fn dist(a: V3, b: V3) -> f64 {
    norm(sub(a, b))
}

/// The direction of `a` (each component divided by the length), or `None` for a zero or
/// non-finite vector, which has no direction.
#[inline]
pub fn unit(a: V3) -> Option<V3> {
    let n = norm(a);
    (n > 0.0 && n.is_finite()).then(|| [a[0] / n, a[1] / n, a[2] / n])
}

/// The matrix–vector product `m v` (row-major `m`).
#[inline]
pub fn mat_vec(m: &[[f64; 3]; 3], v: V3) -> V3 {
    [
        m[0][0] * v[0] + m[0][1] * v[1] + m[0][2] * v[2],
        m[1][0] * v[0] + m[1][1] * v[1] + m[1][2] * v[2],
        m[2][0] * v[0] + m[2][1] * v[1] + m[2][2] * v[2],
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_is_orthogonal_and_right_handed() {
        let (a, b) = ([1.0, 2.0, 3.0], [-2.0, 0.5, 4.0]);
        let c = cross(a, b);
        assert!(dot(a, c).abs() < 1e-12 && dot(b, c).abs() < 1e-12);
        assert_eq!(cross([0.0, 1.0, 0.0], [0.0, 0.0, 1.0]), [1.0, 0.0, 0.0]);
    }

    #[test]
    fn unit_has_length_one_and_refuses_no_direction() {
        let u = unit([3.0, -4.0, 12.0]).unwrap();
        assert!((norm(u) - 1.0).abs() < 1e-15);
        assert_eq!(unit([f64::NAN, 0.0, 0.0]), None);
        assert_eq!(unit([f64::INFINITY, 0.0, 0.0]), None);
    }
}
