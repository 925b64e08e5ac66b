/* The .cnw weights file: a saved model loads back bit-identical, and every damaged or
 * foreign file is refused with a message that says which and why. */
#define _GNU_SOURCE /* memmem */
#include <dirent.h>
#include <math.h>

#include "continuo/model.h"
#include "crc32.h"
#include "test_util.h"

static const char *names[] = {"0.4.7", "2.7", "C4", "D4", "E4", "F#4", "G4"};

static void make_model(CnModel *m, int n_embed)
{
    CnVocab vocab;
    CnError err = {{0}};
    CHECK(cn_vocab_from_names(names, 7, &vocab, &err) == 0);
    CnModelConfig config = {.n_vocab = 7, .n_embed = n_embed, .n_layers = 2, .n_hidden = 12,
                            .n_dense = 5, .dropout = 0.3f};
    CHECK(cn_model_init(m, &config, &vocab, 42, &err) == 0);
    uint16_t ids[] = {0, 1, 2, 3, 4, 5, 6, 2, 3};
    uint32_t starts[] = {0, 4};
    CHECK(cn_model_set_corpus(m, ids, 9, starts, 2, &err) == 0);
    m->info.epochs = 3;
    m->info.train_loss = 1.25;
    m->info.val_loss = 1.5;
    m->info.val_accuracy = 0.25;
    snprintf(m->info.objective, sizeof m->info.objective, "all");
    cn_vocab_free(&vocab);
}

static char *dir;
#define HEADER_END 1024 /* past the header and table: inside the first sections' data */
static char path[4200];

static void test_saved_model_loads_back_identical(void)
{
    CnModel m, back;
    make_model(&m, 4);
    CnError err = {{0}};
    float moments[4096];
    for (size_t i = 0; i < m.n_params && i < 4096; i++)
        moments[i] = (float)i;
    float *big_moments = calloc(m.n_params, sizeof(float));
    memcpy(big_moments, moments, (m.n_params < 4096 ? m.n_params : 4096) * sizeof(float));
    char blob[] = "state_format=1\nepoch=3\n";
    CnTrainState ts = {.moments = big_moments, .blob = (uint8_t *)blob, .n_blob = strlen(blob)};
    CHECK(cn_model_save(&m, &ts, path, &err) == 0);
    for (int writable = 0; writable < 2; writable++) {
        CnTrainState got;
        CHECK(cn_model_load(&back, path, writable, &got, &err) == 0);
        CHECK(back.n_params == m.n_params);
        CHECK(memcmp(back.params, m.params, m.n_params * sizeof(float)) == 0);
        CHECK(back.config.n_hidden == 12 && back.config.n_embed == 4 && back.config.n_dense == 5);
        CHECK_NEAR(back.config.dropout, 0.3, 1e-7);
        CHECK(back.vocab.n == 7);
        CHECK_STR(back.vocab.names[3], "D4");
        CHECK(back.n_corpus == 9 && back.n_songs == 2 && back.song_starts[1] == 4);
        CHECK(back.info.epochs == 3);
        CHECK_NEAR(back.info.val_loss, 1.5, 1e-12);
        CHECK_STR(back.info.objective, "all");
        CHECK(got.moments && memcmp(got.moments, big_moments, m.n_params * 4) == 0);
        CHECK(got.blob && strcmp((char *)got.blob, blob) == 0);
        CHECK(back.w.lstm[1].bias[12] == 1.0f); /* views are wired up */
        cn_train_state_free(&got);
        cn_model_free(&back);
    }
    free(big_moments);
    cn_model_free(&m);
}

static void expect_refused(const uint8_t *bytes, size_t n, const char *why)
{
    char bad[4300];
    snprintf(bad, sizeof bad, "%s/bad.cnw", dir);
    CHECK(test_write_file(bad, bytes, n) == 0);
    CnModel m;
    CnTrainState ts; /* asking for the training state checks every section */
    CnError err = {{0}};
    int rc = cn_model_load(&m, bad, 0, &ts, &err);
    CHECK(rc != 0);
    if (rc == 0) {
        cn_model_free(&m);
        cn_train_state_free(&ts);
        return;
    }
    if (!strstr(err.message, why))
        fprintf(stderr, "message \"%s\" lacks \"%s\"\n", err.message, why);
    CHECK(strstr(err.message, why) != NULL);
    CHECK(strstr(err.message, "bad.cnw") != NULL); /* names the file */
}

