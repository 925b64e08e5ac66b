/* The ALSA sequencer backend. Everywhere: the translation between sequencer events and the
 * engine's MIDI bytes (note on/off, velocity-0 note-on, control changes, all-notes-off,
 * clock, sysex and other messages ignored), the MIDI clock follower, a phrase played into
 * the engine through that translation and its answer translated back, and the missing-
 * device error. Where /dev/snd/seq exists (not on machines without a sound card): a second
 * sequencer client plays a phrase into `continuo alsa` and records its answer. */
#include <math.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "continuo/alsa_seq.h"
#include "continuo/engine.h"
#include "test_util.h"

static snd_seq_event_t note(int type, int channel, int key, int velocity)
{
    snd_seq_event_t ev;
    snd_seq_ev_clear(&ev);
    ev.type = (snd_seq_event_type_t)type;
    ev.data.note.channel = (unsigned char)channel;
    ev.data.note.note = (unsigned char)key;
    ev.data.note.velocity = (unsigned char)velocity;
    return ev;
}

static snd_seq_event_t control(int channel, int param, int value)
{
    snd_seq_event_t ev;
    snd_seq_ev_clear(&ev);
    ev.type = SND_SEQ_EVENT_CONTROLLER;
    ev.data.control.channel = (unsigned char)channel;
    ev.data.control.param = (unsigned)param;
    ev.data.control.value = value;
    return ev;
}

static snd_seq_event_t of_type(int type)
{
    snd_seq_event_t ev;
    snd_seq_ev_clear(&ev);
    ev.type = (snd_seq_event_type_t)type;
    return ev;
}

static void test_sequencer_events_become_engine_messages(void)
{
    uint8_t b[3];
    snd_seq_event_t ev = note(SND_SEQ_EVENT_NOTEON, 2, 60, 100);
    CHECK(cn_seq_to_midi(&ev, b) == CN_SEQ_MIDI);
    CHECK(b[0] == 0x92 && b[1] == 60 && b[2] == 100);
    ev = note(SND_SEQ_EVENT_NOTEOFF, 0, 61, 64);
    CHECK(cn_seq_to_midi(&ev, b) == CN_SEQ_MIDI);
    CHECK(b[0] == 0x80 && b[1] == 61 && b[2] == 0);
    ev = note(SND_SEQ_EVENT_NOTEON, 15, 62, 0); /* velocity 0: a note-off */
    CHECK(cn_seq_to_midi(&ev, b) == CN_SEQ_MIDI);
    CHECK(b[0] == 0x8f && b[1] == 62 && b[2] == 0);
    ev = control(0, 71, 64);
    CHECK(cn_seq_to_midi(&ev, b) == CN_SEQ_MIDI);
    CHECK(b[0] == 0xb0 && b[1] == 71 && b[2] == 64);
    ev = control(3, CN_CC_ALL_NOTES_OFF, 0);
    CHECK(cn_seq_to_midi(&ev, b) == CN_SEQ_MIDI);
    CHECK(b[0] == 0xb3 && b[1] == 123 && b[2] == 0);

    ev = of_type(SND_SEQ_EVENT_CLOCK);
    CHECK(cn_seq_to_midi(&ev, b) == CN_SEQ_CLOCK);
    ev = of_type(SND_SEQ_EVENT_START);
    CHECK(cn_seq_to_midi(&ev, b) == CN_SEQ_START);
    ev = of_type(SND_SEQ_EVENT_STOP);
    CHECK(cn_seq_to_midi(&ev, b) == CN_SEQ_STOP);
    ev = of_type(SND_SEQ_EVENT_CONTINUE);
    CHECK(cn_seq_to_midi(&ev, b) == CN_SEQ_CONTINUE);

    ev = of_type(SND_SEQ_EVENT_PGMCHANGE); /* picks a model among several */
    ev.data.control.channel = 2;
    ev.data.control.value = 1;
    CHECK(cn_seq_to_midi(&ev, b) == CN_SEQ_PROGRAM && b[0] == 0xc2 && b[1] == 1);
    ev = of_type(SND_SEQ_EVENT_SONGPOS);
    CHECK(cn_seq_to_midi(&ev, b) == CN_SEQ_SONG_POSITION);

    static const int ignored[] = {SND_SEQ_EVENT_SYSEX, SND_SEQ_EVENT_PITCHBEND, SND_SEQ_EVENT_SENSING,
                                  SND_SEQ_EVENT_CHANPRESS, SND_SEQ_EVENT_PORT_SUBSCRIBED};
    for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++) {
        ev = of_type(ignored[i]);
        CHECK(cn_seq_to_midi(&ev, b) == CN_SEQ_IGNORED);
    }
    ev = note(SND_SEQ_EVENT_NOTEON, 0, 200, 100); /* out of MIDI's range */
    CHECK(cn_seq_to_midi(&ev, b) == CN_SEQ_IGNORED);
    ev = control(0, 7, 300);
    CHECK(cn_seq_to_midi(&ev, b) == CN_SEQ_IGNORED);
    ev = control(0, 7, -1);
    CHECK(cn_seq_to_midi(&ev, b) == CN_SEQ_IGNORED);
}

