/* The original scheme, the Keras project's: a note is its pitch name ("C#4"), a chord its
 * normal-order pitch classes ("0.4.7"), one token an eighth, each sounding a quarter. It
 * has two listeners, side by side here: a file's, which follows music21's MIDI import and
 * knows each note's release (a chord is the notes struck and let go together), and the
 * live ear's, which cannot wait for releases (a chord is the keys struck within the chord
 * window). Its player is the renderer's, a step an eighth. */
#include "continuo/scheme.h"
#include "tokens_internal.h"

#include <math.h>
#include <stdio.h>
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
    int n_notes;          /* notes gathered, a key twice counted twice */
    int64_t length;       /* music21's: the first note's end less the last note's onset */
    uint16_t extra_pcs;   /* pitch classes of keys beyond the 16th */
} NoteGroup;

/* The multiple of unit nearest n, a tie going down, and how far off it is, to seven
 * decimals (music21's common.nearestMultiple). */
static double nearest_multiple(double n, double unit, double *error)
{
    double low = unit * floor(n / unit), high = low + unit;
    double match = n <= low + unit / 2 ? low : high;
    *error = round(fabs(n - match) * 1e7) / 1e7;
    return match;
}

/* music21 quantizes onsets to the nearer of the sixteenth and eighth-triplet grids; of
 * two as near, to the earlier (its bestMatch sorts by error, then by the match). */
static uint64_t quantize_twelfths(uint32_t tick, unsigned ppqn)
{
    double quarters = (double)tick / ppqn, off_sixteenths, off_triplets;
    double sixteenths = nearest_multiple(quarters, 1.0 / 4, &off_sixteenths);
    double triplets = nearest_multiple(quarters, 1.0 / 3, &off_triplets);
    double best = off_sixteenths < off_triplets ||
                          (off_sixteenths == off_triplets && sixteenths <= triplets)
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
    return x->order < y->order ? -1 : x->order > y->order;
}

