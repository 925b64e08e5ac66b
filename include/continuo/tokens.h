/* Musical vocabularies, two schemes (docs/TOKENS.md):
 * - original: the Keras project's; a note is its pitch name ("C#4", "E-5"), a chord its
 *   normal-order pitch classes joined by dots ("4.9", "0.3.7"), one token an eighth.
 * - timed: events as they happen; a key goes down ("on:C#4") or up ("off:C#4"), time
 *   moves on by twelfths of a beat ("shift:3"), the loudness changes ("vel:9").
 * Pure, no I/O. */
#ifndef CONTINUO_TOKENS_H
#define CONTINUO_TOKENS_H

#include <stddef.h>
#include <stdint.h>

#include "continuo/midi_file.h"
#include "continuo/status.h"

#define CN_TOKEN_NAME_MAX 32 /* "0.1.2.3.4.5.6.7.8.9.10.11" plus NUL fits with room */

typedef enum { CN_SCHEME_ORIGINAL = 0, CN_SCHEME_TIMED = 1 } CnScheme;

/* The scheme's name as written in weights files and on the command line, and back. */
const char *cn_scheme_name(CnScheme scheme);
int cn_scheme_parse(const char *name, CnScheme *scheme, CnError *err);

/* What a token says: an original note or chord, or one of the timed events. */
typedef enum {
    CN_TOKEN_PITCHED = 0, /* original: a note, or a chord when is_chord */
    CN_EVENT_ON,          /* timed: key `pitch` goes down at the current velocity */
    CN_EVENT_OFF,         /* timed: key `pitch` goes up */
    CN_EVENT_SHIFT,       /* timed: time moves on by `pitch` twelfths of a beat */
    CN_EVENT_VELOCITY,    /* timed: the velocity of the next notes is level `pitch` */
} CnTokenKind;

typedef struct {
    uint8_t is_chord;
    uint8_t pitch;    /* MIDI key of a single note (when !is_chord); an event's value */
    uint16_t pc_mask; /* bit p set for pitch class p (C = 0) of a chord (when is_chord) */
    uint8_t kind;     /* CnTokenKind */
} CnToken;

/* The timed scheme's ranges: the piano's keys, shifts up to a 4/4 bar, velocity levels. */
#define CN_TIMED_LOWEST_KEY 21   /* A0 */
#define CN_TIMED_HIGHEST_KEY 108 /* C8 */
#define CN_TIMED_STEPS_PER_BEAT 12 /* holds sixteenths (3) and eighth triplets (4) */
#define CN_TIMED_MAX_SHIFT 48    /* twelfths: a bar of 4/4 */
#define CN_TIMED_N_VELOCITIES 16
#define CN_TIMED_LONGEST_NOTE (8 * CN_TIMED_STEPS_PER_BEAT) /* a note the model does not end
                                                               ends two bars of 4/4 later */

/* The keys a stream of timed events holds down. A note the stream does not end is ended
 * where it has sounded CN_TIMED_LONGEST_NOTE: whoever plays the stream (generate, the live
 * engine) releases the key there and feeds the release to the model as the event it is,
 * so that the model does not go on as if the key were still down. */
typedef struct {
    uint64_t now;          /* twelfths of a beat since the stream began */
    uint64_t down_at[128]; /* now + 1 when each held key went down; 0: up */
} CnTimedHolds;

void cn_timed_holds_reset(CnTimedHolds *holds);
/* Follows one event (anything but a shift, an on or an off changes nothing). */
void cn_timed_holds_add(CnTimedHolds *holds, CnToken token);
/* The key held longest that has sounded its longest by now, or -1. */
int cn_timed_holds_due(const CnTimedHolds *holds);

/* A MIDI velocity's level (0..15) and the velocity that level plays. */
int cn_velocity_level(uint8_t velocity);
uint8_t cn_level_velocity(int level);

/* A key brought into the piano's range by whole octaves (the timed scheme's pitches). */
uint8_t cn_timed_key(int key);

/* The token moved by semitones (-12..12): a note's key (kept within MIDI 12..127 by whole
 * octaves), a chord's pitch classes rotated, a timed key (within the piano's range by
 * octaves); time and loudness unchanged. */
CnToken cn_token_transpose(CnToken token, int semitones);

/* Writes the token's name ("C4", "E-5", "0.4.7") into name; returns its length. */
int cn_token_name(CnToken token, char name[CN_TOKEN_NAME_MAX]);

/* Parses a name written by cn_token_name (also accepts flats/sharps like "D-4", "A#3"). */
int cn_token_parse(const char *name, CnToken *token, CnError *err);

/* The token for notes struck together: one key gives a note, several a chord. */
CnToken cn_token_from_keys(const uint8_t *keys, size_t n_keys);

/* Normal order of a set of pitch classes (Forte's rules, as music21's normalOrder);
 * returns how many were written to order. */
int cn_normal_order(uint16_t pc_mask, int order[12]);

int cn_token_equal(CnToken a, CnToken b);

