"""Reference curve skeleton of a binary NIfTI/NRRD mask by scikit-image (Lee et al. 1994 thinning).

Usage: skeleton_reference.py MASK  → JSON {"count": n, "sha256": hex of the full-grid skeleton as
uint8 with x fastest (ctplan's voxel order)}. Reference code for tests only.
"""
import hashlib
import json
import sys

import nibabel as nib
import numpy as np
from skimage.morphology import skeletonize

img = nib.load(sys.argv[1])
a = np.asarray(img.dataobj) != 0          # nibabel: [x, y, z]
a = np.ascontiguousarray(a.transpose(2, 1, 0))  # C order (z, y, x): x fastest in memory
idx = np.argwhere(a)
lo = np.maximum(idx.min(0) - 1, 0)
hi = idx.max(0) + 2
sub = a[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
sk = np.zeros_like(a, dtype=np.uint8)
sk[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] = skeletonize(sub).astype(np.uint8)
print(json.dumps({"count": int(sk.sum()), "sha256": hashlib.sha256(sk.tobytes()).hexdigest()}))
