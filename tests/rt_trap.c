/* LD_PRELOAD interposer for the real-time tests: while a thread is inside continuo's JACK
 * process callback (continuo_rt_enter .. continuo_rt_leave), every malloc, calloc, realloc,
 * free, aligned allocation and mutex lock it makes is counted. At exit the counts go to the
 * file named by CONTINUO_RT_TRAP_REPORT. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void __libc_free(void *p);
extern int __pthread_mutex_lock(pthread_mutex_t *mutex);

static _Thread_local int in_rt;
static atomic_long violations, callbacks;

void continuo_rt_enter(void)
{
    in_rt = 1;
    atomic_fetch_add(&callbacks, 1);
}

void continuo_rt_leave(void)
{
    in_rt = 0;
}

static void check(void)
{
    if (in_rt)
        atomic_fetch_add(&violations, 1);
}

void *malloc(size_t size) { check(); return __libc_malloc(size); }
void *calloc(size_t n, size_t size) { check(); return __libc_calloc(n, size); }
void *realloc(void *p, size_t size) { check(); return __libc_realloc(p, size); }
void free(void *p) { check(); __libc_free(p); }
void *aligned_alloc(size_t a, size_t size) { check(); return __libc_memalign(a, size); }
void *memalign(size_t a, size_t size) { check(); return __libc_memalign(a, size); }

int posix_memalign(void **out, size_t a, size_t size)
{
    check();
    void *p = __libc_memalign(a, size);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

int pthread_mutex_lock(pthread_mutex_t *mutex)
{
    check();
    return __pthread_mutex_lock(mutex);
}

__attribute__((destructor)) static void report(void)
{
    const char *path = getenv("CONTINUO_RT_TRAP_REPORT");
    if (!path)
        return;
    FILE *f = fopen(path, "w");
    if (f) {
        fprintf(f, "%ld %ld\n", atomic_load(&callbacks), atomic_load(&violations));
        fclose(f);
    }
}
