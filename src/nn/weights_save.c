/* The .cnw weights file written: its text sections, and the whole file atomically (a
 * temporary beside it, renamed), so that an interrupted save leaves the last one whole. */
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


/* ----- Text sections ------------------------------------------------------------------ */


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
int cn_cnw_tensors_text(const CnModelConfig *c, Text *t)
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
    if (config_text(model, &config) || cn_cnw_tensors_text(&model->config, &tensors) ||
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

