/* The tempo continuo plays at, and where the beat falls, for every host: one range, and
 * one follower that takes them from the first source that gives them (a host's rolling
 * transport, then a running MIDI clock, then the default: --bpm, or a stopped host's own
 * tempo), falls back when a source goes, and says what a stop means (the music stops).
 * The follower is pure arithmetic on what it is given: safe on an audio thread. */
#ifndef CONTINUO_TEMPO_H
#define CONTINUO_TEMPO_H

#include <stddef.h>
#include <stdint.h>

#include "continuo/clock.h"

#define CN_BPM_MIN 10
#define CN_BPM_MAX 400

/* Whether bpm lies in that range (NaN does not). */
static inline int cn_bpm_in_range(double bpm)
{
    return bpm >= CN_BPM_MIN && bpm <= CN_BPM_MAX;
}

typedef enum {
    CN_TEMPO_DEFAULT,   /* --bpm, or a stopped transport's tempo: the player's beat may be
                           found */
    CN_TEMPO_CLOCK,     /* a MIDI clock on the input */
    CN_TEMPO_TRANSPORT, /* the host's transport, rolling */
} CnTempoSource;

/* What a host's transport says, as of a cycle. */
typedef struct {
    int rolling;
    double bpm;         /* 0: not said */
    int has_bar;        /* bar_frame is known */
    uint64_t bar_frame; /* a frame on which a bar begins (the grid's origin) */
} CnTransport;

typedef struct CnTempoFollower {
    double rate;               /* frames a second */
    double base_bpm;           /* --bpm */
    double default_bpm;        /* --bpm, or the tempo a stopped transport says */
    int follow_clock;          /* an incoming MIDI clock is followed */
    CnClockFollower clock;
    double clock_bpm;          /* the clock's tempo while it runs; 0: none */
    uint64_t clock_beat_frame;
    int was_rolling;
    CnTempoSource source;      /* who gave the tempo last */
    double bpm;                /* the tempo in force */
    uint64_t beat_frame;       /* a frame on a beat (a bar's first, when known) */
    int changed;               /* cn_tempo_follow: bpm or beat_frame are new */
    int stopped;               /* cn_tempo_follow: the music stops (transport or clock) */
} CnTempoFollower;

/* jitter: the most a clock tick may arrive late (a host's period). */
void cn_tempo_init(CnTempoFollower *t, double rate, double default_bpm, int follow_clock,
                   double jitter);

/* A MIDI clock, Start, Continue, Stop or Song Position message at frame: 1 when it was one
 * (it is no note either way), 0 for anything else. */
int cn_tempo_clock_message(CnTempoFollower *t, const uint8_t *bytes, size_t size,
                           uint64_t frame);

/* Once a cycle, after its clock messages; transport NULL for a host without one. Sets
 * changed and stopped for this cycle. A stopped transport that says a tempo (a DAW
 * stopped at its song's tempo) makes it the default, the guess for the player's beat. */
void cn_tempo_follow(CnTempoFollower *t, const CnTransport *transport, uint64_t frame);

#endif
