/* Following an incoming MIDI clock (24 ticks a quarter note): the tempo from the ticks'
 * spacing, smoothed over about a beat, and where the beats fall, from Start (the next tick
 * is the first of the song) or Song Position. Pure arithmetic on the times given: safe on
 * an audio thread (JACK's process callback feeds it). */
#ifndef CONTINUO_CLOCK_H
#define CONTINUO_CLOCK_H

#include <stdint.h>

typedef struct {
    double interval;    /* smoothed seconds between ticks; 0 until known */
    double last_tick;   /* time of the last tick, seconds */
    uint64_t ticks;     /* ticks since the last Start (or since the first tick) */
    int n_intervals;    /* intervals averaged since the clock last (re)started */
    double jitter;      /* how late a tick may arrive and still be on time, seconds */
    uint64_t n_missed;  /* ticks never received, counted from the gaps they left */
} CnClockFollower;

/* jitter: the most a tick's time may be off without having been lost (a host's period: a
 * tick written a cycle late arrives up to that much late). */
void cn_clock_init(CnClockFollower *clock, double jitter);

/* MIDI Start: the next tick is the first of a bar. */
void cn_clock_start(CnClockFollower *clock);

/* MIDI Song Position Pointer: the next tick is at this many sixteenths (6 ticks each). */
void cn_clock_song_position(CnClockFollower *clock, unsigned sixteenths);

/* One tick at time t (seconds, any monotonic origin). Returns the tempo in beats per
 * minute once a beat's worth of ticks has been seen (0 before), and sets *beat_time to the
 * time of the latest beat (a tick whose count since Start is a multiple of 24). A gap of
 * two or three ticks' length, more than the jitter late, counts the ticks it lost (a
 * cycle a busy host skipped), so the beats stay where the sender's are; a gap of over four
 * ticks' length restarts the estimate (the clock stopped and came back). */
double cn_clock_tick(CnClockFollower *clock, double t, double *beat_time);

/* Whether the clock is still ticking at time t: a tick came within four ticks' length
 * (and within half a second before the tempo is known). */
int cn_clock_running(const CnClockFollower *clock, double t);

#endif
