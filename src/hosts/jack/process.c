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

/* Tempo and beat grid from a timebase master, when one runs and the transport rolls: 1
 * when it gave them. */
static int follow_transport(JackClient *c)
{
    jack_position_t pos;
    int rolling = jack_transport_query(c->client, &pos) == JackTransportRolling;
    if (c->was_rolling && !rolling)
        cn_engine_rt_panic(c->engine); /* the transport stopped: so does the music */
    c->was_rolling = rolling;
    if (!rolling || !(pos.valid & JackPositionBBT) || pos.beats_per_minute <= 0 ||
        pos.ticks_per_beat <= 0)
        return 0;
    double frames_per_beat = pos.frame_rate * 60.0 / pos.beats_per_minute;
    /* the bar's first beat: bars (--length Nbars) end on the DAW's bar lines */
    double beat_in_bar = pos.beat >= 1 ? pos.beat - 1 : 0; /* (1 is the bar's first) */
    double into_bar = (beat_in_bar + pos.tick / pos.ticks_per_beat) * frames_per_beat;
    c->beat_frame = c->frame - (uint64_t)fmin((double)c->frame, into_bar);
    c->bpm_now = pos.beats_per_minute;
    cn_engine_rt_set_tempo(c->engine, c->bpm_now, c->beat_frame);
    return 1;
}

/* A system real-time or song position message from the player, for the clock follower:
 * 1 when it was one (it is not a note for the engine either way). */
static int follow_clock(JackClient *c, const CnMidiEvent *ev, double rate)
{
    uint8_t status = ev->size >= 1 ? ev->data[0] : 0;
    if (status != 0xf8 && status != 0xfa && status != 0xfb && status != 0xfc && status != 0xf2)
        return 0;
    if (!c->clock_in)
        return 1;
    double t = (double)(c->frame + ev->offset) / rate, beat_time = 0;
    if (status == 0xf8) {
        double bpm = cn_clock_tick(&c->clock, t, &beat_time);
        if (cn_bpm_in_range(bpm)) { /* a clock outside this range is not followed */
            c->clock_bpm = bpm;
            c->beat_frame = (uint64_t)(beat_time * rate + 0.5);
        }
    } else if (status == 0xfa) {
        cn_clock_start(&c->clock);
    } else if (status == 0xfc) {
        cn_engine_rt_panic(c->engine); /* the player's sequencer stopped: so do we */
    } else if (status == 0xf2 && ev->size == 3) {
        cn_clock_song_position(&c->clock, (unsigned)(ev->data[1] | ev->data[2] << 7));
    }
    return 1;
}

/* The tempo by the first source that gives one; back to --bpm, on the last beat grid,
 * when the others are gone. */
static void follow_tempo(JackClient *c, double rate)
{
    int source = TEMPO_BPM;
    if (follow_transport(c))
        source = TEMPO_TRANSPORT;
    else if (c->clock_in && c->clock_bpm > 0 && cn_clock_running(&c->clock, (double)c->frame / rate))
        source = TEMPO_CLOCK;
    if (source == TEMPO_CLOCK) {
        c->bpm_now = c->clock_bpm;
        cn_engine_rt_set_tempo(c->engine, c->bpm_now, c->beat_frame);
    } else if (source == TEMPO_BPM && c->tempo_source != TEMPO_BPM) {
        c->bpm_now = c->default_bpm;
        cn_engine_rt_set_tempo(c->engine, c->bpm_now, c->beat_frame);
    }
    if (source != TEMPO_CLOCK && !cn_clock_running(&c->clock, (double)c->frame / rate))
        c->clock_bpm = 0; /* a clock that comes back starts its estimate anew */
    c->tempo_source = source;
    cn_engine_rt_tempo_free(c->engine, source == TEMPO_BPM); /* the player's beat, found */
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
    double rate = c->rate;
    void *in = jack_port_get_buffer(c->in, n_frames);
    uint32_t n_events = jack_midi_get_event_count(in);
    int n_in = 0, pick = -1;
    for (uint32_t i = 0; i < n_events && n_in < JACK_MAX_IN; i++) {
        jack_midi_event_t ev;
        if (jack_midi_event_get(&ev, in, i) != 0)
            continue;
        c->in_events[n_in] = (CnMidiEvent){.offset = ev.time, .size = (uint32_t)ev.size,
                                           .data = ev.buffer};
        follow_clock(c, &c->in_events[n_in], rate); /* and thru, as everything played */
        int model = cli_program_change(ev.buffer, (uint32_t)ev.size, c->n_engines,
                                       c->control_channel);
        pick = model >= 0 ? model : pick;
        n_in++;
    }
    int n_released = 0;
    if (pick >= 0 && c->engines[pick] != c->engine) { /* another model: made before, swapped */
        n_released = cn_engine_rt_release_all(c->engine, c->out_events, JACK_MAX_OUT);
        cn_engine_rt_panic(c->engine); /* what it prepared is dropped, not kept for later */
        double bpm;
        uint64_t beat_frame;
        cn_engine_rt_tempo(c->engine, &bpm, &beat_frame); /* the beat it played on */
        c->engine = c->engines[pick];
        atomic_store_explicit(&c->current, pick, memory_order_relaxed);
        cn_engine_rt_set_tempo(c->engine, bpm, beat_frame);
    }
    follow_tempo(c, rate);
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