/* Gives the section called name the type dtype and makes the table's checksum right
 * again: a well-formed file whose section is of the wrong type. */
static void retype_section(uint8_t *bytes, const char *name, uint32_t dtype)
{
    uint32_t n_entries;
    memcpy(&n_entries, bytes + 12, 4);
    for (uint32_t i = 0; i < n_entries; i++) {
        uint8_t *entry = bytes + 64 + 64 * i;
        if (strcmp((const char *)entry, name) == 0)
            memcpy(entry + 32, &dtype, 4);
    }
    uint32_t zero = 0, crc;
    memcpy(bytes + 24, &zero, 4);
    crc = cn_crc32(cn_crc32(0, bytes, 64), bytes + 64, 64 * (size_t)n_entries);
    memcpy(bytes + 24, &crc, 4);
}

static void test_damaged_files_are_refused_with_reasons(void)
{
    size_t n;
    uint8_t *good = test_read_file(path, &n);
    CHECK(good != NULL && n > 1000);
    uint8_t *copy = malloc(n);

    expect_refused(good, 0, "empty");
    expect_refused(good, 5, "truncated");
    expect_refused(good, 40, "truncated");
    expect_refused(good, n / 2, "truncated");
    expect_refused(good, n - 1, "truncated");

    memcpy(copy, good, n); /* wrong magic */
    copy[1] = 'X';
    expect_refused(copy, n, "not a continuo weights file");

    memcpy(copy, good, n); /* a newer format */
    copy[8] = CN_WEIGHTS_VERSION + 1;
    expect_refused(copy, n, "newer continuo");

    memcpy(copy, good, n); /* parameters of another type, checksums right */
    retype_section(copy, "params", 3);
    expect_refused(copy, n, "the 'params' section is not of float32");

    memcpy(copy, good, n); /* a bit flip in the section table */
    copy[64 + 3] ^= 0x10;
    expect_refused(copy, n, "checksum");

    memcpy(copy, good, n); /* a bit flip deep in the optimizer state */
    copy[n - 200] ^= 0x01;
    expect_refused(copy, n, "'train.moments' is corrupt");
    { /* ... which inference does not read, and refuses all the same */
        char bad[4300];
        snprintf(bad, sizeof bad, "%s/bad.cnw", dir);
        CnModel m;
        CnError err = {{0}};
        CHECK(cn_model_load(&m, bad, 0, NULL, &err) != 0);
        CHECK(strstr(err.message, "'train.moments' is corrupt") != NULL);
    }

    memcpy(copy, good, n); /* a bit flip in the parameters */
    copy[HEADER_END + 200] ^= 0x01;
    expect_refused(copy, n, "corrupt");

    memcpy(copy, good, n); /* the header's length field */
    copy[16] ^= 0x04;
    expect_refused(copy, n, "bytes");

    expect_refused((const uint8_t *)"\x89HDF\r\n\x1a\n and more bytes here", 28, "HDF5");
    expect_refused((const uint8_t *)"MThd\0\0\0\6\0\0\0\1\0\140", 14, "MIDI file");
    expect_refused((const uint8_t *)"PK\3\4 zip", 8, "zip");

    uint8_t *extra = malloc(n + 10); /* trailing garbage */
    memcpy(extra, good, n);
    memset(extra + n, 0xab, 10);
    expect_refused(extra, n + 10, "trailing");
    free(extra);

    int refused = 0; /* every single-bit flip anywhere in the first 4 KiB is caught */
    for (size_t at = 0; at < 4096 && at < n; at += 7) {
        memcpy(copy, good, n);
        copy[at] ^= (uint8_t)(1u << (at % 8));
        char bad[4300];
        snprintf(bad, sizeof bad, "%s/flip.cnw", dir);
        test_write_file(bad, copy, n);
        CnModel m;
        CnTrainState ts;
        CnError err = {{0}};
        if (cn_model_load(&m, bad, 0, &ts, &err) == 0) {
            cn_model_free(&m);
            cn_train_state_free(&ts);
        } else {
            refused++;
            CHECK(strlen(err.message) > 20);
        }
    }
    CHECK(refused == (int)((4096 < n ? 4096 : n) + 6) / 7);
    free(copy);
    free(good);
}

