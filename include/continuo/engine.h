/* The play-along engine every real-time host shares (JACK, ALSA, LV2): it listens to a
 * player, feeds what is played into the model as tokens, and schedules answers in musical
 * time. Two sides: the functions named cn_engine_rt_* may run on the host's audio thread
 * (src/live/engine_rt.c: no allocation, lock, I/O or unbounded loop, checked by a test);
 * the others run on a worker, the engine's own thread or one of the host's, which does
 * the tokenizing, stepping and sampling. */
#ifndef CONTINUO_ENGINE_H
#define CONTINUO_ENGINE_H

#include <stdint.h>

#include "continuo/model.h"
#include "continuo/sampler.h"

/* What an answer's length counts. */
typedef enum {
    CN_LENGTH_NOTES, /* a timed model's note-ons (an original model's tokens, one an eighth) */
    CN_LENGTH_BEATS, /* beats: the answer ends, its notes released, that many beats on */
    CN_LENGTH_BARS,  /* bars of CN_BEATS_PER_BAR: the answer ends on a bar line */
} CnLengthUnit;

/* Bars, where no host says otherwise, are of 4/4; the bar lines fall on the grid's origin
 * (a transport's bar start, a clock's Start, a call's first beat). */
#define CN_BEATS_PER_BAR 4

typedef enum {
    CN_PLAY_RESPOND,    /* call and response: answer after the player falls silent */
    CN_PLAY_CONTINUOUS, /* keep playing; the player's notes steer the continuation */
} CnPlayMode;

/* The controls a player reaches by control change, each on a number of its own (options
 * `controls`; docs in README). */
typedef enum {
    CN_CONTROL_TEMPERATURE, /* 0..127 -> temperature 0..2 */
    CN_CONTROL_MODE,        /* < 64 respond, >= 64 continuous */
    CN_CONTROL_END_CALL,    /* >= 64: answer now, whatever is still held */
    CN_CONTROL_MUTATE,      /* >= 64: answer the last call again, with a new draw */
    CN_CONTROL_LOOP,        /* >= 64: repeat the answer until < 64 */
    CN_CONTROL_WAIT,        /* 0..127 -> the silence before an answer, 0..8 beats */
    CN_CONTROL_LENGTH,      /* 0..127 -> the answer's length, 1..64 (in its unit) */
    CN_N_CONTROLS
} CnControl;
#define CN_CONTROL_OFF 255   /* a control with no number */

/* Their default numbers (in undefined or general-purpose ranges but the first two). */
#define CN_CC_TEMPERATURE 71
#define CN_CC_MODE 80
#define CN_CC_END_CALL 85
#define CN_CC_MUTATE 86
#define CN_CC_LOOP 87
#define CN_CC_WAIT 89
#define CN_CC_LENGTH 90

/* MIDI's own, on any channel: not reassignable. */
#define CN_CC_SUSTAIN 64      /* >= 64 down: released keys sound on until it goes up */
#define CN_CC_ALL_NOTES_OFF 123
#define CN_CC_ALL_SOUND_OFF 120

/* The longest answer, in tokens. */
#define CN_ENGINE_MAX_LENGTH 1024

typedef struct {
    CnPlayMode mode;
    double sample_rate;     /* frames per second */
    double bpm;             /* tempo, until the host says otherwise (cn_engine_rt_set_tempo);
                               the guess when a call's own beat is found */
    double wait_beats;      /* silence before an answer (respond) */
    int length;             /* an answer's length (respond), in length_unit */
    CnLengthUnit length_unit;
    uint8_t channel;        /* output channel, 0..15 */
    double chord_window_ms; /* player notes starting this close form one chord */
    CnSamplerOptions sampler;
    uint64_t seed;
    double offset_ms;       /* the output moves this much later (earlier when negative, to
                               meet a synth's latency; never into the past), -500..500 */
    uint8_t controls[CN_N_CONTROLS]; /* the CC number of each control, or CN_CONTROL_OFF;
                                        no two alike, none of 64, 120, 123 */
    int control_channel;    /* the channel controls are heard on, 0..15; -1: any */
    double min_listen_beats; /* respond: no answer sooner than this after the call began */
    double max_listen_beats; /* respond: a call this long is answered even while it goes
                                on; 0: never */
    int length_from_call;   /* respond: the answer as many tokens long as the call */
    int state_cc;           /* a CC sent on the answer's channel when the state changes:
                               0 idle, 64 listening, 127 answering; -1: none */
    int fixed_grid;         /* respond, with no transport or clock (cn_engine_rt_tempo_free):
                               1 keeps the bpm grid; 0 finds the tempo and beat of each call
                               in its notes, hears the call on that grid and answers on it */
} CnEngineOptions;

