/* Answers to calls from real music, as a player without a click would play them into
 * `continuo jack` (bench/jack_calls.sh starts the server and the client): two-bar calls cut
 * at random places from the held-out pieces of a folder (every tenth file, as `continuo
 * eval --held-out 0.1`), moved into a random key, played at 80, 100, 120 or 140 bpm, soft or
 * loud, each from a random moment; the answer that comes back is recorded and measured
 * against the call beside two others: what the composer wrote next (the piece's next two
 * bars, moved and played alike) and random notes in the call's register.
 *
 *   jack_calls DIR [CALLS=24] [SEED=1] [CLIENT=continuo]
 *
 * It connects caller:out to CLIENT's in and CLIENT's out to listener:in itself. Columns: share of the notes' time in
 * the call's key (Krumhansl-Kessler), whether their key is the call's or its relative, the
 * median distance of their onsets from the call's sixteenth grid (ms), whether their beat
 * (cn_beat_find) is the call's tempo, their mean velocity's difference from the call's,
 * the share of notes four beats or longer, the most keys down at once (median over
 * calls), zero-length notes, and silent answers. */
#include <dirent.h>
#include <jack/jack.h>
#include <jack/midiport.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "continuo/beat.h"
#include "continuo/corpus.h"
#include "continuo/key.h"
#include "continuo/midi_file.h"
#include "bench_util.h"

#define CALL_BEATS 8
#define MAX_NOTES 4096
#define MAX_EVENTS 65536

typedef struct {
    uint64_t frame;
    uint8_t bytes[3];
} Event;

/* A note in frames (of the JACK clock), for measuring. */
typedef struct {
    double on, off; /* seconds */
    uint8_t key, velocity;
} Heard;

/* Two clients, so that JACK orders the graph caller -> continuo -> listener and an answer
 * reaches the listener in the cycle it is played (one client both calling and listening
 * would hear every answer a cycle late). */
static jack_client_t *client, *listener;
static jack_port_t *out_port, *in_port;
static Event to_send[MAX_EVENTS], received[MAX_EVENTS];
static _Atomic int n_queued, n_sent, n_received;
static double rate;

static int play_calls(jack_nframes_t n, void *arg)
{
    (void)arg;
    uint64_t start = jack_last_frame_time(client);
    void *buf = jack_port_get_buffer(out_port, n);
    jack_midi_clear_buffer(buf);
    int sent = atomic_load(&n_sent), queued = atomic_load(&n_queued);
    while (sent < queued && to_send[sent].frame < start + n) {
        uint64_t f = to_send[sent].frame;
        jack_midi_event_write(buf, f > start ? (uint32_t)(f - start) : 0, to_send[sent].bytes, 3);
        sent++;
    }
    atomic_store(&n_sent, sent);
    return 0;
}

static int hear_answers(jack_nframes_t n, void *arg)
{
    (void)arg;
    uint64_t start = jack_last_frame_time(listener);
    void *in = jack_port_get_buffer(in_port, n);
    uint32_t count = jack_midi_get_event_count(in);
    for (uint32_t i = 0; i < count; i++) {
        jack_midi_event_t ev;
        int r = atomic_load(&n_received);
        if (jack_midi_event_get(&ev, in, i) || ev.size != 3 || r == MAX_EVENTS)
            continue;
        received[r].frame = start + ev.time;
        memcpy(received[r].bytes, ev.buffer, 3);
        atomic_store(&n_received, r + 1);
    }
    return 0;
}

static int compare_events(const void *a, const void *b)
{
    const Event *x = a, *y = b;
    if (x->frame != y->frame)
        return x->frame < y->frame ? -1 : 1;
    return (x->bytes[0] & 0xf0) - (y->bytes[0] & 0xf0); /* offs (0x80) first */
}



/* The notes of midi with onsets in beats [from, from + CALL_BEATS), moved by shift
 * semitones, played at spb seconds a beat from time t0, loudness times loud. */
static size_t cut(const CnMidi *midi, double from, int shift, double spb, double t0,
                  double loud, Heard *out)
{
    size_t n = 0;
    for (size_t i = 0; i < midi->n_notes && n < MAX_NOTES; i++) {
        const CnNote *m = &midi->notes[i];
        double on = (double)m->onset / midi->ppqn - from;
        double off = fmin(on + (double)m->duration / midi->ppqn, CALL_BEATS);
        int key = m->pitch + shift;
        if (on < 0 || on >= CALL_BEATS || key < 21 || key > 108 || m->channel == 9)
            continue;
        double v = fmin(127, fmax(1, m->velocity * loud));
        out[n++] = (Heard){t0 + on * spb, t0 + fmax(off, on + 0.05) * spb, (uint8_t)key,
                           (uint8_t)v};
    }
    return n;
}

