/* continuo jack's audio thread: the process callback moves the cycle's MIDI from the
 * input port through the engine to the output port, and follows the JACK transport.
 * Nothing here allocates, locks, prints or sleeps (tests/check_rt_symbols.sh). */
#include <jack/midiport.h>
#include <jack/transport.h>
#include <math.h>
#include <time.h>

#include "jack_client.h"

/* Real-time checks of the test suite hook in here (tests/rt_trap.c); unset otherwise. */
__attribute__((weak)) void continuo_rt_enter(void);
__attribute__((weak)) void continuo_rt_leave(void);

/* Tempo and beat grid from a timebase master, when one runs and the transport rolls. */
static void follow_transport(JackClient *c)
{
    jack_position_t pos;
    int rolling = jack_transport_query(c->client, &pos) == JackTransportRolling;
    if (c->was_rolling && !rolling)
        cn_engine_rt_panic(c->engine); /* the transport stopped: so does the music */
    c->was_rolling = rolling;
    if (!rolling || !(pos.valid & JackPositionBBT) || pos.beats_per_minute <= 0 ||
        pos.ticks_per_beat <= 0)
        return;
    double frames_per_beat = pos.frame_rate * 60.0 / pos.beats_per_minute;
    double into_beat = pos.tick / pos.ticks_per_beat * frames_per_beat;
    cn_engine_rt_set_tempo(c->engine, pos.beats_per_minute,
                           c->frame - (uint64_t)fmin((double)c->frame, into_beat));
}

/* The callback's duration, for the counters printed at exit. */
static void account(JackClient *c, const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    uint64_t ns = (uint64_t)((t1.tv_sec - t0->tv_sec) * 1000000000L + (t1.tv_nsec - t0->tv_nsec));
    if (ns > atomic_load_explicit(&c->worst_ns, memory_order_relaxed))
        atomic_store_explicit(&c->worst_ns, ns, memory_order_relaxed);
    uint64_t us = ns / 1000 < 4095 ? ns / 1000 : 4095;
    atomic_fetch_add_explicit(&c->histogram[us], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->cycles, 1, memory_order_relaxed);
}

int continuo_jack_process(jack_nframes_t n_frames, void *arg)
{
    JackClient *c = arg;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (continuo_rt_enter)
        continuo_rt_enter();
    uint32_t frame32 = jack_last_frame_time(c->client);
    c->frame += c->clock_started ? (uint32_t)(frame32 - c->last_frame32) : frame32;
    c->last_frame32 = frame32;
    c->clock_started = 1;
    follow_transport(c);

    void *in = jack_port_get_buffer(c->in, n_frames);
    uint32_t n_events = jack_midi_get_event_count(in);
    int n_in = 0;
    for (uint32_t i = 0; i < n_events && n_in < JACK_MAX_IN; i++) {
        jack_midi_event_t ev;
        if (jack_midi_event_get(&ev, in, i) == 0)
            c->in_events[n_in++] = (CnMidiEvent){.offset = ev.time, .size = (uint32_t)ev.size,
                                                 .data = ev.buffer};
    }
    if (n_events > JACK_MAX_IN)
        atomic_fetch_add_explicit(&c->in_overflow, n_events - JACK_MAX_IN, memory_order_relaxed);
    int n_out = cn_engine_rt_cycle(c->engine, c->frame, n_frames, c->in_events, n_in,
                                   c->cycle_flags, c->out_events, JACK_MAX_OUT);
    void *out = jack_port_get_buffer(c->out, n_frames);
    jack_midi_clear_buffer(out);
    for (int i = 0; i < n_out; i++)
        jack_midi_event_write(out, c->out_events[i].offset, c->out_events[i].data,
                              c->out_events[i].size);

    if (continuo_rt_leave)
        continuo_rt_leave();
    account(c, &t0);
    return 0;
}

int continuo_jack_xrun(void *arg)
{
    atomic_fetch_add(&((JackClient *)arg)->xruns, 1);
    return 0;
}
