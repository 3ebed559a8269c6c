//! A small dense linear solver, for the least-squares fits and thin-plate splines of the
//! planning code (systems of a few hundred unknowns at most).

/// Solve the dense `k × k` system `a x = y` (`a` row-major) by Gaussian elimination with
/// partial pivoting (Golub & Van Loan, *Matrix Computations*, 4th ed., §3.4); `None` if a
/// pivot falls below `tol` in magnitude (a singular or near-singular system) or the sizes do
/// not match.
///
/// ```
/// use ctplan_core::linalg::solve;
/// // 2x + y = 5, x + 3y = 10  →  x = 1, y = 3
/// let x = solve(vec![2.0, 1.0, 1.0, 3.0], vec![5.0, 10.0], 2, 1e-12).unwrap();
/// assert!((x[0] - 1.0).abs() < 1e-12 && (x[1] - 3.0).abs() < 1e-12);
/// assert!(solve(vec![1.0, 2.0, 2.0, 4.0], vec![1.0, 2.0], 2, 1e-12).is_none());
/// ```
pub fn solve(mut a: Vec<f64>, mut y: Vec<f64>, k: usize, tol: f64) -> Option<Vec<f64>> {
    if a.len() != k * k || y.len() != k {
        return None;
    }
    for c in 0..k {
        let p = (c..k).max_by(|&i, &j| a[i * k + c].abs().total_cmp(&a[j * k + c].abs()))?;
        if a[p * k + c].abs() < tol {
            return None;
        }
        for q in 0..k {
            a.swap(c * k + q, p * k + q);
        }
        y.swap(c, p);
        for r in c + 1..k {
            let f = a[r * k + c] / a[c * k + c];
            for q in c..k {
                a[r * k + q] -= f * a[c * k + q];
            }
            y[r] -= f * y[c];
        }
    }
    let mut x = vec![0.0; k];
    for c in (0..k).rev() {
        x[c] = (y[c] - (c + 1..k).map(|q| a[c * k + q] * x[q]).sum::<f64>()) / a[c * k + c];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solves_a_system_that_needs_pivoting() {
        // The first pivot is zero: without row exchanges elimination would divide by it.
        let a = vec![0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0];
        let x = solve(a, vec![5.0, 4.0, 3.0], 3, 1e-12).unwrap();
        for (got, want) in x.iter().zip([1.0, 2.0, 3.0]) {
            assert!((got - want).abs() < 1e-12);
        }
    }

    #[test]
    fn refuses_mismatched_sizes() {
        assert!(solve(vec![1.0; 4], vec![1.0; 3], 2, 1e-12).is_none());
    }
}
