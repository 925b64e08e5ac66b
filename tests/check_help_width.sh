#!/bin/sh
# Every command's --help fits a terminal of 80 columns and says how it is used.
set -u
cli=$1
shift
status=0
for command in "" "$@"; do
  # shellcheck disable=SC2086
  help=$("$cli" $command --help 2>&1) || { echo "FAIL continuo $command --help exits non-zero"; status=1; continue; }
  case $help in
    Usage:*) ;;
    *) echo "FAIL continuo $command --help does not start with Usage:"; status=1 ;;
  esac
  wide=$(printf '%s\n' "$help" | awk 'length > 80 { n++ } END { print n + 0 }')
  if [ "$wide" -gt 0 ]; then
    echo "FAIL continuo $command --help: $wide lines wider than 80 columns:"
    printf '%s\n' "$help" | awk 'length > 80'
    status=1
  else
    echo "ok   continuo $command --help: $(printf '%s\n' "$help" | wc -l) lines within 80 columns"
  fi
done
exit $status
