#!/bin/sh
# Checks that the audio thread's object files reference no allocator, lock, blocking wait,
# stdio, file I/O or sleep: every undefined symbol of each object given (nm -u) against a
# list of what the real-time rules forbid; and that every function of our own they call
# (cn_*, plugin_*, continuo_jack_*) is defined in one of them, so that nothing reaches
# unchecked code. Exits 1 naming each offending symbol and object.
set -eu
forbidden='^(malloc|calloc|realloc|free|aligned_alloc|posix_memalign|memalign|valloc|strdup|strndup|mmap|munmap|brk|sbrk|pthread_mutex_.*|pthread_cond_.*|pthread_rwlock_.*|pthread_spin_lock|pthread_join|pthread_create|sem_wait|sem_timedwait|sem_clockwait|printf|fprintf|vprintf|vfprintf|dprintf|sprintf|snprintf|vsnprintf|puts|fputs|putchar|fputc|putc|fwrite|fread|fopen|fdopen|fclose|fflush|fgets|getline|perror|syslog|__printf_chk|__fprintf_chk|__vfprintf_chk|__sprintf_chk|__snprintf_chk|__vsnprintf_chk|open|open64|openat|__open_2|creat|read|write|close|poll|select|sleep|usleep|nanosleep|clock_nanosleep|sched_yield|exit|_exit|system|fork|lv2_log_.*)$'
[ "$#" -gt 0 ] || { echo "usage: check_rt_symbols.sh OBJECT..." >&2; exit 2; }
ours='^(cn_|plugin_|continuo_jack_)'
defined=$(for object in "$@"; do nm --defined-only "$object" | awk '$2 ~ /^[TtDdBbRr]$/ {print $3}'; done)
bad=0
for object in "$@"; do
  undefined=$(nm -u "$object") || { echo "cannot read $object" >&2; exit 2; }
  symbols=$(printf '%s\n' "$undefined" | awk 'NF {print $NF}' | sed 's/@.*//')
  for symbol in $symbols; do
    if printf '%s\n' "$symbol" | grep -Eq "$forbidden"; then
      echo "$(basename "$object"): references $symbol"
      bad=1
    elif printf '%s\n' "$symbol" | grep -Eq "$ours" &&
         ! printf '%s\n' "$defined" | grep -qx "$symbol"; then
      echo "$(basename "$object"): calls $symbol, which is outside the audio-thread objects"
      bad=1
    fi
  done
done
[ "$bad" -eq 0 ] && echo "$# audio-thread objects: no allocator, lock, stdio or sleep symbol"
exit "$bad"
