#!/bin/sh
# How long the every-position objective takes to reach the validation loss the original
# objective reaches after the same number of epochs, on the seed corpus (every tenth song
# held out). Both are measured the same way: window mode (each held-out token predicted
# from the 100 before it), as the original objective trains.
# Usage: bench/objectives.sh [EPOCHS_OF_LAST=1] [MAX_EPOCHS_OF_ALL=10] [BUILD_DIR]
set -eu
. "$(dirname "$0")/heldout.sh"
epochs_last=${1:-1}
max_all=${2:-10}
build=${3:-build}
seed=${CONTINUO_SEED_DIR:-../shared/corpus/seed}
work=$(mktemp -d)
mkdir "$work/val"
heldout_links "$seed" "$work/val"

window_loss() { "$build"/continuo eval -w "$1" --samples 0 --json "$work/val" |
                sed 's/.*"window": {"cross_entropy": \([0-9.]*\).*/\1/'; }

start=$(date +%s)
"$build"/continuo train --data "$seed" --out "$work/last.cnw" --preset original --val-split 0.1 \
  --epochs "$epochs_last" -q
last_seconds=$(( $(date +%s) - start ))
target=$(window_loss "$work/last.cnw")
echo "objective last (original preset), $epochs_last epoch(s): window val loss $target, ${last_seconds} s"

elapsed=0
for e in $(seq 1 "$max_all"); do
  start=$(date +%s)
  if [ "$e" = 1 ]; then
    "$build"/continuo train --tokens original --data "$seed" --out "$work/all.cnw" --epochs 1 -q
  else
    "$build"/continuo train --data "$seed" --out "$work/all.cnw" --resume --epochs "$e" -q
  fi
  elapsed=$(( elapsed + $(date +%s) - start ))
  loss=$(window_loss "$work/all.cnw")
  echo "objective all (default), epoch $e: window val loss $loss, ${elapsed} s of training"
  if awk "BEGIN{exit !($loss <= $target)}"; then
    echo "objective all reached $target after $e epoch(s), ${elapsed} s, against ${last_seconds} s for last"
    break
  fi
done
rm -rf "$work"
