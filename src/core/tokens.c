/* Tokens: names, normal order, MIDI notes to tokens (as the original's music21 import)
 * and back, and the vocabulary. Pure computation; any thread, not real-time safe. */
#include "continuo/tokens.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const pitch_names[12] = {"C", "C#", "D", "E-", "E", "F",
                                            "F#", "G", "G#", "A", "B-", "B"};

int cn_token_equal(CnToken a, CnToken b)
{
    if (a.kind != b.kind || a.is_chord != b.is_chord)
        return 0;
    return a.is_chord ? a.pc_mask == b.pc_mask : a.pitch == b.pitch;
}

const char *cn_scheme_name(CnScheme scheme)
{
    return scheme == CN_SCHEME_TIMED ? "timed" : "original";
}

int cn_scheme_parse(const char *name, CnScheme *scheme, CnError *err)
{
    if (strcmp(name, "original") == 0)
        *scheme = CN_SCHEME_ORIGINAL;
    else if (strcmp(name, "timed") == 0)
        *scheme = CN_SCHEME_TIMED;
    else
        return cn_fail(err, "unknown token scheme '%.40s' (known: timed, original)", name);
    return 0;
}

int cn_velocity_level(uint8_t velocity)
{
    int level = (velocity > 0 ? velocity - 1 : 0) * CN_TIMED_N_VELOCITIES / 128;
    return level < CN_TIMED_N_VELOCITIES ? level : CN_TIMED_N_VELOCITIES - 1;
}

uint8_t cn_level_velocity(int level)
{
    int v = level * 128 / CN_TIMED_N_VELOCITIES + 128 / CN_TIMED_N_VELOCITIES / 2 + 1;
    return (uint8_t)(v < 1 ? 1 : v > 127 ? 127 : v);
}

CnToken cn_token_transpose(CnToken t, int semitones)
{
    int k = t.pitch + semitones;
    switch (t.kind) {
    case CN_EVENT_ON:
    case CN_EVENT_OFF:
        t.pitch = cn_timed_key(k);
        return t;
    case CN_TOKEN_PITCHED:
        if (t.is_chord) {
            int r = ((semitones % 12) + 12) % 12;
            t.pc_mask = (uint16_t)(((t.pc_mask << r) | (t.pc_mask >> (12 - r))) & 0xfff);
        } else {
            while (k < 12)
                k += 12;
            while (k > 127)
                k -= 12;
            t.pitch = (uint8_t)k;
        }
        return t;
    default:
        return t;
    }
}

