/* The .cnw weights file: writing it atomically and reading it back with every size,
 * checksum and shape checked before use (the format is in docs/FORMAT.md). */
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

#include "continuo/model.h"
#include "continuo/files.h"
#include "crc32.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the .cnw format is little-endian; a big-endian port must swap bytes"
#endif

static const uint8_t magic[8] = {0x89, 'C', 'N', 'W', '\r', '\n', 0x1a, '\n'};

#define HEADER_SIZE 64
#define ENTRY_SIZE 64
#define MAX_ENTRIES 64
#define DATA_ALIGN 64

enum { DTYPE_F32 = 1, DTYPE_U16 = 2, DTYPE_U32 = 3, DTYPE_TEXT = 4 };

typedef struct {
    char name[32];
    uint32_t dtype;
    uint32_t crc;
    uint64_t offset;
    uint64_t n_bytes;
    uint64_t reserved;
} Entry;

typedef struct {
    uint8_t magic[8];
    uint32_t version;
    uint32_t n_entries;
    uint64_t file_size;
    uint32_t table_crc;
    uint8_t reserved[36];
} Header;

_Static_assert(sizeof(Entry) == ENTRY_SIZE, "entry layout");
_Static_assert(sizeof(Header) == HEADER_SIZE, "header layout");

/* ----- Text sections ------------------------------------------------------------------ */

typedef struct {
    char *text;
    size_t len, cap;
} Text;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int text_add(Text *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->text ? t->text + t->len : NULL, t->text ? t->cap - t->len : 0, fmt,
                          ap);
        va_end(ap);
        if (n < 0)
            return -1;
        if (t->text && t->len + (size_t)n < t->cap) {
            t->len += (size_t)n;
            return 0;
        }
        size_t cap = (t->cap + (size_t)n + 1) * 2;
        char *p = realloc(t->text, cap);
        if (!p)
            return -1;
        t->text = p;
        t->cap = cap;
    }
}

static int config_text(const CnModel *m, Text *t)
{
    const CnModelConfig *c = &m->config;
    return text_add(t, "architecture=lstm\nn_vocab=%d\nn_embed=%d\nn_layers=%d\nn_hidden=%d\n"
                       "n_dense=%d\ndropout=%.9g\n",
                    c->n_vocab, c->n_embed, c->n_layers, c->n_hidden, c->n_dense,
                    (double)c->dropout) ||
           (m->vocab.scheme != CN_SCHEME_ORIGINAL && /* absent: original, as files before it */
            text_add(t, "tokens=%s\n", cn_scheme_name(m->vocab.scheme))) ||
           (c->gates != CN_GATES_SIGMOID && /* absent: sigmoid, as files before it */
            text_add(t, "gates=%s\n", cn_gates_name(c->gates))) ||
           (c->dense_activation != CN_DENSE_LINEAR && /* absent: linear, likewise */
            text_add(t, "dense_activation=%s\n", cn_dense_activation_name(c->dense_activation)));
}

static int info_text(const CnModel *m, Text *t)
{
    const CnTrainInfo *i = &m->info;
    return text_add(t, "epochs=%d\nobjective=%s\ntrain_loss=%.9g\nval_loss=%.9g\n"
                       "val_accuracy=%.9g\nseconds=%.3f\nseq=%d\n",
                    i->epochs, i->objective[0] ? i->objective : "none", i->train_loss,
                    i->val_loss, i->val_accuracy, i->seconds, i->seq) ||
           (i->notice[0] && !strchr(i->notice, '\n') && /* absent: as files before it */
            text_add(t, "notice=%s\n", i->notice));
}

/* Names, shapes and offsets (in floats from the start of "params") of every tensor, so
 * that other tools can find them; the loader checks it against the configuration. */
static int tensors_text(const CnModelConfig *c, Text *t)
{
    CnParams v;
    float *base = (float *)(uintptr_t)DATA_ALIGN; /* any non-NULL base; only offsets used */
    cn_params_views(c, base, &v);
    size_t H = (size_t)c->n_hidden, top = c->n_dense > 0 ? (size_t)c->n_dense : H;
    int rc = 0;
#define TENSOR(name, ptr, rows, cols)                                                    \
    rc |= text_add(t, "%s %zu %zu %zu\n", name, (size_t)(rows), (size_t)(cols),          \
                   (size_t)((ptr) - base))
    if (c->n_embed > 0)
        TENSOR("embed", v.embed, c->n_vocab, c->n_embed);
    for (int l = 0; l < c->n_layers; l++) {
        char name[32];
        size_t in = l > 0 ? H : (c->n_embed > 0 ? (size_t)c->n_embed : 1);
        snprintf(name, sizeof name, "lstm%d.w_x", l);
        TENSOR(name, v.lstm[l].w_x, 4 * H, in);
        snprintf(name, sizeof name, "lstm%d.w_h", l);
        TENSOR(name, v.lstm[l].w_h, 4 * H, H);
        snprintf(name, sizeof name, "lstm%d.bias", l);
        TENSOR(name, v.lstm[l].bias, 4 * H, 1);
    }
    if (c->n_dense > 0) {
        TENSOR("dense.w", v.dense_w, c->n_dense, H);
        TENSOR("dense.b", v.dense_b, c->n_dense, 1);
    }
    TENSOR("out.w", v.out_w, c->n_vocab, top);
    TENSOR("out.b", v.out_b, c->n_vocab, 1);
#undef TENSOR
    return rc;
}

