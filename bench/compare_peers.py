"""Benchmarks of ctplan against named peers, measured in one run on the same files.

  python bench/compare_peers.py [--data ../shared/data] [--cases 000 021 047]

Needs the release binaries (cargo build --release) and the reference venv (.ci/run makes it).
For each case it times, best of a few runs:
- evaluation (read three NRRDs + DSC, bDSC, HD, HD95, ASSD): `ctplan eval` as a process vs the
  scipy reference (tests/reference/autoimplant_reference.py: pynrrd + full-grid scipy EDTs),
  with the peak RSS of the `ctplan eval` process;
- the exact EDT of a 512×512×Z complete skull (background → skull, with spacing), in-process:
  `ctplan-bench edt` vs scipy.ndimage.distance_transform_edt vs SimpleITK SignedMaurerDistanceMap;
- the read of a gzip NRRD SkullFix file: `ctplan-bench read` vs pynrrd.read.
It prints a Markdown table with the ratios (peer time / ctplan time) and the machine's cores.
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
import SimpleITK as sitk
from scipy.ndimage import distance_transform_edt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests/reference"))
import autoimplant_reference as ref  # noqa: E402

CTPLAN = ROOT / "target/release/ctplan"
BENCH = ROOT / "target/release/ctplan-bench"


def best(f, repeat):
    times = []
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t)
    return min(times), out


def run_rss(cmd):
    """Run a command through `ctplan-bench rss` (a small parent, so the child's peak RSS is its
    own); return (wall seconds, peak RSS in MiB)."""
    r = json.loads(subprocess.run([BENCH, "rss", *map(str, cmd)], check=True, capture_output=True).stdout)
    if r["exit"] != 0:
        sys.exit(f"{cmd} failed")
    return r["seconds"], r["peak_rss_mib"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(ROOT.parent / "shared/data"))
    ap.add_argument("--cases", nargs="+", default=["000", "021", "047"])
    ap.add_argument("--repeat", type=int, default=2)
    a = ap.parse_args()
    train = Path(a.data) / "skullfix/training_set"
    rows = []
    tmp = Path(tempfile.mkdtemp())
    for case in a.cases:
        truth, defective = train / f"implant/{case}.nrrd", train / f"defective_skull/{case}.nrrd"
        complete = train / f"complete_skull/{case}.nrrd"
        pred = tmp / f"{case}.nrrd"
        subprocess.run([sys.executable, str(ROOT / "tests/reference/perturb_implant.py"), truth, defective, pred,
                        "--shift", "2", "1", "0", "--dilate", "1", "--dropout", "0.02"], check=True)
        shape = nrrd.read_header(str(complete))["sizes"]

        # Evaluation, end to end.
        def scipy_eval():
            p, sp = ref.load(pred)
            t, _ = ref.load(truth)
            d, _ = ref.load(defective)
            return ref.metrics(p, t, d, sp)
        t_ref, m_ref = best(scipy_eval, 1)
        runs = [run_rss([CTPLAN, "eval", "--json", "--pred", pred, "--truth", truth, "--defective", defective])
                for _ in range(a.repeat + 1)]
        t_ours = min(r[0] for r in runs)
        rss = max(r[1] for r in runs)
        m_ours = json.loads(subprocess.run([CTPLAN, "eval", "--json", "--pred", pred, "--truth", truth, "--defective",
                                            defective], check=True, capture_output=True).stdout)["cases"][0]
        assert abs(m_ours["hd95"] - m_ref["hd95"]) < 1e-4 and abs(m_ours["dsc"] - m_ref["dsc"]) < 1e-9
        rows.append((case, "evaluate one case (read 3 NRRD + all metrics)", "scipy reference", t_ref, t_ours,
                     f"peak RSS {rss:.0f} MiB"))

        # EDT of a complete skull.
        mask, hdr = nrrd.read(str(complete))
        mask = mask != 0
        spacing = np.linalg.norm(np.asarray(hdr["space directions"], float), axis=1)
        t_scipy, d_scipy = best(lambda: distance_transform_edt(~mask, sampling=spacing), a.repeat)
        img = sitk.GetImageFromArray(np.transpose(mask.astype(np.uint8), (2, 1, 0)))
        img.SetSpacing(tuple(spacing))
        t_sitk, _ = best(lambda: sitk.SignedMaurerDistanceMap(img, insideIsPositive=False, squaredDistance=False,
                                                              useImageSpacing=True), a.repeat)
        edt = json.loads(subprocess.run([BENCH, "edt", complete, str(a.repeat)], check=True, capture_output=True).stdout)
        rel = abs(edt["sum_distance_mm"] - float(d_scipy.sum())) / float(d_scipy.sum())
        assert rel < 1e-6, f"EDT disagrees with scipy: {rel}"
        rows.append((case, f"exact EDT {shape[0]}×{shape[1]}×{shape[2]} skull", "scipy distance_transform_edt",
                     t_scipy, edt["seconds"], "same distances (sum within 1e-6)"))
        rows.append((case, f"exact EDT {shape[0]}×{shape[1]}×{shape[2]} skull", "SimpleITK SignedMaurerDistanceMap",
                     t_sitk, edt["seconds"], f"SimpleITK threads {sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()}"))

        # Gzip NRRD read.
        t_pynrrd, _ = best(lambda: nrrd.read(str(complete)), a.repeat + 1)
        rd = json.loads(subprocess.run([BENCH, "read", complete, str(a.repeat + 1)], check=True, capture_output=True).stdout)
        rows.append((case, "read gzip NRRD (int32)", "pynrrd", t_pynrrd, rd["seconds"], f"{os.path.getsize(complete) / 1e6:.2f} MB on disk"))

    print(f"machine: {os.cpu_count()} cores; ctplan threads = {os.cpu_count()}\n")
    print("| case | task | peer | peer s | ctplan s | speed-up | note |")
    print("|---|---|---|---:|---:|---:|---|")
    for case, task, peer, tp, tc, note in rows:
        print(f"| {case} | {task} | {peer} | {tp:.3f} | {tc:.3f} | {tp / tc:.1f}× | {note} |")


if __name__ == "__main__":
    main()
