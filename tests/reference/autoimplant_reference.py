"""Independent reference for the AutoImplant metrics, written directly from the definitions
with scipy on the full grid (the way the challenge's MedPy-based evaluation code does it):

- DSC = 2|A∩B| / (|A| + |B|)
- surface(X) = X xor binary_erosion(X) (6-neighbour cross, border_value = 0)
- d(A→B) = distance_transform_edt(~surface(B), sampling=spacing)[surface(A)]
- HD = max over both directions; HD95 = numpy.percentile(concat(d(A→B), d(B→A)), 95)
- ASSD = (mean d(A→B) + mean d(B→A)) / 2
- bDSC = DSC of A and B restricted to distance_transform_edt(~defective, sampling) <= 10 mm

Files are read with pynrrd; spacing is the norm of each `space directions` vector.

Usage: autoimplant_reference.py PRED TRUTH DEFECTIVE [--band 10] [--voxel]  -> one JSON line
"""

import argparse
import json
import time

import nrrd
import numpy as np
from scipy.ndimage import binary_erosion, distance_transform_edt, generate_binary_structure


def load(path):
    data, header = nrrd.read(path)
    spacing = np.linalg.norm(np.asarray(header["space directions"], dtype=float), axis=1)
    return data != 0, spacing


def dice(a, b):
    s = a.sum() + b.sum()
    return 0.0 if s == 0 else 2.0 * np.logical_and(a, b).sum() / s


def surface(x):
    return x ^ binary_erosion(x, structure=generate_binary_structure(3, 1), iterations=1)


def metrics(pred, truth, defective, spacing, band=10.0, voxel=False):
    sampling = None if voxel else spacing
    near = distance_transform_edt(~defective, sampling=sampling) <= band
    out = {"dsc": dice(pred, truth), "bdsc": dice(pred & near, truth & near)}
    sp, st = surface(pred), surface(truth)
    d_pt = distance_transform_edt(~st, sampling=spacing)[sp]
    d_tp = distance_transform_edt(~sp, sampling=spacing)[st]
    pooled = np.hstack((d_pt, d_tp))
    out["hd"] = float(pooled.max())
    out["hd95"] = float(np.percentile(pooled, 95))
    out["assd"] = float((d_pt.mean() + d_tp.mean()) / 2)
    return {k: float(v) for k, v in out.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pred")
    ap.add_argument("truth")
    ap.add_argument("defective")
    ap.add_argument("--band", type=float, default=10.0)
    ap.add_argument("--voxel", action="store_true")
    a = ap.parse_args()
    t0 = time.perf_counter()
    pred, spacing = load(a.pred)
    truth, _ = load(a.truth)
    defective, _ = load(a.defective)
    m = metrics(pred, truth, defective, spacing, a.band, a.voxel)
    m["seconds"] = time.perf_counter() - t0
    print(json.dumps(m))


if __name__ == "__main__":
    main()
