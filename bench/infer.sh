#!/bin/sh
# Inference speed: continuo's stateful step and window-mode note against the PyTorch copy of
# the original network (when Debian's python3-torch is installed), measured in the same run,
# and the peak resident memory of `continuo generate` on the default-sized network
# (needs GNU time, /usr/bin/time).
# Usage: bench/infer.sh [BUILD_DIR]   (run from the repository root after scripts/build.sh)
set -eu
build=${1:-build}
reference=../shared/reference/torch_seed_model.py

model=$(mktemp -d)/model.cnw
"$build"/bench/bench_infer --repeats 30 --save-model "$model" | tee /tmp/continuo-infer.$$
peak=$(/usr/bin/time -f %M "$build"/continuo generate -w "$model" --length 500 --seed 1 -o "${model%.cnw}.mid" 2>&1 >/dev/null | tail -n 1)
weights=$(stat -c %s "$model")
program=$(/usr/bin/time -f %M "$build"/continuo --help 2>&1 >/dev/null | tail -n 1)
echo "continuo generate (500 tokens): peak resident memory $(awk "BEGIN{printf \"%.1f MiB = weights file %.1f MiB + %.1f MiB\", $peak/1024, $weights/1048576, $peak/1024-$weights/1048576}"), of which the program and its shared libraries alone ('continuo --help') $(awk "BEGIN{printf \"%.1f MiB\", $program/1024}")"
rm -rf "$(dirname "$model")"
# the fastest of our kernels at each thread count
ours1=$(sed -n 's/^continuo step \([0-9.]*\) us\/step.*, 1 thread).*/\1/p' /tmp/continuo-infer.$$ | sort -n | head -n 1)
ours2=$(sed -n 's/^continuo step \([0-9.]*\) us\/step.*threads).*/\1/p' /tmp/continuo-infer.$$ | sort -n | head -n 1)
[ -n "$ours2" ] || ours2=$ours1
note2=$(sed -n 's/^continuo step .* window \([0-9.]*\) us\/note.*/\1/p' /tmp/continuo-infer.$$ | sort -n | head -n 1)
rm -f /tmp/continuo-infer.$$

if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  for threads in 1 2; do
    step=$(/usr/bin/python3 "$reference" step --vocab 355 --threads $threads --steps 2000 | awk '{print $2}')
    echo "pytorch step $step us/step ($threads thread(s))"
    ours=$ours1; [ $threads = 2 ] && ours=$ours2
    echo "ratio step, $threads thread(s): pytorch / continuo = $(awk "BEGIN{printf \"%.1f\", $step/$ours}")x faster"
  done
  window=$(/usr/bin/python3 "$reference" window --vocab 355 --threads 2 --steps 500 | awk '{print $2}')
  echo "pytorch window $window us/note (2 threads)"
  echo "ratio window, 2 threads: pytorch / continuo = $(awk "BEGIN{printf \"%.1f\", $window/$note2}")x faster"
else
  echo "pytorch: not installed (apt-get install python3-torch) - no ratio"
fi
