#!/bin/sh
# The sampling defaults, chosen by measurement: continuations of the held-out openings of
# the piano collection (continuo eval --held-out 0.1) for each temperature and top-p, with
# the composer's own continuations as the ceiling (docs/EVAL.md defines each column).
# Usage: bench/sampling.sh [WEIGHTS=weights/default.cnw] [BUILD_DIR=build]
set -eu
cd "$(dirname "$0")/.."
weights=${1:-weights/default.cnw}
build=${2:-build}
printf '%-6s %-5s %8s %8s %8s %8s %8s %8s %8s\n' temp top-p in-key key-kept "held>=4" \
  gap-dist top-gap velocity ended
row() { # NAME JSON_FILE MODEL_OR_COMPOSER
  /usr/bin/python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))["continuations"][sys.argv[2]]
f = lambda k: "%8.3f" % c[k] if c.get(k) is not None else "%8s" % "-"
print(" ".join([f("in_key"), f("keys_agree"), f("long_notes"), f("gap_distance"),
                f("top_gap"), "%8.2f" % c["velocity_difference"], f("ended_at_longest")]))' "$1" "$2"
}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for t in 0.7 0.8 0.9 1.0; do
  for p in 0.9 0.95; do
    OPENBLAS_NUM_THREADS=1 "$build"/continuo eval -w "$weights" --held-out 0.1 --samples 0 \
      --no-window -t "$t" --top-p "$p" --json midi_songs/piano-midi > "$out"
    printf '%-6s %-5s %s\n' "$t" "$p" "$(row "$out" model)"
  done
done
printf '%-12s %s\n' composer "$(row "$out" composer)"
