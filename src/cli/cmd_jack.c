/* continuo jack: the play-along engine as a JACK MIDI client. process() only moves events
 * between the JACK port buffers and the engine's rings; everything else (loading, the
 * model, printing) happens before activation or on the main thread. */
#include <jack/jack.h>
#include <jack/midiport.h>
#include <jack/transport.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "play_args.h"
#include "continuo/engine.h"

/* Real-time checks of the test suite hook in here (tests/rt_trap.c); unset otherwise. */
__attribute__((weak)) void continuo_rt_enter(void);
__attribute__((weak)) void continuo_rt_leave(void);

typedef struct {
    jack_client_t *client;
    jack_port_t *in, *out;
    CnEngine engine;
    uint64_t frame;          /* 64-bit frame clock (JACK's wraps after a day) */
    uint32_t last_frame32;
    int clock_started;
    _Atomic uint64_t worst_ns, cycles;
    _Atomic uint32_t histogram[4096]; /* callbacks by duration in microseconds (last: more) */
    _Atomic uint32_t xruns;
    _Atomic int shutdown;    /* the server went away */
    int was_rolling;
} JackClient;

static volatile sig_atomic_t stop_requested = 0;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void write_event(uint32_t offset, const uint8_t *bytes, int size, void *user)
{
    jack_midi_event_write(user, offset, bytes, (size_t)size);
}

/* Tempo and beat grid from a timebase master, when one runs and the transport rolls. */
static void follow_transport(JackClient *c)
{
    jack_position_t pos;
    int rolling = jack_transport_query(c->client, &pos) == JackTransportRolling;
    if (c->was_rolling && !rolling)
        cn_engine_panic(&c->engine); /* the transport stopped: so does the music */
    c->was_rolling = rolling;
    if (!rolling || !(pos.valid & JackPositionBBT) || pos.beats_per_minute <= 0 ||
        pos.ticks_per_beat <= 0)
        return;
    double frames_per_beat = pos.frame_rate * 60.0 / pos.beats_per_minute;
    double into_beat = pos.tick / pos.ticks_per_beat * frames_per_beat;
    cn_engine_set_tempo(&c->engine, pos.beats_per_minute,
                        c->frame - (uint64_t)fmin((double)c->frame, into_beat));
}

static int process(jack_nframes_t n_frames, void *arg)
{
    JackClient *c = arg;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (continuo_rt_enter)
        continuo_rt_enter();
    uint32_t frame32 = jack_last_frame_time(c->client);
    c->frame += c->clock_started ? (uint32_t)(frame32 - c->last_frame32) : frame32;
    c->last_frame32 = frame32;
    c->clock_started = 1;
    cn_engine_rt_clock(&c->engine, c->frame);
    follow_transport(c);

    void *in = jack_port_get_buffer(c->in, n_frames);
    uint32_t n_in = jack_midi_get_event_count(in);
    for (uint32_t i = 0; i < n_in; i++) {
        jack_midi_event_t ev;
        if (jack_midi_event_get(&ev, in, i) == 0)
            cn_engine_rt_input(&c->engine, c->frame + ev.time, ev.buffer, ev.size);
    }
    void *out = jack_port_get_buffer(c->out, n_frames);
    jack_midi_clear_buffer(out);
    cn_engine_rt_output(&c->engine, c->frame, n_frames, 256, write_event, out);

    if (continuo_rt_leave)
        continuo_rt_leave();
    clock_gettime(CLOCK_MONOTONIC, &t1);
    uint64_t ns = (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000000L + (t1.tv_nsec - t0.tv_nsec));
    if (ns > atomic_load_explicit(&c->worst_ns, memory_order_relaxed))
        atomic_store_explicit(&c->worst_ns, ns, memory_order_relaxed);
    uint64_t us = ns / 1000 < 4095 ? ns / 1000 : 4095;
    atomic_fetch_add_explicit(&c->histogram[us], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->cycles, 1, memory_order_relaxed);
    return 0;
}

static int on_xrun(void *arg)
{
    atomic_fetch_add(&((JackClient *)arg)->xruns, 1);
    return 0;
}

static void on_shutdown(jack_status_t code, const char *reason, void *arg)
{
    (void)code, (void)reason;
    atomic_store(&((JackClient *)arg)->shutdown, 1);
}