typedef struct {
    double in_key, agree, on_grid_ms, at_tempo, loudness, long_share, keys_at_once;
    int zero_length, n_notes, silent;
} Measures;

/* The measures of notes (n of them) against the call's key, grid and loudness. */
static Measures measure(const Heard *notes, size_t n, int call_key, double call_t0,
                        double spb, double bpm, double call_velocity)
{
    Measures m = {0};
    m.n_notes = (int)n;
    if (n == 0) {
        m.silent = 1;
        return m;
    }
    CnNote as_notes[MAX_NOTES];
    double in_key = 0, all = 0, velocity = 0, offs[MAX_NOTES], times[MAX_NOTES];
    float strength[MAX_NOTES];
    int longs = 0;
    for (size_t i = 0; i < n; i++) {
        double length = notes[i].off - notes[i].on;
        as_notes[i] = (CnNote){.onset = (uint32_t)(notes[i].on * 1000),
                               .duration = (uint32_t)fmax(1, length * 1000),
                               .pitch = notes[i].key, .velocity = notes[i].velocity};
        all += length;
        in_key += cn_key_has(call_key, notes[i].key % 12) ? length : 0;
        velocity += notes[i].velocity;
        longs += length >= 4 * spb;
        m.zero_length += length <= 0;
        double r = fmod(notes[i].on - call_t0, spb / 4);
        offs[i] = 1000 * fmin(fabs(r), spb / 4 - fabs(r));
        times[i] = notes[i].on;
        strength[i] = notes[i].velocity / 127.0f;
    }
    m.in_key = all > 0 ? in_key / all : 0;
    m.agree = cn_keys_related(cn_key_of_notes(as_notes, n), call_key);
    m.on_grid_ms = median(offs, n);
    CnBeat beat;
    for (size_t i = 1; i < n; i++) /* by onset, for the beat finder */
        for (size_t j = i; j > 0 && times[j] < times[j - 1]; j--) {
            double t = times[j];
            times[j] = times[j - 1], times[j - 1] = t;
        }
    m.at_tempo = cn_beat_find(times, strength, n, 120, &beat) == 0 &&
                 fabs(beat.bpm / bpm - 1) < 0.04;
    m.loudness = fabs(velocity / (double)n - call_velocity);
    m.long_share = (double)longs / (double)n;
    /* the most keys down at once: at each onset, those sounding */
    int most = 0;
    for (size_t i = 0; i < n; i++) {
        int down = 0;
        for (size_t j = 0; j < n; j++)
            down += notes[j].on <= notes[i].on && notes[j].off > notes[i].on;
        most = down > most ? down : most;
    }
    m.keys_at_once = most;
    return m;
}

/* The answer's notes from the recording, from index from on. */
static size_t answer_notes(int from, Heard *out)
{
    double on_at[16][128] = {{0}};
    uint8_t vel[16][128] = {{0}};
    size_t n = 0;
    for (int i = from; i < atomic_load(&n_received) && n < MAX_NOTES; i++) {
        const Event *e = &received[i];
        int kind = e->bytes[0] & 0xf0, ch = e->bytes[0] & 15, key = e->bytes[1] & 127;
        double t = (double)e->frame / rate;
        if (kind == 0x90 && e->bytes[2] > 0) {
            if (on_at[ch][key] > 0) /* struck again while it sounds */
                out[n++] = (Heard){on_at[ch][key], t, (uint8_t)key, vel[ch][key]};
            on_at[ch][key] = t;
            vel[ch][key] = e->bytes[2];
        } else if ((kind == 0x80 || kind == 0x90) && on_at[ch][key] > 0) {
            out[n++] = (Heard){on_at[ch][key], t, (uint8_t)key, vel[ch][key]};
            on_at[ch][key] = 0;
        }
    }
    return n;
}

static void queue_notes(const Heard *notes, size_t n)
{
    Event ev[2 * MAX_NOTES];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        ev[k++] = (Event){(uint64_t)(notes[i].on * rate), {0x90, notes[i].key, notes[i].velocity}};
        ev[k++] = (Event){(uint64_t)(notes[i].off * rate), {0x80, notes[i].key, 0}};
    }
    qsort(ev, k, sizeof *ev, compare_events);
    int q = atomic_load(&n_queued);
    for (size_t i = 0; i < k && q < MAX_EVENTS; i++)
        to_send[q++] = ev[i];
    atomic_store(&n_queued, q);
}

