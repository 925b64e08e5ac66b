/* The original project's own files: Keras models of both versions of its network, written
 * by tests/keras/make_keras.py with h5py the way Keras saves them, imported and checked
 * against that script's numpy forward pass (the oracle; no Keras needed): probabilities
 * within float32 tolerance on the float32 and bfloat16 kernels, and `generate
 * --prime-index N --temperature 0 --mode window` writing what predict.py writes from start N.
 * Foreign and damaged models and hostile pickles are refused with one line each. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "continuo/engine.h"
#include "continuo/keras.h"
#include "continuo/midi_file.h"
#include "continuo/pickle.h"
#include "continuo/state.h"
#include "continuo/tokens.h"
#include "test_util.h"

static char *dir;
static char log_path[4200];

static const char *in_dir(const char *name)
{
    return test_path_in(dir, name);
}

static int run_cli(const char *const *args)
{
    return test_run_program(CONTINUO_CLI, args, log_path);
}

/* The fixtures, or 0 when this machine lacks Debian's h5py and numpy. */
static int make_fixtures(void)
{
    const char *probe[] = {"-c", "import h5py, numpy", NULL};
    if (access("/usr/bin/python3", X_OK) != 0 ||
        test_run_program("/usr/bin/python3", probe, log_path) != 0)
        return 0;
    const char *args[] = {CONTINUO_SOURCE_DIR "/tests/keras/make_keras.py", dir, NULL};
    CHECK(test_run_program("/usr/bin/python3", args, log_path) == 0);
    return 1;
}

static int import(const char *tag, CnModel *m)
{
    char notes_path[64], model_path[64];
    snprintf(notes_path, sizeof notes_path, "%s.notes", tag);
    snprintf(model_path, sizeof model_path, "%s.hdf5", tag);
    CnStringList notes;
    CnVocab vocab;
    CnKerasInfo info;
    CnError err = {{0}};
    int rc = cn_pickle_load_strings(in_dir(notes_path), &notes, &err) ||
             cn_keras_vocab_from_notes(&notes, &vocab, &err);
    if (rc == 0) {
        rc = cn_keras_import(in_dir(model_path), &vocab, m, &info, &err) ||
             cn_keras_set_corpus(m, &notes, &err);
        cn_vocab_free(&vocab);
    }
    if (rc)
        printf("# %s: %s\n", tag, err.message);
    cn_string_list_free(&notes);
    return rc;
}

/* The largest difference between the model's probabilities after each oracle window and
 * the oracle's. */
static double oracle_difference(const CnModel *m, const char *tag)
{
    char name[64];
    snprintf(name, sizeof name, "%s.probs", tag);
    FILE *f = fopen(in_dir(name), "r");
    CHECK(f != NULL);
    if (!f)
        return INFINITY;
    CnState state;
    CnError err = {{0}};
    CHECK(cn_state_init(&state, m, CN_MODE_WINDOW, m->info.seq, &err) == 0);
    double worst = 0;
    int start, n_windows = 0;
    while (fscanf(f, "%d", &start) == 1) {
        cn_state_reset(&state);
        const float *probs = NULL;
        for (int i = 0; i < m->info.seq; i++)
            probs = cn_state_step(&state, m->corpus[start + i]);
        for (int k = 0; k < m->config.n_vocab; k++) {
            double want;
            CHECK(fscanf(f, "%lf", &want) == 1);
            worst = fmax(worst, fabs(want - probs[k]));
        }
        n_windows++;
    }
    fclose(f);
    cn_state_free(&state);
    CHECK(n_windows == 3);
    return worst;
}

