/* Answers and continuous play: tokens sampled a beat ahead of the music, played by the
 * scheme's player on the grid, their key events scheduled into the output ring. The
 * scheme decides what a token sounds; here is only when (worker.h). */
#include "worker.h"

#include <math.h>
#include <string.h>

/* An answer ends when the model has struck nothing for this many beats (two bars). */
#define LONGEST_SILENCE_BEATS 8
/* Tokens a pass of continuous play samples at most (a model that never moves time on must
 * not hold the worker). */
#define MAX_TOKENS_A_PASS 256
/* An answer's first notes are computed this long before it starts, or longer when model
 * steps are slow here (a loaded machine, a sanitizer build): STEPS_AHEAD steps' time as
 * measured, up to MAX_PREPARE_SECONDS. */
#define PREPARE_AHEAD_SECONDS 0.15
#define STEPS_AHEAD 12
#define MAX_PREPARE_SECONDS 2.0
/* The most keys an answer holds at once, unless the call held more: piano music rarely
 * holds more than six (docs/EVAL.md), and a dozen at once is a wash. */
#define MOST_KEYS 6

/* How much earlier than their frames notes go out: a negative --offset. */
static uint64_t earlier(CnEngine *e)
{
    int64_t offset = atomic_load(&e->offset_frames);
    return offset < 0 ? (uint64_t)-offset : 0;
}

/* How far ahead of the music the answer is sampled: a beat, and the output's lead. */
uint64_t cn_answer_sample_ahead(CnEngine *e)
{
    return cn_grid_beat(e) + earlier(e);
}

uint64_t cn_answer_prepare_ahead(CnEngine *e)
{
    double seconds = STEPS_AHEAD * e->work->step_seconds;
    seconds = seconds < PREPARE_AHEAD_SECONDS ? PREPARE_AHEAD_SECONDS
            : seconds > MAX_PREPARE_SECONDS ? MAX_PREPARE_SECONDS : seconds;
    return (uint64_t)(seconds * e->sample_rate) + earlier(e);
}

static double step_frames(CnEngine *e, const Worker *w)
{
    return cn_grid_exact_beat(e) / w->scheme->steps_per_beat;
}

/* ----- A token played --------------------------------------------------------------- */

/* What playing a token would do, tried on a copy of the player. */
typedef struct {
    CnPlayer player;         /* the player after it */
    CnKeyEvent keys[CN_SCHEME_MOST_OUT];
    int n_keys;
    int strikes;             /* it strikes a key */
    int64_t moved;           /* steps it moves time on */
    uint64_t frame;          /* where it strikes */
    uint64_t frame_after;    /* the grid point time moves on to */
} Move;

static void try_token(CnEngine *e, const Worker *w, const CnPlayer *player, int id,
                      uint64_t frame, Move *m)
{
    m->player = *player;
    m->n_keys = w->scheme->play(&m->player, e->model->vocab.tokens[id], m->keys);
    m->strikes = 0;
    for (int i = 0; i < m->n_keys; i++)
        m->strikes |= m->keys[i].down;
    m->moved = m->player.now - player->now;
    m->frame = frame;
    m->frame_after = m->moved > 0 ? cn_grid_nearest(e, frame + (uint64_t)llround(
                                                           (double)m->moved * step_frames(e, w)),
                                                    w->scheme->steps_per_beat)
                                  : frame;
}

static void push_note(CnEngine *e, uint64_t frame, uint8_t status, uint8_t key,
                      uint8_t velocity, uint32_t generation)
{
    CnTimedEvent ev = {frame, {(uint8_t)(status | e->options.channel), key, velocity}, 3,
                       generation};
    cn_ring_push(&e->out, &ev);
}

/* The player's key events into the output ring at their frames: a step up to where the
 * token moved time counts from where it struck, a later one from where time moved to.
 * Returns the last frame pushed. */
