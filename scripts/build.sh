#!/bin/sh
# Configures and builds continuo into build/ (or $CONTINUO_BUILD_DIR). Extra arguments
# go to cmake's configure step.
set -eu
cd "$(dirname "$0")/.."
build_dir=${CONTINUO_BUILD_DIR:-build}
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$build_dir" -j"$(nproc)"
