//! Plain-text tables for the terminal: the shape every report of this crate prints in, kept in
//! one place so that the evaluation and the ranking tables line up the same way.

/// Format rows as a left-aligned first column and right-aligned others.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let cols = header.len();
    let mut width: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (c, cell) in r.iter().enumerate().take(cols) {
            width[c] = width[c].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let mut s = String::new();
        for (c, cell) in cells.iter().enumerate() {
            if c == 0 {
                s += &format!("{:<w$}", cell, w = width[0]);
            } else {
                s += &format!("  {:>w$}", cell, w = width[c]);
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(header.to_vec());
    out += &line(
        width
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .iter()
            .map(|s| s.as_str())
            .collect(),
    );
    for r in rows {
        out += &line(r.iter().map(|s| s.as_str()).collect());
    }
    out
}

/// A number with `d` decimals, or "-" when absent.
pub fn num(v: Option<f64>, d: usize) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.d$}"),
        Some(x) => format!("{x}"),
        None => "-".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_column_left_others_right_aligned() {
        let t = render(
            &["case", "DSC"],
            &[
                vec!["a".into(), "0.5".into()],
                vec!["long".into(), "1".into()],
            ],
        );
        assert_eq!(t, "case  DSC\n----  ---\na     0.5\nlong    1\n");
    }

    #[test]
    fn numbers_absent_or_infinite() {
        assert_eq!(num(Some(1.23456), 2), "1.23");
        assert_eq!(num(None, 2), "-");
        assert_eq!(num(Some(f64::INFINITY), 2), "inf");
    }
}
