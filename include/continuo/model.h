/* The network: hyperparameters, the parameter tensors (immutable once loaded; many
 * streams may share one model), the vocabulary, and the .cnw weights file that holds
 * them all (docs/FORMAT.md). Not real-time safe: load before, use from any thread. */
#ifndef CONTINUO_MODEL_H
#define CONTINUO_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "continuo/status.h"
#include "continuo/tokens.h"

#define CN_MAX_LAYERS 8
#define CN_MAX_HIDDEN 4096
#define CN_MAX_VOCAB 8192

typedef struct {
    int n_vocab;   /* tokens the model knows */
    int n_embed;   /* width of the learned embedding; 0 = the original's scalar input,
                      token index / n_vocab */
    int n_layers;  /* stacked LSTM layers */
    int n_hidden;  /* units per LSTM layer */
    int n_dense;   /* width of the linear layer between the LSTMs and the output; 0 = none */
    float dropout; /* inverted dropout rate while training, after every LSTM but the last
                      and after the dense layer */
    uint8_t gates; /* CnGates: the LSTM gates' activation */
    uint8_t dense_activation; /* CnDenseActivation: after the dense layer */
} CnModelConfig;

/* The LSTM gates' activation: continuo's own models and Keras from 2.3.0 use the logistic
 * sigmoid; Keras before 2.3.0 defaulted to the hard sigmoid, clip(0.2 x + 0.5, 0, 1). */
typedef enum { CN_GATES_SIGMOID = 0, CN_GATES_HARD_SIGMOID = 1 } CnGates;

/* What follows the dense layer: nothing (continuo's models, the original's 2017 network),
 * or a ReLU (its 2019 network). */
typedef enum { CN_DENSE_LINEAR = 0, CN_DENSE_RELU = 1 } CnDenseActivation;

/* The names weights files and messages use ("sigmoid", "hard_sigmoid"; "linear", "relu"). */
const char *cn_gates_name(int gates);
const char *cn_dense_activation_name(int activation);

typedef struct {
    float *w_x;  /* (4 * n_hidden, n_in) input kernel; gates i, f, c, o stacked by rows */
    float *w_h;  /* (4 * n_hidden, n_hidden) recurrent kernel, same gate order */
    float *bias; /* (4 * n_hidden) forget-gate block starts at 1 (Keras unit_forget_bias) */
} CnLstmWeights;

/* Views of the parameter tensors inside one contiguous float buffer, each tensor starting
 * on a 64-byte boundary; the same layout serves weights, gradients and optimizer moments. */
typedef struct {
    float *embed;                       /* (n_vocab, n_embed), NULL without embedding */
    CnLstmWeights lstm[CN_MAX_LAYERS];
    float *dense_w;                     /* (n_dense, n_hidden), NULL without dense layer */
    float *dense_b;                     /* (n_dense) */
    float *out_w;                       /* (n_vocab, n_dense or n_hidden) */
    float *out_b;                       /* (n_vocab) */
} CnParams;

/* What training has done to a model so far, saved with it. */
typedef struct {
    int epochs;           /* completed epochs */
    char objective[8];    /* "all" or "last" */
    double train_loss;    /* mean cross-entropy (nats) of the last completed epoch */
    double val_loss;      /* on held-out songs; NAN when none were held out */
    double val_accuracy;  /* next-token accuracy on held-out songs */
    double seconds;       /* wall time spent training, over all runs */
    int seq;              /* the window/chunk length it trained with */
    char notice[256];     /* what it learned and under which licence ("" when not said):
                             the NOTICE file of the folder it trained on */
} CnTrainInfo;

typedef struct {
    CnModelConfig config;
    CnVocab vocab;
    CnParams w;           /* views into params */
    float *params;        /* (n_params) the whole parameter vector, padded per tensor */
    size_t n_params;
    CnTrainInfo info;
    uint16_t *corpus;     /* (n_corpus) token ids of the training corpus, for priming */
    size_t n_corpus;
    uint32_t *song_starts; /* (n_songs) index in corpus where each song begins */
    size_t n_songs;
    void *owned_mapping;  /* the file mapping when params point into it */
    size_t mapping_size;
    uint16_t *params_bf16; /* (n_params) bfloat16 copy for inference, its matrices packed
                              for the step (cn_model_make_bf16), or NULL */
    int bf16_kernel;       /* the product kernel they are packed for (src/nn/kernels.h) */
    int f32_packed;        /* the float32 matrices are packed for the step (inference only) */
} CnModel;

/* The default network: an embedding of 32, 2 x LSTM(256), dense 128, dropout 0.3, for a
 * vocabulary of n_vocab tokens: what learned the piano collection best in a quarter of an
 * hour on one core (bench/piano.sh, docs/PERFORMANCE.md). */
CnModelConfig cn_model_default_config(int n_vocab);

