/* LD_PRELOAD interposer for the real-time tests: while a thread is inside a real-time
 * callback (continuo_rt_enter .. continuo_rt_leave: continuo's JACK process callback, or
 * the plugin's run() in the test host), every malloc, calloc, realloc, free, aligned
 * allocation, mutex lock, blocking wait or sleep, file opening and console or file write it
 * makes is counted. At exit the counts go to the file named by CONTINUO_RT_TRAP_REPORT;
 * a test in the same process asks continuo_rt_trap_counts. */
#define _GNU_SOURCE /* RTLD_NEXT */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

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

/* The rest are reached through the next definition in the link order. */
#define NEXT(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

int pthread_cond_wait(pthread_cond_t *cond, pthread_mutex_t *mutex)
{
    check();
    return NEXT(pthread_cond_wait)(cond, mutex);
}

int sem_wait(sem_t *sem) { check(); return NEXT(sem_wait)(sem); }
int usleep(useconds_t us) { check(); return NEXT(usleep)(us); }
int nanosleep(const struct timespec *t, struct timespec *rest)
{
    check();
    return NEXT(nanosleep)(t, rest);
}
ssize_t write(int fd, const void *buf, size_t n) { check(); return NEXT(write)(fd, buf, n); }
ssize_t read(int fd, void *buf, size_t n) { check(); return NEXT(read)(fd, buf, n); }
FILE *fopen(const char *path, const char *mode) { check(); return NEXT(fopen)(path, mode); }
size_t fwrite(const void *p, size_t size, size_t n, FILE *f)
{
    check();
    return NEXT(fwrite)(p, size, n, f);
}
int fputs(const char *s, FILE *f) { check(); return NEXT(fputs)(s, f); }
int puts(const char *s) { check(); return NEXT(puts)(s); }
int vfprintf(FILE *f, const char *fmt, va_list ap) { check(); return NEXT(vfprintf)(f, fmt, ap); }

int fprintf(FILE *f, const char *fmt, ...)
{
    check();
    va_list ap;
    va_start(ap, fmt);
    int n = NEXT(vfprintf)(f, fmt, ap);
    va_end(ap);
    return n;
}

int printf(const char *fmt, ...)
{
    check();
    va_list ap;
    va_start(ap, fmt);
    int n = NEXT(vfprintf)(stdout, fmt, ap);
    va_end(ap);
    return n;
}

int open(const char *path, int flags, ...)
{
    check();
    va_list ap;
    va_start(ap, flags);
    mode_t mode = (mode_t)va_arg(ap, int);
    va_end(ap);
    return NEXT(open)(path, flags, mode);
}

void continuo_rt_trap_counts(long *callbacks_out, long *violations_out)
{
    *callbacks_out = atomic_load(&callbacks);
    *violations_out = atomic_load(&violations);
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
