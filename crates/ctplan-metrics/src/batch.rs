//! Evaluating folders of files: pair the predicted implants, the true implants and the
//! defective skulls by case name, read each case and measure it, all cases in parallel. Every
//! failure is collected, so one run names every broken case instead of only the first.

use std::path::{Path, PathBuf};

use ctplan_core::{CoreError, Mask};
use ctplan_io::IoError;
use ctplan_io::cases::volumes_in;
use rayon::prelude::*;

use crate::EvalOptions;
use crate::report::CaseResult;

/// What can go wrong evaluating files.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A file or folder could not be read.
    #[error(transparent)]
    Io(#[from] IoError),
    /// Two files of one case are not on the same voxel grid.
    #[error("case '{case}': {} and {} are on different grids ({grid})", a.display(), b.display())]
    GridMismatch {
        /// The case.
        case: String,
        /// The first file.
        a: PathBuf,
        /// The second file.
        b: PathBuf,
        /// How the grids differ.
        grid: CoreError,
    },
    /// The metrics of a case could not be computed.
    #[error("case '{case}'")]
    Metrics {
        /// The case.
        case: String,
        /// Why.
        #[source]
        source: CoreError,
    },
    /// Truth cases without a prediction or a defective skull, each named.
    #[error("{}", .0.join("; "))]
    Missing(Vec<String>),
    /// Several cases failed: each failure with its causes, one per line.
    #[error("{}", .0.iter().map(chain).collect::<Vec<_>>().join("\nerror: "))]
    Cases(Vec<EvalError>),
    /// Submissions ranked together were evaluated on different cases.
    #[error("{submission}: evaluated cases differ from {first}")]
    DifferentCases {
        /// The submission whose cases differ.
        submission: String,
        /// The first submission, whose cases the others must match.
        first: String,
    },
}

/// An error and its causes on one line, `a: b: c`.
fn chain(e: &EvalError) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(c) = src {
        s += &format!(": {c}");
        src = c.source();
    }
    s
}

/// One case: its name and a file per role.
#[derive(Debug, Clone)]
pub struct Case {
    /// The case name shared by its files.
    pub name: String,
    /// The predicted implant.
    pub pred: PathBuf,
    /// The true implant.
    pub truth: PathBuf,
    /// The defective skull (for the bDSC border band).
    pub defective: PathBuf,
}

/// Pair prediction, truth and defective files by case name. Every truth case must have a
/// prediction and a defective skull; missing ones are named in the error. Predictions without
/// a truth are reported in the returned warnings.
pub fn pair(
    pred: &Path,
    truth: &Path,
    defective: &Path,
) -> Result<(Vec<Case>, Vec<String>), EvalError> {
    let p = volumes_in(pred)?;
    let t = volumes_in(truth)?;
    let d = volumes_in(defective)?;
    // A single truth file pairs with single pred/defective files whatever their names.
    if truth.is_file() && pred.is_file() && defective.is_file() {
        let (name, tp) = t.into_iter().next().unwrap();
        return Ok((
            vec![Case {
                name,
                pred: pred.into(),
                truth: tp,
                defective: defective.into(),
            }],
            vec![],
        ));
    }
    let mut missing = Vec::new();
    let mut cases = Vec::new();
    for (name, tp) in &t {
        match (p.get(name), d.get(name)) {
            (Some(pp), Some(dp)) => cases.push(Case {
                name: name.clone(),
                pred: pp.clone(),
                truth: tp.clone(),
                defective: dp.clone(),
            }),
            (pp, dp) => {
                if pp.is_none() {
                    missing.push(format!(
                        "prediction for case '{name}' missing in {}",
                        pred.display()
                    ));
                }
                if dp.is_none() {
                    missing.push(format!(
                        "defective skull for case '{name}' missing in {}",
                        defective.display()
                    ));
                }
            }
        }
    }
    if !missing.is_empty() {
        return Err(EvalError::Missing(missing));
    }
    let warnings = p
        .keys()
        .filter(|k| !t.contains_key(*k))
        .map(|k| {
            format!(
                "prediction '{k}' has no truth in {}; ignored",
                truth.display()
            )
        })
        .collect();
    Ok((cases, warnings))
}

