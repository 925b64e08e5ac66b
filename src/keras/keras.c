/* Keras model files into continuo models (continuo/keras.h). The JSON configuration says
 * the layers and their activations; the HDF5 groups of model_weights hold each layer's
 * tensors, named by its weight_names attribute. Keras stores a kernel as (inputs, outputs)
 * with an LSTM's gates in the order i, f, c, o, as continuo does, transposed. */
#include "continuo/keras.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "continuo/files.h"
#include "keras_plan.h"

#ifdef CONTINUO_HAVE_HDF5
#include <hdf5.h>
#endif

/* ----- The vocabulary and corpus from the notes --------------------------------------- */

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int cn_keras_vocab_from_notes(const CnStringList *notes, CnVocab *vocab, CnError *err)
{
    memset(vocab, 0, sizeof *vocab);
    if (notes->n == 0)
        return cn_fail(err, "the notes are empty");
    const char **sorted = malloc(notes->n * sizeof *sorted);
    if (!sorted)
        return cn_fail(err, "out of memory");
    memcpy(sorted, notes->items, notes->n * sizeof *sorted);
    qsort(sorted, notes->n, sizeof *sorted, compare_strings); /* byte order: Python's */
    size_t n = 0;
    for (size_t i = 0; i < notes->n; i++)
        if (n == 0 || strcmp(sorted[n - 1], sorted[i]) != 0)
            sorted[n++] = sorted[i];
    int rc = cn_vocab_from_names(sorted, n, vocab, err);
    free(sorted);
    if (rc == 0 && vocab->scheme != CN_SCHEME_ORIGINAL) {
        cn_vocab_free(vocab);
        return cn_fail(err, "the notes are timed events, not the original project's notes and "
                            "chords");
    }
    return rc ? cn_fail_context(err, "the notes: ") : 0;
}

/* The index of name among the vocabulary's sorted names, or -1. */
static int name_index(const CnVocab *vocab, const char *name)
{
    size_t lo = 0, hi = vocab->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(vocab->names[mid], name);
        if (c == 0)
            return (int)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

int cn_keras_set_corpus(CnModel *model, const CnStringList *notes, CnError *err)
{
    uint16_t *ids = malloc((notes->n ? notes->n : 1) * sizeof *ids);
    if (!ids)
        return cn_fail(err, "out of memory");
    for (size_t i = 0; i < notes->n; i++) {
        int id = name_index(&model->vocab, notes->items[i]);
        if (id < 0) {
            free(ids);
            return cn_fail(err, "note %zu ('%.32s') is not in the model's vocabulary", i,
                           notes->items[i]);
        }
        ids[i] = (uint16_t)id;
    }
    uint32_t start = 0;
    int rc = cn_model_set_corpus(model, ids, notes->n, &start, 1, err);
    free(ids);
    return rc;
}

#ifdef CONTINUO_HAVE_HDF5

/* ----- HDF5 ---------------------------------------------------------------------------- */

/* The attribute's strings (a scalar: one), whether stored fixed-length or variable. */
static int read_strings(hid_t obj, const char *name, char ***out, size_t *n_out, CnError *err)
{
    *out = NULL;
    *n_out = 0;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0)
        return cn_fail(err, "it has no attribute '%s'", name);
    hid_t type = H5Aget_type(a), space = H5Aget_space(a), mem = -1;
    hssize_t n = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
    int rc = -1;
    char **strings = NULL;
    if (type < 0 || H5Tget_class(type) != H5T_STRING || n < 0 || n > 100000) {
        cn_fail(err, "its attribute '%s' is not text", name);
        goto done;
    }
    strings = calloc((size_t)n + 1, sizeof *strings);
    mem = H5Tcopy(H5T_C_S1);
    if (!strings || mem < 0) {
        cn_fail(err, "out of memory");
        goto done;
    }
    if (H5Tis_variable_str(type) > 0) {
        H5Tset_size(mem, H5T_VARIABLE);
        H5Tset_cset(mem, H5Tget_cset(type));
        char **raw = calloc((size_t)n + 1, sizeof *raw);
        if (!raw || H5Aread(a, mem, raw) < 0) {
            free(raw);
            cn_fail(err, "cannot read its attribute '%s'", name);
            goto done;
        }
        rc = 0;
        for (hssize_t i = 0; i < n; i++) {
            strings[i] = strdup(raw[i] ? raw[i] : "");
            rc |= strings[i] ? 0 : -1;
            H5free_memory(raw[i]);
        }
        free(raw);
        if (rc)
            cn_fail(err, "out of memory");
    } else {
        size_t size = H5Tget_size(type);
        if (size == 0 || size > (64u << 20) / (size_t)(n ? n : 1)) {
            cn_fail(err, "its attribute '%s' is too large", name);
            goto done;
        }
        H5Tset_size(mem, size);
        char *buffer = malloc(size * (size_t)n + 1);
        if (!buffer || H5Aread(a, mem, buffer) < 0) {
            free(buffer);
            cn_fail(err, "cannot read its attribute '%s'", name);
            goto done;
        }
        rc = 0;
        for (hssize_t i = 0; i < n; i++) {
            strings[i] = strndup(buffer + (size_t)i * size, size);
            rc |= strings[i] ? 0 : -1;
        }
        free(buffer);
        if (rc)
            cn_fail(err, "out of memory");
    }
    if (rc == 0) {
        *out = strings;
        *n_out = (size_t)n;
        strings = NULL;
    }
done:
    if (strings)
        for (hssize_t i = 0; i < n; i++)
            free(strings[i]);
    free(strings);
    if (mem >= 0)
        H5Tclose(mem);
    if (type >= 0)
        H5Tclose(type);
    if (space >= 0)
        H5Sclose(space);
    H5Aclose(a);
    return rc;
}