static void test_engine_messages_become_sequencer_events(void)
{
    snd_seq_event_t ev;
    snd_seq_ev_clear(&ev);
    CHECK(cn_seq_from_midi((const uint8_t[]){0x93, 64, 90}, 3, &ev) == 0);
    CHECK(ev.type == SND_SEQ_EVENT_NOTEON && ev.data.note.channel == 3 &&
          ev.data.note.note == 64 && ev.data.note.velocity == 90);
    CHECK(cn_seq_from_midi((const uint8_t[]){0x90, 64, 0}, 3, &ev) == 0);
    CHECK(ev.type == SND_SEQ_EVENT_NOTEOFF && ev.data.note.note == 64);
    CHECK(cn_seq_from_midi((const uint8_t[]){0x85, 65, 0}, 3, &ev) == 0);
    CHECK(ev.type == SND_SEQ_EVENT_NOTEOFF && ev.data.note.channel == 5);
    CHECK(cn_seq_from_midi((const uint8_t[]){0xb1, 123, 0}, 3, &ev) == 0);
    CHECK(ev.type == SND_SEQ_EVENT_CONTROLLER && ev.data.control.param == 123 &&
          ev.data.control.channel == 1);
    CHECK(cn_seq_from_midi((const uint8_t[]){0xc0, 5, 0}, 3, &ev) == -1);
    CHECK(cn_seq_from_midi((const uint8_t[]){0x90, 64}, 2, &ev) == -1);
    CHECK(cn_seq_from_midi((const uint8_t[]){0x90, 0x80, 1}, 3, &ev) == -1);
    /* and back: what the engine writes survives the round trip */
    uint8_t b[3];
    cn_seq_from_midi((const uint8_t[]){0x9a, 48, 77}, 3, &ev);
    CHECK(cn_seq_to_midi(&ev, b) == CN_SEQ_MIDI && b[0] == 0x9a && b[1] == 48 && b[2] == 77);
}

static void test_the_clock_follower_finds_tempo_and_beats(void)
{
    CnClockFollower clock;
    cn_clock_init(&clock, 0.001);
    const double bpm = 100, tick = 60.0 / bpm / 24, start = 3.0;
    double beat = -1, estimate = 0;
    unsigned jitter = 1;
    cn_clock_start(&clock);
    for (int i = 0; i < 96; i++) { /* four beats, each tick up to 0.5 ms late */
        jitter = jitter * 1103515245u + 12345u;
        double late = (double)(jitter >> 16 & 1023) / 1023 * 0.0005;
        double got = cn_clock_tick(&clock, start + i * tick + late, &beat);
        if (i < 24)
            CHECK(got == 0);
        else
            estimate = got;
    }
    CHECK_NEAR(estimate, bpm, 0.5);
    CHECK_NEAR(beat, start + 3 * 60.0 / bpm, 0.001); /* the fourth beat */
    /* the clock stops for a second and comes back at 140 bpm */
    double t = start + 96 * tick + 1.0, tick2 = 60.0 / 140 / 24;
    cn_clock_start(&clock);
    for (int i = 0; i < 48; i++)
        estimate = cn_clock_tick(&clock, t + i * tick2, &beat);
    CHECK_NEAR(estimate, 140, 0.5);
    CHECK_NEAR(beat, t + 60.0 / 140, 1e-6);
    CHECK(clock.n_missed == 0);
}

