/* The .cnw weights file read back, with every size, checksum and shape checked before use
 * (the format is in docs/FORMAT.md; the writer is weights_save.c). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "continuo/keyvalue.h"
#include "continuo/model.h"
#include "continuo/files.h"
#include "cnw_format.h"
#include "crc32.h"


/* ----- Reading ------------------------------------------------------------------------ */

typedef struct {
    const uint8_t *bytes;
    size_t size;
    const Entry *entries;
    uint32_t n_entries;
    int is_mapping;  /* bytes are a read-only file mapping (else our own copy) */
} MappedFile;

static const Entry *find_entry(const MappedFile *f, const char *name)
{
    for (uint32_t i = 0; i < f->n_entries; i++)
        if (strncmp(f->entries[i].name, name, sizeof f->entries[i].name) == 0)
            return &f->entries[i];
    return NULL;
}

static int explain_foreign(const uint8_t *b, size_t size, CnError *err)
{
    if (size >= 4 && memcmp(b, "MThd", 4) == 0)
        return cn_fail(err, "this is a MIDI file, not a weights file");
    if (size >= 8 && memcmp(b, "\x89HDF\r\n\x1a\n", 8) == 0)
        return cn_fail(err, "this is an HDF5 file (a Keras model?); continuo reads only its "
                            "own .cnw weights, made by 'continuo train'");
    if (size >= 2 && b[0] == 'P' && b[1] == 'K')
        return cn_fail(err, "this is a zip archive (a PyTorch checkpoint?); continuo reads "
                            "only its own .cnw weights, made by 'continuo train'");
    return cn_fail(err, "not a continuo weights file (wrong magic number)");
}

int cn_model_file_is_foreign(const char *path, CnError *err)
{
    struct stat st;
    if (stat(path, &st) != 0 && errno == ENOENT)
        return 0;
    CnError why = {{0}};
    int fd = cn_open_regular(path, &why);
    if (fd < 0) {
        cn_fail(err, "%s: %s", path, why.message);
        return 1;
    }
    uint8_t head[8];
    ssize_t got = read(fd, head, sizeof head);
    close(fd);
    if (got == (ssize_t)sizeof head && memcmp(head, magic, sizeof magic) == 0)
        return 0;
    if (got == 0)
        return 0; /* empty: nothing to lose */
    CnError what = {{0}};
    explain_foreign(head, got > 0 ? (size_t)got : 0, &what);
    cn_fail(err, "%s is not a continuo weights file (%s)", path, what.message);
    return 1;
}

static int check_header(MappedFile *f, CnError *err)
{
    if (f->size < sizeof magic && memcmp(f->bytes, magic, f->size) == 0)
        return cn_fail(err, "truncated: only %zu bytes", f->size);
    if (f->size < sizeof magic || memcmp(f->bytes, magic, sizeof magic) != 0)
        return explain_foreign(f->bytes, f->size, err);
    if (f->size < HEADER_SIZE)
        return cn_fail(err, "truncated: %zu bytes, shorter than the %d-byte header", f->size,
                       HEADER_SIZE);
    Header h;
    memcpy(&h, f->bytes, sizeof h);
    if (h.version > CN_WEIGHTS_VERSION)
        return cn_fail(err, "written by a newer continuo (format version %u; this build reads "
                            "up to version %d): upgrade continuo", h.version, CN_WEIGHTS_VERSION);
    if (h.version == 0)
        return cn_fail(err, "format version 0 is not valid (corrupt header)");
    if (h.n_entries == 0 || h.n_entries > MAX_ENTRIES)
        return cn_fail(err, "corrupt header: %u sections (1..%d expected)", h.n_entries,
                       MAX_ENTRIES);
    if (h.file_size != f->size)
        return cn_fail(err, "%s: the header says %llu bytes but the file has %zu",
                       h.file_size > f->size ? "truncated" : "trailing bytes after the data",
                       (unsigned long long)h.file_size, f->size);
    size_t table_end = HEADER_SIZE + (size_t)h.n_entries * ENTRY_SIZE;
    if (table_end > f->size)
        return cn_fail(err, "truncated: the section table runs past the end of the file");
    uint32_t stored = h.table_crc;
    h.table_crc = 0;
    uint32_t crc = cn_crc32(cn_crc32(0, &h, sizeof h), f->bytes + HEADER_SIZE,
                            (size_t)h.n_entries * ENTRY_SIZE);
    if (crc != stored)
        return cn_fail(err, "corrupt header or section table (checksum mismatch)");
    f->entries = (const Entry *)(f->bytes + HEADER_SIZE);
    f->n_entries = h.n_entries;
    return 0;
}

