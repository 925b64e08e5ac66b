/* Model hyperparameters, the padded parameter layout, and Keras-style initialization. */
#include "continuo/model.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "kernels.h"
#include "continuo/rng.h"

#define ALIGN_FLOATS 16 /* 64 bytes */

CnModelConfig cn_model_default_config(int n_vocab)
{
    return (CnModelConfig){.n_vocab = n_vocab, .n_embed = 32, .n_layers = 2, .n_hidden = 256,
                           .n_dense = 128, .dropout = 0.3f};
}

CnModelConfig cn_model_original_config(int n_vocab)
{
    return (CnModelConfig){.n_vocab = n_vocab, .n_embed = 0, .n_layers = 3, .n_hidden = 512,
                           .n_dense = 256, .dropout = 0.3f};
}

int cn_model_config_check(const CnModelConfig *c, CnError *err)
{
    if (c->n_vocab < 2 || c->n_vocab > CN_MAX_VOCAB)
        return cn_fail(err, "a vocabulary of %d token%s: a model needs 2 to %d to choose "
                            "between", c->n_vocab, c->n_vocab == 1 ? "" : "s", CN_MAX_VOCAB);
    if (c->n_embed < 0 || c->n_embed > CN_MAX_HIDDEN)
        return cn_fail(err, "embedding width %d: must be 0 (scalar input) to %d", c->n_embed,
                       CN_MAX_HIDDEN);
    if (c->n_layers < 1 || c->n_layers > CN_MAX_LAYERS)
        return cn_fail(err, "%d LSTM layers: must be 1..%d", c->n_layers, CN_MAX_LAYERS);
    if (c->n_hidden < 1 || c->n_hidden > CN_MAX_HIDDEN)
        return cn_fail(err, "%d hidden units: must be 1..%d", c->n_hidden, CN_MAX_HIDDEN);
    if (c->n_dense < 0 || c->n_dense > CN_MAX_HIDDEN)
        return cn_fail(err, "dense width %d: must be 0 (none) to %d", c->n_dense, CN_MAX_HIDDEN);
    if (!(c->dropout >= 0.0f && c->dropout < 1.0f))
        return cn_fail(err, "dropout %g: must be at least 0 and below 1", c->dropout);
    if (c->gates > CN_GATES_HARD_SIGMOID)
        return cn_fail(err, "unknown gate activation %d", c->gates);
    if (c->dense_activation > CN_DENSE_RELU)
        return cn_fail(err, "unknown dense activation %d", c->dense_activation);
    return 0;
}

const char *cn_gates_name(int gates)
{
    return gates == CN_GATES_HARD_SIGMOID ? "hard_sigmoid" : "sigmoid";
}

const char *cn_dense_activation_name(int activation)
{
    return activation == CN_DENSE_RELU ? "relu" : "linear";
}

static size_t n_in(const CnModelConfig *c, int layer)
{
    if (layer > 0)
        return (size_t)c->n_hidden;
    return c->n_embed > 0 ? (size_t)c->n_embed : 1;
}

static size_t n_top(const CnModelConfig *c)
{
    return c->n_dense > 0 ? (size_t)c->n_dense : (size_t)c->n_hidden;
}

/* Walks the tensors in their canonical order, giving each its place in base (NULL:
 * only count); returns the floats used. */
