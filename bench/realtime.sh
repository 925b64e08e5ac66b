#!/bin/sh
# Real-time behaviour of `continuo jack` with the default-sized network (3 x LSTM(512), or
# MODEL=FILE) on
# a dummy JACK server at 64 and 256 frames per period, 48 kHz: callback time (median, p99,
# worst) as a share of the period, xruns, and when the answer comes against the wait asked.
# Before each run, the same server for the same time with the player and, in continuo's
# place in the graph, a client that does nothing but take MIDI in (jack_midi_dump): the
# xruns a two-client graph has on this machine without continuo, the baseline for
# continuo's.
# Usage: [JACKD_MODE=--no-realtime|-R] bench/realtime.sh [SECONDS=60] [BUILD_DIR]
# (-R runs the server's threads with real-time priority, as on a musician's machine; it
# needs the right to, e.g. root or the audio group with rtprio.)
set -eu
seconds=${1:-60}
build=${2:-build}
work=$(mktemp -d)
if [ -n "${MODEL:-}" ]; then      # MODEL=weights/default.cnw: the shipped small network
  cp "$MODEL" "$work/model.cnw"
else
  "$build"/bench/bench_infer --repeats 1 --save-model "$work/model.cnw" >/dev/null
fi
for period in 64 256; do
  server=continuo-bench-$$-$period
  jackd ${JACKD_MODE:---no-realtime} -n "$server" -d dummy -r 48000 -p "$period" >/dev/null 2>&1 &
  jackd_pid=$!
  jack_wait -s "$server" -w -t 10 >/dev/null
  export JACK_DEFAULT_SERVER="$server"
  echo "== jackd ${JACKD_MODE:---no-realtime}, period $period frames, $seconds s, baseline: the player and jack_midi_dump as continuo"
  jack_midi_dump continuo >/dev/null 2>&1 &
  dump=$!
  sleep 1
  "$build"/bench/jack_player "$seconds" 2 | grep xruns
  kill $dump; wait $dump 2>/dev/null || true
  "$build"/continuo jack -w "$work/model.cnw" --wait 2 --length 32 >/dev/null 2>"$work/continuo.log" &
  cont=$!
  sleep 2
  echo "== jackd ${JACKD_MODE:---no-realtime}, period $period frames ($(awk "BEGIN{printf \"%.2f\", $period/48}") ms), $seconds s"
  "$build"/bench/jack_player "$seconds" 2
  kill -TERM $cont; wait $cont || true
  grep "stopped:" "$work/continuo.log" | sed 's/^continuo: //'
  kill $jackd_pid; wait $jackd_pid 2>/dev/null || true
done
rm -rf "$work"
