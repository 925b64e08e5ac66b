/* continuo alsa: the play-along engine as an ALSA sequencer client, for systems without a
 * JACK server. The sequencer has no audio frames, so the engine's clock counts virtual
 * frames of the sequencer queue's real time; answers are handed to the queue a little
 * ahead with their exact times, so their timing does not hang on when this thread wakes. */
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "continuo/tempo.h"
#include "continuo/alsa_seq.h"
#include "continuo/engine.h"
#include "play_args.h"

#define FRAME_RATE 48000.0  /* virtual frames per second of queue time */
#define LOOKAHEAD 960       /* frames handed to the queue ahead of time: 20 ms */
#define PUMP_MS 5           /* the output is topped up at least this often */
#define MAX_IN 1024         /* player events one pass takes (the rest wait for the next) */
#define MAX_OUT 512         /* events one pass hands to the queue at most */

typedef struct {
    snd_seq_t *seq;
    int in_port, out_port, queue;
    CnEngine *engine;       /* the one playing, of engines[] (one a model) */
    CnEngine *engines[CLI_MAX_MODELS];
    int n_engines, control_channel, pick;
    uint64_t cursor;        /* output handed to the queue up to this frame */
    CnMidiEvent in_events[MAX_IN], out_events[MAX_OUT];
    uint8_t in_bytes[MAX_IN][3];
    int n_in;
    CnTempoFollower tempo;  /* a MIDI clock on the input (with --clock-in), --bpm */
    int thru, clock_out;
    unsigned long scheduled, refused;
} AlsaClient;

static volatile sig_atomic_t stop_requested = 0;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void usage(FILE *out)
{
    fprintf(out, "Usage: continuo alsa [OPTION]...\n"
                 "Play along through the ALSA sequencer: listen on a writable port, answer on a\n"
                 "readable one (no JACK server needed).\n\n");
    cli_play_usage(out, "'Keyboard:0' or '20:0' (see 'aconnect -l')", "");
    fprintf(out, "A MIDI clock on the input (24 ticks a beat) sets the tempo and beat while it\n"
                 "runs, and its Stop silences the answer; --no-clock-in ignores it.\n");
}

static uint64_t to_frames(const snd_seq_real_time_t *t)
{
    return (uint64_t)t->tv_sec * (uint64_t)FRAME_RATE +
           (uint64_t)((double)t->tv_nsec * FRAME_RATE / 1e9);
}

static snd_seq_real_time_t from_frames(uint64_t frames)
{
    uint64_t seconds = frames / (uint64_t)FRAME_RATE;
    double rest = (double)(frames - seconds * (uint64_t)FRAME_RATE) / FRAME_RATE;
    return (snd_seq_real_time_t){(unsigned)seconds, (unsigned)(rest * 1e9)};
}

static uint64_t queue_now(AlsaClient *c)
{
    snd_seq_queue_status_t *status;
    snd_seq_queue_status_alloca(&status);
    if (snd_seq_get_queue_status(c->seq, c->queue, status) < 0)
        return c->cursor;
    return to_frames(snd_seq_queue_status_get_real_time(status));
}

static void silent(const char *file, int line, const char *function, int err, const char *fmt,
                   ...)
{
    (void)file, (void)line, (void)function, (void)err, (void)fmt; /* we say what failed */
}

static int open_sequencer(AlsaClient *c, const CliPlayArgs *a)
{
    snd_lib_error_set_handler(silent);
    int rc = snd_seq_open(&c->seq, "default", SND_SEQ_OPEN_DUPLEX, SND_SEQ_NONBLOCK);
    if (rc < 0)
        return cli_error(2, "cannot open the ALSA sequencer: %s (or use 'continuo jack')",
                         snd_strerror(rc));
    snd_seq_set_client_name(c->seq, a->name);
    c->queue = snd_seq_alloc_named_queue(c->seq, a->name);
    if (c->queue < 0)
        return cli_error(1, "cannot allocate a sequencer queue: %s", snd_strerror(c->queue));

    snd_seq_port_info_t *port;
    snd_seq_port_info_alloca(&port);
    snd_seq_port_info_set_name(port, "in");
    snd_seq_port_info_set_capability(port, SND_SEQ_PORT_CAP_WRITE | SND_SEQ_PORT_CAP_SUBS_WRITE);
    snd_seq_port_info_set_type(port, SND_SEQ_PORT_TYPE_MIDI_GENERIC | SND_SEQ_PORT_TYPE_APPLICATION);
    snd_seq_port_info_set_timestamping(port, 1); /* player events carry queue time */
    snd_seq_port_info_set_timestamp_real(port, 1);
    snd_seq_port_info_set_timestamp_queue(port, c->queue);
    if ((rc = snd_seq_create_port(c->seq, port)) < 0)
        return cli_error(1, "cannot create the input port: %s", snd_strerror(rc));
    c->in_port = snd_seq_port_info_get_port(port);
    c->out_port = snd_seq_create_simple_port(c->seq, "out",
                                             SND_SEQ_PORT_CAP_READ | SND_SEQ_PORT_CAP_SUBS_READ,
                                             SND_SEQ_PORT_TYPE_MIDI_GENERIC |
                                                 SND_SEQ_PORT_TYPE_APPLICATION);
    if (c->out_port < 0)
        return cli_error(1, "cannot create the output port: %s", snd_strerror(c->out_port));

    snd_seq_queue_tempo_t *tempo; /* the queue's tick domain follows --bpm, for tools */
    snd_seq_queue_tempo_alloca(&tempo);
    snd_seq_queue_tempo_set_tempo(tempo, (unsigned)(60e6 / a->engine.bpm));
    snd_seq_queue_tempo_set_ppq(tempo, 480);
    snd_seq_set_queue_tempo(c->seq, c->queue, tempo);
    snd_seq_start_queue(c->seq, c->queue, NULL);
    snd_seq_drain_output(c->seq);
    return 0;
}

