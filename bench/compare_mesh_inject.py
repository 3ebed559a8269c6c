"""Benchmarks of the skull pipeline against named peers, in one run on the same files.

  .venv/bin/python bench/compare_mesh_inject.py [--data ../shared/data]

1. Surface mesh of a complete SkullFix skull: marching + smoothing + binary STL written.
   ctplan (`ctplan-bench mesh`: marching tetrahedra, 20 Taubin iterations, printability check,
   STL) vs VTK (vtkDiscreteFlyingEdges3D, vtkWindowedSincPolyDataFilter with 20 iterations,
   vtkSTLWriter binary), both in-process on a mask already in memory, best of 3.
2. Defect injection for 10 complete skulls, read + cut + write both NRRDs: `ctplan skull inject
   --style cube` on the folder vs the organisers' numpy approach (pynrrd read, zero a cube of
   voxels at the top of the array, implant = complete − defective, pynrrd write with gzip).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nrrd
import numpy as np
import vtk
from vtk.util import numpy_support

ROOT = Path(__file__).resolve().parent.parent
CTPLAN = ROOT / "target/release/ctplan"
BENCH = ROOT / "target/release/ctplan-bench"


def vtk_mesh(mask, spacing, out, iterations=20):
    img = vtk.vtkImageData()
    img.SetDimensions(*mask.shape)
    img.SetSpacing(*spacing)
    arr = numpy_support.numpy_to_vtk(np.ascontiguousarray(mask.astype(np.uint8).ravel(order="F")), deep=True)
    img.GetPointData().SetScalars(arr)
    t = time.perf_counter()
    fe = vtk.vtkDiscreteFlyingEdges3D()
    fe.SetInputData(img)
    fe.SetValue(0, 1)
    ws = vtk.vtkWindowedSincPolyDataFilter()
    ws.SetInputConnection(fe.GetOutputPort())
    ws.SetNumberOfIterations(iterations)
    ws.SetPassBand(0.1)
    ws.NormalizeCoordinatesOn()
    ws.BoundarySmoothingOff()
    ws.NonManifoldSmoothingOn()
    w = vtk.vtkSTLWriter()
    w.SetInputConnection(ws.GetOutputPort())
    w.SetFileName(str(out))
    w.SetFileTypeToBinary()
    w.Write()
    return time.perf_counter() - t, ws.GetOutput().GetNumberOfCells()


def numpy_inject(files, out):
    """The organisers' approach: a cube of voxels zeroed at the top of the array."""
    rng = np.random.default_rng(0)
    os.makedirs(out / "defective_skull", exist_ok=True)
    os.makedirs(out / "implant", exist_ok=True)
    for f in files:
        data, header = nrrd.read(str(f))
        zs = np.nonzero(data.any(axis=(0, 1)))[0]
        top = zs.max()
        size = 128
        x0 = rng.integers(160, 512 - 160 - size)
        y0 = rng.integers(160, 512 - 160 - size)
        defective = data.copy()
        defective[x0:x0 + size, y0:y0 + size, top - 64:top + 1] = 0
        implant = data - defective
        nrrd.write(str(out / "defective_skull" / f.name), defective, header, compression_level=6)
        nrrd.write(str(out / "implant" / f.name), implant, header, compression_level=6)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(ROOT.parent / "shared/data"))
    ap.add_argument("--case", default="000")
    a = ap.parse_args()
    train = Path(a.data) / "skullfix/training_set"
    tmp = Path(tempfile.mkdtemp())
    rows = []
    for case in [a.case, "021"]:
        f = train / f"complete_skull/{case}.nrrd"
        data, header = nrrd.read(str(f))
        spacing = np.linalg.norm(np.asarray(header["space directions"], float), axis=1)
        runs = [vtk_mesh(data != 0, spacing, tmp / "vtk.stl") for _ in range(3)]
        t_vtk, faces_vtk = min(runs)
        ours = json.loads(subprocess.run([BENCH, "mesh", f, tmp / "ours.stl", "20", "3"], check=True,
                                         capture_output=True).stdout)
        rows.append((case, "complete-skull mesh + 20 smoothing iterations + binary STL", "VTK 9 flying edges + windowed sinc",
                     t_vtk, ours["seconds"], f"faces: VTK {faces_vtk}, ctplan {ours['faces']} (checked watertight)"))
    files = sorted((train / "complete_skull").glob("*.nrrd"))[:10]
    inputs = tmp / "inputs"
    inputs.mkdir()
    for f in files:
        os.symlink(f, inputs / f.name)
    t = time.perf_counter()
    numpy_inject(files, tmp / "np")
    t_np = time.perf_counter() - t
    t = time.perf_counter()
    subprocess.run([CTPLAN, "skull", "inject", inputs, "-o", tmp / "ours", "--style", "cube", "--seed", "0"], check=True,
                   capture_output=True)
    t_ours = time.perf_counter() - t
    rows.append(("000–009", "defect injection, 10 skulls (read, cut, write 20 NRRDs)", "organisers' numpy + pynrrd", t_np, t_ours,
                 "ctplan places the cube in world coordinates and checks it cuts through"))
    print(f"machine: {os.cpu_count()} cores; VTK {vtk.vtkVersion.GetVTKVersion()}\n")
    print("| case | task | peer | peer s | ctplan s | speed-up | note |")
    print("|---|---|---|---:|---:|---:|---|")
    for case, task, peer, tp, tc, note in rows:
        print(f"| {case} | {task} | {peer} | {tp:.2f} | {tc:.2f} | {tp / tc:.1f}× | {note} |")


if __name__ == "__main__":
    main()
