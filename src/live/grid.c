/* Frames to grid points and back, on the beat grid the audio side last set (a tempo and
 * an origin on a beat). Grid points are counted from the origin at a thousandth of a
 * frame, so that a tempo whose beat is no whole number of frames does not drift; each
 * call reads the grid as it is now, so a tempo or beat that changes mid-answer (a DAW's,
 * a clock's, re-anchored every beat) is followed in phase, not just in spacing. */
#include "worker.h"

#include <math.h>

uint64_t cn_grid_beat(CnEngine *e)
{
    return atomic_load(&e->frames_per_beat_milli) / 1000;
}

double cn_grid_exact_beat(CnEngine *e)
{
    return (double)atomic_load(&e->frames_per_beat_milli) / 1000.0;
}

uint64_t cn_grid_next_eighth_point(CnEngine *e, uint64_t frame)
{
    double eighth = cn_grid_exact_beat(e) / 2;
    uint64_t origin = atomic_load(&e->grid_origin);
    if (eighth < 1)
        return frame;
    if (frame <= origin)
        return origin;
    uint64_t k = (uint64_t)ceil(((double)(frame - origin) - 0.5) / eighth);
    return origin + (uint64_t)llround((double)k * eighth);
}

uint64_t cn_grid_nearest(CnEngine *e, uint64_t frame, int steps_per_beat)
{
    double t = cn_grid_exact_beat(e) / steps_per_beat;
    uint64_t origin = atomic_load(&e->grid_origin);
    if (frame <= origin || t < 1)
        return frame;
    double k = floor((double)(frame - origin) / t + 0.5);
    return origin + (uint64_t)llround(k * t);
}

int64_t cn_grid_steps(CnEngine *e, uint64_t frame, int steps_per_beat)
{
    double t = cn_grid_exact_beat(e) / steps_per_beat;
    uint64_t origin = atomic_load(&e->grid_origin);
    return frame >= origin ? (int64_t)floor((double)(frame - origin) / t + 0.5)
                           : -(int64_t)floor((double)(origin - frame) / t + 0.5);
}

/* That many beats, or up to the bar line that many bars on (bars counted from the grid's
 * origin; an answer starting up to half a beat after a bar line counts from that line). */
uint64_t cn_grid_length_span(CnEngine *e, uint64_t start)
{
    const CnEngineOptions *o = &e->options;
    double beat = cn_grid_exact_beat(e), bar = CN_BEATS_PER_BAR * beat;
    if (o->length_unit == CN_LENGTH_BEATS)
        return (uint64_t)llround(o->length * beat);
    if (o->length_unit != CN_LENGTH_BARS)
        return 0;
    double origin = (double)atomic_load(&e->grid_origin);
    double end = (double)start + o->length * bar - beat / 2;
    double bars = ceil((end - origin) / bar);
    return (uint64_t)llround(origin + bars * bar) - start;
}