/* A tick lost on the way (a cycle a busy host skipped) is counted from the gap it leaves:
 * the beats stay on the sender's, where counting only what arrived would put every beat
 * after it a tick late. A tick that is merely late is not counted as lost. */
static void test_a_lost_clock_tick_keeps_the_beat(void)
{
    CnClockFollower clock;
    cn_clock_init(&clock, 256 / 48000.0);
    const double tick = 60.0 / 100 / 24, start = 1.0;
    double beat = -1, estimate = 0;
    cn_clock_start(&clock);
    for (int i = 0; i < 200; i++) {
        if (i == 60 || i == 130 || i == 131) /* one lost, then two in a row */
            continue;
        double late = i == 90 ? 250 / 48000.0 : 0; /* a tick written a period late */
        estimate = cn_clock_tick(&clock, start + i * tick + late, &beat);
    }
    CHECK(clock.n_missed == 3);
    CHECK_NEAR(estimate, 100, 0.5);
    CHECK_NEAR(beat, start + 8 * 60.0 / 100, 1e-6); /* tick 192 is the ninth beat */
}

static void test_a_missing_device_is_named(void)
{
    CnError err = {{0}};
    CHECK(cn_seq_check_device("/nonexistent/snd/seq", &err) == -1);
    CHECK(strstr(err.message, "/nonexistent/snd/seq does not exist") != NULL);
    CHECK(strstr(err.message, "continuo jack") != NULL);
}

/* ----- The engine fed through the translation, as `continuo alsa` feeds it ----- */

#define RATE 48000.0
#define EIGHTH 12000
static uint64_t window_start;
static struct {
    uint64_t frame;
    snd_seq_event_t ev;
} answered[4000];
static int n_answered;

static void to_queue(const CnMidiEvent *out)
{
    snd_seq_event_t ev;
    snd_seq_ev_clear(&ev);
    if (n_answered < 4000 && cn_seq_from_midi(out->data, (int)out->size, &ev) == 0) {
        answered[n_answered].frame = window_start + out->offset;
        answered[n_answered++].ev = ev;
    }
}

/* What the player played since the last pass, as the command gathers it. */
static CnMidiEvent fed[64];
static uint8_t fed_bytes[64][3];
static int n_fed;

/* Passes every 5 ms, each the engine's cycle from the queue's present to 20 ms ahead, as
 * the command's pump does. */
static void pump(CnEngine *e, uint64_t *now, int ms)
{
    static CnMidiEvent out[512];
    for (int i = 0; i < ms / 5; i++) {
        window_start = *now;
        int n = cn_engine_rt_cycle(e, *now, 960, fed, n_fed, 0, out, 512);
        n_fed = 0;
        for (int k = 0; k < n; k++)
            to_queue(&out[k]);
        *now += 240;
        usleep(5000);
    }
}

static void feed(CnEngine *e, uint64_t frame, snd_seq_event_t ev)
{
    (void)e, (void)frame; /* played now: at the start of the next pass */
    if (n_fed < 64 && cn_seq_to_midi(&ev, fed_bytes[n_fed]) == CN_SEQ_MIDI) {
        fed[n_fed] = (CnMidiEvent){.offset = 0, .size = 3, .data = fed_bytes[n_fed]};
        n_fed++;
    }
}

