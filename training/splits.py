"""The two held-out splits of the SkullFix training set, defined once.

Split A (000, 005, …, 065) is what the shipped shape prior, map network and 3-D network leave
out; the design's parameters were chosen on it. Split B (001, 006, …, 066) checks those choices
(docs/cranio.md, "Accuracy"). `bench/implant_accuracy.py` measures on them, and
`training/implant3d.py` and `training/folds.sh` hold them out.

  python training/splits.py a|b|ab     # prints the split as comma-separated case numbers
"""

import sys

SPLIT_A = [f"{i:03d}" for i in range(0, 70, 5)]
SPLIT_B = [f"{i:03d}" for i in range(1, 70, 5)]
SPLITS = {"a": SPLIT_A, "b": SPLIT_B, "ab": sorted(SPLIT_A + SPLIT_B)}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in SPLITS:
        sys.exit("usage: python training/splits.py a|b|ab")
    print(",".join(SPLITS[sys.argv[1]]))