static void test_missing_file_says_so(void)
{
    CnModel m;
    CnError err = {{0}};
    CHECK(cn_model_load(&m, "/nonexistent/model.cnw", 0, NULL, &err) != 0);
    CHECK(strstr(err.message, "cannot open") != NULL);
}

static void test_save_replaces_atomically(void)
{
    CnModel a, b, back;
    make_model(&a, 0);
    make_model(&b, 4);
    CnError err = {{0}};
    CHECK(cn_model_save(&a, NULL, path, &err) == 0);
    CHECK(cn_model_save(&b, NULL, path, &err) == 0);
    CHECK(cn_model_load(&back, path, 0, NULL, &err) == 0);
    CHECK(back.config.n_embed == 4);
    cn_model_free(&back);
    CHECK(cn_model_save(&a, NULL, "/nonexistent/dir/model.cnw", &err) != 0);
    CHECK(strstr(err.message, "cannot write /nonexistent/dir/model.cnw: No such file") != NULL);
    cn_model_free(&a);
    cn_model_free(&b);
}

/* Every input the fuzzer ever found, and the small valid file it starts from. */
static void test_fuzz_regressions_are_handled(void)
{
    DIR *d = opendir(CONTINUO_WEIGHTS_REGRESSIONS);
    CHECK(d != NULL);
    int n_files = 0;
    for (struct dirent *e; d && (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        char file[4300];
        snprintf(file, sizeof file, "%s/%s", CONTINUO_WEIGHTS_REGRESSIONS, e->d_name);
        size_t n;
        uint8_t *bytes = test_read_file(file, &n);
        CnModel m;
        CnError err = {{0}};
        if (cn_model_load_bytes(&m, bytes, n, &err) == 0)
            cn_model_free(&m);
        else
            CHECK(strlen(err.message) > 10);
        free(bytes);
        n_files++;
    }
    if (d)
        closedir(d);
    CHECK(n_files >= 1);
}

/* Weights that no training makes (NaN, infinity, 1e30), saved with valid checksums, are
 * refused by every load; so is a damaged optimizer state when it is read. */
static void test_non_finite_weights_are_refused(void)
{
    const float bad[] = {NAN, INFINITY, -1e30f};
    for (int k = 0; k < 3; k++) {
        CnModel m, back;
        make_model(&m, 4);
        m.params[m.n_params / 2] = bad[k];
        CnError err = {{0}};
        CHECK(cn_model_save(&m, NULL, path, &err) == 0);
        for (int writable = 0; writable < 2; writable++) {
            CHECK(cn_model_load(&back, path, writable, NULL, &err) != 0);
            CHECK(strstr(err.message, "damaged") != NULL);
        }
        size_t n;
        uint8_t *bytes = test_read_file(path, &n);
        CHECK(bytes && cn_model_load_bytes(&back, bytes, n, &err) != 0);
        free(bytes);
        cn_model_free(&m);
    }
    CnModel m, back;
    make_model(&m, 0);
    float *moments = calloc(m.n_params, sizeof(float));
    moments[7] = -1; /* a mean of squares is never negative */
    char blob[] = "state_format=1\nepoch=3\n";
    CnTrainState ts = {.moments = moments, .blob = (uint8_t *)blob, .n_blob = strlen(blob)};
    CnError err = {{0}};
    CHECK(cn_model_save(&m, &ts, path, &err) == 0);
    CnTrainState got;
    CHECK(cn_model_load(&back, path, 1, &got, &err) != 0);
    CHECK(strstr(err.message, "optimizer state") != NULL);
    CHECK(cn_model_load(&back, path, 0, NULL, &err) == 0); /* generating does not read it */
    cn_model_free(&back);
    free(moments);
    cn_model_free(&m);
}

/* One flipped bit in any section, the training ones included, is refused by a load that
 * does not read them (generate, eval, jack), as by one that does. */
static void test_every_section_checksum_is_verified(void)
{
    CnModel m, back;
    make_model(&m, 4);
    float *moments = calloc(m.n_params, sizeof(float));
    char blob[] = "state_format=1\nepoch=3\n";
    CnTrainState ts = {.moments = moments, .blob = (uint8_t *)blob, .n_blob = strlen(blob)};
    CnError err = {{0}};
    CHECK(cn_model_save(&m, &ts, path, &err) == 0);
    size_t n;
    uint8_t *bytes = test_read_file(path, &n);
    CHECK(bytes != NULL);
    int refused = 0, tried = 0;
    for (size_t at = HEADER_END; bytes && at < n; at += 97) {
        bytes[at] ^= 0x10;
        CHECK(test_write_file(path, bytes, n) == 0);
        if (cn_model_load(&back, path, 0, NULL, &err) == 0)
            cn_model_free(&back);
        else
            refused++;
        tried++;
        bytes[at] ^= 0x10;
    }
    printf("# %d single-bit flips past the header, %d refused without reading the training "
           "sections\n", tried, refused);
    CHECK(refused == tried);
    free(bytes);
    free(moments);
    cn_model_free(&m);
}

/* Replaces text in the config section by text of the same length and makes both
 * checksums right again: a well-formed file that says something else. */
/* Rewrites text of the same length in a text section, its checksums made right again. */
static void rewrite_text(uint8_t *bytes, const char *section, const char *from, const char *to)
{
    uint32_t n_entries;
    memcpy(&n_entries, bytes + 12, 4);
    for (uint32_t i = 0; i < n_entries; i++) {
        uint8_t *entry = bytes + 64 + 64 * i;
        if (strcmp((const char *)entry, section) != 0)
            continue;
        uint64_t offset, length;
        memcpy(&offset, entry + 40, 8);
        memcpy(&length, entry + 48, 8);
        char *text = (char *)bytes + offset, *at = memmem(text, length, from, strlen(from));
        CHECK(at != NULL && strlen(from) == strlen(to));
        if (at)
            memcpy(at, to, strlen(to));
        uint32_t crc = cn_crc32(0, bytes + offset, length);
        memcpy(entry + 36, &crc, 4);
    }
    retype_section(bytes, section, 4); /* (the table's checksum) */
}

static void rewrite_config(uint8_t *bytes, const char *from, const char *to)
{
    rewrite_text(bytes, "config", from, to);
}

/* The table entry of section name, or NULL. */
static uint8_t *entry_of(uint8_t *bytes, const char *name)
{
    uint32_t n_entries;
    memcpy(&n_entries, bytes + 12, 4);
    for (uint32_t i = 0; i < n_entries; i++)
        if (strcmp((const char *)bytes + 64 + 64 * i, name) == 0)
            return bytes + 64 + 64 * i;
    return NULL;
}

/* Messages that once named the wrong thing, and damage once accepted: a params section
 * cut to an odd length, CR LF line ends, a key given twice, a section twice, a corpus of
 * an odd length, a window length no model has. */
static void test_damage_gets_the_right_message(void)
{
    CnModel m;
    CnError err = {{0}};
    make_model(&m, 0);
    m.info.seq = 100;
    CHECK(cn_model_save(&m, NULL, path, &err) == 0);
    size_t n;
    uint8_t *good = test_read_file(path, &n), *copy = malloc(n);
    CHECK(good && copy);
    if (!good || !copy)
        return;

    memcpy(copy, good, n); /* params two bytes short (they become padding) */
    uint8_t *e = entry_of(copy, "params");
    uint64_t offset, length;
    memcpy(&offset, e + 40, 8);
    memcpy(&length, e + 48, 8);
    length -= 2;
    memset(copy + offset + length, 0, 2);
    memcpy(e + 48, &length, 8);
    uint32_t crc = cn_crc32(0, copy + offset, length);
    memcpy(e + 36, &crc, 4);
    retype_section(copy, "params", 1);
    expect_refused(copy, n, "not a whole number of floats");

    memcpy(copy, good, n);
    rewrite_config(copy, "lstm\n", "lstm\r");
    expect_refused(copy, n, "CR LF line ends");

    memcpy(copy, good, n);
    rewrite_config(copy, "dropout=", "n_vocab=");
    expect_refused(copy, n, "gives 'n_vocab' twice");

    memcpy(copy, good, n);
    rewrite_text(copy, "info", "seq=100\n", "seq=1e9\n");
    expect_refused(copy, n, "window length (seq)");

    memcpy(copy, good, n); /* the vocabulary's section named again as the configuration */
    memcpy(entry_of(copy, "tensors"), "config\0", 7);
    retype_section(copy, "config", 4);
    expect_refused(copy, n, "two 'config' sections");

    memcpy(copy, good, n); /* the corpus's type said to be text: not token ids */
    retype_section(copy, "corpus", 4);
    expect_refused(copy, n, "the stored corpus is damaged");
    free(copy);
    free(good);
    m.info.seq = 2000000000; /* once passed info, and made eval say only "out of memory" */
    CHECK(cn_model_save(&m, NULL, path, &err) == 0);
    good = test_read_file(path, &n);
    CHECK(good != NULL);
    if (good)
        expect_refused(good, n, "window length (seq) is not 0..100000");
    free(good);
    cn_model_free(&m);
}

/* A timed model saves its scheme and loads back timed; a scheme this build does not know,
 * or one the vocabulary contradicts, is refused like any damage. */
static void test_the_token_scheme_is_saved_and_checked(void)
{
    CnVocab vocab;
    CnError err = {{0}};
    CHECK(cn_vocab_timed(&vocab, &err) == 0);
    CnModelConfig config = {.n_vocab = (int)vocab.n, .n_embed = 4, .n_layers = 1,
                            .n_hidden = 8, .n_dense = 0, .dropout = 0.1f};
    CnModel m, back;
    CHECK(cn_model_init(&m, &config, &vocab, 7, &err) == 0);
    cn_vocab_free(&vocab);
    CHECK(cn_model_save(&m, NULL, path, &err) == 0);
    CHECK(cn_model_load(&back, path, 0, NULL, &err) == 0);
    CHECK(back.vocab.scheme == CN_SCHEME_TIMED && back.vocab.n == m.vocab.n);
    cn_model_free(&back);
    size_t n;
    uint8_t *bytes = test_read_file(path, &n);
    CHECK(bytes != NULL);
    if (bytes) {
        rewrite_config(bytes, "tokens=timed", "tokens=tamed");
        expect_refused(bytes, n, "unknown token scheme 'tamed'");
        rewrite_config(bytes, "tokens=tamed", "tokenz=timed"); /* says nothing: original */
        expect_refused(bytes, n, "the vocabulary holds timed tokens");
        free(bytes);
    }
    cn_model_free(&m);
    /* and an original model's file says nothing of tokens, as files written before */
    make_model(&m, 0);
    CHECK(cn_model_save(&m, NULL, path, &err) == 0);
    bytes = test_read_file(path, &n);
    CHECK(bytes && !memmem(bytes, n, "tokens=", 7));
    free(bytes);
    CHECK(cn_model_load(&back, path, 0, NULL, &err) == 0);
    CHECK(back.vocab.scheme == CN_SCHEME_ORIGINAL);
    cn_model_free(&back);
    cn_model_free(&m);
}

int main(void)
{
    dir = test_make_temp_dir("weights");
    snprintf(path, sizeof path, "%s/model.cnw", dir);
    RUN(test_saved_model_loads_back_identical);
    RUN(test_damaged_files_are_refused_with_reasons);
    RUN(test_missing_file_says_so);
    RUN(test_save_replaces_atomically);
    RUN(test_fuzz_regressions_are_handled);
    RUN(test_non_finite_weights_are_refused);
    RUN(test_every_section_checksum_is_verified);
    RUN(test_the_token_scheme_is_saved_and_checked);
    RUN(test_damage_gets_the_right_message);
    test_remove_tree(dir);
    free(dir);
    return test_finish();
}
