/* Small helpers shared by the tests: checks that name the failing line, temporary
 * folders, and a builder for hand-made MIDI bytes. */
#ifndef CONTINUO_TEST_UTIL_H
#define CONTINUO_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern int test_failures;
extern int test_checks;

#define CHECK(cond)                                                                       \
    do {                                                                                  \
        test_checks++;                                                                    \
        if (!(cond)) {                                                                    \
            test_failures++;                                                              \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);      \
        }                                                                                 \
    } while (0)

#define CHECK_STR(a, b)                                                                   \
    do {                                                                                  \
        test_checks++;                                                                    \
        const char *a_ = (a), *b_ = (b);                                                  \
        if (strcmp(a_, b_) != 0) {                                                        \
            test_failures++;                                                              \
            fprintf(stderr, "%s:%d: expected \"%s\", got \"%s\"\n", __FILE__, __LINE__, b_, \
                    a_);                                                                  \
        }                                                                                 \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                             \
    do {                                                                                  \
        test_checks++;                                                                    \
        double a_ = (a), b_ = (b);                                                        \
        if (!(a_ - b_ <= (tol) && b_ - a_ <= (tol))) {                                    \
            test_failures++;                                                              \
            fprintf(stderr, "%s:%d: %s = %.9g, expected %.9g (tolerance %g)\n", __FILE__,  \
                    __LINE__, #a, a_, b_, (double)(tol));                                 \
        }                                                                                 \
    } while (0)

/* Runs one named test function and reports it; with CONTINUO_TEST_ONLY set, only those
 * whose names contain it (a debugging aid: the suite itself never sets it). */
#define RUN(test)                                                                         \
    do {                                                                                  \
        const char *only_ = getenv("CONTINUO_TEST_ONLY");                                 \
        if (only_ && !strstr(#test, only_))                                               \
            break;                                                                        \
        int before_ = test_failures;                                                      \
        test();                                                                           \
        printf("%s %s\n", test_failures == before_ ? "ok  " : "FAIL", #test);              \
    } while (0)

/* Ends main(): prints the count of checks and returns the exit status. */
int test_finish(void);

/* Exit code CTest treats as a skip (see SKIP_RETURN_CODE in tests/CMakeLists.txt). */
#define TEST_SKIP 77

/* A fresh empty folder under TMPDIR (or /tmp); removed with test_remove_tree. */
char *test_make_temp_dir(const char *tag);
void test_remove_tree(const char *path);
/* dir/name in one of eight static buffers used in turn (so a call's arguments may hold a
 * few of them at once). */
const char *test_path_in(const char *dir, const char *name);
int test_write_file(const char *path, const void *bytes, size_t n);
/* Reads a whole file; NULL if it cannot. */
uint8_t *test_read_file(const char *path, size_t *n);

/* Runs program with args (argv[1..], NULL-terminated) and its stdout and stderr going to
 * log; returns its exit code (128 + signal when killed). */
int test_run_program(const char *program, const char *const *args, const char *log);

/* Whether the file holds text; prints the file when it does not, to explain the failure. */
int test_file_contains(const char *path, const char *text);

/* The folder of the 92 seed piano files beside the project, or NULL when absent. */
const char *test_seed_dir(void);

/* ----- Hand-made MIDI bytes ----- */
typedef struct {
    uint8_t *bytes;
    size_t n, cap;
    size_t track_start; /* where the open track's length field is */
} MidiBuilder;

void mb_header(MidiBuilder *mb, int format, int n_tracks, int ppqn);
void mb_track_begin(MidiBuilder *mb);
void mb_track_end(MidiBuilder *mb); /* writes End-of-Track and patches the length */
void mb_raw(MidiBuilder *mb, const uint8_t *bytes, size_t n);
void mb_vlq(MidiBuilder *mb, uint32_t value);
/* delta ticks, then the given bytes (status optional when relying on running status) */
void mb_event(MidiBuilder *mb, uint32_t delta, int n, ...);
void mb_free(MidiBuilder *mb);

#endif