static void connect_ports(AlsaClient *c, const CliPlayArgs *a)
{
    for (int i = 0; i < a->n_ins; i++) {
        snd_seq_addr_t addr;
        if (snd_seq_parse_address(c->seq, &addr, a->ins[i]) < 0 ||
            snd_seq_connect_from(c->seq, c->in_port, addr.client, addr.port) < 0)
            fprintf(stderr, "continuo: warning: cannot connect %s to our input\n", a->ins[i]);
    }
    for (int i = 0; i < a->n_outs; i++) {
        snd_seq_addr_t addr;
        if (snd_seq_parse_address(c->seq, &addr, a->outs[i]) < 0 ||
            snd_seq_connect_to(c->seq, c->out_port, addr.client, addr.port) < 0)
            fprintf(stderr, "continuo: warning: cannot connect our output to %s\n", a->outs[i]);
    }
}

/* One sequencer event from the player: a note or control change joins this pass's input
 * (the player played it just now: the pass starts at the queue's present), clock and
 * transport go to the clock follower. */
static void handle_input(AlsaClient *c, const snd_seq_event_t *ev, uint64_t now)
{
    uint64_t frame = now;
    if ((ev->flags & SND_SEQ_TIME_STAMP_MASK) == SND_SEQ_TIME_STAMP_REAL &&
        ev->queue == c->queue)
        frame = to_frames(&ev->time.time);
    if (c->thru) { /* the player's event, unchanged, straight to our subscribers */
        snd_seq_event_t copy = *ev;
        snd_seq_ev_set_source(&copy, c->out_port);
        snd_seq_ev_set_subs(&copy);
        snd_seq_ev_set_direct(&copy);
        if (snd_seq_event_output(c->seq, &copy) < 0)
            c->refused++;
    }
    uint8_t *bytes = c->in_bytes[c->n_in];
    switch (cn_seq_to_midi(ev, bytes)) {
    case CN_SEQ_MIDI:
        c->in_events[c->n_in] = (CnMidiEvent){.offset = 0, .size = 3, .data = bytes};
        c->n_in++;
        break;
    case CN_SEQ_PROGRAM: {
        int model = cli_program_change(bytes, 2, c->n_engines, c->control_channel);
        c->pick = model >= 0 ? model : c->pick;
        break;
    }
    case CN_SEQ_CLOCK:
        cn_tempo_clock_message(&c->tempo, (const uint8_t[]){0xf8}, 1, frame);
        break;
    case CN_SEQ_START:
        cn_tempo_clock_message(&c->tempo, (const uint8_t[]){0xfa}, 1, frame);
        break;
    case CN_SEQ_SONG_POSITION: {
        unsigned at = (unsigned)ev->data.control.value;
        cn_tempo_clock_message(&c->tempo, (const uint8_t[]){0xf2, at & 127, (at >> 7) & 127}, 3,
                               frame);
        break;
    }
    case CN_SEQ_STOP:
        cn_tempo_clock_message(&c->tempo, (const uint8_t[]){0xfc}, 1, frame);
        break;
    default: break; /* sysex, program changes, continue: not ours */
    }
}

static void schedule_event(AlsaClient *c, uint64_t frame, const CnMidiEvent *out)
{
    snd_seq_event_t ev;
    snd_seq_ev_clear(&ev);
    if (cn_seq_from_midi(out->data, (int)out->size, &ev) != 0)
        return;
    snd_seq_real_time_t when = from_frames(frame);
    snd_seq_ev_set_source(&ev, c->out_port);
    snd_seq_ev_set_subs(&ev);
    snd_seq_ev_schedule_real(&ev, c->queue, 0, &when);
    if (snd_seq_event_output(c->seq, &ev) < 0)
        c->refused++;
    else
        c->scheduled++;
}