static uint64_t push_keys(CnEngine *e, const Worker *w, const CnKeyEvent *keys, int n,
                          int64_t from_step, uint64_t from_frame, int64_t to_step,
                          uint64_t to_frame, uint32_t generation)
{
    double frames = step_frames(e, w);
    uint64_t last = from_frame;
    for (int i = 0; i < n; i++) {
        const CnKeyEvent *k = &keys[i];
        uint64_t at = k->step >= to_step
                          ? to_frame + (uint64_t)llround((double)(k->step - to_step) * frames)
                          : from_frame + (uint64_t)llround((double)(k->step - from_step) * frames);
        if (k->step != to_step && k->step != from_step) /* on the grid, as the others */
            at = cn_grid_nearest(e, at, w->scheme->steps_per_beat);
        push_note(e, at, k->down ? 0x90 : 0x80, k->key, k->down ? k->velocity : 0, generation);
        last = at > last ? at : last;
    }
    return last;
}

/* The move made: the player is the one after it, its keys go out. */
static void make_move(CnEngine *e, Worker *w, CnPlayer *player, const Move *m,
                      uint32_t generation)
{
    push_keys(e, w, m->keys, m->n_keys, player->now, m->frame, m->player.now, m->frame_after,
              generation);
    *player = m->player;
}

int cn_answer_play(CnEngine *e, Worker *w, CnPlayer *player, int id, uint64_t *frame)
{
    Move m;
    try_token(e, w, player, id, *frame, &m);
    make_move(e, w, player, &m, atomic_load(&e->generation));
    *frame = m.frame_after > *frame ? m.frame_after : *frame;
    return m.strikes;
}

uint64_t cn_answer_play_end(CnEngine *e, Worker *w, CnPlayer *player, uint64_t frame,
                            uint64_t end)
{
    int64_t end_step = player->now;
    if (end > frame)
        end_step += llround((double)(end - frame) / step_frames(e, w));
    CnKeyEvent keys[CN_SCHEME_MOST_OUT];
    int n = w->scheme->play_end(player, end_step, keys);
    uint64_t last = push_keys(e, w, keys, n, player->now, frame, end_step, end,
                              atomic_load(&e->generation));
    player->now = end_step > player->now ? end_step : player->now;
    return last > end ? last : end;
}

static int sample_next(CnEngine *e, const float *probs)
{
    e->sampler.options.temperature = (float)atomic_load(&e->temperature_milli) / 1000.0f;
    return cn_sampler_sample_biased(&e->sampler, probs, cn_guide_bias(&e->guide));
}

static int release_id(CnEngine *e, const Worker *w, int key)
{
    CnToken off;
    if (key < 0 || w->scheme->release((uint8_t)key, &off))
        return -1;
    return cn_vocab_index(&e->model->vocab, off);
}

/* A strike the model chose while the player holds as many keys as it may (MOST_KEYS, or
 * the most the call held) becomes the release of the key it has held longest, as the
 * token the model is told next (it then chooses again); other tokens pass unchanged. */
static int within_keys(CnEngine *e, Worker *w, int id)
{
    if (!cn_token_strikes(e->model->vocab.tokens[id]))
        return id;
    int oldest, most = w->keyboard.most_held > MOST_KEYS ? w->keyboard.most_held : MOST_KEYS;
    if (cn_player_holding(&w->answer.player, &oldest) < most)
        return id;
    int off = release_id(e, w, oldest);
    if (off < 0)
        return id;
    e->stats.keys_released_for_room++;
    return off;
}

/* The release of a key the model was told it holds that has sounded its longest (the
 * player has let it go there), as the token the model is told next instead of sampling
 * one; -1 when none. */
static int held_too_long(CnEngine *e, Worker *w)
{
    int key;
    while ((key = cn_timed_holds_due(&w->answer.told)) >= 0) {
        int id = release_id(e, w, key);
        if (id >= 0) {
            cn_sampler_observe(&e->sampler, id);
            e->stats.released_at_longest++;
            return id;
        }
        w->answer.told.down_at[key] = 0;
    }
    return -1;
}

/* ----- Answers -------------------------------------------------------------------------- */

/* Where an answer is complete: the notes asked for are played (the next strike is not),
 * the time asked for is up (the move would strike at or pass it), its tokens fill it, or
 * the model has struck nothing for two bars. */
