/* The play-along engine's worker side: the live tokenizer, the model state, answers
 * scheduled ahead on the beat grid (an original model's a token an eighth, a timed
 * model's as its events say); and the engine's creation and teardown. The audio-thread
 * side is engine_rt.c. */
#define _GNU_SOURCE /* sem_clockwait */
#include "engine_impl.h"
#include "call.h"
#include "continuo/tempo.h"

#include <errno.h>
#include <sched.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define IN_RING 4096
#define OUT_RING 8192
#define MAX_ANSWER CN_ENGINE_MAX_LENGTH
/* A timed answer's events at most: a note takes three or four (on, off, velocity, shift). */
#define MAX_ANSWER_EVENTS (4 * MAX_ANSWER)
/* A timed answer ends when the model has played no note for this long (two bars of 4/4),
 * and the player's silences are heard as at most this long. */
#define LONGEST_SILENCE_STEPS (8 * CN_TIMED_STEPS_PER_BEAT)
/* Events a pass of continuous play samples at most (a model that never moves time on must
 * not hold the worker). */
#define MAX_EVENTS_A_PASS 256
/* An answer's first notes are computed this long before it starts, or longer when model
 * steps are slow here (a loaded machine, a sanitizer build): STEPS_AHEAD steps' time as
 * measured, up to MAX_PREPARE_SECONDS. */
#define PREPARE_AHEAD_SECONDS 0.15
#define STEPS_AHEAD 12
#define MAX_PREPARE_SECONDS 2.0
/* A call's beat found within this of the grid in force, and its tempo drifting less than
 * this from it over KEEP_SPAN_BEATS (a call and its answer), keeps that grid. */
#define KEEP_SECONDS 0.025
#define KEEP_SPAN_BEATS 16
/* The most keys an answer holds at once, unless the call held more: piano music rarely
 * holds more than six (docs/EVAL.md), and a dozen at once is a wash. */
#define MOST_KEYS 6
/* A key held longer than this counts as released: its note-off was lost (a cable, a full
 * buffer), and the player must not be left unanswered for the rest of the session. */
#define LONGEST_HOLD_SECONDS 8.0

CnEngineOptions cn_engine_defaults(double sample_rate)
{
    return (CnEngineOptions){
        .mode = CN_PLAY_RESPOND, .sample_rate = sample_rate, .bpm = 120, .wait_beats = 2,
        .length = 32, .channel = 0, .chord_window_ms = 40,
        .sampler = cn_sampler_defaults(),
        .seed = 1,
        .controls = {CN_CC_TEMPERATURE, CN_CC_MODE, CN_CC_END_CALL, CN_CC_MUTATE, CN_CC_LOOP},
        .control_channel = -1, .state_cc = -1};
}

/* ----- Worker -------------------------------------------------------------------------- */

typedef struct {
    uint64_t frame;
    uint8_t key;
} PendingOff;

struct CnWorker {
    int mode;                /* the mode the worker last acted in */
    /* the player */
    uint64_t held_at[16][128]; /* frame + 1 of each held key's note-on; 0: not held */
    uint8_t pedal_down[16];   /* the sustain pedal (CC 64) of each channel */
    uint8_t by_pedal[16][128]; /* released keys that the pedal keeps sounding */
    int held;                /* keys down */
    int call_most_held;      /* the most keys down (or kept by the pedal) at once in the call */
    uint64_t hold_expiry;    /* when the longest-held key counts as released */
    uint64_t last_activity;  /* frame of the last note-on or note-off */
    int heard_since_answer;  /* a call is going on (or waits for its answer) */
    uint64_t call_start;     /* frame of the call's first note */
    int call_tokens;         /* tokens heard in it */
    int end_call, mutate, loop, replaying, forced; /* the player's call-and-response controls */
    int have_call;           /* call_state holds a call that was answered (for mutate) */
    int call_length;         /* the length of that call's answer */
    CnState call_state;      /* the listening state when the last answer began */
    int shown_state;         /* the state last sent as state CC: -1 none yet */
    double velocity;         /* recent loudness of the player */
    uint8_t chord_keys[16];
    int n_chord;
    uint64_t chord_start;
    /* the answer being prepared or played (respond) */
    int answering;
    uint64_t answer_end;     /* UINT64_MAX until all of the answer is scheduled */
    uint64_t answer_next;    /* frame of the next token to sample */
    int answer_ids[MAX_ANSWER_EVENTS];
    uint64_t answer_frames[MAX_ANSWER_EVENTS];
    int answer_length;
    int answer_sampled;      /* tokens of the answer sampled and scheduled so far */
    CnState scratch;         /* the answer is sampled on a copy of the listening state */
    /* continuous */
    uint64_t scheduled_until;
    PendingOff offs[MAX_ANSWER * CN_TOKEN_MAX_KEYS];
    size_t offs_head, offs_tail;
    uint32_t seen_panic;
    double step_seconds;     /* a model step's time here, a moving average of the slow ones */
    /* a timed model (docs/TOKENS.md): time and loudness as events */
    int timed;
    uint64_t heard_frame;    /* frame of the last event fed into the listening state */
    int heard_level;         /* velocity level last fed, -1 none yet */
    int out_level;           /* the level of the notes the model plays next */
    uint64_t open_at[128];   /* frame + 1 where each key the model holds went down; 0: up */
    uint64_t release_at[128]; /* a key released at the instant it went down: its note-off's
                                 frame, a twelfth on (as a rendered file has it); 0: none */
    CnTimedHolds answer_holds; /* the same keys in twelfths, to release them to the model */
    int answer_notes;        /* note-ons of the answer so far */
    int lead_skipped;        /* twelfths of shifts before its first note, not waited for */
    uint64_t last_note_on;   /* frame of the answer's latest note-on (or of its start) */
    uint64_t pass_start;     /* where the answer, or looping its current pass, began */
    uint64_t answer_span;    /* frames an answer in beats or bars lasts; 0: it counts notes */
    CnCall call;             /* the call, kept to be heard again on its own beat */
};
typedef struct CnWorker Worker;

static uint64_t frames_per_beat(CnEngine *e)
{
    return atomic_load(&e->frames_per_beat_milli) / 1000;
}

/* A beat's frames to the thousandth: grid points are counted from the origin at this
 * precision, so that a tempo whose beat is no whole number of frames does not drift. */
static double exact_beat(CnEngine *e)
{
    return (double)atomic_load(&e->frames_per_beat_milli) / 1000.0;
}

static uint64_t next_grid(CnEngine *e, uint64_t frame)
{
    double eighth = exact_beat(e) / 2;
    uint64_t origin = atomic_load(&e->grid_origin);
    if (eighth < 1)
        return frame;
    if (frame <= origin)
        return origin;
    uint64_t k = (uint64_t)ceil(((double)(frame - origin) - 0.5) / eighth);
    return origin + (uint64_t)llround((double)k * eighth);
}

/* The grid point an eighth after frame: on the grid as it is now, so that a tempo or beat
 * that changes mid-answer (a DAW's, a clock's, re-anchored every beat) is followed in
 * phase, not just in spacing. */
static uint64_t next_eighth(CnEngine *e, uint64_t frame)
{
    return next_grid(e, frame + frames_per_beat(e) / 4 + 1);
}

