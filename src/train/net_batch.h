/* The whole network over a chunk of T steps for B streams at once, forward and backward,
 * with every product a BLAS sgemm over the whole batch (and over all steps where the
 * recurrence allows). Internal to the trainer; all memory is allocated once. */
#ifndef CONTINUO_NET_BATCH_H
#define CONTINUO_NET_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "continuo/model.h"
#include "continuo/rng.h"

typedef struct {
    CnModelConfig config;
    int n_lanes;   /* B: streams in the batch */
    int n_steps;   /* T: steps per chunk */
    int head_last; /* 1: only the last step predicts (objective "last"); 0: every step */
    /* Data-parallel runs: these B lanes are lanes lane_first.. of a batch of n_lanes_total
       shared among ranks (alone: 0 and B). Dropout is drawn for every lane of the whole
       batch, so that a lane's masks do not depend on how the batch is shared. */
    int lane_first, n_lanes_total;
    /* Rows predicted by the whole batch, on every rank: the gradient is the mean over
       these (0: over this batch's own n_predicted). */
    size_t n_predicted_total;

    /* Inputs for one chunk, time-major: index t * B + b. */
    int32_t *ids;     /* (T*B) input token ids */
    int32_t *targets; /* (T*B) next-token ids, -1 where nothing is to be predicted */
    uint8_t *keep;    /* (T*B) 0 where the state is reset before the step (a song starts) */

    /* Activations, per layer, time-major rows of width H (or 4H for gates). */
    float *x0;                   /* (T*B, n_in0) layer-0 input */
    float *h_in[CN_MAX_LAYERS];  /* (T*B, H) state each step started from (after resets) */
    float *c_in[CN_MAX_LAYERS];  /* (T*B, H) */
    float *h_out[CN_MAX_LAYERS]; /* (T*B, H) */
    float *c_out[CN_MAX_LAYERS]; /* (T*B, H) */
    float *gates[CN_MAX_LAYERS]; /* (T*B, 4H) activated i, f, g, o */
    float *tanh_c[CN_MAX_LAYERS];/* (T*B, H) */
    float *dropped[CN_MAX_LAYERS]; /* (T*B, H) h_out times the dropout mask, fed upwards */
    float *drop_mask[CN_MAX_LAYERS]; /* (T*B, H) 0 or 1 / (1 - p) */
    float *carry_h[CN_MAX_LAYERS];   /* (B, H) state carried into the next chunk */
    float *carry_c[CN_MAX_LAYERS];

    /* The head over N rows (N = T*B, or B with head_last). */
    float *dense;      /* (N, D) after dropout */
    float *dense_mask; /* (N, D) */
    float *probs;      /* (N, V) logits, then probabilities */

    /* Backward scratch. */
    float *d_probs;  /* (N, V) */
    float *d_dense;  /* (N, D) */
    float *d_top;    /* (N, H) */
    float *d_out;    /* (T*B, H) gradient reaching a layer's outputs */
    float *d_gates;  /* (T*B, 4H) */
    float *d_in;     /* (T*B, max(H, n_in0)) gradient reaching a layer's inputs */
    float *dh_next;  /* (B, H) */
    float *dc_next;  /* (B, H) */

    int dropout_active; /* the last forward pass dropped units (training) */

    /* Results of the last forward pass. */
    double loss_sum;   /* summed cross-entropy over the predicted rows (nats) */
    size_t n_predicted;
    size_t n_correct;  /* rows whose most probable token was the target */
} NetBatch;

/* Bytes a batch of n_lanes x n_steps takes for its activations and gradients. */
double net_batch_bytes(const CnModelConfig *config, int n_lanes, int n_steps, int head_last);

/* Refuses a batch that would take more than three quarters of the machine's memory, with
 * the figures, before allocating anything. */
int net_batch_init(NetBatch *nb, const CnModelConfig *config, int n_lanes, int n_steps,
                   int head_last, CnError *err);
void net_batch_free(NetBatch *nb);

/* Zeroes the carried state of every lane. */
void net_batch_reset_carry(NetBatch *nb);

/* Runs the chunk in nb->ids/targets/keep through the network; dropout (when rng is not
 * NULL) is drawn from rng. Leaves the loss in nb->loss_sum and the carried state for the
 * next chunk. */
void net_batch_forward(NetBatch *nb, const CnParams *w, CnRng *dropout_rng);

/* Accumulates into grad the gradient of the mean cross-entropy of the last forward pass
 * (mean over its predicted rows). */
void net_batch_backward(NetBatch *nb, const CnParams *w, const CnParams *grad);

#endif
