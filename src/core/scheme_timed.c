/* The timed scheme (docs/TOKENS.md): a key goes down ("on:C4") or up ("off:C4"), time
 * moves on by twelfths of a beat ("shift:3"), the loudness changes ("vel:9"). Its ear and
 * its player work on that grid; a file is tokenized by its key events played through the
 * ear, and tokens are rendered by playing them. */
#include "continuo/scheme.h"
#include "tokens_internal.h"

#include <stdlib.h>
#include <string.h>

/* ----- The ear: key events to tokens --------------------------------------------------- */

static int put(CnToken *out, int n, CnTokenKind kind, int value)
{
    out[n] = (CnToken){.kind = (uint8_t)kind, .pitch = (uint8_t)value};
    return n + 1;
}

/* Shifts that bring the ear's time to step (a longer silence than the longest is heard as
 * the longest), as far as room in out allows. */
static int write_shifts(CnEar *ear, int64_t step, CnToken *out, int n)
{
    int64_t gap = step - ear->now;
    if (ear->longest_silence > 0 && gap > ear->longest_silence) {
        ear->now = step - ear->longest_silence;
        gap = ear->longest_silence;
    }
    while (gap > 0 && n < CN_SCHEME_MOST_OUT) {
        int shift = gap < CN_TIMED_MAX_SHIFT ? (int)gap : CN_TIMED_MAX_SHIFT;
        n = put(out, n, CN_EVENT_SHIFT, shift);
        ear->now += shift;
        gap -= shift;
    }
    return n;
}

/* A token at step: the time up to it first. */
static int put_at(CnEar *ear, int64_t step, CnTokenKind kind, int value, CnToken *out, int n)
{
    n = write_shifts(ear, step, out, n);
    return put(out, n, kind, value);
}

/* A key up: heard when it ends the strike that sounds the key (a key struck again since
 * sounds by the later strike). */
static int hear_up(CnEar *ear, const CnKeyEvent *ev, CnToken *out, int n)
{
    if (!ear->down_at[ev->key] || ear->holder[ev->key] != ev->strike)
        return n;
    ear->down_at[ev->key] = 0;
    return put_at(ear, ev->step, CN_EVENT_OFF, ev->key, out, n);
}

/* A key down: one that sounds is let go first; struck twice at one instant, one note
 * (sounding by the first strike). */
static int hear_down(CnEar *ear, const CnKeyEvent *ev, CnToken *out, int n)
{
    if (ear->down_at[ev->key] == ev->step + 1)
        return n;
    if (ear->down_at[ev->key])
        n = put_at(ear, ev->step, CN_EVENT_OFF, ev->key, out, n);
    int level = cn_velocity_level(ev->velocity);
    if (level != ear->level)
        n = put_at(ear, ev->step, CN_EVENT_VELOCITY, level, out, n);
    ear->level = level;
    ear->down_at[ev->key] = ev->step + 1;
    ear->holder[ev->key] = ev->strike;
    return put_at(ear, ev->step, CN_EVENT_ON, ev->key, out, n);
}

/* The order within a step: releases first, then strikes, each by key, then by channel
 * (what comes within one step comes at once: the order it was played in does not count),
 * then as they came. */
static int compare_pending(const void *a, const void *b)
{
    const CnKeyEvent *x = a, *y = b;
    if (x->step != y->step)
        return x->step < y->step ? -1 : 1;
    if (x->down != y->down)
        return x->down < y->down ? -1 : 1;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    if (x->channel != y->channel)
        return x->channel < y->channel ? -1 : 1;
    return x->frame < y->frame ? -1 : x->frame > y->frame;
}

/* Writes the events kept for steps up to last, in order, each after the time before it
 * (time is written only before a token: an event that says nothing moves nothing). */
static int flush_through(CnEar *ear, int64_t last, CnToken *out, int n)
{
    for (int i = 1; i < ear->n_pending; i++) /* (few: sorted in place, nothing allocated) */
        for (int j = i; j > 0 && compare_pending(&ear->pending[j - 1], &ear->pending[j]) > 0; j--) {
            CnKeyEvent t = ear->pending[j];
            ear->pending[j] = ear->pending[j - 1];
            ear->pending[j - 1] = t;
        }
    int done = 0;
    for (; done < ear->n_pending && ear->pending[done].step <= last; done++) {
        const CnKeyEvent *ev = &ear->pending[done];
        if (!ear->started) { /* a stream starts at its first event */
            ear->now = ev->step;
            ear->started = 1;
        }
        n = ev->down ? hear_down(ear, ev, out, n) : hear_up(ear, ev, out, n);
    }
    memmove(ear->pending, ear->pending + done,
            (size_t)(ear->n_pending - done) * sizeof *ear->pending);
    ear->n_pending -= done;
    return n;
}

static int timed_hear_until(CnEar *ear, int64_t step, uint64_t frame, CnToken *out)
{
    (void)frame;
    return flush_through(ear, step - 1, out, 0);
}

