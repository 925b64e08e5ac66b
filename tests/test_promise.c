/* The promise each token scheme makes (docs/TOKENS.md): the live engine feeds the model
 * what training fed it, and plays what offline rendering writes.
 * - Hearing: a MIDI file's key events played into the engine in time order, off the grid
 *   by up to two fifths of a step, in any order within a step, the sustain pedal pressed
 *   and let go throughout, are heard as the file's own tokens, token for token: for the
 *   timed scheme on every typed piece and on the openings of held-out piano pieces, and on
 *   a hand-made file of keys struck again while they sound, keys struck twice at one
 *   instant on two channels, notes of no length and a key of two voices; for the original
 *   scheme on chords struck and let go together (the one difference of its two listeners,
 *   a note struck with a chord but let go apart, shown).
 * - Playing: a token stream played by the engine's player on the beat grid gives the notes
 *   the renderer writes for it, frame for frame, for both schemes. */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>

#include "continuo/engine.h"
#include "continuo/midi_file.h"
#include "continuo/scheme.h"
#include "test_util.h"
#include "worker.h"

#define RATE 48000.0
#define PERIOD 256
#define STEP 2000          /* frames of a twelfth of a beat at 120 bpm */
#define TICK_FRAMES 50     /* frames of a tick at 480 ticks a beat and 120 bpm */

static CnModel timed, original;

/* ----- Driving an engine as a host does ------------------------------------------------ */

typedef struct {
    uint64_t frame;
    uint8_t bytes[3];
} Played;

static int compare_played(const void *a, const void *b)
{
    const Played *x = a, *y = b;
    return x->frame < y->frame ? -1 : x->frame > y->frame;
}

/* The events at their frames, cycle by cycle, a worker pass after each; then a beat more,
 * so that the last step's events are heard. */
static void play_into(CnEngine *e, Played *events, size_t n)
{
    qsort(events, n, sizeof *events, compare_played);
    static CnMidiEvent in[4096], out[1024];
    uint64_t frame = 0, end = (n ? events[n - 1].frame : 0) + 24 * STEP;
    size_t next = 0;
    while (frame < end) {
        int n_in = 0;
        while (next < n && events[next].frame < frame + PERIOD && n_in < 4096) {
            in[n_in] = (CnMidiEvent){.offset = (uint32_t)(events[next].frame - frame),
                                     .size = 3, .data = events[next].bytes};
            n_in++, next++;
        }
        cn_engine_rt_cycle(e, frame, PERIOD, in, n_in, 0, out, 1024);
        cn_engine_work(e);
        frame += PERIOD;
    }
}

static CnEngine *engine_on(const CnModel *model)
{
    CnEngineOptions o = cn_engine_defaults(RATE);
    o.wait_beats = 64; /* no answer: only what is heard */
    CnError err = {{0}};
    CnEngine *e = cn_engine_new(model, &o, &err);
    if (!e)
        fprintf(stderr, "%s\n", err.message);
    CHECK(e != NULL);
    return e;
}

/* ----- Hearing ------------------------------------------------------------------------ */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static int64_t jitter(int64_t most)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (int64_t)(rng % (uint64_t)(2 * most + 1)) - most;
}

static int64_t to_steps(uint64_t tick, unsigned ppqn)
{
    return (int64_t)((tick * CN_TIMED_STEPS_PER_BEAT + ppqn / 2) / ppqn);
}

/* The notes' key events as a player plays them: each within two fifths of a step of its
 * grid point (a note's release, when that is its strike's step, a step on), each of the
 * file's voices (a track's channel) on a channel of its own, as a cable tells voices
 * apart, and the pedal pressed on every bar and let go before the next. Returns the
 * count. */