static void free_strings(char **strings, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(strings[i]);
    free(strings);
}

/* One layer's tensors, by the short names of its weights ("kernel", "gamma", ...). */
typedef struct {
    hid_t group;
    char **names;
    size_t n_names;
    const char *layer;
} Weights;

static int weights_open(hid_t root, const char *layer, Weights *w, CnError *err)
{
    memset(w, 0, sizeof *w);
    w->layer = layer;
    w->group = H5Lexists(root, layer, H5P_DEFAULT) > 0 ? H5Gopen2(root, layer, H5P_DEFAULT) : -1;
    if (w->group < 0)
        return cn_fail(err, "the file holds no weights for layer '%s'", layer);
    if (read_strings(w->group, "weight_names", &w->names, &w->n_names, err)) {
        H5Gclose(w->group);
        return cn_fail_context(err, "layer '%s': ", layer);
    }
    return 0;
}

static void weights_close(Weights *w)
{
    free_strings(w->names, w->n_names);
    if (w->group >= 0)
        H5Gclose(w->group);
}

/* "lstm_1/lstm_cell/kernel:0" is the weight "kernel". */
static int is_weight(const char *full, const char *name)
{
    const char *base = strrchr(full, '/');
    base = base ? base + 1 : full;
    size_t len = strcspn(base, ":");
    return strlen(name) == len && strncmp(base, name, len) == 0;
}

/* Reads weight name of w, which must hold rows x cols floats (cols 0: a vector of rows),
 * into a new array; *found = 0 (and no error) when optional and absent. */
static float *read_weight(const Weights *w, const char *name, size_t rows, size_t cols,
                          int optional, CnError *err)
{
    const char *full = NULL;
    for (size_t i = 0; i < w->n_names; i++)
        if (is_weight(w->names[i], name))
            full = w->names[i];
    if (!full) {
        if (!optional)
            cn_fail(err, "layer '%s' has no weight '%s'", w->layer, name);
        return NULL;
    }
    hid_t d = H5Dopen2(w->group, full, H5P_DEFAULT);
    if (d < 0) {
        cn_fail(err, "layer '%s' lists the weight '%s' but the file does not hold it", w->layer,
                full);
        return NULL;
    }
    hid_t space = H5Dget_space(d), type = H5Dget_type(d);
    hsize_t dims[3] = {0, 0, 0};
    int rank = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    float *values = NULL;
    if (rank >= 1 && rank <= 2)
        H5Sget_simple_extent_dims(space, dims, NULL);
    int fits = rank == (cols ? 2 : 1) && dims[0] == rows && (!cols || dims[1] == cols);
    if (type < 0 || H5Tget_class(type) != H5T_FLOAT)
        cn_fail(err, "weight '%s' is not of floating point numbers", full);
    else if (!fits)
        cn_fail(err, "weight '%s' has the shape (%llu%s%llu), where the configuration needs "
                     "(%zu%s%zu)", full, (unsigned long long)dims[0], rank == 2 ? ", " : "",
                rank == 2 ? (unsigned long long)dims[1] : 0ull, rows, cols ? ", " : "",
                cols ? cols : 0);
    else if (!(values = malloc(rows * (cols ? cols : 1) * sizeof *values)))
        cn_fail(err, "out of memory");
    else if (H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values) < 0) {
        cn_fail(err, "cannot read weight '%s' (the file is cut short or damaged)", full);
        free(values);
        values = NULL;
    }
    if (type >= 0)
        H5Tclose(type);
    if (space >= 0)
        H5Sclose(space);
    H5Dclose(d);
    return values;
}

