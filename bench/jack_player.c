/* A player for the real-time benchmark: plays a phrase into continuo over JACK, waits for
 * the answer, and measures how long after the phrase's end the first answering note came,
 * against the wait asked for. Repeats for the given number of seconds, and counts the
 * server's xruns meanwhile (run alone, that is the server's own baseline). It also counts
 * the answers' note-ons that are off the grid the others share (a twelfth of a beat at 120
 * bpm: those came late, after their frame had passed). A third
 * argument floods the input besides: that many events a second, MIDI clock at 120 bpm and
 * the rest mod-wheel control changes, evenly spread (thru and the clock follower at work).
 * Usage: jack_player [SECONDS=60] [WAIT_BEATS=2] [FLOOD_PER_SECOND=0] */
#include <jack/jack.h>
#include <jack/midiport.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static jack_client_t *client;
static jack_port_t *out, *in;
static _Atomic uint64_t phrase_end, first_answer;
static _Atomic int phrase_step = -1; /* -1: idle; 0..15: note events to send */
static uint64_t next_event;
static _Atomic int xruns;
static double flood_per_frame, flood_due; /* events a frame, and owed */
static uint64_t next_tick;
#define MAX_ONSETS 65536
static uint64_t onsets[MAX_ONSETS]; /* the answers' note-on frames */
static _Atomic int n_onsets;

static int on_xrun(void *arg)
{
    (void)arg;
    atomic_fetch_add(&xruns, 1);
    return 0;
}

static int process(jack_nframes_t n, void *arg)
{
    (void)arg;
    uint64_t start = jack_last_frame_time(client);
    double eighth = jack_get_sample_rate(client) * 60.0 / 120.0 / 2;
    void *buf = jack_port_get_buffer(out, n);
    jack_midi_clear_buffer(buf);
    int step = atomic_load(&phrase_step);
    if (step == 0 && next_event == 0)
        next_event = start;
    while (step >= 0 && step < 16 && next_event < start + n) {
        uint8_t key = (uint8_t)(60 + (step / 2) % 5);
        uint8_t msg[3] = {step % 2 ? 0x80 : 0x90, key, step % 2 ? 0 : 90};
        jack_midi_event_write(buf, (uint32_t)(next_event > start ? next_event - start : 0), msg, 3);
        if (step % 2 == 1 && step == 15)
            atomic_store(&phrase_end, next_event);
        next_event += step % 2 ? (uint64_t)(eighth * 0.2) : (uint64_t)(eighth * 0.8);
        step++;
    }
    atomic_store(&phrase_step, step >= 16 ? -1 : step);
    if (flood_per_frame > 0) { /* after the phrase's events: times only go forward */
        uint32_t last = jack_midi_get_event_count(buf) ? n - 1 : 0;
        flood_due += flood_per_frame * n;
        int count = flood_due < 256 ? (int)flood_due : 256;
        flood_due -= count;
        for (int k = 0; k < count; k++) {
            uint32_t at = last + (uint32_t)((uint64_t)(n - last) * (uint64_t)k / (uint64_t)count);
            if (next_tick <= start + at) {
                uint8_t tick = 0xf8;
                jack_midi_event_write(buf, at, &tick, 1);
                next_tick = start + at + 1000; /* 24 a beat at 120 bpm, 48 kHz */
            } else {
                uint8_t wheel[3] = {0xb0, 1, (uint8_t)(k & 127)};
                jack_midi_event_write(buf, at, wheel, 3);
            }
        }
    }
    void *ib = jack_port_get_buffer(in, n);
    for (uint32_t i = 0; i < jack_midi_get_event_count(ib); i++) {
        jack_midi_event_t ev;
        if (jack_midi_event_get(&ev, ib, i) != 0 || ev.size != 3 ||
            (ev.buffer[0] & 0xf0) != 0x90 || ev.buffer[2] == 0)
            continue;
        int k = atomic_load(&n_onsets);
        if (k < MAX_ONSETS) {
            onsets[k] = start + ev.time;
            atomic_store(&n_onsets, k + 1);
        }
        if (atomic_load(&first_answer) == 0 && atomic_load(&phrase_end) &&
            start + ev.time > atomic_load(&phrase_end))
            atomic_store(&first_answer, start + ev.time);
    }
    return 0;
}

