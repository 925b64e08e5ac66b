/* Tokens: names, normal order, MIDI notes to tokens (as the original's music21 import)
 * and back, and the vocabulary. Pure computation; any thread, not real-time safe. */
#include "continuo/tokens.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const pitch_names[12] = {"C", "C#", "D", "E-", "E", "F",
                                            "F#", "G", "G#", "A", "B-", "B"};

int cn_token_equal(CnToken a, CnToken b)
{
    if (a.is_chord != b.is_chord)
        return 0;
    return a.is_chord ? a.pc_mask == b.pc_mask : a.pitch == b.pitch;
}

/* ----- Normal order -------------------------------------------------------------------- */

/* Forte's normal order: the rotation of the sorted pitch classes with the smallest span;
 * ties go to the smallest interval from the first to the second-to-last element, then to
 * the third-to-last, and so on; a symmetric set starts on its lowest pitch class. */
int cn_normal_order(uint16_t pc_mask, int order[12])
{
    int pcs[12], n = 0;
    for (int pc = 0; pc < 12; pc++)
        if (pc_mask >> pc & 1)
            pcs[n++] = pc;
    if (n == 0)
        return 0;
    int best = 0;
    for (int r = 1; r < n; r++) {
        for (int k = n - 1; k >= 1; k--) {
            int span_r = (pcs[(r + k) % n] - pcs[r] + 12) % 12;
            int span_b = (pcs[(best + k) % n] - pcs[best] + 12) % 12;
            if (span_r != span_b) {
                if (span_r < span_b)
                    best = r;
                break;
            }
        }
    }
    for (int i = 0; i < n; i++)
        order[i] = pcs[(best + i) % n];
    return n;
}

/* ----- Names --------------------------------------------------------------------------- */

int cn_token_name(CnToken token, char name[CN_TOKEN_NAME_MAX])
{
    if (!token.is_chord)
        return snprintf(name, CN_TOKEN_NAME_MAX, "%s%d", pitch_names[token.pitch % 12],
                        token.pitch / 12 - 1);
    int order[12], n = cn_normal_order(token.pc_mask, order), len = 0;
    name[0] = '\0';
    for (int i = 0; i < n; i++)
        len += snprintf(name + len, (size_t)(CN_TOKEN_NAME_MAX - len), i ? ".%d" : "%d",
                        order[i]);
    return len;
}

/* The name as it can be read in a message: control characters (a CR from a file written
 * on Windows, say) and other bytes outside printable ASCII as escapes. */
static const char *visible(const char *name, char out[96])
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)name; *p && n < 80; p++) {
        if (*p == '\r')
            n += (size_t)snprintf(out + n, 96 - n, "\\r");
        else if (*p == '\t')
            n += (size_t)snprintf(out + n, 96 - n, "\\t");
        else if (*p < 0x20 || *p >= 0x7f)
            n += (size_t)snprintf(out + n, 96 - n, "\\x%02x", *p);
        else
            out[n++] = (char)*p;
    }
    out[n < 96 ? n : 95] = '\0';
    return out;
}

static int parse_chord(const char *name, CnToken *token, CnError *err)
{
    char shown[96];
    uint16_t mask = 0;
    const char *p = name;
    for (;;) {
        if (*p < '0' || *p > '9')
            return cn_fail(err, "'%s' is not a token: a chord is pitch classes joined by dots",
                           visible(name, shown));
        int pc = 0;
        while (*p >= '0' && *p <= '9' && pc < 100)
            pc = pc * 10 + (*p++ - '0');
        if (pc > 11)
            return cn_fail(err, "'%s' is not a token: pitch class %d is above 11",
                           visible(name, shown), pc);
        mask |= (uint16_t)(1u << pc);
        if (*p == '\0')
            break;
        if (*p++ != '.')
            return cn_fail(err, "'%s' is not a token: unexpected character in a chord",
                           visible(name, shown));
    }
    *token = (CnToken){.is_chord = 1, .pc_mask = mask};
    return 0;
}

