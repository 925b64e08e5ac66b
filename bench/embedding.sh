#!/bin/sh
# The original's scalar input (token / vocabulary size) against a learned 64-wide
# embedding, both with the every-position objective and the default sizes, on the seed
# corpus with every tenth song held out; held-out loss after each epoch, both modes.
# Usage: bench/embedding.sh [EPOCHS=8] [BUILD_DIR]
set -eu
. "$(dirname "$0")/heldout.sh"
epochs=${1:-8}
build=${2:-build}
seed=${CONTINUO_SEED_DIR:-../shared/corpus/seed}
work=$(mktemp -d)
mkdir "$work/val"
heldout_links "$seed" "$work/val"
for embed in 0 64; do
  for e in $(seq 1 "$epochs"); do
    if [ "$e" = 1 ]; then
      "$build"/continuo train --tokens original --data "$seed" --out "$work/m$embed.cnw" --embed "$embed" --epochs 1 -q
    else
      "$build"/continuo train --data "$seed" --out "$work/m$embed.cnw" --resume --epochs "$e" -q
    fi
    seconds=$(tail -n 1 "$work/m$embed.csv" | cut -d, -f7)
    "$build"/continuo eval -w "$work/m$embed.cnw" --samples 0 --json "$work/val" |
      sed "s/.*\"stateful\": {\"cross_entropy\": \([0-9.]*\).*\"accuracy\": \([0-9.]*\), .*\"window\": {\"cross_entropy\": \([0-9.]*\).*/embed $embed epoch $e (${seconds} s): stateful \1 (accuracy \2), window \3/"
  done
done
rm -rf "$work"
