//! What one DICOM file says about its image: identity (study, series, instance), pixel layout,
//! and the geometry and rescale of each frame — from the top-level attributes of a classic
//! single-frame image, or from the shared and per-frame functional groups of an enhanced
//! multi-frame image (PS3.3 C.7.6.16).

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::{DefaultDicomObject, InMemDicomObject};

use crate::files::Origin;

/// Geometry and rescale of one frame (one slice).
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// ImagePositionPatient: the centre of the first voxel, LPS mm.
    pub position: Option<[f64; 3]>,
    /// ImageOrientationPatient: row direction (increasing column index), then column direction.
    pub orientation: Option<[f64; 6]>,
    /// PixelSpacing: [between rows, between columns] in mm.
    pub pixel_spacing: Option<[f64; 2]>,
    /// SliceThickness in mm (the reconstructed thickness; not the spacing between slices).
    pub slice_thickness: Option<f64>,
    /// RescaleSlope: stored value × slope + intercept = HU (1 when absent).
    pub slope: f64,
    /// RescaleIntercept (0 when absent).
    pub intercept: f64,
}

/// The header of one DICOM file.
#[derive(Debug, Clone)]
pub struct Instance {
    /// Where the file's bytes come from.
    pub origin: Origin,
    /// SOPClassUID (what kind of object: CT image, enhanced CT, DICOMDIR, ...).
    pub sop_class_uid: String,
    /// SOPInstanceUID (this object's identity).
    pub sop_instance_uid: String,
    /// StudyInstanceUID (groups series of one examination).
    pub study_uid: String,
    /// SeriesInstanceUID (groups the files of one series).
    pub series_uid: String,
    /// Modality (CT, MR, SR, ...).
    pub modality: String,
    /// SeriesDescription, as the scanner wrote it.
    pub series_description: String,
    /// SeriesNumber, a short way to choose a series.
    pub series_number: Option<i64>,
    /// InstanceNumber: orders duplicates at one position (never the slice order).
    pub instance_number: Option<i64>,
    /// ImageType (e.g. `ORIGINAL\PRIMARY\AXIAL`; `LOCALIZER` marks a scout).
    pub image_type: String,
    /// ConvolutionKernel (the reconstruction filter, e.g. a bone or a lung kernel).
    pub kernel: String,
    /// TransferSyntaxUID of the file meta: how the pixel data is encoded.
    pub transfer_syntax: String,
    /// Rows: pixels along a column (the image height).
    pub rows: u32,
    /// Columns: pixels along a row (the image width).
    pub cols: u32,
    /// SamplesPerPixel (1 for CT; 3 for colour, which is not a CT volume).
    pub samples_per_pixel: u16,
    /// BitsAllocated: bits per stored sample (8, 16 or 32).
    pub bits_allocated: u16,
    /// BitsStored: how many of the allocated bits hold the value (see [`Instance::bits_stored`]).
    pub bits_stored: u16,
    /// PixelRepresentation: 1 for two's complement (signed) samples.
    pub pixel_representation: u16,
    /// BurnedInAnnotation (0028,0301), upper case, when present.
    pub burned_in_annotation: Option<String>,
    /// SpacingBetweenSlices, when given (informative only: the order and spacing come from the positions).
    pub spacing_between_slices: Option<f64>,
    /// One entry per frame (one for a classic image, NumberOfFrames for a multi-frame one);
    /// empty when the file holds no image (a structured report, a DICOMDIR).
    pub frames: Vec<Frame>,
}

/// The DICOMDIR's SOP class: a file-set index, not an image.
pub const MEDIA_STORAGE_DIRECTORY: &str = "1.2.840.10008.1.3.10";

pub(crate) fn text(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    let e = obj.element_opt(tag).ok().flatten()?;
    let s = e.to_str().ok()?;
    let s = s.trim_matches(|c: char| c.is_whitespace() || c == '\0');
    (!s.is_empty()).then(|| s.to_string())
}

fn floats(obj: &InMemDicomObject, tag: Tag) -> Option<Vec<f64>> {
    let e = obj.element_opt(tag).ok().flatten()?;
    let v = e.to_multi_float64().ok()?;
    (!v.is_empty() && v.iter().all(|x| x.is_finite())).then_some(v)
}

/// The numbers of a geometry element as stored, NaN and infinities included: a value that is
/// present but not finite must be refused where the geometry is built, not read as absent
/// (a NaN ImagePositionPatient would otherwise put the slice at the origin).
fn geometry_floats(obj: &InMemDicomObject, tag: Tag) -> Option<Vec<f64>> {
    let e = obj.element_opt(tag).ok().flatten()?;
    let v = e.to_multi_float64().ok()?;
    (!v.is_empty()).then_some(v)
}

