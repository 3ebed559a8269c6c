//! A shape prior for the cranial vault: a library of complete skulls, each stored as its inner
//! and outer radius fields on the vault map of [`crate::vault`].
//!
//! The implant design fills the defect with the trend of a statistical shape model of these
//! templates (their mean and a ridge-regularised combination of their deviations from it) fitted
//! to the intact bone around the defect, the shape-prior approach to skull reconstruction (see
//! e.g. Li, Egger et al., "AutoImplant 2020 — First MICCAI Challenge on Automatic Cranial Implant
//! Design", IEEE TMI 2021, where shape priors of complete skulls are among the classical
//! methods). A template holds no voxels, just two radius maps at 1° per bin, so the whole library
//! is a few megabytes.
//!
//! File format (`.ctprior`): a text header of `key: value` lines starting with the line
//! `ctplan shape prior 1`, an empty line, then the zlib-deflated fields: for each case, the inner
//! then the outer field, `n × n` little-endian `u16` radii in hundredths of a millimetre
//! (0 = no bone in the bin), bin `u + n·v`. The size the header claims is checked against what
//! the compressed bytes present can hold before anything is allocated.

use std::io::{Read, Write};

use crate::error::DesignError;
use crate::vault::shell::shell;
use ctplan_core::Mask;

const MAGIC: &str = "ctplan shape prior 1";

/// Why a prior could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PriorError {
    /// The file does not start with the prior's first line.
    #[error("not a ctplan shape prior (first line is not `{MAGIC}`)")]
    Magic,
    /// The header is malformed (why).
    #[error("bad header: {0}")]
    Header(String),
    /// The fields are malformed (why).
    #[error("bad data: {0}")]
    Data(String),
}

/// A library of complete-skull templates.
#[derive(Debug, Clone, PartialEq)]
pub struct ShapePrior {
    /// Bin size, radians.
    bin: f64,
    /// Directions up to this angle from superior, radians.
    max_polar: f64,
    /// Bins per side of the map.
    n: usize,
    cases: Vec<String>,
    /// `fields[t][f]`: template t, field f (0 inner, 1 outer), radius in mm or NaN.
    fields: Vec<[Vec<f32>; 2]>,
}

/// One complete skull's radius fields (inner, outer), as [`ShapePrior::template`] makes them.
#[derive(Debug, Clone)]
pub struct Template([Vec<f32>; 2]);

/// The bin size of the templates, degrees.
pub const BIN_DEG: f64 = 1.0;
/// The templates cover directions up to this angle from superior, degrees (beyond the 105° of the
/// design so that bins at the edge of its map can be sampled).
pub const MAX_POLAR_DEG: f64 = 112.0;

impl ShapePrior {
    /// The template of one complete skull: its inner and outer radius fields.
    pub fn template(complete: &Mask) -> Result<Template, DesignError> {
        let bin = BIN_DEG.to_radians();
        let s = shell(complete, Some(bin), bin, MAX_POLAR_DEG.to_radians(), None)?;
        let conv = |f: &[f64]| -> Vec<f32> {
            f.iter()
                .map(|&r| if r.is_finite() { r as f32 } else { f32::NAN })
                .collect()
        };
        Ok(Template([conv(&s.r_in), conv(&s.r_out)]))
    }

    /// A prior from named templates.
    pub fn new(templates: Vec<(String, Template)>) -> ShapePrior {
        let bin = BIN_DEG.to_radians();
        let max_polar = MAX_POLAR_DEG.to_radians();
        let n = (2.0 * max_polar / bin).ceil() as usize + 2;
        let (cases, fields) = templates.into_iter().map(|(c, t)| (c, t.0)).unzip();
        ShapePrior {
            bin,
            max_polar,
            n,
            cases,
            fields,
        }
    }

    /// The prior without the templates of the named cases (to fit a case that is one of the
    /// templates as if it were not: leave-one-out).
    pub fn without(&self, cases: &[&str]) -> ShapePrior {
        let keep: Vec<usize> = (0..self.len())
            .filter(|&t| !cases.contains(&self.cases[t].as_str()))
            .collect();
        ShapePrior {
            cases: keep.iter().map(|&t| self.cases[t].clone()).collect(),
            fields: keep.iter().map(|&t| self.fields[t].clone()).collect(),
            ..*self
        }
    }

