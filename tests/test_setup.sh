#!/bin/sh
# The live clients' setup file: read from the XDG place (or --config FILE) before the
# command line, a bad line refused with its number and nothing of the file used, and
# --no-config reading none. Runs continuo alsa, which reads its setup before it opens the
# sequencer, so no sound hardware is needed. Usage: test_setup.sh CLI
set -u
cli=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
status=0
expect() { # what, exit code, text the message holds, command...
  what=$1 code=$2 text=$3
  shift 3
  out=$("$@" 2>&1)
  rc=$?
  if [ "$rc" -eq "$code" ] && printf '%s' "$out" | grep -qF -- "$text"; then
    echo "ok   $what"
  else
    echo "FAIL $what: exit $rc, said: $out"
    status=1
  fi
}
mkdir -p "$dir/xdg/continuo"
printf '# my setup\nbpm 100\nfixed-grid yes\n' > "$dir/bad-flag.conf"
printf 'bpm 100\n\nwait 99\n' > "$dir/bad-value.conf"
printf 'tempo 100\n' > "$dir/unknown.conf"
printf -- '--bpm 100\n' > "$dir/dashes.conf"
printf 'learn\n' > "$dir/learn.conf"
printf 'bpm 100 # a comment\nfixed-grid\ncc end-call=22,mutate=off\ncontrol-channel 3\n' > "$dir/good.conf"
expect "a flag given a value is refused with its line" 2 "bad-flag.conf:3: fixed-grid takes no value" \
  "$cli" alsa --config "$dir/bad-flag.conf"
expect "a value out of range is refused with its line" 2 "bad-value.conf:3: --wait takes" \
  "$cli" alsa --config "$dir/bad-value.conf"
expect "an unknown option is refused with its line" 2 "unknown.conf:1: --tempo is no option" \
  "$cli" alsa --config "$dir/unknown.conf"
expect "an option written with its dashes is refused" 2 "dashes.conf:1: write the option without its dashes" \
  "$cli" alsa --config "$dir/dashes.conf"
expect "what runs once is no setup" 2 "learn.conf:1: learn is an option of the command line" \
  "$cli" alsa --config "$dir/learn.conf"
expect "a --config file that is not there is said" 2 "cannot read the setup $dir/none.conf" \
  "$cli" alsa --config "$dir/none.conf"
# a good file is taken whole: continuo goes on to the sequencer (absent here, or present)
out=$("$cli" alsa --config "$dir/good.conf" --list-ports 2>&1)
if printf '%s' "$out" | grep -q "good.conf"; then
  echo "FAIL a good setup was refused: $out"; status=1
else
  echo "ok   a good setup is taken"
fi
cp "$dir/bad-value.conf" "$dir/xdg/continuo/live.conf"
expect "the XDG place is read" 2 "$dir/xdg/continuo/live.conf:3:" \
  env XDG_CONFIG_HOME="$dir/xdg" "$cli" alsa --list-ports
out=$(XDG_CONFIG_HOME="$dir/xdg" "$cli" alsa --no-config --list-ports 2>&1)
if printf '%s' "$out" | grep -q "live.conf"; then
  echo "FAIL --no-config read the setup: $out"; status=1
else
  echo "ok   --no-config reads none"
fi
exit $status