static void usage(FILE *out)
{
    fprintf(out, "Usage: continuo jack [OPTION]...\n"
                 "Play along through JACK MIDI: listen on an input port, answer on an output port.\n\n");
    cli_play_usage(out, "'a2j:Keyboard [20] (capture): Keyboard MIDI 1'");
    fprintf(out, "      --reconnect       when the JACK server goes away, wait for it to come back\n"
                 "The tempo is the JACK transport's when a timebase master rolls it, else --bpm.\n");
}

/* The callback duration (microseconds) below which a share q of the callbacks fell. */
static double callback_quantile(JackClient *c, double q)
{
    uint64_t total = 0, seen = 0;
    for (int i = 0; i < 4096; i++)
        total += atomic_load_explicit(&c->histogram[i], memory_order_relaxed);
    for (int i = 0; i < 4096; i++) {
        seen += atomic_load_explicit(&c->histogram[i], memory_order_relaxed);
        if (total && seen >= q * (double)total)
            return i + 1;
    }
    return 4096;
}

static void print_counters(JackClient *c, const char *when)
{
    CnEngineStats s = cn_engine_stats(&c->engine);
    jack_nframes_t period = jack_get_buffer_size(c->client);
    double period_ms = 1000.0 * period / jack_get_sample_rate(c->client);
    double worst_ms = atomic_load(&c->worst_ns) / 1e6;
    double median = callback_quantile(c, 0.5) / 1000, p99 = callback_quantile(c, 0.99) / 1000;
    fprintf(stderr, "continuo: %s: %llu cycles; callback median %.3f ms (%.1f%%), p99 %.3f ms "
                    "(%.1f%%), worst %.3f ms (%.1f%% of the %.2f ms period); %u xruns; heard "
                    "%llu tokens, %llu answers, %llu interruptions; dropped %llu in, %llu out; "
                    "%llu late\n", when,
            (unsigned long long)atomic_load(&c->cycles), median, 100 * median / period_ms, p99,
            100 * p99 / period_ms, worst_ms, 100 * worst_ms / period_ms,
            period_ms, atomic_load(&c->xruns), (unsigned long long)s.tokens_heard,
            (unsigned long long)s.answers, (unsigned long long)s.interruptions,
            (unsigned long long)s.dropped_in, (unsigned long long)s.dropped_out,
            (unsigned long long)s.late_events);
}

static void quiet(const char *message)
{
    (void)message; /* libjack's own chatter; we say what went wrong ourselves */
}

/* Opens the client and registers the ports; quietly when only probing for a server. */
static int open_client(JackClient *c, const CliPlayArgs *a, int probing)
{
    jack_status_t status;
    jack_set_error_function(quiet);
    jack_set_info_function(quiet);
    c->client = jack_client_open(a->name, JackNoStartServer, &status);
    if (!c->client)
        return probing ? 1
                       : cli_error(1, "cannot connect to a JACK server%s (start one, e.g. "
                                      "'jackd -d alsa', or use 'continuo alsa')",
                                   status & JackServerFailed ? ": none is running" : "");
    c->in = jack_port_register(c->client, "in", JACK_DEFAULT_MIDI_TYPE, JackPortIsInput, 0);
    c->out = jack_port_register(c->client, "out", JACK_DEFAULT_MIDI_TYPE, JackPortIsOutput, 0);
    if (!c->in || !c->out)
        return cli_error(1, "cannot register the MIDI ports");
    return 0;
}

static void connect_ports(JackClient *c, const CliPlayArgs *a)
{
    for (int i = 0; i < a->n_ins; i++)
        if (jack_connect(c->client, a->ins[i], jack_port_name(c->in)) != 0)
            fprintf(stderr, "continuo: warning: cannot connect %s to our input\n", a->ins[i]);
    for (int i = 0; i < a->n_outs; i++)
        if (jack_connect(c->client, jack_port_name(c->out), a->outs[i]) != 0)
            fprintf(stderr, "continuo: warning: cannot connect our output to %s\n", a->outs[i]);
}

/* One life of the client on one server: start the engine at the server's rate, activate,
 * play until a signal or the server goes away. The client is open on entry. */