static int complete(CnEngine *e, const Worker *w, const Move *m)
{
    const Answer *a = &w->answer;
    uint64_t stop = a->pass_start + a->span;
    uint64_t silence = (uint64_t)llround(LONGEST_SILENCE_BEATS * cn_grid_exact_beat(e));
    return (m->strikes && a->notes >= w->dialogue.call_length) ||
           (a->span && (m->strikes ? m->frame >= stop : m->moved && m->frame_after >= stop)) ||
           a->sampled >= MAX_ANSWER_EVENTS || a->next >= a->last_note_on + silence;
}

/* The answer, or a pass of its loop, is complete: what it holds is let go (at the time
 * asked for, when it lasts a time), and it ends there or, looping, starts again a whole
 * number of beats (of bars, for an answer in bars) after the pass began, so that the loop
 * keeps the beat it began on. */
static void complete_pass(CnEngine *e, Worker *w)
{
    Answer *a = &w->answer;
    uint64_t end = a->span ? a->pass_start + a->span : a->next;
    uint64_t last = cn_answer_play_end(e, w, &a->player, a->next, end);
    a->next = end;
    a->length = a->sampled;
    if (!w->dialogue.loop || a->sampled == 0) {
        a->end = last > end ? last : end;
        return;
    }
    double unit = cn_grid_exact_beat(e) *
                  (e->options.length_unit == CN_LENGTH_BARS ? CN_BEATS_PER_BAR : 1);
    double took = (double)(a->next - a->pass_start);
    uint64_t again = a->pass_start + (uint64_t)llround(ceil(took / unit - 1e-6) * unit);
    a->player.now += llround((double)(again - a->next) / step_frames(e, w));
    a->next = a->pass_start = again;
    a->sampled = 0;
    a->replaying = 1;
    a->notes = a->lead_skipped = 0; /* each pass starts where it is placed */
}

/* The answer's tokens due before horizon, one model step each, on the copy of the
 * listening state the answer started from; each plays where the ones before it moved
 * time to. Pacing the steps a beat ahead (rather than the whole answer at once) keeps the
 * worker from hogging a core and the memory bus for the length of an answer, and lets a
 * temperature change reach the answer being played. Time before the first strike, up to
 * a beat, is not waited for: an answer starts on the grid point it was placed on (a model
 * that learned notes released a twelfth early tends to begin with a twelfth's rest, which
 * would put the whole answer off the beat). */
void cn_answer_extend(CnEngine *e, Worker *w, uint64_t horizon)
{
    Answer *a = &w->answer;
    uint32_t generation = atomic_load(&e->generation);
    Move m;
    while (a->end == UINT64_MAX && (a->next < horizon || a->sampled == 0)) {
        int i = a->sampled, id = -1;
        if (a->replaying) {
            if (i < a->length)
                try_token(e, w, &a->player, id = a->ids[i], a->next, &m);
        } else if (i < MAX_ANSWER_EVENTS) {
            if (i > 0)
                cn_worker_step(e, &a->scratch, a->ids[i - 1]);
            id = held_too_long(e, w);
            if (id >= 0) {
                try_token(e, w, &a->player, id, a->next, &m);
            } else {
                id = within_keys(e, w, sample_next(e, a->scratch.probs));
                try_token(e, w, &a->player, id, a->next, &m);
                if (complete(e, w, &m))
                    id = -1;
            }
        }
        if (id < 0) {
            complete_pass(e, w);
            continue;
        }
        a->ids[i] = id;
        a->frames[i] = a->next;
        cn_timed_holds_add(&a->told, e->model->vocab.tokens[id]);
        if (!m.strikes && a->notes == 0 && m.moved > 0 &&
            a->lead_skipped + m.moved <= w->scheme->steps_per_beat) {
            a->lead_skipped += (int)m.moved; /* not waited for: the player stays */
        } else {
            make_move(e, w, &a->player, &m, generation);
            a->next = m.frame_after;
            if (m.strikes) {
                a->notes++;
                a->last_note_on = a->frames[i];
            }
        }
        a->levels[i] = (int8_t)a->player.level;
        a->sampled++;
    }
}