static void test_a_phrase_through_the_translation_gets_an_answer(void)
{
    CnModel model;
    CnError err = {{0}};
    CHECK(cn_model_load(&model, CONTINUO_SOURCE_DIR "/weights/original.cnw", 0, NULL, &err) == 0);
    CnEngineOptions o = cn_engine_defaults(RATE);
    o.length = 8;
    o.wait_beats = 1;
    CnEngine *e = cn_engine_new(&model, &o, &err);
    CHECK(e != NULL);
    CHECK(e && cn_engine_start_worker(e, &err) == 0);
    uint64_t now = 0;
    static const int keys[] = {60, 64, 67, 72, 67, 64};
    for (int i = 0; i < 6; i++) {
        feed(e, now, note(SND_SEQ_EVENT_NOTEON, 0, keys[i], 90));
        feed(e, now, of_type(SND_SEQ_EVENT_SYSEX)); /* junk along the way */
        pump(e, &now, 200);
        feed(e, now, note(SND_SEQ_EVENT_NOTEON, 0, keys[i], 0)); /* velocity 0: off */
        pump(e, &now, 50);
    }
    pump(e, &now, 1000 + 8 * 250 + 700);
    int ons = 0, sounding[128] = {0}, off_grid = 0, left = 0;
    uint64_t first = 0;
    for (int i = 0; i < n_answered; i++) {
        const snd_seq_event_t *ev = &answered[i].ev;
        if (ev->type == SND_SEQ_EVENT_NOTEON) {
            if (ons++ == 0)
                first = answered[i].frame;
            off_grid += (answered[i].frame - first) % EIGHTH != 0;
            sounding[ev->data.note.note]++;
        } else if (ev->type == SND_SEQ_EVENT_NOTEOFF && sounding[ev->data.note.note] > 0) {
            sounding[ev->data.note.note]--;
        }
    }
    for (int k = 0; k < 128; k++)
        left += sounding[k];
    printf("# %d note-ons in the answer, %d off the eighth grid, %d left sounding\n", ons,
           off_grid, left);
    CHECK(ons >= 8);
    CHECK(off_grid == 0);
    CHECK(left == 0);
    /* the answer starts a beat after the last release, on the grid */
    uint64_t last_off = 6 * 250 * 48;
    CHECK(first >= last_off + 2 * EIGHTH && first < last_off + 3 * EIGHTH + 1);
    cn_engine_free(e);
    cn_model_free(&model);
}

/* ----- The command ----- */

static int run_alsa(const char *const *args, const char *log)
{
    return test_run_program(CONTINUO_CLI, args, log);
}

static void test_without_a_sequencer_the_command_says_so(void)
{
    char *dir = test_make_temp_dir("alsa");
    char log[4200];
    snprintf(log, sizeof log, "%s/log.txt", dir);
    const char *args[] = {"alsa", "-w", CONTINUO_SOURCE_DIR "/weights/original.cnw", NULL};
    CHECK(run_alsa(args, log) == 2);
    CHECK(test_file_contains(log, "/dev/snd/seq does not exist"));
    CHECK(test_file_contains(log, "continuo jack"));
    size_t n; /* one line */
    char *text = (char *)test_read_file(log, &n);
    int lines = 0;
    for (size_t i = 0; text && i < n; i++)
        lines += text[i] == '\n';
    CHECK(lines == 1);
    free(text);
    test_remove_tree(dir);
    free(dir);
}