/// Evaluate one case from its files (read in parallel).
pub fn evaluate_case(c: &Case, opts: &EvalOptions) -> Result<CaseResult, EvalError> {
    let ((pred, truth), defective) = rayon::join(
        || {
            rayon::join(
                || ctplan_io::read_mask(&c.pred),
                || ctplan_io::read_mask(&c.truth),
            )
        },
        || ctplan_io::read_mask(&c.defective),
    );
    let (pred, truth, defective) = (pred?, truth?, defective?);
    let check = |a: &Mask, pa: &Path, b: &Mask, pb: &Path| {
        a.check_same_grid(b, 1e-4)
            .map_err(|grid| EvalError::GridMismatch {
                case: c.name.clone(),
                a: pa.to_path_buf(),
                b: pb.to_path_buf(),
                grid,
            })
    };
    check(&pred, &c.pred, &truth, &c.truth)?;
    check(&truth, &c.truth, &defective, &c.defective)?;
    let metrics =
        crate::evaluate(&pred, &truth, &defective, opts).map_err(|source| EvalError::Metrics {
            case: c.name.clone(),
            source,
        })?;
    Ok(CaseResult {
        case: c.name.clone(),
        metrics,
    })
}

/// Evaluate cases in parallel, calling `done` after each (for a progress display). Every
/// failure is collected into one [`EvalError::Cases`].
pub fn evaluate_all(
    cases: &[Case],
    opts: &EvalOptions,
    done: &(dyn Fn() + Sync),
) -> Result<Vec<CaseResult>, EvalError> {
    let results: Vec<Result<CaseResult, EvalError>> = cases
        .par_iter()
        .map(|c| {
            let r = evaluate_case(c, opts);
            done();
            r
        })
        .collect();
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    for r in results {
        match r {
            Ok(v) => ok.push(v),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(EvalError::Cases(errors));
    }
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctplan_core::Geometry;

    fn write(path: &Path, dims: [usize; 3], on: &[usize]) {
        let mut m = Mask::zeros(dims, Geometry::new([1.0; 3], [0.0; 3]));
        for &i in on {
            m.data[i] = 1;
        }
        ctplan_io::write_mask(path, &m).unwrap();
    }

    /// The pred, truth and defective folders below `root`, with cases 001 and 002 of truth
    /// and defective skull written (2×2×2 grids).
    fn folders(root: &Path) -> [PathBuf; 3] {
        let [p, t, d] = ["pred", "truth", "def"].map(|d| {
            let p = root.join(d);
            std::fs::create_dir_all(&p).unwrap();
            p
        });
        for f in ["001.nrrd", "002.nrrd"] {
            write(&t.join(f), [2, 2, 2], &[0]);
            write(&d.join(f), [2, 2, 2], &[1]);
        }
        [p, t, d]
    }

    #[test]
    fn cases_pair_by_name_and_missing_ones_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let [p, t, d] = folders(dir.path());
        write(&p.join("001.nrrd"), [2, 2, 2], &[0]);
        write(&p.join("009.nrrd"), [2, 2, 2], &[0]);
        let e = pair(&p, &t, &d).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("prediction for case '002' missing in {}", p.display())
        );
        write(&p.join("002.nrrd"), [2, 2, 2], &[0]);
        let (cases, warnings) = pair(&p, &t, &d).unwrap();
        assert_eq!(cases.len(), 2);
        assert_eq!(cases[1].pred, p.join("002.nrrd"));
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].starts_with("prediction '009' has no truth"));
        let r = evaluate_all(&cases, &EvalOptions::default(), &|| {}).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].case, "001");
        assert_eq!(r[0].metrics.dsc, 1.0);
    }

    #[test]
    fn every_failing_case_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let [p, t, d] = folders(dir.path());
        for f in ["001.nrrd", "002.nrrd"] {
            write(&p.join(f), [3, 2, 2], &[0]);
        }
        let (cases, _) = pair(&p, &t, &d).unwrap();
        let e = evaluate_all(&cases, &EvalOptions::default(), &|| {}).unwrap_err();
        let EvalError::Cases(errors) = &e else {
            panic!("{e}")
        };
        assert_eq!(errors.len(), 2);
        let text = e.to_string();
        assert!(text.starts_with("case '001': "), "{text}");
        assert!(text.contains("are on different grids"), "{text}");
        assert!(text.contains("\nerror: case '002': "), "{text}");
    }
}
