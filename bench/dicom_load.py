"""Loading a 512×512×N CT series: ctplan vs pydicom + numpy, same files, same run.

Builds a 300-slice series from the real 64-slice chest CT in ../shared/data (slices repeated
with new positions and instance UIDs, written by pydicom, uncompressed Explicit VR Little
Endian), then times, best of 3:
  - ctplan: `ctplan-bench read DIR` (scan headers, sort along the normal, decode, rescale to HU,
    one int16 volume), all cores;
  - pydicom + numpy: dcmread every file, sort by position along the normal, stack
    pixel_array * slope + intercept as int16 (what a Python pipeline does).
Prints both and the ratio. Usage: python bench/dicom_load.py [N]
"""

import glob
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import pydicom
from pydicom.uid import generate_uid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "../shared/data/lung/lung-pet-ct-dx/A0001-chest-5mm")
BENCH = os.path.join(ROOT, "target/release/ctplan-bench")


def build(n, out):
    src = sorted(glob.glob(os.path.join(SRC, "*.dcm")))
    series = generate_uid()
    for k in range(n):
        ds = pydicom.dcmread(src[k % len(src)])
        ds.SeriesInstanceUID = series
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.ImagePositionPatient = [ds.ImagePositionPatient[0], ds.ImagePositionPatient[1], -500.0 + 1.25 * k]
        ds.InstanceNumber = n - k
        ds.save_as(os.path.join(out, f"f{(k * 7919) % n:05d}"), enforce_file_format=True)


def pydicom_load(d):
    files = sorted(glob.glob(os.path.join(d, "*")))
    dss = [pydicom.dcmread(f) for f in files]
    iop = np.array(dss[0].ImageOrientationPatient, float)
    n = np.cross(iop[:3], iop[3:])
    dss.sort(key=lambda ds: float(np.dot(n, np.array(ds.ImagePositionPatient, float))))
    vol = np.empty((len(dss), dss[0].Rows, dss[0].Columns), np.int16)
    for k, ds in enumerate(dss):
        vol[k] = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    return vol


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    with tempfile.TemporaryDirectory() as d:
        build(n, d)
        # Warm the page cache for both.
        for f in glob.glob(os.path.join(d, "*")):
            open(f, "rb").read()
        ours = json.loads(subprocess.check_output([BENCH, "read", d, "3"]))
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            v = pydicom_load(d)
            best = min(best, time.perf_counter() - t)
        assert list(v.shape[::-1]) == ours["dims"], (v.shape, ours["dims"])
        print(f"series 512x512x{n} ({len(os.listdir(d))} files, uncompressed)")
        print(f"ctplan   {ours['seconds']:.3f} s ({ours['threads']} threads)")
        print(f"pydicom  {best:.3f} s (numpy, one thread)")
        print(f"ratio    {best / ours['seconds']:.1f}x")


if __name__ == "__main__":
    main()