static void test_both_versions_match_the_oracle(void)
{
    static const char *const tags[] = {"v2017", "v2019"};
    for (int v = 0; v < 2; v++) {
        CnModel m;
        CnError err = {{0}};
        CHECK(import(tags[v], &m) == 0);
        CHECK(m.config.n_layers == 3 && m.config.n_hidden == 8 && m.config.n_dense == 6);
        CHECK(m.config.gates == (v == 0 ? CN_GATES_HARD_SIGMOID : CN_GATES_SIGMOID));
        CHECK(m.config.dense_activation == (v == 0 ? CN_DENSE_LINEAR : CN_DENSE_RELU));
        CHECK(m.config.n_embed == 0 && m.info.seq == 30 && m.n_corpus == 400);
        double f32 = oracle_difference(&m, tags[v]);
        printf("# %s: float32 kernels within %.2e of the oracle\n", tags[v], f32);
        CHECK(f32 < 2e-6);
        /* saved and loaded: the activations travel in the file, as format version 2, which
           the builds before them refuse instead of running the model with sigmoid gates
           and no ReLU */
        const char *saved = in_dir("saved.cnw");
        CHECK(cn_model_save(&m, NULL, saved, &err) == 0);
        size_t n_bytes = 0;
        uint8_t *bytes = test_read_file(saved, &n_bytes);
        CHECK(bytes && n_bytes > 12 && bytes[8] == 2 && cn_model_file_version(&m) == 2);
        free(bytes);
        CnModel back;
        CHECK(cn_model_load(&back, saved, 0, NULL, &err) == 0);
        CHECK(back.config.gates == m.config.gates &&
              back.config.dense_activation == m.config.dense_activation);
        CHECK(oracle_difference(&back, tags[v]) == f32);
        CHECK(cn_model_pack_f32(&back, &err) == 0); /* the live clients' packed kernels */
        CHECK(oracle_difference(&back, tags[v]) < 2e-6);
        cn_model_free(&back);
        CHECK(cn_model_load(&back, saved, 0, NULL, &err) == 0);
        CHECK(cn_model_make_bf16(&back, &err) == 0);
        double bf16 = oracle_difference(&back, tags[v]);
        printf("# %s: bfloat16 kernels within %.2e\n", tags[v], bf16);
        CHECK(bf16 < 2e-2);
        cn_model_free(&back);
        cn_model_free(&m);
    }
}

/* predict.py's loop from start N: what generate writes with --prime-index N. */
static void test_prime_index_writes_what_predict_writes(void)
{
    static const char *const tags[] = {"v2017", "v2019"};
    for (int v = 0; v < 2; v++) {
        char model_path[64], notes_path[64], gen_path[64];
        snprintf(model_path, sizeof model_path, "%s.hdf5", tags[v]);
        snprintf(notes_path, sizeof notes_path, "%s.notes", tags[v]);
        snprintf(gen_path, sizeof gen_path, "%s.gen", tags[v]);
        const char *cnw = in_dir("cli.cnw"), *mid = in_dir("gen.mid");
        const char *imp[] = {"import-keras", in_dir(model_path), "--notes", in_dir(notes_path),
                             "-o", cnw, NULL};
        CHECK(run_cli(imp) == 0);
        CHECK(test_file_contains(log_path, v == 0 ? "hard_sigmoid" : "2 batch normalizations"));
        FILE *f = fopen(in_dir(gen_path), "r");
        int start = 0, length = 0;
        CHECK(f && fscanf(f, "%d %d", &start, &length) == 2);
        char index[16], count[16];
        snprintf(index, sizeof index, "%d", start);
        snprintf(count, sizeof count, "%d", length);
        const char *gen[] = {"generate", "-w", cnw, "--mode", "window", "--temperature", "0",
                             "--prime-index", index, "--length", count, "--no-prime", "-o",
                             mid, NULL};
        CHECK(run_cli(gen) == 0);
        CnMidi midi;
        CnTokenStream s = {0};
        CnError err = {{0}};
        CHECK(cn_midi_read_file(mid, &midi, &err) == 0);
        CHECK(cn_tokenize(&midi, &s, &err) == 0);
        CHECK(s.n_tokens == (size_t)length);
        int same = 0, on_eighths = 1;
        char want[CN_TOKEN_NAME_MAX], got[CN_TOKEN_NAME_MAX];
        for (size_t i = 0; f && i < s.n_tokens && fscanf(f, "%31s", want) == 1; i++) {
            cn_token_name(s.tokens[i], got);
            same += strcmp(want, got) == 0;
            on_eighths &= s.onsets[i] == 6 * i; /* twelfths of a quarter: half a beat apart */
        }
        printf("# %s: %d of %d tokens as predict.py's from start %d\n", tags[v], same, length,
               start);
        CHECK(same == length);
        CHECK(on_eighths);
        if (f)
            fclose(f);
        cn_token_stream_free(&s);
        cn_midi_free(&midi);
        /* a window past the corpus is refused with the range */
        const char *far[] = {"generate", "-w", cnw, "--prime-index", "371", "-o", mid, NULL};
        CHECK(run_cli(far) == 2);
        CHECK(test_file_contains(log_path, "starts at 0 to 370"));
    }
}

static void test_imported_model_evaluates(void)
{
    const char *cnw = in_dir("eval.cnw");
    const char *imp[] = {"import-keras", in_dir("v2019.hdf5"), "--notes", in_dir("v2019.notes"),
                         "-o", cnw, NULL};
    CHECK(run_cli(imp) == 0);
    const char *eval[] = {"eval", "-w", cnw, "--samples", "2", "--length", "50",
                          CONTINUO_SOURCE_DIR "/midi_songs", NULL};
    CHECK(run_cli(eval) == 0);
    CHECK(test_file_contains(log_path, "copied"));
}