/* respond, 120 bpm, wait 2 beats, 32 tokens, channel 1, chords within 40 ms, temperature
 * 0.9 and top-p 0.95, the controls on their default numbers on any channel, no state CC.
 * Hosts take their fallbacks from here. */
CnEngineOptions cn_engine_defaults(double sample_rate);

/* One MIDI message in a host cycle. Input: the host's bytes, offsets in time order.
 * Output: data points at the host's input bytes (thru) or at bytes[] of the same element,
 * so read an output element where it is, before the array is filled again. */
typedef struct {
    uint32_t offset;     /* frames from the start of the cycle */
    uint32_t size;       /* bytes of the message */
    const uint8_t *data; /* the message */
    uint8_t bytes[3];    /* room for a message the engine makes */
} CnMidiEvent;

/* Flags of a cycle. */
#define CN_CYCLE_THRU 1u   /* the input also goes to the output, merged in time order */
#define CN_CYCLE_DEAF 2u   /* the engine does not hear this cycle's input (bypassed) */
#define CN_CYCLE_CLOCK_OUT 4u /* MIDI clock out: Start on a beat, then 24 ticks a beat at the
                                 engine's tempo and on its beat; Stop in the first cycle
                                 without it (cn_engine_rt_clock_resync: Song Position) */

typedef struct {
    uint64_t dropped_in, dropped_out; /* full rings */
    uint64_t late_events;             /* events that arrived after their frame */
    uint64_t answers, interruptions;
    uint64_t tokens_heard, tokens_played;
    uint64_t released_at_longest;     /* the model's notes ended at CN_TIMED_LONGEST_NOTE */
    uint64_t thru_dropped;            /* the player's events not passed on: no room in a
                                         cycle (their note-offs are never dropped) */
    uint64_t beats_found;             /* calls whose own beat was found and followed */
    uint64_t keys_released_for_room;  /* the model's keys let go so that it holds no more
                                         at once than the call did, or six */
    double call_bpm;                  /* the tempo found in the latest of them; 0: none */
} CnEngineStats;

/* 0 when the options are in range, else -1 and a message naming what is not (two
 * controls on one number, say). */
int cn_engine_check_options(const CnEngineOptions *options, CnError *err);

typedef struct CnEngine CnEngine;

/* Allocates everything for playing model (which must outlive the engine) and starts no
 * thread: the host runs cn_engine_work itself from a non-RT thread of its own (the LV2
 * worker), or calls cn_engine_start_worker. NULL and a message on failure. */
CnEngine *cn_engine_new(const CnModel *model, const CnEngineOptions *options, CnError *err);

/* Starts the engine's own worker thread, which runs cn_engine_work when input comes or a
 * pass is due. */
int cn_engine_start_worker(CnEngine *engine, CnError *err);

/* Gives the engine's worker thread real-time priority (SCHED_FIFO at priority, which a
 * host keeps below its audio thread's), so that other work on a loaded machine does not
 * starve it. -1 and the system's reason when it may not (no rtprio for this user). */
int cn_engine_set_worker_priority(CnEngine *engine, int priority, CnError *err);

/* Stops the worker thread if it runs; the counters stay readable. Send cn_engine_rt_panic
 * and render one more cycle first if notes may be sounding. */
void cn_engine_stop_worker(CnEngine *engine);

/* Stops the worker if it runs, and frees everything (NULL is fine). */
void cn_engine_free(CnEngine *engine);

/* One pass of the worker: takes in what the player played, and prepares and schedules
 * what is due (an answer starts about 0.15 s before its first note and is sampled a beat
 * ahead of the music from then on). Never blocks; the time it takes is that of the model
 * steps it makes. Returns the frame by which the next pass is needed if no input comes
 * (UINT64_MAX: only when input comes). Never called by two threads at once. */
uint64_t cn_engine_work(CnEngine *engine);

/* Changes the musical options live: mode, wait, length, channel and sampling (the sample
 * rate and starting tempo stay). A new channel first releases what sounds on the old one.
 * From the thread that runs cn_engine_work, between passes; -1 and nothing changed when a
 * value is out of range. */
int cn_engine_configure(CnEngine *engine, const CnEngineOptions *options, CnError *err);

/* The options in force (worker side). */
const CnEngineOptions *cn_engine_options(const CnEngine *engine);

/* The mode and temperature in force, which the player's control changes may have set. */
CnPlayMode cn_engine_mode(const CnEngine *engine);
float cn_engine_temperature(const CnEngine *engine);