/* ----- Into the continuo model -------------------------------------------------------- */

/* out (rows = outputs, cols = inputs) = kernel^T, kernel (inputs, outputs) as Keras keeps. */
static void transpose_into(float *out, const float *kernel, size_t inputs, size_t outputs)
{
    for (size_t o = 0; o < outputs; o++)
        for (size_t k = 0; k < inputs; k++)
            out[o * inputs + k] = kernel[k * outputs + o];
}

static int import_lstm(hid_t root, const Layer *l, int n_in, int units, CnLstmWeights *dst,
                       CnError *err)
{
    Weights w;
    if (weights_open(root, l->name, &w, err))
        return -1;
    size_t U4 = 4 * (size_t)units;
    int use_bias = json_get_bool(l->config, "use_bias", 1);
    float *kernel = read_weight(&w, "kernel", (size_t)n_in, U4, 0, err);
    float *recurrent = kernel ? read_weight(&w, "recurrent_kernel", (size_t)units, U4, 0, err)
                              : NULL;
    float *bias = recurrent && use_bias ? read_weight(&w, "bias", U4, 0, 0, err) : NULL;
    int rc = kernel && recurrent && (bias || !use_bias) ? 0 : -1;
    if (rc == 0) {
        transpose_into(dst->w_x, kernel, (size_t)n_in, U4);
        transpose_into(dst->w_h, recurrent, (size_t)units, U4);
        for (size_t r = 0; r < U4; r++)
            dst->bias[r] = bias ? bias[r] : 0.0f;
    }
    free(kernel);
    free(recurrent);
    free(bias);
    weights_close(&w);
    return rc;
}

/* A batch normalization at inference, y = scale * x + shift, of width n. */
static int read_batch_norm(hid_t root, const Layer *l, size_t n, double *scale, double *shift,
                           CnError *err)
{
    Weights w;
    if (weights_open(root, l->name, &w, err))
        return -1;
    double eps = json_get_number(l->config, "epsilon", 1e-3);
    int center = json_get_bool(l->config, "center", 1), scaled = json_get_bool(l->config, "scale", 1);
    float *gamma = scaled ? read_weight(&w, "gamma", n, 0, 0, err) : NULL;
    float *beta = (gamma || !scaled) && center ? read_weight(&w, "beta", n, 0, 0, err) : NULL;
    int ok = (gamma || !scaled) && (beta || !center);
    float *mean = ok ? read_weight(&w, "moving_mean", n, 0, 0, err) : NULL;
    float *var = mean ? read_weight(&w, "moving_variance", n, 0, 0, err) : NULL;
    int rc = ok && mean && var ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (!(var[i] >= 0.0f) || !(eps + var[i] > 0.0)) {
            rc = cn_fail(err, "batch normalization '%s' has a variance of %g", l->name,
                         (double)var[i]);
            break;
        }
        scale[i] = (gamma ? gamma[i] : 1.0) / sqrt((double)var[i] + eps);
        shift[i] = (beta ? beta[i] : 0.0) - scale[i] * mean[i];
    }
    free(gamma);
    free(beta);
    free(mean);
    free(var);
    weights_close(&w);
    return rc;
}

/* A dense layer with its batch normalizations folded in, into weight (outputs, inputs)
 * and bias, in double until the end. */
