#!/bin/sh
# The guide's strengths (guide.h: --key-guard, --loudness-width, --rhythm-guard), chosen by
# measurement: continuations of the held-out openings of the piano collection (continuo
# eval --held-out 0.1) at the default temperature and top-p, each setting averaged over
# SEEDS draws (one continuation per piece each), with the composer's as the ceiling.
# EVAL_OPTIONS adds options to every eval (e.g. "-t 0.9 --top-p 0.9").
# Usage: [SEEDS="1 2"] [SETTINGS="K,L,R ..."] [EVAL_OPTIONS=...] bench/guide.sh [WEIGHTS] [BUILD_DIR]
set -eu
cd "$(dirname "$0")/.."
weights=${1:-weights/default.cnw}
build=${2:-build}
settings=${SETTINGS:-"0,0,0 0.9,2,0 0.9,2,0.3 0.9,2,0.5"}
out=$(mktemp)
trap 'rm -f "$out"*' EXIT
printf '%-5s %-5s %-6s %8s %8s %8s %8s %8s %8s\n' key loud rhythm in-key key-kept "held>=4" \
  gap-dist top-gap velocity
for s in $settings; do
  k=${s%%,*} rest=${s#*,}
  l=${rest%%,*} r=${rest#*,}
  files=""
  for seed in ${SEEDS:-1 2}; do
    OPENBLAS_NUM_THREADS=1 "$build"/continuo eval -w "$weights" --held-out 0.1 --samples 0 \
      --no-window -s "$seed" ${EVAL_OPTIONS:-} --key-guard "$k" --loudness-width "$l" --rhythm-guard "$r" \
      --json midi_songs/piano-midi > "$out.$seed"
    files="$files $out.$seed"
  done
  printf '%-5s %-5s %-6s ' "$k" "$l" "$r"
  /usr/bin/python3 -c '
import json, sys
runs = [json.load(open(f))["continuations"] for f in sys.argv[2:]]
who = sys.argv[1]
mean = lambda k: sum(r[who][k] for r in runs) / len(runs)
print(" ".join("%8.3f" % mean(k) for k in
      ["in_key", "keys_agree", "long_notes", "gap_distance", "top_gap"]),
      "%8.2f" % mean("velocity_difference"))' model $files
  first_seed=${SEEDS:-1 2}
  last=$out.${first_seed%% *}
done
printf '%-18s ' composer
/usr/bin/python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))["continuations"]["composer"]
print(" ".join("%8.3f" % c[k] for k in
      ["in_key", "keys_agree", "long_notes", "gap_distance", "top_gap"]),
      "%8.2f" % c["velocity_difference"])' "$last"
