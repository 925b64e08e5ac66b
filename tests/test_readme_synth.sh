#!/bin/sh
# The README's synth line, as written, on a dummy JACK server of this test's own: FluidSynth
# stays up (a server, no shell), offers the MIDI port the README's next line connects to,
# and continuo jack connects its output there. Usage: test_readme_synth.sh SOURCE_DIR CLI
set -u
src=$1
cli=$2
line=$(grep '^fluidsynth -a jack' "$src/README.md" | sed 's/ *&.*$//')
if [ -z "$line" ]; then
  echo "FAIL the README has no 'fluidsynth -a jack' line"
  exit 1
fi
sf2=$(echo "$line" | awk '{ print $NF }')
if ! command -v fluidsynth >/dev/null 2>&1 || ! command -v jackd >/dev/null 2>&1 || [ ! -f "$sf2" ]; then
  echo "skipped: fluidsynth, jackd or $sf2 is not installed"
  exit 77
fi
. "$(dirname "$0")/dummy_jack.sh"
log=$(mktemp)
cleanup() {
  [ -n "${synth_pid:-}" ] && kill "$synth_pid" 2>/dev/null
  [ -n "${cont_pid:-}" ] && kill "$cont_pid" 2>/dev/null
  stop_dummy_jack
  rm -f "$log"
}
trap cleanup EXIT
start_dummy_jack continuo-synth || { echo "FAIL jackd did not start"; exit 1; }
# shellcheck disable=SC2086
$line </dev/null >"$log" 2>&1 &
synth_pid=$!
for i in $(seq 50); do
  jack_lsp 2>/dev/null | grep -q '^fluidsynth-midi:midi_00$' && break
  sleep 0.2
done
sleep 2
if ! kill -0 "$synth_pid" 2>/dev/null; then
  echo "FAIL the README's synth line exits at once:"; cat "$log"; exit 1
fi
jack_lsp 2>/dev/null | grep -q '^fluidsynth-midi:midi_00$' ||
  { echo "FAIL no port fluidsynth-midi:midi_00"; jack_lsp; exit 1; }
jack_lsp -c 2>/dev/null | grep -A1 '^fluidsynth-midi:left$' | grep -q 'system:playback' ||
  { echo "FAIL the synth's audio is not connected to the speakers"; jack_lsp -c; exit 1; }
(cd "$src" && exec "$cli" jack -o fluidsynth-midi:midi_00) >"$log.cont" 2>&1 &
cont_pid=$!
connected=
for i in $(seq 50); do
  if jack_lsp -c 2>/dev/null | grep -A1 '^continuo:out$' | grep -q 'fluidsynth-midi:midi_00'; then
    connected=1; break
  fi
  sleep 0.2
done
[ -n "$connected" ] || { echo "FAIL continuo:out is not connected to the synth:"; cat "$log.cont";
                        jack_lsp -c; rm -f "$log.cont"; exit 1; }
rm -f "$log.cont"
echo "ok   the README's synth line stays up, continuo jack plays into it"
