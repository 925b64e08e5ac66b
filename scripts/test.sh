#!/bin/sh
# Installs what is missing, builds, and runs the whole test suite twice: a normal build,
# then a clang build with AddressSanitizer, UndefinedBehaviorSanitizer and a bounded
# libFuzzer run of the file readers.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh

echo "== release build: all tests"
scripts/build.sh
(cd build && ctest --output-on-failure)

echo "== sanitizer build (ASan + UBSan, libFuzzer): all tests but the slow ones"
CC=clang CONTINUO_BUILD_DIR=build-asan scripts/build.sh -DCONTINUO_SANITIZE=ON -DCONTINUO_FUZZ=ON
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -LE slow)
