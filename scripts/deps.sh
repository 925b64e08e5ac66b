#!/bin/sh
# Installs the Debian 12 packages continuo needs to build and test, skipping those already there.
set -eu

packages="build-essential cmake pkg-config clang libsmf-dev libopenblas-dev libglib2.0-dev
  jackd2 libjack-jackd2-dev libasound2-dev lv2-dev liblilv-dev lilv-utils sordi jalv help2man
  libclang-rt-14-dev fluidsynth fluid-soundfont-gm openmpi-bin libopenmpi-dev
  libhdf5-dev python3-h5py python3-numpy"

missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
echo "continuo: installing$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
