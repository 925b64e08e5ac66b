/* A Keras model's JSON configuration read into a plan of continuo's network: its LSTM
 * layers and the dense head with the batch normalizations folded into it. Shared by the
 * configuration's reader (keras_config.c) and the weights' importer (keras.c). Internal
 * to keras. */
#ifndef CONTINUO_KERAS_PLAN_H
#define CONTINUO_KERAS_PLAN_H

#include "continuo/keras.h"
#include "continuo/model.h"
#include "json.h"

#define MAX_BN 4 /* batch normalizations folded on either side of one dense layer */

typedef struct {
    const char *class_name;
    const char *name;
    const JsonValue *config;
} Layer;

/* A dense layer of the head with what is folded into it. */
typedef struct {
    const Layer *layer;
    int units;
    int activation;           /* CnDenseActivation, or 2 for softmax */
    int activated;            /* an activation was given (by its config or a layer after) */
    const Layer *before[MAX_BN]; /* batch normalizations on its inputs, in order */
    int n_before;
    const Layer *after[MAX_BN];  /* on its outputs, before its activation */
    int n_after;
} Dense;

typedef struct {
    const Layer *lstm[CN_MAX_LAYERS];
    int n_lstm, units, gates;
    Dense dense[2];
    int n_dense;
    int seq, features;
    float dropout;
} Plan;

#define ACT_SOFTMAX 2

/* The configuration's text parsed, its layers listed and planned; on failure nothing is
 * left to free. */
typedef struct {
    JsonValue *root;
    Layer *layers;
    size_t n_layers;
    Plan plan;
} Config;

int cn_keras_read_config(const char *text, size_t n, Config *c, CnKerasInfo *info,
                         CnError *err);
void cn_keras_config_free(Config *c);

#endif
