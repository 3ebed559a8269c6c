#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ctplan_fuzz::dicom_zip(data));
