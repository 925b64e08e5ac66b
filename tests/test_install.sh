#!/bin/sh
# cmake --install into a temporary prefix, then the installed programs from another folder
# with nothing set: continuo info and generate find the installed default model, continuo
# jack and alsa run their own programs, the man pages and the LV2 bundle are where man and
# hosts look.
set -eu
build=$1
built_for=$2 # the data folder the build looks in last (CMAKE_INSTALL_FULL_DATADIR/continuo)
parts=${3:-live} # 'offline': a build without the live clients and the plugin
prefix=$(mktemp -d "${TMPDIR:-/tmp}/continuo-install-XXXXXX")
elsewhere=$(mktemp -d "${TMPDIR:-/tmp}/continuo-elsewhere-XXXXXX")
trap 'rm -rf "$prefix" "$elsewhere"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

cmake --install "$build" --prefix "$prefix" >/dev/null
files="bin/continuo share/continuo/default.cnw"
[ "$parts" = live ] && files="$files bin/continuo-jack bin/continuo-alsa
  lib/lv2/continuo.lv2/manifest.ttl lib/lv2/continuo.lv2/continuo.ttl
  lib/lv2/continuo.lv2/continuo.so lib/lv2/continuo.lv2/default.cnw"
for f in $files; do
  [ -e "$prefix/$f" ] || fail "$f was not installed"
done
if command -v help2man >/dev/null 2>&1; then
  pages="continuo continuo-generate continuo-train"
  [ "$parts" = live ] && pages="$pages continuo-jack"
  for page in $pages; do
    [ -s "$prefix/share/man/man1/$page.1" ] || fail "man page $page.1 was not installed"
  done
  grep -q "temperature" "$prefix/share/man/man1/continuo-generate.1" ||
    fail "continuo-generate.1 does not list generate's options"
fi

cd "$elsewhere"
run() { env -i PATH=/usr/bin:/bin HOME="$elsewhere" "$@"; }
run "$prefix/bin/continuo" info > info.txt 2>&1 || { cat info.txt; fail "continuo info"; }
grep -q "share/continuo/default.cnw" info.txt || { cat info.txt; fail "info did not describe the installed model"; }
run "$prefix/bin/continuo" generate --length 40 --seed 3 -o out.mid > gen.txt 2>&1 ||
  { cat gen.txt; fail "continuo generate"; }
[ -s out.mid ] || fail "generate wrote no MIDI file"
run "$prefix/bin/continuo" info "$prefix/share/continuo/default.cnw" >/dev/null ||
  fail "continuo info FILE"
if [ "$parts" = live ]; then
  run "$prefix/bin/continuo" jack --help > jack.txt 2>&1 || { cat jack.txt; fail "continuo jack --help"; }
  grep -q "Usage: continuo jack" jack.txt || fail "continuo jack did not run continuo-jack"
  run "$prefix/bin/continuo" alsa --help > alsa.txt 2>&1 || { cat alsa.txt; fail "continuo alsa --help"; }
  grep -q "Usage: continuo alsa" alsa.txt || fail "continuo alsa did not run continuo-alsa"
fi

# Moved prefix: the model is found from where the program is.
mv "$prefix" "$prefix.moved"
prefix=$prefix.moved
trap 'rm -rf "$prefix" "$elsewhere"' EXIT
run "$prefix/bin/continuo" info > moved.txt 2>&1 || { cat moved.txt; fail "info after moving the prefix"; }
grep -q "$prefix" moved.txt || fail "the moved prefix's model was not used"

# No model anywhere: one clear line.
rm "$prefix/share/continuo/default.cnw"
if [ -e "$built_for/default.cnw" ]; then
  echo "installed, and ran from another folder (a model is installed in $built_for: the no-model case not tried)"
  exit 0
fi
if run "$prefix/bin/continuo" generate -o x.mid > none.txt 2>&1; then fail "generate without any model"; fi
grep -q "no model given" none.txt || { cat none.txt; fail "no clear message without a model"; }
echo "installed, and ran from another folder: info, generate, jack and alsa help, man pages"