/* The play-along engine, as the JACK and ALSA clients and the plugin drive it: a cycle of
 * 256 frames at 48 kHz every 5.3 ms of wall-clock time, the player's phrase in, the
 * imported model's answer out. */
#define RATE 48000.0
#define PERIOD 256

static int answer_notes(const CnModel *m, int *n_on, int *n_off)
{
    CnEngineOptions o = cn_engine_defaults(RATE);
    o.length = 8;
    CnError err = {{0}};
    CnEngine *e = cn_engine_new(m, &o, &err);
    if (!e || cn_engine_start_worker(e, &err)) {
        printf("# engine: %s\n", err.message);
        cn_engine_free(e);
        return -1;
    }
    static const uint8_t keys[] = {60, 62, 64, 65, 67, 65, 64, 62};
    static CnMidiEvent events[512];
    uint8_t bytes[3];
    *n_on = *n_off = 0;
    uint64_t frame = 0;
    for (int i = 0; i < 8 * 47 + 700; i++, frame += PERIOD) {
        CnMidiEvent in = {.offset = 0, .size = 3, .data = bytes};
        int n_in = 0;
        if (i < 8 * 47 && (i % 47 == 0 || i % 47 == 40)) { /* eighths, held most of each */
            bytes[0] = i % 47 == 0 ? 0x90 : 0x80;
            bytes[1] = keys[i / 47];
            bytes[2] = i % 47 == 0 ? 96 : 0;
            n_in = 1;
        }
        int n = cn_engine_rt_cycle(e, frame, PERIOD, &in, n_in, 0, events, 512);
        for (int k = 0; k < n; k++)
            if (events[k].size == 3 && (events[k].data[0] & 0xf0) == 0x90 && events[k].data[2])
                (*n_on)++;
            else if (events[k].size == 3 && ((events[k].data[0] & 0xf0) == 0x80 ||
                                             (events[k].data[0] & 0xf0) == 0x90))
                (*n_off)++;
        usleep((useconds_t)(PERIOD / RATE * 1e6));
    }
    cn_engine_stop_worker(e);
    CnEngineStats stats = cn_engine_stats(e);
    cn_engine_free(e);
    return stats.answers >= 1 && stats.tokens_heard == 8 ? 0 : -1;
}

static void test_imported_models_play_along(void)
{
    static const char *const tags[] = {"v2017", "v2019"};
    for (int v = 0; v < 2; v++) {
        CnModel m;
        CnError err = {{0}};
        CHECK(import(tags[v], &m) == 0);
        CHECK(cn_model_pack_f32(&m, &err) == 0);
        int n_on = 0, n_off = 0;
        CHECK(answer_notes(&m, &n_on, &n_off) == 0);
        printf("# %s live: %d notes answered, %d released\n", tags[v], n_on, n_off);
        CHECK(n_on >= 8);
        CHECK(n_off == n_on);
        cn_model_free(&m);
    }
}

/* One clear line and exit 2 for each. */
static void refused(const char *model, const char *notes, const char *expected)
{
    const char *out = in_dir("refused.cnw");
    unlink(out);
    const char *args[] = {"import-keras", in_dir(model), "--notes", in_dir(notes), "-o", out,
                          NULL};
    int rc = run_cli(args);
    int said = test_file_contains(log_path, expected);
    if (rc != 2 || !said)
        printf("# %s: exit %d, expected '%s'\n", model, rc, expected);
    CHECK(rc == 2);
    CHECK(said);
    CHECK(access(out, F_OK) != 0);
}