/* One pass, the engine's cycle from the queue's present to LOOKAHEAD ahead: what the
 * player played since the last pass goes in, everything due in the window goes to the
 * queue with its exact time. */
static void pump(AlsaClient *c)
{
    uint64_t now = queue_now(c);
    c->n_in = 0;
    snd_seq_event_t *ev;
    while (c->n_in < MAX_IN && snd_seq_event_input(c->seq, &ev) >= 0)
        if (ev)
            handle_input(c, ev, now);
    int n_released = 0;
    if (c->pick >= 0 && c->engines[c->pick] != c->engine) { /* another model: swapped in */
        n_released = cn_engine_rt_hand_over(c->engine, c->engines[c->pick], c->out_events,
                                            MAX_OUT);
        c->engine = c->engines[c->pick];
    }
    c->pick = -1;
    cn_tempo_follow(&c->tempo, NULL, now); /* no transport: a clock, or --bpm */
    cn_engine_rt_follow(c->engine, &c->tempo);
    uint64_t horizon = now + LOOKAHEAD;
    int n_out = n_released;
    n_out += cn_engine_rt_cycle(c->engine, now, LOOKAHEAD, c->in_events, c->n_in,
                                c->clock_out ? CN_CYCLE_CLOCK_OUT : 0, c->out_events + n_released,
                                MAX_OUT - n_released);
    for (int i = 0; i < n_out; i++)
        schedule_event(c, now + c->out_events[i].offset, &c->out_events[i]);
    if (c->cursor < horizon)
        c->cursor = horizon;
    snd_seq_drain_output(c->seq);
}

static void print_counters(AlsaClient *c, const char *when)
{
    CnEngineStats s = cli_sum_stats(c->engines, c->n_engines); /* every model's engine */
    char tempo[64];
    fprintf(stderr, "continuo: %s: heard %llu tokens, %llu answers, %llu interruptions; "
                    "%lu events to the queue (%lu refused); dropped %llu in, %llu out; %llu of "
                    "the player's events not passed on; %llu notes ended at their longest; "
                    "%llu keys let go for room; %llu calls' beat found%s\n",
            when, (unsigned long long)s.tokens_heard, (unsigned long long)s.answers,
            (unsigned long long)s.interruptions, c->scheduled, c->refused,
            (unsigned long long)s.dropped_in, (unsigned long long)s.dropped_out,
            (unsigned long long)s.thru_dropped, (unsigned long long)s.released_at_longest,
            (unsigned long long)s.keys_released_for_room, (unsigned long long)s.beats_found,
            cli_call_tempo(&s, tempo, sizeof tempo));
}

static void play(AlsaClient *c, const CliPlayArgs *a)
{
    int n_fds = snd_seq_poll_descriptors_count(c->seq, POLLIN);
    struct pollfd fds[8];
    n_fds = snd_seq_poll_descriptors(c->seq, fds, (unsigned)(n_fds < 8 ? n_fds : 8), POLLIN);
    int follows = a->engine.mode == CN_PLAY_RESPOND && !a->engine.fixed_grid;
    printf("continuo: listening on %d:%d, playing on %d:%d (%s mode, %g bpm%s%s%s%s, seed "
           "%llu", snd_seq_client_id(c->seq), c->in_port,
           snd_seq_client_id(c->seq), c->out_port,
           a->engine.mode == CN_PLAY_RESPOND ? "respond" : "continuous", a->engine.bpm,
           follows ? " until a call's own beat" : "",
           a->clock_in ? (follows ? " or a MIDI clock says otherwise" : " until a MIDI clock says otherwise") : "",
           a->thru ? ", thru" : "", a->bf16 ? ", bfloat16 weights" : "",
           (unsigned long long)a->engine.seed);
    if (a->n_weights > 1)
        cli_print_programs(a);
    printf("); Ctrl-C stops\n");
    fflush(stdout);
    for (unsigned long pass = 1; !stop_requested; pass++) {
        poll(fds, (nfds_t)n_fds, PUMP_MS);
        pump(c);
        if (a->verbose && pass % (5000 / PUMP_MS) == 0)
            print_counters(c, "running");
    }
    /* release every sounding note (and send Stop), then let the queue play out what it holds */
    c->clock_out = 0;
    for (int i = 0; i < c->n_engines; i++)
        cn_engine_rt_stop(c->engines[i]);
    for (int i = 0; i < 10; i++) {
        usleep(PUMP_MS * 1000);
        pump(c);
    }
    uint64_t last = c->cursor;
    for (int i = 0; i < 100 && queue_now(c) < last; i++)
        usleep(PUMP_MS * 1000);
    print_counters(c, "stopped");
}