static int import_dense(hid_t root, const Dense *d, size_t inputs, size_t outputs,
                        float *weight, float *bias, CnError *err)
{
    Weights w;
    if (weights_open(root, d->layer->name, &w, err))
        return -1;
    int use_bias = json_get_bool(d->layer->config, "use_bias", 1);
    float *kernel = read_weight(&w, "kernel", inputs, outputs, 0, err);
    float *b = kernel && use_bias ? read_weight(&w, "bias", outputs, 0, 0, err) : NULL;
    weights_close(&w);
    size_t most = inputs > outputs ? inputs : outputs;
    double *W = malloc(inputs * outputs * sizeof *W), *B = malloc(outputs * sizeof *B);
    double *scale = malloc(most * sizeof *scale), *shift = malloc(most * sizeof *shift);
    int rc = kernel && (b || !use_bias) ? 0 : -1;
    if (rc == 0 && (!W || !B || !scale || !shift))
        rc = cn_fail(err, "out of memory");
    if (rc == 0) {
        for (size_t i = 0; i < inputs * outputs; i++)
            W[i] = kernel[i];
        for (size_t o = 0; o < outputs; o++)
            B[o] = b ? b[o] : 0.0;
    }
    /* on the inputs, the last one nearest the kernel first: x -> s x + t gives
       W' = diag(s) W and B' = B + t W (W is (inputs, outputs)) */
    for (int i = d->n_before - 1; rc == 0 && i >= 0; i--) {
        rc = read_batch_norm(root, d->before[i], inputs, scale, shift, err);
        for (size_t k = 0; rc == 0 && k < inputs; k++)
            for (size_t o = 0; o < outputs; o++) {
                B[o] += shift[k] * W[k * outputs + o];
                W[k * outputs + o] *= scale[k];
            }
    }
    /* on the outputs, in order: z -> s z + t */
    for (int i = 0; rc == 0 && i < d->n_after; i++) {
        rc = read_batch_norm(root, d->after[i], outputs, scale, shift, err);
        for (size_t o = 0; rc == 0 && o < outputs; o++) {
            for (size_t k = 0; k < inputs; k++)
                W[k * outputs + o] *= scale[o];
            B[o] = scale[o] * B[o] + shift[o];
        }
    }
    if (rc == 0) {
        for (size_t o = 0; o < outputs; o++) {
            for (size_t k = 0; k < inputs; k++)
                weight[o * inputs + k] = (float)W[k * outputs + o];
            bias[o] = (float)B[o];
        }
    }
    free(kernel);
    free(b);
    free(W);
    free(B);
    free(scale);
    free(shift);
    return rc;
}

static int check_finite(const CnModel *m, CnError *err)
{
    for (size_t i = 0; i < m->n_params; i++)
        if (!(fabsf(m->params[i]) <= CN_MAX_ABS_WEIGHT))
            return cn_fail(err, "a weight is %g: continuo's weights are finite and below %g",
                           (double)m->params[i], (double)CN_MAX_ABS_WEIGHT);
    return 0;
}

static int import_weights(hid_t root, const Plan *p, CnModel *m, CnError *err)
{
    const CnModelConfig *c = &m->config;
    for (int l = 0; l < p->n_lstm; l++)
        if (import_lstm(root, p->lstm[l], l ? p->units : 1, p->units, &m->w.lstm[l], err))
            return -1;
    const Dense *out = &p->dense[p->n_dense - 1];
    if (p->n_dense == 2 &&
        import_dense(root, &p->dense[0], (size_t)p->units, (size_t)c->n_dense, m->w.dense_w,
                     m->w.dense_b, err))
        return -1;
    size_t top = p->n_dense == 2 ? (size_t)c->n_dense : (size_t)p->units;
    if (import_dense(root, out, top, (size_t)c->n_vocab, m->w.out_w, m->w.out_b, err))
        return -1;
    return check_finite(m, err);
}

