"""Reference DICOM readings with pydicom, for ctplan-dicom's cross-check tests.

  volume PATH           one series (folder or file) as pydicom + numpy read it: slices sorted
                        along the normal of ImageOrientationPatient, RescaleSlope/Intercept
                        applied; prints JSON (dims, origin, spacing, direction, dtype, sha256
                        of the voxels in x-fastest order).
  compress SRC OUTDIR   re-encode one uncompressed file into compressed transfer syntaxes with
                        encoders independent of ctplan (pydicom's RLE encoder, OpenJPEG via
                        pylibjpeg-openjpeg, libjpeg-turbo and CharLS via imagecodecs); prints
                        JSON naming the files. JPEG baseline is lossy: its expected values are
                        libjpeg-turbo's decode, in baseline_expected.npy-free form (sha256 and the
                        raw bytes written to baseline.u8).
"""

import hashlib
import json
import os
import sys

import numpy as np
import pydicom
from pydicom.encaps import encapsulate
from pydicom.uid import (
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
)


def frames_of(ds):
    """(position, orientation, spacing, slope, intercept, pixels) per frame."""
    arr = ds.pixel_array
    n = int(getattr(ds, "NumberOfFrames", 1) or 1)
    if n == 1:
        arr = arr[None]
    if "PerFrameFunctionalGroupsSequence" in ds:
        shared = ds.SharedFunctionalGroupsSequence[0] if "SharedFunctionalGroupsSequence" in ds else None
        out = []
        for k, g in enumerate(ds.PerFrameFunctionalGroupsSequence):
            def pick(seq, attr):
                for src in (g, shared):
                    if src is not None and seq in src and attr in src[seq][0]:
                        return src[seq][0][attr].value
                return None
            pos = pick("PlanePositionSequence", "ImagePositionPatient")
            iop = pick("PlaneOrientationSequence", "ImageOrientationPatient")
            ps = pick("PixelMeasuresSequence", "PixelSpacing")
            slope = pick("PixelValueTransformationSequence", "RescaleSlope") or 1
            icpt = pick("PixelValueTransformationSequence", "RescaleIntercept") or 0
            out.append((pos, iop, ps, float(slope), float(icpt), arr[k]))
        return out
    slope = float(getattr(ds, "RescaleSlope", 1) or 1)
    icpt = float(getattr(ds, "RescaleIntercept", 0) or 0)
    return [
        (ds.ImagePositionPatient, ds.ImageOrientationPatient, ds.PixelSpacing, slope, icpt, arr[0])
    ]


def volume(path):
    files = [path] if os.path.isfile(path) else sorted(
        os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs
    )
    frames = []
    for f in files:
        try:
            ds = pydicom.dcmread(f)
        except Exception:
            continue
        if "PixelData" not in ds:
            continue
        frames.extend(frames_of(ds))
    iop = np.array(frames[0][1], float)
    r, c = iop[:3], iop[3:]
    n = np.cross(r, c)
    frames.sort(key=lambda fr: float(np.dot(n, np.array(fr[0], float))))
    ps = [float(x) for x in frames[0][2]]
    vals = [fr[5].astype(np.float64) * fr[3] + fr[4] for fr in frames]
    stack = np.stack(vals)
    integral = all(fr[3] == int(fr[3]) and fr[4] == int(fr[4]) for fr in frames)
    if integral and stack.min() >= -32768 and stack.max() <= 32767:
        data, dtype = stack.astype("<i2"), "i16"
    elif integral:
        data, dtype = stack.astype("<i4"), "i32"
    else:
        data, dtype = stack.astype("<f4"), "f32"
    p0 = np.array(frames[0][0], float)
    if len(frames) > 1:
        p1 = np.array(frames[-1][0], float)
        axis = (p1 - p0) / (len(frames) - 1)
        dz = float(np.linalg.norm(axis))
        u = axis / dz
    else:
        dz, u = 1.0, n
    direction = [[float(r[i]), float(c[i]), float(u[i])] for i in range(3)]
    return {
        "dims": [int(stack.shape[2]), int(stack.shape[1]), int(stack.shape[0])],
        "origin": [float(x) for x in p0],
        "spacing": [ps[1], ps[0], dz],
        "direction": direction,
        "dtype": dtype,
        "sha256": hashlib.sha256(np.ascontiguousarray(data).tobytes()).hexdigest(),
    }


