/* The play-along engine every real-time host shares (JACK, ALSA, LV2): it listens to a
 * player, feeds what is played into the model as tokens, and schedules answers in musical
 * time. Two sides: functions marked RT run on the host's audio thread and only move
 * fixed-size events through lock-free rings (no allocation, lock, I/O or unbounded loop);
 * a worker thread owned by the engine does the tokenizing, stepping and sampling. */
#ifndef CONTINUO_ENGINE_H
#define CONTINUO_ENGINE_H

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>

#include "continuo/model.h"
#include "continuo/ring.h"
#include "continuo/sampler.h"
#include "continuo/state.h"

typedef enum {
    CN_PLAY_RESPOND,    /* call and response: answer after the player falls silent */
    CN_PLAY_CONTINUOUS, /* keep playing; the player's notes steer the continuation */
} CnPlayMode;

/* MIDI control changes the engine answers to (docs in README). */
#define CN_CC_TEMPERATURE 71 /* 0..127 -> temperature 0..2 */
#define CN_CC_MODE 80        /* < 64 respond, >= 64 continuous */
#define CN_CC_ALL_NOTES_OFF 123
#define CN_CC_ALL_SOUND_OFF 120

typedef struct {
    CnPlayMode mode;
    double sample_rate;     /* frames per second */
    double bpm;             /* tempo, until the host says otherwise (cn_engine_set_tempo) */
    double wait_beats;      /* silence before an answer (respond) */
    int length;             /* tokens in an answer (respond) */
    uint8_t channel;        /* output channel, 0..15 */
    double chord_window_ms; /* player notes starting this close form one chord */
    CnSamplerOptions sampler;
    uint64_t seed;
} CnEngineOptions;

/* respond, 120 bpm, wait 2 beats, 32 tokens, channel 1, chords within 40 ms, temperature
 * 0.9 and top-p 0.95. */
CnEngineOptions cn_engine_defaults(double sample_rate);

typedef struct {
    uint64_t frame;   /* absolute frame time */
    uint8_t bytes[3];
    uint8_t size;
    uint32_t generation; /* answers are numbered; a stale answer's events are dropped */
} CnTimedEvent;

typedef struct {
    uint64_t dropped_in, dropped_out; /* full rings */
    uint64_t late_events;             /* events that arrived after their frame */
    uint64_t answers, interruptions;
    uint64_t tokens_heard, tokens_played;
} CnEngineStats;

typedef struct {
    const CnModel *model;
    CnEngineOptions options;
    CnState state;
    CnSampler sampler;
    CnRing in, out;                /* RT -> worker (player events), worker -> RT (notes) */
    struct CnWorker *work;         /* the worker's own state (tokenizer, answer, schedule) */
    sem_t wake;                    /* posted by the RT side, never waited on there */
    int has_wake;
    pthread_t worker;
    int worker_running;
    _Atomic int stop;
    _Atomic uint64_t now_frame;    /* start of the host's current cycle, from the RT side */
    _Atomic uint32_t generation;   /* bumped by the worker to cancel scheduled notes */
    _Atomic uint32_t panic;        /* bumped by anyone: release everything at once */
    _Atomic int mode;              /* CnPlayMode, changeable live */
    _Atomic uint32_t temperature_milli;
    _Atomic uint64_t frames_per_beat_milli; /* tempo, settable from the RT side */
    _Atomic uint64_t grid_origin;  /* a frame on a beat (the host transport's bar start) */
    CnEngineStats stats;           /* worker-side counters (read them after stop, or as a
                                      rough snapshot); the rings count their own drops */
    _Atomic uint64_t late;         /* events written after their frame (RT side) */
    /* RT side only */
    uint8_t sounding[16][128];     /* note-ons sent and not yet released, per channel/key */
    uint32_t rt_generation, rt_panic;
    CnTimedEvent pending;          /* an event popped but due in a later cycle */
    int has_pending;
} CnEngine;

/* Loads nothing: model must stay alive. Allocates everything and starts the worker thread.
 * Not RT. */
int cn_engine_start(CnEngine *engine, const CnModel *model, const CnEngineOptions *options,
                    CnError *err);

/* Allocates everything like cn_engine_start but starts no thread: the host runs
 * cn_engine_work itself, from a non-RT thread of its own (the LV2 worker): after input
 * comes, by the frame the last pass returned, and after option changes. Not RT. */
int cn_engine_init(CnEngine *engine, const CnModel *model, const CnEngineOptions *options,
                   CnError *err);

/* One pass of the worker: takes in what the player played, and prepares and schedules
 * what is due (an answer starts about 0.15 s before its first note and is sampled a beat
 * ahead of the music from then on). Never blocks; the time it takes is that of the model
 * steps it makes. Returns the frame by which the next pass is needed if no input comes
 * (UINT64_MAX: only when input comes). Not RT; never called by two threads at once. */
uint64_t cn_engine_work(CnEngine *engine);

/* Stops the worker (if started) and frees everything. Not RT. Send cn_engine_panic first and render one
 * more cycle if notes may be sounding. */
void cn_engine_stop(CnEngine *engine);

/* RT. Marks the start of a host cycle (absolute frame count). */
void cn_engine_rt_clock(CnEngine *engine, uint64_t cycle_frame);

/* RT. One incoming MIDI message at an absolute frame. Note on/off and control changes are
 * passed to the worker; clock, sysex and malformed messages are ignored. */
void cn_engine_rt_input(CnEngine *engine, uint64_t frame, const uint8_t *bytes, size_t size);

/* RT. Calls write(offset, bytes, size, user) for every event due in [cycle_frame,
 * cycle_frame + n_frames), in order, at most max_events times (what does not fit waits
 * for the next cycle, written late at offset 0). Releases sounding notes
 * when an answer is cancelled or on panic. Returns the number of events written. */
int cn_engine_rt_output(CnEngine *engine, uint64_t cycle_frame, uint32_t n_frames,
                        int max_events,
                        void (*write)(uint32_t offset, const uint8_t *bytes, int size,
                                      void *user),
                        void *user);

/* RT. Note-offs for every note this engine has sounding, at offset 0, now: for a host
 * about to retire the engine (a new model swapped in). Returns the events written. */
int cn_engine_rt_release_all(CnEngine *engine, int max_events,
                             void (*write)(uint32_t offset, const uint8_t *bytes, int size,
                                           void *user),
                             void *user);

/* Changes the musical options live: mode, wait, length, channel and sampling (the sample
 * rate and starting tempo stay). A new channel first releases what sounds on the old one.
 * Not RT: from the thread that runs cn_engine_work, between passes; -1 and nothing changed
 * when a value is out of range. */
int cn_engine_configure(CnEngine *engine, const CnEngineOptions *options, CnError *err);

/* RT or not. Stops every note at the next cycle and drops what was scheduled. */
void cn_engine_panic(CnEngine *engine);

/* RT or not. Tempo in beats per minute and a frame that falls on a beat. */
void cn_engine_set_tempo(CnEngine *engine, double bpm, uint64_t beat_frame);

/* Not RT: a snapshot of the counters. */
CnEngineStats cn_engine_stats(CnEngine *engine);

#endif
