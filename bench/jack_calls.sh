#!/bin/sh
# Answers of `continuo jack` (default model and options, --no-thru) to two-bar calls cut
# from the held-out piano pieces, beside the composer's next two bars and random notes
# (bench/jack_calls.c), on a dummy JACK server of its own.
# Usage: bench/jack_calls.sh [CALLS=24] [SEED=1] [BUILD_DIR=build] [-- continuo jack options]
set -eu
cd "$(dirname "$0")/.."
calls=${1:-24} seed=${2:-1} build=${3:-build}
[ $# -ge 3 ] && shift 3 || shift $#
[ "${1:-}" = "--" ] && shift
server=continuo-calls-$$
jackd --no-realtime -n "$server" -d dummy -r 48000 -p 256 >/dev/null 2>&1 &
jackd_pid=$!
cont_pid=""
cleanup() {
  [ -n "$cont_pid" ] && kill "$cont_pid" 2>/dev/null && wait "$cont_pid" 2>/dev/null
  kill "$jackd_pid" 2>/dev/null; wait "$jackd_pid" 2>/dev/null || true
}
trap cleanup EXIT
jack_wait -s "$server" -w -t 10 >/dev/null
export JACK_DEFAULT_SERVER="$server" JACK_NO_START_SERVER=1
"$build"/continuo jack --no-thru -c 2 -n continuo "$@" 2>"${TMPDIR:-/tmp}/jack_calls.$$.log" &
cont_pid=$!
sleep 3
"$build"/bench/jack_calls midi_songs/piano-midi "$calls" "$seed" continuo