static uint64_t chord_window(CnEngine *e)
{
    return (uint64_t)(e->options.chord_window_ms * e->sample_rate / 1000);
}

/* The frame the player's silence has lasted the wait by. */
static uint64_t silence_end(CnEngine *e, const Worker *w)
{
    return w->last_activity + (uint64_t)(e->options.wait_beats * (double)frames_per_beat(e));
}

/* How much earlier than their frames notes go out: a negative --offset. */
static uint64_t earlier(CnEngine *e)
{
    int64_t offset = atomic_load(&e->offset_frames);
    return offset < 0 ? (uint64_t)-offset : 0;
}

/* How far ahead of the music the answer is sampled: a beat, and the output's lead. */
static uint64_t sample_ahead(CnEngine *e)
{
    return frames_per_beat(e) + earlier(e);
}

static uint64_t prepare_ahead(CnEngine *e)
{
    double seconds = STEPS_AHEAD * e->work->step_seconds;
    seconds = seconds < PREPARE_AHEAD_SECONDS ? PREPARE_AHEAD_SECONDS
            : seconds > MAX_PREPARE_SECONDS ? MAX_PREPARE_SECONDS : seconds;
    return (uint64_t)(seconds * e->sample_rate) + earlier(e);
}

static double monotonic_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* A model step, timed: the average follows a slower step at once and a faster one slowly,
 * so that the preparation lead covers the worker's bad moments, not its mean. */
static void step(CnEngine *e, CnState *state, int id)
{
    double t0 = monotonic_seconds();
    cn_state_step(state, id);
    double took = monotonic_seconds() - t0, *avg = &e->work->step_seconds;
    *avg = took > *avg ? took : 0.98 * *avg + 0.02 * took;
}

static void hear_token(CnEngine *e, CnToken token)
{
    int id = cn_vocab_index(&e->model->vocab, token);
    if (id < 0)
        id = cn_vocab_nearest(&e->model->vocab, token);
    step(e, &e->state, id);
    cn_sampler_observe(&e->sampler, id);
    cn_guide_hear(&e->guide, e->model->vocab.tokens[id]);
    e->heard[e->n_heard++ % CN_ENGINE_HEARD_LOG] = e->model->vocab.tokens[id];
    e->stats.tokens_heard++;
}

size_t cn_engine_heard(const CnEngine *e, CnToken *out, size_t max)
{
    uint64_t n = e->n_heard < CN_ENGINE_HEARD_LOG ? e->n_heard : CN_ENGINE_HEARD_LOG;
    n = n < max ? n : max;
    for (uint64_t i = 0; i < n; i++)
        out[i] = e->heard[(e->n_heard - n + i) % CN_ENGINE_HEARD_LOG];
    return (size_t)n;
}

static void flush_chord(CnEngine *e, Worker *w)
{
    if (w->n_chord == 0)
        return;
    hear_token(e, cn_token_from_keys(w->chord_keys, (size_t)w->n_chord));
    w->n_chord = 0;
    w->call_tokens++;
}

/* ----- Timed events: the player heard, the model played (docs/TOKENS.md) ------------- */

static uint64_t twelfth(CnEngine *e)
{
    uint64_t t = frames_per_beat(e) / CN_TIMED_STEPS_PER_BEAT;
    return t ? t : 1;
}

/* Twelfths of a beat from the grid's origin to frame, to the nearest. */
static int64_t grid_steps(CnEngine *e, uint64_t frame)
{
    double t = exact_beat(e) / CN_TIMED_STEPS_PER_BEAT;
    uint64_t origin = atomic_load(&e->grid_origin);
    return frame >= origin ? (int64_t)floor((double)(frame - origin) / t + 0.5)
                           : -(int64_t)floor((double)(origin - frame) / t + 0.5);
}

/* The grid point nearest frame, on the grid as it is now (a tempo or beat that changes
 * mid-answer is followed in phase). */
static uint64_t nearest_step(CnEngine *e, uint64_t frame)
{
    double t = exact_beat(e) / CN_TIMED_STEPS_PER_BEAT;
    uint64_t origin = atomic_load(&e->grid_origin);
    if (frame <= origin || t < 1)
        return frame;
    double k = floor((double)(frame - origin) / t + 0.5);
    return origin + (uint64_t)llround(k * t);
}

static void hear_shifts(CnEngine *e, int64_t steps)
{
    steps = steps < LONGEST_SILENCE_STEPS ? steps : LONGEST_SILENCE_STEPS;
    while (steps > 0) {
        int shift = steps < CN_TIMED_MAX_SHIFT ? (int)steps : CN_TIMED_MAX_SHIFT;
        hear_token(e, (CnToken){.kind = CN_EVENT_SHIFT, .pitch = (uint8_t)shift});
        steps -= shift;
    }
}

/* One of the player's keys down or up at frame, as the timed model hears it: the time
 * since the last event it heard (on the grid; a long silence as two bars), the loudness
 * when it changed, the key (brought into the piano's range). */
static void hear_event(CnEngine *e, Worker *w, CnTokenKind kind, uint8_t key, uint8_t velocity,
                       uint64_t frame)
{
    if (e->state.n_steps > 0 && frame > w->heard_frame)
        hear_shifts(e, grid_steps(e, frame) - grid_steps(e, w->heard_frame));
    if (e->state.n_steps == 0 || frame > w->heard_frame)
        w->heard_frame = frame;
    if (kind == CN_EVENT_ON) {
        int level = cn_velocity_level(velocity);
        if (level != w->heard_level)
            hear_token(e, (CnToken){.kind = CN_EVENT_VELOCITY, .pitch = (uint8_t)level});
        w->heard_level = level;
    }
    hear_token(e, (CnToken){.kind = (uint8_t)kind, .pitch = cn_timed_key(key)});
}

static void push_note(CnEngine *e, uint64_t frame, uint8_t status, uint8_t key,
                      uint8_t velocity, uint32_t generation)
{
    CnTimedEvent ev = {frame, {(uint8_t)(status | e->options.channel), key, velocity}, 3,
                       generation};
    cn_ring_push(&e->out, &ev);
}

/* Where a key the model holds is released if nothing else releases it first: a twelfth
 * after it went down when the model let it go at that instant, else at its longest. */
static uint64_t release_due(CnEngine *e, const Worker *w, int key)
{
    return w->release_at[key] ? w->release_at[key]
                              : w->open_at[key] - 1 + (uint64_t)CN_TIMED_LONGEST_NOTE * twelfth(e);
}

/* Releases the model's keys due by until, at their due frames, earliest first (the ring's
 * events go out in the order they are pushed). */
static void release_due_keys(CnEngine *e, Worker *w, uint64_t until, uint32_t generation)
{
    for (;;) {
        int first = -1;
        for (int key = 0; key < 128; key++)
            if (w->open_at[key] && (first < 0 || release_due(e, w, key) < release_due(e, w, first)))
                first = key;
        if (first < 0 || release_due(e, w, first) > until)
            return;
        push_note(e, release_due(e, w, first), 0x80, (uint8_t)first, 0, generation);
        w->open_at[first] = w->release_at[first] = 0;
    }
}

