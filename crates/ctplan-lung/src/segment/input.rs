//! What a plan was given: the anatomy as masks, or a CT to build it from.
//!
//! `ctplan lung plan` takes either. The rule, in order: a DICOM folder, zip or file is a CT (a
//! series of masks is not stored as DICOM images); a folder of volumes or a `.seg.nrrd` is an
//! anatomy ([`crate::model::anatomy::load`]); a single volume is a CT when it holds values
//! below [`CT_BELOW_HU`] (air in Hounsfield units: no mask has them), else an airway mask.

use std::path::Path;

use ctplan_core::Volume;

use crate::error::LungError;
use crate::model::anatomy::{Anatomy, load};

/// A volume with values below this is a CT in Hounsfield units (air is −1000 HU; a label
/// map holds none).
pub const CT_BELOW_HU: i16 = -200;

/// The plan's input.
pub enum Source {
    /// Masks, read as an anatomy.
    Anatomy(Box<Anatomy>),
    /// A CT (HU) to build the model from.
    Ct(Volume<i16>),
}

/// Read `path` as a CT or as an anatomy (the rule of this module).
pub fn read(path: &Path) -> Result<Source, LungError> {
    let lower = path.to_string_lossy().to_lowercase();
    if ctplan_io::is_dicom(path) {
        let image = ctplan_io::read(path)?;
        return Ok(Source::Ct(super::hounsfield(&image.volume)));
    }
    if path.is_dir() || lower.ends_with(".seg.nrrd") {
        return load(path).map(|a| Source::Anatomy(Box::new(a)));
    }
    let ct = super::hounsfield(&ctplan_io::read(path)?.volume);
    if ct.data.iter().any(|&v| v < CT_BELOW_HU) {
        Ok(Source::Ct(ct))
    } else {
        drop(ct);
        load(path).map(|a| Source::Anatomy(Box::new(a)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctplan_core::{AnyVolume, Geometry};

    fn write(path: &Path, v: AnyVolume) {
        ctplan_io::write(path, &v, &ctplan_io::WriteOptions::default()).unwrap();
    }

    #[test]
    fn a_volume_in_hounsfield_units_is_a_ct_and_a_label_map_is_an_anatomy() {
        let dir = tempfile::tempdir().unwrap();
        let g = Geometry::new([1.0; 3], [0.0; 3]);
        let mut ct = Volume::<i16>::zeros([8, 8, 8], g);
        ct.data[0] = -1000;
        let ct_file = dir.path().join("chest.nrrd");
        write(&ct_file, AnyVolume::I16(ct));
        assert!(matches!(read(&ct_file).unwrap(), Source::Ct(v) if v.data[0] == -1000));
        // A signed volume of 0 and 1 is a mask: the airway of an anatomy.
        let mut mask = Volume::<i16>::zeros([8, 8, 8], g);
        mask.data[9] = 1;
        let mask_file = dir.path().join("airway.nrrd");
        write(&mask_file, AnyVolume::I16(mask));
        match read(&mask_file).unwrap() {
            Source::Anatomy(a) => assert_eq!(a.airway.count_nonzero(), 1),
            Source::Ct(_) => panic!("a mask taken for a CT"),
        }
    }
}
