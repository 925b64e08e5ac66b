/* Parser of the hand-written score notation: voices of notes, chords, rests, durations,
 * dynamics and repeats, as described in midi_songs/README.md. */
#include "continuo/score.h"
#include "continuo/tempo.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_VOICES 16
#define MAX_ITEMS (1 << 20) /* after repeats are expanded */
#define MAX_REPEAT_DEPTH 8

typedef struct {
    char name[32];
    double cursor_quarters; /* where the next item starts */
    double duration;        /* current (sticky) duration in quarters */
    int velocity;
} Voice;

typedef struct {
    CnScore *score;
    size_t cap_notes;
    Voice voices[MAX_VOICES];
    int current; /* voice index, -1 before the first "voice" line */
    int line;
} Parser;

static int fail_at(const Parser *p, CnError *err, const char *item, const char *why)
{
    return cn_fail(err, "line %d: '%s': %s", p->line, item, why);
}

static int parse_pitch(const char *s, int *key, const char **end)
{
    static const int letter_pc[7] = {9, 11, 0, 2, 4, 5, 7};
    if (*s < 'A' || *s > 'G')
        return -1;
    int pc = letter_pc[*s++ - 'A'];
    while (*s == '#' || *s == 'b') /* sharps and flats, double ones too */
        pc += *s++ == '#' ? 1 : -1;
    int sign = 1, octave = 0, digits = 0;
    if (*s == '-')
        sign = -1, s++;
    while (isdigit((unsigned char)*s) && digits < 2)
        octave = octave * 10 + (*s++ - '0'), digits++;
    int k = (sign * octave + 1) * 12 + pc;
    if (digits == 0 || k < 0 || k > 127)
        return -1;
    *key = k;
    *end = s;
    return 0;
}

/* "/4" quarter, "/8" eighth, "/12" eighth triplet, "/2." dotted half, "/1*3" three wholes. */
static int parse_duration(const char *s, double *quarters, const char **end)
{
    if (*s != '/')
        return 1; /* none given: keep the current one */
    s++;
    int denom = 0, digits = 0;
    while (isdigit((unsigned char)*s) && digits < 3)
        denom = denom * 10 + (*s++ - '0'), digits++;
    if (denom <= 0 || denom > 128)
        return -1;
    double q = 4.0 / denom;
    if (*s == '.')
        q *= 1.5, s++;
    if (*s == '*') {
        s++;
        int mult = 0;
        digits = 0;
        while (isdigit((unsigned char)*s) && digits < 3)
            mult = mult * 10 + (*s++ - '0'), digits++;
        if (mult <= 0)
            return -1;
        q *= mult;
    }
    *quarters = q;
    *end = s;
    return 0;
}

static int add_note(Parser *p, int key, double onset, double length, CnError *err)
{
    CnScore *sc = p->score;
    if (sc->n_notes == p->cap_notes) {
        if (p->cap_notes >= CN_MIDI_MAX_NOTES)
            return cn_fail(err, "line %d: more than %u notes", p->line, CN_MIDI_MAX_NOTES);
        size_t cap = p->cap_notes ? p->cap_notes * 2 : 1024;
        CnNote *n = realloc(sc->notes, cap * sizeof *n);
        if (!n)
            return cn_fail(err, "out of memory");
        sc->notes = n;
        p->cap_notes = cap;
    }
    /* Notes sound slightly shorter than written (legato 95 %), like a pianist's touch. */
    uint32_t onset_ticks = (uint32_t)(onset * CN_SCORE_PPQN + 0.5);
    uint32_t length_ticks = (uint32_t)(length * CN_SCORE_PPQN * 0.95 + 0.5);
    sc->notes[sc->n_notes++] = (CnNote){
        .onset = onset_ticks, .duration = length_ticks ? length_ticks : 1,
        .pitch = (uint8_t)key, .velocity = (uint8_t)p->voices[p->current].velocity,
        .track = (uint16_t)p->current};
    return 0;
}

