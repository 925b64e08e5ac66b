/* How well cn_beat_find hears the beat of a player without a click: two-bar calls cut from
 * the held-out pieces of a folder (every tenth file, as `continuo eval --held-out 0.1`),
 * played at a tempo drawn from 80, 100, 120 or 140 bpm (+-3 %%), starting at a random moment, each onset off by
 * a player's timing error (a normal of JITTER_MS), and judged with the guess 120 bpm.
 * Beside it, the baseline: a fixed 120 bpm grid anchored anywhere (what a client without
 * a transport or clock did before).
 *
 *   bench_beat DIR [CALLS_PER_PIECE] [JITTER_MS] [GUESS_BPM] [train]
 *
 * With "train", pieces of the training split instead (every ninth), to choose the
 * finder's constants by without looking at the held-out ones.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "continuo/beat.h"
#include "continuo/corpus.h"
#include "continuo/midi_file.h"
#include "bench_util.h"

#define CALL_BEATS 8
#define MAX_CALL 512


static double normal(void)
{
    double u1 = drand48() + 1e-12, u2 = drand48();
    return sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
}

/* How far t lies from the nearest point of the grid spacing apart through origin. */
static double off_grid(double t, double origin, double spacing)
{
    double r = fmod(t - origin, spacing);
    r = r < 0 ? r + spacing : r;
    return r < spacing - r ? r : spacing - r;
}


typedef struct {
    size_t calls, found, right_tempo, half, twice, on_beat;
    double seconds; /* in cn_beat_find */
    double *grid_ms, *fixed_ms; /* per onset: distance of the player's sixteenth grid */
    size_t n_grid, n_fixed, cap_grid, cap_fixed;
} Tally;

static void push(double **v, size_t *n, size_t *cap, double x)
{
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 4096;
        *v = realloc(*v, *cap * sizeof **v);
    }
    (*v)[(*n)++] = x;
}

