/* The original scheme, the Keras project's: a note is its pitch name ("C#4"), a chord its
 * normal-order pitch classes ("0.4.7"), one token an eighth, each sounding a quarter. It
 * has two listeners, side by side here: a file's, which follows music21's MIDI import and
 * knows each note's release (a chord is the notes struck and let go together), and the
 * live ear's, which cannot wait for releases (a chord is the keys struck within the chord
 * window). Its player is the renderer's, a step an eighth. */
#include "continuo/scheme.h"
#include "tokens_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ----- The file's listener: MIDI notes to tokens, as music21's import ------------------ */

typedef struct {
    uint32_t first_onset; /* ticks */
    uint64_t quantized;   /* twelfths of a quarter note */
    uint16_t track;
    uint8_t channel;
    size_t order;         /* creation order, the last tie-break */
    uint8_t keys[16];     /* distinct keys struck together (more are folded by class) */
    int n_keys;
    uint16_t extra_pcs;   /* pitch classes of keys beyond the 16th */
} NoteGroup;

/* music21 quantizes onsets to the nearer of the sixteenth and eighth-triplet grids. */
static uint64_t quantize_twelfths(uint32_t tick, unsigned ppqn)
{
    double quarters = (double)tick / ppqn;
    double sixteenths = (double)(uint64_t)(quarters * 4 + 0.5) / 4;
    double triplets = (double)(uint64_t)(quarters * 3 + 0.5) / 3;
    double best = (quarters - sixteenths) * (quarters - sixteenths) <=
                          (quarters - triplets) * (quarters - triplets)
                      ? sixteenths
                      : triplets;
    return (uint64_t)(best * 12 + 0.5); /* < 2^32 ticks x 12: no overflow */
}

