//! DICOM series read through the one `read` entry point, against the vendor's own conversion
//! of the same scan (CIP's ct-64.nrrd, written by the Chest Imaging Platform from ct-64Dicom).

use ctplan_core::AnyVolume;

#[test]
fn cip_ct64_dicom_equals_the_vendor_nrrd() {
    let Some(data) = ctplan_testdata::data_dir() else {
        return;
    };
    let dicom = ctplan_io::read(&data.join("lung/cip/ct-64Dicom"))
        .unwrap()
        .volume;
    let nrrd = ctplan_io::read(&data.join("lung/cip/ct-64.nrrd"))
        .unwrap()
        .volume;
    assert_eq!(dicom.dims(), nrrd.dims());
    let (AnyVolume::I16(a), AnyVolume::I16(b)) = (&dicom, &nrrd) else {
        panic!(
            "both int16 HU: {:?} {:?}",
            dicom.scalar_type(),
            nrrd.scalar_type()
        )
    };
    assert!(a.data == b.data, "voxels differ");
    let (ga, gb) = (dicom.geometry(), nrrd.geometry());
    for k in 0..3 {
        assert!(
            (ga.origin[k] - gb.origin[k]).abs() < 1e-3,
            "origin {ga:?} vs {gb:?}"
        );
        assert!(
            (ga.spacing[k] - gb.spacing[k]).abs() < 1e-3,
            "spacing {ga:?} vs {gb:?}"
        );
        for r in 0..3 {
            assert!((ga.direction[r][k] - gb.direction[r][k]).abs() < 1e-6);
        }
    }
}

#[test]
fn a_dicom_folder_is_recognised_and_a_volume_folder_is_not() {
    let Some(data) = ctplan_testdata::data_dir() else {
        return;
    };
    assert!(ctplan_io::is_dicom(&data.join("lung/cip/ct-64Dicom")));
    assert!(ctplan_io::is_dicom(
        &data.join("dicom-samples/CT_small.dcm")
    ));
    assert!(!ctplan_io::is_dicom(
        &data.join("skullfix/test_set_for_participants")
    ));
    assert!(!ctplan_io::is_dicom(&data.join("lung/cip/ct-64.nrrd")));
    // A series chosen by number within a folder of two series.
    let two = data.join("lung/lung-pet-ct-dx");
    let e = ctplan_io::read(&two).unwrap_err().to_string();
    assert!(e.contains("2 series") && e.contains("#SERIES"), "{e}");
}