static int vocab_text(const CnVocab *v, Text *t)
{
    for (size_t i = 0; i < v->n; i++)
        if (text_add(t, "%s\n", v->names[i]))
            return -1;
    return 0;
}

/* ----- Writing ------------------------------------------------------------------------ */

typedef struct {
    const char *name;
    uint32_t dtype;
    const void *data;
    size_t n_bytes;
} Section;

static int write_all(int fd, const void *bytes, size_t n)
{
    const uint8_t *p = bytes;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int write_sections(int fd, uint32_t version, const Section *sections, int n,
                          CnError *err)
{
    Header header = {.version = version, .n_entries = (uint32_t)n};
    memcpy(header.magic, magic, sizeof magic);
    Entry entries[MAX_ENTRIES];
    memset(entries, 0, sizeof entries);
    uint64_t at = HEADER_SIZE + (uint64_t)n * ENTRY_SIZE;
    for (int i = 0; i < n; i++) {
        at = (at + DATA_ALIGN - 1) / DATA_ALIGN * DATA_ALIGN;
        snprintf(entries[i].name, sizeof entries[i].name, "%s", sections[i].name);
        entries[i].dtype = sections[i].dtype;
        entries[i].offset = at;
        entries[i].n_bytes = sections[i].n_bytes;
        entries[i].crc = cn_crc32(0, sections[i].data, sections[i].n_bytes);
        at += sections[i].n_bytes;
    }
    header.file_size = at;
    header.table_crc = cn_crc32(cn_crc32(0, &header, sizeof header), entries,
                                (size_t)n * ENTRY_SIZE);
    static const uint8_t zeros[DATA_ALIGN] = {0};
    if (write_all(fd, &header, sizeof header) || write_all(fd, entries, (size_t)n * ENTRY_SIZE))
        return cn_fail(err, "write failed: %s", strerror(errno));
    uint64_t pos = HEADER_SIZE + (uint64_t)n * ENTRY_SIZE;
    for (int i = 0; i < n; i++) {
        if (write_all(fd, zeros, (size_t)(entries[i].offset - pos)) ||
            write_all(fd, sections[i].data, sections[i].n_bytes))
            return cn_fail(err, "write failed: %s", strerror(errno));
        pos = entries[i].offset + entries[i].n_bytes;
    }
    return 0;
}

#define TMP_SUFFIX CN_OUTFILE_TMP_SUFFIX

/* Written whole or not at all: a kill at any moment leaves the last complete file. */
static int write_atomically(const char *path, uint32_t version, const Section *sections, int n,
                            CnError *err)
{
    CnOutFile out;
    if (cn_outfile_begin(&out, path, err))
        return -1;
    if (write_sections(out.fd, version, sections, n, err)) {
        cn_outfile_abort(&out);
        return -1;
    }
    return cn_outfile_commit(&out, err);
}

int cn_model_remove_interrupted_saves(const char *path,
                                      void (*removed)(const char *file, void *user),
                                      void *user, CnError *err)
{
    char *copy = strdup(path), *copy2 = strdup(path);
    char *folder = copy ? dirname(copy) : NULL, *base = copy2 ? basename(copy2) : NULL;
    DIR *d = folder && base ? opendir(folder) : NULL;
    int n = 0;
    if (!d) {
        n = copy && copy2 ? cn_fail(err, "cannot read the folder of %s: %s", path, strerror(errno))
                          : cn_fail(err, "out of memory");
    }
    size_t n_base = base ? strlen(base) : 0, n_suffix = strlen(TMP_SUFFIX);
    for (struct dirent *e; d && (e = readdir(d)) != NULL;) {
        const char *name = e->d_name;
        if (strlen(name) != n_base + n_suffix || strncmp(name, base, n_base) != 0 ||
            strncmp(name + n_base, TMP_SUFFIX, n_suffix - 6) != 0)
            continue; /* not the target's name followed by ".tmp-" and mkstemp's 6 letters */
        char file[8200];
        snprintf(file, sizeof file, "%s/%s", folder, name);
        if (unlink(file) == 0) {
            n++;
            if (removed)
                removed(file, user);
        }
    }
    if (d)
        closedir(d);
    free(copy);
    free(copy2);
    return n;
}

int cn_model_file_version(const CnModel *model)
{
    const CnModelConfig *c = &model->config;
    return c->gates != CN_GATES_SIGMOID || c->dense_activation != CN_DENSE_LINEAR ? 2 : 1;
}

int cn_model_save(const CnModel *model, const CnTrainState *train_state, const char *path,
                  CnError *err)
{
    if (model->f32_packed)
        return cn_fail(err, "this model's weights are packed for inference and cannot be "
                            "saved");
    Text config = {0}, tensors = {0}, vocab = {0}, info = {0};
    int rc = 0;
    if (config_text(model, &config) || tensors_text(&model->config, &tensors) ||
        vocab_text(&model->vocab, &vocab) || info_text(model, &info))
        rc = cn_fail(err, "out of memory");
    Section sections[MAX_ENTRIES];
    int n = 0;
    if (rc == 0) {
        sections[n++] = (Section){"config", DTYPE_TEXT, config.text, config.len};
        sections[n++] = (Section){"vocab", DTYPE_TEXT, vocab.text, vocab.len};
        sections[n++] = (Section){"tensors", DTYPE_TEXT, tensors.text, tensors.len};
        sections[n++] = (Section){"info", DTYPE_TEXT, info.text, info.len};
        sections[n++] = (Section){"params", DTYPE_F32, model->params,
                                  model->n_params * sizeof(float)};
        if (model->n_corpus > 0) {
            sections[n++] = (Section){"corpus", DTYPE_U16, model->corpus,
                                      model->n_corpus * sizeof(uint16_t)};
            sections[n++] = (Section){"song_starts", DTYPE_U32, model->song_starts,
                                      model->n_songs * sizeof(uint32_t)};
        }
        if (train_state && train_state->moments)
            sections[n++] = (Section){"train.moments", DTYPE_F32, train_state->moments,
                                      model->n_params * sizeof(float)};
        if (train_state && train_state->blob)
            sections[n++] = (Section){"train.state", DTYPE_TEXT, train_state->blob,
                                      train_state->n_blob};
        if (train_state && train_state->carry)
            sections[n++] = (Section){"train.carry", DTYPE_F32, train_state->carry,
                                      train_state->n_carry * sizeof(float)};
        rc = write_atomically(path, (uint32_t)cn_model_file_version(model), sections, n, err);
    }
    free(config.text);
    free(tensors.text);
    free(vocab.text);
    free(info.text);
    if (rc)
        cn_fail_context(err, "saving %s: ", path);
    return rc;
}

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
    for (const char *line = text; *line; line += strcspn(line, "\n") + (line[strcspn(line, "\n")] != 0)) {
        size_t klen = strcspn(line, "=\n");
        if (line[klen] != '=')
            continue;
        for (const char *other = line + strcspn(line, "\n"); *other;) {
            other += *other == '\n';
            if (strncmp(other, line, klen + 1) == 0)
                return cn_fail(err, "the '%s' section gives '%.*s' twice", section, (int)klen,
                               line);
            other += strcspn(other, "\n");
        }
    }
    return 0;
}