static size_t key_events(const CnMidi *midi, Played *events, size_t max, int timed_grid)
{
    size_t n = 0;
    int64_t first = midi->n_notes ? to_steps(midi->notes[0].onset, midi->ppqn) : 0, last = 0;
    for (size_t i = 0; i < midi->n_notes && n + 2 <= max; i++) {
        const CnNote *note = &midi->notes[i];
        int64_t on = to_steps(note->onset, midi->ppqn) - first;
        int64_t off = to_steps((uint64_t)note->onset + note->duration, midi->ppqn) - first;
        off = off > on ? off : on + 1;
        int64_t most = timed_grid ? 2 * STEP / 5 : 0; /* the original's chords: struck at once */
        uint64_t on_frame = (uint64_t)(STEP * (2 + on) + jitter(most));
        uint64_t off_frame = (uint64_t)(STEP * (2 + off) + jitter(most));
        uint8_t channel = (uint8_t)((note->channel + note->track) & 15);
        events[n++] = (Played){on_frame, {(uint8_t)(0x90 | channel), note->pitch,
                                          note->velocity}};
        events[n++] = (Played){off_frame > on_frame ? off_frame : on_frame + 1,
                               {(uint8_t)(0x80 | channel), note->pitch, 0}};
        last = off > last ? off : last;
    }
    for (int64_t bar = 0; bar * 48 <= last && n + 2 <= max; bar++) {
        uint64_t at = (uint64_t)(STEP * (2 + bar * 48) + STEP / 3);
        events[n++] = (Played){at, {0xb0, CN_CC_SUSTAIN, 127}};
        events[n++] = (Played){at + 40 * STEP, {0xb0, CN_CC_SUSTAIN, 0}};
    }
    return n;
}

/* How many of the file's tokens the engine heard alike, from the first; prints the first
 * difference. */
static size_t heard_alike(const CnModel *model, const CnMidi *midi, const char *name,
                          size_t *n_file)
{
    static Played events[1 << 16];
    static CnToken heard[CN_ENGINE_HEARD_LOG];
    CnTokenStream file;
    CnError err = {{0}};
    CHECK(cn_tokenize_scheme(midi, model->vocab.scheme, &file, &err) == 0);
    CnEngine *e = engine_on(model);
    if (!e)
        return 0;
    play_into(e, events, key_events(midi, events, 1 << 16, model->vocab.scheme == CN_SCHEME_TIMED));
    size_t n = cn_engine_heard(e, heard, CN_ENGINE_HEARD_LOG), same = 0;
    while (same < n && same < file.n_tokens && cn_token_equal(heard[same], file.tokens[same]))
        same++;
    printf("# %s (%s): %zu tokens in the file, %zu heard, the first %zu alike\n", name,
           cn_scheme_name(model->vocab.scheme), file.n_tokens, n, same);
    for (size_t k = same; k < same + 4 && k < n && k < file.n_tokens; k++) {
        char a[CN_TOKEN_NAME_MAX], b[CN_TOKEN_NAME_MAX];
        cn_token_name(heard[k], a);
        cn_token_name(file.tokens[k], b);
        printf("#   %zu: heard %s, the file %s\n", k, a, b);
    }
    CHECK(file.n_tokens < CN_ENGINE_HEARD_LOG);
    *n_file = file.n_tokens;
    cn_token_stream_free(&file);
    cn_engine_free(e);
    return n == *n_file ? same : 0;
}

static void check_heard(const CnModel *model, const CnMidi *midi, const char *name)
{
    size_t n_file, same = heard_alike(model, midi, name, &n_file);
    CHECK(same == n_file);
}

/* The notes of a file from its first note up to `seconds` in (at 120 bpm). */
static void keep_opening(CnMidi *midi, double seconds)
{
    size_t n = 0;
    uint32_t first = midi->n_notes ? midi->notes[0].onset : 0;
    for (size_t i = 0; i < midi->n_notes; i++)
        if ((double)(midi->notes[i].onset - first) / midi->ppqn * 0.5 < seconds)
            midi->notes[n++] = midi->notes[i];
    midi->n_notes = n;
}