static int dynamic_velocity(const char *item)
{
    static const struct { const char *mark; int velocity; } marks[] = {
        {"pp", 36}, {"p", 50}, {"mp", 64}, {"mf", 80}, {"f", 96}, {"ff", 112}};
    for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++)
        if (strcmp(item, marks[i].mark) == 0)
            return marks[i].velocity;
    return 0;
}

/* One item: a note "C4/8", a chord "C3+G3+E4/2", a rest "r/4", a dynamic "mf" or "|". */
static int parse_item(Parser *p, const char *item, CnError *err)
{
    if (strcmp(item, "|") == 0 || strcmp(item, "||") == 0)
        return 0;
    if (p->current < 0)
        return fail_at(p, err, item, "music before any 'voice NAME' line");
    Voice *v = &p->voices[p->current];
    int velocity = dynamic_velocity(item);
    if (velocity) {
        v->velocity = velocity;
        return 0;
    }
    int keys[12], n_keys = 0;
    const char *s = item;
    if (*s == 'r') {
        s++;
    } else {
        for (;;) {
            if (n_keys == 12 || parse_pitch(s, &keys[n_keys], &s) != 0)
                return fail_at(p, err, item, "expected a note like C4, F#3, Bb2 (chords "
                                             "join notes with '+'), a rest 'r' or a dynamic");
            n_keys++;
            if (*s != '+')
                break;
            s++;
        }
    }
    double length = v->duration;
    int rc = parse_duration(s, &length, &s);
    if (rc < 0 || *s != '\0')
        return fail_at(p, err, item, "bad duration: use /1 /2 /4 /8 /16 /12 (triplet), "
                                     "a dot for dotted and *N to multiply");
    v->duration = length;
    for (int i = 0; i < n_keys; i++)
        if (add_note(p, keys[i], v->cursor_quarters, length, err))
            return -1;
    v->cursor_quarters += length;
    return 0;
}

static int select_voice(Parser *p, const char *name, CnError *err)
{
    for (unsigned i = 0; i < p->score->n_voices; i++)
        if (strcmp(p->voices[i].name, name) == 0) {
            p->current = (int)i;
            return 0;
        }
    if (p->score->n_voices == MAX_VOICES)
        return cn_fail(err, "line %d: more than %d voices", p->line, MAX_VOICES);
    if (strlen(name) == 0 || strlen(name) >= sizeof p->voices[0].name)
        return cn_fail(err, "line %d: a voice needs a short name", p->line);
    Voice *v = &p->voices[p->score->n_voices];
    snprintf(v->name, sizeof v->name, "%s", name);
    snprintf(p->score->voice_names[p->score->n_voices], sizeof p->score->voice_names[0], "%s",
             name);
    v->duration = 1.0;
    v->velocity = 80;
    p->current = (int)p->score->n_voices++;
    return 0;
}

/* The items of the current voice since its "voice" line, so repeats may span lines. */
typedef struct {
    char **items;
    int *lines;
    size_t n, cap;
} Block;

static int block_add(Block *b, char *item, int line, CnError *err)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 256;
        char **items = realloc(b->items, cap * sizeof *items);
        if (items)
            b->items = items;
        int *lines = items ? realloc(b->lines, cap * sizeof *lines) : NULL;
        if (!lines)
            return cn_fail(err, "out of memory");
        b->lines = lines;
        b->cap = cap;
    }
    b->items[b->n] = item;
    b->lines[b->n++] = line;
    return 0;
}

