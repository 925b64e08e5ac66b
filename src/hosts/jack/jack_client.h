/* continuo jack's client: what the process callback (process.c, the audio thread) shares
 * with the main thread (cmd_jack.c). Fields say which thread writes them. */
#ifndef CONTINUO_JACK_CLIENT_H
#define CONTINUO_JACK_CLIENT_H

#include <jack/jack.h>
#include <stdatomic.h>

#include "continuo/engine.h"

#define JACK_MAX_IN 1024  /* player events one cycle takes (more are counted, not heard) */
#define JACK_MAX_OUT 256  /* events one cycle writes at most */

typedef struct {
    /* Set up by the main thread before activation, read by the process callback */
    jack_client_t *client;
    jack_port_t *in, *out;
    CnEngine *engine;
    unsigned cycle_flags;    /* CN_CYCLE_* */

    /* Process callback only */
    uint64_t frame;          /* 64-bit frame clock (JACK's wraps after a day) */
    uint32_t last_frame32;
    int clock_started;
    int was_rolling;
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
