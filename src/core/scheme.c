/* The schemes' table, and what their ears and players share: resetting them, the keys a
 * player holds and when they go up, notes from its key events (scheme.h). */
#include "tokens_internal.h"

#include <stdlib.h>
#include <string.h>

extern const CnSchemeOps cn_scheme_original_ops, cn_scheme_timed_ops;

const CnSchemeOps *cn_scheme_ops(CnScheme scheme)
{
    return scheme == CN_SCHEME_TIMED ? &cn_scheme_timed_ops : &cn_scheme_original_ops;
}

int cn_tokenize_scheme(const CnMidi *midi, CnScheme scheme, CnTokenStream *out, CnError *err)
{
    return cn_scheme_ops(scheme)->tokenize(midi, out, err);
}

int cn_render_scheme(const CnToken *tokens, size_t n_tokens, CnScheme scheme,
                     const CnRenderOptions *options, CnNote **notes, size_t *n_notes,
                     double *quarters, CnError *err)
{
    return cn_scheme_ops(scheme)->render(tokens, n_tokens, options, notes, n_notes, quarters,
                                         err);
}

/* ----- Ears ---------------------------------------------------------------------------- */

void cn_ear_reset(CnEar *ear, uint64_t chord_window, int64_t longest_silence)
{
    memset(ear, 0, sizeof *ear);
    ear->level = -1;
    ear->chord_window = chord_window;
    ear->longest_silence = longest_silence;
}

void cn_ear_resume(CnEar *ear, int64_t step, int level)
{
    ear->now = step;
    ear->started = 1;
    ear->level = level;
}

int cn_ear_waiting(const CnEar *ear, int64_t *step, uint64_t *frame)
{
    *step = INT64_MAX;
    *frame = UINT64_MAX;
    for (int i = 0; i < ear->n_pending; i++)
        *step = ear->pending[i].step < *step ? ear->pending[i].step : *step;
    if (ear->n_chord > 0)
        *frame = ear->chord_start + ear->chord_window;
    return ear->n_pending > 0 || ear->n_chord > 0;
}

/* ----- Players ------------------------------------------------------------------------- */

void cn_player_reset(CnPlayer *player, int level, uint8_t velocity)
{
    memset(player, 0, sizeof *player);
    player->level = level;
    player->velocity = velocity;
}

static int64_t up_step(const CnPlayer *p, int key)
{
    return p->up_at[key] < p->longest_at[key] ? p->up_at[key] : p->longest_at[key];
}

int cn_player_due(const CnPlayer *p, int64_t step)
{
    int first = -1;
    for (int key = 0; key < 128; key++)
        if (p->down_at[key] && up_step(p, key) <= step &&
            (first < 0 || up_step(p, key) < up_step(p, first)))
            first = key;
    return first;
}

int cn_player_holding(const CnPlayer *p, int *oldest)
{
    int n = 0;
    *oldest = -1;
    for (int key = 0; key < 128; key++)
        if (p->down_at[key] && p->up_at[key] == INT64_MAX) {
            n++;
            if (*oldest < 0 || p->down_at[key] < p->down_at[*oldest])
                *oldest = key;
        }
    return n;
}

int cn_player_release_due(CnPlayer *p, int64_t step, CnKeyEvent *out)
{
    int n = 0, key;
    while ((key = cn_player_due(p, step)) >= 0) {
        out[n++] = (CnKeyEvent){.step = up_step(p, key), .key = (uint8_t)key};
        p->down_at[key] = 0;
    }
    return n;
}

int cn_player_end(CnPlayer *p, int64_t step, CnKeyEvent *out)
{
    for (int key = 0; key < 128; key++)
        if (p->down_at[key] && p->up_at[key] == INT64_MAX) {
            int64_t at = p->down_at[key] - 1 >= step ? p->down_at[key] : step;
            p->up_at[key] = at; /* (its longest still applies, if sooner) */
        }
    return cn_player_release_due(p, INT64_MAX, out);
}

/* ----- Notes from key events ----------------------------------------------------------- */

int cn_note_writer_init(CnNoteWriter *w, size_t capacity, unsigned ticks, uint8_t channel,
                        CnError *err)
{
    *w = (CnNoteWriter){.capacity = capacity, .ticks = ticks, .channel = channel};
    w->notes = malloc((capacity ? capacity : 1) * sizeof *w->notes);
    if (!w->notes)
        return cn_fail(err, "out of memory");
    for (int k = 0; k < 128; k++)
        w->open[k] = -1;
    return 0;
}

void cn_note_writer_put(CnNoteWriter *w, const CnKeyEvent *events, int n)
{
    for (int i = 0; i < n; i++) {
        const CnKeyEvent *ev = &events[i];
        uint32_t tick = (uint32_t)(ev->step * w->ticks);
        if (ev->down && w->n < w->capacity) {
            w->open[ev->key] = (int64_t)w->n;
            w->notes[w->n++] = (CnNote){.onset = tick, .pitch = ev->key,
                                        .velocity = ev->velocity, .channel = w->channel};
        } else if (!ev->down && w->open[ev->key] >= 0) {
            CnNote *note = &w->notes[w->open[ev->key]];
            note->duration = tick - note->onset;
            w->open[ev->key] = -1;
        }
    }
}

int cn_note_writer_finish(CnNoteWriter *w, int64_t end_step, unsigned ppqn, CnNote **notes,
                          size_t *n_notes, double *quarters)
{
    *notes = w->notes;
    *n_notes = w->n;
    if (quarters) {
        uint64_t end = (uint64_t)end_step * w->ticks;
        for (size_t i = 0; i < w->n; i++)
            if ((uint64_t)w->notes[i].onset + w->notes[i].duration > end)
                end = (uint64_t)w->notes[i].onset + w->notes[i].duration;
        *quarters = (double)end / ppqn;
    }
    return 0;
}
