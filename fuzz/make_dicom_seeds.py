#!/usr/bin/env python3
"""Write the project-generated seeds of the DICOM fuzz targets: one small CT slice (16 x 16)
in every transfer syntax ctplan decodes (`dicom_series`), the uncompressed ones for the header
and de-identification targets (`dicom_file`, `dicom_deid`), and zip archives of them
(`dicom_zip`). Run once from the repository root with pydicom, pylibjpeg, openjpeg and
imagecodecs installed:  python fuzz/make_dicom_seeds.py
"""
import shutil
import sys
import zipfile
from pathlib import Path

import imagecodecs
import numpy as np
import pydicom
from pydicom.encaps import encapsulate
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian,
    DeflatedExplicitVRLittleEndian, RLELossless, JPEGBaseline8Bit, JPEGLosslessSV1,
    JPEG2000Lossless, JPEG2000,
)

CT = "1.2.840.10008.5.1.4.1.1.2"


def slice_(bits, signed, z=0.0, n=16):
    ds = Dataset()
    ds.SOPClassUID = CT
    ds.SOPInstanceUID = "1.2.826.0.1.3680043.10.1." + str(bits) + str(int(z))
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.10.2"
    ds.SeriesInstanceUID = "1.2.826.0.1.3680043.10.3"
    ds.Modality = "CT"
    ds.PatientName = "Seed^Fuzz"
    ds.ImagePositionPatient = [0, 0, z]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [0.5, 0.5]
    ds.SliceThickness = 1
    ds.RescaleSlope = 1
    ds.RescaleIntercept = -1024 if not signed else 0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = n
    ds.Columns = n
    ds.BitsAllocated = bits
    ds.BitsStored = 12 if bits == 16 else 8
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 1 if signed else 0
    y, x = np.mgrid[0:n, 0:n]
    if bits == 8:
        a = ((x * 13 + y * 7) % 256).astype(np.uint8)
    else:
        a = ((x * 211 + y * 97) % 4096).astype(np.int16 if signed else np.uint16)
        if signed:
            a = a - 2048
    ds.PixelData = a.tobytes()
    return ds


def save(ds, ts, path, compress=None):
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    if callable(compress):
        a = ds.pixel_array
        ds.PixelData = encapsulate([compress(a)])
        ds["PixelData"].VR = "OB"
        ds.file_meta.TransferSyntaxUID = ts
    elif compress is not None:
        ds.compress(ts, **compress)
    else:
        ds.file_meta.TransferSyntaxUID = ts
    ds.save_as(path, enforce_file_format=True)


def main(out):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save(slice_(16, True), ExplicitVRLittleEndian, out / "seed-explicit-le.dcm")
    save(slice_(16, False), ImplicitVRLittleEndian, out / "seed-implicit-le.dcm")
    save(slice_(16, True), ExplicitVRBigEndian, out / "seed-explicit-be.dcm")
    save(slice_(16, True), DeflatedExplicitVRLittleEndian, out / "seed-deflated.dcm")
    save(slice_(16, True), RLELossless, out / "seed-rle.dcm", {})
    save(slice_(8, False), RLELossless, out / "seed-rle-8bit.dcm", {})
    jpeg = lambda a: imagecodecs.jpeg8_encode(a, level=95)
    save(slice_(8, False), JPEGBaseline8Bit, out / "seed-jpeg-baseline.dcm", jpeg)
    ljpeg = lambda a: imagecodecs.ljpeg_encode(a, bitspersample=12)
    save(slice_(16, False), JPEGLosslessSV1, out / "seed-jpeg-lossless-sv1.dcm", ljpeg)
    j2kl = lambda a: imagecodecs.jpeg2k_encode(a, level=0, codecformat="J2K", numthreads=1)
    save(slice_(16, False), JPEG2000Lossless, out / "seed-jpeg2000-lossless.dcm", j2kl)
    j2k = lambda a: imagecodecs.jpeg2k_encode(a, level=30, codecformat="J2K", numthreads=1)
    save(slice_(16, False), JPEG2000, out / "seed-jpeg2000.dcm", j2k)
    # Two slices of one series in one multi-frame-free pair: a volume, not a single plane.
    save(slice_(16, True, z=1.0), ExplicitVRLittleEndian, out / "seed-explicit-le-z1.dcm")


def others(series, corpus):
    for target in ["dicom_file", "dicom_deid"]:
        d = corpus / target
        d.mkdir(parents=True, exist_ok=True)
        for name in ["explicit-le", "implicit-le", "explicit-be", "deflated"]:
            shutil.copy(series / f"seed-{name}.dcm", d / f"seed-{name}.dcm")
    d = corpus / "dicom_zip"
    d.mkdir(parents=True, exist_ok=True)
    for method, tag in [(zipfile.ZIP_STORED, "stored"), (zipfile.ZIP_DEFLATED, "deflated")]:
        with zipfile.ZipFile(d / f"seed-{tag}.zip", "w", method) as z:
            z.write(series / "seed-explicit-le.dcm", "study/a/1.dcm")
            z.write(series / "seed-explicit-le-z1.dcm", "study/a/2.dcm")
            z.writestr("README.txt", "not DICOM")
    with zipfile.ZipFile(d / "seed-rle.zip", "w", zipfile.ZIP_STORED) as z:
        z.write(series / "seed-rle.dcm", "IM0001")


if __name__ == "__main__":
    corpus = Path(sys.argv[1] if len(sys.argv) > 1 else "fuzz/corpus")
    main(corpus / "dicom_series")
    others(corpus / "dicom_series", corpus)
