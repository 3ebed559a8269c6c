//! De-identification by the DICOM PS3.15 Annex E **Basic Application Level Confidentiality
//! Profile**.
//!
//! Every attribute of Table E.1-1 (the table in `profile_table.rs`, 459 fixed tags, plus the
//! wildcard rows: curve data `50xx,xxxx`, overlay data `60xx,3000` and comments `60xx,4000`,
//! and all private attributes) gets its Basic Profile action, at every nesting level (inside
//! sequence items too):
//!
//! - **X** remove; **Z** zero-length value; **D** a dummy value of the attribute's VR
//!   (`ANONYMOUS`, `19000101`, `000000`, `0`, …; a sequence becomes empty);
//! - **U** replace the UID by `2.25.<decimal>` of the first 128 bits of HMAC-SHA-256(key, UID):
//!   the same UID maps to the same new UID in every file, so references between instances
//!   (series, frame of reference, referenced SOP instances) stay consistent within a study and
//!   across runs with the same key, while nobody without the key can map them back;
//! - the combined actions keep the attribute present whatever its Type in the IOD, which the
//!   profile allows: **Z/D**, **X/D**, **X/Z/D** → D; **X/Z** → Z; **X/Z/U\*** → the sequence is
//!   kept and the profile is applied inside its items (its instance UIDs replaced).
//!
//! Attributes not in the table are kept (the profile's rule), sequences among them cleaned
//! recursively. Then PatientIdentityRemoved = `YES`, DeidentificationMethod and its code
//! sequence (DCM 113100) are set, and LongitudinalTemporalInformationModified = `REMOVED`.
//! Pixel data is never touched: the output keeps the input's transfer syntax and pixel bytes.
//! An image whose BurnedInAnnotation is `YES` is refused (the text is in the pixels), unless
//! the caller allows it, in which case the report warns.

use std::path::{Path, PathBuf};

use dicom_core::value::{DataSetSequence, PrimitiveValue, Value};
use dicom_core::{DataElement, Tag, VR, header::Header};
use dicom_dictionary_std::tags;
use dicom_object::{DefaultDicomObject, InMemDicomObject};
use hmac::{Hmac, Mac};
use rayon::prelude::*;
use sha2::Sha256;

use crate::DicomError;
use crate::files::{Origin, Skipped, find, os_message};
use crate::header::{MEDIA_STORAGE_DIRECTORY, text};
use crate::profile_table::TABLE;

/// A Basic Profile action (PS3.15 Table E.1-1 codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// X: remove the attribute (private attributes are always removed too).
    X,
    /// Z: keep the attribute with a zero-length value.
    Z,
    /// D: replace with a dummy value of the same VR (UIDs by their keyed remapping).
    D,
    /// U: replace a UID by a consistent keyed remapping (the same input UID always gives the
    /// same output UID, so references between files still hold).
    U,
    /// Z/D: Z, or D where the IOD needs a value; applied as D so that a required attribute
    /// keeps a value.
    ZD,
    /// X/Z: X, or Z where the IOD needs the attribute present; applied as Z.
    XZ,
    /// X/D: X, or D where the IOD needs a value; applied as D.
    XD,
    /// X/Z/D: X, Z or D by the IOD's type; applied as D.
    XZD,
    /// X/Z/U*: a sequence whose items hold UIDs; kept and processed item by item.
    XZU,
}

/// The Basic Profile action for a tag, or `None` to keep it.
pub fn action(tag: Tag) -> Option<Action> {
    let (g, e) = (tag.group(), tag.element());
    if g % 2 == 1 {
        return Some(Action::X); // private attributes (and their creators)
    }
    if g & 0xFF00 == 0x5000 {
        return Some(Action::X); // curve data 50xx,xxxx
    }
    if g & 0xFF00 == 0x6000 && (e == 0x3000 || e == 0x4000) {
        return Some(Action::X); // overlay data and comments
    }
    let key = ((g as u32) << 16) | e as u32;
    TABLE
        .binary_search_by_key(&key, |(t, _)| *t)
        .ok()
        .map(|i| TABLE[i].1)
}