static int compare_groups(const void *a, const void *b)
{
    const NoteGroup *x = a, *y = b;
    if (x->quantized != y->quantized)
        return x->quantized < y->quantized ? -1 : 1;
    if (x->track != y->track)
        return x->track < y->track ? -1 : 1;
    if (x->channel != y->channel)
        return x->channel < y->channel ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static void group_add_key(NoteGroup *g, uint8_t key)
{
    for (int i = 0; i < g->n_keys; i++)
        if (g->keys[i] == key)
            return;
    if (g->n_keys < 16)
        g->keys[g->n_keys++] = key;
    else
        g->extra_pcs |= (uint16_t)(1u << (key % 12));
}

/* Keys below C0 (MIDI 12) are an octave up: see TOKENS.md. */
static uint8_t note_key(const CnNote *n)
{
    return n->pitch < 12 ? (uint8_t)(n->pitch + 12) : n->pitch;
}

static CnToken group_token(const NoteGroup *g)
{
    CnToken t = cn_token_from_keys(g->keys, (size_t)g->n_keys);
    if (!g->extra_pcs)
        return t;
    uint16_t mask = t.is_chord ? t.pc_mask : (uint16_t)(1u << (t.pitch % 12));
    return (CnToken){.is_chord = 1, .pc_mask = (uint16_t)(mask | g->extra_pcs)};
}

/* Groups the kept notes into chords per voice (a channel of a track) as music21's MIDI
 * import does: a note not yet in a chord takes into its chord every later note of its
 * voice struck within a sixty-fourth of it and released within a sixty-fourth of it (a
 * note struck with it but released apart stays a token of its own); the first note struck
 * a sixty-fourth or more later ends the search. A note can so join two chords, as there.
 * Returns the number of groups. */
static size_t group_notes(const CnMidi *midi, const uint8_t *keep, uint8_t *gathered,
                          NoteGroup *groups)
{
    double tolerance = midi->ppqn / 16.0; /* music21: ticksPerQuarter / 16 */
    size_t n_groups = 0;
    for (size_t i = 0; i < midi->n_notes; i++) {
        if (!keep[i] || gathered[i])
            continue;
        const CnNote *n = &midi->notes[i];
        NoteGroup *g = &groups[n_groups];
        *g = (NoteGroup){.first_onset = n->onset,
                         .quantized = quantize_twelfths(n->onset, midi->ppqn),
                         .track = n->track, .channel = n->channel, .order = n_groups};
        n_groups++;
        group_add_key(g, note_key(n));
        double release = (double)n->onset + n->duration;
        for (size_t j = i + 1; j < midi->n_notes; j++) {
            const CnNote *m = &midi->notes[j];
            if ((double)m->onset - n->onset > tolerance) /* notes come in onset order */
                break;
            if (!keep[j] || m->track != n->track || m->channel != n->channel ||
                fabs((double)m->onset + m->duration - release) > tolerance)
                continue;
            group_add_key(g, note_key(m));
            gathered[j] = 1;
        }
    }
    return n_groups;
}

static int fill_stream(const NoteGroup *groups, size_t n_groups, CnTokenStream *out,
                       CnError *err)
{
    out->tokens = malloc((n_groups ? n_groups : 1) * sizeof *out->tokens);
    out->onsets = malloc((n_groups ? n_groups : 1) * sizeof *out->onsets);
    if (!out->tokens || !out->onsets) {
        cn_token_stream_free(out);
        return cn_fail(err, "out of memory");
    }
    for (size_t i = 0; i < n_groups; i++) {
        out->tokens[i] = group_token(&groups[i]);
        out->onsets[i] = groups[i].quantized;
        if (out->tokens[i].is_chord)
            out->n_chords++;
        else
            out->n_notes++;
    }
    out->n_tokens = n_groups;
    return 0;
}

int cn_tokenize(const CnMidi *midi, CnTokenStream *out, CnError *err)
{
    memset(out, 0, sizeof *out);
    CnFirstInstrument first;
    if (cn_first_instrument_init(&first, midi, err))
        return -1;
    size_t n = midi->n_notes ? midi->n_notes : 1;
    NoteGroup *groups = malloc(n * sizeof *groups);
    uint8_t *keep = malloc(n), *gathered = calloc(n, 1);
    int rc = 0;
    if (!groups || !keep || !gathered) {
        rc = cn_fail(err, "out of memory");
    } else {
        for (size_t i = 0; i < midi->n_notes; i++)
            keep[i] = (uint8_t)cn_first_instrument_keeps(&first, &midi->notes[i]);
        size_t n_groups = group_notes(midi, keep, gathered, groups);
        qsort(groups, n_groups, sizeof *groups, compare_groups);
        rc = fill_stream(groups, n_groups, out, err);
        if (rc == 0)
            cn_first_instrument_report(&first, out);
    }
    cn_first_instrument_free(&first);
    free(groups);
    free(keep);
    free(gathered);
    return rc;
}

/* ----- Tokens to notes: the player's key events ---------------------------------------- */

#define NOTE_STEPS 2 /* a quarter note, in eighths */

static int original_play(CnPlayer *p, CnToken t, CnKeyEvent *out);

static int original_render(const CnToken *tokens, size_t n_tokens,
                           const CnRenderOptions *options, CnNote **notes, size_t *n_notes,
                           double *quarters, CnError *err)
{
    *notes = NULL;
    *n_notes = 0;
    double ticks = options->step_quarters * options->ppqn;
    if (options->ppqn == 0 || options->velocity == 0 || options->velocity > 127 ||
        options->channel > 15 || ticks < 1 || fabs(ticks - round(ticks)) > 1e-9 ||
        fabs(options->length_quarters - NOTE_STEPS * options->step_quarters) > 1e-9)
        return cn_fail(err, "render options out of range (ppqn, a step of whole ticks, notes "
                            "two steps long, velocity 1..127, channel 0..15)");
    if ((double)(n_tokens + NOTE_STEPS) * ticks > (double)INT32_MAX / 2)
        return cn_fail(err, "%zu tokens are too long a piece to render", n_tokens);
    size_t n = 0;
    uint8_t keys[CN_TOKEN_MAX_KEYS];
    for (size_t i = 0; i < n_tokens; i++)
        n += (size_t)cn_token_keys(tokens[i], keys);
    CnNoteWriter w;
    if (cn_note_writer_init(&w, n, (unsigned)round(ticks), options->channel, err))
        return -1;
    CnPlayer player;
    cn_player_reset(&player, -1, options->velocity);
    CnKeyEvent played[CN_SCHEME_MOST_OUT];
    for (size_t i = 0; i < n_tokens; i++)
        cn_note_writer_put(&w, played, original_play(&player, tokens[i], played));
    cn_note_writer_put(&w, played, cn_player_end(&player, INT64_MAX, played));
    return cn_note_writer_finish(&w, 0, options->ppqn, notes, n_notes, quarters);
}

/* ----- The live ear: keys struck within the chord window are one token ----------------- */

static int chord_token(CnEar *ear, CnToken *out)
{
    if (ear->n_chord == 0)
        return 0;
    out[0] = cn_token_from_keys(ear->chord_keys, (size_t)ear->n_chord);
    ear->n_chord = 0;
    return 1;
}

/* (frame UINT64_MAX: the chord being gathered is complete now.) */
static int original_hear_until(CnEar *ear, int64_t step, uint64_t frame, CnToken *out)
{
    (void)step;
    if (ear->n_chord > 0 && (frame == UINT64_MAX || frame > ear->chord_start + ear->chord_window))
        return chord_token(ear, out);
    return 0;
}

static int original_hear_silence(CnEar *ear, int64_t step, CnToken *out)
{
    return original_hear_until(ear, step, UINT64_MAX, out);
}

static int original_hear(CnEar *ear, const CnKeyEvent *ev, CnToken *out)
{
    if (!ev->down)
        return 0; /* a release says nothing here */
    int n = original_hear_until(ear, ev->step, ev->frame, out);
    if (ear->n_chord == 0)
        ear->chord_start = ev->frame;
    if (ear->n_chord < 16)
        ear->chord_keys[ear->n_chord++] = ev->key;
    return n;
}

/* ----- The player: a token a step (an eighth), each key sounding two (a quarter) -------- */
/* A key struck while it sounds is struck again and both notes sound their length, as the
 * original rendered them: a file read back gives the same tokens (music21's chords are
 * the notes struck and released together, so a note cut short would split one). */

static int original_play(CnPlayer *p, CnToken t, CnKeyEvent *out)
{
    uint8_t keys[CN_TOKEN_MAX_KEYS];
    int n = cn_player_release_due(p, p->now, out), n_keys = cn_token_keys(t, keys);
    for (int i = 0; i < n_keys; i++) {
        if (p->down_at[keys[i]]) /* struck again while it sounds: both sound their length */
            p->older_up_at[keys[i]] = p->up_at[keys[i]];
        out[n++] = (CnKeyEvent){.step = p->now, .down = 1, .key = keys[i],
                                .velocity = p->velocity};
        p->down_at[keys[i]] = p->now + 1;
        p->up_at[keys[i]] = p->now + NOTE_STEPS;
        p->longest_at[keys[i]] = INT64_MAX;
    }
    p->now++;
    return n;
}

int cn_render_tokens(const CnToken *tokens, size_t n_tokens, const CnRenderOptions *options,
                     CnNote **notes, size_t *n_notes, CnError *err)
{
    return original_render(tokens, n_tokens, options, notes, n_notes, NULL, err);
}

static int original_release(uint8_t key, CnToken *token)
{
    (void)key, (void)token;
    return -1; /* its notes last what they last */
}

const CnSchemeOps cn_scheme_original_ops = {
    .scheme = CN_SCHEME_ORIGINAL,
    .steps_per_beat = 2,
    .tokenize = cn_tokenize,
    .render = original_render,
    .hear = original_hear,
    .hear_until = original_hear_until,
    .hear_silence = original_hear_silence,
    .play = original_play,
    .play_end = cn_player_end,
    .release = original_release,
};