    /// Number of templates.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether the prior has no template.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The case name of template `t`.
    pub fn case(&self, t: usize) -> &str {
        &self.cases[t]
    }

    /// The case names of all templates.
    pub fn cases(&self) -> &[String] {
        &self.cases
    }

    /// Field `f` (0 inner, 1 outer) of template `t` at map coordinates (u, v) in radians,
    /// bilinear over the bins that hold bone; `None` if none of the four does.
    pub(crate) fn sample(&self, t: usize, f: usize, u: f64, v: f64) -> Option<f64> {
        let half = self.n as f64 / 2.0;
        let x = u / self.bin + half - 0.5;
        let y = v / self.bin + half - 0.5;
        let (x0, y0) = (x.floor(), y.floor());
        let (fx, fy) = (x - x0, y - y0);
        let field = &self.fields[t][f];
        let mut s = 0.0;
        let mut w = 0.0;
        for (dx, dy, wt) in [
            (0, 0, (1.0 - fx) * (1.0 - fy)),
            (1, 0, fx * (1.0 - fy)),
            (0, 1, (1.0 - fx) * fy),
            (1, 1, fx * fy),
        ] {
            let (ix, iy) = (x0 as i64 + dx, y0 as i64 + dy);
            if ix < 0 || iy < 0 || ix >= self.n as i64 || iy >= self.n as i64 {
                continue;
            }
            let r = field[ix as usize + self.n * iy as usize];
            if r.is_finite() && wt > 0.0 {
                s += wt * r as f64;
                w += wt;
            }
        }
        (w > 1e-9).then(|| s / w)
    }