/* Expands "( ... )xN" repeats (nested up to MAX_REPEAT_DEPTH) and parses each item. */
static int parse_block(Parser *p, Block *b, CnError *err)
{
    size_t starts[MAX_REPEAT_DEPTH];
    int counts_left[MAX_REPEAT_DEPTH], depth = 0;
    long budget = MAX_ITEMS;
    for (size_t i = 0; i < b->n; i++) {
        char *item = b->items[i];
        p->line = b->lines[i];
        if (--budget < 0)
            return cn_fail(err, "line %d: repeats expand to too many items", p->line);
        if (strcmp(item, "(") == 0) {
            if (depth == MAX_REPEAT_DEPTH)
                return fail_at(p, err, item, "repeats nested too deep");
            starts[depth] = i;
            counts_left[depth++] = -1;
            continue;
        }
        if (item[0] == ')' && item[1] == 'x') {
            if (depth == 0)
                return fail_at(p, err, item, "')xN' without a matching '('");
            if (counts_left[depth - 1] < 0) {
                int times = atoi(item + 2);
                if (times < 1 || times > 64)
                    return fail_at(p, err, item, "repeat count must be 1..64");
                counts_left[depth - 1] = times - 1;
            }
            if (counts_left[depth - 1]-- > 0)
                i = starts[depth - 1]; /* back to just after the '(' */
            else
                depth--;
            continue;
        }
        if (parse_item(p, item, err))
            return -1;
    }
    if (depth != 0)
        return cn_fail(err, "line %d: '(' without a closing ')xN' in this voice",
                       b->lines[starts[depth - 1]]);
    b->n = 0;
    return 0;
}

/* Directives act at once; music lines gather into the voice's block. */
static int parse_line(Parser *p, Block *b, char *line, int line_number, CnError *err)
{
    while (isspace((unsigned char)*line))
        line++;
    if (*line == '#') {
        if (strncmp(line, "# title:", 8) == 0 && !p->score->title[0]) {
            snprintf(p->score->title, sizeof p->score->title, "%s", line + 8 + (line[8] == ' '));
            p->score->title[strcspn(p->score->title, "\r")] = '\0';
        }
        return 0;
    }
    int directive = strncmp(line, "tempo ", 6) == 0 || strncmp(line, "voice ", 6) == 0 ||
                    strncmp(line, "time ", 5) == 0;
    if (directive && parse_block(p, b, err))
        return -1;
    p->line = line_number;
    if (strncmp(line, "tempo ", 6) == 0) {
        char *end;
        double bpm = strtod(line + 6, &end);
        end += strspn(end, " \t\r\n");
        if (*end || !cn_bpm_in_range(bpm))
            return cn_fail(err, "line %d: tempo must be %d..%d beats per minute", p->line,
                           CN_BPM_MIN, CN_BPM_MAX);
        p->score->bpm = bpm;
        return 0;
    }
    if (strncmp(line, "time ", 5) == 0) {
        unsigned num, den;
        if (sscanf(line + 5, "%u/%u", &num, &den) != 2 || num < 1 || num > 32 ||
            (den != 1 && den != 2 && den != 4 && den != 8 && den != 16))
            return cn_fail(err, "line %d: a time signature looks like 'time 3/4'", p->line);
        p->score->beats_per_bar = num;
        p->score->beat_unit = den;
        return 0;
    }
    if (strncmp(line, "voice ", 6) == 0) {
        char *name = line + 6;
        name[strcspn(name, " \t\r:")] = '\0';
        return select_voice(p, name, err);
    }
    for (char *save, *tok = strtok_r(line, " \t\r", &save); tok;
         tok = strtok_r(NULL, " \t\r", &save))
        if (block_add(b, tok, line_number, err))
            return -1;
    return 0;
}

int cn_score_parse(const char *text, CnScore *score, CnError *err)
{
    memset(score, 0, sizeof *score);
    score->bpm = 100;
    Parser p = {.score = score, .current = -1};
    Block block = {0};
    char *copy = strdup(text); /* items point into it until the end */
    if (!copy)
        return cn_fail(err, "out of memory");
    int rc = 0, line_number = 0;
    char *next = copy;
    while (rc == 0 && next) {
        char *line = next;
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        rc = parse_line(&p, &block, line, ++line_number, err);
    }
    if (rc == 0)
        rc = parse_block(&p, &block, err);
    free(block.items);
    free(block.lines);
    free(copy);
    if (rc == 0 && score->n_notes == 0)
        rc = cn_fail(err, "the score has no notes");
    if (rc)
        cn_score_free(score);
    return rc;
}

void cn_score_free(CnScore *score)
{
    if (!score)
        return;
    free(score->notes);
    score->notes = NULL;
    score->n_notes = 0;
}
