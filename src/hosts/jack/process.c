/* continuo jack's audio thread: the process callback moves the cycle's MIDI from the
 * input port through the engine to the output port, and follows the JACK transport.
 * Nothing here allocates, locks, prints or sleeps (tests/check_rt_symbols.sh). */
#include <jack/midiport.h>
#include <jack/transport.h>
#include <math.h>
#include <time.h>

#include "continuo/tempo.h"
#include "jack_client.h"

/* Real-time checks of the test suite hook in here (tests/rt_trap.c); unset otherwise. */
__attribute__((weak)) void continuo_rt_enter(void);
__attribute__((weak)) void continuo_rt_leave(void);

/* The JACK transport as the tempo follower reads it: rolling, and with a timebase
 * master's tempo and bar (bars, --length Nbars, end on the DAW's bar lines). */
static CnTransport transport(JackClient *c)
{
    jack_position_t pos;
    CnTransport t = {.rolling = jack_transport_query(c->client, &pos) == JackTransportRolling};
    if (!(pos.valid & JackPositionBBT) || pos.beats_per_minute <= 0 || pos.ticks_per_beat <= 0)
        return t;
    double frames_per_beat = pos.frame_rate * 60.0 / pos.beats_per_minute;
    double beat_in_bar = pos.beat >= 1 ? pos.beat - 1 : 0; /* (1 is the bar's first) */
    double into_bar = (beat_in_bar + pos.tick / pos.ticks_per_beat) * frames_per_beat;
    t.bpm = pos.beats_per_minute;
    t.has_bar = 1;
    t.bar_frame = c->frame - (uint64_t)fmin((double)c->frame, into_bar);
    return t;
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

/* --learn: the player's control changes go to the main thread, nothing is played. */
static void learn(JackClient *c, jack_nframes_t n_frames)
{
    void *in = jack_port_get_buffer(c->in, n_frames);
    uint32_t n_events = jack_midi_get_event_count(in);
    for (uint32_t i = 0; i < n_events && i < JACK_MAX_IN; i++) {
        jack_midi_event_t ev;
        if (jack_midi_event_get(&ev, in, i) == 0 && ev.size == 3 && (ev.buffer[0] & 0xf0) == 0xb0)
            cn_ring_push(&c->learned, ev.buffer);
    }
    jack_midi_clear_buffer(jack_port_get_buffer(c->out, n_frames));
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

    if (atomic_load_explicit(&c->learning, memory_order_acquire)) {
        learn(c, n_frames);
        if (continuo_rt_leave)
            continuo_rt_leave();
        account(c, &t0);
        return 0;
    }
    void *in = jack_port_get_buffer(c->in, n_frames);
    uint32_t n_events = jack_midi_get_event_count(in);
    int n_in = 0, pick = -1;
    for (uint32_t i = 0; i < n_events && n_in < JACK_MAX_IN; i++) {
        jack_midi_event_t ev;
        if (jack_midi_event_get(&ev, in, i) != 0)
            continue;
        c->in_events[n_in] = (CnMidiEvent){.offset = ev.time, .size = (uint32_t)ev.size,
                                           .data = ev.buffer};
        /* a clock message is followed (and passed thru, as everything played) */
        cn_tempo_clock_message(&c->tempo, ev.buffer, ev.size, c->frame + ev.time);
        int model = cli_program_change(ev.buffer, (uint32_t)ev.size, c->n_engines,
                                       c->control_channel);
        pick = model >= 0 ? model : pick;
        n_in++;
    }
    int n_released = 0;
    if (pick >= 0 && c->engines[pick] != c->engine) { /* another model: made before, swapped */
        n_released = cn_engine_rt_hand_over(c->engine, c->engines[pick], c->out_events,
                                            JACK_MAX_OUT);
        c->engine = c->engines[pick];
        atomic_store_explicit(&c->current, pick, memory_order_relaxed);
    }
    CnTransport now = transport(c);
    cn_tempo_follow(&c->tempo, &now, c->frame);
    cn_engine_rt_follow(c->engine, &c->tempo);
    if (n_events > JACK_MAX_IN)
        atomic_fetch_add_explicit(&c->in_overflow, n_events - JACK_MAX_IN, memory_order_relaxed);
    int n_out = n_released;
    n_out += cn_engine_rt_cycle(c->engine, c->frame, n_frames, c->in_events, n_in,
                                atomic_load_explicit(&c->cycle_flags, memory_order_relaxed),
                                c->out_events + n_released, JACK_MAX_OUT - n_released);
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
