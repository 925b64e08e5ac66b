/* The tempo follower (continuo/tempo.h). */
#include "continuo/tempo.h"

void cn_tempo_init(CnTempoFollower *t, double rate, double default_bpm, int follow_clock,
                   double jitter)
{
    *t = (CnTempoFollower){.rate = rate, .base_bpm = default_bpm, .default_bpm = default_bpm,
                           .follow_clock = follow_clock, .bpm = default_bpm};
    cn_clock_init(&t->clock, jitter);
}

int cn_tempo_clock_message(CnTempoFollower *t, const uint8_t *bytes, size_t size,
                           uint64_t frame)
{
    uint8_t status = size >= 1 ? bytes[0] : 0;
    if (status != 0xf8 && status != 0xfa && status != 0xfb && status != 0xfc && status != 0xf2)
        return 0;
    if (!t->follow_clock)
        return 1;
    double beat_time = 0;
    if (status == 0xf8) {
        double bpm = cn_clock_tick(&t->clock, (double)frame / t->rate, &beat_time);
        if (cn_bpm_in_range(bpm)) { /* a clock outside the range is not followed */
            t->clock_bpm = bpm;
            t->clock_beat_frame = (uint64_t)(beat_time * t->rate + 0.5);
        }
    } else if (status == 0xfa) {
        cn_clock_start(&t->clock);
    } else if (status == 0xfc) {
        t->stopped = 1; /* the player's sequencer stopped: so does the music */
    } else if (status == 0xf2 && size >= 3) {
        cn_clock_song_position(&t->clock, (unsigned)(bytes[1] | bytes[2] << 7));
    }
    return 1;
}

static void set(CnTempoFollower *t, CnTempoSource source, double bpm, uint64_t beat_frame)
{
    t->changed |= source != t->source || bpm != t->bpm || beat_frame != t->beat_frame;
    t->source = source;
    t->bpm = bpm;
    t->beat_frame = beat_frame;
}

void cn_tempo_follow(CnTempoFollower *t, const CnTransport *transport, uint64_t frame)
{
    int rolling = transport && transport->rolling;
    t->default_bpm = transport && !rolling && cn_bpm_in_range(transport->bpm) ? transport->bpm
                                                                             : t->base_bpm;
    if (t->was_rolling && !rolling)
        t->stopped = 1; /* the transport stopped: so does the music */
    t->was_rolling = rolling;
    int clock_running = t->follow_clock && cn_clock_running(&t->clock, (double)frame / t->rate);
    if (!clock_running)
        t->clock_bpm = 0; /* a clock that comes back starts its estimate anew */
    if (rolling && cn_bpm_in_range(transport->bpm))
        set(t, CN_TEMPO_TRANSPORT, transport->bpm,
            transport->has_bar ? transport->bar_frame : t->beat_frame);
    else if (clock_running && t->clock_bpm > 0)
        set(t, CN_TEMPO_CLOCK, t->clock_bpm, t->clock_beat_frame);
    else if (t->source != CN_TEMPO_DEFAULT || t->bpm != t->default_bpm)
        set(t, CN_TEMPO_DEFAULT, t->default_bpm, t->beat_frame); /* on the last beat grid */
}