static void group_add_key(NoteGroup *g, uint8_t key)
{
    g->n_notes++;
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

/* One note is a note; more are a chord (music21's Chord), even of one key struck twice. */
static CnToken group_token(const NoteGroup *g)
{
    CnToken t = cn_token_from_keys(g->keys, (size_t)g->n_keys);
    if (g->n_notes > 1 && !t.is_chord)
        t = (CnToken){.is_chord = 1, .pc_mask = (uint16_t)(1u << (t.pitch % 12))};
    if (!g->extra_pcs)
        return t;
    uint16_t mask = t.is_chord ? t.pc_mask : (uint16_t)(1u << (t.pitch % 12));
    return (CnToken){.is_chord = 1, .pc_mask = (uint16_t)(mask | g->extra_pcs)};
}

/* Groups the kept notes into chords per track as music21's MIDI import does (whatever
 * their channels): a note not yet in a chord takes into its chord every later note of its
 * track struck within a sixty-fourth of it and released within a sixty-fourth of it (a
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
        g->length = n->m21_duration;
        double release = (double)n->onset + n->m21_duration;
        for (size_t j = i + 1; j < midi->n_notes; j++) {
            const CnNote *m = &midi->notes[j];
            if ((double)m->onset - n->onset > tolerance) /* notes come in onset order */
                break;
            if (!keep[j] || m->track != n->track ||
                fabs((double)m->onset + m->m21_duration - release) > tolerance)
                continue;
            group_add_key(g, note_key(m));
            g->length = (int64_t)n->onset + n->m21_duration - m->onset;
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

/* ----- Which notes: music21's part of the first instrument -------------------------- */

/* The General MIDI programs music21 has an instrument of its own for
 * (instrumentFromMidiProgram); every other program is the one nameless instrument. */
static const uint64_t named_programs[2] = {0x3711cf0b0579fbc1ull, 0x1ebf000000efffull};

/* music21's instrument of a program: the program, or 128 for the nameless one. */
static int instrument_of(uint8_t program)
{
    program &= 127;
    return named_programs[program >> 6] >> (program & 63) & 1 ? program : 128;
}

typedef struct {
    uint16_t track;
    uint64_t offset;      /* quantized, as music21 quantizes its Instrument objects */
    size_t order;
    int instrument;
} Span;

static int compare_spans(const void *a, const void *b)
{
    const Span *x = a, *y = b;
    if (x->track != y->track)
        return x->track < y->track ? -1 : 1;
    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* The instrument whose span holds a note: its track's last program change at or before
 * the note's quantized offset; -1 when it has none. */
static int instrument_at(const Span *spans, size_t n, uint16_t track, uint64_t offset)
{
    size_t lo = 0, hi = n; /* the first span after (track, offset) */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (spans[mid].track < track || (spans[mid].track == track && spans[mid].offset <= offset))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo > 0 && spans[lo - 1].track == track ? spans[lo - 1].instrument : -1;
}

/* The notes lstm.py took, as music21 gives them (docs/TOKENS.md): each track's program
 * changes are its instruments, each from its (quantized) offset to the next; notes join
 * the part of their instrument, parts of the same instrument merge, and the first part is
 * that of the first instrument of the first track that has one. Notes of no instrument
 * (before a track's first program change, or in a track with none) are in no part, and a
 * note music21 does not read as one (CnNote.m21_note) is none. A file with no program change in any track with
 * notes has no parts: then every note is taken. Sets keep[] and counts what is left out. */
static int music21_part(const CnMidi *midi, uint8_t *keep, size_t *n_other, int *first,
                        CnError *err)
{
    uint8_t *has_notes = calloc((size_t)midi->n_tracks + 1, 1);
    Span *spans = malloc((midi->n_program_changes ? midi->n_program_changes : 1) * sizeof *spans);
    if (!has_notes || !spans) {
        free(has_notes);
        free(spans);
        return cn_fail(err, "out of memory");
    }
    for (size_t i = 0; i < midi->n_notes; i++)
        if (midi->notes[i].track <= midi->n_tracks)
            has_notes[midi->notes[i].track] = 1;
    size_t n = 0;
    for (size_t i = 0; i < midi->n_program_changes; i++) {
        const CnProgramChange *pc = &midi->program_changes[i];
        if (pc->track <= midi->n_tracks && has_notes[pc->track]) /* (a conductor track's are not) */
            spans[n++] = (Span){pc->track, quantize_twelfths(pc->tick, midi->ppqn), i,
                                instrument_of(pc->program)};
    }
    qsort(spans, n, sizeof *spans, compare_spans);
    *first = n ? spans[0].instrument : -1;
    *n_other = 0;
    for (size_t i = 0; i < midi->n_notes; i++) {
        const CnNote *note = &midi->notes[i];
        int in = n ? instrument_at(spans, n, note->track,
                                   quantize_twelfths(note->onset, midi->ppqn))
                   : *first;
        keep[i] = note->m21_note && in == *first;
        *n_other += note->m21_note && in != *first;
    }
    free(has_notes);
    free(spans);
    return 0;
}

static void say_left_out(CnTokenStream *out, size_t n_other, int first)
{
    out->n_dropped = n_other;
    if (n_other && first < 128)
        snprintf(out->warning, sizeof out->warning,
                 "left out %zu notes of instruments other than the first (General MIDI "
                 "program %d), or of none", n_other, first + 1);
    else if (n_other)
        snprintf(out->warning, sizeof out->warning,
                 "left out %zu notes of instruments other than the first, or of none", n_other);
}

static uint64_t later(uint64_t a, uint64_t b)
{
    return a > b ? a : b;
}

/* A track's part ends at its highest time: the latest end of a note or chord of all its
 * notes (all: the groups of every note music21 reads, whatever its instrument), in
 * music21's quantized lengths (a chord lasts from its last note's onset to its first
 * note's end; no ticks is a quarter), or the latest of its tempo, time
 * and key signatures and program changes, or of the tracks without notes (their time and
 * key signatures go into every part, their tempi into the first). The last instrument's
 * span ends there too, without it: a note that starts there (its length quantized to none)
 * is in no part. Drops such groups; returns how many are left, or (size_t)-1. */
static size_t drop_at_the_end(const CnMidi *midi, const NoteGroup *all, size_t n_all,
                              NoteGroup *groups, size_t n_groups, CnError *err)
{
    size_t n_tracks = (size_t)midi->n_tracks + 1;
    uint64_t *highest = calloc(n_tracks, sizeof *highest);
    uint8_t *has_notes = calloc(n_tracks, 1);
    if (!highest || !has_notes) {
        free(highest);
        free(has_notes);
        cn_fail(err, "out of memory");
        return (size_t)-1;
    }
    unsigned ppqn = midi->ppqn;
    for (size_t i = 0; i < midi->n_notes; i++)
        if (midi->notes[i].track < n_tracks)
            has_notes[midi->notes[i].track] = 1;
    for (size_t i = 0; i < n_all; i++) {
        const NoteGroup *g = &all[i];
        uint64_t length = g->length > 0 ? quantize_twelfths((uint32_t)g->length, ppqn)
                        : g->length == 0 ? 12 : 0;
        if (g->track < n_tracks)
            highest[g->track] = later(highest[g->track], g->quantized + length);
    }
    for (size_t i = 0; i < midi->n_program_changes; i++) {
        const CnProgramChange *pc = &midi->program_changes[i];
        if (pc->track < n_tracks)
            highest[pc->track] = later(highest[pc->track], quantize_twelfths(pc->tick, ppqn));
    }
    uint64_t signature = 0, tempo = 0; /* of the tracks without notes */
    for (size_t t = 0; midi->track_marks && t < midi->n_tracks; t++) {
        const CnTrackMarks *m = &midi->track_marks[t];
        uint64_t sig = m->has_signature ? quantize_twelfths(m->last_signature, ppqn) : 0;
        uint64_t tem = m->has_tempo ? quantize_twelfths(m->last_tempo, ppqn) : 0;
        if (has_notes[t]) {
            highest[t] = later(highest[t], later(sig, tem));
        } else {
            signature = later(signature, sig);
            tempo = later(tempo, tem);
        }
    }
    int first_part = 1;
    for (size_t t = 0; t < midi->n_tracks; t++)
        if (has_notes[t]) {
            highest[t] = later(highest[t], later(signature, first_part ? tempo : 0));
            first_part = 0;
        }
    size_t kept = 0;
    for (size_t i = 0; i < n_groups; i++)
        if (groups[i].track >= n_tracks || groups[i].quantized < highest[groups[i].track])
            groups[kept++] = groups[i];
    free(highest);
    free(has_notes);
    return kept;
}

int cn_tokenize(const CnMidi *midi, CnTokenStream *out, CnError *err)
{
    memset(out, 0, sizeof *out);
    size_t n = midi->n_notes ? midi->n_notes : 1, n_other = 0;
    NoteGroup *groups = malloc(n * sizeof *groups);
    uint8_t *keep = malloc(n), *gathered = calloc(n, 1);
    int rc = 0, first = -1;
    if (!groups || !keep || !gathered) {
        rc = cn_fail(err, "out of memory");
    } else if ((rc = music21_part(midi, keep, &n_other, &first, err)) == 0) {
        size_t n_groups = group_notes(midi, keep, gathered, groups), n_all = 0;
        NoteGroup *all = malloc(n * sizeof *all);
        for (size_t i = 0; all && i < midi->n_notes; i++) /* every note music21 reads */
            keep[i] = midi->notes[i].m21_note, gathered[i] = 0;
        if (all)
            n_all = group_notes(midi, keep, gathered, all);
        n_groups = all ? drop_at_the_end(midi, all, n_all, groups, n_groups, err)
                       : (cn_fail(err, "out of memory"), (size_t)-1);
        free(all);
        if (n_groups == (size_t)-1)
            rc = -1;
        else
            qsort(groups, n_groups, sizeof *groups, compare_groups);
        rc = rc ? rc : fill_stream(groups, n_groups, out, err);
        if (rc == 0)
            say_left_out(out, n_other, first);
    }
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
/* A key struck again while it sounds is let go first, and with it the keys struck with it:
 * read back as music21 reads a file (a note ends at the next event of its key: a second
 * note-on would end the first and be lost), it gives the same tokens, and a chord is still
 * the notes struck and let go together. */

static int original_play(CnPlayer *p, CnToken t, CnKeyEvent *out)
{
    uint8_t keys[CN_TOKEN_MAX_KEYS];
    int n = cn_player_release_due(p, p->now, out), n_keys = cn_token_keys(t, keys);
    for (int i = 0; i < n_keys; i++) {
        int64_t struck = p->down_at[keys[i]];
        for (int key = 0; struck && key < 128; key++)
            if (p->down_at[key] == struck) {
                out[n++] = (CnKeyEvent){.step = p->now, .key = (uint8_t)key};
                p->down_at[key] = 0;
            }
    }
    for (int i = 0; i < n_keys; i++) {
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
