/* `continuo generate` and `continuo eval` on a model trained here on real MIDI files:
 * same seed gives byte-identical files, a MIDI prime is continued (the continuation starts
 * after it), unknown tokens are mapped and counted, and bad weights are refused. */
#include <unistd.h>

#include "continuo/midi_file.h"
#include "continuo/model.h"
#include "continuo/tokens.h"
#include "test_util.h"

static char *dir;
static char weights[4200], log_path[4200];



static int run_cli(const char *const *args)
{
    return test_run_program(CONTINUO_CLI, args, log_path);
}

static int log_contains(const char *text)
{
    return test_file_contains(log_path, text);
}

static void train_small_model(void)
{
    const char *args[] = {"train", "--tokens", "original", "--data",
                          CONTINUO_SOURCE_DIR "/midi_songs", "--out", weights,
                          "--epochs", "3", "--hidden", "24", "--layers", "2", "--dense", "16",
                          "--embed", "8", "--seq", "16", "--batch", "4", "--val-split", "0",
                          "-q", NULL};
    CHECK(run_cli(args) == 0);
}

static CnTokenStream read_tokens(const char *path, CnMidi *midi)
{
    CnTokenStream s = {0};
    CnError err = {{0}};
    CHECK(cn_midi_read_file(path, midi, &err) == 0);
    CHECK(cn_tokenize(midi, &s, &err) == 0);
    return s;
}

static void test_same_seed_gives_identical_files(void)
{
    char a[4300], b[4300];
    snprintf(a, sizeof a, "%s/a.mid", dir);
    snprintf(b, sizeof b, "%s/b.mid", dir);
    const char *ga[] = {"generate", "-w", weights, "--seed", "7", "--length", "60", "-o", a, NULL};
    const char *gb[] = {"generate", "-w", weights, "--seed", "7", "--length", "60", "-o", b, NULL};
    CHECK(run_cli(ga) == 0);
    CHECK(log_contains("60 tokens"));
    CHECK(run_cli(gb) == 0);
    size_t na, nb;
    uint8_t *fa = test_read_file(a, &na), *fb = test_read_file(b, &nb);
    CHECK(fa && fb && na == nb && memcmp(fa, fb, na) == 0);
    free(fb);
    /* bfloat16 weights, and steps shared by two threads: the same file on two threads */
    const char *gc[] = {"generate", "-w", weights, "--seed", "7", "--length", "60", "--bf16",
                        "-o", b, NULL};
    const char *gd[] = {"generate", "-w", weights, "--seed", "7", "--length", "60", "--bf16",
                        "--threads", "2", "-o", a, NULL};
    CHECK(run_cli(gc) == 0);
    CHECK(run_cli(gd) == 0);
    fb = test_read_file(b, &nb);
    free(fa);
    fa = test_read_file(a, &na);
    CHECK(fa && fb && na == nb && memcmp(fa, fb, na) == 0);
    free(fa);
    free(fb);
    /* without --seed, runs in the same second differ (the seed is drawn, not the clock's
       second), and each says its seed */
    char c[4300];
    snprintf(c, sizeof c, "%s/c.mid", dir);
    const char *fresh_a[] = {"generate", "-w", weights, "--length", "60", "-o", a, NULL};
    const char *fresh_c[] = {"generate", "-w", weights, "--length", "60", "-o", c, NULL};
    CHECK(run_cli(fresh_a) == 0);
    CHECK(log_contains(", seed "));
    CHECK(run_cli(fresh_c) == 0);
    fa = test_read_file(a, &na);
    uint8_t *fc = test_read_file(c, &nb);
    CHECK(fa && fc && (na != nb || memcmp(fa, fc, na) != 0));
    free(fa);
    free(fc);
    for (int mode = 0; mode < 2; mode++) { /* argmax, both modes, runs and writes */
        const char *g[] = {"generate", "-w", weights, "--temperature", "0", "--mode",
                           mode ? "window" : "stateful", "--length", "20", "-o", a, NULL};
        CHECK(run_cli(g) == 0);
    }
}