static int play_session(JackClient *c, const CliPlayArgs *a, const CnModel *model)
{
    CnError err = {{0}};
    CnEngineOptions options = a->engine;
    options.sample_rate = jack_get_sample_rate(c->client);
    if (cn_engine_start(&c->engine, model, &options, &err))
        return cli_error(1, "%s", err.message);
    jack_set_process_callback(c->client, process, c);
    jack_set_xrun_callback(c->client, on_xrun, c);
    jack_on_info_shutdown(c->client, on_shutdown, c);
    if (jack_activate(c->client) != 0) {
        if (!a->reconnect)
            return cli_error(1, "cannot activate the JACK client");
        /* a server still starting up can refuse; with --reconnect, try it again */
        fprintf(stderr, "continuo: cannot activate the JACK client yet\n");
        atomic_store(&c->shutdown, 1);
        return 0;
    }
    connect_ports(c, a);
    printf("continuo: listening on %s, playing on %s (%s mode, %g bpm until a timebase "
           "master says otherwise%s); Ctrl-C stops\n", jack_port_name(c->in),
           jack_port_name(c->out), a->engine.mode == CN_PLAY_RESPOND ? "respond" : "continuous",
           a->engine.bpm, a->bf16 ? ", bfloat16 weights" : "");
    fflush(stdout);
    for (int tick = 1; !stop_requested && !atomic_load(&c->shutdown); tick++) {
        usleep(50000);
        if (a->verbose && tick % 100 == 0)
            print_counters(c, "running");
    }
    if (!atomic_load(&c->shutdown)) { /* release every sounding note before leaving */
        cn_engine_panic(&c->engine);
        usleep((useconds_t)(3e6 * jack_get_buffer_size(c->client) /
                            jack_get_sample_rate(c->client)) + 20000);
        jack_deactivate(c->client);
    }
    print_counters(c, atomic_load(&c->shutdown) ? "server gone" : "stopped");
    return 0;
}

/* After the server went away: try once a second until one answers or a signal comes. */
static int wait_for_server(JackClient *c, const CliPlayArgs *a)
{
    fprintf(stderr, "continuo: the JACK server stopped or dropped this client; waiting for it "
                    "to come back (Ctrl-C stops)\n");
    while (!stop_requested) {
        usleep(500000); /* never a busy loop, whatever the server answers */
        if (open_client(c, a, 1) == 0)
            return 0;
        if (c->client)
            return -1; /* a server, but no ports: said why */
    }
    return 1;
}

static void close_session(JackClient *c)
{
    if (c->client)
        jack_client_close(c->client);
    cn_engine_stop(&c->engine);
    memset(c, 0, sizeof *c);
}

int cmd_jack(int argc, char **argv)
{
    CliPlayArgs a;
    int parsed = cli_parse_play_args(argc, argv, CLI_PLAY_RECONNECT, usage, &a);
    if (parsed)
        return parsed > 0 ? 0 : 2;
    CnModel model;
    CnError err = {{0}};
    if (cli_load_live_model(&model, &a, &err)) /* before any port exists */
        return cli_error(1, "%s", err.message);
    static JackClient c; /* the process thread reaches it until the client is closed */
    memset(&c, 0, sizeof c);
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (mlockall(MCL_CURRENT | MCL_FUTURE) != 0)
        fprintf(stderr, "continuo: warning: cannot lock memory; page faults may cause xruns "
                        "(raise 'ulimit -l')\n");
    int rc = open_client(&c, &a, 0);
    while (rc == 0) {
        rc = play_session(&c, &a, &model);
        int gone = atomic_load(&c.shutdown);
        close_session(&c);
        if (rc != 0 || !gone)
            break;
        if (!a.reconnect) {
            rc = cli_error(1, "the JACK server stopped or dropped this client");
            break;
        }
        rc = wait_for_server(&c, &a);
        if (rc > 0) /* a signal while waiting */
            rc = 0;
        else if (rc == 0)
            fprintf(stderr, "continuo: the JACK server is back\n");
        else {
            rc = 1;
            break;
        }
        if (stop_requested)
            break;
    }
    close_session(&c);
    cn_model_free(&model);
    return rc;
}
