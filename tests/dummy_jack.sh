# Sourced by the shell tests that need a JACK server: a dummy one of the test's own name,
# which the clients the test starts find (JACK_DEFAULT_SERVER) and never start themselves.
# start_dummy_jack NAME: 0 when it runs; stop_dummy_jack: stops it (in the test's cleanup).
start_dummy_jack() {
  server=$1-$$
  export JACK_DEFAULT_SERVER=$server JACK_NO_START_SERVER=1
  jackd --no-realtime -n "$server" -d dummy -r 48000 -p 256 >/dev/null 2>&1 &
  jackd_pid=$!
  jack_wait -s "$server" -w -t 10 >/dev/null
}

stop_dummy_jack() {
  [ -n "${jackd_pid:-}" ] && kill -TERM "$jackd_pid" 2>/dev/null && wait "$jackd_pid" 2>/dev/null
  jackd_pid=
}
