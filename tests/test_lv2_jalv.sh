#!/bin/sh
# continuo.lv2 in a real host with its own worker thread: jalv on a dummy JACK server of
# this test's own, and the benchmark's player client playing phrases into it. Passes when
# every phrase got an answer. Usage: test_lv2_jalv.sh BUNDLE_PARENT JACK_PLAYER
set -u
lv2_path=$1
player=$2
if ! command -v jalv >/dev/null 2>&1 || ! command -v jackd >/dev/null 2>&1; then
  echo "skipped: jalv or jackd is not installed"
  exit 77
fi
. "$(dirname "$0")/dummy_jack.sh"
log=$(mktemp)
cleanup() {
  [ -n "${jalv_pid:-}" ] && kill "$jalv_pid" 2>/dev/null
  [ -n "${feed_pid:-}" ] && kill "$feed_pid" 2>/dev/null
  stop_dummy_jack
  rm -f "$log" "$log.fifo"
}
trap cleanup EXIT
start_dummy_jack continuo-jalv || { echo "jackd did not start"; exit 1; }
mkfifo "$log.fifo"
sleep 60 > "$log.fifo" & # jalv reads commands from its input; keep it open
feed_pid=$!
LV2_PATH=$lv2_path jalv -n continuo urn:continuo:generator < "$log.fifo" > "$log" 2>&1 &
jalv_pid=$!
for i in $(seq 50); do
  jack_lsp 2>/dev/null | grep -q '^continuo:out$' && break
  sleep 0.2
done
result=$("$player" 13 2)
echo "$result"
kill "$jalv_pid"; wait "$jalv_pid" 2>/dev/null; jalv_pid=
if ! grep -q "loaded .*default.cnw" "$log"; then
  echo "jalv did not load the plugin's default model:"; cat "$log"; exit 1
fi
echo "$result" | grep -q "^answers [1-9][0-9]* (missed 0)" || { cat "$log"; exit 1; }
echo "1 passed, 0 failed"