static void release_model_keys(CnEngine *e, Worker *w, uint64_t frame, uint32_t generation)
{
    release_due_keys(e, w, frame, generation);
    for (int key = 0; key < 128; key++) /* the rest now; a key just struck a twelfth on */
        if (w->open_at[key]) {
            uint64_t struck = w->open_at[key] - 1;
            uint64_t at = w->release_at[key] > frame ? w->release_at[key] : frame;
            at = struck >= at ? struck + twelfth(e) : at; /* struck at the end: not zero long */
            push_note(e, at, 0x80, (uint8_t)key, 0, generation);
            w->open_at[key] = w->release_at[key] = 0;
        }
}

/* Plays one of the model's events at *at: a key down (at its level's velocity) or up, a
 * new loudness, or time moving on (to the grid point that many twelfths later). Returns 1
 * for a note-on. */
static int play_event(CnEngine *e, Worker *w, CnToken t, uint64_t *at, uint32_t generation)
{
    switch (t.kind) {
    case CN_EVENT_SHIFT: {
        uint64_t next = nearest_step(e, *at + t.pitch * twelfth(e));
        release_due_keys(e, w, next, generation);
        *at = next;
        return 0;
    }
    case CN_EVENT_VELOCITY:
        w->out_level = t.pitch;
        return 0;
    case CN_EVENT_ON:
        if (w->open_at[t.pitch] == *at + 1) { /* struck twice at one instant: one note */
            w->release_at[t.pitch] = 0;
            return 0;
        }
        if (w->open_at[t.pitch]) /* struck again while it sounds: released first */
            push_note(e, *at, 0x80, t.pitch, 0, generation);
        push_note(e, *at, 0x90, t.pitch, cn_level_velocity(w->out_level), generation);
        w->open_at[t.pitch] = *at + 1;
        w->release_at[t.pitch] = 0;
        return 1;
    case CN_EVENT_OFF:
        if (w->open_at[t.pitch] == *at + 1) { /* let go at once: a twelfth long, not zero */
            w->release_at[t.pitch] = *at + twelfth(e);
            return 0;
        }
        if (w->open_at[t.pitch])
            push_note(e, *at, 0x80, t.pitch, 0, generation);
        w->open_at[t.pitch] = w->release_at[t.pitch] = 0;
        return 0;
    default:
        return 0;
    }
}

/* Feeds the played part of the current answer into the listening state. */
static void finish_answer(CnEngine *e, Worker *w, uint64_t played_until)
{
    for (int i = 0; i < w->answer_sampled && w->answer_frames[i] < played_until; i++) {
        step(e, &e->state, w->answer_ids[i]);
        e->stats.tokens_played++;
        CnToken t = e->model->vocab.tokens[w->answer_ids[i]];
        if (t.kind == CN_EVENT_VELOCITY) /* what the listening state heard last */
            w->heard_level = t.pitch;
        w->heard_frame = w->answer_frames[i];
    }
    w->answering = 0;
    w->answer_length = 0;
    w->answer_sampled = 0;
    w->forced = 0;
    w->replaying = 0;
}

static void cancel_output(CnEngine *e, Worker *w)
{
    atomic_fetch_add(&e->generation, 1); /* the audio thread releases what sounds */
    w->offs_head = w->offs_tail = 0;
    memset(w->open_at, 0, sizeof w->open_at);
    memset(w->release_at, 0, sizeof w->release_at);
}

static void key_down(Worker *w, uint8_t channel, uint8_t key, uint64_t frame)
{
    if (!w->held_at[channel][key])
        w->held++; /* a key struck again while held is still one key */
    if (w->held > w->call_most_held)
        w->call_most_held = w->held;
    w->held_at[channel][key] = frame + 1;
    w->by_pedal[channel][key] = 0;
}

/* A key is up (at frame): a timed model hears it then, the pedal's release included. */
static void key_up(CnEngine *e, Worker *w, uint8_t channel, uint8_t key, uint64_t frame)
{
    if (w->held_at[channel][key]) { /* a note-off of a key not held changes nothing */
        w->held_at[channel][key] = 0;
        w->by_pedal[channel][key] = 0;
        w->held--;
        if (w->timed)
            hear_event(e, w, CN_EVENT_OFF, key, 0, frame);
        if (w->heard_since_answer)
            cn_call_add(&w->call, frame, CN_EVENT_OFF, key, 0);
    }
}

/* A note-off: the key is up, unless the pedal keeps it sounding until it is released. */
static void key_released(CnEngine *e, Worker *w, uint8_t channel, uint8_t key, uint64_t frame)
{
    if (w->pedal_down[channel] && w->held_at[channel][key])
        w->by_pedal[channel][key] = 1;
    else
        key_up(e, w, channel, key, frame);
}

static void pedal_up(CnEngine *e, Worker *w, uint8_t channel, uint64_t frame)
{
    w->pedal_down[channel] = 0;
    for (int key = 0; key < 128; key++)
        if (w->by_pedal[channel][key])
            key_up(e, w, channel, (uint8_t)key, frame);
}

static void channel_up(CnEngine *e, Worker *w, uint8_t channel, uint64_t frame)
{
    w->pedal_down[channel] = 0;
    for (int key = 0; key < 128; key++)
        key_up(e, w, channel, (uint8_t)key, frame);
}

/* Releases the keys held longer than the longest hold by now, and notes when the next
 * one will be. Bounded: 16 x 128, and only while keys are held. */
static void expire_holds(CnEngine *e, Worker *w, uint64_t now)
{
    w->hold_expiry = UINT64_MAX;
    if (w->held == 0)
        return;
    uint64_t longest = (uint64_t)(LONGEST_HOLD_SECONDS * e->sample_rate);
    for (int ch = 0; ch < 16; ch++)
        for (int key = 0; key < 128; key++) {
            uint64_t at = w->held_at[ch][key];
            if (!at)
                continue;
            if (now >= at - 1 + longest)
                key_up(e, w, (uint8_t)ch, (uint8_t)key, now);
            else if (at - 1 + longest < w->hold_expiry)
                w->hold_expiry = at - 1 + longest;
        }
}

static void apply_control(CnEngine *e, Worker *w, int control, uint8_t value)
{
    switch (control) {
    case CN_CONTROL_TEMPERATURE:
        atomic_store(&e->temperature_milli, (uint32_t)(value * 2000 / 127));
        break;
    case CN_CONTROL_MODE:
        atomic_store(&e->mode, value >= 64 ? CN_PLAY_CONTINUOUS : CN_PLAY_RESPOND);
        break;
    case CN_CONTROL_END_CALL: w->end_call |= value >= 64; break;
    case CN_CONTROL_MUTATE: w->mutate |= value >= 64; break;
    case CN_CONTROL_LOOP: w->loop = value >= 64; break;
    default: break;
    }
}

/* A control change on one of the controls' numbers. */
static void handle_control(CnEngine *e, Worker *w, uint8_t number, uint8_t value)
{
    for (int i = 0; i < CN_N_CONTROLS; i++)
        if (number == e->options.controls[i]) {
            apply_control(e, w, i, value);
            return;
        }
}