static int zero_bytes(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

/* Sections follow each other in the file; the only other bytes are zero padding, so
 * every byte is covered by a checksum or known to be zero. */
static int is_training_section(const Entry *e)
{
    return strncmp(e->name, "train.", 6) == 0;
}

/* After checking a training section that will not be read (generating from a checkpoint),
 * gives its pages back: they are as large as the weights again. */
static void forget_pages(const MappedFile *f, const Entry *e)
{
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t start = (uintptr_t)(f->bytes + e->offset), end = start + (uintptr_t)e->n_bytes;
    start = (start + (uintptr_t)page - 1) / (uintptr_t)page * (uintptr_t)page;
    end = end / (uintptr_t)page * (uintptr_t)page;
    if (f->is_mapping && end > start)
        madvise((void *)start, end - start, MADV_DONTNEED); /* re-read from the file if used */
}

/* Every section's checksum is verified, whatever the command: one flipped bit anywhere in
 * the file is refused. */
static int check_entries(const MappedFile *f, int check_training, CnError *err)
{
    uint64_t end_of_previous = HEADER_SIZE + (uint64_t)f->n_entries * ENTRY_SIZE;
    for (uint32_t i = 0; i < f->n_entries; i++) {
        const Entry *e = &f->entries[i];
        if (memchr(e->name, '\0', sizeof e->name) == NULL)
            return cn_fail(err, "corrupt section table: section %u has no name", i);
        if (find_entry(f, e->name) != e)
            return cn_fail(err, "the file has two '%s' sections", e->name);
        if (e->offset % DATA_ALIGN != 0 || e->offset > f->size ||
            e->n_bytes > f->size - e->offset)
            return cn_fail(err, "section '%s' lies outside the file (corrupt or truncated)",
                           e->name);
        if (e->offset < end_of_previous || !zero_bytes(f->bytes + end_of_previous,
                                                       (size_t)(e->offset - end_of_previous)))
            return cn_fail(err, "corrupt: bytes before section '%s' are not the zero padding "
                                "the format has there", e->name);
        if (cn_crc32(0, f->bytes + e->offset, (size_t)e->n_bytes) != e->crc)
            return cn_fail(err, "section '%s' is corrupt (checksum mismatch)", e->name);
        if (!check_training && is_training_section(e))
            forget_pages(f, e);
        end_of_previous = e->offset + e->n_bytes;
    }
    if (end_of_previous != f->size)
        return cn_fail(err, "trailing bytes after the last section");
    return 0;
}

/* Copies a text section into a NUL-terminated string. */
static char *section_text(const MappedFile *f, const char *name, CnError *err)
{
    const Entry *e = find_entry(f, name);
    if (!e || e->dtype != DTYPE_TEXT) {
        cn_fail(err, "the file has no '%s' section", name);
        return NULL;
    }
    char *text = malloc((size_t)e->n_bytes + 1);
    if (!text) {
        cn_fail(err, "out of memory");
        return NULL;
    }
    memcpy(text, f->bytes + e->offset, (size_t)e->n_bytes);
    text[e->n_bytes] = '\0';
    if (memchr(text, '\r', (size_t)e->n_bytes)) {
        cn_fail(err, "the '%s' section has CR LF line ends (was it edited on Windows?); "
                     "continuo writes and reads LF only", name);
        free(text);
        return NULL;
    }
    return text;
}

/* A key=value text with a key given twice is refused: which one counts would be a guess. */
static int keys_once(const char *text, const char *section, CnError *err)
{
    const char *key;
    int length;
    if (cn_kv_repeated(text, &key, &length))
        return cn_fail(err, "the '%s' section gives '%.*s' twice", section, length, key);
    return 0;
}

static int read_int(const char *text, const char *key, int *value, CnError *err)
{
    long x;
    if (cn_kv_long(text, key, -1000000, 1000000000, &x) != 1)
        return cn_fail(err, "the configuration lacks a valid '%s'", key);
    *value = (int)x;
    return 0;
}

static double read_double_or_nan(const char *text, const char *key)
{
    double x;
    return cn_kv_real(text, key, -HUGE_VAL, HUGE_VAL, &x) == 1 ? x : NAN;
}

/* A key whose value is one of the names name_of(0..last) gives; absent: *value unchanged. */
static int read_choice(const char *text, const char *key, const char *(*name_of)(int),
                       int last, uint8_t *value, CnError *err)
{
    const char *v = cn_kv_value(text, key);
    if (!v)
        return 0;
    size_t len = strcspn(v, "\n");
    for (int i = 0; i <= last; i++)
        if (strlen(name_of(i)) == len && strncmp(v, name_of(i), len) == 0) {
            *value = (uint8_t)i;
            return 0;
        }
    return cn_fail(err, "unknown %s '%.*s' (this build knows %s and %s)", key,
                   (int)(len < 40 ? len : 40), v, name_of(0), name_of(last));
}

static int parse_config(const char *text, CnModelConfig *c, CnScheme *scheme, CnError *err)
{
    if (keys_once(text, "config", err))
        return -1;
    const char *tokens = cn_kv_value(text, "tokens");
    *scheme = CN_SCHEME_ORIGINAL;
    if (tokens) {
        char name[48];
        snprintf(name, sizeof name, "%.*s", (int)strcspn(tokens, "\n"), tokens);
        if (cn_scheme_parse(name, scheme, err))
            return -1;
    }
    const char *arch = cn_kv_value(text, "architecture");
    if (!arch || strncmp(arch, "lstm\n", 5) != 0)
        return cn_fail(err, "unknown architecture (this build knows 'lstm')");
    if (read_int(text, "n_vocab", &c->n_vocab, err) ||
        read_int(text, "n_embed", &c->n_embed, err) ||
        read_int(text, "n_layers", &c->n_layers, err) ||
        read_int(text, "n_hidden", &c->n_hidden, err) ||
        read_int(text, "n_dense", &c->n_dense, err))
        return -1;
    c->dropout = (float)read_double_or_nan(text, "dropout");
    c->gates = CN_GATES_SIGMOID;
    c->dense_activation = CN_DENSE_LINEAR;
    if (read_choice(text, "gates", cn_gates_name, CN_GATES_HARD_SIGMOID, &c->gates, err) ||
        read_choice(text, "dense_activation", cn_dense_activation_name, CN_DENSE_RELU,
                    &c->dense_activation, err))
        return -1;
    return cn_model_config_check(c, err);
}

static int parse_info(const char *text, CnTrainInfo *info, CnError *err)
{
    const char *v;
    memset(info, 0, sizeof *info);
    if (keys_once(text, "info", err))
        return -1;
    if (cn_kv_value(text, "epochs") && (read_int(text, "epochs", &info->epochs, err) ||
                                       info->epochs < 0 || info->epochs > 100000000))
        return cn_fail(err, "the training history's epoch count is not 0..100000000");
    if ((v = cn_kv_value(text, "objective")))
        snprintf(info->objective, sizeof info->objective, "%.*s", (int)strcspn(v, "\n"), v);
    if (cn_kv_value(text, "seq") && (read_int(text, "seq", &info->seq, err) ||
                                    info->seq < 0 || info->seq > 100000))
        return cn_fail(err, "the training history's window length (seq) is not 0..100000");
    info->train_loss = read_double_or_nan(text, "train_loss");
    info->val_loss = read_double_or_nan(text, "val_loss");
    info->val_accuracy = read_double_or_nan(text, "val_accuracy");
    info->seconds = read_double_or_nan(text, "seconds");
    if ((v = cn_kv_value(text, "notice")))
        snprintf(info->notice, sizeof info->notice, "%.*s", (int)strcspn(v, "\n"), v);
    return 0;
}

static int parse_vocab(char *text, int n_vocab, CnVocab *vocab, CnError *err)
{
    const char **names = malloc((size_t)n_vocab * sizeof *names);
    if (!names)
        return cn_fail(err, "out of memory");
    int n = 0;
    for (char *line = text; *line && n <= n_vocab;) {
        char *nl = strchr(line, '\n');
        if (!nl)
            break;
        *nl = '\0';
        if (n < n_vocab)
            names[n] = line;
        n++;
        line = nl + 1;
    }
    int rc = n != n_vocab ? cn_fail(err, "the vocabulary lists %d tokens, the configuration "
                                         "%d", n, n_vocab)
                          : cn_vocab_from_names(names, (size_t)n, vocab, err);
    if (rc == 0)
        for (int i = 0; i < n; i++)
            if (strcmp(names[i], vocab->names[i]) != 0) {
                cn_vocab_free(vocab);
                rc = cn_fail(err, "the vocabulary is not in sorted order");
                break;
            }
    free(names);
    return rc;
}

static const void *typed_section(const MappedFile *f, const char *name, uint32_t dtype,
                                 size_t elem, size_t *count)
{
    const Entry *e = find_entry(f, name);
    if (!e || e->dtype != dtype || e->n_bytes % elem != 0)
        return NULL;
    *count = (size_t)e->n_bytes / elem;
    return f->bytes + e->offset;
}

static int load_corpus(CnModel *m, const MappedFile *f, CnError *err)
{
    size_t n_ids = 0, n_songs = 0;
    const uint16_t *ids = typed_section(f, "corpus", DTYPE_U16, 2, &n_ids);
    const uint32_t *starts = typed_section(f, "song_starts", DTYPE_U32, 4, &n_songs);
    if ((find_entry(f, "corpus") && !ids) || (find_entry(f, "song_starts") && !starts))
        return cn_fail(err, "the stored corpus is damaged: its sections are not whole uint16 "
                            "token ids and uint32 song starts");
    if (!ids || !starts)
        return 0; /* optional */
    for (size_t i = 0; i < n_ids; i++)
        if (ids[i] >= m->config.n_vocab)
            return cn_fail(err, "the stored corpus has a token outside the vocabulary");
    for (size_t s = 0; s < n_songs; s++)
        if (starts[s] > n_ids || (s > 0 && starts[s] < starts[s - 1]))
            return cn_fail(err, "the stored corpus has invalid song boundaries");
    return cn_model_set_corpus(m, ids, n_ids, starts, n_songs, err);
}

static int load_train_state(const CnModel *m, const MappedFile *f, CnTrainState *ts,
                            CnError *err)
{
    memset(ts, 0, sizeof *ts);
    size_t n = 0;
    const float *moments = typed_section(f, "train.moments", DTYPE_F32, 4, &n);
    if (moments && n == m->n_params) {
        for (size_t i = 0; i < n; i++) /* running means of squares: finite, not negative */
            if (!(moments[i] >= 0 && moments[i] <= 3.4e38f))
                return cn_fail(err, "the optimizer state holds %g at %zu: damaged",
                               (double)moments[i], i);
        ts->moments = malloc(n * sizeof(float));
        if (!ts->moments)
            return cn_fail(err, "out of memory");
        memcpy(ts->moments, moments, n * sizeof(float));
    }
    const uint8_t *blob = typed_section(f, "train.state", DTYPE_TEXT, 1, &n);
    if (blob) {
        ts->blob = malloc(n + 1);
        if (!ts->blob)
            return cn_fail(err, "out of memory");
        memcpy(ts->blob, blob, n);
        ts->blob[n] = '\0';
        ts->n_blob = n;
    }
    const float *carry = typed_section(f, "train.carry", DTYPE_F32, 4, &n);
    if (carry) {
        ts->carry = malloc((n ? n : 1) * sizeof(float));
        if (!ts->carry)
            return cn_fail(err, "out of memory");
        memcpy(ts->carry, carry, n * sizeof(float));
        ts->n_carry = n;
    }
    return 0;
}

static int load_params(CnModel *m, const MappedFile *f, int writable, CnError *err)
{
    char *expected = NULL, *listed = NULL;
    Text t = {0};
    int rc = cn_cnw_tensors_text(&m->config, &t) ? cn_fail(err, "out of memory") : 0;
    expected = t.text;
    if (rc == 0 && !(listed = section_text(f, "tensors", err)))
        rc = -1;
    if (rc == 0 && strcmp(expected ? expected : "", listed) != 0)
        rc = cn_fail(err, "the tensor table does not match the configuration's shapes");
    free(expected);
    free(listed);
    if (rc)
        return -1;
    size_t n = 0;
    const Entry *e = find_entry(f, "params");
    if (!e)
        return cn_fail(err, "the file has no 'params' section");
    if (e->dtype != DTYPE_F32)
        return cn_fail(err, "the 'params' section is not of float32 (its type is %u)",
                       (unsigned)e->dtype);
    if (e->n_bytes % sizeof(float))
        return cn_fail(err, "the 'params' section holds %llu bytes, not a whole number of "
                            "floats: damaged", (unsigned long long)e->n_bytes);
    const float *params = typed_section(f, "params", DTYPE_F32, 4, &n);
    m->n_params = cn_params_size(&m->config);
    if (!params || n != m->n_params)
        return cn_fail(err, "the parameters hold %zu floats; the configuration needs %zu", n,
                       m->n_params);
    for (size_t i = 0; i < n; i++) /* NaN fails the test too */
        if (!(fabsf(params[i]) <= CN_MAX_ABS_WEIGHT))
            return cn_fail(err, "parameter %zu of %zu is %g: a trained model's weights are "
                                "finite and below %g in size; the file is damaged", i, n,
                           (double)params[i], (double)CN_MAX_ABS_WEIGHT);
    if (writable) {
        m->params = aligned_alloc(64, m->n_params * sizeof(float));
        if (!m->params)
            return cn_fail(err, "out of memory for %zu parameters", m->n_params);
        memcpy(m->params, params, m->n_params * sizeof(float));
    } else {
        m->params = (float *)(uintptr_t)params; /* read-only mapping, never written */
    }
    cn_params_views(&m->config, m->params, &m->w);
    return 0;
}

static int load_mapped(CnModel *m, const MappedFile *f, int writable, CnTrainState *ts,
                       CnError *err)
{
    if (check_header((MappedFile *)f, err) || check_entries(f, ts != NULL, err))
        return -1;
    char *config = section_text(f, "config", err);
    if (!config)
        return -1;
    CnScheme scheme;
    int rc = parse_config(config, &m->config, &scheme, err);
    free(config);
    if (rc)
        return -1;
    char *info = find_entry(f, "info") ? section_text(f, "info", err) : NULL;
    rc = find_entry(f, "info") && (!info || parse_info(info, &m->info, err)) ? -1 : 0;
    free(info);
    if (rc)
        return -1;
    char *vocab = section_text(f, "vocab", err);
    if (!vocab)
        return -1;
    rc = parse_vocab(vocab, m->config.n_vocab, &m->vocab, err);
    free(vocab);
    if (rc == 0 && m->vocab.scheme != scheme)
        rc = cn_fail(err, "the configuration says the tokens are %s, the vocabulary holds %s "
                          "tokens", cn_scheme_name(scheme), cn_scheme_name(m->vocab.scheme));
    if (rc == 0)
        rc = load_params(m, f, writable, err);
    if (rc == 0)
        rc = load_corpus(m, f, err);
    if (rc == 0 && ts)
        rc = load_train_state(m, f, ts, err);
    return rc;
}

int cn_model_load(CnModel *model, const char *path, int writable, CnTrainState *train_state,
                  CnError *err)
{
    memset(model, 0, sizeof *model);
    if (train_state)
        memset(train_state, 0, sizeof *train_state);
    CnError why = {{0}};
    int fd = cn_open_regular(path, &why); /* a FIFO is refused, not waited on */
    if (fd < 0)
        return cn_fail(err, "%s: %s", path, why.message);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return cn_fail(err, "cannot open %s: %s", path, strerror(errno));
    }
    if (st.st_size == 0) {
        close(fd);
        return cn_fail(err, "%s: the file is empty", path);
    }
    size_t size = (size_t)st.st_size;
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return cn_fail(err, "cannot map %s: %s", path, strerror(errno));
    MappedFile f = {.bytes = map, .size = size, .is_mapping = 1};
    int rc = load_mapped(model, &f, writable, train_state, err);
    if (rc == 0 && !writable) {
        model->owned_mapping = map;
        model->mapping_size = size;
        return 0;
    }
    if (rc != 0) {
        if (!writable)
            model->params = NULL; /* points into the mapping, not ours to free */
        cn_model_free(model);
        if (train_state)
            cn_train_state_free(train_state);
        cn_fail_context(err, "%s: ", path);
    }
    munmap(map, size);
    return rc;
}

int cn_model_load_bytes(CnModel *model, const void *bytes, size_t n_bytes, CnError *err)
{
    memset(model, 0, sizeof *model);
    if (n_bytes == 0)
        return cn_fail(err, "the file is empty");
    /* The format wants 64-byte aligned tensors; a copy gives that whatever bytes is. */
    void *copy = aligned_alloc(64, (n_bytes + 63) / 64 * 64);
    if (!copy)
        return cn_fail(err, "out of memory");
    memcpy(copy, bytes, n_bytes);
    MappedFile f = {.bytes = copy, .size = n_bytes};
    int rc = load_mapped(model, &f, 1, NULL, err);
    if (rc != 0)
        cn_model_free(model);
    free(copy);
    return rc;
}

void cn_train_state_free(CnTrainState *state)
{
    if (!state)
        return;
    free(state->moments);
    free(state->blob);
    free(state->carry);
    memset(state, 0, sizeof *state);
}