static void test_the_timed_hearing_gives_every_typed_piece_its_tokens(void)
{
    DIR *dir = opendir(CONTINUO_SOURCE_DIR "/midi_songs");
    CHECK(dir != NULL);
    int n_files = 0;
    for (struct dirent *d; dir && (d = readdir(dir));) {
        size_t len = strlen(d->d_name);
        if (len < 5 || strcmp(d->d_name + len - 4, ".mid") != 0)
            continue;
        char path[4200];
        snprintf(path, sizeof path, "%s/midi_songs/%s", CONTINUO_SOURCE_DIR, d->d_name);
        CnMidi midi;
        CnError err = {{0}};
        CHECK(cn_midi_read_file(path, &midi, &err) == 0);
        check_heard(&timed, &midi, d->d_name);
        cn_midi_free(&midi);
        n_files++;
    }
    if (dir)
        closedir(dir);
    CHECK(n_files >= 20);
}

/* Real piano music, as the model learned it: the openings of pieces held out of its
 * training (midi_songs/piano-midi/README.md). */
static void test_the_timed_hearing_gives_piano_music_its_tokens(void)
{
    static const char *const pieces[] = {"Albeniz_alb_se7.mid", "Chopin_chpn-p14.mid",
                                         "Clementi_clementi_opus36_4_1.mid",
                                         "Debussy_debussy_cc_1.mid", "Mozart_mz_331_3.mid"};
    for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/midi_songs/piano-midi/%s", CONTINUO_SOURCE_DIR,
                 pieces[i]);
        CnMidi midi;
        CnError err = {{0}};
        if (cn_midi_read_file(path, &midi, &err) != 0) {
            fprintf(stderr, "%s\n", err.message);
            CHECK(0);
            continue;
        }
        keep_opening(&midi, 20);
        check_heard(&timed, &midi, pieces[i]);
        cn_midi_free(&midi);
    }
}

static CnNote note(uint32_t onset, uint32_t duration, uint8_t pitch, uint8_t velocity,
                   uint8_t channel)
{
    return (CnNote){.onset = onset, .duration = duration, .pitch = pitch,
                    .velocity = velocity, .channel = channel};
}

/* The notes as a MIDI file, written and read back. */
static CnMidi hand_made(const CnNote *notes, size_t n)
{
    char path[4200];
    CnMidi midi = {0};
    CnError err = {{0}};
    CnMidiWriteOptions o = {.ppqn = 480, .bpm = 120};
    char *dir = test_make_temp_dir("promise");
    CHECK(dir != NULL);
    snprintf(path, sizeof path, "%s/hand-made.mid", dir ? dir : ".");
    CHECK(cn_midi_write_file(path, notes, n, &o, &err) == 0);
    CHECK(cn_midi_read_file(path, &midi, &err) == 0);
    CHECK(midi.n_notes == n);
    test_remove_tree(dir);
    free(dir);
    return midi;
}

static void test_the_timed_hearing_keeps_struck_again_and_at_once(void)
{
    CnNote notes[] = {
        note(0, 960, 60, 80, 0),     /* C4 held two beats ... */
        note(480, 240, 60, 100, 0),  /* ... struck again while it sounds: off, on */
        note(480, 480, 64, 100, 0),  /* E4 with it */
        note(960, 480, 67, 60, 0),   /* G4 struck on two channels at one instant: one note */
        note(960, 240, 67, 60, 1),
        note(1440, 0, 72, 90, 0),    /* a note of no length: a step long */
        note(1440, 480, 48, 90, 0),
        note(1920, 1440, 55, 70, 0), /* a key of two voices, the later ending first */
        note(2160, 240, 55, 70, 1),
        note(4800, 240, 62, 50, 0),  /* after a bar's silence, softer */
        note(4800, 10, 21, 127, 0),  /* the lowest key, loudest, shortest */
    };
    CnMidi midi = hand_made(notes, sizeof notes / sizeof notes[0]);
    check_heard(&timed, &midi, "hand-made");
    cn_midi_free(&midi);
}

/* The original scheme's two listeners: a file's (music21's: struck and let go together,
 * within a sixty-fourth) and the live chord window's (struck within 40 ms). */
