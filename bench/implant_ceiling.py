"""What limits the implant design: the map, the shape model, or fitting it to the rim alone.

  cargo build --release && cargo build --release -p ctplan-cranio --example implant_ceiling
  .venv/bin/python bench/implant_ceiling.py [--data ../shared/data] [--work DIR]

On split A's held-out SkullFix cases and on the styles of `ctplan skull inject` named below
(seed 0, split A's complete skulls), three designs of the same defects and rebuilt regions,
scored by `ctplan eval` (official definitions, bDSC band 10 mm):

- design: `ctplan implant --no-net` (the shape model fitted to the ring of intact bone, without
  the network's correction of its fill);
- shape model fitted to the answer: the same model fitted to the complete skull over the ring
  and the rebuilt region, then blended as usual (`implant_ceiling … model`): the best the
  prior's shapes can hold;
- map of the answer: the complete skull's own inner and outer radius over the rebuilt region
  (`implant_ceiling … map`): the best the two-radii map can hold.
"""

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from implant_accuracy import CTPLAN, ROOT, parser, run, score, workspace  # noqa: E402

CEILING = ROOT / "target/release/examples/implant_ceiling"
STYLES = ["cube", "frontoorbital", "parietotemporal"]


def complete_like(names, complete: Path, dest: Path) -> Path:
    """A folder of complete skulls named like the defective ones (`000_cube_s0_0.nrrd` → 000)."""
    dest.mkdir(parents=True)
    for n in names:
        (dest / n).symlink_to((complete / f"{n[:3]}.nrrd").resolve())
    return dest


def row(label: str, split: Path, complete: Path, work: Path) -> str:
    defective, truth = split / "defective_skull", split / "implant"
    names = sorted(p.name for p in defective.glob("*.nrrd"))
    com = complete_like(names, complete, work / "complete")
    cells = []
    subprocess.run([str(CTPLAN), "implant", str(defective), "-o", str(work / "design"), "--no-net"],
                   check=True, capture_output=True)
    cells.append(score(work / "design", truth, defective, work / "design.csv"))
    for what in ["model", "map"]:
        subprocess.run([str(CEILING), str(defective), str(com), str(work / what), what],
                       check=True, capture_output=True)
        cells.append(score(work / what, truth, defective, work / f"{what}.csv"))
    # score() gives "cases | DSC | bDSC | HD95 | lowest"; keep DSC, bDSC, HD95 of each.
    short = [" | ".join(c.split(" | ")[1:4]) for c in cells]
    return f"| {label} | " + " | ".join(short) + " |"


def main():
    with workspace(parser().parse_args()) as (_, work, A):
        print("| set (split A) | design DSC | bDSC | HD95 mm | model fitted to the answer DSC | "
              "bDSC | HD95 mm | map of the answer DSC | bDSC | HD95 mm |")
        print("|---|" + "---:|" * 9)
        print(row("SkullFix defects", A, A / "complete_skull", work / "skullfix"))
        for style in STYLES:
            inj = work / "inject" / style
            run("skull", "inject", A / "complete_skull", "-o", inj, "--style", style, "--seed", "0")
            print(row(f"injected {style}", inj, A / "complete_skull", work / style))


if __name__ == "__main__":
    main()
