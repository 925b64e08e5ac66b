/* Implementation of the shared test helpers. */
#define _GNU_SOURCE
#include "test_util.h"

#include <dirent.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int test_failures = 0;
int test_checks = 0;

int test_finish(void)
{
    printf("%d checks, %d failed\n", test_checks, test_failures);
    return test_failures ? 1 : 0;
}

const char *test_path_in(const char *dir, const char *name)
{
    static char paths[8][4400];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, sizeof paths[0], "%s/%s", dir, name);
    return p;
}

char *test_make_temp_dir(const char *tag)
{
    const char *base = getenv("TMPDIR");
    char *path = malloc(4096);
    snprintf(path, 4096, "%s/continuo-%s-XXXXXX", base && *base ? base : "/tmp", tag);
    if (!mkdtemp(path)) {
        perror("mkdtemp");
        exit(1);
    }
    return path;
}

void test_remove_tree(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        char child[4096];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(child, sizeof child, "%s/%s", path, e->d_name);
            test_remove_tree(child);
        }
        closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

int test_write_file(const char *path, const void *bytes, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(bytes, 1, n, f);
    return (fclose(f) == 0 && w == n) ? 0 : -1;
}

uint8_t *test_read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *bytes = malloc(len > 0 ? (size_t)len : 1);
    *n = fread(bytes, 1, (size_t)len, f);
    fclose(f);
    return bytes;
}

const char *test_seed_dir(void)
{
    const char *dir = getenv("CONTINUO_SEED_DIR");
    if (!dir || !*dir)
        dir = CONTINUO_SEED_DIR;
    struct stat st;
    return stat(dir, &st) == 0 && S_ISDIR(st.st_mode) ? dir : NULL;
}

void mb_raw(MidiBuilder *mb, const uint8_t *bytes, size_t n)
{
    if (mb->n + n > mb->cap) {
        mb->cap = (mb->n + n) * 2 + 64;
        mb->bytes = realloc(mb->bytes, mb->cap);
    }
    memcpy(mb->bytes + mb->n, bytes, n);
    mb->n += n;
}

static void mb_be(MidiBuilder *mb, uint32_t v, int n)
{
    uint8_t b[4];
    for (int i = 0; i < n; i++)
        b[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    mb_raw(mb, b, (size_t)n);
}

void mb_header(MidiBuilder *mb, int format, int n_tracks, int ppqn)
{
    mb_raw(mb, (const uint8_t *)"MThd", 4);
    mb_be(mb, 6, 4);
    mb_be(mb, (uint32_t)format, 2);
    mb_be(mb, (uint32_t)n_tracks, 2);
    mb_be(mb, (uint32_t)ppqn, 2);
}

void mb_track_begin(MidiBuilder *mb)
{
    mb_raw(mb, (const uint8_t *)"MTrk", 4);
    mb->track_start = mb->n;
    mb_be(mb, 0, 4);
}

void mb_track_end(MidiBuilder *mb)
{
    mb_event(mb, 0, 3, 0xff, 0x2f, 0x00);
    uint32_t len = (uint32_t)(mb->n - mb->track_start - 4);
    for (int i = 0; i < 4; i++)
        mb->bytes[mb->track_start + (size_t)i] = (uint8_t)(len >> (8 * (3 - i)));
}

void mb_vlq(MidiBuilder *mb, uint32_t value)
{
    uint8_t b[5];
    int n = 0;
    b[4 - n++] = value & 0x7f;
    while ((value >>= 7) != 0)
        b[4 - n++] = 0x80 | (value & 0x7f);
    mb_raw(mb, b + 5 - n, (size_t)n);
}

void mb_event(MidiBuilder *mb, uint32_t delta, int n, ...)
{
    mb_vlq(mb, delta);
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        uint8_t b = (uint8_t)va_arg(ap, int);
        mb_raw(mb, &b, 1);
    }
    va_end(ap);
}

void mb_free(MidiBuilder *mb)
{
    free(mb->bytes);
    memset(mb, 0, sizeof *mb);
}

int test_run_program(const char *program, const char *const *args, const char *log)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen(log, "w", stdout) || dup2(fileno(stdout), 2) < 0)
            _exit(126);
        const char *argv[64];
        int n = 0;
        argv[n++] = program;
        for (; args[n - 1] && n < 63; n++)
            argv[n] = args[n - 1];
        argv[n] = NULL;
        execv(program, (char *const *)argv);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int test_file_contains(const char *path, const char *text)
{
    size_t n;
    uint8_t *bytes = test_read_file(path, &n);
    if (!bytes)
        return 0;
    char *s = realloc(bytes, n + 1);
    if (!s) {
        free(bytes);
        return 0;
    }
    s[n] = '\0';
    int found = strstr(s, text) != NULL;
    if (!found)
        fprintf(stderr, "%s lacks \"%s\":\n%s\n", path, text, s);
    free(s);
    return found;
}
