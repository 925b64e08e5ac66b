/* A call as the engine heard it (respond mode): its key events in order and the listening
 * state from before it, so that once the call's own beat is found (continuo/beat.h) it can
 * be heard again on that grid. Internal to the live layer; worker side only. */
#ifndef CONTINUO_CALL_H
#define CONTINUO_CALL_H

#include <stdint.h>

#include "continuo/scheme.h"
#include "continuo/state.h"

/* Key events a call is kept with at most; a longer call keeps the grid it was heard on. */
#define CN_CALL_MAX_EVENTS 512

typedef struct {
    CnKeyEvent events[CN_CALL_MAX_EVENTS]; /* at their frames (their steps are the grid's) */
    int n_events;
    int overflow;             /* it had more */
    CnState before;           /* the listening state when it began */
    CnEar before_ear;         /* the ear then */
    uint64_t before_frame;    /* a frame and the ear's step there, as they were then */
    int64_t before_step;
    uint64_t before_heard;    /* the engine's count of tokens heard then (its log) */
} CnCall;

int cn_call_init(CnCall *call, const CnModel *model, CnError *err);
void cn_call_free(CnCall *call);

/* A call begins: the listening state and the ear as they are now are kept. */
void cn_call_begin(CnCall *call, const CnState *state, const CnEar *ear, uint64_t frame,
                   int64_t step);

void cn_call_add(CnCall *call, const CnKeyEvent *event);

/* The beat of the call's note-ons (cn_beat_find, guessing guess_bpm): 0 with the tempo and
 * a frame on a beat at or before its first note; -1 when it has too few notes, was too long
 * to keep, or no grid fits. */
int cn_call_find_beat(const CnCall *call, double sample_rate, double guess_bpm, double *bpm,
                      uint64_t *beat_frame);

#endif