static size_t layout(const CnModelConfig *c, float *base, CnParams *views, int padded)
{
    CnParams p;
    memset(&p, 0, sizeof p);
    size_t at = 0;
#define PLACE(field, count)                                                              \
    do {                                                                                 \
        field = base ? base + at : NULL;                                                 \
        at += (count);                                                                   \
        if (padded)                                                                      \
            at = (at + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;                  \
    } while (0)
    size_t V = (size_t)c->n_vocab, H = (size_t)c->n_hidden, D = (size_t)c->n_dense;
    if (c->n_embed > 0)
        PLACE(p.embed, V * (size_t)c->n_embed);
    for (int l = 0; l < c->n_layers; l++) {
        PLACE(p.lstm[l].w_x, 4 * H * n_in(c, l));
        PLACE(p.lstm[l].w_h, 4 * H * H);
        PLACE(p.lstm[l].bias, 4 * H);
    }
    if (D > 0) {
        PLACE(p.dense_w, D * H);
        PLACE(p.dense_b, D);
    }
    PLACE(p.out_w, V * n_top(c));
    PLACE(p.out_b, V);
#undef PLACE
    if (views)
        *views = p;
    return at;
}

size_t cn_params_size(const CnModelConfig *config)
{
    return layout(config, NULL, NULL, 1);
}

void cn_params_views(const CnModelConfig *config, float *base, CnParams *views)
{
    layout(config, base, views, 1);
}

size_t cn_model_count_weights(const CnModelConfig *config)
{
    return layout(config, NULL, NULL, 0);
}

static void glorot_uniform(float *w, size_t fan_out, size_t fan_in, CnRng *rng)
{
    float limit = sqrtf(6.0f / (float)(fan_in + fan_out));
    for (size_t i = 0; i < fan_out * fan_in; i++)
        w[i] = (2.0f * cn_rng_float(rng) - 1.0f) * limit;
}

/* Columns of the (rows x cols) matrix w, rows >= cols, made orthonormal: Gram-Schmidt
 * (twice, for accuracy) on a Gaussian matrix, as Keras' Orthogonal initializer gives. */
static int orthogonal(float *w, size_t rows, size_t cols, CnRng *rng)
{
    double *q = malloc(rows * cols * sizeof *q); /* column-major scratch */
    if (!q)
        return -1;
    for (size_t i = 0; i < rows * cols; i++)
        q[i] = cn_rng_normal(rng);
    for (size_t j = 0; j < cols; j++) {
        double *qj = q + j * rows;
        for (int pass = 0; pass < 2; pass++)
            for (size_t k = 0; k < j; k++) {
                const double *qk = q + k * rows;
                double dot = 0;
                for (size_t r = 0; r < rows; r++)
                    dot += qk[r] * qj[r];
                for (size_t r = 0; r < rows; r++)
                    qj[r] -= dot * qk[r];
            }
        double norm = 0;
        for (size_t r = 0; r < rows; r++)
            norm += qj[r] * qj[r];
        norm = sqrt(norm);
        for (size_t r = 0; r < rows; r++)
            qj[r] /= norm;
    }
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < cols; j++)
            w[r * cols + j] = (float)q[j * rows + r];
    free(q);
    return 0;
}

static int copy_vocab(CnVocab *dst, const CnVocab *src, CnError *err)
{
    const char **names = malloc((src->n ? src->n : 1) * sizeof *names);
    if (!names)
        return cn_fail(err, "out of memory");
    for (size_t i = 0; i < src->n; i++)
        names[i] = src->names[i];
    int rc = cn_vocab_from_names(names, src->n, dst, err);
    free(names);
    return rc;
}

int cn_model_init(CnModel *model, const CnModelConfig *config, const CnVocab *vocab,
                  uint64_t seed, CnError *err)
{
    memset(model, 0, sizeof *model);
    if (cn_model_config_check(config, err))
        return -1;
    if ((size_t)config->n_vocab != vocab->n)
        return cn_fail(err, "configuration says %d tokens but the vocabulary has %zu",
                       config->n_vocab, vocab->n);
    model->config = *config;
    model->n_params = cn_params_size(config);
    model->params = aligned_alloc(64, model->n_params * sizeof(float));
    if (!model->params)
        return cn_fail(err, "out of memory for %zu parameters", model->n_params);
    memset(model->params, 0, model->n_params * sizeof(float));
    cn_params_views(config, model->params, &model->w);
    if (copy_vocab(&model->vocab, vocab, err)) {
        cn_model_free(model);
        return -1;
    }
    CnRng rng;
    cn_rng_seed(&rng, seed);
    const CnModelConfig *c = config;
    size_t H = (size_t)c->n_hidden;
    if (c->n_embed > 0)
        for (size_t i = 0; i < (size_t)c->n_vocab * (size_t)c->n_embed; i++)
            model->w.embed[i] = (cn_rng_float(&rng) * 2.0f - 1.0f) * 0.05f;
    for (int l = 0; l < c->n_layers; l++) {
        glorot_uniform(model->w.lstm[l].w_x, 4 * H, n_in(c, l), &rng);
        if (orthogonal(model->w.lstm[l].w_h, 4 * H, H, &rng)) {
            cn_model_free(model);
            return cn_fail(err, "out of memory");
        }
        for (size_t j = 0; j < H; j++)
            model->w.lstm[l].bias[H + j] = 1.0f;
    }
    if (c->n_dense > 0)
        glorot_uniform(model->w.dense_w, (size_t)c->n_dense, H, &rng);
    glorot_uniform(model->w.out_w, (size_t)c->n_vocab, n_top(c), &rng);
    model->info.val_loss = NAN;
    model->info.val_accuracy = NAN;
    model->info.train_loss = NAN;
    return 0;
}

