#!/bin/sh
# The network and recipe for the piano collection (midi_songs/piano-midi): candidate sizes
# and recipes, each trained MINUTES on one thread beside another (bench/recipe.sh), held-out
# loss against minutes. The default model is the winner trained on (docs/PERFORMANCE.md).
# Usage: bench/piano.sh [MINUTES=15] [BUILD_DIR=build] [KEEP_DIR]
set -eu
cd "$(dirname "$0")/.."
minutes=${1:-15}
build=${2:-build}
list=$(mktemp)
trap 'rm -f "$list"' EXIT
cat > "$list" <<'LIST'
piano-2x256-b16-s50: --layers 2 --hidden 256 --dense 128 --embed 32 --batch 16 --seq 50
piano-2x384-b16-s50: --layers 2 --hidden 384 --dense 192 --embed 48 --batch 16 --seq 50
piano-2x512-b32-s100: --layers 2 --hidden 512 --dense 256 --embed 64 --batch 32 --seq 100
piano-3x384-b16-s50: --layers 3 --hidden 384 --dense 192 --embed 48 --batch 16 --seq 50
LIST
CONTINUO_SEED_DIR=. CONTINUO_RECIPE_DATA=midi_songs/piano-midi CONTINUO_RECIPE_KEEP=${3:-} \
  bench/recipe.sh "$minutes" "$build" "$list"