/* A player client: plays a phrase into continuo's input and records its output. */
static void test_end_to_end_with_a_second_client(void)
{
    snd_seq_t *seq;
    CHECK(snd_seq_open(&seq, "default", SND_SEQ_OPEN_DUPLEX, SND_SEQ_NONBLOCK) == 0);
    snd_seq_set_client_name(seq, "continuo-test-player");
    int queue = snd_seq_alloc_queue(seq);
    int out = snd_seq_create_simple_port(seq, "out", SND_SEQ_PORT_CAP_READ |
                                         SND_SEQ_PORT_CAP_SUBS_READ, SND_SEQ_PORT_TYPE_APPLICATION);
    snd_seq_port_info_t *port;
    snd_seq_port_info_alloca(&port);
    snd_seq_port_info_set_name(port, "in");
    snd_seq_port_info_set_capability(port, SND_SEQ_PORT_CAP_WRITE | SND_SEQ_PORT_CAP_SUBS_WRITE);
    snd_seq_port_info_set_type(port, SND_SEQ_PORT_TYPE_APPLICATION);
    snd_seq_port_info_set_timestamping(port, 1);
    snd_seq_port_info_set_timestamp_real(port, 1);
    snd_seq_port_info_set_timestamp_queue(port, queue);
    CHECK(snd_seq_create_port(seq, port) == 0);
    int in = snd_seq_port_info_get_port(port);
    snd_seq_start_queue(seq, queue, NULL);
    snd_seq_drain_output(seq);

    char *dir = test_make_temp_dir("alsa-e2e"), log[4200], in_addr[32], out_addr[32];
    snprintf(log, sizeof log, "%s/log.txt", dir);
    snprintf(in_addr, sizeof in_addr, "%d:%d", snd_seq_client_id(seq), out);
    snprintf(out_addr, sizeof out_addr, "%d:%d", snd_seq_client_id(seq), in);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen(log, "w", stdout) || dup2(fileno(stdout), 2) < 0)
            _exit(126);
        execl(CONTINUO_CLI, CONTINUO_CLI, "alsa", "-w", CONTINUO_SOURCE_DIR "/weights/original.cnw",
              "-n", "continuo-test", "--in", in_addr, "--out", out_addr, "--wait", "1",
              "--length", "8", (char *)NULL);
        _exit(127);
    }
    usleep(1500 * 1000); /* loaded and subscribed */
    static const int keys[] = {60, 64, 67, 72};
    for (int i = 0; i < 4; i++) {
        for (int on = 1; on >= 0; on--) {
            snd_seq_event_t ev = note(on ? SND_SEQ_EVENT_NOTEON : SND_SEQ_EVENT_NOTEOFF, 0,
                                      keys[i], on ? 90 : 0);
            snd_seq_ev_set_source(&ev, out);
            snd_seq_ev_set_subs(&ev);
            snd_seq_ev_set_direct(&ev);
            snd_seq_event_output_direct(seq, &ev);
            usleep(on ? 200000 : 50000);
        }
    }
    double onsets[64];
    int n_on = 0, sounding[128] = {0}, left = 0;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        snd_seq_event_t *ev;
        while (snd_seq_event_input(seq, &ev) >= 0 && ev) {
            double when = ev->time.time.tv_sec + ev->time.time.tv_nsec / 1e9;
            if (ev->type == SND_SEQ_EVENT_NOTEON && ev->data.note.velocity > 0) {
                if (n_on < 64)
                    onsets[n_on++] = when;
                sounding[ev->data.note.note & 127]++;
            } else if ((ev->type == SND_SEQ_EVENT_NOTEOFF || ev->type == SND_SEQ_EVENT_NOTEON) &&
                       sounding[ev->data.note.note & 127] > 0) {
                sounding[ev->data.note.note & 127]--;
            }
        }
        usleep(2000);
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while (t.tv_sec - t0.tv_sec < 5);
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    for (int k = 0; k < 128; k++)
        left += sounding[k];
    int off_grid = 0;
    for (int i = 1; i < n_on; i++) { /* 250 ms apart at 120 bpm, to within 3 ms */
        double eighths = (onsets[i] - onsets[0]) / 0.25;
        off_grid += fabs(eighths - round(eighths)) * 250 > 3;
    }
    printf("# %d note-ons from continuo alsa, %d off the eighth grid, %d left sounding\n",
           n_on, off_grid, left);
    CHECK(n_on >= 8);
    CHECK(off_grid == 0);
    CHECK(left == 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    snd_seq_close(seq);
    test_remove_tree(dir);
    free(dir);
}

/* --learn was accepted and did nothing: now it is refused, saying how to learn. */
static void test_learn_is_refused_with_the_way_to_learn(void)
{
    char *dir = test_make_temp_dir("alsa-learn");
    char log[4200];
    snprintf(log, sizeof log, "%s/log.txt", dir);
    const char *args[] = {"alsa", "-w", CONTINUO_SOURCE_DIR "/weights/original.cnw", "--learn",
                          NULL};
    CHECK(run_alsa(args, log) == 2);
    CHECK(test_file_contains(log, "continuo jack --learn"));
    test_remove_tree(dir);
    free(dir);
}

int main(void)
{
    RUN(test_sequencer_events_become_engine_messages);
    RUN(test_engine_messages_become_sequencer_events);
    RUN(test_the_clock_follower_finds_tempo_and_beats);
    RUN(test_a_lost_clock_tick_keeps_the_beat);
    RUN(test_a_missing_device_is_named);
    RUN(test_a_phrase_through_the_translation_gets_an_answer);
    RUN(test_learn_is_refused_with_the_way_to_learn);
    if (access(CN_SEQ_DEVICE, F_OK) != 0) {
        RUN(test_without_a_sequencer_the_command_says_so);
        printf("# skipped: the end-to-end test with a second sequencer client needs %s, "
               "which this machine lacks\n", CN_SEQ_DEVICE);
    } else {
        RUN(test_end_to_end_with_a_second_client);
    }
    return test_finish();
}
