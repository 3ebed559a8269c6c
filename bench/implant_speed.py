"""End-to-end time and peak memory of `ctplan implant` per SkullFix case.

  .venv/bin/python bench/implant_speed.py [--data ../shared/data] [--set test_set_for_participants]
      [--dir FOLDER] [--no-net]

Each case runs alone, one after the other, as a user would run it: read the defective skull,
design the implant (shipped shape prior and networks; `--no-net` without them), write
the implant NRRD (gzip) and the printable STL. `--dir` times the volumes of another folder (say
injected fronto-orbital defects, where the 3-D network runs; its stage is the "3-D net" column).
`ctplan-bench rss` times the process and reads its peak RSS from the kernel (getrusage);
the per-stage times come from `ctplan implant --json` (passed through on stderr). Targets: median ≤ 10 s, peak ≤ 3 GiB.
"""

import argparse
import json
import statistics
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CTPLAN = ROOT / "target/release/ctplan"
BENCH = ROOT / "target/release/ctplan-bench"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(ROOT.parent / "shared/data"))
    ap.add_argument("--set", default="test_set_for_participants")
    ap.add_argument("--dir", help="time the volumes of this folder instead")
    ap.add_argument("--no-net", action="store_true", help="design without the networks (to time what they add)")
    a = ap.parse_args()
    files = sorted((Path(a.dir) if a.dir else Path(a.data) / "skullfix" / a.set).glob("*.nrrd"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for f in files:
            out, stl = Path(tmp) / f.name, Path(tmp) / (f.stem + ".stl")
            r = subprocess.run(
                [BENCH, "rss", CTPLAN, "implant", f, "-o", out, "--mesh", stl, "--json"] + (["--no-net"] if a.no_net else []),
                check=True, capture_output=True, text=True,
            )
            rss = json.loads(r.stdout)
            report = json.loads(r.stderr)
            rows.append((f.stem, rss["seconds"], rss["peak_rss_mib"], report["seconds"], report["implant_ml"],
                         report["mesh"]["volume_ml"]))
    print("| case | total s | read | design | 3-D net | write | mesh | peak RSS MiB | implant mL | mesh mL |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for c, s, m, st, ml, mml in rows:
        print(f"| {c} | {s:.2f} | {st['read']:.2f} | {st['design']:.2f} | {st.get('voxel_net', 0):.2f} "
              f"| {st['write']:.2f} | {st['mesh']:.2f} | {m:.0f} | {ml:.1f} | {mml:.1f} |")
    secs = [r[1] for r in rows]
    print(f"\n{len(rows)} cases: median {statistics.median(secs):.2f} s (target ≤ 10 s), "
          f"max {max(secs):.2f} s, peak RSS max {max(r[2] for r in rows):.0f} MiB (target ≤ 3072 MiB), "
          f"mesh/voxel volume within {max(abs(r[5] / r[4] - 1) for r in rows) * 100:.2f} %")


if __name__ == "__main__":
    main()
