/* The engine's worker, composed of one struct per concern: the keyboard (keyboard.h),
 * what the model has heard (the scheme's ear, and where its steps fall on the frames),
 * the call-and-response machine, and the answer (the scheme's player, and the model state
 * it samples from). Shared by engine.c (the machine, the worker's loop, creation),
 * answer.c (answers and continuous play) and grid.c (frames to grid points and back).
 * Internal to the live layer; worker side only. */
#ifndef CONTINUO_WORKER_H
#define CONTINUO_WORKER_H

#include "engine_impl.h"
#include "call.h"
#include "keyboard.h"
#include "continuo/scheme.h"

#define MAX_ANSWER CN_ENGINE_MAX_LENGTH
/* An answer's tokens at most: a timed note takes three or four (on, off, velocity, shift). */
#define MAX_ANSWER_EVENTS (4 * MAX_ANSWER)

/* What the model has heard: the ear, and a frame with the ear's step there, from which the
 * steps of later frames are counted on the grid as it is then (a grid whose origin moves,
 * a DAW's bar start, does not move the steps already heard). */
typedef struct {
    CnEar ear;
    uint64_t frame;
    int64_t step;
} Hearing;

/* Call and response (respond mode), one state at a time. */
typedef enum {
    PHASE_IDLE,            /* nothing heard since the last answer */
    PHASE_LISTENING,       /* a call goes on, or waits for its answer */
    PHASE_ANSWERING,       /* an answer plays; the player's next note cuts it */
    PHASE_ANSWERING_OVER,  /* an answer given while the call went on (its longest listen):
                              the player does not cut it */
    PHASE_OVER_LISTENING,  /* ... and the player has begun the next call meanwhile */
} Phase;

typedef struct {
    Phase phase;
    int end_call, mutate, loop; /* the player's controls, until acted on (loop: while on) */
    uint64_t call_start;     /* frame of the call's first note */
    int call_tokens;         /* tokens heard in it that strike keys */
    int call_length;         /* the length of the last answered call's answer */
    int have_call;           /* call_state holds a call that was answered (for mutate) */
    CnState call_state;      /* the listening state when the last answer began */
    CnCall call;             /* the call, kept to be heard again on its own beat */
    int shown_state;         /* the state last sent as state CC: -1 none yet */
} Dialogue;

/* An answer being prepared or played, or continuous play (its tokens are not kept). */
typedef struct {
    CnPlayer player;         /* the keys it sounds, in the scheme's steps */
    CnTimedHolds told;       /* what the model was told it holds, to let go at the longest */
    uint64_t next;           /* the frame of the player's step: where the next token plays */
    uint64_t end;            /* UINT64_MAX until all of the answer is scheduled */
    int ids[MAX_ANSWER_EVENTS];
    uint64_t frames[MAX_ANSWER_EVENTS];
    int8_t levels[MAX_ANSWER_EVENTS]; /* the player's level after each */
    int length;              /* tokens it may have (a pass of a loop: those it had) */
    int sampled;             /* tokens sampled and scheduled so far */
    int notes;               /* of them, those that struck keys */
    int replaying;           /* a loop's later pass: the same tokens again */
    int lead_skipped;        /* steps of time before its first note, not waited for */
    uint64_t last_note_on;   /* frame of its latest strike (or of its start) */
    uint64_t pass_start;     /* where it, or its loop's current pass, began */
    uint64_t span;           /* frames an answer in beats or bars lasts; 0: it counts */
    CnState scratch;         /* an answer is sampled on a copy of the listening state */
} Answer;

struct CnWorker {
    const CnSchemeOps *scheme;
    int mode;                /* the mode the worker last acted in */
    CnKeyboard keyboard;
    Hearing hearing;
    Dialogue dialogue;
    Answer answer;
    uint64_t scheduled_until; /* continuous: the frame of the next token */
    CnKeyEvent released[16 * 128]; /* keys let go at once (All Notes Off, lost note-offs) */
    uint32_t seen_panic;
    double step_seconds;     /* a model step's time here, a moving average of the slow ones */
    double velocity;         /* recent loudness of the player */
};
typedef struct CnWorker Worker;

/* grid.c: the beat grid as the audio side last set it. */
uint64_t cn_grid_beat(CnEngine *e);             /* frames a beat, whole */
double cn_grid_exact_beat(CnEngine *e);         /* to the thousandth */
uint64_t cn_grid_next_eighth_point(CnEngine *e, uint64_t frame); /* at or after frame */
/* The grid point nearest frame at steps_per_beat points a beat (frame itself before the
   origin). */
uint64_t cn_grid_nearest(CnEngine *e, uint64_t frame, int steps_per_beat);
/* Points of steps_per_beat a beat from the origin to frame, to the nearest. */
int64_t cn_grid_steps(CnEngine *e, uint64_t frame, int steps_per_beat);
/* The frames an answer starting at start lasts in beats or bars (0: it counts notes). */
uint64_t cn_grid_length_span(CnEngine *e, uint64_t start);

/* engine.c: the model hears, steps. */
void cn_worker_step(CnEngine *e, CnState *state, int id);
void cn_worker_hear_token(CnEngine *e, CnToken token);
/* What the ear holds is heard; and, from a frame (not 0), the silence up to it. */
void cn_worker_hear_silence(CnEngine *e, Worker *w, uint64_t frame);
/* The ear's step at frame (a later frame becomes the one later steps count from). */
int64_t cn_worker_hearing_step(CnEngine *e, Worker *w, uint64_t frame);

/* answer.c */
void cn_answer_start(CnEngine *e, Worker *w, uint64_t start, uint64_t now, int again);
void cn_answer_extend(CnEngine *e, Worker *w, uint64_t horizon);
/* The played part (before played_until) goes into the listening state. */
void cn_answer_finish(CnEngine *e, Worker *w, uint64_t played_until);
void cn_answer_cancel(CnEngine *e, Worker *w);
void cn_play_on(CnEngine *e, Worker *w, uint64_t now);
/* Token id played by the player at *frame: its key events go into the output ring, and
   *frame moves on to where it moved time. Returns whether it struck keys. */
int cn_answer_play(CnEngine *e, Worker *w, CnPlayer *player, int id, uint64_t *frame);
/* The player at frame lets every key go, those it holds unended at `end`; returns the
   frame of its last release (or end). */
uint64_t cn_answer_play_end(CnEngine *e, Worker *w, CnPlayer *player, uint64_t frame,
                            uint64_t end);
uint64_t cn_answer_sample_ahead(CnEngine *e);
uint64_t cn_answer_prepare_ahead(CnEngine *e);

#endif