static int build(hid_t file, const char *config_text, const CnVocab *vocab, CnModel *model,
                 CnKerasInfo *info, CnError *err)
{
    Config config;
    if (cn_keras_read_config(config_text, strlen(config_text), &config, info, err))
        return -1;
    const Plan p = config.plan;
    int rc = 0;
    int n_out = p.dense[p.n_dense - 1].units;
    if (p.features > 1)
        rc = cn_fail(err, "the model takes %d numbers a step: the original's input is one, the "
                          "token index divided by the vocabulary size", p.features);
    else if (n_out != (int)vocab->n)
        rc = cn_fail(err, "the model predicts %d tokens but the notes hold %zu distinct ones: "
                          "they are not the notes it was trained on", n_out, vocab->n);
    CnModelConfig c = {.n_vocab = (int)vocab->n, .n_embed = 0, .n_layers = p.n_lstm,
                       .n_hidden = p.units, .n_dense = p.n_dense == 2 ? p.dense[0].units : 0,
                       .dropout = p.dropout, .gates = (uint8_t)p.gates,
                       .dense_activation = (uint8_t)(p.n_dense == 2 ? p.dense[0].activation
                                                                    : CN_DENSE_LINEAR)};
    if (rc == 0 && p.n_dense == 2 && (c.n_dense < 1 || c.n_dense > CN_MAX_HIDDEN))
        rc = cn_fail(err, "dense layer '%s' has %d units: continuo takes 1 to %d",
                     p.dense[0].layer->name, c.n_dense, CN_MAX_HIDDEN);
    if (rc == 0)
        rc = cn_model_init(model, &c, vocab, 1, err);
    if (rc == 0) {
        hid_t weights = H5Gopen2(file, "model_weights", H5P_DEFAULT);
        rc = import_weights(weights, &p, model, err);
        H5Gclose(weights);
        if (rc)
            cn_model_free(model);
    }
    if (rc == 0) {
        model->info.epochs = 0;
        snprintf(model->info.objective, sizeof model->info.objective, "last");
        model->info.seq = p.seq > 0 ? p.seq : 100;
        model->info.train_loss = model->info.val_loss = model->info.val_accuracy = NAN;
        model->info.seconds = NAN;
    }
    cn_keras_config_free(&config);
    return rc;
}

int cn_keras_available(void)
{
    return 1;
}

int cn_keras_import(const char *path, const CnVocab *vocab, CnModel *model, CnKerasInfo *info,
                    CnError *err)
{
    CnKerasInfo scratch;
    info = info ? info : &scratch;
    memset(info, 0, sizeof *info);
    memset(model, 0, sizeof *model);
    int fd = cn_open_regular(path, err);
    if (fd < 0)
        return cn_fail_context(err, "%s: ", path);
    close(fd);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* the library says what went wrong, not HDF5 */
    if (H5Fis_hdf5(path) <= 0)
        return cn_fail(err, "%s: not an HDF5 file (Keras saves its models as .hdf5 or .h5)",
                       path);
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0)
        return cn_fail(err, "%s: cannot open it as HDF5 (cut short or damaged?)", path);
    char **version = NULL, **config = NULL;
    size_t n_version = 0, n_config = 0;
    int rc = 0;
    if (H5Aexists(file, "model_config") <= 0)
        rc = cn_fail(err, "%s: not a whole Keras model (no model_config: a file of weights "
                          "only, or not from Keras); save it with model.save() or "
                          "ModelCheckpoint(save_weights_only=False)", path);
    else if (H5Lexists(file, "model_weights", H5P_DEFAULT) <= 0)
        rc = cn_fail(err, "%s: a Keras model without its weights (no model_weights)", path);
    else if (read_strings(file, "model_config", &config, &n_config, err))
        rc = cn_fail_context(err, "%s: ", path);
    else if (n_config != 1)
        rc = cn_fail(err, "%s: its model_config holds %zu texts, not one", path, n_config);
    if (rc == 0 && H5Aexists(file, "keras_version") > 0 &&
        read_strings(file, "keras_version", &version, &n_version, err) == 0 && n_version == 1)
        snprintf(info->keras_version, sizeof info->keras_version, "%s", version[0]);
    if (rc == 0 && build(file, config[0], vocab, model, info, err))
        rc = cn_fail_context(err, "%s: ", path);
    free_strings(version, n_version);
    free_strings(config, n_config);
    H5Fclose(file);
    return rc;
}

#else /* built without HDF5 */

int cn_keras_available(void)
{
    return 0;
}

int cn_keras_import(const char *path, const CnVocab *vocab, CnModel *model, CnKerasInfo *info,
                    CnError *err)
{
    (void)vocab, (void)info;
    memset(model, 0, sizeof *model);
    return cn_fail(err, "%s: this build of continuo reads no HDF5 files (install libhdf5-dev "
                        "and build again)", path);
}

#endif
