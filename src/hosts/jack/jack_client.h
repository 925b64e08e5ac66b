/* continuo jack's client: what the process callback (process.c, the audio thread) shares
 * with the main thread (cmd_jack.c). Fields say which thread writes them. */
#ifndef CONTINUO_JACK_CLIENT_H
#define CONTINUO_JACK_CLIENT_H

#include <jack/jack.h>
#include <stdatomic.h>

#include "continuo/engine.h"
#include "continuo/ring.h"
#include "continuo/tempo.h"
#include "play_args.h"

#define JACK_MAX_IN 1024  /* player events one cycle takes (more are counted, not heard) */
#define JACK_MAX_OUT 256  /* events one cycle writes at most */

typedef struct {
    /* Set up by the main thread before activation, read by the process callback */
    jack_client_t *client;
    jack_port_t *in, *out;
    CnEngine *engines[CLI_MAX_MODELS]; /* one a model, all made before activation */
    int n_engines;
    int control_channel;     /* where a program change picks the model; -1: any */
    _Atomic int learning;    /* --learn: the callback only passes control changes on */
    CnRing learned;          /* control changes heard while learning (3 bytes each) */
    _Atomic unsigned cycle_flags; /* CN_CYCLE_*; the main thread turns the clock off at exit */
    double rate;             /* the server's frames per second */

    /* Process callback only (current: the main thread may read it) */
    CnEngine *engine;        /* the one playing, of engines[] */
    _Atomic int current;
    uint64_t frame;          /* 64-bit frame clock (JACK's wraps after a day) */
    uint32_t last_frame32;
    int clock_started;
    CnTempoFollower tempo;   /* a JACK timebase master rolling the transport, a MIDI clock
                                on the input (with --clock-in), --bpm */
    CnMidiEvent in_events[JACK_MAX_IN], out_events[JACK_MAX_OUT];

    /* Written by the callbacks, read by the main thread */
    _Atomic uint64_t worst_ns, cycles, in_overflow;
    _Atomic uint32_t histogram[4096]; /* callbacks by duration in microseconds (last: more) */
    _Atomic uint32_t xruns;
    _Atomic int shutdown;    /* the server went away */
} JackClient;

/* The JACK callbacks, on JACK's threads. */
int continuo_jack_process(jack_nframes_t n_frames, void *arg); /* audio thread */
int continuo_jack_xrun(void *arg);

#endif
