/* The MIDI clock follower (continuo/clock.h). */
#include "continuo/clock.h"

void cn_clock_init(CnClockFollower *clock, double jitter)
{
    *clock = (CnClockFollower){.jitter = jitter};
}

void cn_clock_start(CnClockFollower *clock)
{
    clock->ticks = 0;
    clock->last_tick = 0;
    clock->n_intervals = 0;
}

void cn_clock_song_position(CnClockFollower *clock, unsigned sixteenths)
{
    clock->ticks = (uint64_t)sixteenths * 6; /* the tempo estimate goes on */
}

double cn_clock_tick(CnClockFollower *c, double t, double *beat_time)
{
    double gap = t - c->last_tick;
    int restart = c->ticks > 0 && c->n_intervals > 0 && (gap > 4 * c->interval || gap <= 0);
    if (c->ticks > 0 && !restart && c->n_intervals >= 24 && gap - c->interval > c->jitter) {
        int spanned = (int)(gap / c->interval + 0.5); /* ticks this gap held, this one included */
        if (spanned >= 2) {
            c->ticks += (uint64_t)(spanned - 1);
            c->n_missed += (uint64_t)(spanned - 1);
            gap /= spanned;
        }
    }
    if (c->ticks > 0 && !restart) {
        /* an average over about a beat smooths the jitter of a clock sent by a thread */
        double weight = c->n_intervals < 24 ? 1.0 / (c->n_intervals + 1) : 1.0 / 24;
        c->interval = c->n_intervals == 0 ? gap : c->interval + weight * (gap - c->interval);
        c->n_intervals++;
    } else if (restart) {
        c->n_intervals = 0;
    }
    if (c->ticks % 24 == 0)
        *beat_time = t;
    else if (c->n_intervals > 0)
        *beat_time = t - (double)(c->ticks % 24) * c->interval;
    c->last_tick = t;
    c->ticks++;
    if (c->n_intervals < 24 || c->interval <= 0)
        return 0;
    return 60.0 / (24.0 * c->interval);
}

int cn_clock_running(const CnClockFollower *c, double t)
{
    if (c->ticks == 0 || t < c->last_tick)
        return c->ticks > 0;
    double limit = c->n_intervals > 0 && c->interval > 0 ? 4 * c->interval : 0.5;
    return t - c->last_tick <= limit;
}
