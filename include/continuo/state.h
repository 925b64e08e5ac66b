/* Per-stream inference state: everything one stream needs to run the model one token at
 * a time, allocated once from a model. Stepping allocates nothing, takes no lock and does
 * no I/O, so a worker thread beside an audio thread may call it. Many states may share
 * one model. */
#ifndef CONTINUO_STATE_H
#define CONTINUO_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "continuo/model.h"
#include "continuo/status.h"

typedef enum {
    CN_MODE_STATEFUL, /* the state runs on across the stream: one step per token */
    CN_MODE_WINDOW,   /* the original's way: each token reruns the last seq from zero */
} CnMode;

typedef enum {
    CN_KERNEL_F32,  /* continuo's own float32 matrix-vector products */
    CN_KERNEL_BF16, /* the same on the model's packed bfloat16 copy (cn_model_make_bf16) */
    CN_KERNEL_BLAS, /* OpenBLAS sgemv, which may use threads of its own */
} CnKernel;

#define CN_MAX_THREADS 8

struct CnHelper;

typedef struct {
    const CnModel *model;
    CnMode mode;
    CnKernel kernel;   /* how the products are computed; set by init, may be changed */
    int seq;           /* window length (window mode) */
    float *h;          /* (n_layers, n_hidden) */
    float *c;          /* (n_layers, n_hidden) */
    float *input;      /* (max(n_embed, 1)) this step's input */
    float *gates;      /* (4 * n_hidden) */
    float *tanh_c;     /* (n_hidden) */
    float *dense;      /* (n_dense) */
    float *probs;      /* (n_vocab) the next-token distribution after the last step */
    int32_t *history;  /* (seq) the last tokens, oldest first (window mode) */
    int n_history;
    size_t n_steps;    /* tokens fed since the last reset */
    int n_threads;     /* threads sharing each product of a step: the caller and helpers */
    int solo_products; /* products the caller does alone, the helpers having come late */
    struct CnHelper *helpers[CN_MAX_THREADS - 1];
} CnState;

/* Allocates every buffer for model (which must outlive the state). seq is used in window
 * mode (0: the length the model trained with, else 100). The kernel is bfloat16 when the
 * model has a bfloat16 copy, else float32. */
int cn_state_init(CnState *state, const CnModel *model, CnMode mode, int seq, CnError *err);
void cn_state_free(CnState *state);

/* Shares every matrix-vector product of a step (own kernels) between the calling thread
 * and n_threads - 1 helper threads started here, which spin briefly between products and
 * sleep when no step comes. 1 (the default) stops them. The helpers keep the state's
 * address, so a state with helpers must not be moved (copy it with cn_state_copy). Not for
 * a real-time thread: the caller waits for its helpers, spinning briefly, then asleep;
 * when a helper comes late (the cores are busy with other work) the caller does the next
 * products alone for a while, so more threads than free cores never cost more than a
 * little over one thread. The results are the same whatever the threads. Not RT; -1 with
 * a message on failure. */
int cn_state_set_threads(CnState *state, int n_threads, CnError *err);

/* Back to the start of a stream: zero state, empty history. */
void cn_state_reset(CnState *state);

/* Copies src into dst, both made by cn_state_init for the same model, mode and seq (to
 * try a continuation without losing the listening state). No allocation. */
int cn_state_copy(CnState *dst, const CnState *src);

/* Feeds one token (an index into the model's vocabulary) and returns the distribution of
 * the next token (n_vocab probabilities, valid until the next call). No allocation. */
const float *cn_state_step(CnState *state, int token);

#endif