/* A key struck, as a file's tokens have it (docs/TOKENS.md): a key struck again while it
 * sounds (held, or kept by the pedal, on any channel) is let go first; struck twice at one
 * instant, it is one note. */
static void hear_strike(CnEngine *e, Worker *w, uint8_t key, uint8_t velocity, uint64_t frame)
{
    uint64_t sounding_since = 0;
    for (int ch = 0; ch < 16; ch++)
        if (w->held_at[ch][key] > sounding_since)
            sounding_since = w->held_at[ch][key];
    if (sounding_since == frame + 1)
        return; /* the same instant: one note */
    if (sounding_since) {
        hear_event(e, w, CN_EVENT_OFF, key, 0, frame);
        cn_call_add(&w->call, frame, CN_EVENT_OFF, key, 0);
    }
    hear_event(e, w, CN_EVENT_ON, key, velocity, frame);
    cn_call_add(&w->call, frame, CN_EVENT_ON, key, velocity);
}

static void handle_event(CnEngine *e, Worker *w, const CnTimedEvent *ev)
{
    if (ev->size == EVENT_CONTROL) { /* moved by the host */
        apply_control(e, w, ev->bytes[0], ev->bytes[1]);
        return;
    }
    uint8_t kind = ev->bytes[0] & 0xf0, channel = ev->bytes[0] & 0x0f, a = ev->bytes[1],
            b = ev->bytes[2];
    if (kind == 0xb0) {
        if (a == CN_CC_ALL_NOTES_OFF || a == CN_CC_ALL_SOUND_OFF) {
            channel_up(e, w, channel, ev->frame); /* the player's keys there are up */
            cn_engine_rt_panic(e);
        } else if (a == CN_CC_SUSTAIN && b >= 64) {
            w->pedal_down[channel] = 1;
        } else if (a == CN_CC_SUSTAIN && w->pedal_down[channel]) {
            pedal_up(e, w, channel, ev->frame);
            w->last_activity = ev->frame; /* the silence starts when the pedal is let go */
        } else if (e->options.control_channel < 0 || channel == e->options.control_channel) {
            handle_control(e, w, a, b);
        }
        return;
    }
    w->last_activity = ev->frame;
    if (kind == 0x90 && b > 0) {
        if (w->answering && !w->forced && atomic_load(&e->mode) == CN_PLAY_RESPOND) {
            finish_answer(e, w, ev->frame); /* the player takes over at once */
            cancel_output(e, w);
            e->stats.interruptions++;
        }
        if (!w->heard_since_answer) { /* a call begins: the answer follows this one */
            w->call_start = ev->frame;
            w->call_tokens = 0;
            if (atomic_load(&e->mode) == CN_PLAY_RESPOND)
                cn_guide_reset(&e->guide);
            cn_call_begin(&w->call, &e->state, w->heard_frame, w->heard_level);
            w->call.before_heard = e->n_heard;
            w->call_most_held = 0;
        }
        if (w->timed) {
            hear_strike(e, w, a, b, ev->frame);
            w->call_tokens++; /* (a timed call is as long as its notes) */
        } else {
            cn_call_add(&w->call, ev->frame, CN_EVENT_ON, a, b); /* (for its beat) */
            if (w->n_chord > 0 && ev->frame - w->chord_start > chord_window(e))
                flush_chord(e, w);
            if (w->n_chord == 0)
                w->chord_start = ev->frame;
            if (w->n_chord < 16)
                w->chord_keys[w->n_chord++] = a;
        }
        key_down(w, channel, a, ev->frame);
        w->heard_since_answer = 1;
        w->velocity = 0.7 * w->velocity + 0.3 * b;
    } else {
        key_released(e, w, channel, a, ev->frame);
    }
}

/* Note events of token id at frame, lasting a quarter note; note-offs wait in w->offs. */
static void schedule_token(CnEngine *e, Worker *w, int id, uint64_t frame, uint32_t generation)
{
    uint8_t keys[CN_TOKEN_MAX_KEYS];
    int n = cn_token_keys(e->model->vocab.tokens[id], keys);
    uint64_t quarter = frames_per_beat(e);
    while (w->offs_head != w->offs_tail && w->offs[w->offs_head].frame <= frame) {
        PendingOff *off = &w->offs[w->offs_head];
        CnTimedEvent ev = {off->frame, {(uint8_t)(0x80 | e->options.channel), off->key, 0}, 3,
                           generation};
        cn_ring_push(&e->out, &ev);
        w->offs_head = (w->offs_head + 1) % (sizeof w->offs / sizeof w->offs[0]);
    }
    uint8_t velocity = (uint8_t)fmax(1, fmin(127, w->velocity));
    for (int i = 0; i < n; i++) {
        CnTimedEvent ev = {frame, {(uint8_t)(0x90 | e->options.channel), keys[i], velocity}, 3,
                           generation};
        cn_ring_push(&e->out, &ev);
        w->offs[w->offs_tail] = (PendingOff){frame + quarter, keys[i]};
        w->offs_tail = (w->offs_tail + 1) % (sizeof w->offs / sizeof w->offs[0]);
    }
}

static void flush_offs(CnEngine *e, Worker *w, uint32_t generation)
{
    while (w->offs_head != w->offs_tail) {
        PendingOff *off = &w->offs[w->offs_head];
        CnTimedEvent ev = {off->frame, {(uint8_t)(0x80 | e->options.channel), off->key, 0}, 3,
                           generation};
        cn_ring_push(&e->out, &ev);
        w->offs_head = (w->offs_head + 1) % (sizeof w->offs / sizeof w->offs[0]);
    }
}

static int sample_next(CnEngine *e, const float *probs)
{
    e->sampler.options.temperature = (float)atomic_load(&e->temperature_milli) / 1000.0f;
    return cn_sampler_sample_biased(&e->sampler, probs, cn_guide_bias(&e->guide));
}

/* A note-on the model chose while the answer holds as many keys as it may (MOST_KEYS, or
 * the most the call held) becomes the release of the key it has held longest, as the
 * event the model is told next (it then chooses again); other events pass unchanged. */
static int within_keys(CnEngine *e, Worker *w, int id)
{
    if (e->model->vocab.tokens[id].kind != CN_EVENT_ON)
        return id;
    int n_open = 0, oldest = -1;
    for (int key = 0; key < 128; key++)
        if (w->open_at[key] && !w->release_at[key]) {
            n_open++;
            if (oldest < 0 || w->open_at[key] < w->open_at[oldest])
                oldest = key;
        }
    int most = w->call_most_held > MOST_KEYS ? w->call_most_held : MOST_KEYS;
    if (n_open < most)
        return id;
    int off = cn_vocab_index(&e->model->vocab,
                             (CnToken){.kind = CN_EVENT_OFF, .pitch = (uint8_t)oldest});
    if (off < 0)
        return id;
    e->stats.keys_released_for_room++;
    return off;
}

/* Samples the answer's tokens due before horizon, one model step each, on the copy of
 * the listening state the answer started from. Pacing the steps a beat ahead (rather than
 * the whole answer at once) keeps the worker from hogging a core and the memory bus for
 * the length of an answer, and lets a temperature change reach the answer being played. */
/* The release of a key the model has held its longest (play_event has sent it at that
 * length), as the event the model is told next instead of sampling one; -1 when none. */