static void test_a_midi_prime_is_continued(void)
{
    char out[4300];
    snprintf(out, sizeof out, "%s/continued.mid", dir);
    const char *prime = CONTINUO_SOURCE_DIR "/midi_songs/ah_vous_dirai_je_maman.mid";
    const char *g[] = {"generate", "-w", weights, "--prime", prime, "--length", "30", "--seed",
                       "1", "-o", out, NULL};
    CHECK(run_cli(g) == 0);
    CHECK(log_contains("after a prime of 66"));
    CnMidi pm, om;
    CnTokenStream p = read_tokens(prime, &pm), o = read_tokens(out, &om);
    CHECK(o.n_tokens == p.n_tokens + 30);
    for (size_t i = 0; i < p.n_tokens && i < o.n_tokens; i++) /* the prime, then the rest */
        CHECK(cn_token_equal(o.tokens[i], p.tokens[i]));
    uint32_t last_prime_onset = 0, first_continuation = UINT32_MAX;
    for (size_t i = 0; i < om.n_notes; i++) {
        if (om.notes[i].track == 0 && om.notes[i].onset > last_prime_onset)
            last_prime_onset = om.notes[i].onset;
        if (om.notes[i].track == 1 && om.notes[i].onset < first_continuation)
            first_continuation = om.notes[i].onset;
    }
    CHECK(om.n_tracks == 2);
    CHECK(first_continuation > last_prime_onset); /* the continuation starts after the prime */
    cn_token_stream_free(&p);
    cn_token_stream_free(&o);
    cn_midi_free(&pm);
    cn_midi_free(&om);

    const char *no_prime[] = {"generate", "-w", weights, "--prime", prime, "--length", "30",
                              "--no-prime", "-o", out, NULL};
    CHECK(run_cli(no_prime) == 0);
    o = read_tokens(out, &om);
    CHECK(o.n_tokens == 30);
    cn_token_stream_free(&o);
    cn_midi_free(&om);
}

static void test_unknown_prime_tokens_are_mapped_and_counted(void)
{
    char prime[4300], out[4300];
    snprintf(prime, sizeof prime, "%s/strange.mid", dir);
    snprintf(out, sizeof out, "%s/strange-out.mid", dir);
    /* keys far outside what the songs use, and a cluster chord */
    MidiBuilder mb = {0};
    mb_header(&mb, 0, 1, 96);
    mb_track_begin(&mb);
    int keys[] = {100, 101, 23, 60};
    for (int i = 0; i < 4; i++) {
        mb_event(&mb, 0, 3, 0x90, keys[i], 80);
        mb_event(&mb, 48, 3, 0x80, keys[i], 0);
    }
    mb_event(&mb, 0, 3, 0x90, 60, 80);
    mb_event(&mb, 0, 3, 0x90, 61, 80);
    mb_event(&mb, 0, 3, 0x90, 62, 80);
    mb_event(&mb, 0, 3, 0x90, 63, 80);
    for (int key = 60; key < 64; key++) /* (a note-on never let go is no note to music21) */
        mb_event(&mb, key == 60 ? 96 : 0, 3, 0x80, key, 0);
    mb_track_end(&mb);
    CHECK(test_write_file(prime, mb.bytes, mb.n) == 0);
    mb_free(&mb);
    const char *g[] = {"generate", "-w", weights, "--prime", prime, "--length", "10", "-o",
                       out, NULL};
    CHECK(run_cli(g) == 0);
    CHECK(log_contains("4 prime tokens the vocabulary lacks were mapped to the nearest"));
}

static void test_bad_weights_and_primes_are_refused(void)
{
    char bad[4300], out[4300];
    snprintf(bad, sizeof bad, "%s/bad.cnw", dir);
    snprintf(out, sizeof out, "%s/never.mid", dir);
    size_t n;
    uint8_t *bytes = test_read_file(weights, &n);
    CHECK(bytes != NULL);
    test_write_file(bad, bytes, n / 2);
    free(bytes);
    const char *g[] = {"generate", "-w", bad, "-o", out, NULL};
    CHECK(run_cli(g) == 1);
    CHECK(log_contains("truncated"));
    CHECK(access(out, F_OK) != 0);
    const char *missing[] = {"generate", "-w", weights, "--prime", "/nonexistent.mid", "-o",
                             out, NULL};
    CHECK(run_cli(missing) == 1);
    CHECK(log_contains("cannot read the prime"));
    const char *badopt[] = {"generate", "-w", weights, "--top-p", "7", NULL};
    CHECK(run_cli(badopt) == 2);
    CHECK(log_contains("--top-p takes a number"));
}

static void test_eval_prints_both_modes(void)
{
    const char *e[] = {"eval", "-w", weights, "--samples", "2", "--length", "40",
                       CONTINUO_SOURCE_DIR "/midi_songs", NULL};
    CHECK(run_cli(e) == 0);
    CHECK(log_contains("cross-entropy"));
    CHECK(log_contains("distinct 4-grams"));
    const char *j[] = {"eval", "-w", weights, "--json", "--samples", "1", "--length", "40",
                       CONTINUO_SOURCE_DIR "/midi_songs", NULL};
    CHECK(run_cli(j) == 0);
    CHECK(log_contains("\"stateful\": {\"cross_entropy\": "));
    CHECK(log_contains("\"copied_8grams\": "));
}

