/* The engine's insides, shared by its two sides: engine_rt.c (the audio thread) and
 * engine.c (the worker, creation and teardown). Each field says which side owns it; the
 * sides meet only through the rings and the atomics. Internal to the live layer. */
#ifndef CONTINUO_ENGINE_IMPL_H
#define CONTINUO_ENGINE_IMPL_H

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>

#include "continuo/engine.h"
#include "continuo/guide.h"
#include "continuo/ring.h"
#include "continuo/state.h"

#define RT_MAX_MADE 1024  /* notes the engine writes in one cycle at most */
#define RT_MAX_TICKS 64   /* MIDI clock messages in one cycle at most */
#define RT_MAX_THRU 1024  /* the player's events passed on in one cycle at most */

/* A CnTimedEvent of this size carries a control moved by the host: bytes[0] the
 * CnControl, bytes[1] the value. */
#define EVENT_CONTROL 0xff

/* A MIDI message at an absolute frame, as it crosses the rings. */
typedef struct {
    uint64_t frame;
    uint8_t bytes[3];
    uint8_t size;
    uint32_t generation; /* answers are numbered; a stale answer's events are dropped */
} CnTimedEvent;

struct CnWorker;

struct CnEngine {
    /* Fixed at creation */
    const CnModel *model;
    double sample_rate;

    /* Shared: the rings (RT -> worker: the player; worker -> RT: notes) and atomics */
    CnRing in, out;
    sem_t wake;                    /* posted by the RT side, never waited on there */
    int has_wake;
    _Atomic int stop;
    _Atomic uint64_t now_frame;    /* start of the host's current cycle, from the RT side */
    _Atomic uint32_t generation;   /* bumped by the worker to cancel scheduled notes */
    _Atomic uint32_t panic;        /* bumped by anyone: release everything at once */
    _Atomic int mode;              /* CnPlayMode, changeable live */
    _Atomic uint32_t temperature_milli;
    _Atomic uint64_t frames_per_beat_milli; /* tempo, settable from the RT side */
    _Atomic uint64_t grid_origin;  /* a frame on a beat (the host transport's bar start) */
    _Atomic int tempo_free;        /* no transport or clock: the calls' beat may be found */
    _Atomic uint64_t late;         /* events written after their frame (RT side) */
    _Atomic int64_t offset_frames; /* the output's shift: later, or earlier when negative */
    _Atomic uint64_t urgent_cc[2]; /* control changes that wake the worker (bit per number) */
    _Atomic uint64_t thru_dropped; /* the player's events there was no room to pass on (RT) */
    _Atomic uint32_t stopping;     /* bumped by a host that stops: release the player's notes
                                      passed on too */
    _Atomic uint32_t stopped;      /* the last stop the RT side has released everything for */
    _Atomic uint32_t clock_resync; /* bumped by a host when a device is connected to the
                                      output: the clock says where it stands */

    /* Worker side */
    CnEngineOptions options;
    CnState state;
    CnSampler sampler;
    CnGuide guide;                 /* the call's key, loudness and rhythm */
    CnToken heard[CN_ENGINE_HEARD_LOG]; /* the last tokens heard from the player */
    uint64_t n_heard;              /* heard in all (heard[n % LOG] is the next place) */
    struct CnWorker *work;         /* tokenizer, answer, schedule (engine.c) */
    CnEngineStats stats;           /* the rings count their own drops */
    pthread_t worker;
    int worker_running;

    /* Audio-thread side */
    uint8_t sounding[16][128];     /* note-ons sent and not yet released, per channel/key */
    uint32_t rt_generation, rt_panic, rt_stopping;
    uint8_t thru_sounding[16][128]; /* the player's note-ons passed on and not yet released */
    uint8_t thru_owed[16][128];    /* their releases that found no room: first in the next
                                      cycle, so that no note-off is ever dropped */
    int thru_owed_any;
    CnTimedEvent pending;          /* an event popped but due in a later cycle */
    int has_pending;
    int rt_clock_running;          /* MIDI clock out: Start sent, Stop not yet */
    uint64_t rt_ticks_sent;        /* clock ticks since Start */
    uint32_t rt_resync_seen;       /* the last clock_resync a Song Position answered */
    uint64_t rt_next_tick;         /* no clock tick before this frame (none twice) */
    CnMidiEvent rt_made[RT_MAX_MADE], rt_ticks[RT_MAX_TICKS]; /* a cycle's, before merging */
    CnMidiEvent rt_thru[RT_MAX_THRU]; /* the player's events the cycle passes on */
};

#endif