static int held_too_long(CnEngine *e, Worker *w)
{
    int key;
    while ((key = cn_timed_holds_due(&w->answer_holds)) >= 0) {
        int id = cn_vocab_index(&e->model->vocab,
                                (CnToken){.kind = CN_EVENT_OFF, .pitch = (uint8_t)key});
        if (id >= 0) {
            cn_sampler_observe(&e->sampler, id);
            e->stats.released_at_longest++;
            return id;
        }
        w->answer_holds.down_at[key] = 0;
    }
    return -1;
}

/* Where a timed answer is complete: the notes asked for are played (the next note-on is
 * not), the time asked for is up (the next step would pass it), its events fill the answer,
 * or the model has played nothing for two bars. */
static int timed_answer_complete(CnEngine *e, Worker *w, CnToken next)
{
    uint64_t silence = (uint64_t)LONGEST_SILENCE_STEPS * twelfth(e);
    uint64_t stop = w->pass_start + w->answer_span;
    return (next.kind == CN_EVENT_ON && w->answer_notes >= w->call_length) ||
           (w->answer_span && next.kind == CN_EVENT_SHIFT &&
            nearest_step(e, w->answer_next + next.pitch * twelfth(e)) >= stop) ||
           w->answer_sampled >= MAX_ANSWER_EVENTS ||
           w->answer_next >= w->last_note_on + silence;
}

/* extend_answer for a timed model: the events due before horizon, each at the time the
 * ones before it moved to; a complete answer releases what the model still holds, and
 * ends there or, looping, starts again. Shifts before the first note, up to a beat, are
 * not waited for: an answer starts on the grid point it was placed on (a model that learned
 * notes released a twelfth early tends to begin with a twelfth's rest, which would put the
 * whole answer a twelfth off the beat). */
static void extend_timed_answer(CnEngine *e, Worker *w, uint64_t horizon)
{
    uint32_t generation = atomic_load(&e->generation);
    while (w->answer_end == UINT64_MAX && (w->answer_next < horizon || w->answer_sampled == 0)) {
        int i = w->answer_sampled, id = -1;
        if (w->replaying && i < w->answer_length) {
            id = w->answer_ids[i];
        } else if (!w->replaying) {
            if (i > 0)
                step(e, &w->scratch, w->answer_ids[i - 1]);
            id = held_too_long(e, w);
            if (id < 0) {
                id = within_keys(e, w, sample_next(e, w->scratch.probs));
                if (timed_answer_complete(e, w, e->model->vocab.tokens[id]))
                    id = -1;
            }
        }
        if (id < 0) { /* the answer is complete, or a pass of the loop is */
            if (w->answer_span) /* it lasts the time asked for, its notes released then */
                w->answer_next = w->pass_start + w->answer_span;
            release_model_keys(e, w, w->answer_next, generation);
            w->answer_length = i;
            if (!w->loop || i == 0) {
                w->answer_end = w->answer_next;
                return;
            }
            /* looping: the next pass starts a whole number of beats after this one did (of
               bars, for an answer in bars), so that the loop keeps the beat it began on */
            double unit = exact_beat(e) * (e->options.length_unit == CN_LENGTH_BARS
                                               ? CN_BEATS_PER_BAR : 1);
            double took = (double)(w->answer_next - w->pass_start);
            w->answer_next = w->pass_start + (uint64_t)llround(ceil(took / unit - 1e-6) * unit);
            w->pass_start = w->answer_next;
            w->answer_sampled = 0;
            w->replaying = 1;
            w->answer_notes = w->lead_skipped = 0; /* each pass starts where it is placed */
            continue;
        }
        w->answer_ids[i] = id;
        w->answer_frames[i] = w->answer_next;
        CnToken t = e->model->vocab.tokens[id];
        cn_timed_holds_add(&w->answer_holds, t);
        if (t.kind == CN_EVENT_SHIFT && w->answer_notes == 0 &&
            w->lead_skipped + t.pitch <= CN_TIMED_STEPS_PER_BEAT) {
            w->lead_skipped += t.pitch; /* the answer starts where it was placed */
            w->answer_sampled++;
            continue;
        }
        if (play_event(e, w, t, &w->answer_next, generation)) {
            w->answer_notes++;
            w->last_note_on = w->answer_frames[i];
        }
        w->answer_sampled++;
    }
}

/* The frames an answer starting at start lasts when its length is in beats or bars (0
 * when it counts notes): that many beats, or up to the bar line that many bars on (bars
 * counted from the grid's origin; an answer starting up to half a beat after a bar line
 * counts from that line). */
static uint64_t length_span(CnEngine *e, uint64_t start)
{
    const CnEngineOptions *o = &e->options;
    double beat = exact_beat(e), bar = CN_BEATS_PER_BAR * beat;
    if (o->length_unit == CN_LENGTH_BEATS)
        return (uint64_t)llround(o->length * beat);
    if (o->length_unit != CN_LENGTH_BARS)
        return 0;
    double origin = (double)atomic_load(&e->grid_origin);
    double end = (double)start + o->length * bar - beat / 2;
    double bars = ceil((end - origin) / bar);
    return (uint64_t)llround(origin + bars * bar) - start;
}

static void extend_answer(CnEngine *e, Worker *w, uint64_t horizon)
{
    if (w->timed) {
        extend_timed_answer(e, w, horizon);
        return;
    }
    uint32_t generation = atomic_load(&e->generation);
    for (;;) {
        if (w->answer_sampled == w->answer_length) {
            if (!w->loop)
                break;
            w->answer_sampled = 0; /* looping: the same tokens again, on the grid */
            w->replaying = 1;
        }
        int i = w->answer_sampled;
        if (w->answer_next >= horizon && (i > 0 || w->replaying))
            return;
        int id;
        if (w->replaying) {
            id = w->answer_ids[i];
        } else {
            if (i > 0)
                step(e, &w->scratch, w->answer_ids[i - 1]);
            id = sample_next(e, w->scratch.probs);
        }
        w->answer_ids[i] = id;
        w->answer_frames[i] = w->answer_next;
        schedule_token(e, w, id, w->answer_next, generation);
        w->answer_sampled++;
        w->answer_next = next_eighth(e, w->answer_next);
    }
    if (w->answer_end == UINT64_MAX) { /* all scheduled: the last notes end a beat later */
        flush_offs(e, w, generation);
        w->answer_end = w->answer_next + frames_per_beat(e);
    }
}

