#!/bin/sh
# The answer's timing on a busy machine, the plugin against the JACK client: continuo.lv2
# in jalv (whose worker thread has no real-time priority) and `continuo jack`, each on a
# dummy server of its own, with a CPU hog on every core (LOAD=0: none), each answering
# bench/jack_player's phrases with the shipped model. Prints, for each, the answers'
# note-ons off the grid they share and the worst of them, and the server's xruns; both sides
# run the same phrases for the same time. A note off the grid by a whole number of cycles
# (256 frames) is one placed on a count of frames that missed the cycles the host skipped;
# by less, one that came late.
# HOGS_PER_CORE=N runs N hogs a core. SHOW_OFF=1 lists every note-on with its distance from
# the grid; LV2_ONLY=1 runs the plugin alone, JACK_ONLY=1 the client alone.
# Usage: [LOAD=0] [HOGS_PER_CORE=N] [SHOW_OFF=1] [LV2_ONLY=1 | JACK_ONLY=1] \
#        bench/lv2_load.sh [SECONDS=120] [BUILD_DIR]
set -eu
seconds=${1:-120}
build=$(cd "${2:-build}" && pwd)
work=$(mktemp -d)
hogs=""
trap 'rm -rf "$work"; [ -z "$hogs" ] || kill $hogs 2>/dev/null' EXIT

# one run ($1: lv2 or jack): a fresh server, the client, the hogs, the player
run() {
  server=continuo-load-$$-$1
  jackd --no-realtime -n "$server" -d dummy -r 48000 -p 256 >/dev/null 2>&1 &
  jackd_pid=$!
  jack_wait -s "$server" -w -t 10 >/dev/null 2>&1
  export JACK_DEFAULT_SERVER="$server" JACK_NO_START_SERVER=1
  if [ "$1" = lv2 ]; then
    sleep $((seconds + 30)) >"$work/fifo" &
    feed=$!
    LV2_PATH="$build/lv2" jalv -n continuo -c thru=0 -c wait=2 urn:continuo:generator \
      <"$work/fifo" >"$work/client.log" 2>&1 &
  else
    feed=
    "$build"/continuo jack -w weights/default.cnw --no-thru --wait 2 >/dev/null \
      2>"$work/client.log" &
  fi
  client=$!
  for i in $(seq 50); do
    jack_lsp 2>/dev/null | grep -q '^continuo:out$' && break
    sleep 0.2
  done
  if [ "${LOAD:-1}" = 1 ]; then
    for core in $(seq $(($(nproc) * ${HOGS_PER_CORE:-1}))); do
      sh -c 'while :; do :; done' & hogs="$hogs $!"
    done
  fi
  SHOW_OFF=${SHOW_OFF:-} "$build"/bench/jack_player "$seconds" 2 >"$work/player.log"
  [ -z "$hogs" ] || kill $hogs
  hogs=""
  kill -TERM $client 2>/dev/null || true; wait $client 2>/dev/null || true
  [ -z "$feed" ] || kill $feed 2>/dev/null || true
  kill $jackd_pid; wait $jackd_pid 2>/dev/null || true
  [ -z "${SHOW_OFF:-}" ] || grep "^onset" "$work/player.log"
  echo "  $1: $(grep '^answers' "$work/player.log" | cut -d: -f1);" \
    "$(grep '^note-ons off the grid' "$work/player.log");" \
    "$(sed -n 's/^xruns the server reported during the [0-9]* s: \(.*\)/\1 xruns/p' "$work/player.log")"
  [ "$1" = lv2 ] || grep "stopped:" "$work/client.log" | sed 's/^continuo: /    /'
}

[ -p "$work/fifo" ] || mkfifo "$work/fifo"
echo "== ${seconds} s each, jackd --no-realtime, period 256 frames$([ "${LOAD:-1}" = 1 ] && echo ", a CPU hog on every core")"
[ -n "${JACK_ONLY:-}" ] || run lv2
[ -n "${LV2_ONLY:-}" ] || run jack