/* The original project's network: its scalar input, 3 x LSTM(512), dense 256, dropout 0.3. */
CnModelConfig cn_model_original_config(int n_vocab);

/* Checks a configuration; the message says which value is out of range. */
int cn_model_config_check(const CnModelConfig *config, CnError *err);

/* Number of floats in the padded parameter vector for config, and views into base. */
size_t cn_params_size(const CnModelConfig *config);
void cn_params_views(const CnModelConfig *config, float *base, CnParams *views);
size_t cn_model_count_weights(const CnModelConfig *config); /* without padding */

/* A freshly initialized model as Keras would make it: Glorot-uniform input kernels,
 * orthogonal recurrent kernels, forget bias 1, uniform(-0.05, 0.05) embeddings.
 * The model takes a copy of vocab. */
int cn_model_init(CnModel *model, const CnModelConfig *config, const CnVocab *vocab,
                  uint64_t seed, CnError *err);

void cn_model_free(CnModel *model);

/* Reorders the float32 matrices in place for the inference step, which then reads them
 * about twice as fast, at no cost in memory or accuracy. Afterwards the model serves
 * inference states only: it cannot be saved, trained, evaluated in batches or given a
 * bfloat16 copy (make that first). -1 with a message on failure. */
int cn_model_pack_f32(CnModel *model, CnError *err);

/* Makes a bfloat16 copy of the parameters, which halves the bytes an inference step reads
 * (states created afterwards may use it, see state.h). */
int cn_model_make_bf16(CnModel *model, CnError *err);

/* Rounds the parameters to bfloat16 precision in place (they stay float32), which gives
 * the batched evaluation exactly the weights the bfloat16 kernel uses. Needs a model loaded
 * writable or made by cn_model_init. */
int cn_model_round_bf16(CnModel *model, CnError *err);

/* Sets the corpus the model remembers for priming (a copy is taken). */
int cn_model_set_corpus(CnModel *model, const uint16_t *ids, size_t n_ids,
                        const uint32_t *song_starts, size_t n_songs, CnError *err);

/* ----- The .cnw file ------------------------------------------------------------------ */

/* The newest format version this build reads and writes. Version 2 is a model whose gate
 * or dense activation is not the default (an older build, ignoring those keys, would run
 * it wrong, and refuses version 2 instead); every other model is written as version 1,
 * byte for byte as before. */
#define CN_WEIGHTS_VERSION 2

/* The format version model is written as. */
int cn_model_file_version(const CnModel *model);

/* Optional training state saved beside the weights so a run can resume exactly. */
typedef struct {
    float *moments;        /* (n_params) RMSprop running mean of squared gradients */
    uint8_t *blob;         /* (n_blob) the trainer's own state, opaque here */
    size_t n_blob;
    float *carry;          /* (n_carry) LSTM state carried between chunks */
    size_t n_carry;
} CnTrainState;

/* Writes model (and train_state if not NULL) to path atomically: a temporary file in the
 * same folder, fsync, rename, fsync of the folder. A crash at any moment leaves either
 * the old file or the new one, never a mix. */
int cn_model_save(const CnModel *model, const CnTrainState *train_state, const char *path,
                  CnError *err);

/* Removes the temporary files that saves to path interrupted by a kill left beside it
 * (path itself is intact: a save only ever replaces it by a rename), calling
 * removed(file, user) for each when removed is not NULL. Returns how many, or -1 when the
 * folder cannot be read. Not for a path another process is saving to at the same time. */
int cn_model_remove_interrupted_saves(const char *path,
                                      void (*removed)(const char *file, void *user),
                                      void *user, CnError *err);

/* The largest weight a file may hold: training never comes near it (a model's largest is
 * a few units), so anything beyond, or not finite, is damage. */
#define CN_MAX_ABS_WEIGHT 1e6f

/* Whether path is a file that something else than continuo wrote (it exists, and does not
 * start as a weights file does): 1 and a message saying what it seems to be, so that a
 * save does not replace, say, a MIDI file; 0 when it is absent or ours. */
int cn_model_file_is_foreign(const char *path, CnError *err);

/* Loads and validates a weights file: magic, version, sizes against the file length,
 * checksums, shapes against the hyperparameters. Refuses anything else with a message
 * saying which and why. The parameters are memory-mapped read-only when writable is 0,
 * copied into the model's own memory when 1 (training). train_state may be NULL; else it
 * receives the saved training state, if any (all fields NULL when absent; free with
 * cn_train_state_free). */
int cn_model_load(CnModel *model, const char *path, int writable, CnTrainState *train_state,
                  CnError *err);

/* The same checks on a weights file already in memory (bytes are copied). */
int cn_model_load_bytes(CnModel *model, const void *bytes, size_t n_bytes, CnError *err);

void cn_train_state_free(CnTrainState *state);

#endif
