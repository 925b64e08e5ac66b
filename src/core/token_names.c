/* Tokens: what each says, its name and back, normal order, velocity levels, transposing,
 * a chord's keys; the schemes' names and their table. Pure computation; any thread. */
#include "tokens_internal.h"

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

int cn_token_strikes(CnToken t)
{
    return t.kind == CN_EVENT_ON || t.kind == CN_TOKEN_PITCHED;
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

/* (A CR from a file written on Windows, say, is shown as \\r.) */
const char *cn_token_visible(const char *name, char out[96])
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
                           cn_token_visible(name, shown));
        int pc = 0;
        while (*p >= '0' && *p <= '9' && pc < 100)
            pc = pc * 10 + (*p++ - '0');
        if (pc > 11)
            return cn_fail(err, "'%s' is not a token: pitch class %d is above 11",
                           cn_token_visible(name, shown), pc);
        mask |= (uint16_t)(1u << pc);
        if (*p == '\0')
            break;
        if (*p++ != '.')
            return cn_fail(err, "'%s' is not a token: unexpected character in a chord",
                           cn_token_visible(name, shown));
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
                       cn_token_visible(name, shown), prefix, lo, hi);
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
                       cn_token_visible(name, shown));
    if (note.pitch < CN_TIMED_LOWEST_KEY || note.pitch > CN_TIMED_HIGHEST_KEY)
        return cn_fail(err, "'%s' is not a token: the timed scheme's keys are A0 to C8",
                       cn_token_visible(name, shown));
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
                       cn_token_visible(name, shown));
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
                       cn_token_visible(name, shown));
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

/* The keys as the original voiced them (tokens.h). */
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

CnRenderOptions cn_render_defaults(void)
{
    return (CnRenderOptions){.ppqn = 480, .step_quarters = 0.5, .length_quarters = 1.0,
                             .velocity = 90, .channel = 0};
}
