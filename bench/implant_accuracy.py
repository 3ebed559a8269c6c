"""Implant accuracy on held-out SkullFix cases and on injected defects of every style.

  .venv/bin/python bench/implant_accuracy.py [--data ../shared/data] [--work DIR] [--no-inject]
      [--net-b NET_B.safetensors] [--voxel-net NET3D.safetensors] [--voxel-net-b NET3D_B.safetensors]

Runs the release binary as a user would (`cargo build --release` first):

- Split A: the 14 cases 000, 005, …, 065 that the shipped prior and the shipped network leave
  out, designed as shipped (shape prior and the network's correction), with the shape prior
  alone (`--no-net`) and with `--no-prior`.
- Split B: the 14 cases 001, 006, …, 066, designed with a prior built without them
  (`ctplan skull prior … --hold-out …`) alone, and with `--no-prior`. The shipped network
  learned from these cases, so it is not measured here; `--net-b` names a twin trained without
  them (`training/shapenet.py all --hold-out 001,006,…,066 …`, docs/cranio.md), measured with
  that prior.
- Injected: every style of `ctplan skull inject` (seed 0, one defect) on split A's complete
  skulls, designed as shipped and with the shape prior alone; the fronto-orbital and
  parietotemporal styles also without the 3-D network (`--no-voxel-net`), and on split B's
  skulls, designed with the prior built without them (and the twin network, with `--net-b`;
  without it, with the shipped map network, which learned from split B, with and without the
  3-D network: only the difference of those two rows is held out).
  The shipped 3-D network learned from neither split; `--voxel-net` measures other weights on
  both, or on split A alone with `--voxel-net-b` naming the weights for split B (the two
  cross-validation folds of `training/folds.sh`, each trained without its split).

Each set is scored by `ctplan eval` (official AutoImplant definitions, bDSC band 10 mm) and
printed as one Markdown row: mean DSC, bDSC, HD95, the lowest DSC with its case, how many
designs raised a concern (`warning:` on standard error; docs/cranio.md) with their mean DSC,
and with a network, how many designs kept the shape prior's fill for a defect because the
network's correction was implausible (`note:` on standard error).
"""

import argparse
import contextlib
import csv
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CTPLAN = ROOT / "target/release/ctplan"
sys.path.insert(0, str(ROOT / "training"))
from splits import SPLIT_A, SPLIT_B  # noqa: E402  (one definition of the held-out splits)
STYLES = ["cube", "sphere", "craniotomy", "random", "bilateral", "frontoorbital", "parietotemporal"]
# The styles whose designs raise concerns, where the 3-D network reshapes the implant
# (docs/cranio.md, "3-D network"); measured with and without it.
LOW = ["frontoorbital", "parietotemporal"]


def run(*args):
    subprocess.run([str(CTPLAN), *map(str, args)], check=True, capture_output=True, text=True)


def link_split(train: Path, cases, dest: Path):
    for role in ["defective_skull", "implant", "complete_skull"]:
        (dest / role).mkdir(parents=True)
        for c in cases:
            (dest / role / f"{c}.nrrd").symlink_to(train / role / f"{c}.nrrd")
    return dest


def score(pred: Path, truth: Path, defective: Path, table: Path, refused=(), flagged=None) -> str:
    run("eval", "--pred", pred, "--truth", truth, "--defective", defective, "--csv", table)
    rows = list(csv.DictReader(open(table)))
    mean = lambda k: sum(float(r[k]) for r in rows) / len(rows)
    low = min(rows, key=lambda r: float(r["dsc"]))
    cases = f"{len(rows)}" + (f" ({', '.join(refused)} refused)" if refused else "")
    out = (f"{cases} | {mean('dsc'):.3f} | {mean('bdsc'):.3f} | {mean('hd95_mm'):.2f} | "
           f"{float(low['dsc']):.3f} ({low['case'][:3]})")
    if flagged is not None:
        hit = [float(r["dsc"]) for r in rows if r["case"] in flagged]
        out += f" | {len(hit)}" + (f" ({sum(hit) / len(hit):.3f})" if hit else "")
    return out


def design_and_score(split: Path, out: Path, *extra) -> str:
    # A case the design refuses ("no defect found") is reported and the others still run; the
    # means are over the designed cases and the row names the refused ones.
    # The cases whose design raised a concern ("warning: CASE: defect …" on standard error).
    design = subprocess.run([str(CTPLAN), "implant", str(split / "defective_skull"), "-o", str(out),
                             *map(str, extra)], capture_output=True, text=True)
    flagged = {line.split(": ")[1].removesuffix(".nrrd")
               for line in design.stderr.splitlines() if line.startswith("warning: ")}
    # Designs where the network's correction was refused as implausible, and those where it
    # was held back on a few bins ("note: CASE: …").
    notes = [line for line in design.stderr.splitlines() if line.startswith("note: ")]
    fell_back = {line.split(": ")[1] for line in notes if "implausible" in line}
    limited = {line.split(": ")[1] for line in notes if "held back" in line}
    names = sorted(p.name for p in (split / "defective_skull").glob("*.nrrd"))
    done = [n for n in names if (out / n).exists()]
    refused = [n.split("_")[0] for n in names if n not in done]
    truth, defective = split / "implant", split / "defective_skull"
    if refused:
        scored = out.with_name(out.name + "_scored")
        for role, src in [("implant", truth), ("defective_skull", defective)]:
            (scored / role).mkdir(parents=True)
            for n in done:
                (scored / role / n).symlink_to((src / n).resolve())
        truth, defective = scored / "implant", scored / "defective_skull"
    networked = "--no-net" not in extra and "--no-prior" not in extra
    return (score(out, truth, defective, out.with_suffix(".csv"), refused, flagged)
            + (f" | {len(fell_back)} ({len(limited)})" if networked else " | –"))


