//! Operations on regions of bins of the map: components, growing, flooding, borders.

/// 4-connected components of a set of bins.
pub(crate) fn components(set: &[bool], n: usize) -> Vec<Vec<usize>> {
    let mut seen = vec![false; n * n];
    let mut out = Vec::new();
    for start in 0..n * n {
        if !set[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        let mut stack = vec![start];
        let mut members = Vec::new();
        while let Some(b) = stack.pop() {
            members.push(b);
            let (iu, iv) = (b % n, b / n);
            for (du, dv) in [(-1i64, 0i64), (1, 0), (0, -1), (0, 1)] {
                let (u, v) = (iu as i64 + du, iv as i64 + dv);
                if u < 0 || v < 0 || u >= n as i64 || v >= n as i64 {
                    continue;
                }
                let nb = u as usize + n * v as usize;
                if set[nb] && !seen[nb] {
                    seen[nb] = true;
                    stack.push(nb);
                }
            }
        }
        out.push(members);
    }
    out
}

/// `defect` grown, through 4-neighbours, over the bins of `more`: the components of both
/// together that hold a defect bin.
pub(crate) fn flooded(defect: &[bool], more: &[bool], n: usize) -> Vec<bool> {
    let both: Vec<bool> = defect.iter().zip(more).map(|(&d, &m)| d || m).collect();
    let mut out = vec![false; n * n];
    for c in components(&both, n) {
        if c.iter().any(|&b| defect[b]) {
            for b in c {
                out[b] = true;
            }
        }
    }
    out
}

/// The fraction of the bins just outside `region` (its 4-neighbours) that hold no bone.
pub(crate) fn open_fraction(region: &[bool], known: &[bool], n: usize) -> f64 {
    let ring = grown(region, n, 1);
    let border = (0..n * n).filter(|&b| ring[b] && !region[b]);
    let (all, open) = border.fold((0usize, 0usize), |(a, o), b| {
        (a + 1, o + usize::from(!known[b]))
    });
    open as f64 / all.max(1) as f64
}

/// `set` grown by `steps` bins (4-neighbourhood).
pub(crate) fn grown(set: &[bool], n: usize, steps: usize) -> Vec<bool> {
    let mut out = set.to_vec();
    for _ in 0..steps {
        let prev = out.clone();
        for b in 0..n * n {
            if !prev[b] && defect_neighbour(&prev, n, b) {
                out[b] = true;
            }
        }
    }
    out
}

pub(crate) fn defect_neighbour(defect: &[bool], n: usize, b: usize) -> bool {
    [b.wrapping_sub(1), b + 1, b.wrapping_sub(n), b + n]
        .iter()
        .any(|&nb| nb < n * n && defect[nb])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_defect_floods_only_the_bins_connected_to_it() {
        // 6 × 6 map: the defect at (1, 1); `more` holds a path (2, 1)–(3, 1)–(3, 2) joined to
        // it and a separate bin (5, 5), which must stay out; diagonal steps do not join.
        let n = 6;
        let at = |u: usize, v: usize| u + n * v;
        let mut defect = vec![false; n * n];
        defect[at(1, 1)] = true;
        let mut more = vec![false; n * n];
        for (u, v) in [(2, 1), (3, 1), (3, 2), (5, 5), (4, 3)] {
            more[at(u, v)] = true;
        }
        let f = flooded(&defect, &more, n);
        let got: Vec<usize> = (0..n * n).filter(|&b| f[b]).collect();
        assert_eq!(got, vec![at(1, 1), at(2, 1), at(3, 1), at(3, 2)]);
        // No wrap-around from the end of one row to the start of the next.
        let mut edge = vec![false; n * n];
        edge[at(5, 0)] = true;
        let mut next_row = vec![false; n * n];
        next_row[at(0, 1)] = true;
        assert_eq!(flooded(&edge, &next_row, n), edge);
    }
}
