/* The play-along engine's worker side: the live tokenizer, the model state, answers
 * scheduled ahead on the eighth-note grid; and the engine's creation and teardown. The
 * audio-thread side is engine_rt.c. */
#define _GNU_SOURCE /* sem_clockwait */
#include "engine_impl.h"

#include <errno.h>
#include <sched.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define IN_RING 4096
#define OUT_RING 8192
#define MAX_ANSWER CN_ENGINE_MAX_LENGTH
/* An answer's first notes are computed this long before it starts, or longer when model
 * steps are slow here (a loaded machine, a sanitizer build): STEPS_AHEAD steps' time as
 * measured, up to MAX_PREPARE_SECONDS. */
#define PREPARE_AHEAD_SECONDS 0.15
#define STEPS_AHEAD 12
#define MAX_PREPARE_SECONDS 2.0
/* A key held longer than this counts as released: its note-off was lost (a cable, a full
 * buffer), and the player must not be left unanswered for the rest of the session. */
#define LONGEST_HOLD_SECONDS 8.0

CnEngineOptions cn_engine_defaults(double sample_rate)
{
    return (CnEngineOptions){
        .mode = CN_PLAY_RESPOND, .sample_rate = sample_rate, .bpm = 120, .wait_beats = 2,
        .length = 32, .channel = 0, .chord_window_ms = 40,
        .sampler = {.temperature = 0.9f, .top_p = 0.95f, .repetition_penalty = 1.0f},
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
    int answer_ids[MAX_ANSWER];
    uint64_t answer_frames[MAX_ANSWER];
    int answer_length;
    int answer_sampled;      /* tokens of the answer sampled and scheduled so far */
    CnState scratch;         /* the answer is sampled on a copy of the listening state */
    /* continuous */
    uint64_t scheduled_until;
    PendingOff offs[MAX_ANSWER * CN_TOKEN_MAX_KEYS];
    size_t offs_head, offs_tail;
    uint32_t seen_panic;
    double step_seconds;     /* a model step's time here, a moving average of the slow ones */
};
typedef struct CnWorker Worker;

static uint64_t frames_per_beat(CnEngine *e)
{
    return atomic_load(&e->frames_per_beat_milli) / 1000;
}

static uint64_t next_grid(CnEngine *e, uint64_t frame)
{
    uint64_t eighth = frames_per_beat(e) / 2, origin = atomic_load(&e->grid_origin);
    if (eighth == 0)
        return frame;
    if (frame <= origin)
        return origin;
    return origin + (frame - origin + eighth - 1) / eighth * eighth;
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
    e->stats.tokens_heard++;
}

static void flush_chord(CnEngine *e, Worker *w)
{
    if (w->n_chord == 0)
        return;
    hear_token(e, cn_token_from_keys(w->chord_keys, (size_t)w->n_chord));
    w->n_chord = 0;
    w->call_tokens++;
}

/* Feeds the played part of the current answer into the listening state. */
static void finish_answer(CnEngine *e, Worker *w, uint64_t played_until)
{
    for (int i = 0; i < w->answer_sampled && w->answer_frames[i] < played_until; i++) {
        step(e, &e->state, w->answer_ids[i]);
        e->stats.tokens_played++;
    }
    w->answering = 0;
    w->answer_length = 0;
    w->answer_sampled = 0;
    w->forced = 0;
    w->replaying = 0;
}

static void cancel_output(CnEngine *e, Worker *w)
{
    atomic_fetch_add(&e->generation, 1);
    w->offs_head = w->offs_tail = 0;
}

static void key_down(Worker *w, uint8_t channel, uint8_t key, uint64_t frame)
{
    if (!w->held_at[channel][key])
        w->held++; /* a key struck again while held is still one key */
    w->held_at[channel][key] = frame + 1;
    w->by_pedal[channel][key] = 0;
}

static void key_up(Worker *w, uint8_t channel, uint8_t key)
{
    if (w->held_at[channel][key]) { /* a note-off of a key not held changes nothing */
        w->held_at[channel][key] = 0;
        w->by_pedal[channel][key] = 0;
        w->held--;
    }
}

/* A note-off: the key is up, unless the pedal keeps it sounding until it is released. */
static void key_released(Worker *w, uint8_t channel, uint8_t key)
{
    if (w->pedal_down[channel] && w->held_at[channel][key])
        w->by_pedal[channel][key] = 1;
    else
        key_up(w, channel, key);
}

static void pedal_up(Worker *w, uint8_t channel)
{
    w->pedal_down[channel] = 0;
    for (int key = 0; key < 128; key++)
        if (w->by_pedal[channel][key])
            key_up(w, channel, (uint8_t)key);
}

static void channel_up(Worker *w, uint8_t channel)
{
    w->pedal_down[channel] = 0;
    for (int key = 0; key < 128; key++)
        key_up(w, channel, (uint8_t)key);
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
                key_up(w, (uint8_t)ch, (uint8_t)key);
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
            channel_up(w, channel); /* the player's keys on that channel are up */
            cn_engine_rt_panic(e);
        } else if (a == CN_CC_SUSTAIN && b >= 64) {
            w->pedal_down[channel] = 1;
        } else if (a == CN_CC_SUSTAIN && w->pedal_down[channel]) {
            pedal_up(w, channel);
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
        if (!w->heard_since_answer) { /* a call begins */
            w->call_start = ev->frame;
            w->call_tokens = 0;
        }
        if (w->n_chord > 0 && ev->frame - w->chord_start > chord_window(e))
            flush_chord(e, w);
        if (w->n_chord == 0)
            w->chord_start = ev->frame;
        if (w->n_chord < 16)
            w->chord_keys[w->n_chord++] = a;
        key_down(w, channel, a, ev->frame);
        w->heard_since_answer = 1;
        w->velocity = 0.7 * w->velocity + 0.3 * b;
    } else {
        key_released(w, channel, a);
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
    return cn_sampler_sample(&e->sampler, probs);
}

/* Samples the answer's tokens due before horizon, one model step each, on the copy of
 * the listening state the answer started from. Pacing the steps a beat ahead (rather than
 * the whole answer at once) keeps the worker from hogging a core and the memory bus for
 * the length of an answer, and lets a temperature change reach the answer being played. */
static void extend_answer(CnEngine *e, Worker *w, uint64_t horizon)
{
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
    if (again) {
        cn_state_copy(&w->scratch, &w->call_state);
    } else {
        cn_state_copy(&w->scratch, &e->state);
        cn_state_copy(&w->call_state, &e->state);
        w->have_call = 1;
        int length = e->options.length_from_call ? w->call_tokens : e->options.length;
        w->call_length = length < 1 ? 1 : length < MAX_ANSWER ? length : MAX_ANSWER;
    }
    w->answer_length = w->call_length;
    w->answer_sampled = 0;
    w->replaying = 0;
    w->answering = 1;
    w->answer_next = start;
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
        start_answer(e, w, next_grid(e, now + prepare_ahead(e)), now, 0);
    } else if (longest != UINT64_MAX && now + prepare_ahead(e) >= longest) {
        w->forced = 1; /* answered while the call goes on: it does not cut this answer */
        start_answer(e, w, next_grid(e, longest), now, 0);
    } else if (w->held == 0 && now + prepare_ahead(e) >= answer_time(e, w)) {
        start_answer(e, w, next_grid(e, answer_time(e, w)), now, 0);
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
    while (w->scheduled_until < horizon) {
        if (e->state.n_steps == 0)
            hear_token(e, e->model->vocab.tokens[e->model->corpus ? e->model->corpus[0] : 0]);
        int id = sample_next(e, e->state.probs);
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
        uint64_t next = w->scheduled_until > beat ? w->scheduled_until - beat + 1 : 0;
        return next < due ? next : due;
    }
    if (w->answering) {
        uint64_t next = w->answer_end;
        if (w->answer_sampled < w->answer_length)
            next = w->answer_next > beat ? w->answer_next - beat + 1 : 0;
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
    if (!(o->sample_rate >= 8000 && o->sample_rate <= 768000) || !(o->bpm >= 10 && o->bpm <= 400) ||
        !(o->wait_beats >= 0 && o->wait_beats <= 64) || o->length < 1 || o->length > MAX_ANSWER ||
        o->channel > 15 || !(o->chord_window_ms >= 0 && o->chord_window_ms <= 500) ||
        !(o->offset_ms >= -500 && o->offset_ms <= 500))
        return cn_fail(err, "engine options out of range (sample rate, bpm 10..400, wait 0..64 "
                            "beats, length 1..%d, channel 1..16, chord window 0..500 ms, offset -500..500 ms)",
                       MAX_ANSWER);
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
        o->state_cc < -1 || o->state_cc > 127)
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
    if (model->vocab.scheme != CN_SCHEME_ORIGINAL) {
        cn_fail(err, "this model's tokens are %s: live play knows only original tokens so far",
                cn_scheme_name(model->vocab.scheme));
        return NULL;
    }
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
    e->work->shown_state = -1;
    if (cn_state_init(&e->state, model, CN_MODE_STATEFUL, 0, err) ||
        cn_state_init(&e->work->scratch, model, CN_MODE_STATEFUL, 0, err) ||
        cn_state_init(&e->work->call_state, model, CN_MODE_STATEFUL, 0, err) ||
        cn_sampler_init(&e->sampler, model->config.n_vocab, &o->sampler, o->seed, err) ||
        cn_ring_init(&e->in, sizeof(CnTimedEvent), IN_RING, err) ||
        cn_ring_init(&e->out, sizeof(CnTimedEvent), OUT_RING, err)) {
        cn_engine_free(e);
        return NULL;
    }
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
        free(e->work);
    }
    cn_state_free(&e->state);
    cn_sampler_free(&e->sampler);
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
    return s;
}

size_t cn_engine_scheduled(const CnEngine *e)
{
    return cn_ring_count(&e->out);
}