/* How many distinct values of field the notes of one track have. */
static int distinct_values(const CnMidi *m, int track, int field)
{
    uint32_t seen[512];
    int n = 0;
    for (size_t i = 0; i < m->n_notes; i++) {
        if (m->notes[i].track != track)
            continue;
        uint32_t v = field == 0 ? m->notes[i].duration : m->notes[i].velocity;
        int known = 0;
        for (int k = 0; k < n && !known; k++)
            known = seen[k] == v;
        if (!known && n < 512)
            seen[n++] = v;
    }
    return n;
}

/* A timed model, trained here: its continuation has the lengths and loudness it chose,
 * every note ends, a MIDI prime keeps its own rhythm, and eval reads it. */
static void test_a_timed_model_writes_rhythm_lengths_and_velocities(void)
{
    char timed[4300], out[4300];
    snprintf(timed, sizeof timed, "%s/timed.cnw", dir);
    snprintf(out, sizeof out, "%s/timed.mid", dir);
    const char *train[] = {"train", "--tokens", "timed", "--data",
                           CONTINUO_SOURCE_DIR "/midi_songs", "--out", timed, "--epochs", "2",
                           "--hidden", "32", "--layers", "1", "--dense", "0", "--embed", "16",
                           "--seq", "32", "--batch", "8", "--val-split", "0", "-q", NULL};
    CHECK(run_cli(train) == 0);
    const char *info[] = {"info", timed, NULL};
    CHECK(run_cli(info) == 0);
    CHECK(log_contains("tokens:      timed"));
    const char *g[] = {"generate", "-w", timed, "--seed", "5", "--length", "600", "-o", out,
                       NULL};
    CHECK(run_cli(g) == 0);
    CnMidi m;
    CnError err = {{0}};
    CHECK(cn_midi_read_file(out, &m, &err) == 0);
    CHECK(m.n_unclosed == 0 && m.n_tracks == 2);
    CHECK(distinct_values(&m, 1, 0) >= 3); /* lengths */
    CHECK(distinct_values(&m, 1, 1) >= 2); /* velocities */
    for (size_t i = 0; i < m.n_notes; i++)
        CHECK(m.notes[i].duration > 0 && m.notes[i].duration <= CN_TIMED_LONGEST_NOTE * 40);
    cn_midi_free(&m);

    /* a prime keeps its own rhythm: its notes are the file's last 200 events' notes */
    const char *prime = CONTINUO_SOURCE_DIR "/midi_songs/fur_elise.mid";
    const char *gp[] = {"generate", "-w", timed, "--prime", prime, "--prime-length", "200",
                        "--length", "50", "--seed", "2", "-o", out, NULL};
    CHECK(run_cli(gp) == 0);
    CnMidi pm, om;
    CnTokenStream p;
    CHECK(cn_midi_read_file(prime, &pm, &err) == 0 && cn_midi_read_file(out, &om, &err) == 0);
    CHECK(cn_tokenize_timed(&pm, &p, &err) == 0);
    CnRenderOptions render = cn_render_defaults();
    CnNote *want;
    size_t n_want, n_prime = 0, same = 0;
    double quarters;
    CHECK(cn_render_events(p.tokens + p.n_tokens - 200, 200, &render, &want, &n_want,
                           &quarters, &err) == 0);
    for (size_t i = 0; i < om.n_notes; i++) {
        if (om.notes[i].track != 0)
            continue;
        for (size_t k = 0; k < n_want; k++)
            if (want[k].onset == om.notes[i].onset && want[k].pitch == om.notes[i].pitch &&
                want[k].velocity == om.notes[i].velocity) {
                same++;
                break;
            }
        n_prime++;
    }
    CHECK(n_prime == n_want && same == n_want && n_want > 40);
    free(want);
    cn_token_stream_free(&p);
    cn_midi_free(&pm);
    cn_midi_free(&om);

    const char *e[] = {"eval", "-w", timed, "--samples", "2", "--length", "100",
                       CONTINUO_SOURCE_DIR "/midi_songs", NULL};
    CHECK(run_cli(e) == 0);
    CHECK(log_contains("cross-entropy"));
}

int main(void)
{
    dir = test_make_temp_dir("cli-generate");
    snprintf(weights, sizeof weights, "%s/small.cnw", dir);
    snprintf(log_path, sizeof log_path, "%s/log.txt", dir);
    train_small_model();
    RUN(test_same_seed_gives_identical_files);
    RUN(test_a_midi_prime_is_continued);
    RUN(test_unknown_prime_tokens_are_mapped_and_counted);
    RUN(test_bad_weights_and_primes_are_refused);
    RUN(test_eval_prints_both_modes);
    RUN(test_a_timed_model_writes_rhythm_lengths_and_velocities);
    test_remove_tree(dir);
    free(dir);
    return test_finish();
}