uint8_t cn_timed_key(int key)
{
    while (key < CN_TIMED_LOWEST_KEY)
        key += 12;
    while (key > CN_TIMED_HIGHEST_KEY)
        key -= 12;
    return (uint8_t)key;
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

static int pitch_name(uint8_t key, char *name, size_t size)
{
    return snprintf(name, size, "%s%d", pitch_names[key % 12], key / 12 - 1);
}

int cn_token_name(CnToken token, char name[CN_TOKEN_NAME_MAX])
{
    switch (token.kind) {
    case CN_EVENT_ON: return 3 + pitch_name(token.pitch, memcpy(name, "on:", 3) + 3,
                                            CN_TOKEN_NAME_MAX - 3);
    case CN_EVENT_OFF: return 4 + pitch_name(token.pitch, memcpy(name, "off:", 4) + 4,
                                             CN_TOKEN_NAME_MAX - 4);
    case CN_EVENT_SHIFT: return snprintf(name, CN_TOKEN_NAME_MAX, "shift:%d", token.pitch);
    case CN_EVENT_VELOCITY: return snprintf(name, CN_TOKEN_NAME_MAX, "vel:%d", token.pitch);
    default: break;
    }
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

/* "shift:N" and "vel:N": a number in lo..hi after the prefix. */
static int parse_value(const char *name, const char *prefix, int lo, int hi, CnTokenKind kind,
                       CnToken *token, CnError *err)
{
    char shown[96];
    const char *p = name + strlen(prefix);
    int value = 0, digits = 0;
    while (*p >= '0' && *p <= '9' && digits < 4)
        value = value * 10 + (*p++ - '0'), digits++;
    if (digits == 0 || *p != '\0' || value < lo || value > hi)
        return cn_fail(err, "'%s' is not a token: %s takes a number from %d to %d",
                       visible(name, shown), prefix, lo, hi);
    *token = (CnToken){.kind = (uint8_t)kind, .pitch = (uint8_t)value};
    return 0;
}

/* "on:C4" and "off:C4": a key of the piano. */
static int parse_event_key(const char *name, size_t prefix, CnTokenKind kind, CnToken *token,
                           CnError *err)
{
    char shown[96];
    CnToken note;
    if (name[prefix] == '\0' || (name[prefix] >= '0' && name[prefix] <= '9') ||
        cn_token_parse(name + prefix, &note, err))
        return cn_fail(err, "'%s' is not a token: expected a key like on:C4 or off:F#3",
                       visible(name, shown));
    if (note.pitch < CN_TIMED_LOWEST_KEY || note.pitch > CN_TIMED_HIGHEST_KEY)
        return cn_fail(err, "'%s' is not a token: the timed scheme's keys are A0 to C8",
                       visible(name, shown));
    *token = (CnToken){.kind = (uint8_t)kind, .pitch = note.pitch};
    return 0;
}

int cn_token_parse(const char *name, CnToken *token, CnError *err)
{
    static const int letter_pc[7] = {9, 11, 0, 2, 4, 5, 7}; /* A..G */
    char shown[96];
    if (strncmp(name, "on:", 3) == 0)
        return parse_event_key(name, 3, CN_EVENT_ON, token, err);
    if (strncmp(name, "off:", 4) == 0)
        return parse_event_key(name, 4, CN_EVENT_OFF, token, err);
    if (strncmp(name, "shift:", 6) == 0)
        return parse_value(name, "shift:", 1, CN_TIMED_MAX_SHIFT, CN_EVENT_SHIFT, token, err);
    if (strncmp(name, "vel:", 4) == 0)
        return parse_value(name, "vel:", 0, CN_TIMED_N_VELOCITIES - 1, CN_EVENT_VELOCITY,
                           token, err);
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

/* Whether a note is of the file's first instrument; counts the drums and other
 * instruments' notes left out. */
static int kept(const CnNote *n, const int *programs, int program, size_t *n_drums,
                size_t *n_other)
{
    if (n->channel == CN_MIDI_PERCUSSION_CHANNEL) {
        (*n_drums)++;
        return 0;
    }
    if (programs[(size_t)n->track * 16 + n->channel] != program) {
        (*n_other)++;
        return 0;
    }
    return 1;
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

static void say_dropped(CnTokenStream *out, size_t n_drums, size_t n_other, int program)
{
    out->n_dropped = n_drums + n_other;
    if (n_other)
        snprintf(out->warning, sizeof out->warning,
                 "left out %zu notes of instruments other than the first (General MIDI "
                 "program %d) and %zu drum notes", n_other, program + 1, n_drums);
    else if (n_drums)
        snprintf(out->warning, sizeof out->warning, "left out %zu drum notes (channel 10)",
                 n_drums);
}

int cn_tokenize(const CnMidi *midi, CnTokenStream *out, CnError *err)
{
    memset(out, 0, sizeof *out);
    int program = first_program(midi);
    int *programs = voice_programs(midi, err);
    if (!programs)
        return -1;
    size_t n = midi->n_notes ? midi->n_notes : 1;
    NoteGroup *groups = malloc(n * sizeof *groups);
    uint8_t *keep = malloc(n), *gathered = calloc(n, 1);
    int rc = 0;
    if (!groups || !keep || !gathered) {
        rc = cn_fail(err, "out of memory");
    } else {
        size_t n_drums = 0, n_other = 0;
        for (size_t i = 0; i < midi->n_notes; i++)
            keep[i] = (uint8_t)kept(&midi->notes[i], programs, program, &n_drums, &n_other);
        size_t n_groups = group_notes(midi, keep, gathered, groups);
        qsort(groups, n_groups, sizeof *groups, compare_groups);
        rc = fill_stream(groups, n_groups, out, err);
        if (rc == 0)
            say_dropped(out, n_drums, n_other, program);
    }
    free(programs);
    free(groups);
    free(keep);
    free(gathered);
    return rc;
}

/* ----- MIDI notes to timed events ------------------------------------------------------ */

/* A key going down or up on the grid; ups sort before downs at the same time, so that a
 * key struck again right after its release stays two notes. */
typedef struct {
    uint64_t time;   /* twelfths of a beat */
    uint8_t down;
    uint8_t key;
    uint8_t velocity;
    uint32_t note;   /* index of the note in the file */
} KeyMark;

static int compare_marks(const void *a, const void *b)
{
    const KeyMark *x = a, *y = b;
    if (x->time != y->time)
        return x->time < y->time ? -1 : 1;
    if (x->down != y->down)
        return x->down < y->down ? -1 : 1;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->note < y->note ? -1 : x->note > y->note;
}

static uint64_t to_twelfths(uint64_t tick, unsigned ppqn)
{
    return (tick * CN_TIMED_STEPS_PER_BEAT + ppqn / 2) / ppqn;
}

/* Events are written into a stream allocated for the worst case (a note gives an on, an
 * off, a velocity and the shifts of its gap). */
typedef struct {
    CnTokenStream *out;
    uint64_t now;      /* time reached by the shifts written */
    int level;         /* velocity level in force, -1 before the first note */
    uint64_t last_on;  /* time of the last note-on, for counting chords */
    int ons_at_last;
} EventWriter;

static void put(EventWriter *w, CnTokenKind kind, int value)
{
    CnTokenStream *s = w->out;
    s->tokens[s->n_tokens] = (CnToken){.kind = (uint8_t)kind, .pitch = (uint8_t)value};
    s->onsets[s->n_tokens++] = w->now;
}

static void advance(EventWriter *w, uint64_t time)
{
    while (w->now < time) {
        uint64_t step = time - w->now < CN_TIMED_MAX_SHIFT ? time - w->now : CN_TIMED_MAX_SHIFT;
        w->now += step;
        put(w, CN_EVENT_SHIFT, (int)step);
    }
}

static void put_on(EventWriter *w, uint8_t key, uint8_t velocity)
{
    int level = cn_velocity_level(velocity);
    if (level != w->level)
        put(w, CN_EVENT_VELOCITY, level);
    w->level = level;
    put(w, CN_EVENT_ON, key);
    w->out->n_notes++;
    if (w->ons_at_last > 0 && w->last_on == w->now) {
        w->out->n_chords += w->ons_at_last == 1;
    } else {
        w->last_on = w->now;
        w->ons_at_last = 0;
    }
    w->ons_at_last++;
}

/* Writes the marks as events: a key struck while it sounds is released first; a note
 * whose key was struck again before its own release has no release of its own, nor has
 * a second strike of a key at the very time of the first. */
static void write_events(const KeyMark *marks, size_t n_marks, EventWriter *w)
{
    int64_t holder[128];
    uint64_t held_since[128] = {0};
    for (int k = 0; k < 128; k++)
        holder[k] = -1;
    for (size_t i = 0; i < n_marks; i++) {
        const KeyMark *m = &marks[i];
        if (i == 0)
            w->now = m->time; /* a song starts at its first note */
        if (!m->down) {
            if (holder[m->key] == (int64_t)m->note) {
                advance(w, m->time);
                put(w, CN_EVENT_OFF, m->key);
                holder[m->key] = -1;
            }
            continue;
        }
        if (holder[m->key] >= 0 && held_since[m->key] == m->time)
            continue; /* the key struck twice at once (two voices): one note */
        advance(w, m->time);
        if (holder[m->key] >= 0)
            put(w, CN_EVENT_OFF, m->key);
        put_on(w, m->key, m->velocity);
        holder[m->key] = m->note;
        held_since[m->key] = m->time;
    }
}

int cn_tokenize_timed(const CnMidi *midi, CnTokenStream *out, CnError *err)
{
    memset(out, 0, sizeof *out);
    int program = first_program(midi);
    int *programs = voice_programs(midi, err);
    if (!programs)
        return -1;
    size_t n = midi->n_notes, n_drums = 0, n_other = 0, n_marks = 0;
    KeyMark *marks = malloc((n ? 2 * n : 1) * sizeof *marks);
    uint64_t worst = 0; /* tokens at most: on, off, velocity and the shifts of each gap */
    for (size_t i = 0; marks && i < n; i++) {
        const CnNote *note = &midi->notes[i];
        if (!kept(note, programs, program, &n_drums, &n_other))
            continue;
        uint64_t on = to_twelfths(note->onset, midi->ppqn);
        uint64_t off = to_twelfths((uint64_t)note->onset + note->duration, midi->ppqn);
        uint8_t key = cn_timed_key(note->pitch);
        marks[n_marks++] = (KeyMark){on, 1, key, note->velocity, (uint32_t)i};
        marks[n_marks++] = (KeyMark){off > on ? off : on + 1, 0, key, 0, (uint32_t)i};
        worst = off + 1 > worst ? off + 1 : worst;
    }
    free(programs);
    if (!marks)
        return cn_fail(err, "out of memory");
    qsort(marks, n_marks, sizeof *marks, compare_marks);
    uint64_t first = n_marks ? marks[0].time : 0;
    size_t capacity = 3 * n_marks + (size_t)((worst - first) / CN_TIMED_MAX_SHIFT) + 1;
    out->tokens = malloc(capacity * sizeof *out->tokens);
    out->onsets = malloc(capacity * sizeof *out->onsets);
    if (!out->tokens || !out->onsets) {
        free(marks);
        cn_token_stream_free(out);
        return cn_fail(err, "out of memory");
    }
    EventWriter w = {.out = out, .level = -1};
    write_events(marks, n_marks, &w);
    free(marks);
    say_dropped(out, n_drums, n_other, program);
    return 0;
}

int cn_tokenize_scheme(const CnMidi *midi, CnScheme scheme, CnTokenStream *out, CnError *err)
{
    return scheme == CN_SCHEME_TIMED ? cn_tokenize_timed(midi, out, err)
                                     : cn_tokenize(midi, out, err);
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
    if (token.kind != CN_TOKEN_PITCHED)
        return 0;
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

/* The notes of timed events, as they are read: a note sounds from its on to its off. */
typedef struct {
    CnNote *notes;
    size_t n;
    int64_t open[128];  /* index in notes of each sounding key, -1 when silent */
    uint64_t now;       /* twelfths */
    unsigned ticks;     /* ticks per twelfth */
} EventReader;

static void close_note(EventReader *r, int key, uint64_t end)
{
    CnNote *note = &r->notes[r->open[key]];
    uint64_t start = note->onset / r->ticks;
    uint64_t last = start + CN_TIMED_LONGEST_NOTE;
    end = end > last ? last : end > start ? end : start + 1;
    note->duration = (uint32_t)((end - start) * r->ticks);
    r->open[key] = -1;
}

/* Ends the notes that have sounded their longest by time. */
static void close_long_notes(EventReader *r, uint64_t time)
{
    for (int key = 0; key < 128; key++)
        if (r->open[key] >= 0 &&
            r->notes[r->open[key]].onset / r->ticks + CN_TIMED_LONGEST_NOTE <= time)
            close_note(r, key, time);
}

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
    EventReader r = {.notes = malloc((n_on ? n_on : 1) * sizeof *r.notes), .ticks = ticks};
    if (!r.notes)
        return cn_fail(err, "out of memory");
    for (int k = 0; k < 128; k++)
        r.open[k] = -1;
    uint8_t velocity = options->velocity ? options->velocity : 90;
    for (size_t i = 0; i < n_tokens; i++) {
        CnToken t = tokens[i];
        if (t.kind == CN_EVENT_SHIFT) {
            r.now += t.pitch;
            close_long_notes(&r, r.now);
        } else if (t.kind == CN_EVENT_VELOCITY) {
            velocity = cn_level_velocity(t.pitch);
        } else if ((t.kind == CN_EVENT_ON || t.kind == CN_EVENT_OFF) && t.pitch < 128) {
            int key = t.pitch;
            if (r.open[key] >= 0 && t.kind == CN_EVENT_ON &&
                r.notes[r.open[key]].onset / ticks == r.now)
                continue; /* struck twice at once: one note */
            if (r.open[key] >= 0)
                close_note(&r, key, r.now);
            if (t.kind == CN_EVENT_ON) {
                r.open[key] = (int64_t)r.n;
                r.notes[r.n++] = (CnNote){.onset = (uint32_t)(r.now * ticks), .pitch = t.pitch,
                                          .velocity = velocity, .channel = options->channel};
            }
        }
    }
    for (int key = 0; key < 128; key++) /* what is still down ends a beat after the last */
        if (r.open[key] >= 0)
            close_note(&r, key, r.now + CN_TIMED_STEPS_PER_BEAT);
    *notes = r.notes;
    *n_notes = r.n;
    if (quarters) {
        uint64_t end = r.now * ticks;
        for (size_t i = 0; i < r.n; i++)
            if ((uint64_t)r.notes[i].onset + r.notes[i].duration > end)
                end = (uint64_t)r.notes[i].onset + r.notes[i].duration;
        *quarters = (double)end / options->ppqn;
    }
    return 0;
}

int cn_render_scheme(const CnToken *tokens, size_t n_tokens, CnScheme scheme,
                     const CnRenderOptions *options, CnNote **notes, size_t *n_notes,
                     double *quarters, CnError *err)
{
    if (scheme == CN_SCHEME_TIMED)
        return cn_render_events(tokens, n_tokens, options, notes, n_notes, quarters, err);
    if (quarters)
        *quarters = n_tokens ? (double)(n_tokens - 1) * options->step_quarters +
                                   options->length_quarters
                             : 0;
    return cn_render_tokens(tokens, n_tokens, options, notes, n_notes, err);
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
    vocab->scheme = CN_SCHEME_ORIGINAL;
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
        CnScheme scheme = vocab->tokens[kept].kind == CN_TOKEN_PITCHED ? CN_SCHEME_ORIGINAL
                                                                       : CN_SCHEME_TIMED;
        if (kept > 0 && scheme != vocab->scheme) {
            char shown[96];
            cn_fail(err, "'%s' is not a token of the %s scheme the vocabulary's other tokens "
                         "belong to", visible(vocab->names[kept], shown),
                    cn_scheme_name(vocab->scheme));
            cn_vocab_free(vocab);
            return -1;
        }
        vocab->scheme = scheme;
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

int cn_vocab_timed(CnVocab *vocab, CnError *err)
{
    int n_keys = CN_TIMED_HIGHEST_KEY - CN_TIMED_LOWEST_KEY + 1;
    size_t n = (size_t)(2 * n_keys + CN_TIMED_MAX_SHIFT + CN_TIMED_N_VELOCITIES), k = 0;
    if (vocab_alloc(vocab, n, err))
        return -1;
    for (int key = CN_TIMED_LOWEST_KEY; key <= CN_TIMED_HIGHEST_KEY; key++) {
        cn_token_name((CnToken){.kind = CN_EVENT_ON, .pitch = (uint8_t)key}, vocab->names[k++]);
        cn_token_name((CnToken){.kind = CN_EVENT_OFF, .pitch = (uint8_t)key}, vocab->names[k++]);
    }
    for (int shift = 1; shift <= CN_TIMED_MAX_SHIFT; shift++)
        cn_token_name((CnToken){.kind = CN_EVENT_SHIFT, .pitch = (uint8_t)shift},
                      vocab->names[k++]);
    for (int level = 0; level < CN_TIMED_N_VELOCITIES; level++)
        cn_token_name((CnToken){.kind = CN_EVENT_VELOCITY, .pitch = (uint8_t)level},
                      vocab->names[k++]);
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
    if (want.kind != have.kind)
        return 10000000;
    if (want.kind == CN_EVENT_ON || want.kind == CN_EVENT_OFF)
        return cn_timed_key(want.pitch) == have.pitch ? 0 : 1000 + abs(want.pitch - have.pitch);
    if (want.kind != CN_TOKEN_PITCHED)
        return abs(want.pitch - have.pitch);
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
