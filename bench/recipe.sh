#!/bin/sh
# Which training recipe learns best in a fixed time on a small corpus: each candidate
# trains on the seed corpus (every tenth song held out, as --val-split 0.1 does) for
# MINUTES on one thread, two candidates at a time (so each has the other core busy, as a
# user's machine would), and the held-out loss it reached is printed against minutes from
# its training log. Candidates are lines of "NAME: continuo train options".
# CONTINUO_RECIPE_DATA trains on another folder instead (bench/piano.sh: the piano
# collection); CONTINUO_RECIPE_KEEP=DIR keeps the checkpoints and logs there, so that the
# best candidate can be resumed.
# Usage: bench/recipe.sh [MINUTES=10] [BUILD_DIR=build] [CANDIDATES_FILE]
set -eu
minutes=${1:-10}
build=${2:-build}
. "$(dirname "$0")/seed.sh"
seed_and_work
seed=${CONTINUO_RECIPE_DATA:-$seed}
if [ -n "${CONTINUO_RECIPE_KEEP:-}" ]; then
  mkdir -p "$CONTINUO_RECIPE_KEEP"
  rm -rf "$work"
  work=$CONTINUO_RECIPE_KEEP
  trap - EXIT
fi
if [ -n "${3:-}" ]; then
  cp "$3" "$work/candidates"
else
  cat > "$work/candidates" <<'EOF'
timed-default-3x512-b64-s100: --tokens timed
timed-3x512-b16-s50: --tokens timed --batch 16 --seq 50
timed-2x256-b16-s50: --tokens timed --layers 2 --hidden 256 --dense 128 --embed 32 --batch 16 --seq 50
original-preset: --preset original --val-split 0.1
original-default-3x512-b64-s100: --tokens original
original-3x512-b16-s50: --tokens original --batch 16 --seq 50
EOF
fi

run() { # NAME OPTIONS...: train for the time given, stopped by SIGINT (a clean stop)
  name=$1; shift
  # shellcheck disable=SC2086
  timeout -s INT "$((minutes * 60))" "$build"/continuo train --data "$seed" \
    --out "$work/$name.cnw" --epochs 100000 --threads 1 -q "$@" || true
}

# two at a time
set -- $(sed 's/:.*//' "$work/candidates")
while [ $# -gt 0 ]; do
  a=$1; shift
  b=${1:-}; [ $# -gt 0 ] && shift
  # shellcheck disable=SC2046
  run "$a" $(sed -n "s/^$a: //p" "$work/candidates") &
  if [ -n "$b" ]; then
    # shellcheck disable=SC2046
    run "$b" $(sed -n "s/^$b: //p" "$work/candidates") &
  fi
  wait
done

# held-out loss (nats per token of the model's own scheme) at 2, 5 and MINUTES, best so far;
# "-" where no epoch had ended yet (validation runs at the end of each)
printf '%-34s %8s %8s %8s %8s %7s\n' candidate "2 min" "5 min" "$minutes min" best epochs
for name in $(sed 's/:.*//' "$work/candidates"); do
  if [ ! -s "$work/$name.csv" ]; then
    printf '%-34s %8s %8s %8s %8s %7s\n' "$name" - - - - 0
    continue
  fi
  awk -F, -v name="$name" '
    function show(x) { return x == "" ? "-" : sprintf("%.4f", x) }
    NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    { s = $col["seconds"] / 60; v = $col["val_loss"] + 0; if (best == "" || v < best) best = v
      if (s <= 2) a = best; if (s <= 5) b = best; c = best; n = $col["epoch"] }
    END { printf "%-34s %8s %8s %8s %8s %7d\n", name, show(a), show(b), show(c), show(best), n }' \
    "$work/$name.csv"
done