/* Note-ons off the grid most of them share, and the worst distance from it in frames. */
static int off_grid(uint64_t step, uint64_t *worst)
{
    static int count[65536];
    int n = atomic_load(&n_onsets), best = 0, off = 0;
    if (step > 65536)
        return 0;
    memset(count, 0, sizeof count);
    for (int i = 0; i < n; i++)
        count[onsets[i] % step]++;
    for (uint64_t r = 1; r < step; r++)
        best = count[r] > count[best] ? (int)r : best;
    *worst = 0;
    for (int i = 0; i < n; i++) {
        uint64_t d = (onsets[i] % step + step - (uint64_t)best) % step;
        if (getenv("SHOW_OFF"))
            printf("onset %d at %.3f s: %llu frames off\n", i, (double)onsets[i] / 48000,
                   (unsigned long long)d);
        if (d) {
            off++;
            *worst = d > *worst ? d : *worst;
        }
    }
    return off;
}

int main(int argc, char **argv)
{
    int seconds = argc > 1 ? atoi(argv[1]) : 60;
    double wait_beats = argc > 2 ? atof(argv[2]) : 2;
    double flood = argc > 3 ? atof(argv[3]) : 0;
    client = jack_client_open("bench_player", JackNoStartServer, NULL);
    if (!client) {
        fprintf(stderr, "jack_player: no JACK server\n");
        return 1;
    }
    out = jack_port_register(client, "out", JACK_DEFAULT_MIDI_TYPE, JackPortIsOutput, 0);
    in = jack_port_register(client, "in", JACK_DEFAULT_MIDI_TYPE, JackPortIsInput, 0);
    jack_set_process_callback(client, process, NULL);
    jack_set_xrun_callback(client, on_xrun, NULL);
    jack_activate(client);
    if (jack_connect(client, "bench_player:out", "continuo:in") != 0) /* the baseline's */
        jack_connect(client, "bench_player:out", "continuo:input");   /* jack_midi_dump */
    jack_connect(client, "continuo:out", "bench_player:in");
    double rate = jack_get_sample_rate(client), beat = rate / 2;
    flood_per_frame = flood / rate;
    double sum = 0, worst = 0;
    int n = 0, missed = 0;
    for (int t = 0; t < seconds;) {
        atomic_store(&phrase_end, 0);
        atomic_store(&first_answer, 0);
        next_event = 0;
        atomic_store(&phrase_step, 0);
        sleep(4 + (int)wait_beats); /* the phrase (2 s), the wait, a bit of the answer */
        t += 4 + (int)wait_beats;
        uint64_t end = atomic_load(&phrase_end), answer = atomic_load(&first_answer);
        if (!end || !answer) {
            missed++;
            continue;
        }
        /* the answer is due on the first eighth-note grid point after the silence */
        double late = ((double)(answer - end) - wait_beats * beat) / rate * 1000;
        sum += late;
        worst = late > worst ? late : worst;
        n++;
        sleep(7); /* let the 32-token answer finish */
        t += 7;
    }
    printf("answers %d (missed %d): first note after phrase end minus the wait: mean %.1f ms, "
           "worst %.1f ms (the grid adds up to one eighth, 250 ms)\n", n, missed,
           n ? sum / n : 0, worst);
    uint64_t worst_off = 0;
    int off = off_grid((uint64_t)(beat / 12), &worst_off);
    printf("note-ons off the grid %d of %d, worst %.1f ms after it\n", off,
           atomic_load(&n_onsets), (double)worst_off / rate * 1000);
    printf("xruns the server reported during the %d s: %d\n", seconds, atomic_load(&xruns));
    jack_client_close(client);
    return 0;
}
