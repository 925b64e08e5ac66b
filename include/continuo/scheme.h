/* A token scheme owns both directions, offline and live, behind one table chosen once:
 * a file to tokens and tokens to notes (the offline programs, the trainer), a key event
 * heard and a token played (the live engine). The live functions work on the scheme's grid
 * and fill arrays; the file functions are loops over them, so a file, a call played live,
 * a generated piece and an answer cannot drift apart (docs/TOKENS.md). Pure, no I/O; the
 * live functions allocate nothing and are bounded. */
#ifndef CONTINUO_SCHEME_H
#define CONTINUO_SCHEME_H

#include <stdint.h>

#include "continuo/tokens.h"

/* A key going down or up: where on the scheme's grid (steps: twelfths of a beat for the
 * timed scheme, eighths for the original), and, for the live chord window, its frame. A
 * release names the strike it ends (a file's note; live, the oldest strike of its key on
 * its channel, as a file's reader pairs them): a key struck again sounds by the later
 * strike, and only that strike's release lets it go. */
typedef struct {
    int64_t step;
    uint64_t frame;
    uint32_t strike;  /* the strike's number (a note-on's; a release: the one it ends) */
    uint8_t down;
    uint8_t key;
    uint8_t velocity;
    uint8_t channel;
} CnKeyEvent;

/* The most tokens one call of the ear or the player writes. */
#define CN_SCHEME_MOST_OUT 256
/* Key events of one grid step the timed ear keeps before it writes them in order. */
#define CN_EAR_MOST_PENDING 64

/* What the live hearing keeps between events. The timed ear writes a step's events when
 * time has moved past it, in a file's order (releases first, then strikes, each by key);
 * the original's ear gathers the keys struck within the chord window into one token. */
typedef struct {
    /* timed */
    int64_t now;                  /* the step the tokens written have reached */
    int started;                  /* something was heard: time counts from there */
    int level;                    /* the velocity level written last, -1 none */
    int64_t longest_silence;      /* a longer silence is heard as this many steps; 0: as it is */
    int64_t down_at[128];         /* step + 1 where each sounding key went down; 0: up */
    uint32_t holder[128];         /* the strike that sounds each key */
    CnKeyEvent pending[CN_EAR_MOST_PENDING]; /* the events of the step `pending_step` */
    int n_pending;
    int64_t pending_step;
    /* original */
    uint64_t chord_window;        /* frames: keys struck within it are one chord */
    uint8_t chord_keys[16];
    int n_chord;
    uint64_t chord_start;         /* frame of the chord's first key */
} CnEar;

/* What the live player keeps between tokens: the keys it sounds, where they go up. */
typedef struct {
    int64_t now;                  /* the step the tokens played have reached */
    int level;                    /* timed: the level of the next strikes, -1: velocity's */
    uint8_t velocity;             /* the velocity of strikes no level sets */
    int64_t down_at[128];         /* step + 1 where each sounding key went down; 0: up */
    int64_t up_at[128];           /* the step each sounding key goes up, INT64_MAX: not
                                     known (until a token says) */
    int64_t longest_at[128];      /* the step it goes up at the latest, INT64_MAX: none */
} CnPlayer;

typedef struct {
    CnScheme scheme;
    int steps_per_beat;           /* the grid the scheme plays on */
    /* offline */
    int (*tokenize)(const CnMidi *midi, CnTokenStream *out, CnError *err);
    int (*render)(const CnToken *tokens, size_t n_tokens, const CnRenderOptions *options,
                  CnNote **notes, size_t *n_notes, double *quarters, CnError *err);
    /* live: the ear (key events to tokens) */
    int (*hear)(CnEar *ear, const CnKeyEvent *event, CnToken *out);
    /* time has reached step (frame): what the ear holds that is due by then (frame
       UINT64_MAX: all it holds) */
    int (*hear_until)(CnEar *ear, int64_t step, uint64_t frame, CnToken *out);
    /* nothing is played up to step: that silence is heard (before an answer) */
    int (*hear_silence)(CnEar *ear, int64_t step, CnToken *out);
    /* live: the player (tokens to key events, in step order) */
    int (*play)(CnPlayer *player, CnToken token, CnKeyEvent *out);
    /* every key still down goes up: those whose end is known then, the rest at `step` (a
       key that went down there a step later) or at their longest, if sooner */
    int (*play_end)(CnPlayer *player, int64_t step, CnKeyEvent *out);
    /* the token that lets key go, if the scheme has one (0), else -1 */
    int (*release)(uint8_t key, CnToken *token);
} CnSchemeOps;

const CnSchemeOps *cn_scheme_ops(CnScheme scheme);

/* chord_window (frames) for the original's ear; longest_silence (steps, 0: none) for the
   timed ear's. */
void cn_ear_reset(CnEar *ear, uint64_t chord_window, int64_t longest_silence);
/* The ear has been told to stand at step with the level in force (the answer the model
   played is what it heard last). */
void cn_ear_resume(CnEar *ear, int64_t step, int level);
/* Whether the ear keeps something it writes once time has passed step (timed) or frame
   (the original's chord window). */
int cn_ear_waiting(const CnEar *ear, int64_t *step, uint64_t *frame);
/* The keys sound at velocity (original) or the level (timed) until a token says else. */
void cn_player_reset(CnPlayer *player, int level, uint8_t velocity);
/* The first key the player holds that is due up by step, or -1. */
int cn_player_due(const CnPlayer *player, int64_t step);
/* How many keys the player holds whose end no token has said yet; the one held longest. */
int cn_player_holding(const CnPlayer *player, int *oldest);

#endif
