/* The ALSA sequencer side of `continuo alsa`: translation between sequencer events and the
 * MIDI bytes the engine speaks, and a follower that turns an incoming MIDI clock (24 ticks
 * a quarter note) into a tempo and a beat grid. Kept apart from the command so that it can
 * be tested on machines without a sequencer device. */
#ifndef CONTINUO_ALSA_SEQ_H
#define CONTINUO_ALSA_SEQ_H

#include <alsa/asoundlib.h>
#include <stdint.h>

#include "continuo/status.h"

#define CN_SEQ_DEVICE "/dev/snd/seq"

typedef enum {
    CN_SEQ_IGNORED,  /* sysex, program change, pitch bend, active sensing... */
    CN_SEQ_MIDI,     /* a note on/off or control change, in bytes[] */
    CN_SEQ_CLOCK,    /* a MIDI clock tick */
    CN_SEQ_START,    /* MIDI Start: the song position is 0 at the next tick */
    CN_SEQ_CONTINUE, /* MIDI Continue */
    CN_SEQ_STOP,     /* MIDI Stop: the music stops, and so do we */
} CnSeqKind;

/* What a sequencer event means to the engine. For CN_SEQ_MIDI the three MIDI bytes are in
 * bytes (a note-on of velocity 0 becomes a note-off). */
CnSeqKind cn_seq_to_midi(const snd_seq_event_t *ev, uint8_t bytes[3]);

/* Fills the type and data of ev from a three-byte note on/off or control change; 0, or -1
 * for any other message (the engine writes no other). Source, destination and time are
 * left to the caller. */
int cn_seq_from_midi(const uint8_t *bytes, int size, snd_seq_event_t *ev);

/* 0 when the sequencer device exists; otherwise -1 and a message saying what to do. */
int cn_seq_check_device(const char *path, CnError *err);

typedef struct {
    double interval;    /* smoothed seconds between ticks; 0 until known */
    double last_tick;   /* time of the last tick, seconds */
    uint64_t ticks;     /* ticks since the last Start (or since the first tick) */
    int n_intervals;    /* intervals averaged since the clock last (re)started */
} CnClockFollower;

void cn_clock_init(CnClockFollower *clock);

/* MIDI Start: the next tick is the first of a bar. */
void cn_clock_start(CnClockFollower *clock);

/* One tick at time t (seconds, any monotonic origin). Returns the tempo in beats per
 * minute once a beat's worth of ticks has been seen (0 before), and sets *beat_time to the
 * time of the latest beat (a tick whose count since Start is a multiple of 24). A gap of
 * over four ticks' length restarts the estimate (the clock stopped and came back). */
double cn_clock_tick(CnClockFollower *clock, double t, double *beat_time);

#endif