/// How to de-identify.
#[derive(Debug, Clone)]
pub struct DeidOptions {
    /// Key of the UID hash: the same key gives the same new UIDs.
    pub key: Vec<u8>,
    /// Write images flagged BurnedInAnnotation = YES anyway (with a warning) instead of refusing.
    pub allow_burned_in: bool,
}

/// What was done to one object, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Attributes removed (X).
    pub removed: usize,
    /// Attributes emptied (Z).
    pub emptied: usize,
    /// Attributes replaced by a dummy value (D).
    pub dummied: usize,
    /// UIDs replaced by their keyed remapping (U).
    pub uids_replaced: usize,
    /// Private attributes removed (the profile's default for private tags).
    pub private_removed: usize,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, o: Counts) {
        self.removed += o.removed;
        self.emptied += o.emptied;
        self.dummied += o.dummied;
        self.uids_replaced += o.uids_replaced;
        self.private_removed += o.private_removed;
    }
}

/// The new UID for `uid` under `key`: `2.25.` and the first 128 bits of HMAC-SHA-256 as a
/// decimal integer (PS3.5 B.2, UUID-derived UIDs).
pub fn remap_uid(key: &[u8], uid: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(uid.trim_end_matches(['\0', ' ']).as_bytes());
    let digest = mac.finalize().into_bytes();
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    format!("2.25.{}", u128::from_be_bytes(b))
}

fn dummy(vr: VR) -> PrimitiveValue {
    match vr {
        VR::DA => "19000101".into(),
        VR::TM => "000000".into(),
        VR::DT => "19000101000000".into(),
        VR::AS => "000Y".into(),
        VR::DS | VR::IS => "0".into(),
        VR::PN | VR::LO | VR::SH | VR::LT | VR::ST | VR::UT | VR::UC | VR::CS | VR::AE => {
            "ANONYMOUS".into()
        }
        VR::US => PrimitiveValue::from(0u16),
        VR::SS => PrimitiveValue::from(0i16),
        VR::UL => PrimitiveValue::from(0u32),
        VR::SL => PrimitiveValue::from(0i32),
        VR::FL => PrimitiveValue::from(0f32),
        VR::FD => PrimitiveValue::from(0f64),
        _ => PrimitiveValue::Empty,
    }
}

type Elem = DataElement<InMemDicomObject>;

fn empty_like(tag: Tag, vr: VR, seq: bool) -> Elem {
    if seq {
        DataElement::new(
            tag,
            VR::SQ,
            DataSetSequence::from(Vec::<InMemDicomObject>::new()),
        )
    } else {
        DataElement::new(tag, vr, PrimitiveValue::Empty)
    }
}

fn replace_uids(elem: &Elem, key: &[u8]) -> Elem {
    let old = elem.to_str().map(|s| s.to_string()).unwrap_or_default();
    let new: Vec<String> = old
        .split('\\')
        .filter(|u| !u.trim_matches(['\0', ' ']).is_empty())
        .map(|u| remap_uid(key, u))
        .collect();
    DataElement::new(elem.tag(), VR::UI, PrimitiveValue::from(new.join("\\")))
}

/// Apply the profile to one data set (recursively), counting what was done.
pub fn clean(obj: &InMemDicomObject, key: &[u8], counts: &mut Counts) -> InMemDicomObject {
    let mut out = InMemDicomObject::new_empty();
    for elem in obj.iter() {
        let tag = elem.tag();
        let vr = elem.vr();
        let is_seq = matches!(elem.value(), Value::Sequence(_));
        let act = action(tag);
        let new = match act {
            None => Some(recurse(elem, key, counts)),
            Some(Action::X) => {
                if tag.group() % 2 == 1 {
                    counts.private_removed += 1;
                } else {
                    counts.removed += 1;
                }
                None
            }
            Some(Action::Z | Action::XZ) => {
                counts.emptied += 1;
                Some(empty_like(tag, vr, is_seq))
            }
            Some(Action::D | Action::ZD | Action::XD | Action::XZD) => {
                counts.dummied += 1;
                if is_seq {
                    Some(empty_like(tag, vr, true))
                } else if vr == VR::UI {
                    counts.uids_replaced += 1;
                    Some(replace_uids(elem, key))
                } else {
                    Some(DataElement::new(tag, vr, dummy(vr)))
                }
            }
            Some(Action::U) => {
                if is_seq {
                    Some(recurse(elem, key, counts))
                } else {
                    counts.uids_replaced += 1;
                    Some(replace_uids(elem, key))
                }
            }
            Some(Action::XZU) => Some(recurse(elem, key, counts)),
        };
        if let Some(e) = new {
            out.put(e);
        }
    }
    out
}