/* The tokens the model heard from the player last (at most max, at most the last
 * CN_ENGINE_HEARD_LOG), oldest first, into out; how many. A call heard again on its own
 * beat counts as heard once. Worker side (the thread that runs cn_engine_work, or any once
 * it has stopped). */
#define CN_ENGINE_HEARD_LOG 4096
size_t cn_engine_heard(const CnEngine *engine, CnToken *out, size_t max);

/* A snapshot of the counters (exact once the worker has stopped). */
CnEngineStats cn_engine_stats(const CnEngine *engine);

/* Events the worker has scheduled and the audio thread not yet taken. */
size_t cn_engine_scheduled(const CnEngine *engine);

/* ----- Audio thread ----- */

/* RT. One host cycle of n_frames starting at cycle_frame (an absolute frame count): hears
 * the player's events in[0..n_in), and writes into out at most max_out events due in the
 * cycle, in time order: note-offs of what an interruption or panic released, the answer's
 * notes, and with CN_CYCLE_THRU the input itself. Returns the events written; what does
 * not fit waits for the next cycle (and goes out late, at offset 0): a release first, an
 * answer's note from its ring; a player's event that finds no room is dropped and counted
 * (thru_dropped), but for a note-off, which is owed to the next cycle. Note-on, note-off and
 * control changes are heard; clock, sysex and malformed messages are not. */
int cn_engine_rt_cycle(CnEngine *engine, uint64_t cycle_frame, uint32_t n_frames,
                       const CnMidiEvent *in, int n_in, unsigned flags, CnMidiEvent *out,
                       int max_out);

/* RT. Note-offs for every note this engine has sounding, at offset 0: for a host about to
 * retire the engine (a new model swapped in). Returns the events written. */
int cn_engine_rt_release_all(CnEngine *engine, CnMidiEvent *out, int max_out);

/* Audio thread: another engine (another model) takes over from `from`: what `from` sounds
 * is released into out (the count is returned), what it prepared is dropped, and `to`
 * plays on the beat `from` played on. */
int cn_engine_rt_hand_over(CnEngine *from, CnEngine *to, CnMidiEvent *out, int max_out);

/* Audio thread: the tempo follower's word for this cycle (continuo/tempo.h): a new tempo
 * or beat is set, a stop releases everything, and the player's beat may be found only
 * while the default holds. Every host calls it once a cycle. */
struct CnTempoFollower;
void cn_engine_rt_follow(CnEngine *engine, struct CnTempoFollower *tempo);

/* RT. A control moved by the host itself (a plugin's port) rather than by a control change
 * in the player's MIDI: the same as that control's CC with this value. */
void cn_engine_rt_control(CnEngine *engine, CnControl control, uint8_t value);

/* RT, or any thread. Stops every note at the next cycle and drops what was scheduled. */
void cn_engine_rt_panic(CnEngine *engine);

/* RT, or any thread. For a host about to stop: a panic that also releases the player's
 * notes the engine passed on (thru), so that nothing is left sounding downstream. */
void cn_engine_rt_stop(CnEngine *engine);

/* RT, or any thread. A device was connected to the output: with CN_CYCLE_CLOCK_OUT the
 * clock sends Song Position (sixteenths since its Start) and Continue before its next tick
 * on a sixteenth, so that the device finds the beat without a Start of its own. */
void cn_engine_rt_clock_resync(CnEngine *engine);

/* RT. The answers' notes that reached the audio thread after their time (the late_events
 * counter), for a host that shows it while it plays. */
uint64_t cn_engine_rt_late(const CnEngine *engine);

/* Any thread: whether the audio thread has written every release the last stop asked for,
 * and the MIDI clock's Stop when it ran (turn CN_CYCLE_CLOCK_OUT off first): a host waits
 * for it before it stops calling cycles, however busy the machine. */
int cn_engine_stop_done(const CnEngine *engine);

/* RT, or any thread. Tempo in beats per minute and a frame that falls on a beat; a tempo
 * outside continuo/tempo.h's range is ignored. */
void cn_engine_rt_set_tempo(CnEngine *engine, double bpm, uint64_t beat_frame);

/* RT, or any thread. Whether the tempo is the host's own fallback (no transport rolls, no
 * clock runs): then, unless the options fix the grid, the engine finds each call's beat
 * and follows it; 0 (the default) while a transport or clock sets the tempo. */
void cn_engine_rt_tempo_free(CnEngine *engine, int is_free);

/* RT, or any thread. The tempo and beat the engine plays on now (a host's, or a call's):
 * for a host handing them to the engine of another model. */
void cn_engine_rt_tempo(const CnEngine *engine, double *bpm, uint64_t *beat_frame);

#endif