void cn_answer_finish(CnEngine *e, Worker *w, uint64_t played_until)
{
    Answer *a = &w->answer;
    int last = -1;
    for (int i = 0; i < a->sampled && a->frames[i] < played_until; i++) {
        cn_worker_step(e, &e->state, a->ids[i]);
        e->stats.tokens_played++;
        last = i;
    }
    if (last >= 0) /* the model heard the answer last: the ear goes on from there */
        cn_ear_resume(&w->hearing.ear, cn_worker_hearing_step(e, w, a->frames[last]),
                      a->levels[last]);
    a->length = a->sampled = 0;
    a->replaying = 0;
}

/* What is scheduled is dropped; the audio thread releases what sounds. */
void cn_answer_cancel(CnEngine *e, Worker *w)
{
    atomic_fetch_add(&e->generation, 1);
    cn_player_reset(&w->answer.player, w->answer.player.level, w->answer.player.velocity);
}

static uint8_t player_velocity(const Worker *w)
{
    return (uint8_t)fmax(1, fmin(127, w->velocity));
}

/* An answer from the listening state (or, to mutate, from the last call's again). */
void cn_answer_start(CnEngine *e, Worker *w, uint64_t start, uint64_t now, int again)
{
    Answer *a = &w->answer;
    Dialogue *d = &w->dialogue;
    /* the silence before the answer is time the model hears: it starts on the beat it
       starts on, not right after the call's last event */
    cn_worker_hear_silence(e, w, again ? 0 : start);
    if (again) {
        cn_state_copy(&a->scratch, &d->call_state);
    } else {
        cn_state_copy(&a->scratch, &e->state);
        cn_state_copy(&d->call_state, &e->state);
        d->have_call = 1;
        int length = e->options.length_from_call ? d->call_tokens : e->options.length;
        a->span = e->options.length_from_call ? 0 : cn_grid_length_span(e, start);
        if (a->span) /* in time: no count of notes */
            length = MAX_ANSWER;
        d->call_length = length < 1 ? 1 : length < MAX_ANSWER ? length : MAX_ANSWER;
    }
    a->length = MAX_ANSWER_EVENTS;
    a->sampled = a->notes = a->lead_skipped = 0;
    a->replaying = 0;
    a->next = a->pass_start = a->last_note_on = start;
    const CnEar *ear = &w->hearing.ear;
    int level = ear->level >= 0 ? ear->level : cn_velocity_level(player_velocity(w));
    cn_player_reset(&a->player, level, player_velocity(w));
    cn_timed_holds_reset(&a->told);
    a->end = UINT64_MAX;
    e->stats.answers++;
    cn_answer_extend(e, w, now + cn_answer_sample_ahead(e));
}

/* ----- Continuous play ------------------------------------------------------------------ */

void cn_play_on(CnEngine *e, Worker *w, uint64_t now)
{
    Answer *a = &w->answer;
    uint64_t quarter_eighth = cn_grid_beat(e) / 8, horizon = now + cn_answer_sample_ahead(e);
    if (w->scheduled_until < now + quarter_eighth) /* starting, or after a cancel */
        w->scheduled_until = cn_grid_next_eighth_point(e, now + quarter_eighth);
    for (int n = 0; w->scheduled_until < horizon && n < MAX_TOKENS_A_PASS; n++) {
        if (e->state.n_steps == 0)
            cn_worker_hear_token(e, e->model->vocab.tokens[e->model->corpus ? e->model->corpus[0]
                                                                             : 0]);
        a->player.velocity = player_velocity(w);
        if (a->player.level < 0) /* (a timed model's notes play at its levels) */
            a->player.level = cn_velocity_level(a->player.velocity);
        int id = within_keys(e, w, sample_next(e, e->state.probs));
        cn_answer_play(e, w, &a->player, id, &w->scheduled_until);
        cn_worker_step(e, &e->state, id);
        e->stats.tokens_played++;
        cn_ear_resume(&w->hearing.ear, cn_worker_hearing_step(e, w, w->scheduled_until),
                      a->player.level);
    }
}