int cn_token_parse(const char *name, CnToken *token, CnError *err)
{
    static const int letter_pc[7] = {9, 11, 0, 2, 4, 5, 7}; /* A..G */
    char shown[96];
    if (name[0] >= '0' && name[0] <= '9')
        return parse_chord(name, token, err);
    if (name[0] < 'A' || name[0] > 'G')
        return cn_fail(err, "'%s' is not a token: a note starts with a letter A..G",
                       visible(name, shown));
    int pc = letter_pc[name[0] - 'A'];
    const char *p = name + 1;
    if (*p == '#')
        pc++, p++;
    else if (*p == '-')
        pc--, p++; /* music21's flat: "E-4"; a second '-' is a negative octave */
    int sign = 1, octave = 0, digits = 0;
    if (*p == '-')
        sign = -1, p++;
    while (*p >= '0' && *p <= '9' && digits < 3)
        octave = octave * 10 + (*p++ - '0'), digits++;
    int key = (sign * octave + 1) * 12 + pc;
    if (digits == 0 || *p != '\0' || key < 0 || key > 127)
        return cn_fail(err, "'%s' is not a token: expected a pitch name like C4, F#3 or E-5",
                       visible(name, shown));
    *token = (CnToken){.pitch = (uint8_t)key};
    return 0;
}

CnToken cn_token_from_keys(const uint8_t *keys, size_t n_keys)
{
    uint16_t mask = 0;
    int all_same = 1;
    for (size_t i = 0; i < n_keys; i++) {
        mask |= (uint16_t)(1u << (keys[i] % 12));
        all_same &= keys[i] == keys[0];
    }
    if (n_keys > 0 && all_same)
        return (CnToken){.pitch = keys[0]};
    return (CnToken){.is_chord = 1, .pc_mask = mask};
}

/* ----- MIDI notes to tokens ------------------------------------------------------------ */

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

static CnToken group_token(const NoteGroup *g)
{
    CnToken t = cn_token_from_keys(g->keys, (size_t)g->n_keys);
    if (!g->extra_pcs)
        return t;
    uint16_t mask = t.is_chord ? t.pc_mask : (uint16_t)(1u << (t.pitch % 12));
    return (CnToken){.is_chord = 1, .pc_mask = (uint16_t)(mask | g->extra_pcs)};
}

/* The instrument of a voice (one channel of one track) is the program of its first
 * note; the file's first instrument is that of its first melodic voice. */
static int first_program(const CnMidi *midi)
{
    unsigned best_track = UINT32_MAX, best_channel = 16;
    int program = -1;
    for (size_t i = 0; i < midi->n_notes; i++) {
        const CnNote *n = &midi->notes[i];
        if (n->channel == CN_MIDI_PERCUSSION_CHANNEL)
            continue;
        if (n->track < best_track || (n->track == best_track && n->channel < best_channel)) {
            best_track = n->track;
            best_channel = n->channel;
            program = n->program;
        }
    }
    return program;
}

/* voice_program[track * 16 + channel]: program of the voice's first note, or -1. */
static int *voice_programs(const CnMidi *midi, CnError *err)
{
    size_t n_voices = (size_t)(midi->n_tracks ? midi->n_tracks : 1) * 16;
    int *programs = malloc(n_voices * sizeof *programs);
    if (!programs) {
        cn_fail(err, "out of memory");
        return NULL;
    }
    for (size_t v = 0; v < n_voices; v++)
        programs[v] = -1;
    for (size_t i = 0; i < midi->n_notes; i++) {
        size_t v = (size_t)midi->notes[i].track * 16 + midi->notes[i].channel;
        if (v < n_voices && programs[v] < 0)
            programs[v] = midi->notes[i].program;
    }
    return programs;
}

