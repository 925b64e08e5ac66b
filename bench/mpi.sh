#!/bin/sh
# Data-parallel training on this machine and what decides it on many:
#  1. bench_mpi over shared memory and over TCP (2 ranks): compute of one batch of the
#     default network at several sizes, allreduce of its gradient, and the speed-up model;
#  2. whole runs of `continuo train` on midi_songs: one process on all cores (the baseline)
#     against one rank per core under mpirun, tokens per second of the last epoch.
# Usage: bench/mpi.sh [EPOCHS=3] [BUILD_DIR=build]
set -eu
epochs=${1:-3}
build=${2:-build}
[ -x "$build/bench/bench_mpi" ] || { echo "skipped: built without MPI"; exit 0; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none
cores=$(nproc)

echo "== shared memory"
mpirun -np 2 --oversubscribe --mca btl self,vader "$build/bench/bench_mpi" "shared memory"
echo "== TCP (loopback)"
mpirun -np 2 --oversubscribe --mca btl self,tcp "$build/bench/bench_mpi" "TCP (loopback)" |
  grep "allreduce over"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rate() { awk -F, 'END { print $6 }' "$1"; }
"$build/continuo" train --data midi_songs --out "$work/one.cnw" --epochs "$epochs" \
  --threads "$cores" -q
mpirun -np "$cores" --oversubscribe "$build/continuo" train --data midi_songs \
  --out "$work/ranks.cnw" --epochs "$epochs" --threads 1 -q
one=$(rate "$work/one.csv") ranks=$(rate "$work/ranks.csv")
echo "== continuo train, default recipe, midi_songs, epoch $epochs"
echo "one process, $cores threads: $one tokens/s; $cores ranks, 1 thread each: $ranks tokens/s;" \
     "ratio $(awk -v a="$ranks" -v b="$one" 'BEGIN { printf "%.2f", a / b }')"