/* Whether the token strikes keys: an original note or chord, a timed on. */
int cn_token_strikes(CnToken token);

/* The most keys a token sounds: twelve pitch classes, or one and its octave. */
#define CN_TOKEN_MAX_KEYS 13

/* The keys a token sounds, as the original voiced them: a note its own key; a chord its
 * pitch classes from C4 to B4, low to high (a chord of one pitch class, which came from
 * octaves, adds the octave below). Returns how many were written. */
int cn_token_keys(CnToken token, uint8_t keys[CN_TOKEN_MAX_KEYS]);

/* ----- MIDI notes to tokens and back ------------------------------------------------- */

typedef struct {
    CnToken *tokens;   /* (n_tokens) in playing order */
    uint64_t *onsets;  /* (n_tokens) quantized onset, in twelfths of a quarter note */
    size_t n_tokens;
    size_t n_notes;    /* single-note tokens */
    size_t n_chords;   /* chord tokens */
    size_t n_dropped;  /* notes of other instruments and drums, left out */
    char warning[256]; /* empty, or one line saying what was left out and why */
} CnTokenStream;

/* Turns a parsed file into tokens the way the original project's music21 import did:
 * the first instrument's notes, chords from notes struck together in one track, onsets
 * quantized to sixteenths and eighth-note triplets. See docs/TOKENS.md. */
int cn_tokenize(const CnMidi *midi, CnTokenStream *out, CnError *err);

/* The same notes (the first instrument's) as timed events: onsets and releases on the
 * twelfth-of-a-beat grid, velocities in levels, pitches as played. onsets holds each
 * event's time in twelfths. n_notes counts note-ons; n_chords onsets shared by more than
 * one key. */
int cn_tokenize_timed(const CnMidi *midi, CnTokenStream *out, CnError *err);

/* cn_tokenize or cn_tokenize_timed. */
int cn_tokenize_scheme(const CnMidi *midi, CnScheme scheme, CnTokenStream *out, CnError *err);

void cn_token_stream_free(CnTokenStream *stream);

typedef struct {
    unsigned ppqn;          /* ticks per quarter in the produced notes */
    double step_quarters;   /* distance between token onsets; the original: 0.5 */
    double length_quarters; /* how long each note sounds; the original: 1.0 */
    uint8_t velocity;       /* the original wrote music21's default, 90 */
    uint8_t channel;
} CnRenderOptions;

/* The original's defaults: a token every eighth note, each a quarter note long. */
CnRenderOptions cn_render_defaults(void);

/* Renders tokens as notes, each voiced by cn_token_keys. *notes is allocated
 * here (free() it); *n_notes receives the count. */
int cn_render_tokens(const CnToken *tokens, size_t n_tokens, const CnRenderOptions *options,
                     CnNote **notes, size_t *n_notes, CnError *err);

/* Renders timed events as notes: each note from its on to its off (or to the next on of
 * its key, or CN_TIMED_LONGEST_NOTE, or a beat after the last event), at the velocity of
 * its level; shifts of quarters = 1/12 beat each. *notes is allocated here (free() it);
 * *quarters receives the length of the whole, in quarter notes. */
int cn_render_events(const CnToken *tokens, size_t n_tokens, const CnRenderOptions *options,
                     CnNote **notes, size_t *n_notes, double *quarters, CnError *err);

/* cn_render_tokens or cn_render_events, by scheme; *quarters (may be NULL) receives the
 * length of the whole, in quarter notes. */
int cn_render_scheme(const CnToken *tokens, size_t n_tokens, CnScheme scheme,
                     const CnRenderOptions *options, CnNote **notes, size_t *n_notes,
                     double *quarters, CnError *err);

/* ----- Vocabulary ---------------------------------------------------------------------- */

typedef struct {
    char (*names)[CN_TOKEN_NAME_MAX]; /* (n) sorted in byte order, as Python's sorted() */
    CnToken *tokens;                  /* (n) the token each name stands for */
    size_t n;
    CnScheme scheme;                  /* which scheme all its tokens belong to */
} CnVocab;

/* The timed scheme's whole vocabulary (it does not depend on the corpus: any key of the
 * piano, any shift, any level is known, so transposed and live music always fits). */
int cn_vocab_timed(CnVocab *vocab, CnError *err);

/* Builds the sorted set of every token in the given streams. */
int cn_vocab_build(const CnTokenStream *streams, size_t n_streams, CnVocab *vocab, CnError *err);

/* Builds a vocabulary from names (any order, no duplicates), all of one scheme. */
int cn_vocab_from_names(const char *const *names, size_t n_names, CnVocab *vocab, CnError *err);

/* Index of token in the vocabulary, or -1. */
int cn_vocab_index(const CnVocab *vocab, CnToken token);

/* Index of the closest token the vocabulary has: itself, else the same pitch class in the
 * nearest octave (notes), else the chord sharing most pitch classes. -1 if empty. */
int cn_vocab_nearest(const CnVocab *vocab, CnToken token);

void cn_vocab_free(CnVocab *vocab);

#endif