fn float(obj: &InMemDicomObject, tag: Tag) -> Option<f64> {
    floats(obj, tag).map(|v| v[0])
}

fn int(obj: &InMemDicomObject, tag: Tag) -> Option<i64> {
    let e = obj.element_opt(tag).ok().flatten()?;
    e.to_int::<i64>().ok()
}

fn items(obj: &InMemDicomObject, tag: Tag) -> Option<&[InMemDicomObject]> {
    obj.element_opt(tag).ok().flatten()?.items()
}

fn first_item(obj: &InMemDicomObject, tag: Tag) -> Option<&InMemDicomObject> {
    items(obj, tag)?.first()
}

fn array<const N: usize>(v: Option<Vec<f64>>) -> Option<[f64; N]> {
    v.and_then(|v| v.get(..N).and_then(|s| s.try_into().ok()))
}

/// Read the frame attributes of one functional-groups item (or the top level of a classic image),
/// on top of `base`.
fn frame_from_groups(groups: &InMemDicomObject, base: &Frame) -> Frame {
    let mut f = base.clone();
    if let Some(p) = first_item(groups, tags::PLANE_POSITION_SEQUENCE)
        && let Some(pos) = array(geometry_floats(p, tags::IMAGE_POSITION_PATIENT))
    {
        f.position = Some(pos);
    }
    if let Some(o) = first_item(groups, tags::PLANE_ORIENTATION_SEQUENCE)
        && let Some(iop) = array(geometry_floats(o, tags::IMAGE_ORIENTATION_PATIENT))
    {
        f.orientation = Some(iop);
    }
    if let Some(m) = first_item(groups, tags::PIXEL_MEASURES_SEQUENCE) {
        if let Some(ps) = array(geometry_floats(m, tags::PIXEL_SPACING)) {
            f.pixel_spacing = Some(ps);
        }
        if let Some(t) = float(m, tags::SLICE_THICKNESS) {
            f.slice_thickness = Some(t);
        }
    }
    if let Some(t) = first_item(groups, tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE) {
        if let Some(s) = float(t, tags::RESCALE_SLOPE) {
            f.slope = s;
        }
        if let Some(i) = float(t, tags::RESCALE_INTERCEPT) {
            f.intercept = i;
        }
    }
    f
}

impl Instance {
    /// Read the header of a parsed file of `file_bytes` bytes.
    ///
    /// A NumberOfFrames that the file's bytes could not hold is refused before one entry per
    /// frame is made: an uncompressed frame needs its rows × columns × bytes per sample, an
    /// encapsulated one at least its item header and a byte.
    pub fn from_object(
        origin: Origin,
        obj: &DefaultDicomObject,
        file_bytes: u64,
    ) -> Result<Instance, String> {
        let meta = obj.meta();
        let sop_class_uid = text(obj, tags::SOP_CLASS_UID).unwrap_or_else(|| {
            meta.media_storage_sop_class_uid()
                .trim_end_matches('\0')
                .to_string()
        });
        let sop_instance_uid = text(obj, tags::SOP_INSTANCE_UID).unwrap_or_else(|| {
            meta.media_storage_sop_instance_uid()
                .trim_end_matches('\0')
                .to_string()
        });
        let rows = int(obj, tags::ROWS).unwrap_or(0).max(0) as u32;
        let cols = int(obj, tags::COLUMNS).unwrap_or(0).max(0) as u32;
        let top = Frame {
            position: array(geometry_floats(obj, tags::IMAGE_POSITION_PATIENT)),
            orientation: array(geometry_floats(obj, tags::IMAGE_ORIENTATION_PATIENT)),
            pixel_spacing: array(geometry_floats(obj, tags::PIXEL_SPACING)),
            slice_thickness: float(obj, tags::SLICE_THICKNESS),
            slope: float(obj, tags::RESCALE_SLOPE).unwrap_or(1.0),
            intercept: float(obj, tags::RESCALE_INTERCEPT).unwrap_or(0.0),
        };
        let declared = int(obj, tags::NUMBER_OF_FRAMES).unwrap_or(1).max(1) as u64;
        let transfer_syntax = meta.transfer_syntax().trim_end_matches('\0').to_string();
        let bits_allocated = int(obj, tags::BITS_ALLOCATED).unwrap_or(16).clamp(0, 64) as u64;
        let samples = int(obj, tags::SAMPLES_PER_PIXEL).unwrap_or(1).clamp(1, 4) as u64;
        let native = [
            "1.2.840.10008.1.2",
            "1.2.840.10008.1.2.1",
            "1.2.840.10008.1.2.2",
        ]
        .contains(&transfer_syntax.as_str());
        let per_frame = if native {
            (rows as u64 * cols as u64 * samples * bits_allocated).div_ceil(8)
        } else {
            9
        };
        if declared > 1
            && rows > 0
            && cols > 0
            && declared.saturating_mul(per_frame.max(1)) > file_bytes
        {
            return Err(format!(
                "NumberOfFrames {declared} of {cols}×{rows} cannot fit in the file's {file_bytes} bytes (damaged or forged header)"
            ));
        }
        let n_frames = declared as usize;
        let frames = if rows == 0 || cols == 0 {
            Vec::new()
        } else if let Some(per_frame) = items(obj, tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE) {
            let shared = first_item(obj, tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE)
                .map(|s| frame_from_groups(s, &top))
                .unwrap_or(top);
            let mut frames: Vec<Frame> = per_frame
                .iter()
                .map(|g| frame_from_groups(g, &shared))
                .collect();
            frames.resize(n_frames, shared);
            frames
        } else {
            vec![top; n_frames]
        };
        Ok(Instance {
            origin,
            sop_class_uid,
            sop_instance_uid,
            study_uid: text(obj, tags::STUDY_INSTANCE_UID).unwrap_or_default(),
            series_uid: text(obj, tags::SERIES_INSTANCE_UID).unwrap_or_default(),
            modality: text(obj, tags::MODALITY).unwrap_or_default(),
            series_description: text(obj, tags::SERIES_DESCRIPTION).unwrap_or_default(),
            series_number: int(obj, tags::SERIES_NUMBER),
            instance_number: int(obj, tags::INSTANCE_NUMBER),
            image_type: text(obj, tags::IMAGE_TYPE).unwrap_or_default(),
            kernel: text(obj, tags::CONVOLUTION_KERNEL).unwrap_or_default(),
            transfer_syntax,
            rows,
            cols,
            samples_per_pixel: int(obj, tags::SAMPLES_PER_PIXEL).unwrap_or(1) as u16,
            bits_allocated: int(obj, tags::BITS_ALLOCATED).unwrap_or(16) as u16,
            bits_stored: int(obj, tags::BITS_STORED)
                .or_else(|| int(obj, tags::BITS_ALLOCATED))
                .unwrap_or(16) as u16,
            pixel_representation: int(obj, tags::PIXEL_REPRESENTATION).unwrap_or(0) as u16,
            burned_in_annotation: text(obj, tags::BURNED_IN_ANNOTATION)
                .map(|s| s.to_ascii_uppercase()),
            spacing_between_slices: float(obj, tags::SPACING_BETWEEN_SLICES),
            frames,
        })
    }