static void test_the_original_hearing_gives_chords_struck_and_let_go_together(void)
{
    CnNote notes[] = {
        note(0, 480, 60, 80, 0), note(0, 480, 64, 80, 0), note(0, 480, 67, 80, 0),
        note(480, 240, 62, 80, 0),
        note(960, 480, 65, 80, 0), note(960, 480, 69, 80, 0),
        note(1920, 480, 67, 80, 0),
        note(2400, 960, 60, 80, 0), note(2400, 960, 64, 80, 0),
    };
    CnMidi midi = hand_made(notes, sizeof notes / sizeof notes[0]);
    check_heard(&original, &midi, "chords let go together");
    cn_midi_free(&midi);

    CnNote apart[] = {note(0, 960, 48, 80, 0), note(0, 240, 60, 80, 0), note(0, 240, 64, 80, 0)};
    CnMidi held = hand_made(apart, 3);
    size_t n_file, same = heard_alike(&original, &held, "a bass held apart", &n_file);
    CHECK(n_file == 2 && same == 0); /* the file: C3, then 0.4; live: one chord */
    cn_midi_free(&held);
}

/* ----- Playing ------------------------------------------------------------------------ */

typedef struct {
    uint64_t onset, length;
    uint8_t key, velocity;
} Sounded;

static int compare_sounded(const void *a, const void *b)
{
    const Sounded *x = a, *y = b;
    if (x->onset != y->onset)
        return x->onset < y->onset ? -1 : 1;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->length < y->length ? -1 : x->length > y->length;
}

/* The engine's output ring as notes: a release ends the earliest sounding note of its key. */
static size_t output_notes(CnEngine *e, Sounded *notes, size_t max)
{
    size_t n = 0;
    int64_t open[128][4];
    int n_open[128] = {0};
    CnTimedEvent ev;
    while (cn_ring_pop(&e->out, &ev) == 0) {
        uint8_t kind = ev.bytes[0] & 0xf0, key = ev.bytes[1] & 127;
        if (kind == 0x90 && ev.bytes[2] > 0 && n < max && n_open[key] < 4) {
            open[key][n_open[key]++] = (int64_t)n;
            notes[n++] = (Sounded){ev.frame, 0, key, ev.bytes[2]};
        } else if ((kind == 0x80 || kind == 0x90) && n_open[key] > 0) {
            Sounded *s = &notes[open[key][0]];
            s->length = ev.frame - s->onset;
            memmove(open[key], open[key] + 1, (size_t)--n_open[key] * sizeof open[key][0]);
        }
    }
    qsort(notes, n, sizeof *notes, compare_sounded);
    return n;
}

/* The tokens played live from `start` against the rendered notes, moved to frames. */
static void check_played(const CnModel *model, const CnToken *tokens, size_t n_tokens,
                         const char *name)
{
    static Sounded live[1 << 15], rendered[1 << 15];
    CnEngine *e = engine_on(model);
    if (!e)
        return;
    Worker *w = e->work;
    const uint64_t start = 4 * 24000; /* on a beat */
    CnPlayer player;
    cn_player_reset(&player, -1, 90);
    uint64_t frame = start;
    for (size_t i = 0; i < n_tokens; i++) {
        int id = cn_vocab_index(&model->vocab, tokens[i]);
        CHECK(id >= 0);
        if (id >= 0)
            cn_answer_play(e, w, &player, id, &frame);
    }
    /* the renderer's end: a timed stream's keys still down go up a beat after it */
    uint64_t end = model->vocab.scheme == CN_SCHEME_TIMED ? frame + 24000 : frame;
    cn_answer_play_end(e, w, &player, frame, end);
    CHECK(cn_ring_dropped(&e->out) == 0);
    size_t n_live = output_notes(e, live, 1 << 15);

    CnRenderOptions options = cn_render_defaults();
    CnNote *notes;
    size_t n_notes;
    CnError err = {{0}};
    CHECK(cn_render_scheme(tokens, n_tokens, model->vocab.scheme, &options, &notes, &n_notes,
                           NULL, &err) == 0);
    size_t n = 0;
    for (size_t i = 0; i < n_notes && n < (1 << 15); i++)
        rendered[n++] = (Sounded){start + (uint64_t)notes[i].onset * TICK_FRAMES,
                                  (uint64_t)notes[i].duration * TICK_FRAMES, notes[i].pitch,
                                  notes[i].velocity};
    free(notes);
    qsort(rendered, n, sizeof *rendered, compare_sounded);
    size_t same = 0;
    while (same < n && same < n_live && compare_sounded(&live[same], &rendered[same]) == 0 &&
           live[same].velocity == rendered[same].velocity)
        same++;
    printf("# %s (%s): %zu notes rendered, %zu played, the first %zu alike\n", name,
           cn_scheme_name(model->vocab.scheme), n, n_live, same);
    if (same < n && same < n_live)
        printf("#   played %u at %llu for %llu, rendered %u at %llu for %llu\n",
               live[same].key, (unsigned long long)live[same].onset,
               (unsigned long long)live[same].length, rendered[same].key,
               (unsigned long long)rendered[same].onset,
               (unsigned long long)rendered[same].length);
    CHECK(n > 0 && n_live == n && same == n);
    cn_engine_free(e);
}

