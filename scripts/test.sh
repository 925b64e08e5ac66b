#!/bin/sh
# Installs what is missing, builds, and runs the whole test suite: a normal build, a build
# without the live parts (what a machine without JACK, ALSA or LV2 builds), then a clang
# build with AddressSanitizer, UndefinedBehaviorSanitizer and a bounded libFuzzer run of
# the file readers.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh

echo "== release build: all tests"
scripts/build.sh
(cd build && ctest --output-on-failure)

echo "== offline build (the live clients and the plugin switched off, as where JACK, ALSA"
echo "   and LV2 are not installed): its tests"
CONTINUO_BUILD_DIR=build-offline scripts/build.sh -DCONTINUO_LIVE=OFF >/dev/null
(cd build-offline && ctest --output-on-failure)

echo "== sanitizer build (ASan + UBSan, libFuzzer): all tests but the slow ones"
CC=clang CONTINUO_BUILD_DIR=build-asan scripts/build.sh -DCONTINUO_SANITIZE=ON -DCONTINUO_FUZZ=ON
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -LE slow)