/* --list-ports: the sequencer's ports others may subscribe to, as 'aconnect -l' names them
 * (client:port): those -i takes (they send), then those -o takes (they receive). */
static int list_ports(void)
{
    snd_seq_t *seq;
    snd_lib_error_set_handler(silent);
    int rc = snd_seq_open(&seq, "default", SND_SEQ_OPEN_DUPLEX, 0);
    if (rc < 0)
        return cli_error(2, "cannot open the ALSA sequencer: %s", snd_strerror(rc));
    static const struct { unsigned caps; const char *title; } kinds[] = {
        {SND_SEQ_PORT_CAP_READ | SND_SEQ_PORT_CAP_SUBS_READ,
         "MIDI ports that play into continuo (-i PORT):"},
        {SND_SEQ_PORT_CAP_WRITE | SND_SEQ_PORT_CAP_SUBS_WRITE,
         "MIDI ports continuo can play into (-o PORT):"}};
    snd_seq_client_info_t *client;
    snd_seq_port_info_t *port;
    snd_seq_client_info_alloca(&client);
    snd_seq_port_info_alloca(&port);
    for (int k = 0; k < 2; k++) {
        int n = 0;
        printf("%s%s\n", k ? "\n" : "", kinds[k].title);
        snd_seq_client_info_set_client(client, -1);
        while (snd_seq_query_next_client(seq, client) >= 0) {
            int id = snd_seq_client_info_get_client(client);
            if (id == SND_SEQ_CLIENT_SYSTEM)
                continue; /* the timer and announcements, not music */
            snd_seq_port_info_set_client(port, id);
            snd_seq_port_info_set_port(port, -1);
            while (snd_seq_query_next_port(seq, port) >= 0)
                if ((snd_seq_port_info_get_capability(port) & kinds[k].caps) == kinds[k].caps &&
                    !(snd_seq_port_info_get_capability(port) & SND_SEQ_PORT_CAP_NO_EXPORT)) {
                    printf("  %3d:%-3d %s: %s\n", id, snd_seq_port_info_get_port(port),
                           snd_seq_client_info_get_name(client),
                           snd_seq_port_info_get_name(port));
                    n++;
                }
        }
        if (n == 0)
            printf("  (none)\n");
    }
    snd_seq_close(seq);
    return 0;
}

int cmd_alsa(int argc, char **argv)
{
    CliPlayArgs a;
    int parsed = cli_parse_play_args(argc, argv, 0, usage, &a);
    if (parsed)
        return parsed > 0 ? 0 : 2;
    if (a.list_ports)
        return list_ports();
    if (a.learn) /* it was accepted and did nothing */
        return cli_error(2, "continuo alsa does not learn controls yet: learn them with "
                            "'continuo jack --learn' (or give --cc NAME=N,...), then pass "
                            "the options line it prints");
    CnError err = {{0}};
    if (cn_seq_check_device(CN_SEQ_DEVICE, &err))
        return cli_error(2, "%s", err.message);
    static CnModel models[CLI_MAX_MODELS];
    if (cli_load_live_models(models, &a, &err)) /* before any port exists */
        return cli_error(1, "%s", err.message);
    static AlsaClient c;
    memset(&c, 0, sizeof c);
    c.pick = -1;
    c.control_channel = a.engine.control_channel;
    c.thru = a.thru;
    c.clock_out = a.clock_out;
    /* (the queue stamps arrival: a tick may be a sender's scheduling late) */
    cn_tempo_init(&c.tempo, FRAME_RATE, a.engine.bpm, a.clock_in, 0.005);
    int rc = open_sequencer(&c, &a);
    if (rc == 0) {
        a.engine.sample_rate = FRAME_RATE;
        for (int i = 0; rc == 0 && i < a.n_weights; i++) {
            c.engines[i] = cn_engine_new(&models[i], &a.engine, &err);
            if (!c.engines[i] || cn_engine_start_worker(c.engines[i], &err))
                rc = cli_error(1, "%s", err.message);
            c.n_engines = i + 1;
        }
        c.engine = c.engines[0];
    }
    if (rc == 0) {
        struct sigaction sa = {.sa_handler = on_signal};
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        connect_ports(&c, &a);
        play(&c, &a);
    }
    for (int i = 0; i < c.n_engines; i++)
        cn_engine_free(c.engines[i]);
    if (c.seq) {
        if (c.queue >= 0)
            snd_seq_free_queue(c.seq, c.queue);
        snd_seq_close(c.seq);
    }
    cli_free_live_models(models, &a);
    return rc;
}