int cn_model_set_corpus(CnModel *model, const uint16_t *ids, size_t n_ids,
                        const uint32_t *song_starts, size_t n_songs, CnError *err)
{
    uint16_t *c = malloc((n_ids ? n_ids : 1) * sizeof *c);
    uint32_t *s = malloc((n_songs ? n_songs : 1) * sizeof *s);
    if (!c || !s) {
        free(c);
        free(s);
        return cn_fail(err, "out of memory");
    }
    memcpy(c, ids, n_ids * sizeof *c);
    memcpy(s, song_starts, n_songs * sizeof *s);
    free(model->corpus);
    free(model->song_starts);
    model->corpus = c;
    model->n_corpus = n_ids;
    model->song_starts = s;
    model->n_songs = n_songs;
    return 0;
}

/* Calls fn on every matrix a step multiplies by: each layer's input and recurrent
 * kernels, the dense layer, the output layer (rows, columns as stored). */
static void for_each_step_matrix(CnModel *model,
                                 void (*fn)(CnModel *, float *, size_t, size_t, void *),
                                 void *user)
{
    const CnModelConfig *c = &model->config;
    CnParams *w = &model->w;
    size_t n_in = c->n_embed > 0 ? (size_t)c->n_embed : 1, H = (size_t)c->n_hidden;
    for (int l = 0; l < c->n_layers; l++) {
        fn(model, w->lstm[l].w_x, 4 * H, n_in, user);
        fn(model, w->lstm[l].w_h, 4 * H, H, user);
        n_in = H;
    }
    if (c->n_dense > 0)
        fn(model, w->dense_w, (size_t)c->n_dense, H, user);
    fn(model, w->out_w, (size_t)c->n_vocab, c->n_dense > 0 ? (size_t)c->n_dense : H, user);
}

static void pack_bf16(CnModel *model, float *tensor, size_t n_rows, size_t n_cols, void *user)
{
    (void)user;
    cn_pack_bf16(model->params_bf16 + (tensor - model->params), tensor, n_rows, n_cols,
                 model->bf16_kernel);
}

int cn_model_make_bf16(CnModel *model, CnError *err)
{
    if (model->f32_packed)
        return cn_fail(err, "the float32 weights are already packed for inference; make the "
                            "bfloat16 copy first");
    int kernel = cn_kernels_best();
    if (model->params_bf16 && model->bf16_kernel == kernel)
        return 0;
    free(model->params_bf16); /* packed for another kernel (a benchmark's ceiling) */
    model->bf16_kernel = kernel;
    model->params_bf16 = aligned_alloc(64, (model->n_params * 2 + 63) / 64 * 64);
    if (!model->params_bf16)
        return cn_fail(err, "out of memory for bfloat16 weights");
    /* every matrix of a step's products packed at its own offset; the rest (biases, the
       embedding) is read in float32 and left as it is */
    cn_to_bf16(model->params_bf16, model->params, model->n_params);
    for_each_step_matrix(model, pack_bf16, NULL);
    return 0;
}

static void pack_f32(CnModel *model, float *tensor, size_t n_rows, size_t n_cols, void *scratch)
{
    (void)model;
    cn_pack_f32(tensor, n_rows, n_cols, scratch);
}

int cn_model_pack_f32(CnModel *model, CnError *err)
{
    if (model->f32_packed)
        return 0;
    const CnModelConfig *c = &model->config;
    size_t widest = (size_t)(c->n_hidden > c->n_embed ? c->n_hidden : c->n_embed);
    if ((size_t)c->n_dense > widest)
        widest = (size_t)c->n_dense;
    float *scratch = malloc(CN_PANEL * widest * sizeof(float));
    if (!scratch)
        return cn_fail(err, "out of memory for packing the weights");
    /* a read-only file mapping becomes a private writable one: the pages written are
       copied from the file's as they are packed, so the resident size stays the same */
    if (model->owned_mapping &&
        mprotect(model->owned_mapping, model->mapping_size, PROT_READ | PROT_WRITE) != 0) {
        free(scratch);
        return cn_fail(err, "cannot make the weights writable for packing: %s", strerror(errno));
    }
    for_each_step_matrix(model, pack_f32, scratch);
    free(scratch);
    model->f32_packed = 1;
    return 0;
}

int cn_model_round_bf16(CnModel *model, CnError *err)
{
    if (model->owned_mapping)
        return cn_fail(err, "the parameters are mapped read-only; load the model writable");
    for (size_t i = 0; i < model->n_params; i++) {
        uint16_t b;
        cn_to_bf16(&b, &model->params[i], 1);
        uint32_t bits = (uint32_t)b << 16;
        memcpy(&model->params[i], &bits, sizeof bits);
    }
    return 0;
}

void cn_model_free(CnModel *model)
{
    if (!model)
        return;
    free(model->params_bf16);
    if (model->owned_mapping)
        munmap(model->owned_mapping, model->mapping_size);
    else
        free(model->params);
    cn_vocab_free(&model->vocab);
    free(model->corpus);
    free(model->song_starts);
    memset(model, 0, sizeof *model);
}