/* An answer from the listening state (or, to mutate, from the last call's again). */
static void start_answer(CnEngine *e, Worker *w, uint64_t start, uint64_t now, int again)
{
    flush_chord(e, w);
    if (w->timed && !again && e->state.n_steps > 0 && start > w->heard_frame) {
        /* the silence before the answer is time the model hears: it starts on the beat
           it starts on, not right after the call's last event */
        hear_shifts(e, grid_steps(e, start) - grid_steps(e, w->heard_frame));
        w->heard_frame = start;
    }
    if (again) {
        cn_state_copy(&w->scratch, &w->call_state);
    } else {
        cn_state_copy(&w->scratch, &e->state);
        cn_state_copy(&w->call_state, &e->state);
        w->have_call = 1;
        int length = e->options.length_from_call ? w->call_tokens : e->options.length;
        w->answer_span = e->options.length_from_call ? 0 : length_span(e, start);
        if (w->answer_span) /* in time: no count of notes (an original model's tokens fill it) */
            length = w->timed ? MAX_ANSWER : (int)(w->answer_span / (exact_beat(e) / 2) + 0.5);
        w->call_length = length < 1 ? 1 : length < MAX_ANSWER ? length : MAX_ANSWER;
    }
    w->answer_length = w->timed ? MAX_ANSWER_EVENTS : w->call_length;
    w->answer_sampled = 0;
    w->replaying = 0;
    w->answering = 1;
    w->answer_next = w->pass_start = start;
    w->answer_notes = 0;
    w->lead_skipped = 0;
    w->last_note_on = start;
    w->out_level = w->heard_level >= 0 ? w->heard_level : cn_velocity_level((uint8_t)w->velocity);
    memset(w->open_at, 0, sizeof w->open_at);
    memset(w->release_at, 0, sizeof w->release_at);
    cn_timed_holds_reset(&w->answer_holds);
    w->answer_end = UINT64_MAX;
    w->heard_since_answer = 0;
    e->stats.answers++;
    extend_answer(e, w, now + sample_ahead(e));
}

static uint64_t beats(CnEngine *e, double n)
{
    return (uint64_t)(n * (double)frames_per_beat(e));
}

/* When the call may be answered: after the silence, and not before the shortest listen. */
static uint64_t answer_time(CnEngine *e, Worker *w)
{
    uint64_t at = silence_end(e, w), earliest = w->call_start + beats(e, e->options.min_listen_beats);
    return at > earliest ? at : earliest;
}

/* The grid point an answer due at `at` starts on: at's own, or, when the worker comes to
 * it with less than half its preparation time left (held up on a loaded machine), the
 * first one it can still make with that much; so the answer keeps the beat a little later
 * instead of sounding its first notes late, off the grid. */
static uint64_t answer_start(CnEngine *e, uint64_t at, uint64_t now)
{
    uint64_t soonest = now + prepare_ahead(e) / 2;
    return next_grid(e, at > soonest ? at : soonest);
}

/* The call heard again from the state before it, on the grid as it is now. */
static void rehear_call(CnEngine *e, Worker *w)
{
    uint64_t heard = e->stats.tokens_heard;
    e->n_heard = w->call.before_heard; /* the log goes back to where the call began */
    cn_state_copy(&e->state, &w->call.before);
    w->heard_frame = w->call.before_frame;
    w->heard_level = w->call.before_level;
    cn_guide_reset(&e->guide);
    for (int i = 0; i < w->call.n_events; i++) {
        const CnCallEvent *ev = &w->call.events[i];
        hear_event(e, w, (CnTokenKind)ev->kind, ev->key, ev->velocity, ev->frame);
    }
    e->stats.tokens_heard = heard; /* the call counts once */
}

/* With no transport or clock, the call's own beat: found in its notes, it becomes the grid
 * the answer plays on (and a timed model hears the call again on it, as a file of the
 * call at that tempo would give it). The guess is always --bpm: each call is judged on its
 * own, and a player who holds a tempo keeps one grid (below). */
static void follow_call(CnEngine *e, Worker *w)
{
    if (e->options.fixed_grid || !atomic_load_explicit(&e->tempo_free, memory_order_relaxed))
        return;
    double bpm, now_bpm;
    uint64_t beat_frame, origin;
    cn_engine_rt_tempo(e, &now_bpm, &origin);
    if (cn_call_find_beat(&w->call, e->sample_rate, e->options.bpm, &bpm, &beat_frame))
        return;
    e->stats.beats_found++;
    /* a call that fits the grid in force keeps it: a player who holds a tempo is answered
       on one grid, not on each call's slightly different estimate of it */
    double drift = fabs(60.0 / bpm - 60.0 / now_bpm) * KEEP_SPAN_BEATS;
    double eighth = (double)frames_per_beat(e) / 2;
    double apart = fabs(remainder((double)beat_frame - (double)origin, eighth)) / e->sample_rate;
    if (drift < KEEP_SECONDS && apart < KEEP_SECONDS) {
        e->stats.call_bpm = now_bpm;
        return;
    }
    cn_engine_rt_set_tempo(e, bpm, beat_frame);
    e->stats.call_bpm = bpm;
    if (w->timed)
        rehear_call(e, w);
}

static void respond(CnEngine *e, Worker *w, uint64_t now)
{
    if (w->mutate && w->have_call) { /* the last call again, a new draw */
        if (w->answering) {
            finish_answer(e, w, now);
            cancel_output(e, w);
        }
        w->forced = 0;
        start_answer(e, w, next_grid(e, now + prepare_ahead(e)), now, 1);
    }
    w->mutate = 0;
    if (w->n_chord > 0 && now > w->chord_start + chord_window(e))
        flush_chord(e, w); /* (a call may go on during an answer it did not cut) */
    if (w->answering) {
        extend_answer(e, w, now + sample_ahead(e));
        if (now < w->answer_end)
            return;
        finish_answer(e, w, UINT64_MAX); /* and a call that went on may be due now */
    }
    if (!w->heard_since_answer || e->state.n_steps == 0) {
        w->end_call = 0;
        return;
    }
    uint64_t longest = e->options.max_listen_beats > 0
                           ? w->call_start + beats(e, e->options.max_listen_beats) : UINT64_MAX;
    if (w->end_call) { /* the player says the call is over */
        w->end_call = 0;
        follow_call(e, w);
        start_answer(e, w, next_grid(e, now + prepare_ahead(e)), now, 0);
    } else if (longest != UINT64_MAX && now + prepare_ahead(e) >= longest) {
        w->forced = 1; /* answered while the call goes on: it does not cut this answer */
        follow_call(e, w);
        start_answer(e, w, answer_start(e, longest, now), now, 0);
    } else if (w->held == 0 && now + prepare_ahead(e) >= answer_time(e, w)) {
        follow_call(e, w);
        start_answer(e, w, answer_start(e, answer_time(e, w), now), now, 0);
    }
}

static void play_on(CnEngine *e, Worker *w, uint64_t now)
{
    if (w->n_chord > 0 && now > w->chord_start + chord_window(e))
        flush_chord(e, w);
    uint64_t eighth = frames_per_beat(e) / 2, horizon = now + sample_ahead(e);
    if (w->scheduled_until < now + eighth / 4) /* starting, or after a cancel */
        w->scheduled_until = next_grid(e, now + eighth / 4);
    uint32_t generation = atomic_load(&e->generation);
    for (int n = 0; w->scheduled_until < horizon && n < MAX_EVENTS_A_PASS; n++) {
        if (e->state.n_steps == 0)
            hear_token(e, e->model->vocab.tokens[e->model->corpus ? e->model->corpus[0] : 0]);
        int id = sample_next(e, e->state.probs);
        if (w->timed) { /* the events are the time: a shift moves scheduled_until on */
            id = within_keys(e, w, id);
            CnToken t = e->model->vocab.tokens[id];
            play_event(e, w, t, &w->scheduled_until, generation);
            step(e, &e->state, id);
            e->stats.tokens_played++;
            w->heard_level = t.kind == CN_EVENT_VELOCITY ? t.pitch : w->heard_level;
            w->heard_frame = w->scheduled_until > w->heard_frame ? w->scheduled_until
                                                                 : w->heard_frame;
            continue;
        }
        schedule_token(e, w, id, w->scheduled_until, generation);
        step(e, &e->state, id);
        e->stats.tokens_played++;
        w->scheduled_until = next_eighth(e, w->scheduled_until);
    }
}