fn recurse(elem: &Elem, key: &[u8], counts: &mut Counts) -> Elem {
    match elem.value() {
        Value::Sequence(seq) => {
            let items: Vec<InMemDicomObject> =
                seq.items().iter().map(|i| clean(i, key, counts)).collect();
            DataElement::new(elem.tag(), VR::SQ, DataSetSequence::from(items))
        }
        _ => elem.clone(),
    }
}

/// Name of the de-identification method written into DeidentificationMethod (0012,0063).
pub const METHOD: &str = "ctplan: DICOM PS3.15 E.1 Basic Application Level Confidentiality Profile";

/// De-identify one parsed file. Errors (one line) when BurnedInAnnotation is YES and not allowed.
pub fn anonymize_object(
    obj: &DefaultDicomObject,
    opts: &DeidOptions,
) -> Result<(DefaultDicomObject, Counts, Vec<String>), String> {
    let mut warnings = Vec::new();
    if text(obj, tags::BURNED_IN_ANNOTATION).is_some_and(|b| b.eq_ignore_ascii_case("YES")) {
        if opts.allow_burned_in {
            warnings.push(
                "BurnedInAnnotation is YES: identifying text may remain in the pixels".to_string(),
            );
        } else {
            return Err("BurnedInAnnotation is YES: identifying text is burned into the pixels; refusing (allow it explicitly to write it anyway)".to_string());
        }
    }
    let mut counts = Counts::default();
    let mut out = clean(obj, &opts.key, &mut counts);
    out.put(DataElement::new(
        tags::PATIENT_IDENTITY_REMOVED,
        VR::CS,
        PrimitiveValue::from("YES"),
    ));
    out.put(DataElement::new(
        tags::DEIDENTIFICATION_METHOD,
        VR::LO,
        PrimitiveValue::from(METHOD),
    ));
    let code = InMemDicomObject::from_element_iter([
        DataElement::new(tags::CODE_VALUE, VR::SH, PrimitiveValue::from("113100")),
        DataElement::new(
            tags::CODING_SCHEME_DESIGNATOR,
            VR::SH,
            PrimitiveValue::from("DCM"),
        ),
        DataElement::new(
            tags::CODE_MEANING,
            VR::LO,
            PrimitiveValue::from("Basic Application Confidentiality Profile"),
        ),
    ]);
    out.put(DataElement::new(
        tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE,
        VR::SQ,
        DataSetSequence::from(vec![code]),
    ));
    out.put(DataElement::new(
        tags::LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED,
        VR::CS,
        PrimitiveValue::from("REMOVED"),
    ));
    let mut meta = obj.meta().clone();
    let new_sop = text(&out, tags::SOP_INSTANCE_UID)
        .unwrap_or_else(|| remap_uid(&opts.key, meta.media_storage_sop_instance_uid()));
    meta.media_storage_sop_instance_uid = new_sop;
    let mut file = out.with_exact_meta(meta);
    file.update_meta(|_| {});
    Ok((file, counts, warnings))
}

/// De-identify one file held in memory (`name` names it in errors) and return the new file's
/// bytes (PS3.10: preamble, meta group, data set): the way to take an upload in without any
/// identifying byte reaching the disk. The same profile as [`anonymize_object`].
pub fn anonymize_bytes(
    name: &str,
    bytes: impl Into<std::sync::Arc<[u8]>>,
    opts: &DeidOptions,
) -> Result<Vec<u8>, DicomError> {
    let origin = Origin::Memory {
        name: name.to_string(),
        bytes: bytes.into(),
    };
    let obj = origin.open(false)?;
    let (out, _, _) =
        anonymize_object(&obj, opts).map_err(|m| DicomError::new(origin.display_path(), m))?;
    let mut buf = Vec::new();
    out.write_all(&mut buf)
        .map_err(|e| DicomError::new(origin.display_path(), format!("cannot encode: {e}")))?;
    Ok(buf)
}

