/* The play-along engine's worker side: what the player plays heard through the scheme's
 * ear into the model, the call-and-response machine, and the worker's loop; and the
 * engine's creation and teardown. Answers are answer.c, the grid grid.c, the keyboard
 * keyboard.c; the audio-thread side is engine_rt.c. */
#define _GNU_SOURCE /* sem_clockwait */
#include "worker.h"
#include "continuo/tempo.h"

#include <errno.h>
#include <sched.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define IN_RING 4096
#define OUT_RING 8192
/* The player's silences are heard as at most this many beats (two bars of 4/4). */
#define LONGEST_SILENCE_BEATS 8
/* A call's beat found within this of the grid in force, and its tempo drifting less than
 * this from it over KEEP_SPAN_BEATS (a call and its answer), keeps that grid. */
#define KEEP_SECONDS 0.025
#define KEEP_SPAN_BEATS 16
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
        .controls = {CN_CC_TEMPERATURE, CN_CC_MODE, CN_CC_END_CALL, CN_CC_MUTATE, CN_CC_LOOP,
                     CN_CC_WAIT, CN_CC_LENGTH},
        .control_channel = -1, .state_cc = -1};
}

/* ----- Hearing -------------------------------------------------------------------------- */

static double monotonic_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* A model step, timed: the average follows a slower step at once and a faster one slowly,
 * so that the preparation lead covers the worker's bad moments, not its mean. */
void cn_worker_step(CnEngine *e, CnState *state, int id)
{
    double t0 = monotonic_seconds();
    cn_state_step(state, id);
    double took = monotonic_seconds() - t0, *avg = &e->work->step_seconds;
    *avg = took > *avg ? took : 0.98 * *avg + 0.02 * took;
}