/* The state CC, when asked for: 0 idle, 64 listening to a call, 127 answering or playing
 * on, sent when it changes (for a controller's lights). */
static void show_state(CnEngine *e, Worker *w, uint64_t now)
{
    if (e->options.state_cc < 0)
        return;
    int state = w->answering || w->mode == CN_PLAY_CONTINUOUS ? 127
              : w->heard_since_answer ? 64 : 0;
    if (state == w->shown_state)
        return;
    w->shown_state = state;
    CnTimedEvent ev = {now, {(uint8_t)(0xb0 | e->options.channel), (uint8_t)e->options.state_cc,
                             (uint8_t)state}, 3, atomic_load(&e->generation)};
    cn_ring_push(&e->out, &ev);
}

/* The frame by which the worker has something to do if the player does nothing: the
 * edge of a chord, the moment to prepare an answer, the next token a beat ahead, the end
 * of an answer. UINT64_MAX: nothing until the player plays. */
static uint64_t next_due(CnEngine *e, Worker *w)
{
    uint64_t due = UINT64_MAX, beat = sample_ahead(e);
    if (w->n_chord > 0)
        due = w->chord_start + chord_window(e) + 1;
    if (w->mode == CN_PLAY_CONTINUOUS) {
        uint64_t next = w->scheduled_until >= beat ? w->scheduled_until - beat + 1 : 0;
        return next < due ? next : due;
    }
    if (w->answering) {
        uint64_t next = w->answer_end;
        if (w->answer_end == UINT64_MAX || w->answer_sampled < w->answer_length)
            next = w->answer_next >= beat ? w->answer_next - beat + 1 : 0;
        return next < due ? next : due;
    }
    uint64_t ahead = prepare_ahead(e);
    if (w->heard_since_answer && e->options.max_listen_beats > 0) {
        uint64_t longest = w->call_start + beats(e, e->options.max_listen_beats);
        uint64_t next = longest > ahead ? longest - ahead : 0;
        due = next < due ? next : due;
    }
    if (w->heard_since_answer && w->held == 0) {
        uint64_t end = answer_time(e, w);
        uint64_t next = end > ahead ? end - ahead : 0;
        return next < due ? next : due;
    }
    if (w->heard_since_answer && w->hold_expiry < due) /* a lost note-off */
        due = w->hold_expiry;
    return due;
}

uint64_t cn_engine_work(CnEngine *e)
{
    Worker *w = e->work;
    CnTimedEvent ev;
    while (cn_ring_pop(&e->in, &ev) == 0)
        handle_event(e, w, &ev);
    uint64_t now = atomic_load_explicit(&e->now_frame, memory_order_acquire);
    expire_holds(e, w, now);
    uint32_t panic = atomic_load(&e->panic);
    int mode = atomic_load(&e->mode);
    if (panic != w->seen_panic || mode != w->mode) { /* drop everything scheduled */
        w->seen_panic = panic;
        if (w->answering)
            finish_answer(e, w, now);
        cancel_output(e, w);
        w->scheduled_until = 0;
        w->heard_since_answer = 0;
        w->mode = mode;
    }
    if (mode == CN_PLAY_RESPOND)
        respond(e, w, now);
    else
        play_on(e, w, now);
    show_state(e, w, now);
    return next_due(e, w);
}

/* Sleeps until the RT side posts (player input, panic, stop) or the next pass is due.
 * The frame clock only moves with the host's cycles, so the wait is bounded both ways:
 * at least 1 ms (no spinning on a stopped clock), at most 50 ms (tempo and option
 * changes, which post nothing, are seen within that). */
static void wait_until_due(CnEngine *e, uint64_t due)
{
    uint64_t now = atomic_load_explicit(&e->now_frame, memory_order_acquire);
    double seconds = due > now ? (double)(due - now) / e->sample_rate : 0;
    seconds = seconds < 0.001 ? 0.001 : seconds > 0.05 ? 0.05 : seconds;
    struct timespec until; /* on the monotonic clock: a wall-clock jump must not stall it */
    clock_gettime(CLOCK_MONOTONIC, &until);
    long nanos = until.tv_nsec + (long)(seconds * 1e9);
    until.tv_sec += nanos / 1000000000;
    until.tv_nsec = nanos % 1000000000;
    while (sem_clockwait(&e->wake, CLOCK_MONOTONIC, &until) != 0 && errno == EINTR)
        ;
}

static void *worker_main(void *arg)
{
    CnEngine *e = arg;
    while (!atomic_load(&e->stop))
        wait_until_due(e, cn_engine_work(e));
    return NULL;
}

/* ----- Start and stop ------------------------------------------------------------------ */

int cn_engine_check_options(const CnEngineOptions *o, CnError *err)
{
    if (!(o->sample_rate >= 8000 && o->sample_rate <= 768000) || !cn_bpm_in_range(o->bpm) ||
        !(o->wait_beats >= 0 && o->wait_beats <= 64) || o->length < 1 || o->length > MAX_ANSWER ||
        o->length_unit < CN_LENGTH_NOTES || o->length_unit > CN_LENGTH_BARS ||
        (o->length_unit == CN_LENGTH_BARS && o->length > MAX_ANSWER / CN_BEATS_PER_BAR) ||
        o->channel > 15 || !(o->chord_window_ms >= 0 && o->chord_window_ms <= 500) ||
        !(o->offset_ms >= -500 && o->offset_ms <= 500))
        return cn_fail(err, "engine options out of range (sample rate, bpm %d..%d, wait 0..64 "
                            "beats, length 1..%d, channel 1..16, chord window 0..500 ms, offset -500..500 ms)",
                       CN_BPM_MIN, CN_BPM_MAX, MAX_ANSWER);
    for (int i = 0; i < CN_N_CONTROLS; i++) {
        uint8_t n = o->controls[i];
        if (n == CN_CONTROL_OFF)
            continue;
        if (n > 127 || n == CN_CC_SUSTAIN || n == CN_CC_ALL_NOTES_OFF || n == CN_CC_ALL_SOUND_OFF)
            return cn_fail(err, "control change %u cannot be a control (0..127, and not 64, "
                                "120 or 123, which keep their MIDI meaning)", n);
        for (int j = 0; j < i; j++)
            if (o->controls[j] == n)
                return cn_fail(err, "control change %u is given to two controls", n);
    }
    if (o->control_channel < -1 || o->control_channel > 15 ||
        !(o->min_listen_beats >= 0 && o->min_listen_beats <= 64) ||
        !(o->max_listen_beats >= 0 && o->max_listen_beats <= 256) ||
        (o->max_listen_beats > 0 && o->max_listen_beats < o->min_listen_beats) ||
        o->state_cc < -1 || o->state_cc > 127 || o->fixed_grid < 0 || o->fixed_grid > 1)
        return cn_fail(err, "engine options out of range (control channel 1..16, listening "
                            "0..64 beats at least and at most 256, the most not below the "
                            "least, state CC 0..127)");
    return cn_sampler_check(&o->sampler, err);
}