/* The silence up to step is heard (the time before an answer). */
static int timed_hear_silence(CnEar *ear, int64_t step, CnToken *out)
{
    int n = flush_through(ear, step - 1, out, 0);
    return ear->started ? write_shifts(ear, step, out, n) : n;
}

/* Keeps the event for when time has moved past its step. A key let go at the step it went
 * down sounds a step (as a file's note of no length is read). */
static int timed_hear(CnEar *ear, const CnKeyEvent *event, CnToken *out)
{
    CnKeyEvent ev = *event;
    ev.key = cn_timed_key(ev.key);
    if (!ev.down)
        for (int i = 0; i < ear->n_pending; i++) {
            const CnKeyEvent *p = &ear->pending[i];
            if (p->down && p->strike == ev.strike && p->step == ev.step)
                ev.step++;
        }
    int n = 0;
    if (ear->n_pending == CN_EAR_MOST_PENDING) /* a step of very many events: as they are */
        n = flush_through(ear, ev.step, out, 0);
    ear->pending[ear->n_pending++] = ev;
    return n;
}

/* ----- The player: tokens to key events ------------------------------------------------ */

static int timed_play(CnPlayer *p, CnToken t, CnKeyEvent *out)
{
    int n = 0, key = t.pitch & 127;
    uint8_t velocity = p->level >= 0 ? cn_level_velocity(p->level) : p->velocity;
    switch (t.kind) {
    case CN_EVENT_SHIFT:
        n = cn_player_release_due(p, p->now + t.pitch, out);
        p->now += t.pitch;
        return n;
    case CN_EVENT_VELOCITY:
        p->level = t.pitch;
        return 0;
    case CN_EVENT_ON:
        if (p->down_at[key] == p->now + 1) { /* struck twice at one instant: one note */
            p->up_at[key] = INT64_MAX;
            return 0;
        }
        if (p->down_at[key]) /* struck again while it sounds: let go first */
            out[n++] = (CnKeyEvent){.step = p->now, .key = (uint8_t)key};
        out[n++] = (CnKeyEvent){.step = p->now, .down = 1, .key = (uint8_t)key,
                                .velocity = velocity};
        p->down_at[key] = p->now + 1;
        p->up_at[key] = INT64_MAX; /* until the stream ends it, */
        p->longest_at[key] = p->now + CN_TIMED_LONGEST_NOTE; /* or it has sounded its longest */
        return n;
    case CN_EVENT_OFF:
        if (p->down_at[key] == p->now + 1) { /* let go at once: a step long, not none */
            p->up_at[key] = p->now + 1;
            return 0;
        }
        if (p->down_at[key])
            out[n++] = (CnKeyEvent){.step = p->now, .key = (uint8_t)key};
        p->down_at[key] = 0;
        return n;
    default:
        return 0;
    }
}

/* ----- A file's key events through the ear --------------------------------------------- */

static int64_t to_steps(uint64_t tick, unsigned ppqn)
{
    return (int64_t)((tick * CN_TIMED_STEPS_PER_BEAT + ppqn / 2) / ppqn);
}

static int compare_events(const void *a, const void *b)
{
    const CnKeyEvent *x = a, *y = b;
    if (x->step != y->step)
        return x->step < y->step ? -1 : 1;
    if (x->down != y->down)
        return x->down < y->down ? -1 : 1;
    return x->frame < y->frame ? -1 : x->frame > y->frame;
}

/* The first instrument's key events on the grid, in time order (each note its own strike;
 * frame: the note's index, the last tie-break). A note of no length on the grid sounds a
 * step. */
static CnKeyEvent *file_key_events(const CnMidi *midi, CnFirstInstrument *first, size_t *n_out,
                                   int64_t *last)
{
    CnKeyEvent *events = malloc((midi->n_notes ? 2 * midi->n_notes : 1) * sizeof *events);
    size_t n = 0;
    *last = 0;
    for (size_t i = 0; events && i < midi->n_notes; i++) {
        const CnNote *note = &midi->notes[i];
        if (!cn_first_instrument_keeps(first, note))
            continue;
        int64_t on = to_steps(note->onset, midi->ppqn);
        int64_t off = to_steps((uint64_t)note->onset + note->duration, midi->ppqn);
        off = off > on ? off : on + 1;
        CnKeyEvent ev = {.step = on, .frame = i, .strike = (uint32_t)i, .down = 1,
                         .key = note->pitch, .velocity = note->velocity,
                         .channel = note->channel};
        events[n++] = ev;
        ev.step = off, ev.down = 0, ev.velocity = 0;
        events[n++] = ev;
        *last = off > *last ? off : *last;
    }
    if (events)
        qsort(events, n, sizeof *events, compare_events);
    *n_out = n;
    return events;
}

/* Appends tokens to the stream, with their onsets; counts notes and onsets shared. */
typedef struct {
    CnTokenStream *out;
    int64_t now;
    int64_t last_on;
    int ons_at_last;
} StreamWriter;

