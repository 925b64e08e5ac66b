/* The call kept to be heard again on its own beat (call.h). */
#include "call.h"

#include <string.h>

#include "continuo/beat.h"
#include "continuo/tokens.h"

int cn_call_init(CnCall *call, const CnModel *model, CnError *err)
{
    memset(call, 0, sizeof *call);
    return cn_state_init(&call->before, model, CN_MODE_STATEFUL, 0, err);
}

void cn_call_free(CnCall *call)
{
    cn_state_free(&call->before);
}

void cn_call_begin(CnCall *call, const CnState *state, const CnEar *ear, uint64_t frame,
                   int64_t step)
{
    cn_state_copy(&call->before, state);
    call->before_ear = *ear;
    call->before_frame = frame;
    call->before_step = step;
    call->n_events = 0;
    call->overflow = 0;
}

void cn_call_add(CnCall *call, const CnKeyEvent *event)
{
    if (call->n_events == CN_CALL_MAX_EVENTS) {
        call->overflow = 1;
        return;
    }
    call->events[call->n_events++] = *event;
}

int cn_call_find_beat(const CnCall *call, double sample_rate, double guess_bpm, double *bpm,
                      uint64_t *beat_frame)
{
    double times[CN_CALL_MAX_EVENTS];
    float strength[CN_CALL_MAX_EVENTS];
    size_t n = 0;
    uint64_t first = 0;
    if (call->overflow)
        return -1;
    for (int i = 0; i < call->n_events; i++) {
        const CnKeyEvent *ev = &call->events[i];
        if (!ev->down)
            continue;
        if (n == 0)
            first = ev->frame;
        times[n] = (double)(ev->frame - first) / sample_rate;
        strength[n++] = ev->velocity / 127.0f;
    }
    CnBeat beat;
    if (cn_beat_find(times, strength, n, guess_bpm, &beat))
        return -1;
    /* a beat at or before the call's first note (frames count from 0) */
    double period = 60.0 / beat.bpm * sample_rate, at = (double)first + beat.beat_time * sample_rate;
    while (at > (double)first + 0.5 * period / CN_TIMED_STEPS_PER_BEAT)
        at -= period;
    while (at < 0)
        at += period;
    *bpm = beat.bpm;
    *beat_frame = (uint64_t)(at + 0.5);
    return 0;
}
