#!/bin/sh
# How close the rhythm and dynamics of generated music come to the training corpus's, for a
# timed model against an original one (the baseline) trained the same way in the same run:
# total-variation distances (0 = the same, 1 = nothing shared) of onset gaps, note lengths,
# velocity levels and notes struck together, between `continuo eval`'s continuations and
# the seed corpus (docs/EVAL.md). Both networks are the shipped default's size.
# Usage: bench/rhythm.sh [EPOCHS=20] [BUILD_DIR=build]
set -eu
epochs=${1:-20}
build=${2:-build}
. "$(dirname "$0")/seed.sh"
seed_and_work

field() { sed "s/.*\"$2\": \([0-9.]*\).*/\1/" "$1"; }

for tokens in original timed; do
  start=$(date +%s)
  "$build"/continuo train --tokens "$tokens" --data "$seed" --out "$work/$tokens.cnw" \
    --best "$work/$tokens.best.cnw" --layers 2 --hidden 128 --dense 64 --embed 32 --seq 50 \
    --batch 16 --epochs "$epochs" --seed 1 -q
  seconds=$(( $(date +%s) - start ))
  "$build"/continuo eval -w "$work/$tokens.best.cnw" --samples 8 --length 1000 --json "$seed" \
    > "$work/$tokens.json"
  echo "$tokens: $epochs epochs in ${seconds} s; distances from the corpus: onset gaps" \
       "$(field "$work/$tokens.json" onset_gap_distance), lengths" \
       "$(field "$work/$tokens.json" length_distance), velocities" \
       "$(field "$work/$tokens.json" velocity_distance), struck together" \
       "$(field "$work/$tokens.json" together_distance)"
done
for measure in onset_gap_distance length_distance velocity_distance together_distance; do
  awk -v m="$measure" -v o="$(field "$work/original.json" "$measure")" \
      -v t="$(field "$work/timed.json" "$measure")" \
      'BEGIN { printf "%s: original %.3f, timed %.3f, %.1fx closer\n", m, o, t, (t > 0 ? o / t : 0) }'
done