void cn_worker_hear_token(CnEngine *e, CnToken token)
{
    int id = cn_vocab_index(&e->model->vocab, token);
    if (id < 0)
        id = cn_vocab_nearest(&e->model->vocab, token);
    cn_worker_step(e, &e->state, id);
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

static int listening(const Dialogue *d)
{
    return d->phase == PHASE_LISTENING || d->phase == PHASE_OVER_LISTENING;
}

static int answering(const Dialogue *d)
{
    return d->phase == PHASE_ANSWERING || d->phase == PHASE_ANSWERING_OVER ||
           d->phase == PHASE_OVER_LISTENING;
}

static void hear_tokens(CnEngine *e, Worker *w, const CnToken *tokens, int n)
{
    for (int i = 0; i < n; i++) {
        cn_worker_hear_token(e, tokens[i]);
        if (listening(&w->dialogue) && cn_token_strikes(tokens[i]))
            w->dialogue.call_tokens++;
    }
}

/* The ear's step at frame, counted from the last frame it was asked for (never back). */
static int64_t step_at(CnEngine *e, const Worker *w, uint64_t frame)
{
    const Hearing *h = &w->hearing;
    int spb = w->scheme->steps_per_beat;
    int64_t step = h->step + cn_grid_steps(e, frame, spb) - cn_grid_steps(e, h->frame, spb);
    return frame > h->frame && step > h->step ? step : h->step;
}

int64_t cn_worker_hearing_step(CnEngine *e, Worker *w, uint64_t frame)
{
    int64_t step = step_at(e, w, frame);
    if (frame > w->hearing.frame) {
        w->hearing.frame = frame;
        w->hearing.step = step;
    }
    return step;
}

/* One of the player's keys down or up at frame, through the scheme's ear (a call going on
 * keeps it, to hear it again on its own beat). */
static void hear_key(CnEngine *e, Worker *w, const CnKeyEvent *key, int keep)
{
    CnKeyEvent ev = *key;
    CnToken heard[CN_SCHEME_MOST_OUT];
    ev.step = cn_worker_hearing_step(e, w, ev.frame);
    hear_tokens(e, w, heard, w->scheme->hear_until(&w->hearing.ear, ev.step, ev.frame, heard));
    hear_tokens(e, w, heard, w->scheme->hear(&w->hearing.ear, &ev, heard));
    if (keep && listening(&w->dialogue))
        cn_call_add(&w->dialogue.call, &ev);
}

/* What the ear holds that time has passed. */
static void hear_due(CnEngine *e, Worker *w, uint64_t now)
{
    CnToken heard[CN_SCHEME_MOST_OUT];
    hear_tokens(e, w, heard, w->scheme->hear_until(&w->hearing.ear, step_at(e, w, now), now,
                                                   heard));
}

void cn_worker_hear_silence(CnEngine *e, Worker *w, uint64_t frame)
{
    CnToken heard[CN_SCHEME_MOST_OUT];
    CnEar *ear = &w->hearing.ear;
    if (frame == 0) {
        hear_tokens(e, w, heard, w->scheme->hear_until(ear, INT64_MAX, UINT64_MAX, heard));
        return;
    }
    int64_t step = cn_worker_hearing_step(e, w, frame);
    hear_tokens(e, w, heard, w->scheme->hear_until(ear, step, UINT64_MAX, heard));
    hear_tokens(e, w, heard, w->scheme->hear_silence(ear, step, heard));
}

static void hear_released(CnEngine *e, Worker *w, int n)
{
    for (int i = 0; i < n; i++)
        hear_key(e, w, &w->released[i], 1);
}

/* ----- The player's events -------------------------------------------------------------- */

static void apply_control(CnEngine *e, Worker *w, int control, uint8_t value)
{
    Dialogue *d = &w->dialogue;
    switch (control) {
    case CN_CONTROL_TEMPERATURE:
        atomic_store(&e->temperature_milli, (uint32_t)(value * 2000 / 127));
        break;
    case CN_CONTROL_MODE:
        atomic_store(&e->mode, value >= 64 ? CN_PLAY_CONTINUOUS : CN_PLAY_RESPOND);
        break;
    case CN_CONTROL_END_CALL: d->end_call |= value >= 64; break;
    case CN_CONTROL_MUTATE: d->mutate |= value >= 64; break;
    case CN_CONTROL_LOOP: d->loop = value >= 64; break;
    case CN_CONTROL_WAIT: e->options.wait_beats = value * 8.0 / 127; break;
    case CN_CONTROL_LENGTH: e->options.length = 1 + value * 63 / 127; break; /* the next's */
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

/* The answer is over (played, cut or dropped): a call begun meanwhile goes on. */
static void end_answer_phase(Dialogue *d)
{
    d->phase = d->phase == PHASE_OVER_LISTENING ? PHASE_LISTENING : PHASE_IDLE;
}

/* A note-on: it cuts an answer it may cut, and may begin a call. */
static void strike(CnEngine *e, Worker *w, uint64_t frame)
{
    Dialogue *d = &w->dialogue;
    int respond = atomic_load(&e->mode) == CN_PLAY_RESPOND;
    if (d->phase == PHASE_ANSWERING && respond) { /* the player takes over at once */
        cn_answer_finish(e, w, frame);
        cn_answer_cancel(e, w);
        end_answer_phase(d);
        e->stats.interruptions++;
    }
    if (d->phase != PHASE_IDLE && d->phase != PHASE_ANSWERING_OVER)
        return;
    d->call_start = frame; /* a call begins: the answer follows this one */
    d->call_tokens = 0;
    if (respond)
        cn_guide_reset(&e->guide);
    cn_call_begin(&d->call, &e->state, &w->hearing.ear, w->hearing.frame, w->hearing.step);
    d->call.before_heard = e->n_heard;
    w->keyboard.most_held = 0;
    d->phase = d->phase == PHASE_IDLE ? PHASE_LISTENING : PHASE_OVER_LISTENING;
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
            /* the player's keys there are up */
            hear_released(e, w, cn_keyboard_channel_up(&w->keyboard, channel, ev->frame,
                                                       w->released));
            cn_engine_rt_panic(e);
        } else if (a == CN_CC_SUSTAIN) {
            cn_keyboard_pedal(&w->keyboard, channel, b >= 64, ev->frame);
        } else if (e->options.control_channel < 0 || channel == e->options.control_channel) {
            handle_control(e, w, a, b);
        }
        return;
    }
    CnKeyEvent key = {.frame = ev->frame, .down = kind == 0x90 && b > 0, .key = a & 127,
                      .velocity = b, .channel = channel};
    if (key.down) {
        strike(e, w, ev->frame);
        key.strike = cn_keyboard_down(&w->keyboard, channel, a, ev->frame);
        w->velocity = 0.7 * w->velocity + 0.3 * b;
    } else {
        key.strike = cn_keyboard_up(&w->keyboard, channel, a, ev->frame);
    }
    hear_key(e, w, &key, 1);
}

/* ----- Call and response ---------------------------------------------------------------- */

static uint64_t beats(CnEngine *e, double n)
{
    return (uint64_t)(n * (double)cn_grid_beat(e));
}

/* When the call may be answered: after the silence, and not before the shortest listen. */
static uint64_t answer_time(CnEngine *e, Worker *w)
{
    uint64_t silence = w->keyboard.last_activity + beats(e, e->options.wait_beats);
    uint64_t earliest = w->dialogue.call_start + beats(e, e->options.min_listen_beats);
    return silence > earliest ? silence : earliest;
}

/* The grid point an answer due at `at` starts on: at's own, or, when the worker comes to
 * it with less than half its preparation time left (held up on a loaded machine), the
 * first one it can still make with that much; so the answer keeps the beat a little later
 * instead of sounding its first notes late, off the grid. */
static uint64_t answer_start(CnEngine *e, uint64_t at, uint64_t now)
{
    uint64_t soonest = now + cn_answer_prepare_ahead(e) / 2;
    return cn_grid_next_eighth_point(e, at > soonest ? at : soonest);
}

/* The call heard again from the state before it, on the grid as it is now. */
static void rehear_call(CnEngine *e, Worker *w)
{
    CnCall *call = &w->dialogue.call;
    uint64_t heard = e->stats.tokens_heard;
    e->n_heard = call->before_heard; /* the log goes back to where the call began */
    cn_state_copy(&e->state, &call->before);
    w->hearing.ear = call->before_ear;
    w->hearing.frame = call->before_frame;
    w->hearing.step = call->before_step;
    cn_guide_reset(&e->guide);
    w->dialogue.call_tokens = 0;
    for (int i = 0; i < call->n_events; i++)
        hear_key(e, w, &call->events[i], 0);
    e->stats.tokens_heard = heard; /* the call counts once */
}

/* With no transport or clock, the call's own beat: found in its notes, it becomes the grid
 * the answer plays on (and the model hears the call again on it, as a file of the call at
 * that tempo would give it). The guess is always --bpm: each call is judged on its own,
 * and a player who holds a tempo keeps one grid (below). */
static void follow_call(CnEngine *e, Worker *w)
{
    if (e->options.fixed_grid || !atomic_load_explicit(&e->tempo_free, memory_order_relaxed))
        return;
    double bpm, now_bpm;
    uint64_t beat_frame, origin;
    cn_engine_rt_tempo(e, &now_bpm, &origin);
    if (cn_call_find_beat(&w->dialogue.call, e->sample_rate, e->options.bpm, &bpm, &beat_frame))
        return;
    e->stats.beats_found++;
    /* a call that fits the grid in force keeps it: a player who holds a tempo is answered
       on one grid, not on each call's slightly different estimate of it */
    double drift = fabs(60.0 / bpm - 60.0 / now_bpm) * KEEP_SPAN_BEATS;
    double eighth = (double)cn_grid_beat(e) / 2;
    double apart = fabs(remainder((double)beat_frame - (double)origin, eighth)) / e->sample_rate;
    if (drift < KEEP_SECONDS && apart < KEEP_SECONDS) {
        e->stats.call_bpm = now_bpm;
        return;
    }
    cn_engine_rt_set_tempo(e, bpm, beat_frame);
    e->stats.call_bpm = bpm;
    rehear_call(e, w);
}

static void respond(CnEngine *e, Worker *w, uint64_t now)
{
    Dialogue *d = &w->dialogue;
    uint64_t ahead = cn_answer_prepare_ahead(e);
    if (d->mutate && d->have_call) { /* the last call again, a new draw */
        if (answering(d)) {
            cn_answer_finish(e, w, now);
            cn_answer_cancel(e, w);
        }
        cn_answer_start(e, w, cn_grid_next_eighth_point(e, now + ahead), now, 1);
        d->phase = PHASE_ANSWERING;
    }
    d->mutate = 0;
    if (answering(d)) {
        cn_answer_extend(e, w, now + cn_answer_sample_ahead(e));
        if (now < w->answer.end)
            return;
        cn_answer_finish(e, w, UINT64_MAX); /* and a call that went on may be due now */
        end_answer_phase(d);
    }
    if (d->phase != PHASE_LISTENING || e->state.n_steps == 0) {
        d->end_call = 0;
        return;
    }
    uint64_t longest = e->options.max_listen_beats > 0
                           ? d->call_start + beats(e, e->options.max_listen_beats) : UINT64_MAX;
    int end_call = d->end_call; /* the player says the call is over */
    int at_longest = longest != UINT64_MAX && now + ahead >= longest;
    d->end_call = 0;
    if (!end_call && !at_longest && !(w->keyboard.held == 0 && now + ahead >= answer_time(e, w)))
        return;
    follow_call(e, w); /* (the answer's start is on the grid the call's beat gives) */
    uint64_t start = end_call     ? cn_grid_next_eighth_point(e, now + ahead)
                   : at_longest   ? answer_start(e, longest, now)
                                  : answer_start(e, answer_time(e, w), now);
    cn_answer_start(e, w, start, now, 0);
    /* answered while the call goes on: it does not cut this answer */
    d->phase = !end_call && at_longest ? PHASE_ANSWERING_OVER : PHASE_ANSWERING;
}

/* The state CC, when asked for: 0 idle, 64 listening to a call, 127 answering or playing
 * on, sent when it changes (for a controller's lights). */
static void show_state(CnEngine *e, Worker *w, uint64_t now)
{
    Dialogue *d = &w->dialogue;
    if (e->options.state_cc < 0)
        return;
    int state = answering(d) || w->mode == CN_PLAY_CONTINUOUS ? 127 : listening(d) ? 64 : 0;
    if (state == d->shown_state)
        return;
    d->shown_state = state;
    CnTimedEvent ev = {now, {(uint8_t)(0xb0 | e->options.channel), (uint8_t)e->options.state_cc,
                             (uint8_t)state}, 3, atomic_load(&e->generation)};
    cn_ring_push(&e->out, &ev);
}

static uint64_t earliest(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* The frame by which the worker has something to do if the player does nothing: what the
 * ear holds falling due, the moment to prepare an answer, the next token a beat ahead,
 * the end of an answer. UINT64_MAX: nothing until the player plays. */
static uint64_t next_due(CnEngine *e, Worker *w)
{
    uint64_t due = UINT64_MAX, beat = cn_answer_sample_ahead(e), ahead = cn_answer_prepare_ahead(e);
    const Dialogue *d = &w->dialogue;
    const Answer *a = &w->answer;
    int64_t step;
    uint64_t frame;
    if (cn_ear_waiting(&w->hearing.ear, &step, &frame)) {
        due = frame == UINT64_MAX ? due : frame + 1;
        if (step != INT64_MAX) {
            double t = cn_grid_exact_beat(e) / w->scheme->steps_per_beat;
            int64_t steps = step + 1 - w->hearing.step;
            due = earliest(due, w->hearing.frame + (uint64_t)(steps > 0 ? (double)steps * t : 0));
        }
    }
    if (w->mode == CN_PLAY_CONTINUOUS)
        return earliest(due, w->scheduled_until >= beat ? w->scheduled_until - beat + 1 : 0);
    if (answering(d)) {
        uint64_t next = a->end;
        if (a->end == UINT64_MAX || a->sampled < a->length)
            next = a->next >= beat ? a->next - beat + 1 : 0;
        return earliest(due, next);
    }
    if (d->phase != PHASE_LISTENING)
        return due;
    if (e->options.max_listen_beats > 0) {
        uint64_t longest = d->call_start + beats(e, e->options.max_listen_beats);
        due = earliest(due, longest > ahead ? longest - ahead : 0);
    }
    if (w->keyboard.held == 0) {
        uint64_t end = answer_time(e, w);
        return earliest(due, end > ahead ? end - ahead : 0);
    }
    return earliest(due, w->keyboard.hold_expiry); /* a lost note-off */
}

uint64_t cn_engine_work(CnEngine *e)
{
    Worker *w = e->work;
    CnTimedEvent ev;
    while (cn_ring_pop(&e->in, &ev) == 0)
        handle_event(e, w, &ev);
    uint64_t now = atomic_load_explicit(&e->now_frame, memory_order_acquire);
    uint64_t longest = (uint64_t)(LONGEST_HOLD_SECONDS * e->sample_rate);
    hear_released(e, w, cn_keyboard_expire(&w->keyboard, now, longest, w->released));
    uint32_t panic = atomic_load(&e->panic);
    int mode = atomic_load(&e->mode);
    if (panic != w->seen_panic || mode != w->mode) { /* drop everything scheduled */
        w->seen_panic = panic;
        if (answering(&w->dialogue))
            cn_answer_finish(e, w, now);
        cn_answer_cancel(e, w);
        w->scheduled_until = 0;
        w->dialogue.phase = PHASE_IDLE;
        w->mode = mode;
    }
    hear_due(e, w, now);
    if (mode == CN_PLAY_RESPOND)
        respond(e, w, now);
    else
        cn_play_on(e, w, now);
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

static uint64_t chord_window(const CnEngineOptions *o)
{
    return (uint64_t)(o->chord_window_ms * o->sample_rate / 1000);
}

int cn_engine_configure(CnEngine *e, const CnEngineOptions *o, CnError *err)
{
    CnEngineOptions next = *o;
    next.sample_rate = e->sample_rate; /* fixed for the engine's life */
    next.bpm = e->options.bpm;
    if (cn_engine_check_options(&next, err))
        return -1;
    Worker *w = e->work;
    if (next.channel != e->options.channel) { /* release what sounds on the old channel */
        if (answering(&w->dialogue)) {
            cn_answer_finish(e, w, atomic_load(&e->now_frame));
            end_answer_phase(&w->dialogue);
        }
        cn_answer_cancel(e, w);
        w->scheduled_until = 0;
    }
    w->hearing.ear.chord_window = chord_window(&next);
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

/* The worker's parts, each made and let go on its own. */
static void hearing_reset(Hearing *h, const CnSchemeOps *scheme, const CnEngineOptions *o)
{
    *h = (Hearing){0};
    cn_ear_reset(&h->ear, chord_window(o), (int64_t)LONGEST_SILENCE_BEATS * scheme->steps_per_beat);
}

static int dialogue_init(Dialogue *d, const CnModel *model, CnError *err)
{
    *d = (Dialogue){.phase = PHASE_IDLE, .shown_state = -1};
    return cn_state_init(&d->call_state, model, CN_MODE_STATEFUL, 0, err) ||
                   cn_call_init(&d->call, model, err)
               ? -1
               : 0;
}

static void dialogue_free(Dialogue *d)
{
    cn_state_free(&d->call_state);
    cn_call_free(&d->call);
}

static int answer_init(Answer *a, const CnModel *model, CnError *err)
{
    memset(a, 0, sizeof *a);
    cn_player_reset(&a->player, -1, 80);
    cn_timed_holds_reset(&a->told);
    return cn_state_init(&a->scratch, model, CN_MODE_STATEFUL, 0, err);
}

static void answer_free(Answer *a)
{
    cn_state_free(&a->scratch);
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
    Worker *w = e->work;
    w->scheme = cn_scheme_ops(model->vocab.scheme);
    w->velocity = 80;
    w->mode = o->mode;
    cn_keyboard_reset(&w->keyboard);
    hearing_reset(&w->hearing, w->scheme, o);
    if (cn_state_init(&e->state, model, CN_MODE_STATEFUL, 0, err) ||
        dialogue_init(&w->dialogue, model, err) || answer_init(&w->answer, model, err) ||
        cn_sampler_init(&e->sampler, model->config.n_vocab, &o->sampler, o->seed, err) ||
        cn_guide_init(&e->guide, &model->vocab, &o->sampler, err) ||
        cn_ring_init(&e->in, sizeof(CnTimedEvent), IN_RING, err) ||
        cn_ring_init(&e->out, sizeof(CnTimedEvent), OUT_RING, err)) {
        cn_engine_free(e);
        return NULL;
    }
    if (model->corpus) /* (the rhythm a timed model learned; an original has none) */
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
        answer_free(&e->work->answer);
        dialogue_free(&e->work->dialogue);
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