/// What an anonymization run did.
#[derive(Debug, Clone, Default)]
pub struct DeidReport {
    /// (input, output) per file written.
    pub written: Vec<(Origin, PathBuf)>,
    /// The counts summed over every file written.
    pub counts: Counts,
    /// Things the profile cannot fix automatically (e.g. burned-in annotation), one line each, naming the file.
    pub warnings: Vec<String>,
    /// Inputs not written: not DICOM, unreadable, or DICOMDIR indexes (their references would
    /// name the original files).
    pub skipped: Vec<Skipped>,
}

/// Writes `obj` as a DICOM file at `dest`. A failure names `shown` (the path the user will
/// see) and says the OS error itself, e.g. a full disk, not the encoder's summary of it.
fn write_file(
    obj: &dicom_object::DefaultDicomObject,
    dest: &Path,
    shown: &Path,
) -> Result<(), DicomError> {
    use std::io::Write;
    let os =
        |e: std::io::Error| DicomError::os(shown, format!("cannot write: {}", os_message(&e)), e);
    let file = std::fs::File::create(dest).map_err(os)?;
    let mut w = std::io::BufWriter::new(file);
    obj.write_all(&mut w).map_err(|e| {
        let mut src: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(s) = src {
            if let Some(io) = s.downcast_ref::<std::io::Error>() {
                let kept = match io.raw_os_error() {
                    Some(code) => std::io::Error::from_raw_os_error(code),
                    None => std::io::Error::new(io.kind(), io.to_string()),
                };
                return os(kept);
            }
            src = s.source();
        }
        DicomError::new(shown, format!("cannot write: {e}"))
    })?;
    w.flush().map_err(os)
}

/// The DICOM files of `input` (a file, folder or zip archive) that [`anonymize`] would
/// de-identify, and those it would skip; an error when there are none. Callers check the
/// input with it before anything with a lasting effect (such as making a new key).
pub fn dicom_files(input: &Path) -> Result<(Vec<Origin>, Vec<Skipped>), DicomError> {
    let (found, skipped) = find(input)?;
    if found.is_empty() {
        if let Some(e) = crate::files::sole_refusal(input, &skipped) {
            return Err(e);
        }
        return Err(DicomError::new(input, "no DICOM files found"));
    }
    Ok((found, skipped))
}

