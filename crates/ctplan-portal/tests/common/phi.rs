//! A small CT series with planted identifiers (in the patient module, a private tag and a
//! person name in a nested sequence), and the ways to send it: zipped or as multipart parts.

use std::io::Write;

use dicom_core::value::{DataSetSequence, PrimitiveValue};
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};

pub const PATIENT: &str = "Doe^Johnathan^Planted";
pub const PATIENT_ID: &str = "MRN-PLANTED-4711";
pub const PRIVATE: &str = "PRIVATE-VENDOR-PHI-9876";
pub const NESTED: &str = "Nested^Person^Planted";
pub const INSTITUTION: &str = "Saint Planted Hospital";
pub const PLANTED: &[&str] = &[PATIENT, PATIENT_ID, PRIVATE, NESTED, INSTITUTION];

/// One slice of a CT series (8 × 6 pixels at z mm) carrying the planted identifiers: in the
/// patient module, a private tag and a person name inside a kept sequence.
pub fn slice(z: usize) -> Vec<u8> {
    slice_in(UID_ROOT, z)
}

/// [`slice`] of a study whose UIDs all start with `root` (another study: another root).
pub fn slice_in(root: &str, z: usize) -> Vec<u8> {
    let ct = "1.2.840.10008.5.1.4.1.1.2";
    let sop = format!("{root}.{}", z + 1);
    let series = format!("{root}.0");
    let el = |tag, vr, v: PrimitiveValue| DataElement::new(tag, vr, v);
    let pixels: Vec<u16> = (0..48).map(|i| (i * 10 + z * 100) as u16).collect();
    let nested =
        InMemDicomObject::from_element_iter([el(tags::PERSON_NAME, VR::PN, NESTED.into())]);
    let obj = InMemDicomObject::from_element_iter([
        el(tags::SOP_CLASS_UID, VR::UI, ct.into()),
        el(tags::SOP_INSTANCE_UID, VR::UI, sop.as_str().into()),
        el(tags::STUDY_INSTANCE_UID, VR::UI, root.into()),
        el(tags::SERIES_INSTANCE_UID, VR::UI, series.as_str().into()),
        el(tags::MODALITY, VR::CS, "CT".into()),
        el(tags::PATIENT_NAME, VR::PN, PATIENT.into()),
        el(tags::PATIENT_ID, VR::LO, PATIENT_ID.into()),
        el(tags::INSTITUTION_NAME, VR::LO, INSTITUTION.into()),
        el(Tag(0x0011, 0x0010), VR::LO, "ACME 1.0".into()),
        el(Tag(0x0011, 0x1001), VR::LO, PRIVATE.into()),
        DataElement::new(
            tags::REFERENCED_SERIES_SEQUENCE,
            VR::SQ,
            DataSetSequence::from(vec![nested]),
        ),
        el(tags::INSTANCE_NUMBER, VR::IS, format!("{}", z + 1).into()),
        el(
            tags::IMAGE_POSITION_PATIENT,
            VR::DS,
            format!("-4\\-3\\{}", 2 * z).into(),
        ),
        el(
            tags::IMAGE_ORIENTATION_PATIENT,
            VR::DS,
            "1\\0\\0\\0\\1\\0".into(),
        ),
        el(tags::PIXEL_SPACING, VR::DS, "0.5\\0.75".into()),
        el(tags::SLICE_THICKNESS, VR::DS, "2".into()),
        el(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16)),
        el(
            tags::PHOTOMETRIC_INTERPRETATION,
            VR::CS,
            "MONOCHROME2".into(),
        ),
        el(tags::ROWS, VR::US, PrimitiveValue::from(6u16)),
        el(tags::COLUMNS, VR::US, PrimitiveValue::from(8u16)),
        el(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16u16)),
        el(tags::BITS_STORED, VR::US, PrimitiveValue::from(16u16)),
        el(tags::HIGH_BIT, VR::US, PrimitiveValue::from(15u16)),
        el(
            tags::PIXEL_REPRESENTATION,
            VR::US,
            PrimitiveValue::from(0u16),
        ),
        el(tags::RESCALE_INTERCEPT, VR::DS, "-1024".into()),
        el(tags::RESCALE_SLOPE, VR::DS, "1".into()),
        el(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U16(pixels.into())),
    ]);
    let meta = FileMetaTableBuilder::new()
        .transfer_syntax("1.2.840.10008.1.2.1")
        .media_storage_sop_class_uid(ct)
        .media_storage_sop_instance_uid(sop.as_str());
    let mut out = Vec::new();
    obj.with_meta(meta).unwrap().write_all(&mut out).unwrap();
    out
}

/// A zip of `entries` (name, bytes), deflated.
pub fn zip_of(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in entries {
        w.start_file(*name, opts).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

pub fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// The UID root of the planted series (every original UID starts with it).
pub const UID_ROOT: &str = "1.2.826.0.1.3680043.99";

/// A multipart body of `parts` (headers, content) at `boundary`.
pub fn multipart(boundary: &str, parts: &[(Vec<String>, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (headers, body) in parts {
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        for h in headers {
            out.extend_from_slice(format!("{h}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}
