#!/bin/sh
# The main job: install what is missing, build, and run continuo on the shipped corpus.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh >/dev/null
./build/continuo corpus midi_songs
