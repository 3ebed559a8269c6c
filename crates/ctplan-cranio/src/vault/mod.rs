//! The vault seen from its centre: the map of directions (`map`), the skull's shell as inner
//! and outer radius fields on it (`shell`), and operations on regions of the map's bins
//! (`regions`).
//!
//! Along each direction the bone lies between an inner radius (inner table) and an outer
//! radius (outer table); where a ray meets more bone further in (the orbital roof behind the
//! forehead), the shell is the outermost run of bone along it. Directions are mapped by the
//! azimuthal equidistant projection around the superior pole, `(u, v) = θ · (cos φ, sin φ)`
//! (θ the angle from superior), a disk without the pole singularity of a (θ, φ) grid.

pub(crate) mod map;
pub(crate) mod regions;
pub(crate) mod shell;
