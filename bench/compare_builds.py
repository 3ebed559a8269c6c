"""Time two builds of ctplan on the same inputs in one run: implant median per case, lung plan,
evaluation.

  python3 bench/compare_builds.py OLD_CTPLAN NEW_CTPLAN [--data ../shared/data] [--cases 10] [--repeat 3]

A restructure or a refactor must leave the speed where it was; this puts both binaries through
the same work in alternation (old, new, old, new, …), so that the machine's load drifts alike on
both, and prints one Markdown row per workload with each binary's median and the ratio
new / old. Workloads:
- `implant`: `ctplan implant` on the first `--cases` SkullFix test inputs with `--mesh` (the
  shipped design, as a user runs it), one process per case; the median over cases of each
  case's fastest run;
- `lung plan`: `ctplan lung plan` on Med-MPD Patient 1 with `--resect RS5 --fev1 2.5`;
- `eval`: `ctplan eval` of the SkullFix training implants against themselves (70 cases), the
  metric code's whole path (read, crop, EDT, surface distances).
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(cmd) -> float:
    t = time.perf_counter()
    subprocess.run([str(c) for c in cmd], check=True, capture_output=True)
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--data", default=str(ROOT.parent / "shared/data"))
    ap.add_argument("--cases", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    data = Path(a.data)
    bins = {"old": Path(a.old).resolve(), "new": Path(a.new).resolve()}
    tests = sorted((data / "skullfix/test_set_for_participants").glob("*.nrrd"))[: a.cases]
    train = data / "skullfix/training_set"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        work = {
            "implant": lambda b, f: [b, "implant", f, "-o", tmp / f"{f.stem}.nrrd", "--mesh", tmp / f"{f.stem}.stl"],
            "lung plan": lambda b, f: [b, "lung", "plan", data / "lung/med-mpd/Patient1", "-o", tmp / "case",
                                       "--resect", "RS5", "--fev1", "2.5"],
            "eval": lambda b, f: [b, "eval", "--pred", train / "implant", "--truth", train / "implant",
                                  "--defective", train / "defective_skull", "--csv", tmp / "eval.csv"],
        }
        inputs = {"implant": tests, "lung plan": [None], "eval": [None]}
        print("| workload | old (s) | new (s) | new / old |")
        print("|---|---:|---:|---:|")
        for name, cmd in work.items():
            best = {k: [] for k in bins}
            for f in inputs[name]:
                runs = {k: [] for k in bins}
                for _ in range(a.repeat):
                    for k, b in bins.items():
                        runs[k].append(timed(cmd(b, f)))
                for k in bins:
                    best[k].append(min(runs[k]))
            old, new = statistics.median(best["old"]), statistics.median(best["new"])
            print(f"| {name} | {old:.2f} | {new:.2f} | {new / old:.3f} |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
