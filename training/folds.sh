#!/usr/bin/env bash
# The 3-D network's two cross-validation folds, trained at once on one machine (a GPU's two
# halves, or a CPU's cores shared): fold A learns from every training case but split A's
# (000, 005, ..., 065), fold B from every case but split B's (001, 006, ..., 066), so each
# learns from 56 skulls instead of the shipped network's 42 and is measured on the split it
# left out:
#
#   training/folds.sh PACK_DIR OUT_DIR [SECONDS] [-- extra train options]
#   .venv/bin/python bench/implant_accuracy.py --voxel-net OUT_DIR/fold_a.safetensors \
#       --voxel-net-b OUT_DIR/fold_b.safetensors --net-b NET_B.safetensors
#
# Both go on from the shipped weights (which learned from neither split) with `train --init`
# for SECONDS each (default 360), learning rate 3e-4 unless the extra options say otherwise.
# Writes OUT_DIR/fold_a.safetensors, fold_b.safetensors, their .json records and logs.
set -euo pipefail
usage() {
    echo "usage: training/folds.sh PACK_DIR OUT_DIR [SECONDS] [-- extra train options]" >&2
    exit 2
}
[ $# -ge 2 ] || usage
work=$1 out=$2
shift 2
secs=360
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
    secs=$1
    shift
fi
[[ $secs =~ ^[0-9]+$ ]] || { echo "training/folds.sh: SECONDS must be a whole number, got '$secs'" >&2; exit 2; }
if [ $# -gt 0 ]; then
    [ "$1" = "--" ] || usage
    shift
fi
mkdir -p "$out"
here=$(cd "$(dirname "$0")" && pwd)
py=${PYTHON:-python}
declare -A pid
for fold in a b; do
    held=$("$py" "$here/splits.py" $fold)
    "$py" "$here/implant3d.py" train --work "$work" --hold-out "$held" \
        --init "$here/../crates/ctplan-cranio/assets/implant_net.safetensors" --lr 3e-4 \
        --seconds "$secs" "$@" --out "$out/fold_$fold.safetensors" >"$out/fold_$fold.log" 2>&1 &
    pid[$fold]=$!
done
status=0
for fold in a b; do
    if ! wait "${pid[$fold]}"; then
        echo "training/folds.sh: fold $fold failed; the end of $out/fold_$fold.log:" >&2
        tail -n 20 "$out/fold_$fold.log" >&2
        status=1
    fi
done
exit $status
