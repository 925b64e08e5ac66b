#!/bin/sh
# The main job: install what is missing, build, and continue a stretch of the shipped corpus
# with the shipped default weights; writes a MIDI file, its piano roll and (with FluidSynth)
# its audio into out/.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh >/dev/null
mkdir -p out
wav=""
if command -v fluidsynth >/dev/null 2>&1 && [ -r /usr/share/sounds/sf2/FluidR3_GM.sf2 ]; then
  wav="--wav out/continuo.wav"
fi
# shellcheck disable=SC2086
./build/continuo generate --weights weights/default.cnw --length 2000 \
  -o out/continuo.mid --roll out/continuo.svg $wav
echo "Listen to out/continuo.mid${wav:+ or out/continuo.wav}; see out/continuo.svg (the prime in grey)."