def compress(src, outdir):
    os.makedirs(outdir, exist_ok=True)
    ds = pydicom.dcmread(src)
    arr = ds.pixel_array
    out = {}

    rle = pydicom.dcmread(src)
    rle.compress(RLELossless, encoding_plugin="pydicom")
    rle.save_as(os.path.join(outdir, "rle.dcm"))
    out["rle"] = "rle.dcm"

    j2k = pydicom.dcmread(src)
    j2k.compress(JPEG2000Lossless, encoding_plugin="pylibjpeg")
    j2k.save_as(os.path.join(outdir, "j2k.dcm"))
    out["j2k"] = "j2k.dcm"

    import imagecodecs

    bits = int(ds.BitsStored)
    signed = int(ds.PixelRepresentation) == 1
    # Lossless JPEG codes unsigned samples; signed data is coded as its two's-complement bit
    # pattern masked to BitsStored, as DICOM PS3.5 A.4.1 specifies.
    raw = arr.astype(np.int64) & ((1 << bits) - 1)
    ll = imagecodecs.jpeg8_encode(raw.astype(np.uint16), lossless=True, predictor=1, bitspersample=bits)
    jl = pydicom.dcmread(src)
    jl.PixelData = encapsulate([ll])
    jl.file_meta.TransferSyntaxUID = JPEGLosslessSV1
    jl["PixelData"].VR = "OB"
    jl.save_as(os.path.join(outdir, "jpeg_lossless.dcm"), enforce_file_format=True)
    out["jpeg_lossless"] = "jpeg_lossless.dcm"

    ls = imagecodecs.jpegls_encode(raw.astype(np.uint16))
    jls = pydicom.dcmread(src)
    jls.PixelData = encapsulate([ls])
    jls.file_meta.TransferSyntaxUID = JPEGLSLossless
    jls["PixelData"].VR = "OB"
    jls.save_as(os.path.join(outdir, "jpegls.dcm"), enforce_file_format=True)
    out["jpegls"] = "jpegls.dcm"

    # 8-bit baseline: a windowed copy, as secondary captures carry it.
    win = np.clip((arr.astype(np.float64) - arr.min()) / max(1, np.ptp(arr)) * 255, 0, 255).astype(np.uint8)
    jpg = imagecodecs.jpeg8_encode(win, level=90)
    b = pydicom.dcmread(src)
    b.BitsAllocated, b.BitsStored, b.HighBit, b.PixelRepresentation = 8, 8, 7, 0
    b.RescaleSlope, b.RescaleIntercept = 1, 0
    b.PhotometricInterpretation = "MONOCHROME2"
    b.PixelData = encapsulate([jpg])
    b.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    b["PixelData"].VR = "OB"
    b.save_as(os.path.join(outdir, "baseline.dcm"), enforce_file_format=True)
    dec = imagecodecs.jpeg8_decode(jpg).astype(np.uint8)
    with open(os.path.join(outdir, "baseline.u8"), "wb") as f:
        f.write(dec.tobytes())
    out["baseline"] = "baseline.dcm"
    out["baseline_expected"] = "baseline.u8"
    return out


if __name__ == "__main__":
    if sys.argv[1] == "volume":
        print(json.dumps(volume(sys.argv[2])))
    elif sys.argv[1] == "compress":
        print(json.dumps(compress(sys.argv[2], sys.argv[3])))
    else:
        sys.exit(f"unknown command {sys.argv[1]}")