/* Groups the kept notes into chords per voice; returns the number of groups. */
static size_t group_notes(const CnMidi *midi, const int *programs, int program,
                          NoteGroup *groups, size_t *open_group, size_t *n_drums,
                          size_t *n_other)
{
    uint32_t window = midi->ppqn / 16; /* a sixty-fourth note */
    size_t n_groups = 0;
    size_t n_voices = (size_t)midi->n_tracks * 16;
    for (size_t v = 0; v < n_voices; v++)
        open_group[v] = SIZE_MAX;
    for (size_t i = 0; i < midi->n_notes; i++) {
        const CnNote *n = &midi->notes[i];
        size_t v = (size_t)n->track * 16 + n->channel;
        if (n->channel == CN_MIDI_PERCUSSION_CHANNEL) {
            (*n_drums)++;
            continue;
        }
        if (programs[v] != program) {
            (*n_other)++;
            continue;
        }
        uint8_t key = n->pitch < 12 ? (uint8_t)(n->pitch + 12) : n->pitch; /* see TOKENS.md */
        size_t g = open_group[v];
        if (g == SIZE_MAX || n->onset - groups[g].first_onset > window) {
            g = n_groups++;
            groups[g] = (NoteGroup){.first_onset = n->onset,
                                    .quantized = quantize_twelfths(n->onset, midi->ppqn),
                                    .track = n->track, .channel = n->channel, .order = g};
            open_group[v] = g;
        }
        group_add_key(&groups[g], key);
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
    int program = first_program(midi);
    int *programs = voice_programs(midi, err);
    if (!programs)
        return -1;
    NoteGroup *groups = malloc((midi->n_notes ? midi->n_notes : 1) * sizeof *groups);
    size_t *open_group = malloc((size_t)(midi->n_tracks ? midi->n_tracks : 1) * 16 *
                                sizeof *open_group);
    int rc = 0;
    if (!groups || !open_group) {
        rc = cn_fail(err, "out of memory");
    } else {
        size_t n_drums = 0, n_other = 0;
        size_t n_groups = group_notes(midi, programs, program, groups, open_group, &n_drums,
                                      &n_other);
        qsort(groups, n_groups, sizeof *groups, compare_groups);
        rc = fill_stream(groups, n_groups, out, err);
        out->n_dropped = n_drums + n_other;
        if (rc == 0 && n_other)
            snprintf(out->warning, sizeof out->warning,
                     "left out %zu notes of instruments other than the first (General MIDI "
                     "program %d) and %zu drum notes", n_other, program + 1, n_drums);
        else if (rc == 0 && n_drums)
            snprintf(out->warning, sizeof out->warning,
                     "left out %zu drum notes (channel 10)", n_drums);
    }
    free(programs);
    free(groups);
    free(open_group);
    return rc;
}

void cn_token_stream_free(CnTokenStream *stream)
{
    if (!stream)
        return;
    free(stream->tokens);
    free(stream->onsets);
    stream->tokens = NULL;
    stream->onsets = NULL;
    stream->n_tokens = 0;
}

/* ----- Tokens back to notes ------------------------------------------------------------ */

CnRenderOptions cn_render_defaults(void)
{
    return (CnRenderOptions){.ppqn = 480, .step_quarters = 0.5, .length_quarters = 1.0,
                             .velocity = 90, .channel = 0};
}

int cn_token_keys(CnToken token, uint8_t keys[CN_TOKEN_MAX_KEYS])
{
    if (!token.is_chord) {
        keys[0] = token.pitch;
        return 1;
    }
    int n = 0;
    for (int pc = 0; pc < 12; pc++)
        if (token.pc_mask >> pc & 1)
            keys[n++] = (uint8_t)(60 + pc);
    if (n == 1)
        keys[n++] = (uint8_t)(keys[0] - 12);
    return n;
}

int cn_render_tokens(const CnToken *tokens, size_t n_tokens, const CnRenderOptions *options,
                     CnNote **notes, size_t *n_notes, CnError *err)
{
    *notes = NULL;
    *n_notes = 0;
    if (options->ppqn == 0 || options->step_quarters <= 0 || options->length_quarters <= 0 ||
        options->velocity == 0 || options->velocity > 127 || options->channel > 15)
        return cn_fail(err, "render options out of range (ppqn, step, length, velocity 1..127, "
                            "channel 0..15)");
    size_t n = 0;
    uint8_t keys[CN_TOKEN_MAX_KEYS];
    for (size_t i = 0; i < n_tokens; i++)
        n += (size_t)cn_token_keys(tokens[i], keys);
    if ((double)n_tokens * options->step_quarters * options->ppqn > (double)INT32_MAX / 2)
        return cn_fail(err, "%zu tokens are too long a piece to render", n_tokens);
    CnNote *out = malloc((n ? n : 1) * sizeof *out);
    if (!out)
        return cn_fail(err, "out of memory");
    uint32_t duration = (uint32_t)(options->length_quarters * options->ppqn + 0.5);
    size_t k = 0;
    for (size_t i = 0; i < n_tokens; i++) {
        uint32_t onset = (uint32_t)(i * options->step_quarters * options->ppqn + 0.5);
        int n_keys = cn_token_keys(tokens[i], keys);
        for (int j = 0; j < n_keys; j++)
            out[k++] = (CnNote){.onset = onset, .duration = duration, .pitch = keys[j],
                                .velocity = options->velocity, .channel = options->channel};
    }
    *notes = out;
    *n_notes = k;
    return 0;
}

/* ----- Vocabulary ---------------------------------------------------------------------- */

static int compare_names(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static int vocab_alloc(CnVocab *vocab, size_t n, CnError *err)
{
    vocab->names = malloc((n ? n : 1) * sizeof *vocab->names);
    vocab->tokens = malloc((n ? n : 1) * sizeof *vocab->tokens);
    vocab->n = 0;
    if (!vocab->names || !vocab->tokens) {
        cn_vocab_free(vocab);
        return cn_fail(err, "out of memory");
    }
    return 0;
}

/* Sorts names, drops duplicates and fills tokens; returns -1 on an unparsable name. */
static int vocab_finish(CnVocab *vocab, size_t n, CnError *err)
{
    qsort(vocab->names, n, sizeof *vocab->names, compare_names);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (kept > 0 && strcmp(vocab->names[kept - 1], vocab->names[i]) == 0)
            continue;
        memmove(vocab->names[kept], vocab->names[i], CN_TOKEN_NAME_MAX);
        if (cn_token_parse(vocab->names[kept], &vocab->tokens[kept], err)) {
            cn_vocab_free(vocab);
            return -1;
        }
        kept++;
    }
    vocab->n = kept;
    return 0;
}

int cn_vocab_build(const CnTokenStream *streams, size_t n_streams, CnVocab *vocab, CnError *err)
{
    /* Distinct tokens are few (notes: 128, chords: 4096), so a presence table is enough. */
    static const size_t n_slots = 128 + 4096;
    uint8_t *seen = calloc(n_slots, 1);
    if (!seen)
        return cn_fail(err, "out of memory");
    size_t n = 0;
    for (size_t s = 0; s < n_streams; s++)
        for (size_t i = 0; i < streams[s].n_tokens; i++) {
            CnToken t = streams[s].tokens[i];
            size_t slot = t.is_chord ? 128 + (t.pc_mask & 4095) : t.pitch;
            n += !seen[slot];
            seen[slot] = 1;
        }
    if (vocab_alloc(vocab, n, err)) {
        free(seen);
        return -1;
    }
    size_t k = 0;
    for (size_t slot = 0; slot < n_slots; slot++) {
        if (!seen[slot])
            continue;
        CnToken t = slot < 128 ? (CnToken){.pitch = (uint8_t)slot}
                               : (CnToken){.is_chord = 1, .pc_mask = (uint16_t)(slot - 128)};
        cn_token_name(t, vocab->names[k++]);
    }
    free(seen);
    return vocab_finish(vocab, n, err);
}

int cn_vocab_from_names(const char *const *names, size_t n_names, CnVocab *vocab, CnError *err)
{
    if (vocab_alloc(vocab, n_names, err))
        return -1;
    for (size_t i = 0; i < n_names; i++) {
        if (strlen(names[i]) >= CN_TOKEN_NAME_MAX) {
            cn_vocab_free(vocab);
            return cn_fail(err, "vocabulary entry %zu is longer than a token can be", i);
        }
        strcpy(vocab->names[i], names[i]);
    }
    size_t n = n_names;
    if (vocab_finish(vocab, n, err))
        return -1;
    if (vocab->n != n_names) {
        cn_vocab_free(vocab);
        return cn_fail(err, "vocabulary lists a token twice");
    }
    return 0;
}

int cn_vocab_index(const CnVocab *vocab, CnToken token)
{
    char name[CN_TOKEN_NAME_MAX];
    cn_token_name(token, name);
    const char(*hit)[CN_TOKEN_NAME_MAX] =
        bsearch(name, vocab->names, vocab->n, sizeof *vocab->names, compare_names);
    return hit ? (int)(hit - vocab->names) : -1;
}

static uint16_t token_pcs(CnToken t)
{
    return t.is_chord ? t.pc_mask : (uint16_t)(1u << (t.pitch % 12));
}

/* Lower is closer: same-class notes by octave distance, then chords by shared classes. */
static long token_distance(CnToken want, CnToken have)
{
    if (!want.is_chord && !have.is_chord) {
        int d = abs((int)want.pitch - (int)have.pitch);
        return d % 12 == 0 ? d / 12 : 1000 + d;
    }
    uint16_t a = token_pcs(want), b = token_pcs(have);
    int shared = __builtin_popcount(a & b), differ = __builtin_popcount(a ^ b);
    return 100000 - 100 * shared + differ + (want.is_chord != have.is_chord ? 50 : 0);
}

int cn_vocab_nearest(const CnVocab *vocab, CnToken token)
{
    int best = -1;
    long best_distance = 0;
    for (size_t i = 0; i < vocab->n; i++) {
        long d = token_distance(token, vocab->tokens[i]);
        if (best < 0 || d < best_distance) {
            best = (int)i;
            best_distance = d;
        }
    }
    return best;
}

void cn_vocab_free(CnVocab *vocab)
{
    if (!vocab)
        return;
    free(vocab->names);
    free(vocab->tokens);
    vocab->names = NULL;
    vocab->tokens = NULL;
    vocab->n = 0;
}