    /// BitsStored, clamped to BitsAllocated.
    pub fn bits_stored(&self) -> u16 {
        self.bits_stored.clamp(1, self.bits_allocated.max(1))
    }

    /// True if samples are signed (PixelRepresentation 1).
    pub fn signed(&self) -> bool {
        self.pixel_representation == 1
    }

    /// True for a localizer (scout) image, which is not part of a volume.
    pub fn is_localizer(&self) -> bool {
        self.image_type.to_ascii_uppercase().contains("LOCALIZER")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_object::FileMetaTableBuilder;

    /// NumberOfFrames = 2^31 - 1 in a small file made one entry per frame (hundreds of GB)
    /// before any size check; now it is refused from the file size.
    #[test]
    fn a_forged_number_of_frames_is_refused_before_allocating() {
        let el = |tag, vr, v: PrimitiveValue| DataElement::new(tag, vr, v);
        let obj = InMemDicomObject::from_element_iter([
            el(tags::ROWS, VR::US, PrimitiveValue::from(16u16)),
            el(tags::COLUMNS, VR::US, PrimitiveValue::from(16u16)),
            el(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16u16)),
            el(tags::NUMBER_OF_FRAMES, VR::IS, "2147483647".into()),
        ])
        .with_meta(
            FileMetaTableBuilder::new()
                .transfer_syntax("1.2.840.10008.1.2.1")
                .media_storage_sop_class_uid("1.2.840.10008.5.1.4.1.1.2")
                .media_storage_sop_instance_uid("1.2.3"),
        )
        .unwrap();
        let origin = Origin::File("f.dcm".into());
        let e = Instance::from_object(origin.clone(), &obj, 1212).unwrap_err();
        assert_eq!(
            e,
            "NumberOfFrames 2147483647 of 16×16 cannot fit in the file's 1212 bytes (damaged or forged header)"
        );
        let two = 2 * 16 * 16 * 2;
        assert!(Instance::from_object(origin.clone(), &obj, two).is_err());
        let mut obj = obj;
        obj.put(el(tags::NUMBER_OF_FRAMES, VR::IS, "2".into()));
        assert_eq!(
            Instance::from_object(origin, &obj, two)
                .unwrap()
                .frames
                .len(),
            2
        );
    }
}