/* Random notes in the call's register: as many as the composer's, their onsets anywhere
 * in the two bars, pitch, length and loudness drawn from the call's. */
static size_t random_notes(const Heard *call, size_t n_call, size_t n, double t0, double spb,
                           Heard *out)
{
    int lo = 127, hi = 0;
    for (size_t i = 0; i < n_call; i++) {
        lo = call[i].key < lo ? call[i].key : lo;
        hi = call[i].key > hi ? call[i].key : hi;
    }
    for (size_t i = 0; i < n; i++) {
        const Heard *like = &call[lrand48() % (long)n_call];
        double on = t0 + drand48() * CALL_BEATS * spb;
        out[i] = (Heard){on, on + (like->off - like->on),
                         (uint8_t)(lo + lrand48() % (hi - lo + 1)), like->velocity};
    }
    return n;
}

typedef struct {
    double in_key, agree, at_tempo, loudness, long_share;
    double grid[512], keys[512];
    int n, n_grid, n_keys, zero_length, silent;
} Tally;

static void add(Tally *t, const Measures *m)
{
    t->n++;
    if (m->silent) {
        t->silent++;
        return;
    }
    t->in_key += m->in_key, t->agree += m->agree, t->at_tempo += m->at_tempo;
    t->loudness += m->loudness, t->long_share += m->long_share;
    t->zero_length += m->zero_length;
    if (t->n_grid < 512)
        t->grid[t->n_grid++] = m->on_grid_ms;
    if (t->n_keys < 512)
        t->keys[t->n_keys++] = m->keys_at_once;
}

