/* A Keras model's JSON configuration: the layers it lists, checked against what continuo
 * runs, and planned into its network (keras_plan.h). */
#include "keras_plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ----- The layers the configuration lists --------------------------------------------- */


static int list_layers(const JsonValue *root, Layer **layers, size_t *n, CnError *err)
{
    const char *cls = json_get_string(root, "class_name");
    if (!cls)
        return cn_fail(err, "the model configuration names no model class");
    if (strcmp(cls, "Sequential") != 0)
        return cn_fail(err, "a %s model: continuo imports Sequential models (the original "
                            "project's)", cls);
    const JsonValue *config = json_get(root, "config");
    const JsonValue *list = config && config->kind == JSON_ARRAY ? config /* Keras < 2.2.3 */
                                                                  : json_get(config, "layers");
    if (!list || list->kind != JSON_ARRAY || list->n == 0)
        return cn_fail(err, "the model configuration lists no layers");
    *layers = calloc(list->n, sizeof **layers);
    if (!*layers)
        return cn_fail(err, "out of memory");
    for (size_t i = 0; i < list->n; i++) {
        Layer *l = &(*layers)[i];
        l->class_name = json_get_string(list->items[i], "class_name");
        l->config = json_get(list->items[i], "config");
        l->name = json_get_string(l->config, "name");
        if (!l->class_name || !l->config || !l->name) {
            free(*layers);
            *layers = NULL; /* the caller frees what it is given */
            return cn_fail(err, "layer %zu of the configuration has no class or name", i + 1);
        }
    }
    *n = list->n;
    return 0;
}

#define MAX_STEPS 100000    /* a window longer than any model's */
#define MAX_OUTPUTS 1000000 /* more tokens than any vocabulary has */

/* The input shape a layer's configuration declares: [null, steps, features]; steps may
 * be null (any length: the window is then the original's 100). */
static int input_shape(const Layer *l, Plan *p, CnError *err)
{
    const char *key = "batch_input_shape";
    const JsonValue *shape = json_get(l->config, key);
    if (!shape)
        shape = json_get(l->config, key = "batch_shape");
    if (!shape)
        return 0;
    long steps = 0, features = 0;
    int known = shape->kind == JSON_ARRAY && shape->n == 3 &&
                (shape->items[1]->kind == JSON_NULL ||
                 json_whole(shape->items[1], 1, MAX_STEPS, &steps) == 1) &&
                json_whole(shape->items[2], 1, MAX_STEPS, &features) == 1;
    if (!known)
        return cn_fail(err, "layer '%s' gives a %s that is not [null, steps, features] with "
                            "steps (or null) and features whole numbers from 1 to %d",
                       l->name, key, MAX_STEPS);
    p->seq = (int)steps;
    p->features = (int)features;
    return 0;
}

/* A layer's "units": a whole number from 1 to max, or a message saying what it is. */
static int layer_units(const Layer *l, int max, int *units, CnError *err)
{
    const JsonValue *v = json_get(l->config, "units");
    long n = 0;
    if (json_whole(v, 1, max, &n) == 1) {
        *units = (int)n;
        return 0;
    }
    char shown[64];
    json_describe(v, shown, sizeof shown);
    return cn_fail(err, "%s '%s' gives %s as its units: continuo takes a whole number from "
                        "1 to %d", l->class_name, l->name, shown, max);
}