/// De-identify every DICOM file of `input` (a file, folder or zip archive) into `output`.
///
/// A single-file input gives the file `output`; otherwise `output` is a new folder holding
/// `<new SeriesInstanceUID>/<new SOPInstanceUID>.dcm` (original names are dropped, since names
/// often carry the patient's). Atomic: everything is written into a temporary sibling and
/// renamed at the end; on any failure nothing is left. `output` must not exist.
pub fn anonymize(
    input: &Path,
    output: &Path,
    opts: &DeidOptions,
) -> Result<DeidReport, DicomError> {
    if output.exists() {
        return Err(DicomError::new(
            output,
            "already exists; choose a new output path",
        ));
    }
    let single = input.is_file() && crate::files::is_dicom_file(input);
    let (found, mut skipped) = dicom_files(input)?;
    let parent = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = output
        .file_name()
        .ok_or_else(|| DicomError::new(output, "not a file or folder name"))?
        .to_string_lossy()
        .into_owned();
    let tmp = parent.join(format!(".{name}.ctplan-tmp-{}", std::process::id()));
    let cleanup = |e: DicomError| {
        let _ = if tmp.is_dir() {
            std::fs::remove_dir_all(&tmp)
        } else {
            std::fs::remove_file(&tmp)
        };
        e
    };
    if !single {
        std::fs::create_dir_all(&tmp)
            .map_err(|e| DicomError::new(&tmp, format!("cannot create: {e}")))?;
    }
    type One = Result<Option<(Origin, PathBuf, Counts, Vec<String>)>, DicomError>;
    let results: Vec<One> = found
        .par_iter()
        .map(|origin| -> One {
            let obj = origin.open(false)?;
            if obj
                .meta()
                .media_storage_sop_class_uid()
                .trim_end_matches('\0')
                == MEDIA_STORAGE_DIRECTORY
            {
                return Ok(None);
            }
            let (out, counts, warnings) = anonymize_object(&obj, opts)
                .map_err(|m| DicomError::new(origin.display_path(), m))?;
            let (dest, final_rel) = if single {
                (tmp.clone(), output.to_path_buf())
            } else {
                let series = text(&out, tags::SERIES_INSTANCE_UID)
                    .unwrap_or_else(|| "unknown-series".into());
                let sop = out.meta().media_storage_sop_instance_uid().to_string();
                let rel = PathBuf::from(series).join(format!("{sop}.dcm"));
                (tmp.join(&rel), output.join(&rel))
            };
            if let Some(dir) = dest.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| DicomError::new(dir, format!("cannot create: {e}")))?;
            }
            write_file(&out, &dest, &final_rel)?;
            let warnings = warnings
                .into_iter()
                .map(|w| format!("{origin}: {w}"))
                .collect();
            Ok(Some((origin.clone(), final_rel, counts, warnings)))
        })
        .collect();
    let mut report = DeidReport::default();
    for (origin, r) in found.iter().zip(results) {
        match r.map_err(cleanup)? {
            Some((o, p, c, w)) => {
                report.written.push((o, p));
                report.counts += c;
                report.warnings.extend(w);
            }
            None => skipped.push(Skipped {
                origin: origin.clone(),
                reason: "DICOMDIR not copied (it indexes the original file names)".into(),
            }),
        }
    }
    std::fs::rename(&tmp, output)
        .map_err(|e| cleanup(DicomError::new(output, format!("cannot create: {e}"))))?;
    report.skipped = skipped;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A full disk is said as such (it was "Could not print data set"), naming the output.
    #[test]
    fn a_full_disk_is_reported_with_the_os_error() {
        let obj = InMemDicomObject::from_element_iter([DataElement::new(
            tags::PATIENT_NAME,
            VR::PN,
            PrimitiveValue::from("Doe^John"),
        )])
        .with_meta(
            dicom_object::FileMetaTableBuilder::new()
                .transfer_syntax("1.2.840.10008.1.2.1")
                .media_storage_sop_class_uid("1.2.840.10008.5.1.4.1.1.2")
                .media_storage_sop_instance_uid("1.2.3"),
        )
        .unwrap();
        let e = write_file(&obj, Path::new("/dev/full"), Path::new("out/x.dcm")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "out/x.dcm: cannot write: No space left on device (os error 28)"
        );
        assert!(e.os.is_some());
    }

    #[test]
    fn the_table_is_sorted_and_unique() {
        assert!(TABLE.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(TABLE.len(), 459);
    }

    #[test]
    fn actions_follow_the_table_and_its_wildcards() {
        assert_eq!(action(tags::PATIENT_NAME), Some(Action::Z));
        assert_eq!(action(tags::PATIENT_ADDRESS), Some(Action::X));
        assert_eq!(action(tags::STUDY_INSTANCE_UID), Some(Action::U));
        assert_eq!(action(tags::INSTITUTION_NAME), Some(Action::XZD));
        assert_eq!(
            action(Tag(0x0009, 0x0010)),
            Some(Action::X),
            "private creator"
        );
        assert_eq!(action(Tag(0x5002, 0x3000)), Some(Action::X), "curve data");
        assert_eq!(action(Tag(0x6000, 0x3000)), Some(Action::X), "overlay data");
        assert_eq!(action(Tag(0x6000, 0x0010)), None, "overlay rows are kept");
        assert_eq!(action(tags::IMAGE_POSITION_PATIENT), None);
        assert_eq!(action(tags::PIXEL_DATA), None);
    }

    #[test]
    fn uid_remapping_is_keyed_and_stable() {
        let a = remap_uid(b"k1", "1.2.3.4");
        assert_eq!(a, remap_uid(b"k1", "1.2.3.4\0"));
        assert_ne!(a, remap_uid(b"k2", "1.2.3.4"));
        assert_ne!(a, remap_uid(b"k1", "1.2.3.5"));
        assert!(a.starts_with("2.25.") && a.len() <= 64);
        assert!(a[5..].chars().all(|c| c.is_ascii_digit()));
    }
}
