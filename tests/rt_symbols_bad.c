/* Everything the real-time rules forbid, in one object: check_rt_symbols.sh must refuse
 * it (the check's own test). Compiled, never linked into anything. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "continuo/engine.h"

int rt_symbols_bad(pthread_mutex_t *lock)
{
    char *p = malloc(16);
    pthread_mutex_lock(lock);
    printf("%p\n", (void *)p);
    pthread_mutex_unlock(lock);
    usleep(1);
    free(p);
    cn_engine_free(NULL); /* our own code, but not the audio thread's */
    return 0;
}