/* The control changes the audio thread wakes the worker for: the controls', All Notes Off
 * and All Sound Off (others wait for the worker's next pass). */
static void set_urgent_controls(CnEngine *e, const CnEngineOptions *o)
{
    uint64_t bits[2] = {0, 0};
    uint8_t numbers[CN_N_CONTROLS + 2];
    memcpy(numbers, o->controls, CN_N_CONTROLS);
    numbers[CN_N_CONTROLS] = CN_CC_ALL_NOTES_OFF;
    numbers[CN_N_CONTROLS + 1] = CN_CC_ALL_SOUND_OFF;
    for (int i = 0; i < CN_N_CONTROLS + 2; i++)
        if (numbers[i] < 128)
            bits[numbers[i] >> 6] |= 1ull << (numbers[i] & 63);
    atomic_store(&e->urgent_cc[0], bits[0]);
    atomic_store(&e->urgent_cc[1], bits[1]);
}

int cn_engine_configure(CnEngine *e, const CnEngineOptions *o, CnError *err)
{
    CnEngineOptions next = *o;
    next.sample_rate = e->sample_rate; /* fixed for the engine's life */
    next.bpm = e->options.bpm;
    if (cn_engine_check_options(&next, err))
        return -1;
    if (next.channel != e->options.channel) { /* release what sounds on the old channel */
        Worker *w = e->work;
        if (w->answering)
            finish_answer(e, w, atomic_load(&e->now_frame));
        cancel_output(e, w);
        w->scheduled_until = 0;
    }
    e->options = next;
    e->sampler.options = next.sampler;
    cn_guide_set_options(&e->guide, &next.sampler);
    atomic_store(&e->mode, next.mode);
    atomic_store(&e->temperature_milli, (uint32_t)(next.sampler.temperature * 1000));
    atomic_store(&e->offset_frames, (int64_t)(next.offset_ms * e->sample_rate / 1000));
    set_urgent_controls(e, &next);
    return 0;
}

const CnEngineOptions *cn_engine_options(const CnEngine *e)
{
    return &e->options;
}

CnEngine *cn_engine_new(const CnModel *model, const CnEngineOptions *o, CnError *err)
{
    if (cn_engine_check_options(o, err))
        return NULL;
    CnEngine *e = calloc(1, sizeof *e);
    if (!e) {
        cn_fail(err, "out of memory for the engine");
        return NULL;
    }
    e->model = model;
    e->sample_rate = o->sample_rate;
    e->options = *o;
    atomic_init(&e->mode, o->mode);
    atomic_init(&e->temperature_milli, (uint32_t)(o->sampler.temperature * 1000));
    atomic_init(&e->frames_per_beat_milli, (uint64_t)(o->sample_rate * 60.0 / o->bpm * 1000.0));
    atomic_init(&e->offset_frames, (int64_t)(o->offset_ms * o->sample_rate / 1000));
    set_urgent_controls(e, o);
    e->work = calloc(1, sizeof *e->work);
    if (!e->work) {
        cn_engine_free(e);
        cn_fail(err, "out of memory for the engine's worker state");
        return NULL;
    }
    e->work->velocity = 80;
    e->work->mode = o->mode;
    e->work->timed = model->vocab.scheme == CN_SCHEME_TIMED;
    e->work->heard_level = -1;
    e->work->shown_state = -1;
    if (cn_state_init(&e->state, model, CN_MODE_STATEFUL, 0, err) ||
        cn_state_init(&e->work->scratch, model, CN_MODE_STATEFUL, 0, err) ||
        cn_state_init(&e->work->call_state, model, CN_MODE_STATEFUL, 0, err) ||
        cn_call_init(&e->work->call, model, err) ||
        cn_sampler_init(&e->sampler, model->config.n_vocab, &o->sampler, o->seed, err) ||
        cn_guide_init(&e->guide, &model->vocab, &o->sampler, err) ||
        cn_ring_init(&e->in, sizeof(CnTimedEvent), IN_RING, err) ||
        cn_ring_init(&e->out, sizeof(CnTimedEvent), OUT_RING, err)) {
        cn_engine_free(e);
        return NULL;
    }
    if (e->work->timed && model->corpus)
        cn_guide_learned(&e->guide, model->corpus, model->n_corpus);
    return e;
}

int cn_engine_start_worker(CnEngine *e, CnError *err)
{
    if (e->worker_running)
        return 0;
    if (!e->has_wake) {
        if (sem_init(&e->wake, 0, 0) != 0)
            return cn_fail(err, "cannot create the worker's semaphore: %s", strerror(errno));
        e->has_wake = 1;
    }
    atomic_store(&e->stop, 0);
    int rc = pthread_create(&e->worker, NULL, worker_main, e);
    if (rc != 0)
        return cn_fail(err, "cannot start the worker thread: %s", strerror(rc));
    e->worker_running = 1;
    return 0;
}

int cn_engine_set_worker_priority(CnEngine *e, int priority, CnError *err)
{
    if (!e->worker_running)
        return cn_fail(err, "the engine has no worker thread of its own");
    struct sched_param param = {.sched_priority = priority};
    int rc = pthread_setschedparam(e->worker, SCHED_FIFO, &param);
    if (rc != 0)
        return cn_fail(err, "cannot give the worker real-time priority %d: %s", priority,
                       strerror(rc));
    return 0;
}

void cn_engine_stop_worker(CnEngine *e)
{
    if (!e || !e->worker_running)
        return;
    atomic_store(&e->stop, 1);
    sem_post(&e->wake);
    pthread_join(e->worker, NULL);
    e->worker_running = 0;
}

void cn_engine_free(CnEngine *e)
{
    if (!e)
        return;
    cn_engine_stop_worker(e);
    if (e->has_wake)
        sem_destroy(&e->wake);
    if (e->work) {
        cn_state_free(&e->work->scratch);
        cn_state_free(&e->work->call_state);
        cn_call_free(&e->work->call);
        free(e->work);
    }
    cn_state_free(&e->state);
    cn_sampler_free(&e->sampler);
    cn_guide_free(&e->guide);
    cn_ring_free(&e->in);
    cn_ring_free(&e->out);
    free(e);
}

CnPlayMode cn_engine_mode(const CnEngine *e)
{
    return (CnPlayMode)atomic_load(&e->mode);
}

float cn_engine_temperature(const CnEngine *e)
{
    return (float)atomic_load(&e->temperature_milli) / 1000.0f;
}

CnEngineStats cn_engine_stats(const CnEngine *e)
{
    CnEngineStats s = e->stats;
    s.dropped_in = cn_ring_dropped(&e->in);
    s.dropped_out = cn_ring_dropped(&e->out);
    s.late_events = atomic_load(&e->late);
    s.thru_dropped = atomic_load(&e->thru_dropped);
    return s;
}

size_t cn_engine_scheduled(const CnEngine *e)
{
    return cn_ring_count(&e->out);
}
