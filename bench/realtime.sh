#!/bin/sh
# Real-time behaviour of `continuo jack` with the default-sized network (3 x LSTM(512), or
# MODEL=FILE) on a dummy JACK server at 64 and 256 frames per period, 48 kHz: callback
# time (median, p99, worst) as a share of the period, xruns, and when the answer comes
# against the wait asked for.
# Baseline: each run of continuo is paired with a run of the same length on a fresh server
# in which bench/jack_idle takes continuo's place in the graph (same name, ports and
# connections; a process callback that only clears its output). Its xruns are what the
# graph costs on this machine without continuo's work. ROUNDS pairs per period, baseline
# first, alternating, so slow drifts of a shared machine hit both sides alike.
# LOAD=1 runs a CPU hog on every core beside the clients (both sides), as a musician's
# machine busy with other work: what matters there is that no note is late. FLOOD=N adds N
# input events a second (MIDI clock and control changes), which continuo passes thru and
# follows: what matters there is the callback's worst time.
# Usage: [JACKD_MODE=--no-realtime|-R] [ROUNDS=1] [PERIODS="64 256"] [LOAD=1] [FLOOD=N] \
#        bench/realtime.sh [SECONDS=60] [BUILD_DIR]
# (-R runs the server's threads with real-time priority, as on a musician's machine; it
# needs the right to, e.g. root or the audio group with rtprio.)
set -eu
seconds=${1:-60}
build=${2:-build}
mode=${JACKD_MODE:---no-realtime}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ -n "${MODEL:-}" ]; then      # MODEL=weights/default.cnw: the shipped small network
  cp "$MODEL" "$work/model.cnw"
else
  "$build"/bench/bench_infer --repeats 1 --save-model "$work/model.cnw" >/dev/null
fi

# one run: a fresh server, the client in continuo's place ($1: idle or continuo), the
# player for $seconds; prints the player's xrun count (and continuo's summary)
run() {
  server=continuo-bench-$$-$period
  jackd $mode -n "$server" -d dummy -r 48000 -p "$period" >/dev/null 2>&1 &
  jackd_pid=$!
  jack_wait -s "$server" -w -t 10 >/dev/null 2>&1
  export JACK_DEFAULT_SERVER="$server"
  if [ "$1" = idle ]; then
    "$build"/bench/jack_idle &
  else
    "$build"/continuo jack -w "$work/model.cnw" --wait 2 --length 32 >/dev/null \
      2>"$work/continuo.log" &
  fi
  client=$!
  sleep 2
  hogs=""
  if [ "${LOAD:-0}" = 1 ]; then
    for core in $(seq "$(nproc)"); do
      sh -c 'while :; do :; done' & hogs="$hogs $!"
    done
  fi
  "$build"/bench/jack_player "$seconds" 2 "${FLOOD:-0}" >"$work/player.log"
  [ -z "$hogs" ] || kill $hogs
  kill -TERM $client; wait $client || true
  kill $jackd_pid; wait $jackd_pid 2>/dev/null || true
  xruns=$(sed -n 's/^xruns the server reported during the [0-9]* s: //p' "$work/player.log")
  if [ "$1" = idle ]; then
    echo "  baseline: $xruns xruns"
    base_total=$((base_total + xruns))
  else
    echo "  continuo: $xruns xruns; $(grep '^answers' "$work/player.log")"
    grep "stopped:" "$work/continuo.log" | sed 's/^continuo: /    /'
    cont_total=$((cont_total + xruns))
  fi
}

for period in ${PERIODS:-64 256}; do
  echo "== jackd $mode${LOAD:+, a CPU hog on every core}${FLOOD:+, $FLOOD input events a second}, period $period frames ($(awk "BEGIN{printf \"%.2f\", $period/48}") ms), ${ROUNDS:-1} x $seconds s each side"
  base_total=0 cont_total=0
  for round in $(seq "${ROUNDS:-1}"); do
    run idle
    run continuo
  done
  echo "  total xruns over ${ROUNDS:-1} x $seconds s: baseline $base_total, continuo $cont_total"
done