static void test_foreign_and_damaged_models_are_refused(void)
{
    FILE *f = fopen(in_dir("text.hdf5"), "w");
    fputs("not a model\n", f);
    fclose(f);
    refused("text.hdf5", "v2017.notes", "not an HDF5 file");
    refused("not_keras.hdf5", "v2017.notes", "not a whole Keras model");
    refused("weights_only.hdf5", "v2017.notes", "weights only");
    refused("functional.hdf5", "v2017.notes", "a Model model: continuo imports Sequential");
    refused("gru.hdf5", "v2017.notes", "is a GRU");
    refused("conv.hdf5", "v2017.notes", "is a Conv1D");
    refused("two_inputs.hdf5", "v2017.notes", "takes 2 numbers a step");
    refused("wrong_shape.hdf5", "v2017.notes", "has the shape (8, 8)");
    refused("v2017.hdf5", "more.notes", "predicts 12 tokens but the notes hold 13");
    refused("truncated.hdf5", "v2017.notes", "truncated.hdf5");
    refused("v2017.hdf5", "v2017.hdf5", "not a binary pickle");
    /* hostile configurations: a double free, numbers converted out of range, shapes and
       fractions passed silently, a long number read as the list's end */
    refused("empty_layer.hdf5", "v2017.notes", "layer 1 of the configuration has no class");
    refused("units_huge.hdf5", "v2017.notes", "gives 2147483648 as its units");
    refused("units_text.hdf5", "v2017.notes", "gives the string \"8\" as its units");
    refused("units_fraction.hdf5", "v2017.notes", "gives 8.5 as its units");
    refused("steps_negative.hdf5", "v2017.notes", "not [null, steps, features]");
    refused("steps_huge.hdf5", "v2017.notes", "not [null, steps, features]");
    refused("features_null.hdf5", "v2017.notes", "not [null, steps, features]");
    refused("long_number.hdf5", "v2017.notes", "a number longer than any model's");
    /* steps left open (any length) is a real Keras model: the window is the original's */
    const char *out = in_dir("steps_null.cnw");
    const char *open_steps[] = {"import-keras", in_dir("steps_null.hdf5"), "--notes",
                                in_dir("v2017.notes"), "-o", out, NULL};
    CHECK(run_cli(open_steps) == 0);
}

/* A copy of fixture from with byte at set to value (or, with value < 0, bit -value - 1 of
 * it flipped). */
static void damage_copy(const char *from, const char *to, size_t at, int value)
{
    size_t n = 0;
    uint8_t *bytes = test_read_file(in_dir(from), &n);
    CHECK(bytes && at < n);
    if (!bytes || at >= n)
        return;
    bytes[at] = value >= 0 ? (uint8_t)value : (uint8_t)(bytes[at] ^ (1u << (-value - 1)));
    CHECK(test_write_file(in_dir(to), bytes, n) == 0);
    free(bytes);
}

/* Damage that crashed (a flipped bit) or hung (a changed byte) libhdf5 inside continuo:
 * the file is refused as damaged, in its time limit, and nothing is written. */
static void test_damage_that_breaks_hdf5_is_contained(void)
{
    damage_copy("v2017.hdf5", "crash.hdf5", 983, -2);
    damage_copy("v2019.hdf5", "hang.hdf5", 5176, 86);
    const char *names[] = {"crash.hdf5", "hang.hdf5"};
    for (int i = 0; i < 2; i++) {
        const char *out = in_dir("contained.cnw");
        unlink(out);
        const char *args[] = {"import-keras", in_dir(names[i]), "--notes",
                              in_dir(i ? "v2019.notes" : "v2017.notes"), "-o", out,
                              "--time-limit", "5", NULL};
        int rc = run_cli(args);
        printf("# %s: exit %d\n", names[i], rc);
        CHECK(rc == 2);
        CHECK(test_file_contains(log_path, names[i]));
        CHECK(test_file_contains(log_path, "damaged HDF5 file"));
        CHECK(access(out, F_OK) != 0);
    }
}

static void test_vocab_file_instead_of_notes(void)
{
    CnStringList notes;
    CnVocab vocab;
    CnError err = {{0}};
    CHECK(cn_pickle_load_strings(in_dir("v2017.notes"), &notes, &err) == 0);
    CHECK(cn_keras_vocab_from_notes(&notes, &vocab, &err) == 0);
    FILE *sorted = fopen(in_dir("vocab.txt"), "w"), *shuffled = fopen(in_dir("shuffled.txt"), "w");
    for (size_t i = 0; i < vocab.n; i++) {
        fprintf(sorted, "%s\n", vocab.names[i]);
        fprintf(shuffled, "%s\n", vocab.names[vocab.n - 1 - i]);
    }
    fclose(sorted);
    fclose(shuffled);
    const char *ok[] = {"import-keras", in_dir("v2017.hdf5"), "--vocab", in_dir("vocab.txt"),
                        "-o", in_dir("vocab.cnw"), NULL};
    CHECK(run_cli(ok) == 0);
    const char *bad[] = {"import-keras", in_dir("v2017.hdf5"), "--vocab",
                         in_dir("shuffled.txt"), "-o", in_dir("vocab.cnw"), NULL};
    CHECK(run_cli(bad) == 2);
    CHECK(test_file_contains(log_path, "out of order"));
    cn_vocab_free(&vocab);
    cn_string_list_free(&notes);
}

#define P(literal) literal, sizeof(literal) - 1

