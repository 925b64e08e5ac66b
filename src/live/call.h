/* A call as the engine heard it (respond mode): its key events in order and the listening
 * state from before it, so that once the call's own beat is found (continuo/beat.h) it can
 * be heard again on that grid. Internal to the live layer; worker side only. */
#ifndef CONTINUO_CALL_H
#define CONTINUO_CALL_H

#include <stdint.h>

#include "continuo/state.h"

/* Key events a call is kept with at most; a longer call keeps the grid it was heard on. */
#define CN_CALL_MAX_EVENTS 512

typedef struct {
    uint64_t frame;
    uint8_t kind;     /* CN_EVENT_ON or CN_EVENT_OFF */
    uint8_t key, velocity;
} CnCallEvent;

typedef struct {
    CnCallEvent events[CN_CALL_MAX_EVENTS];
    int n_events;
    int overflow;             /* it had more */
    CnState before;           /* the listening state when it began */
    uint64_t before_frame;    /* the frame that state had heard up to */
    int before_level;         /* the velocity level it had heard last, -1 none */
    uint64_t before_heard;    /* the engine's count of tokens heard then (its log) */
} CnCall;

int cn_call_init(CnCall *call, const CnModel *model, CnError *err);
void cn_call_free(CnCall *call);

/* A call begins: the listening state as it is now is kept. */
void cn_call_begin(CnCall *call, const CnState *state, uint64_t heard_frame, int heard_level);

void cn_call_add(CnCall *call, uint64_t frame, uint8_t kind, uint8_t key, uint8_t velocity);

/* The beat of the call's note-ons (cn_beat_find, guessing guess_bpm): 0 with the tempo and
 * a frame on a beat at or before its first note; -1 when it has too few notes, was too long
 * to keep, or no grid fits. */
int cn_call_find_beat(const CnCall *call, double sample_rate, double guess_bpm, double *bpm,
                      uint64_t *beat_frame);

#endif