/* One call: the notes of beats [start, start + CALL_BEATS) of midi. */
static double guess = 120;
static void judge_call(const CnMidi *midi, double start, Tally *t, double jitter_ms)
{
    static const double tempi[] = {80, 100, 120, 140};
    double times[MAX_CALL], bpm = tempi[lrand48() % 4] * (0.97 + 0.06 * drand48());
    double spb = 60.0 / bpm;
    double shift = 0.5 + 5 * drand48(); /* when the player begins, in seconds */
    float strength[MAX_CALL];
    size_t n = 0;
    for (size_t i = 0; i < midi->n_notes && n < MAX_CALL; i++) {
        double beat = (double)midi->notes[i].onset / midi->ppqn - start;
        if (beat < 0 || beat >= CALL_BEATS)
            continue;
        times[n] = shift + beat * spb + normal() * jitter_ms / 1000;
        strength[n++] = midi->notes[i].velocity / 127.0f;
    }
    if (n < CN_BEAT_MIN_ONSETS)
        return;
    for (size_t i = 1; i < n; i++) /* the timing errors may swap close notes */
        for (size_t j = i; j > 0 && times[j] < times[j - 1]; j--) {
            double x = times[j];
            times[j] = times[j - 1], times[j - 1] = x;
            float s = strength[j];
            strength[j] = strength[j - 1], strength[j - 1] = s;
        }
    t->calls++;
    /* the player's grid: beats at shift + k spb; where the fixed grid's beats fall */
    double fixed_origin = drand48() * 0.5;
    CnBeat beat;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int found = cn_beat_find(times, strength, n, guess, &beat) == 0;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    t->seconds += (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    double grid_spb = found ? 60.0 / beat.bpm : 0.5, grid_origin = found ? beat.beat_time : 0;
    if (found) {
        t->found++;
        double ratio = beat.bpm / bpm;
        if (getenv("BEAT_RATIOS"))
            fprintf(stderr, "%.3f\n", ratio);
        t->right_tempo += fabs(ratio - 1) < 0.04;
        t->half += fabs(ratio - 0.5) < 0.02;
        t->twice += fabs(ratio - 2) < 0.08;
        t->on_beat += fabs(ratio - 1) < 0.04 && off_grid(grid_origin, shift, spb) < 0.1 * spb;
    }
    /* an answer of sixteenths on the grid found, over the next two bars: how far from the
       player's sixteenths its onsets lie */
    double end = shift + CALL_BEATS * spb;
    for (int k = 0; k < 4 * CALL_BEATS; k++) {
        double on_found = end + k * spb / 4;
        double g = grid_origin + ceil((on_found - grid_origin) / (grid_spb / 4)) * grid_spb / 4;
        push(&t->grid_ms, &t->n_grid, &t->cap_grid, 1000 * off_grid(g, shift, spb / 4));
        double f = fixed_origin + ceil((on_found - fixed_origin) / 0.125) * 0.125;
        push(&t->fixed_ms, &t->n_fixed, &t->cap_fixed, 1000 * off_grid(f, shift, spb / 4));
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_beat DIR [CALLS_PER_PIECE] [JITTER_MS] [GUESS_BPM] [train]\n");
        return 2;
    }
    int per_piece = argc > 2 ? atoi(argv[2]) : 8;
    double jitter_ms = argc > 3 ? atof(argv[3]) : 10;
    guess = argc > 4 ? atof(argv[4]) : 120;
    int on_training = argc > 5 && strcmp(argv[5], "train") == 0;
    static char *names[4096];
    long listed = mid_files(argv[1], names, 4096);
    if (listed < 0)
        return 1;
    size_t n_names = (size_t)listed;
    srand48(1);
    Tally t = {0};
    size_t n_pieces = 0;
    for (size_t i = 0; i < n_names; i++) {
        /* the held-out pieces, or with "train" every ninth of the others (to choose by) */
        int held_out = cn_corpus_is_validation(i, n_names, 0.1);
        if (on_training ? held_out || i % 9 != 0 : !held_out)
            continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", argv[1], names[i]);
        CnMidi midi;
        CnError err = {{0}};
        if (cn_midi_read_file(path, &midi, &err) || midi.n_notes == 0) {
            fprintf(stderr, "skipped %s: %s\n", names[i], err.message);
            continue;
        }
        n_pieces++;
        double beats = (double)midi.notes[midi.n_notes - 1].onset / midi.ppqn;
        for (int c = 0; c < per_piece && beats > CALL_BEATS; c++)
            judge_call(&midi, floor(drand48() * (beats - CALL_BEATS)), &t, jitter_ms);
        cn_midi_free(&midi);
    }
    for (size_t i = 0; i < n_names; i++)
        free(names[i]);
    double calls = t.calls ? (double)t.calls : 1;
    printf("%zu calls of %d beats from %zu %s pieces, 80, 100, 120 or 140 bpm (+-3 %%), timing error %.0f ms\n",
           t.calls, CALL_BEATS, n_pieces, on_training ? "training" : "held-out", jitter_ms);
    printf("beat found:          %5.1f %% of calls\n", 100 * t.found / calls);
    printf("tempo within 4 %%:    %5.1f %%  (half %.1f %%, double %.1f %%)\n",
           100 * t.right_tempo / calls, 100 * t.half / calls, 100 * t.twice / calls);
    printf("tempo and beat:      %5.1f %%\n", 100 * t.on_beat / calls);
    double found_ms = median(t.grid_ms, t.n_grid), fixed_ms = median(t.fixed_ms, t.n_fixed);
    printf("answer sixteenths from the player's grid, median: %.1f ms (fixed 120 bpm grid: "
           "%.1f ms, ratio %.2f)\n", found_ms, fixed_ms, fixed_ms / found_ms);
    printf("time to find a call's beat: %.2f ms on average (one thread)\n",
           1000 * t.seconds / calls);
    free(t.grid_ms);
    free(t.fixed_ms);
    return 0;
}