static int check_lstm(const Layer *l, Plan *p, CnError *err)
{
    const JsonValue *c = l->config;
    int units = 0;
    const char *act = json_get_string(c, "activation");
    const char *rec = json_get_string(c, "recurrent_activation");
    if (layer_units(l, CN_MAX_HIDDEN, &units, err))
        return -1;
    if (p->n_lstm > 0 && units != p->units)
        return cn_fail(err, "LSTM '%s' has %d units where the one before has %d: continuo's "
                            "layers are all one size", l->name, units, p->units);
    if (!act || strcmp(act, "tanh") != 0)
        return cn_fail(err, "LSTM '%s' uses the activation '%s': continuo's cells use tanh",
                       l->name, act ? act : "?");
    int gates = rec && strcmp(rec, "sigmoid") == 0        ? CN_GATES_SIGMOID
              : rec && strcmp(rec, "hard_sigmoid") == 0   ? CN_GATES_HARD_SIGMOID
                                                          : -1;
    if (gates < 0)
        return cn_fail(err, "LSTM '%s' gates by '%s': continuo knows sigmoid and hard_sigmoid",
                       l->name, rec ? rec : "?");
    if (p->n_lstm > 0 && gates != p->gates)
        return cn_fail(err, "the LSTM layers gate by different activations");
    if (json_get_bool(c, "go_backwards", 0))
        return cn_fail(err, "LSTM '%s' runs backwards: continuo's run forwards", l->name);
    if (p->n_lstm == CN_MAX_LAYERS)
        return cn_fail(err, "more than %d LSTM layers", CN_MAX_LAYERS);
    p->units = units;
    p->gates = gates;
    p->lstm[p->n_lstm++] = l;
    return 0;
}

static int dense_activation(const char *name)
{
    if (!name || strcmp(name, "linear") == 0)
        return CN_DENSE_LINEAR;
    if (strcmp(name, "relu") == 0)
        return CN_DENSE_RELU;
    if (strcmp(name, "softmax") == 0)
        return ACT_SOFTMAX;
    return -1;
}

/* The head after the LSTMs: at most two dense layers, activations, batch normalizations
 * folded into the dense layer they follow (before its activation) or precede. */
static int plan_head(const Layer *l, Plan *p, const Layer **pending, int *n_pending,
                     CnError *err)
{
    Dense *last = p->n_dense ? &p->dense[p->n_dense - 1] : NULL;
    if (strcmp(l->class_name, "Dense") == 0) {
        if (p->n_dense == 2)
            return cn_fail(err, "a third dense layer ('%s'): continuo's head has one dense "
                                "layer before the output", l->name);
        const char *name = json_get_string(l->config, "activation");
        int act = dense_activation(name);
        if (act < 0)
            return cn_fail(err, "dense layer '%s' uses the activation '%s': continuo knows "
                                "linear, relu and softmax", l->name, name);
        int units = 0;
        if (layer_units(l, MAX_OUTPUTS, &units, err))
            return -1;
        Dense *d = &p->dense[p->n_dense++];
        *d = (Dense){.layer = l, .units = units, .activation = act,
                     .activated = act != CN_DENSE_LINEAR};
        memcpy(d->before, pending, (size_t)*n_pending * sizeof *pending);
        d->n_before = *n_pending;
        *n_pending = 0;
        return 0;
    }
    if (strcmp(l->class_name, "Activation") == 0) {
        const char *name = json_get_string(l->config, "activation");
        int act = dense_activation(name);
        if (act < 0)
            return cn_fail(err, "activation layer '%s' applies '%s': continuo knows linear, "
                                "relu and softmax", l->name, name ? name : "?");
        if (act == CN_DENSE_LINEAR)
            return 0;
        if (!last || last->activated || *n_pending)
            return cn_fail(err, "activation layer '%s' does not follow a dense layer: "
                                "continuo applies activations to dense layers only", l->name);
        last->activation = act;
        last->activated = 1;
        return 0;
    }
    if (strcmp(l->class_name, "BatchNormalization") == 0) {
        if (last && !last->activated) { /* folded into the dense layer's outputs */
            if (last->n_after == MAX_BN)
                return cn_fail(err, "too many batch normalizations in a row");
            last->after[last->n_after++] = l;
        } else {
            if (*n_pending == MAX_BN)
                return cn_fail(err, "too many batch normalizations in a row");
            pending[(*n_pending)++] = l;
        }
        return 0;
    }
    return cn_fail(err, "layer '%s' is a %s: continuo imports LSTM, Dropout, Dense, "
                        "Activation and BatchNormalization layers", l->name, l->class_name);
}