/* Pickles a real list of notes would never be: each refused, none crashes. */
static void test_hostile_pickles_are_refused(void)
{
    static const struct {
        const char *bytes;
        size_t n;
        const char *expected;
    } cases[] = {
        {P("\x80\x03]q\x00(X\x02\x00\x00\x00" "C4q\x01" "e."), NULL}, /* a good one */
        {P("\x80\x03]q\x00(cos\nsystem\nq\x01" "e."), "opcode 0x63"},      /* GLOBAL */
        {P("\x80\x03]q\x00(X\xff\xff\xff\x7f" "C4e."), "a string of 2147483647 bytes"},
        {P("\x80\x03]q\x00(]q\x01" "e."), "a second list"},
        {P("\x80\x03]q\x00((((e."), "a mark anywhere but after the list"},
        {P("\x80\x03]q\x00(h\x05" "e."), "a memo index never set"},
        {P("\x80\x03]q\x00(h\x00" "e."), "the list referring to itself"},
        {P("\x80\x03]q\x00(X\x02\x00\x00\x00" "C4"), "the end of the file before STOP"},
        {P("\x80\x09]"), "a pickle protocol other than 2 to 5"},
        {P("(lp0\nVC4\np1\na."), "not a binary pickle"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CnStringList list;
        CnError err = {{0}};
        int rc = cn_pickle_read_strings((const uint8_t *)cases[i].bytes, cases[i].n, &list, &err);
        if (!cases[i].expected) {
            CHECK(rc == 0 && list.n == 1 && strcmp(list.items[0], "C4") == 0);
            cn_string_list_free(&list);
        } else {
            CHECK(rc == -1);
            CHECK(strstr(err.message, cases[i].expected) != NULL);
            if (rc == 0 || !strstr(err.message, cases[i].expected))
                printf("# case %zu: %s\n", i, err.message);
        }
    }
}

/* Every configuration the Keras fuzzer keeps is refused, with a reason. */
static void test_config_regressions(void)
{
    DIR *d = opendir(CONTINUO_KERAS_REGRESSIONS);
    CHECK(d != NULL);
    int n_files = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        size_t n;
        uint8_t *text = test_read_file(test_path_in(CONTINUO_KERAS_REGRESSIONS, e->d_name), &n);
        CHECK(text != NULL);
        CnError err = {{0}};
        CHECK(text && cn_keras_check_config((const char *)text, n, NULL, &err) == -1);
        CHECK(err.message[0] != '\0');
        printf("# %s: %s\n", e->d_name, err.message);
        free(text);
        n_files++;
    }
    if (d)
        closedir(d);
    CHECK(n_files >= 4);
}

/* Every pickle the fuzzer keeps: the lists (protocols 2 to 5, repeats memoized) read whole,
 * the others refused with a reason. */
static void test_pickle_regressions(void)
{
    DIR *d = opendir(CONTINUO_PICKLE_REGRESSIONS);
    CHECK(d != NULL);
    int n_files = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", CONTINUO_PICKLE_REGRESSIONS, e->d_name);
        CnStringList list;
        CnError err = {{0}};
        int rc = cn_pickle_load_strings(path, &list, &err);
        if (strncmp(e->d_name, "list_", 5) == 0) {
            CHECK(rc == 0 && list.n == 2400 && strcmp(list.items[2], "4.7.11") == 0 &&
                  strcmp(list.items[2399], "B-2") == 0);
            cn_string_list_free(&list);
        } else {
            CHECK(rc == -1 && err.message[0]);
        }
        n_files++;
    }
    if (d)
        closedir(d);
    CHECK(n_files >= 8);
}

int main(void)
{
    dir = test_make_temp_dir("keras");
    snprintf(log_path, sizeof log_path, "%s/log.txt", dir);
    RUN(test_hostile_pickles_are_refused);
    RUN(test_pickle_regressions);
    RUN(test_config_regressions);
    if (!cn_keras_available() || !make_fixtures()) {
        printf("# skipped: %s\n", cn_keras_available() ? "no /usr/bin/python3 with h5py and numpy "
                                                          "(python3-h5py, python3-numpy)"
                                                        : "built without libhdf5-dev");
        test_remove_tree(dir);
        return test_finish() ? 1 : 77;
    }
    RUN(test_both_versions_match_the_oracle);
    RUN(test_prime_index_writes_what_predict_writes);
    RUN(test_imported_model_evaluates);
    RUN(test_imported_models_play_along);
    RUN(test_foreign_and_damaged_models_are_refused);
    RUN(test_vocab_file_instead_of_notes);
    RUN(test_damage_that_breaks_hdf5_is_contained);
    test_remove_tree(dir);
    return test_finish();
}
