#!/bin/sh
# The committed midi_songs/*.mid are exactly what their text sources build to, and every
# committed file has a source.
set -u
src_dir=$1 build_dir=$2
status=0 n=0
for mid in "$src_dir"/midi_songs/*.mid; do
  name=$(basename "$mid" .mid)
  n=$((n + 1))
  if [ ! -f "$src_dir/midi_songs/src/$name.txt" ]; then
    echo "FAIL $name.mid has no source midi_songs/src/$name.txt"; status=1; continue
  fi
  if cmp -s "$mid" "$build_dir/midi_songs/$name.mid"; then
    echo "ok   $name.mid matches its source"
  else
    echo "FAIL $name.mid differs from what midi_songs/src/$name.txt builds to"; status=1
  fi
done
for txt in "$src_dir"/midi_songs/src/*.txt; do
  name=$(basename "$txt" .txt)
  [ -f "$src_dir/midi_songs/$name.mid" ] || { echo "FAIL $name.txt has no committed .mid"; status=1; }
done
[ "$n" -gt 0 ] || { echo "FAIL no MIDI files in midi_songs"; status=1; }
exit $status