static int make_plan(const Layer *layers, size_t n, Plan *p, CnError *err)
{
    memset(p, 0, sizeof *p);
    const Layer *pending[MAX_BN];
    int n_pending = 0;
    for (size_t i = 0; i < n; i++) {
        const Layer *l = &layers[i];
        if (input_shape(l, p, err))
            return -1;
        if (strcmp(l->class_name, "InputLayer") == 0)
            continue;
        if (strcmp(l->class_name, "Dropout") == 0) {
            double rate = json_get_number(l->config, "rate", p->dropout);
            if (!(rate >= 0 && rate < 1))
                return cn_fail(err, "dropout layer '%s' has a rate outside 0..1", l->name);
            p->dropout = (float)rate;
            continue;
        }
        if (strcmp(l->class_name, "LSTM") == 0) {
            if (p->n_dense || n_pending)
                return cn_fail(err, "LSTM '%s' comes after the dense layers: continuo's "
                                    "LSTMs come first", l->name);
            if (check_lstm(l, p, err))
                return -1;
            continue;
        }
        if (p->n_lstm == 0)
            return cn_fail(err, "layer '%s' is a %s before any LSTM: continuo's network starts "
                                "with its LSTMs on the token index", l->name, l->class_name);
        if (plan_head(l, p, pending, &n_pending, err))
            return -1;
    }
    if (p->n_lstm == 0)
        return cn_fail(err, "the model has no LSTM layer");
    for (int i = 0; i < p->n_lstm; i++) {
        int sequences = json_get_bool(p->lstm[i]->config, "return_sequences", 0);
        if (sequences != (i < p->n_lstm - 1))
            return cn_fail(err, "LSTM '%s' %s sequences: in the original's network every LSTM "
                                "but the last does", p->lstm[i]->name,
                           sequences ? "returns" : "does not return");
    }
    if (p->n_dense == 0)
        return cn_fail(err, "the model has no dense output layer");
    if (n_pending)
        return cn_fail(err, "a batch normalization after the output layer");
    Dense *out = &p->dense[p->n_dense - 1];
    if (out->activation != ACT_SOFTMAX)
        return cn_fail(err, "the output layer '%s' does not end in softmax", out->layer->name);
    if (p->n_dense == 2 && p->dense[0].activation == ACT_SOFTMAX)
        return cn_fail(err, "dense layer '%s' ends in softmax before the output",
                       p->dense[0].layer->name);
    return 0;
}

static void describe(const Layer *layers, size_t n, char *out, size_t cap)
{
    size_t at = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && at + 1 < cap; i++) {
        long units = -1;
        json_whole(json_get(layers[i].config, "units"), 1, 1L << 30, &units);
        const char *act = json_get_string(layers[i].config, "activation");
        int w;
        if (strcmp(layers[i].class_name, "Activation") == 0 && act)
            w = snprintf(out + at, cap - at, "%s%s", at ? " " : "", act);
        else if (units > 0)
            w = snprintf(out + at, cap - at, "%s%s(%ld)", at ? " " : "", layers[i].class_name,
                         units);
        else
            w = snprintf(out + at, cap - at, "%s%s", at ? " " : "", layers[i].class_name);
        at += w > 0 ? (size_t)w : 0;
    }
    if (at >= cap && cap > 4)
        memcpy(out + cap - 4, "...", 4);
}


void cn_keras_config_free(Config *c)
{
    free(c->layers);
    json_free(c->root);
    memset(c, 0, sizeof *c);
}

int cn_keras_read_config(const char *text, size_t n, Config *c, CnKerasInfo *info,
                         CnError *err)
{
    memset(c, 0, sizeof *c);
    if (json_parse(text, n, &c->root, err) ||
        list_layers(c->root, &c->layers, &c->n_layers, err) ||
        make_plan(c->layers, c->n_layers, &c->plan, err)) {
        cn_keras_config_free(c);
        return -1;
    }
    describe(c->layers, c->n_layers, info->layers, sizeof info->layers);
    info->seq = c->plan.seq;
    for (int i = 0; i < c->plan.n_dense; i++)
        info->n_folded += c->plan.dense[i].n_before + c->plan.dense[i].n_after;
    return 0;
}

int cn_keras_check_config(const char *text, size_t n, CnKerasInfo *info, CnError *err)
{
    CnKerasInfo scratch;
    info = info ? info : &scratch;
    memset(info, 0, sizeof *info);
    Config c;
    if (cn_keras_read_config(text, n, &c, info, err))
        return -1;
    cn_keras_config_free(&c);
    return 0;
}

