//! The shape prior: a library of complete skulls stored as radius fields on the vault map
//! ([`ShapePrior`], its `.ctprior` file), its build from a folder of skulls with cases held out
//! ([`build`]), and the statistical shape model fitted to the bone around a defect (`fit`).

mod build;
pub(crate) mod fit;
mod store;

pub use build::{BuildError, Built, build};
pub use fit::OWN_MIRROR;
pub use store::{BIN_DEG, MAX_POLAR_DEG, PriorError, ShapePrior, Template};
