//! De-identification of real files with planted identifiers: none may survive anywhere in the
//! output bytes, the pixels must be bit-identical, and the series must load as the same volume.

use std::path::{Path, PathBuf};

use ctplan_dicom::deid::{DeidOptions, anonymize};
use ctplan_dicom::{LoadOptions, read_series, scan};
use dicom_core::value::{DataSetSequence, PrimitiveValue};
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::{InMemDicomObject, OpenFileOptions};

/// Identifying strings planted into every copy (and checked for in every output byte).
const PLANTED: &[(Tag, VR, &str)] = &[
    (tags::PATIENT_NAME, VR::PN, "Doe^Johnathan^Q"),
    (tags::PATIENT_ID, VR::LO, "MRN-99887766"),
    (tags::PATIENT_BIRTH_DATE, VR::DA, "19471123"),
    (tags::PATIENT_ADDRESS, VR::LO, "42 Elm Street, Springfield"),
    (tags::PATIENT_TELEPHONE_NUMBERS, VR::SH, "555-0199-77"),
    (Tag(0x0010, 0x1000), VR::LO, "ALT-ID-31337"),
    (tags::STUDY_DATE, VR::DA, "20240229"),
    (tags::ACQUISITION_DATE, VR::DA, "20240228"),
    (tags::STUDY_TIME, VR::TM, "134512"),
    (tags::ACCESSION_NUMBER, VR::SH, "ACC-5550123"),
    (tags::INSTITUTION_NAME, VR::LO, "Saint Elsewhere Hospital"),
    (
        tags::INSTITUTION_ADDRESS,
        VR::ST,
        "1 Hospital Road, Shelbyville",
    ),
    (tags::REFERRING_PHYSICIAN_NAME, VR::PN, "House^Gregory"),
    (tags::OPERATORS_NAME, VR::PN, "Operator^Olga"),
    (tags::STATION_NAME, VR::SH, "CTROOM-SECRET"),
    (tags::DEVICE_SERIAL_NUMBER, VR::LO, "SN-7788-XYZ"),
    (tags::STUDY_DESCRIPTION, VR::LO, "Chest for Mr Doe"),
    (
        tags::PATIENT_COMMENTS,
        VR::LT,
        "allergic to penicillin, lives alone",
    ),
];
const PRIVATE_VALUE: &str = "PRIVATE-VENDOR-PHI-1234";
const NESTED_NAME: &str = "Nested^Person^Name";

fn plant(src: &Path, dst: &Path) {
    let mut obj = OpenFileOptions::new().open_file(src).unwrap();
    for (tag, vr, value) in PLANTED {
        obj.put(DataElement::new(*tag, *vr, PrimitiveValue::from(*value)));
    }
    obj.put(DataElement::new(
        Tag(0x0011, 0x0010),
        VR::LO,
        PrimitiveValue::from("ACME 1.0"),
    ));
    obj.put(DataElement::new(
        Tag(0x0011, 0x1001),
        VR::LO,
        PrimitiveValue::from(PRIVATE_VALUE),
    ));
    // A kept sequence whose item holds a person name and an instance UID.
    let item = InMemDicomObject::from_element_iter([
        DataElement::new(tags::PERSON_NAME, VR::PN, PrimitiveValue::from(NESTED_NAME)),
        DataElement::new(
            tags::REFERENCED_SOP_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from(
                obj.element(tags::SOP_INSTANCE_UID)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_string(),
            ),
        ),
    ]);
    obj.put(DataElement::new(
        tags::REFERENCED_SERIES_SEQUENCE,
        VR::SQ,
        DataSetSequence::from(vec![item]),
    ));
    obj.write_to_file(dst).unwrap();
}

fn uids(path: &Path) -> Vec<String> {
    let obj = OpenFileOptions::new().open_file(path).unwrap();
    [
        tags::STUDY_INSTANCE_UID,
        tags::SERIES_INSTANCE_UID,
        tags::SOP_INSTANCE_UID,
        tags::FRAME_OF_REFERENCE_UID,
    ]
    .iter()
    .filter_map(|t| obj.element_opt(*t).ok().flatten())
    .map(|e| e.to_str().unwrap().trim_end_matches('\0').to_string())
    .collect()
}

fn pixel_bytes(path: &Path) -> Vec<u8> {
    let obj = OpenFileOptions::new().open_file(path).unwrap();
    let e = obj.element(tags::PIXEL_DATA).unwrap();
    match e.value() {
        dicom_core::value::Value::Primitive(p) => p.to_bytes().into_owned(),
        dicom_core::value::Value::PixelSequence(s) => s.fragments().concat(),
        _ => panic!("no pixel data"),
    }
}

fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_below(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn planted_identifiers_do_not_survive_and_pixels_are_untouched() {
    let Some(data) = ctplan_testdata::data_dir() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    std::fs::create_dir_all(input.join("nested/deeper")).unwrap();
    let series_dir = data.join("lung/lung-pet-ct-dx/A0002-thorax-8mm-B40f");
    let mut originals = Vec::new();
    let mut sources: Vec<PathBuf> = std::fs::read_dir(&series_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    sources.sort();
    for (i, src) in sources.iter().enumerate() {
        let dst = input
            .join(if i % 2 == 0 {
                "nested"
            } else {
                "nested/deeper"
            })
            .join(format!("Doe_Johnathan_{i}"));
        plant(src, &dst);
        originals.push(dst);
    }
    for f in ["eCT_Supplemental.dcm", "CT_small.dcm"] {
        let dst = input.join(f);
        plant(&data.join("dicom-samples").join(f), &dst);
        originals.push(dst);
    }
    std::fs::write(input.join("README.txt"), "Patient Doe, MRN-99887766").unwrap();
    let old_uids: Vec<String> = originals.iter().flat_map(|p| uids(p)).collect();
    assert!(old_uids.len() >= 4 * 30);

    let opts = DeidOptions {
        key: b"test key".to_vec(),
        allow_burned_in: false,
    };
    let out = tmp.path().join("out");
    let report = anonymize(&input, &out, &opts).unwrap();
    assert_eq!(report.written.len(), originals.len());
    assert!(
        report
            .skipped
            .iter()
            .any(|s| s.origin.to_string().ends_with("README.txt"))
    );
    assert!(report.counts.private_removed >= originals.len() * 2);

    let outputs = files_below(&out);
    assert_eq!(outputs.len(), originals.len());
    for p in &outputs {
        let bytes = std::fs::read(p).unwrap();
        for (_, _, value) in PLANTED {
            assert!(
                !contains(&bytes, value),
                "{} still holds {value:?}",
                p.display()
            );
        }
        for v in [PRIVATE_VALUE, NESTED_NAME, "ACME 1.0"] {
            assert!(!contains(&bytes, v), "{} still holds {v:?}", p.display());
        }
        for u in &old_uids {
            assert!(
                !contains(&bytes, u),
                "{} still holds the original UID {u}",
                p.display()
            );
        }
        assert!(
            !p.to_string_lossy().contains("Doe"),
            "file names must not carry the patient's"
        );
        let obj = OpenFileOptions::new().open_file(p).unwrap();
        let get = |t| {
            obj.element(t)
                .unwrap()
                .to_str()
                .unwrap()
                .trim_end_matches('\0')
                .to_string()
        };
        assert_eq!(get(tags::PATIENT_IDENTITY_REMOVED), "YES");
        assert!(get(tags::DEIDENTIFICATION_METHOD).contains("PS3.15"));
        assert_eq!(
            obj.meta()
                .media_storage_sop_instance_uid()
                .trim_end_matches('\0'),
            get(tags::SOP_INSTANCE_UID)
        );
        // The reference inside the kept sequence follows the instance's own new UID.
        let item = &obj
            .element(tags::REFERENCED_SERIES_SEQUENCE)
            .unwrap()
            .items()
            .unwrap()[0];
        let r = item
            .element(tags::REFERENCED_SOP_INSTANCE_UID)
            .unwrap()
            .to_str()
            .unwrap()
            .trim_end_matches('\0')
            .to_string();
        assert_eq!(r, get(tags::SOP_INSTANCE_UID));
    }

    // Pixels bit-identical, file by file (matched through the keyed SOP Instance UID map).
    for (orig, written) in &report.written {
        let ctplan_dicom::Origin::File(orig) = orig else {
            panic!()
        };
        assert_eq!(
            pixel_bytes(orig),
            pixel_bytes(written),
            "{}",
            orig.display()
        );
    }

    // The de-identified series loads as the same volume (same voxels, same grid).
    let before = read_series(&series_dir, LoadOptions::default()).unwrap();
    let scanned = scan(&out).unwrap();
    let series = scanned
        .series
        .iter()
        .find(|s| s.frames() == 30)
        .expect("the 30-slice series");
    let after = ctplan_dicom::load(series, LoadOptions::default()).unwrap();
    assert_eq!(before.volume.dims(), after.volume.dims());
    assert_eq!(before.volume.as_bytes(), after.volume.as_bytes());
    assert!(
        before
            .volume
            .geometry()
            .approx_eq(&after.volume.geometry(), 1e-9)
    );
    // One study UID for the whole study, as before.
    let studies: std::collections::BTreeSet<&str> = scanned
        .series
        .iter()
        .filter(|s| s.frames() == 30)
        .map(|s| s.study_uid.as_str())
        .collect();
    assert_eq!(studies.len(), 1);

    // Same key, same output: byte for byte.
    let again = tmp.path().join("again");
    anonymize(&input, &again, &opts).unwrap();
    let second = files_below(&again);
    assert_eq!(outputs.len(), second.len());
    for (a, b) in outputs.iter().zip(&second) {
        assert_eq!(
            a.strip_prefix(&out).unwrap(),
            b.strip_prefix(&again).unwrap()
        );
        assert_eq!(std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
    }
}

#[test]
fn burned_in_annotation_is_refused_and_nothing_is_written() {
    let Some(data) = ctplan_testdata::data_dir() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    for f in ["CT_small.dcm", "693_UNCI.dcm"] {
        std::fs::copy(data.join("dicom-samples").join(f), input.join(f)).unwrap();
    }
    let flagged = input.join("693_UNCI.dcm");
    let mut obj = OpenFileOptions::new().open_file(&flagged).unwrap();
    obj.put(DataElement::new(
        tags::BURNED_IN_ANNOTATION,
        VR::CS,
        PrimitiveValue::from("YES"),
    ));
    std::fs::remove_file(&flagged).unwrap();
    obj.write_to_file(&flagged).unwrap();
    let out = tmp.path().join("out");
    let opts = DeidOptions {
        key: b"k".to_vec(),
        allow_burned_in: false,
    };
    let e = anonymize(&input, &out, &opts).unwrap_err();
    assert!(
        e.to_string().contains("693_UNCI.dcm") && e.to_string().contains("BurnedInAnnotation"),
        "{e}"
    );
    assert!(!out.exists());
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers.len(),
        1,
        "no temporary output left: {leftovers:?}"
    );
    // Allowed explicitly: written, with a warning.
    let opts = DeidOptions {
        allow_burned_in: true,
        ..opts
    };
    let report = anonymize(&input, &out, &opts).unwrap();
    assert_eq!(report.written.len(), 2);
    assert!(report.warnings.iter().any(|w| w.contains("693_UNCI.dcm")));
    // An existing output is never overwritten.
    assert!(
        anonymize(&input, &out, &opts)
            .unwrap_err()
            .to_string()
            .contains("already exists")
    );
}

#[test]
fn a_single_file_gives_a_single_file() {
    let Some(data) = ctplan_testdata::data_dir() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("anon.dcm");
    let src = data.join("dicom-samples/eCT_Supplemental.dcm");
    let report = anonymize(
        &src,
        &out,
        &DeidOptions {
            key: b"k".to_vec(),
            allow_burned_in: false,
        },
    )
    .unwrap();
    assert_eq!(report.written.len(), 1);
    assert!(out.is_file());
    let a = read_series(&src, LoadOptions::default()).unwrap();
    let b = read_series(&out, LoadOptions::default()).unwrap();
    assert_eq!(a.volume, b.volume);
}

/// Files held in memory (an upload) de-identify to bytes without the planted identifiers, and
/// those bytes group and decode to the same volume as the files on disk.
#[test]
fn a_series_de_identified_in_memory_reads_as_the_files_on_disk() {
    let Some(data) = ctplan_testdata::data_dir() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let series_dir = data.join("lung/lung-pet-ct-dx/A0002-thorax-8mm-B40f");
    let mut sources: Vec<PathBuf> = std::fs::read_dir(&series_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    sources.sort();
    let mut files = Vec::new();
    for (i, src) in sources.iter().enumerate() {
        let dst = tmp.path().join(format!("Doe_Johnathan_{i}"));
        plant(src, &dst);
        files.push((format!("upload/{i}"), std::fs::read(&dst).unwrap()));
    }
    files.push(("upload/README.txt".to_string(), b"MRN-99887766".to_vec()));
    let opts = DeidOptions {
        key: b"memory key".to_vec(),
        allow_burned_in: false,
    };
    let (found, skipped) = ctplan_dicom::find_memory(files);
    assert_eq!(found.len(), sources.len());
    assert_eq!(skipped.len(), 1);
    let mut clean = Vec::new();
    for origin in found {
        let ctplan_dicom::Origin::Memory { name, bytes } = origin else {
            panic!("not in memory")
        };
        let out = ctplan_dicom::deid::anonymize_bytes(&name, bytes, &opts).unwrap();
        for (_, _, value) in PLANTED {
            assert!(!contains(&out, value), "{value} in {name}");
        }
        assert!(!contains(&out, PRIVATE_VALUE) && !contains(&out, NESTED_NAME));
        clean.push((name, out));
    }
    let scan = ctplan_dicom::scan_memory("upload", clean);
    let series = scan.select(None).unwrap();
    let memory = ctplan_dicom::load(series, LoadOptions::default()).unwrap();
    let disk = read_series(tmp.path(), LoadOptions::default()).unwrap();
    assert_eq!(memory.volume, disk.volume);
    // A damaged file in memory is named in the error.
    let e = ctplan_dicom::deid::anonymize_bytes("upload/bad", vec![0; 200], &opts).unwrap_err();
    assert!(e.to_string().starts_with("upload/bad: "), "{e}");
}
