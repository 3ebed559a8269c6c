//! The prior's build from complete skulls, with cases held out for evaluation.

use ctplan_core::Mask;
use rayon::prelude::*;

use crate::error::DesignError;
use crate::shape::{ShapePrior, Template};

/// One complete skull as the build sees it: its name, a hash of its mask (to find copies of a
/// held-out case) and its template.
pub(crate) struct Candidate {
    /// The case's name.
    pub name: String,
    /// A hash of the mask's dimensions and voxels.
    pub hash: u64,
    /// The skull's template ([`ShapePrior::template`]).
    pub template: Template,
}

impl Candidate {
    /// The candidate of one complete skull.
    pub(crate) fn of(name: &str, skull: &Mask) -> Result<Candidate, DesignError> {
        let mut h = std::hash::DefaultHasher::new();
        std::hash::Hash::hash(&(skull.dims, &skull.data), &mut h);
        Ok(Candidate {
            name: name.to_string(),
            hash: std::hash::Hasher::finish(&h),
            template: ShapePrior::template(skull)?,
        })
    }
}

/// Why a prior could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A case to hold out is not among the skulls.
    #[error("no case '{0}' to hold out")]
    NoSuchCase(String),
    /// A skull could not be read.
    #[error("{name}")]
    Read {
        /// The case.
        name: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A skull has no template (it is empty).
    #[error("{name}")]
    Template {
        /// The case.
        name: String,
        /// Why.
        #[source]
        source: DesignError,
    },
    /// Every skull was held out.
    #[error("no skull left to build the prior from")]
    NothingLeft,
}

/// A built prior, and the cases left out because their mask is identical to a held-out one.
pub struct Built {
    /// The prior.
    pub prior: ShapePrior,
    /// Cases left out as copies of a held-out case, in order.
    pub copies_left_out: Vec<String>,
}

/// The prior of the skulls `cases` (name and whatever `read` reads the mask from, in order),
/// without the cases named in `hold_out` and without any other case whose mask is identical
/// to one of them (SkullFix holds a few skulls twice under different names: held out under one
/// name, the other copy would still teach the prior the answer). The skulls are read in
/// parallel, one at a time per thread, and only their templates are kept.
pub fn build<S: Sync>(
    cases: &[(String, S)],
    read: impl Fn(&S) -> Result<Mask, Box<dyn std::error::Error + Send + Sync>> + Sync,
    hold_out: &[String],
) -> Result<Built, BuildError> {
    for h in hold_out {
        if !cases.iter().any(|(n, _)| n == h) {
            return Err(BuildError::NoSuchCase(h.clone()));
        }
    }
    let read: Vec<Candidate> = cases
        .par_iter()
        .map(|(name, at)| {
            let m = read(at).map_err(|source| BuildError::Read {
                name: name.clone(),
                source,
            })?;
            Candidate::of(name, &m).map_err(|source| BuildError::Template {
                name: name.clone(),
                source,
            })
        })
        .collect::<Result<_, _>>()?;
    let held: Vec<u64> = (read.iter())
        .filter(|c| hold_out.contains(&c.name))
        .map(|c| c.hash)
        .collect();
    let mut kept = Vec::new();
    let mut copies_left_out = Vec::new();
    for c in read {
        if hold_out.contains(&c.name) {
            continue;
        }
        if held.contains(&c.hash) {
            copies_left_out.push(c.name);
            continue;
        }
        kept.push((c.name, c.template));
    }
    if kept.is_empty() {
        return Err(BuildError::NothingLeft);
    }
    Ok(Built {
        prior: ShapePrior::new(kept),
        copies_left_out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phantom::{PhantomSpec, skull};

    #[test]
    fn holds_out_a_case_and_its_copies() {
        let a = skull(&PhantomSpec::default()).complete;
        let cases: Vec<(String, Mask)> = ["a", "b", "c"]
            .iter()
            .map(|n| (n.to_string(), a.clone()))
            .collect();
        let read = |m: &Mask| Ok(m.clone());
        let built = build(&cases[..2], read, &[]).unwrap();
        assert_eq!(built.prior.cases(), ["a", "b"]);
        assert!(built.copies_left_out.is_empty());
        // "b" and "c" are copies of "a": held out with it.
        let err = build(&cases, read, &["a".to_string()]).err().unwrap();
        assert!(matches!(err, BuildError::NothingLeft), "{err}");
        let err = build(&cases, read, &["x".to_string()]).err().unwrap();
        assert!(
            matches!(err, BuildError::NoSuchCase(ref c) if c == "x"),
            "{err}"
        );
    }
}
