"""Volume-format fixtures from the reference libraries (SimpleITK, pynrrd, nibabel), and a
reader that reports what those libraries see in a file, for the I/O cross-check tests.

  io_fixtures.py write DIR   -> writes fixtures into DIR and prints their expected contents (JSON)
  io_fixtures.py read FILE…  -> prints, per file, SimpleITK's view: sizes, spacing, origin,
                                 direction (LPS, row-major), pixel type, voxel sum and a checksum
"""

import json
import sys
import zlib

import nibabel as nib
import nrrd
import numpy as np
import SimpleITK as sitk


def volume(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    # shape is (x, y, z); values spread over the type's range.
    if np.issubdtype(dtype, np.floating):
        return (rng.standard_normal(shape) * 1000).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(max(info.min, -30000), min(info.max, 30000), size=shape, endpoint=True).astype(dtype)


def rotation(ax, ay, az):
    cx, sx, cy, sy, cz, sz = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay), np.cos(az), np.sin(az)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


def describe(arr_xyz, spacing, origin, direction):
    """Expected content: direction as a row-major 3x3 in LPS (columns = axes)."""
    data = np.asfortranarray(arr_xyz)
    return {
        "sizes": list(arr_xyz.shape),
        "spacing": [float(s) for s in spacing],
        "origin": [float(o) for o in origin],
        "direction": [float(v) for v in np.asarray(direction).reshape(-1)],
        "sum": float(arr_xyz.astype(np.float64).sum()),
        "crc32": zlib.crc32(data.tobytes(order="F")),
    }


def write(out):
    expected = {}
    shape = (13, 11, 7)
    d = rotation(0.1, -0.2, 0.3)
    spacing = (0.7, 0.55, 1.25)
    origin = (-100.5, 20.25, 33.0)
    # SimpleITK writers: oblique, every format it supports, several types.
    for name, dtype, compress in [
        ("sitk_i16.mha", np.int16, True),
        ("sitk_f32.mhd", np.float32, False),
        ("sitk_u8.nrrd", np.uint8, True),
        ("sitk_i32.nii.gz", np.int32, True),
        ("sitk_f64.nii", np.float64, False),
    ]:
        arr = volume(shape, dtype, len(expected))
        img = sitk.GetImageFromArray(np.transpose(arr, (2, 1, 0)))  # sitk arrays are (z, y, x)
        img.SetSpacing(spacing)
        img.SetOrigin(origin)
        img.SetDirection(tuple(d.reshape(-1)))
        sitk.WriteImage(img, f"{out}/{name}", useCompression=compress)
        expected[name] = describe(arr, spacing, origin, d)
    # pynrrd writers: detached header, big-endian raw, RAS space, sheared (gantry tilt) axes.
    arr = volume(shape, np.int16, 99)
    axes = np.array([[0.45, 0.0, 0.0], [0.0, 0.44, -0.07], [0.0, 0.1, 0.62]])  # rows = axes
    org = np.array([-120.2, -127.8, -10.2])
    nrrd.write(f"{out}/pynrrd_detached.nhdr", arr, {"space": "left-posterior-superior", "space directions": axes,
               "space origin": org, "encoding": "gzip"}, detached_header=True)
    expected["pynrrd_detached.nhdr"] = describe(arr, np.linalg.norm(axes, axis=1), org, (axes / np.linalg.norm(axes, axis=1)[:, None]).T)
    arr = volume(shape, np.uint16, 98)
    nrrd.write(f"{out}/pynrrd_bigendian_ras.nrrd", arr, {"space": "right-anterior-superior", "space directions": axes,
               "space origin": org, "encoding": "raw", "endian": "big"})
    flip = np.array([-1.0, -1.0, 1.0])
    expected["pynrrd_bigendian_ras.nrrd"] = describe(arr, np.linalg.norm(axes, axis=1), org * flip,
                                                     ((axes * flip) / np.linalg.norm(axes, axis=1)[:, None]).T)
    # nibabel: a NIfTI with only a qform (sform_code 0) and scl_slope/inter.
    arr = volume(shape, np.int16, 97)
    aff = np.eye(4)
    aff[:3, :3] = rotation(0.0, 0.0, 0.4) @ np.diag([0.8, 0.8, 2.0])
    aff[:3, 3] = [10.0, -20.0, 30.0]
    img = nib.Nifti1Image(arr, None)
    img.set_qform(aff, code=1)
    img.set_sform(None, code=0)
    img.header.set_slope_inter(2.0, -1024.0)
    nib.save(img, f"{out}/nibabel_qform_scaled.nii.gz")
    lps = np.diag([-1.0, -1.0, 1.0])
    m = lps @ aff[:3, :3]
    sp = np.linalg.norm(m, axis=0)
    expected["nibabel_qform_scaled.nii.gz"] = describe(arr.astype(np.float32) * 2.0 - 1024.0, sp, lps @ aff[:3, 3], m / sp)
    print(json.dumps(expected))


def read(files):
    out = {}
    for f in files:
        img = sitk.ReadImage(f)
        arr = np.transpose(sitk.GetArrayFromImage(img), (2, 1, 0))
        out[f] = describe(arr, img.GetSpacing(), img.GetOrigin(), np.array(img.GetDirection()).reshape(3, 3))
        out[f]["type"] = img.GetPixelIDTypeAsString()
    print(json.dumps(out))


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2])
    else:
        read(sys.argv[2:])
