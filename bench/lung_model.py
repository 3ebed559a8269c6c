"""The lung model from the CT: `ctplan lung model` against a SimpleITK peer, in one run.

  python bench/lung_model.py [--data ../shared/data] [--repeat 2]

Needs the release binaries (cargo build --release) and the reference venv (.ci/run makes it).
Inputs: `lung/chest-ct-2mm` (141 DICOM slices of 512², 2 mm) and the same CT resampled by
SimpleITK (linear) to 400 slices of 0.70 mm: a 512×512×400 CT, written to a temporary NRRD.

For each input it reports:
- `ctplan lung model` as a process, end to end (read, body, airway, lungs, airway tree, lobes,
  picture, writing): wall seconds and peak RSS (through `ctplan-bench rss`);
- the peer: the same classical recipe written with SimpleITK filters, in-process on the volume
  already read: body (threshold at -500 HU, binary opening of 3 mm, largest component, each
  axial slice's holes filled), airway (ConnectedThreshold from the trachea seed ctplan found,
  thresholds from -950 HU up by 10 HU until the region more than doubles by over 50 mL, the
  explosion-controlled growing of Mori et al. 1996) and lungs (below -400 HU inside the body,
  pieces of 100 mL or more, slice holes filled). The peer does no tree analysis, lobes,
  per-branch extension, picture or writing, so the fair ratio is on the stages both do:
  peer seconds / ctplan's body + airway + lungs seconds (from model.json).
It prints a Markdown table.
"""

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

ROOT = Path(__file__).resolve().parent.parent
CTPLAN = ROOT / "target/release/ctplan"
BENCH = ROOT / "target/release/ctplan-bench"


def run_rss(cmd):
    r = json.loads(subprocess.run([BENCH, "rss", *map(str, cmd)], check=True, capture_output=True).stdout)
    if r["exit"] != 0:
        raise SystemExit(f"{cmd} failed")
    return r["seconds"], r["peak_rss_mib"]


def largest(mask, min_voxels=0, keep=1):
    cc = sitk.RelabelComponent(sitk.ConnectedComponent(mask), min_voxels)
    return sitk.BinaryThreshold(cc, 1, keep, 1, 0)


def fill_slices(mask):
    arr = sitk.GetArrayFromImage(mask)
    out = np.empty_like(arr)
    for k in range(arr.shape[0]):
        out[k] = sitk.GetArrayFromImage(sitk.BinaryFillhole(sitk.GetImageFromArray(arr[k])))
    img = sitk.GetImageFromArray(out)
    img.CopyInformation(mask)
    return img


def peer(ct, seed_mm):
    sp = ct.GetSpacing()
    ml = sp[0] * sp[1] * sp[2] / 1000.0
    dense = sitk.BinaryThreshold(ct, -499, 32767, 1, 0)
    radius = [max(1, int(round(3.0 / s))) for s in sp]
    core = largest(sitk.BinaryMorphologicalOpening(dense, radius, sitk.sitkBall))
    near = sitk.BinaryDilate(core, [2 * r for r in radius], sitk.sitkBall)
    body = fill_slices(largest(sitk.And(dense, near)))
    seed = ct.TransformPhysicalPointToIndex(seed_mm)
    kept, t = None, -950
    while t <= -600:
        region = sitk.ConnectedThreshold(ct, seedList=[seed], lower=-2000, upper=t - 1)
        region = sitk.And(region, body)
        n = int(sitk.GetArrayViewFromImage(region).sum())
        if kept is not None and n > 2 * kept[1] and (n - kept[1]) * ml > 50:
            break
        kept = (region, n)
        t += 10
    airway = kept[0]
    dark = sitk.And(sitk.BinaryThreshold(ct, -2000, -401, 1, 0), body)
    dark = sitk.And(dark, sitk.Not(sitk.BinaryDilate(airway, [1, 1, 1])))
    lungs = fill_slices(largest(dark, int(100 / ml), keep=2))
    return body, airway, lungs


def measure(ct_path, repeat, out_dir):
    runs = []
    for _ in range(repeat):
        d = Path(out_dir) / "model"
        secs, rss = run_rss([CTPLAN, "--force", "lung", "model", ct_path, "-o", d])
        report = json.loads((d / "model.json").read_text())
        runs.append((secs, rss, report))
    secs, rss, report = min(runs, key=lambda r: r[0])
    stages = dict(report["seconds"])
    ours = stages["body"] + stages["airway"] + stages["lungs"]
    reader = sitk.ImageSeriesReader()
    if os.path.isdir(ct_path):
        reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(ct_path)))
        ct = reader.Execute()
    else:
        ct = sitk.ReadImage(str(ct_path))
    ct = sitk.Cast(ct, sitk.sitkInt16)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        _, _, lungs = peer(ct, report["airway"]["seed_mm"])
        times.append(time.perf_counter() - t0)
    peer_lung_ml = float(sitk.GetArrayViewFromImage(lungs).sum()) * np.prod(ct.GetSpacing()) / 1000
    return {
        "size": "×".join(map(str, ct.GetSize())),
        "ctplan_total_s": secs,
        "ctplan_rss_mib": rss,
        "ctplan_stages_s": ours,
        "peer_s": min(times),
        "ratio": min(times) / ours,
        "lungs_ml": report["right_lung_ml"] + report["left_lung_ml"],
        "peer_lungs_ml": peer_lung_ml,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(ROOT.parent / "shared/data"))
    ap.add_argument("--repeat", type=int, default=2)
    a = ap.parse_args()
    chest = Path(a.data) / "lung/chest-ct-2mm"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(("chest-ct-2mm", measure(chest, a.repeat, tmp)))
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(chest)))
        im = reader.Execute()
        sz, sp = im.GetSize(), im.GetSpacing()
        nsp = (sp[0], sp[1], sp[2] * (sz[2] - 1) / 399)
        thin = sitk.Resample(im, (sz[0], sz[1], 400), sitk.Transform(), sitk.sitkLinear,
                             im.GetOrigin(), nsp, im.GetDirection(), -1024, sitk.sitkInt16)
        path = Path(tmp) / "chest400.nrrd"
        sitk.WriteImage(thin, str(path), True)
        rows.append(("chest-ct-2mm at 400 slices", measure(path, a.repeat, tmp)))
    print(f"cores: {os.cpu_count()}")
    print("| CT | voxels | ctplan end to end (s) | peak RSS (MiB) | ctplan body+airway+lungs (s) "
          "| SimpleITK peer, same stages (s) | peer / ctplan | lungs mL ctplan / peer |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name, r in rows:
        print(f"| {name} | {r['size']} | {r['ctplan_total_s']:.1f} | {r['ctplan_rss_mib']:.0f} "
              f"| {r['ctplan_stages_s']:.1f} | {r['peer_s']:.1f} | {r['ratio']:.2f}× "
              f"| {r['lungs_ml']:.0f} / {r['peer_lungs_ml']:.0f} |")


if __name__ == "__main__":
    main()
