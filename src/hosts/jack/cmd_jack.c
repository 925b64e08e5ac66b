/* continuo jack: the play-along engine as a JACK MIDI client. The process callback
 * (process.c) only moves events between the JACK port buffers and the engine; everything
 * here (loading, the model, printing) runs before activation or on the main thread. */
#include <jack/jack.h>
#include <jack/thread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <poll.h>
#include <unistd.h>

#include "cli.h"
#include "continuo/tempo.h"
#include "config.h"
#include "jack_client.h"
#include "play_args.h"

/* Real-time checks of the test suite hook in here (tests/rt_trap.c); unset otherwise. */
__attribute__((weak)) void continuo_rt_enter(void);
__attribute__((weak)) void continuo_rt_leave(void);

static volatile sig_atomic_t stop_requested = 0;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* A port connected to our output (a synth or drum machine patched in later): the clock,
 * when it runs, tells it where the song stands. JACK's notification thread. */
static void on_connect(jack_port_id_t a, jack_port_id_t b, int connect, void *arg)
{
    JackClient *c = arg;
    if (!connect || !c->out)
        return;
    if (jack_port_by_id(c->client, a) != c->out && jack_port_by_id(c->client, b) != c->out)
        return;
    for (int i = 0; i < c->n_engines; i++)
        cn_engine_rt_clock_resync(c->engines[i]);
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
    cli_play_usage(out, "'a2j:Keyboard [20] (capture): Keyboard MIDI 1'",
                   "      --reconnect       when the JACK server goes away, wait for it to come\n"
                   "                        back\n");
    fprintf(out, "The tempo is the JACK transport's when a timebase master rolls it, else a MIDI\n"
                 "clock's on the input while it runs, else --bpm; losing one falls back to the\n"
                 "next.\n");
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
    CnEngineStats s = cli_sum_stats(c->engines, c->n_engines); /* every model's engine */
    char tempo[64];
    jack_nframes_t period = jack_get_buffer_size(c->client);
    double period_ms = 1000.0 * period / jack_get_sample_rate(c->client);
    double worst_ms = atomic_load(&c->worst_ns) / 1e6;
    double median = callback_quantile(c, 0.5) / 1000, p99 = callback_quantile(c, 0.99) / 1000;
    fprintf(stderr, "continuo: %s: %llu cycles; callback median %.3f ms (%.1f%%), p99 %.3f ms "
                    "(%.1f%%), worst %.3f ms (%.1f%% of the %.2f ms period); %u xruns; heard "
                    "%llu tokens, %llu answers, %llu interruptions; dropped %llu in, %llu out; "
                    "%llu late; %llu of the player's events not passed on; %llu notes ended at their "
                    "longest; %llu keys let go for room; %llu calls' beat found%s\n", when,
            (unsigned long long)atomic_load(&c->cycles), median, 100 * median / period_ms, p99,
            100 * p99 / period_ms, worst_ms, 100 * worst_ms / period_ms,
            period_ms, atomic_load(&c->xruns), (unsigned long long)s.tokens_heard,
            (unsigned long long)s.answers, (unsigned long long)s.interruptions,
            (unsigned long long)(s.dropped_in + atomic_load(&c->in_overflow)), (unsigned long long)s.dropped_out,
            (unsigned long long)s.late_events, (unsigned long long)s.thru_dropped,
            (unsigned long long)s.released_at_longest,
            (unsigned long long)s.keys_released_for_room, (unsigned long long)s.beats_found,
            cli_call_tempo(&s, tempo, sizeof tempo));
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

/* With a real-time server, the workers run at real-time priority too, below the audio
 * thread's, so that a loaded machine does not make the answer late; said when the system
 * does not allow it. */
static void set_worker_priority(JackClient *c)
{
    if (!jack_is_realtime(c->client))
        return;
    int audio = jack_client_real_time_priority(c->client);
    int priority = audio > 10 ? audio - 10 : 1;
    CnError err = {{0}};
    for (int i = 0; i < c->n_engines; i++)
        if (cn_engine_set_worker_priority(c->engines[i], priority, &err) != 0) {
            fprintf(stderr, "continuo: warning: %s; on a loaded machine answers may come late "
                            "(allow real-time priority: the audio group's rtprio)\n",
                    err.message);
            return;
        }
}

/* --learn, on the main thread while the callback passes control changes on: for each
 * control in turn, the next control change of a number not yet taken. Returns 0 when done,
 * 1 when a signal interrupted it; either way what was learned is in a and said. */
static int learn_controls(JackClient *c, CliPlayArgs *a)
{
    CnEngineOptions *o = &a->engine;
    uint8_t learned[CN_N_CONTROLS];
    int channel = -2, interrupted = 0, stdin_open = 1; /* -2: none yet; -1: several */
    memset(learned, CN_CONTROL_OFF, sizeof learned);
    for (int i = 0; i < CN_N_CONTROLS && !interrupted; i++) {
        printf("continuo: learn: move the control for %s (Enter skips it, Ctrl-C ends)\n",
               cli_control_names[i]);
        fflush(stdout);
        for (int got = 0; !got;) {
            if (stop_requested) {
                interrupted = 1;
                break;
            }
            struct pollfd in = {.fd = STDIN_FILENO, .events = POLLIN};
            if (stdin_open && poll(&in, 1, 50) > 0) {
                char line[256];
                if (!fgets(line, sizeof line, stdin))
                    stdin_open = 0; /* no terminal: only the controls answer */
                else
                    break; /* skipped: it keeps its number, unless learned for another */
            } else if (!stdin_open) {
                usleep(50000);
            }
            uint8_t cc[3];
            while (!got && cn_ring_pop(&c->learned, cc) == 0) {
                int number = cc[1], taken = 0;
                for (int j = 0; j < i; j++)
                    taken |= learned[j] == number;
                if (number == CN_CC_SUSTAIN || number == CN_CC_ALL_NOTES_OFF ||
                    number == CN_CC_ALL_SOUND_OFF || taken)
                    continue; /* MIDI's own, or the knob just learned still turning */
                learned[i] = (uint8_t)number;
                channel = channel == -2 || channel == (cc[0] & 0x0f) ? cc[0] & 0x0f : -1;
                printf("continuo: learn: %s is CC %d on channel %d\n", cli_control_names[i],
                       number, (cc[0] & 0x0f) + 1);
                got = 1;
            }
        }
    }
    for (int i = 0; i < CN_N_CONTROLS; i++) /* a default taken by a learned control: off */
        if (learned[i] != CN_CONTROL_OFF)
            for (int j = 0; j < CN_N_CONTROLS; j++)
                if (j != i && learned[j] == CN_CONTROL_OFF && o->controls[j] == learned[i])
                    o->controls[j] = CN_CONTROL_OFF;
    for (int i = 0; i < CN_N_CONTROLS; i++)
        if (learned[i] != CN_CONTROL_OFF)
            o->controls[i] = learned[i];
    if (channel >= 0)
        o->control_channel = channel;
    else if (channel == -1) /* the options line can name one channel only */
        printf("continuo: learn: the controls came on different channels, so they are heard "
               "on any channel (add --control-channel N to hear them on one)\n");
    char line[256];
    cli_format_controls(o, line, sizeof line);
    printf("continuo: %s: %s\n", interrupted ? "learning interrupted; learned so far" : "learned",
           line);
    fflush(stdout);
    return interrupted;
}

/* The engines, one a model, at the server's rate. */
static int make_engines(JackClient *c, const CliPlayArgs *a, const CnModel *models)
{
    CnError err = {{0}};
    CnEngineOptions options = a->engine;
    options.sample_rate = c->rate;
    for (int i = 0; i < a->n_weights; i++) {
        c->engines[i] = cn_engine_new(&models[i], &options, &err);
        if (!c->engines[i] || cn_engine_start_worker(c->engines[i], &err))
            return cli_error(1, "%s", err.message);
        c->n_engines = i + 1;
    }
    c->engine = c->engines[0];
    c->control_channel = options.control_channel;
    set_worker_priority(c);
    return 0;
}

/* What --learn learned goes into the setup file with --save; without, the player is told
 * how to keep it. */
static void keep_learned(const CliPlayArgs *a)
{
    char line[256];
    cli_format_controls(&a->engine, line, sizeof line);
    if (!a->config_path[0])
        return;
    if (!a->save)
        printf("continuo: to keep them for the next start, add --save (it writes them into "
               "%s)\n", a->config_path);
    else if (cli_config_save_controls(a->config_path, line) == 0)
        printf("continuo: saved in %s, read at every start\n", a->config_path);
    fflush(stdout);
}

/* One life of the client on one server: start the engine at the server's rate, activate,
 * play until a signal or the server goes away. The client is open on entry. */
static int play_session(JackClient *c, CliPlayArgs *a, const CnModel *models)
{
    CnError err = {{0}};
    c->rate = jack_get_sample_rate(c->client);
    if (a->learn) { /* the engines come when the controls are known */
        if (cn_ring_init(&c->learned, 3, 256, &err))
            return cli_error(1, "%s", err.message);
        atomic_store(&c->learning, 1);
    } else if (make_engines(c, a, models)) {
        return 1;
    }
    c->cycle_flags = a->thru ? CN_CYCLE_THRU : 0; /* the clock once the ports are connected */
    cn_tempo_init(&c->tempo, c->rate, a->engine.bpm, a->clock_in,
                  jack_get_buffer_size(c->client) / c->rate); /* a tick a period late */
    jack_set_process_callback(c->client, continuo_jack_process, c);
    jack_set_xrun_callback(c->client, continuo_jack_xrun, c);
    jack_set_port_connect_callback(c->client, on_connect, c);
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
    if (a->clock_out) /* so that its Start reaches the ports it was asked to play to */
        atomic_fetch_or(&c->cycle_flags, CN_CYCLE_CLOCK_OUT);
    if (a->learn) {
        if (learn_controls(c, a)) { /* interrupted: nothing to play */
            jack_deactivate(c->client);
            return 0;
        }
        a->learn = 0; /* a server that comes back keeps what was learned */
        keep_learned(a);
        if (make_engines(c, a, models))
            return 1;
        atomic_store_explicit(&c->learning, 0, memory_order_release);
    }
    int follows = a->engine.mode == CN_PLAY_RESPOND && !a->engine.fixed_grid;
    printf("continuo: listening on %s, playing on %s (%s mode, %g bpm until %sa timebase "
           "master%s says otherwise%s%s, seed %llu", jack_port_name(c->in),
           jack_port_name(c->out), a->engine.mode == CN_PLAY_RESPOND ? "respond" : "continuous",
           a->engine.bpm, follows ? "a call's own beat, " : "",
           a->clock_in ? " or a MIDI clock" : "", a->thru ? ", thru" : "",
           a->bf16 ? ", bfloat16 weights" : "", (unsigned long long)a->engine.seed);
    if (a->n_weights > 1)
        cli_print_programs(a);
    printf("); Ctrl-C stops\n");
    fflush(stdout);
    for (int tick = 1; !stop_requested && !atomic_load(&c->shutdown); tick++) {
        usleep(50000);
        if (a->verbose && tick % 100 == 0)
            print_counters(c, "running");
    }
    if (!atomic_load(&c->shutdown)) { /* release every sounding note before leaving */
        atomic_store(&c->cycle_flags, c->cycle_flags & ~CN_CYCLE_CLOCK_OUT); /* and Stop */
        for (int i = 0; i < c->n_engines; i++)
            cn_engine_rt_stop(c->engines[i]);
        /* until every release is written (a busy machine may run cycles late), then two
           periods for the last to leave */
        useconds_t period = (useconds_t)(1e6 * jack_get_buffer_size(c->client) /
                                         jack_get_sample_rate(c->client));
        for (int waited = 0, done = 0; !done && waited < 200; waited++) {
            done = 1;
            for (int i = 0; i < c->n_engines; i++)
                done &= cn_engine_stop_done(c->engines[i]) || i != atomic_load(&c->current);
            if (!done)
                usleep(10000);
        }
        usleep(2 * period + 20000);
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
    for (int i = 0; i < c->n_engines; i++)
        cn_engine_free(c->engines[i]);
    cn_ring_free(&c->learned);
    memset(c, 0, sizeof *c);
}

/* --list-ports: the server's MIDI ports, as jack_lsp names them: those -i takes (they
 * send), then those -o takes (they receive). */
static int list_ports(const CliPlayArgs *a)
{
    jack_status_t status;
    jack_set_error_function(quiet);
    jack_set_info_function(quiet);
    jack_client_t *client = jack_client_open(a->name, JackNoStartServer, &status);
    if (!client)
        return cli_error(1, "cannot connect to a JACK server%s (start one, e.g. 'jackd -d "
                            "alsa')", status & JackServerFailed ? ": none is running" : "");
    static const struct { unsigned long flags; const char *title; } kinds[] = {
        {JackPortIsOutput, "MIDI ports that play into continuo (-i PORT):"},
        {JackPortIsInput, "MIDI ports continuo can play into (-o PORT):"}};
    for (int k = 0; k < 2; k++) {
        const char **names = jack_get_ports(client, NULL, JACK_DEFAULT_MIDI_TYPE, kinds[k].flags);
        printf("%s%s\n", k ? "\n" : "", kinds[k].title);
        for (int i = 0; names && names[i]; i++)
            printf("  %s\n", names[i]);
        if (!names || !names[0])
            printf("  (none)\n");
        jack_free(names);
    }
    jack_client_close(client);
    return 0;
}

int cmd_jack(int argc, char **argv)
{
    CliPlayArgs a;
    int parsed = cli_parse_play_args(argc, argv, CLI_PLAY_RECONNECT, usage, &a);
    if (parsed)
        return parsed > 0 ? 0 : 2;
    if (a.list_ports)
        return list_ports(&a);
    static CnModel models[CLI_MAX_MODELS];
    CnError err = {{0}};
    if (cli_load_live_models(models, &a, &err)) /* before any port exists */
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
        rc = play_session(&c, &a, models);
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
    cli_free_live_models(models, &a);
    return rc;
}