static void append(StreamWriter *w, const CnToken *tokens, int n)
{
    CnTokenStream *s = w->out;
    for (int i = 0; i < n; i++) {
        CnToken t = tokens[i];
        if (t.kind == CN_EVENT_SHIFT)
            w->now += t.pitch;
        if (t.kind == CN_EVENT_ON) {
            s->n_notes++;
            if (w->ons_at_last > 0 && w->last_on == w->now) {
                s->n_chords += w->ons_at_last == 1;
            } else {
                w->last_on = w->now;
                w->ons_at_last = 0;
            }
            w->ons_at_last++;
        }
        s->tokens[s->n_tokens] = t;
        s->onsets[s->n_tokens++] = (uint64_t)w->now;
    }
}

int cn_tokenize_timed(const CnMidi *midi, CnTokenStream *out, CnError *err)
{
    memset(out, 0, sizeof *out);
    CnFirstInstrument first;
    if (cn_first_instrument_init(&first, midi, err))
        return -1;
    size_t n_events;
    int64_t last;
    CnKeyEvent *events = file_key_events(midi, &first, &n_events, &last);
    int64_t begin = n_events ? events[0].step : 0;
    /* tokens at most: an off, a velocity and an on for each event, the shifts of the gaps */
    size_t capacity = 3 * n_events + (size_t)((last - begin) / CN_TIMED_MAX_SHIFT) + 2;
    CnEar *ear = malloc(sizeof *ear);
    if (events) {
        out->tokens = malloc(capacity * sizeof *out->tokens);
        out->onsets = malloc(capacity * sizeof *out->onsets);
    }
    if (!events || !ear || !out->tokens || !out->onsets) {
        free(events);
        free(ear);
        cn_first_instrument_free(&first);
        cn_token_stream_free(out);
        return cn_fail(err, "out of memory");
    }
    cn_ear_reset(ear, 0, 0);
    StreamWriter w = {.out = out, .now = begin};
    CnToken heard[CN_SCHEME_MOST_OUT];
    for (size_t i = 0; i <= n_events; i++) {
        int64_t step = i < n_events ? events[i].step : last + 1;
        append(&w, heard, timed_hear_until(ear, step, 0, heard));
        if (i < n_events)
            append(&w, heard, timed_hear(ear, &events[i], heard));
    }
    cn_first_instrument_report(&first, out);
    cn_first_instrument_free(&first);
    free(events);
    free(ear);
    return 0;
}

/* ----- Tokens to notes: the player's key events ---------------------------------------- */

int cn_render_events(const CnToken *tokens, size_t n_tokens, const CnRenderOptions *options,
                     CnNote **notes, size_t *n_notes, double *quarters, CnError *err)
{
    *notes = NULL;
    *n_notes = 0;
    if (options->ppqn == 0 || options->ppqn % CN_TIMED_STEPS_PER_BEAT || options->channel > 15)
        return cn_fail(err, "render options out of range (ppqn a multiple of %d, channel "
                            "0..15)", CN_TIMED_STEPS_PER_BEAT);
    size_t n_on = 0;
    uint64_t total = 0;
    for (size_t i = 0; i < n_tokens; i++) {
        n_on += tokens[i].kind == CN_EVENT_ON;
        total += tokens[i].kind == CN_EVENT_SHIFT ? tokens[i].pitch : 0;
    }
    unsigned ticks = options->ppqn / CN_TIMED_STEPS_PER_BEAT;
    if ((double)(total + CN_TIMED_LONGEST_NOTE) * ticks > (double)INT32_MAX / 2)
        return cn_fail(err, "%zu events are too long a piece to render", n_tokens);
    CnNoteWriter w;
    if (cn_note_writer_init(&w, n_on, ticks, options->channel, err))
        return -1;
    CnPlayer player;
    cn_player_reset(&player, -1, options->velocity ? options->velocity : 90);
    CnKeyEvent played[CN_SCHEME_MOST_OUT];
    for (size_t i = 0; i < n_tokens; i++)
        cn_note_writer_put(&w, played, timed_play(&player, tokens[i], played));
    int64_t end = player.now;
    /* what is still down ends a beat after the last event */
    cn_note_writer_put(&w, played, cn_player_end(&player, end + CN_TIMED_STEPS_PER_BEAT,
                                                 played));
    return cn_note_writer_finish(&w, end, options->ppqn, notes, n_notes, quarters);
}

static int timed_release(uint8_t key, CnToken *token)
{
    *token = (CnToken){.kind = CN_EVENT_OFF, .pitch = cn_timed_key(key)};
    return 0;
}

const CnSchemeOps cn_scheme_timed_ops = {
    .scheme = CN_SCHEME_TIMED,
    .steps_per_beat = CN_TIMED_STEPS_PER_BEAT,
    .tokenize = cn_tokenize_timed,
    .render = cn_render_events,
    .hear = timed_hear,
    .hear_until = timed_hear_until,
    .hear_silence = timed_hear_silence,
    .play = timed_play,
    .play_end = cn_player_end,
    .release = timed_release,
};