def parser() -> argparse.ArgumentParser:
    """The options every implant bench takes: the data folder and where to keep the outputs."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(ROOT.parent / "shared/data"))
    ap.add_argument("--work", help="keep the outputs here (default: a temporary folder)")
    return ap


@contextlib.contextmanager
def workspace(a):
    """The training set and a work folder holding split A's cases linked (`--work` or a
    temporary folder)."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(a.work) if a.work else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        train = Path(a.data) / "skullfix" / "training_set"
        yield train, work, link_split(train, SPLIT_A, work / "A")


def main():
    ap = parser()
    ap.add_argument("--no-inject", action="store_true", help="held-out splits only")
    ap.add_argument("--net-b", help="a network trained without split B's cases, to measure on them")
    ap.add_argument("--voxel-net", help="3-D network weights to measure instead of the shipped ones "
                    "(training/implant3d.py; both splits held out from it, or split A with --voxel-net-b)")
    ap.add_argument("--voxel-net-b", help="3-D network weights for split B's designs, trained without "
                    "split B (training/folds.sh); default: --voxel-net")
    a = ap.parse_args()
    vn = ["--voxel-net", a.voxel_net] if a.voxel_net else []
    vnb = ["--voxel-net", a.voxel_net_b] if a.voxel_net_b else vn
    with workspace(a) as (train, work, A):
        B = link_split(train, SPLIT_B, work / "B")
        prior_b = work / "B.ctprior"
        run("skull", "prior", train / "complete_skull", "--hold-out", ",".join(SPLIT_B), "-o", prior_b)
        print("| set | method | cases | DSC | bDSC | HD95 mm | lowest DSC | with concerns (their DSC) "
              "| network refused (held back at a few bins) |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
        print(f"| A | geometric only | {design_and_score(A, work / 'A_geo', '--no-prior')} |")
        print(f"| A | shape prior | {design_and_score(A, work / 'A_prior', '--no-net')} |")
        print(f"| A | shape prior + network ({'--voxel-net' if vn else 'shipped'}) | "
              f"{design_and_score(A, work / 'A_net', *vn)} |")
        print(f"| B | geometric only | {design_and_score(B, work / 'B_geo', '--no-prior')} |")
        print(f"| B | shape prior (built without B) | "
              f"{design_and_score(B, work / 'B_prior', '--prior', prior_b, '--no-net')} |")
        if a.net_b:
            print(f"| B | shape prior + network (both without B) | "
                  f"{design_and_score(B, work / 'B_net', '--prior', prior_b, '--net', a.net_b, *vnb)} |")
        if a.no_inject:
            return
        for style in STYLES:
            inj = work / "inject" / style
            run("skull", "inject", A / "complete_skull", "-o", inj, "--style", style, "--seed", "0")
            print(f"| A, {style} | shape prior | {design_and_score(inj, inj / 'pred', '--no-net')} |")
            if style in LOW:
                print(f"| A, {style} | shape prior + map network (`--no-voxel-net`) | "
                      f"{design_and_score(inj, inj / 'pred_map_net', '--no-voxel-net')} |")
            print(f"| A, {style} | shape prior + network | {design_and_score(inj, inj / 'pred_net', *vn)} |")
        # The two styles that reach below the vault, once more on split B's skulls with the
        # prior built without them: a check of the choices made on split A's injected defects.
        for style in LOW:
            inj = work / "inject_B" / style
            run("skull", "inject", B / "complete_skull", "-o", inj, "--style", style, "--seed", "0")
            print(f"| B, {style} | shape prior (built without B) | "
                  f"{design_and_score(inj, inj / 'pred', '--prior', prior_b, '--no-net')} |")
            # Without --net-b, the shipped map network, which learned from split B's skulls:
            # then only the difference between these two rows (the 3-D network's) is held out.
            net = ["--net", a.net_b] if a.net_b else []
            whose = "both without B" if a.net_b else "prior without B, shipped map network"
            print(f"| B, {style} | shape prior + map network ({whose}; `--no-voxel-net`) | "
                  f"{design_and_score(inj, inj / 'pred_map_net', '--prior', prior_b, *net, '--no-voxel-net')} |")
            print(f"| B, {style} | shape prior + network ({whose}) | "
                  f"{design_and_score(inj, inj / 'pred_net', '--prior', prior_b, *net, *vnb)} |")


if __name__ == "__main__":
    main()