static void test_the_players_play_what_the_renderer_writes(void)
{
    static const char *const files[] = {"fur_elise.mid", "gymnopedie_no1.mid",
                                        "canon_in_d.mid"};
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/midi_songs/%s", CONTINUO_SOURCE_DIR, files[f]);
        CnMidi midi;
        CnTokenStream stream;
        CnError err = {{0}};
        CHECK(cn_midi_read_file(path, &midi, &err) == 0);
        CHECK(cn_tokenize_timed(&midi, &stream, &err) == 0);
        check_played(&timed, stream.tokens, stream.n_tokens, files[f]);
        cn_token_stream_free(&stream);
        cn_midi_free(&midi);
    }
    /* the hard cases: struck again while sounding, twice at one instant, let go at once,
       held past the longest, still down at the end */
    static const char *const names[] = {
        "vel:9", "on:C4", "shift:6", "on:C4", "on:E4", "shift:6", "on:E4", "off:E4", "on:G4",
        "off:G4", "shift:3", "off:C4", "on:G4", "shift:48", "shift:48", "shift:12", "vel:2",
        "on:A0", "shift:1", "on:C8"};
    CnToken hard[sizeof names / sizeof names[0]];
    CnError err = {{0}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        CHECK(cn_token_parse(names[i], &hard[i], &err) == 0);
    check_played(&timed, hard, sizeof names / sizeof names[0], "hand-made events");
    /* the original's tokens, one an eighth, each a quarter long (a key struck again while
       it sounds sounds twice, as rendered) */
    check_played(&original, original.vocab.tokens, original.vocab.n, "every original token");
    if (original.corpus)
        check_played(&original, (CnToken[]){original.vocab.tokens[original.corpus[0]],
                                            original.vocab.tokens[original.corpus[0]],
                                            original.vocab.tokens[original.corpus[1]]},
                     3, "a token twice");
}

int main(void)
{
    CnError err = {{0}};
    if (cn_model_load(&timed, CONTINUO_SOURCE_DIR "/weights/default.cnw", 0, NULL, &err) ||
        cn_model_load(&original, CONTINUO_SOURCE_DIR "/weights/original.cnw", 0, NULL, &err)) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    RUN(test_the_timed_hearing_gives_every_typed_piece_its_tokens);
    RUN(test_the_timed_hearing_gives_piano_music_its_tokens);
    RUN(test_the_timed_hearing_keeps_struck_again_and_at_once);
    RUN(test_the_original_hearing_gives_chords_struck_and_let_go_together);
    RUN(test_the_players_play_what_the_renderer_writes);
    cn_model_free(&timed);
    cn_model_free(&original);
    return test_finish();
}