static void print_row(const char *name, const Tally *t)
{
    double heard = t->n - t->silent > 0 ? t->n - t->silent : 1;
    double grid[512], keys[512];
    memcpy(grid, t->grid, sizeof grid);
    memcpy(keys, t->keys, sizeof keys);
    printf("%-9s %7.3f %7.3f %9.1f %7.3f %9.1f %7.3f %7.1f %6d %6d\n", name, t->in_key / heard,
           t->agree / heard, median(grid, (size_t)t->n_grid), t->at_tempo / heard,
           t->loudness / heard, t->long_share / heard, median(keys, (size_t)t->n_keys),
           t->zero_length, t->silent);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: jack_calls DIR [CALLS=24] [SEED=1] [CLIENT=continuo]\n");
        return 2;
    }
    int n_calls = argc > 2 ? atoi(argv[2]) : 24;
    srand48(argc > 3 ? atol(argv[3]) : 1);
    static char *names[4096];
    long listed = mid_files(argv[1], names, 4096);
    if (listed < 0)
        return 1;
    size_t n_names = (size_t)listed;
    static char *held_out[512];
    int n_held = 0;
    for (size_t i = 0; i < n_names; i++)
        if (cn_corpus_is_validation(i, n_names, 0.1) && n_held < 512)
            held_out[n_held++] = names[i];

    client = jack_client_open("caller", JackNoStartServer, NULL);
    listener = jack_client_open("listener", JackNoStartServer, NULL);
    if (!client || !listener) {
        fprintf(stderr, "jack_calls: no JACK server\n");
        return 1;
    }
    rate = jack_get_sample_rate(client);
    out_port = jack_port_register(client, "out", JACK_DEFAULT_MIDI_TYPE, JackPortIsOutput, 0);
    in_port = jack_port_register(listener, "in", JACK_DEFAULT_MIDI_TYPE, JackPortIsInput, 0);
    jack_set_process_callback(client, play_calls, NULL);
    jack_set_process_callback(listener, hear_answers, NULL);
    jack_activate(client);
    jack_activate(listener);
    const char *other = argc > 4 ? argv[4] : "continuo";
    char their_in[256], their_out[256];
    snprintf(their_in, sizeof their_in, "%s:in", other);
    snprintf(their_out, sizeof their_out, "%s:out", other);
    if (jack_connect(client, jack_port_name(out_port), their_in) ||
        jack_connect(client, their_out, jack_port_name(in_port))) {
        fprintf(stderr, "jack_calls: cannot connect to %s's ports\n", other);
        return 1;
    }
    for (int i = 0; i < 100 && !(jack_port_connected(in_port) && jack_port_connected(out_port)); i++)
        usleep(100000);
    sleep(1);

    static const double tempi[4] = {80, 100, 120, 140};
    Tally answers = {0}, composers = {0}, randoms = {0};
    static Heard call[MAX_NOTES], next[MAX_NOTES], answer[MAX_NOTES], noise[MAX_NOTES];
    for (int k = 0; k < n_calls;) {
        CnMidi midi;
        CnError err = {{0}};
        char path[8192];
        const char *piece = held_out[lrand48() % n_held];
        snprintf(path, sizeof path, "%s/%s", argv[1], piece);
        if (cn_midi_read_file(path, &midi, &err) || midi.n_notes == 0)
            continue;
        double beats = (double)midi.notes[midi.n_notes - 1].onset / midi.ppqn;
        double from = floor(drand48() * fmax(0, beats - 2 * CALL_BEATS));
        double bpm = tempi[lrand48() % 4], spb = 60 / bpm, loud = lrand48() % 2 ? 1.25 : 0.6;
        int shift = (int)(lrand48() % 12) - 5;
        double now = (double)jack_frame_time(client) / rate;
        double t0 = now + 0.5 + drand48() * spb; /* a random moment */
        size_t n_call = cut(&midi, from, shift, spb, t0, loud, call);
        size_t n_next = cut(&midi, from + CALL_BEATS, shift, spb, t0 + CALL_BEATS * spb, loud, next);
        cn_midi_free(&midi);
        if (n_call < 8 || n_next < 4)
            continue;
        k++;
        double call_end = 0, velocity = 0;
        CnNote as_notes[MAX_NOTES];
        for (size_t i = 0; i < n_call; i++) {
            call_end = fmax(call_end, call[i].off);
            velocity += call[i].velocity;
            as_notes[i] = (CnNote){.onset = (uint32_t)((call[i].on - t0) * 1000),
                                   .duration = (uint32_t)fmax(1, (call[i].off - call[i].on) * 1000),
                                   .pitch = call[i].key, .velocity = call[i].velocity};
        }
        velocity /= (double)n_call;
        int key = cn_key_of_notes(as_notes, n_call);
        int from_event = atomic_load(&n_received);
        queue_notes(call, n_call);
        /* the answer: until two seconds pass without a note, at most 30 s */
        usleep((useconds_t)((call_end - now) * 1e6));
        for (int quiet = 0, seen = -1, waited = 0; quiet < 20 && waited < 300; waited++) {
            int r = atomic_load(&n_received);
            quiet = r == seen ? quiet + 1 : 0;
            seen = r;
            usleep(100000);
        }
        size_t n_answer = answer_notes(from_event, answer);
        /* the answer's two bars after its first note, as the composer's two bars */
        double first = n_answer ? answer[0].on : 0;
        for (size_t i = 1; i < n_answer; i++)
            first = fmin(first, answer[i].on);
        size_t kept = 0;
        for (size_t i = 0; i < n_answer; i++)
            if (answer[i].on < first + CALL_BEATS * spb)
                answer[kept++] = answer[i];
        Measures a = measure(answer, kept, key, t0, spb, bpm, velocity);
        Measures c = measure(next, n_next, key, t0, spb, bpm, velocity);
        size_t n_noise = random_notes(call, n_call, n_next, t0 + CALL_BEATS * spb, spb, noise);
        Measures r = measure(noise, n_noise, key, t0, spb, bpm, velocity);
        add(&answers, &a), add(&composers, &c), add(&randoms, &r);
        fprintf(stderr, "call %d: %s %+d at %.0f bpm, velocity %.0f, in %s: answer %zu notes, "
                        "%.2f in key, grid %.1f ms, %s tempo\n", k, piece, shift,
                bpm, velocity, cn_key_name(key), kept, a.in_key, a.on_grid_ms,
                a.at_tempo ? "its" : "not its");
    }
    printf("%d calls of two bars from held-out pieces (80/100/120/140 bpm, soft or loud, any key, "
           "a random moment)\n", n_calls);
    printf("%-9s %7s %7s %9s %7s %9s %7s %7s %6s %6s\n", "", "in-key", "agrees", "grid-ms",
           "tempo", "loudness", ">4beat", "keys", "zero", "silent");
    print_row("continuo", &answers);
    print_row("random", &randoms);
    print_row("composer", &composers);
    jack_client_close(client);
    jack_client_close(listener);
    for (size_t i = 0; i < n_names; i++)
        free(names[i]);
    return 0;
}
