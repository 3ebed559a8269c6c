//! The matrix product of the networks' convolutions.

/// `c = a · b` (or `c += a · b` with `accumulate`) for `[m, k, n] = mkn`: `a`'s element
/// (i, p) at `a[i · ra[0] + p · ra[1]]`, `b`'s (p, j) at `b[p · rb + j]`, `c` row-major m × n.
/// The strides are checked against the slices, so the product reads and writes inside them.
pub(crate) fn gemm(
    mkn: [usize; 3],
    a: &[f32],
    ra: [usize; 2],
    b: &[f32],
    rb: usize,
    accumulate: bool,
    c: &mut [f32],
) {
    let [m, k, n] = mkn;
    assert!(m > 0 && k > 0 && n > 0);
    assert!((m - 1) * ra[0] + (k - 1) * ra[1] < a.len(), "a's strides");
    assert!((k - 1) * rb + n <= b.len(), "b's rows");
    assert!(m * n <= c.len(), "c's size");
    // SAFETY: the assertions above keep every element the product touches inside the slices.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            ra[0] as isize,
            ra[1] as isize,
            b.as_ptr(),
            rb as isize,
            1,
            if accumulate { 1.0 } else { 0.0 },
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}
