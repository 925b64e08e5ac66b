#!/bin/sh
# Training throughput: continuo against the PyTorch copy of the original network (when
# Debian's python3-torch is installed), measured in the same run, on 2 threads.
# Usage: bench/train.sh [BUILD_DIR]   (run from the repository root after scripts/build.sh)
set -eu
build=${1:-build}
reference=../shared/reference/torch_seed_model.py
vocab=$("$build"/continuo corpus -q "${CONTINUO_SEED_DIR:-../shared/corpus/seed}" 2>/dev/null | sed -n 's/.*vocabulary of \([0-9]*\).*/\1/p')

run() { "$build"/bench/bench_train "$@"; }
ours_last=$(run --objective last --batches 6); echo "$ours_last"
ours_all=$(run --objective all --batches 6); echo "$ours_all"
run --objective all --batches 6 --embed 64

if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  torch_last=$(/usr/bin/python3 "$reference" train-last --batches 5 --vocab "$vocab" --threads 2)
  torch_all=$(/usr/bin/python3 "$reference" train-all --batches 5 --vocab "$vocab" --threads 2)
  echo "pytorch $torch_last"
  echo "pytorch $torch_all"
  ours=$(echo "$ours_last" | awk '{print $3}'); theirs=$(echo "$torch_last" | awk '{print $2}')
  echo "ratio train-last: continuo / pytorch = $(awk "BEGIN{printf \"%.2f\", $ours/$theirs}")"
  ours=$(echo "$ours_all" | awk '{print $3}'); theirs=$(echo "$torch_all" | awk '{print $2}')
  echo "ratio train-all:  continuo / pytorch = $(awk "BEGIN{printf \"%.2f\", $ours/$theirs}")"
else
  echo "pytorch: not installed (apt-get install python3-torch) - no ratio"
fi
