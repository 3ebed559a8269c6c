"""Make an imperfect predicted implant from a true one (read and written with pynrrd, keeping
the header): a shift by whole voxels, optional 6-neighbour dilations, optional random dropout
(seeded), with voxels of the defective skull removed. Used by the cross-check tests to get
realistic millimetre-class errors on real SkullFix cases.

Usage: perturb_implant.py TRUTH DEFECTIVE OUT --shift dx dy dz [--dilate N] [--dropout P] [--seed S]
"""

import argparse

import nrrd
import numpy as np
from scipy.ndimage import binary_dilation, generate_binary_structure


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("truth")
    ap.add_argument("defective")
    ap.add_argument("out")
    ap.add_argument("--shift", type=int, nargs=3, default=[0, 0, 0])
    ap.add_argument("--dilate", type=int, default=0)
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    truth, header = nrrd.read(a.truth)
    defective, _ = nrrd.read(a.defective)
    x = np.roll(truth != 0, shift=tuple(a.shift), axis=(0, 1, 2))
    if a.dilate:
        x = binary_dilation(x, structure=generate_binary_structure(3, 1), iterations=a.dilate)
    if a.dropout > 0:
        rng = np.random.default_rng(a.seed)
        x &= rng.random(x.shape) >= a.dropout
    x &= defective == 0
    nrrd.write(a.out, x.astype(truth.dtype), header, compression_level=1)


if __name__ == "__main__":
    main()