/* Finds "key=" at the start of a line; returns the value or NULL. */
static const char *text_value(const char *text, const char *key)
{
    size_t klen = strlen(key);
    for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL)
        if (strncmp(line, key, klen) == 0 && line[klen] == '=')
            return line + klen + 1;
    return NULL;
}

static int read_int(const char *text, const char *key, int *value, CnError *err)
{
    const char *v = text_value(text, key);
    char *end;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || end == v || (*end != '\n' && *end != '\0') || x < -1000000 || x > 1000000000)
        return cn_fail(err, "the configuration lacks a valid '%s'", key);
    *value = (int)x;
    return 0;
}

static double read_double_or_nan(const char *text, const char *key)
{
    const char *v = text_value(text, key);
    return v ? strtod(v, NULL) : NAN;
}

/* A key whose value is one of the names name_of(0..last) gives; absent: *value unchanged. */
static int read_choice(const char *text, const char *key, const char *(*name_of)(int),
                       int last, uint8_t *value, CnError *err)
{
    const char *v = text_value(text, key);
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
    const char *tokens = text_value(text, "tokens");
    *scheme = CN_SCHEME_ORIGINAL;
    if (tokens) {
        char name[48];
        snprintf(name, sizeof name, "%.*s", (int)strcspn(tokens, "\n"), tokens);
        if (cn_scheme_parse(name, scheme, err))
            return -1;
    }
    const char *arch = text_value(text, "architecture");
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
    if (text_value(text, "epochs") && (read_int(text, "epochs", &info->epochs, err) ||
                                       info->epochs < 0 || info->epochs > 100000000))
        return cn_fail(err, "the training history's epoch count is not 0..100000000");
    if ((v = text_value(text, "objective")))
        snprintf(info->objective, sizeof info->objective, "%.*s", (int)strcspn(v, "\n"), v);
    if (text_value(text, "seq") && (read_int(text, "seq", &info->seq, err) ||
                                    info->seq < 0 || info->seq > 100000))
        return cn_fail(err, "the training history's window length (seq) is not 0..100000");
    info->train_loss = read_double_or_nan(text, "train_loss");
    info->val_loss = read_double_or_nan(text, "val_loss");
    info->val_accuracy = read_double_or_nan(text, "val_accuracy");
    info->seconds = read_double_or_nan(text, "seconds");
    if ((v = text_value(text, "notice")))
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
    int rc = tensors_text(&m->config, &t) ? cn_fail(err, "out of memory") : 0;
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
