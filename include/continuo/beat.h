/* Finding the beat of a call: the tempo and beat phase of a player who has no click,
 * from the onsets of what they played. A grid is tried at every tempo of the range: an
 * onset on one of its beats counts most, on its eighths, sixteenths and triplets less,
 * the count a grid that fine would get from onsets at random is taken off, and a tempo
 * far from the guess counts less. Music fits half or double its beat nearly as well: the
 * half tempo is taken when it scores nearly as well (a player counts the slower), the
 * guess decides the rest. The best grid is then fitted to the onsets it places (least
 * squares over their twelfths of a beat). bench/bench_beat.c measures it on real music. Plain arithmetic on the caller's arrays:
 * allocates nothing, and is bounded by CN_BEAT_MAX_ONSETS. */
#ifndef CONTINUO_BEAT_H
#define CONTINUO_BEAT_H

#include <stddef.h>

/* Onsets a call is judged by (the latest ones, when it has more). */
#define CN_BEAT_MAX_ONSETS 96
/* Onsets fewer than this tell no tempo. */
#define CN_BEAT_MIN_ONSETS 4
/* The tempi a call may be found at. */
#define CN_BEAT_BPM_MIN 40
#define CN_BEAT_BPM_MAX 240

typedef struct {
    double bpm;        /* the tempo found */
    double beat_time;  /* a time on a beat, in the onsets' seconds (the call's first beat) */
    double score;      /* how much better than chance the grid places the onsets (> 0) */
    int n_onsets;      /* onsets judged, after notes struck together were made one */
} CnBeat;

/* The beat of onsets at times[0..n) (seconds, ascending; notes struck within 30 ms are
 * one onset), each weighted by strength[i] (a velocity, say; NULL: all alike), guessing
 * guess_bpm. 0 and *beat when a grid fits better than chance; -1 when there are too few
 * onsets or none fits (*beat untouched). */
int cn_beat_find(const double *times, const float *strength, size_t n, double guess_bpm,
                 CnBeat *beat);

#endif