    /// Serialize (see the module documentation for the format).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!(
            "{MAGIC}\nbin_deg: {}\nmax_polar_deg: {}\nn: {}\ncases: {}\n\n",
            self.bin.to_degrees(),
            self.max_polar.to_degrees(),
            self.n,
            self.cases.join(" ")
        )
        .into_bytes();
        let mut raw = Vec::with_capacity(self.fields.len() * 4 * self.n * self.n);
        for t in &self.fields {
            for f in t {
                for &r in f {
                    let q = if r.is_finite() {
                        (r as f64 * 100.0).round().clamp(1.0, 65535.0) as u16
                    } else {
                        0
                    };
                    raw.extend_from_slice(&q.to_le_bytes());
                }
            }
        }
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&raw).expect("writing to memory");
        out.extend(z.finish().expect("writing to memory"));
        out
    }

    /// Parse a serialized prior.
    pub fn from_bytes(bytes: &[u8]) -> Result<ShapePrior, PriorError> {
        if !bytes.starts_with(MAGIC.as_bytes()) {
            return Err(PriorError::Magic);
        }
        let end = bytes
            .windows(2)
            .position(|w| w == b"\n\n")
            .ok_or_else(|| PriorError::Header("no empty line after the header".into()))?;
        let header = std::str::from_utf8(&bytes[..end])
            .map_err(|_| PriorError::Header("not UTF-8".into()))?;
        let mut lines = header.lines();
        if lines.next() != Some(MAGIC) {
            return Err(PriorError::Magic);
        }
        let mut get = std::collections::HashMap::new();
        for l in lines {
            let (k, v) = l
                .split_once(": ")
                .ok_or_else(|| PriorError::Header(format!("line `{l}`")))?;
            get.insert(k, v);
        }
        let num = |k: &str| -> Result<f64, PriorError> {
            get.get(k)
                .ok_or_else(|| PriorError::Header(format!("missing `{k}`")))?
                .parse::<f64>()
                .map_err(|_| PriorError::Header(format!("`{k}` is not a number")))
        };
        let (bin_deg, max_polar_deg, n) = (num("bin_deg")?, num("max_polar_deg")?, num("n")?);
        if !(bin_deg > 0.0 && bin_deg.is_finite() && max_polar_deg > 0.0 && max_polar_deg <= 180.0)
            || n.fract() != 0.0
            || !(1.0..=4096.0).contains(&n)
        {
            return Err(PriorError::Header(
                "bin size, angle or size out of range".into(),
            ));
        }
        let n = n as usize;
        let cases: Vec<String> = get
            .get("cases")
            .ok_or_else(|| PriorError::Header("missing `cases`".into()))?
            .split_whitespace()
            .map(String::from)
            .collect();
        let packed = &bytes[end + 2..];
        // What the header claims, checked before any allocation against what the compressed
        // bytes present can hold (deflate expands at most about 1032:1) and the memory limit.
        let want = (cases.len() as u64) * 4 * (n * n) as u64;
        let can_hold = (packed.len() as u64).saturating_mul(1032) + 65536;
        if want > can_hold.min(ctplan_core::MAX_BYTES) {
            return Err(PriorError::Data(format!(
                "the header claims {} templates of {n}×{n} bins ({want} bytes), more than {} compressed bytes can hold",
                cases.len(),
                packed.len()
            )));
        }
        let want = want as usize;
        let mut raw = Vec::with_capacity(want);
        flate2::read::ZlibDecoder::new(packed)
            .take(want as u64 + 1)
            .read_to_end(&mut raw)
            .map_err(|e| PriorError::Data(e.to_string()))?;
        if raw.len() != want {
            return Err(PriorError::Data(format!(
                "{} bytes of fields, expected {want}",
                raw.len()
            )));
        }
        let mut it = raw
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .map(|q| {
                if q == 0 {
                    f32::NAN
                } else {
                    (q as f64 / 100.0) as f32
                }
            });
        let fields = (0..cases.len())
            .map(|_| {
                [
                    it.by_ref().take(n * n).collect(),
                    it.by_ref().take(n * n).collect(),
                ]
            })
            .collect();
        Ok(ShapePrior {
            bin: bin_deg.to_radians(),
            max_polar: max_polar_deg.to_radians(),
            n,
            cases,
            fields,
        })
    }

    /// The prior that ships inside ctplan (built by `ctplan skull prior` from the SkullFix
    /// training skulls named in `assets/skull_prior.md`), parsed on first use.
    pub fn shipped() -> &'static ShapePrior {
        static PRIOR: std::sync::OnceLock<ShapePrior> = std::sync::OnceLock::new();
        PRIOR.get_or_init(|| {
            ShapePrior::from_bytes(include_bytes!("../../assets/skull_prior.ctprior"))
                .expect("the shipped prior is valid (checked by a test)")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phantom::{PhantomSpec, skull};

    #[test]
    fn round_trips_and_rejects_bad_bytes() {
        let p = skull(&PhantomSpec::default());
        let t = ShapePrior::template(&p.complete).unwrap();
        let prior = ShapePrior::new(vec![("phantom".into(), t)]);
        let bytes = prior.to_bytes();
        let back = ShapePrior::from_bytes(&bytes).unwrap();
        assert_eq!(back.cases(), ["phantom"]);
        assert_eq!(back.n, prior.n);
        for f in 0..2 {
            for (a, b) in prior.fields[0][f].iter().zip(&back.fields[0][f]) {
                assert!(a.is_nan() && b.is_nan() || (a - b).abs() <= 0.0051);
            }
        }
        assert!(matches!(
            ShapePrior::from_bytes(b"hello\n\n"),
            Err(PriorError::Magic)
        ));
        // Any other file is named as not a prior, not as a prior with a bad header.
        assert!(matches!(
            ShapePrior::from_bytes(b"\x10\0\0\0\0\0\0\0{}"),
            Err(PriorError::Magic)
        ));
        assert!(matches!(
            ShapePrior::from_bytes(&bytes[..bytes.len() - 10]),
            Err(PriorError::Data(_))
        ));
    }

    #[test]
    fn a_header_claiming_more_than_the_data_can_hold_is_refused_before_allocating() {
        // Before: 400 templates of 4096² bins made it reserve 27 GB for a 100-byte file.
        let cases = vec!["c"; 400].join(" ");
        let text = format!("{MAGIC}\nbin_deg: 1\nmax_polar_deg: 112\nn: 4096\ncases: {cases}\n\n");
        let mut bytes = text.into_bytes();
        bytes.extend_from_slice(&[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
        let e = ShapePrior::from_bytes(&bytes).unwrap_err().to_string();
        assert!(
            e.starts_with("bad data: the header claims 400 templates of 4096×4096 bins"),
            "{e}"
        );
    }

    #[test]
    fn shipped_prior_parses() {
        let p = ShapePrior::shipped();
        assert!(p.len() >= 50, "{} templates", p.len());
        // The vault of an adult skull seen from its centre: 50–110 mm.
        let r = p.sample(0, 1, 0.0, 0.0).unwrap();
        assert!((50.0..110.0).contains(&r), "{r}");
    }
}
