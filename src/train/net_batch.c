/* Batched forward and backward (truncated BPTT) of the stacked LSTM with its dense head.
 * Products over all steps at once where the recurrence allows: the input projections of a
 * layer, the weight gradients, and the gradients passed to the layer below are each one
 * sgemm per chunk; only h_{t-1} x W_h and its transpose run per step. */
#include "net_batch.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels.h"

static size_t n_in0(const CnModelConfig *c)
{
    return c->n_embed > 0 ? (size_t)c->n_embed : 1;
}

static size_t n_in(const CnModelConfig *c, int layer)
{
    return layer > 0 ? (size_t)c->n_hidden : n_in0(c);
}

static size_t n_top(const CnModelConfig *c)
{
    return c->n_dense > 0 ? (size_t)c->n_dense : (size_t)c->n_hidden;
}

static float *alloc_floats(size_t n, int *failed)
{
    float *p = aligned_alloc(64, ((n ? n : 1) * sizeof(float) + 63) / 64 * 64);
    if (!p)
        *failed = 1;
    else
        memset(p, 0, (n ? n : 1) * sizeof(float));
    return p;
}

double net_batch_bytes(const CnModelConfig *config, int n_lanes, int n_steps, int head_last)
{
    double B = n_lanes, TB = B * n_steps, H = config->n_hidden, L = config->n_layers;
    double N = head_last ? B : TB, V = config->n_vocab, D = config->n_dense;
    double in0 = (double)n_in0(config), in_max = H > in0 ? H : in0;
    double floats = TB * in0 + L * (9 * TB * H + 2 * B * H) + (L - 1) * 2 * TB * H +
                    3 * N * D + 2 * N * V + N * H + TB * H + 4 * TB * H + TB * in_max + 2 * B * H;
    return 4 * floats + 9 * TB; /* and the ids, targets and keep flags */
}

/* The share of this machine's memory a batch may take. */
#define MAX_MEMORY_SHARE 0.75

int net_batch_init(NetBatch *nb, const CnModelConfig *config, int n_lanes, int n_steps,
                   int head_last, CnError *err)
{
    memset(nb, 0, sizeof *nb);
    if (n_lanes < 1 || n_steps < 1 || (size_t)n_lanes * (size_t)n_steps > (1u << 24))
        return cn_fail(err, "batch %d x %d steps is out of range (at most %u in all)", n_lanes,
                       n_steps, 1u << 24);
    double need = net_batch_bytes(config, n_lanes, n_steps, head_last);
    double memory = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
    if (memory > 0 && need > MAX_MEMORY_SHARE * memory)
        return cn_fail(err, "a batch of %d x %d steps needs %.1f GB for its activations, more "
                            "than %.0f%% of this machine's %.1f GB: lower --seq or --batch",
                       n_lanes, n_steps, need / 1e9, 100 * MAX_MEMORY_SHARE, memory / 1e9);
    nb->config = *config;
    nb->n_lanes = n_lanes;
    nb->lane_first = 0;
    nb->n_lanes_total = n_lanes;
    nb->n_steps = n_steps;
    nb->head_last = head_last;
    size_t B = (size_t)n_lanes, TB = B * (size_t)n_steps, H = (size_t)config->n_hidden;
    size_t N = head_last ? B : TB, V = (size_t)config->n_vocab, D = (size_t)config->n_dense;
    size_t in_max = H > n_in0(config) ? H : n_in0(config);
    int failed = 0;
    nb->ids = calloc(TB, sizeof *nb->ids);
    nb->targets = calloc(TB, sizeof *nb->targets);
    nb->keep = calloc(TB, 1);
    failed |= !nb->ids || !nb->targets || !nb->keep;
    nb->x0 = alloc_floats(TB * n_in0(config), &failed);
    for (int l = 0; l < config->n_layers; l++) {
        nb->h_in[l] = alloc_floats(TB * H, &failed);
        nb->c_in[l] = alloc_floats(TB * H, &failed);
        nb->h_out[l] = alloc_floats(TB * H, &failed);
        nb->c_out[l] = alloc_floats(TB * H, &failed);
        nb->gates[l] = alloc_floats(TB * 4 * H, &failed);
        nb->tanh_c[l] = alloc_floats(TB * H, &failed);
        nb->carry_h[l] = alloc_floats(B * H, &failed);
        nb->carry_c[l] = alloc_floats(B * H, &failed);
        if (l < config->n_layers - 1) {
            nb->dropped[l] = alloc_floats(TB * H, &failed);
            nb->drop_mask[l] = alloc_floats(TB * H, &failed);
        }
    }
    if (D > 0) {
        nb->dense = alloc_floats(N * D, &failed);
        nb->dense_mask = alloc_floats(N * D, &failed);
        nb->d_dense = alloc_floats(N * D, &failed);
    }
    nb->probs = alloc_floats(N * V, &failed);
    nb->d_probs = alloc_floats(N * V, &failed);
    nb->d_top = alloc_floats(N * H, &failed);
    nb->d_out = alloc_floats(TB * H, &failed);
    nb->d_gates = alloc_floats(TB * 4 * H, &failed);
    nb->d_in = alloc_floats(TB * in_max, &failed);
    nb->dh_next = alloc_floats(B * H, &failed);
    nb->dc_next = alloc_floats(B * H, &failed);
    if (failed) {
        net_batch_free(nb);
        return cn_fail(err, "out of memory for a batch of %d x %d steps", n_lanes, n_steps);
    }
    return 0;
}

void net_batch_free(NetBatch *nb)
{
    free(nb->ids);
    free(nb->targets);
    free(nb->keep);
    free(nb->x0);
    for (int l = 0; l < CN_MAX_LAYERS; l++) {
        free(nb->h_in[l]);
        free(nb->c_in[l]);
        free(nb->h_out[l]);
        free(nb->c_out[l]);
        free(nb->gates[l]);
        free(nb->tanh_c[l]);
        free(nb->dropped[l]);
        free(nb->drop_mask[l]);
        free(nb->carry_h[l]);
        free(nb->carry_c[l]);
    }
    free(nb->dense);
    free(nb->dense_mask);
    free(nb->d_dense);
    free(nb->probs);
    free(nb->d_probs);
    free(nb->d_top);
    free(nb->d_out);
    free(nb->d_gates);
    free(nb->d_in);
    free(nb->dh_next);
    free(nb->dc_next);
    memset(nb, 0, sizeof *nb);
}

void net_batch_reset_carry(NetBatch *nb)
{
    size_t BH = (size_t)nb->n_lanes * (size_t)nb->config.n_hidden;
    for (int l = 0; l < nb->config.n_layers; l++) {
        memset(nb->carry_h[l], 0, BH * sizeof(float));
        memset(nb->carry_c[l], 0, BH * sizeof(float));
    }
}

/* ----- Forward ------------------------------------------------------------------------ */

static void fill_input(NetBatch *nb, const CnParams *w)
{
    const CnModelConfig *c = &nb->config;
    size_t TB = (size_t)nb->n_lanes * (size_t)nb->n_steps, E = (size_t)c->n_embed;
    for (size_t r = 0; r < TB; r++) {
        if (E > 0)
            memcpy(nb->x0 + r * E, w->embed + (size_t)nb->ids[r] * E, E * sizeof(float));
        else
            nb->x0[r] = (float)nb->ids[r] / (float)c->n_vocab; /* the original's input */
    }
}

/* Dropout over rows of width values laid out time-major (t * B + b) for n_steps steps:
 * a draw for every lane of the whole batch, kept for this batch's own lanes. */
static void draw_dropout(const NetBatch *nb, float *values, float *mask, size_t n_steps,
                         size_t width, float rate, CnRng *rng)
{
    float scale = 1.0f / (1.0f - rate);
    size_t B = (size_t)nb->n_lanes, first = (size_t)nb->lane_first;
    for (size_t t = 0; t < n_steps; t++)
        for (size_t lane = 0; lane < (size_t)nb->n_lanes_total; lane++) {
            if (lane < first || lane >= first + B) { /* another rank's: draws only */
                for (size_t j = 0; j < width; j++)
                    (void)cn_rng_float(rng);
                continue;
            }
            float *v = values + (t * B + (lane - first)) * width;
            float *m = mask + (t * B + (lane - first)) * width;
            for (size_t j = 0; j < width; j++) {
                m[j] = cn_rng_float(rng) < rate ? 0.0f : scale;
                v[j] *= m[j];
            }
        }
}

/* out (rows, n_out) = in (rows, n_in) x W^T (n_in -> n_out) + bias */
static void linear(float *out, const float *in, const float *weight, const float *bias,
                   size_t rows, size_t n_in, size_t n_out)
{
    for (size_t r = 0; r < rows; r++)
        memcpy(out + r * n_out, bias, n_out * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)n_out, (int)n_in, 1.0f,
                in, (int)n_in, weight, (int)n_in, 1.0f, out, (int)n_out);
}

static void layer_forward(NetBatch *nb, const CnParams *w, int l, const float *input)
{
    size_t B = (size_t)nb->n_lanes, T = (size_t)nb->n_steps, H = (size_t)nb->config.n_hidden;
    const CnLstmWeights *lw = &w->lstm[l];
    linear(nb->gates[l], input, lw->w_x, lw->bias, T * B, n_in(&nb->config, l), 4 * H);
    for (size_t t = 0; t < T; t++) {
        float *h_in = nb->h_in[l] + t * B * H, *c_in = nb->c_in[l] + t * B * H;
        const float *h_prev = t ? nb->h_out[l] + (t - 1) * B * H : nb->carry_h[l];
        const float *c_prev = t ? nb->c_out[l] + (t - 1) * B * H : nb->carry_c[l];
        for (size_t b = 0; b < B; b++) {
            int keep = nb->keep[t * B + b];
            for (size_t j = 0; j < H; j++) {
                h_in[b * H + j] = keep ? h_prev[b * H + j] : 0.0f;
                c_in[b * H + j] = keep ? c_prev[b * H + j] : 0.0f;
            }
        }
        float *g = nb->gates[l] + t * B * 4 * H;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)B, (int)(4 * H), (int)H, 1.0f,
                    h_in, (int)H, lw->w_h, (int)H, 1.0f, g, (int)(4 * H));
        for (size_t b = 0; b < B; b++) {
            size_t row = t * B + b;
            cn_lstm_cell(g + b * 4 * H, c_in + b * H, nb->c_out[l] + row * H,
                         nb->h_out[l] + row * H, nb->tanh_c[l] + row * H, H, nb->config.gates);
        }
    }
    memcpy(nb->carry_h[l], nb->h_out[l] + (T - 1) * B * H, B * H * sizeof(float));
    memcpy(nb->carry_c[l], nb->c_out[l] + (T - 1) * B * H, B * H * sizeof(float));
}

static size_t head_rows(const NetBatch *nb)
{
    return nb->head_last ? (size_t)nb->n_lanes : (size_t)nb->n_lanes * (size_t)nb->n_steps;
}

/* Rows of the top layer's output that the head reads, and their targets. */
static const float *head_input(const NetBatch *nb)
{
    int top = nb->config.n_layers - 1;
    size_t skip = nb->head_last ? (size_t)(nb->n_steps - 1) * (size_t)nb->n_lanes : 0;
    return nb->h_out[top] + skip * (size_t)nb->config.n_hidden;
}

static const int32_t *head_targets(const NetBatch *nb)
{
    size_t skip = nb->head_last ? (size_t)(nb->n_steps - 1) * (size_t)nb->n_lanes : 0;
    return nb->targets + skip;
}

static void head_forward(NetBatch *nb, const CnParams *w, CnRng *rng)
{
    const CnModelConfig *c = &nb->config;
    size_t N = head_rows(nb), H = (size_t)c->n_hidden, D = (size_t)c->n_dense,
           V = (size_t)c->n_vocab;
    const float *top = head_input(nb);
    if (D > 0) {
        linear(nb->dense, top, w->dense_w, w->dense_b, N, H, D);
        if (c->dense_activation == CN_DENSE_RELU)
            cn_relu(nb->dense, N * D);
        if (nb->dropout_active)
            draw_dropout(nb, nb->dense, nb->dense_mask, nb->head_last ? 1 : (size_t)nb->n_steps,
                         D, c->dropout, rng);
        top = nb->dense;
    }
    linear(nb->probs, top, w->out_w, w->out_b, N, n_top(c), V);
    const int32_t *targets = head_targets(nb);
    nb->loss_sum = 0;
    nb->n_predicted = 0;
    nb->n_correct = 0;
    for (size_t r = 0; r < N; r++) {
        float *row = nb->probs + r * V;
        int target = targets[r];
        float target_logit = target >= 0 ? row[target] : 0.0f;
        size_t best = 0;
        for (size_t k = 1; k < V; k++)
            best = row[k] > row[best] ? k : best;
        float lse = cn_softmax(row, V);
        if (target < 0)
            continue;
        nb->loss_sum += (double)(lse - target_logit);
        nb->n_predicted++;
        nb->n_correct += best == (size_t)target;
    }
}

void net_batch_forward(NetBatch *nb, const CnParams *w, CnRng *dropout_rng)
{
    const CnModelConfig *c = &nb->config;
    size_t TB = (size_t)nb->n_lanes * (size_t)nb->n_steps, H = (size_t)c->n_hidden;
    nb->dropout_active = dropout_rng != NULL && c->dropout > 0;
    fill_input(nb, w);
    const float *input = nb->x0;
    for (int l = 0; l < c->n_layers; l++) {
        layer_forward(nb, w, l, input);
        input = nb->h_out[l];
        if (l < c->n_layers - 1 && nb->dropout_active) {
            memcpy(nb->dropped[l], nb->h_out[l], TB * H * sizeof(float));
            draw_dropout(nb, nb->dropped[l], nb->drop_mask[l], (size_t)nb->n_steps, H,
                         c->dropout, dropout_rng);
            input = nb->dropped[l];
        }
    }
    head_forward(nb, w, dropout_rng);
}

/* ----- Backward ----------------------------------------------------------------------- */

/* grad_w (n_out, n_in) += d_out^T (n_out, rows) x in (rows, n_in); grad_b += column sums */
static void linear_weight_grad(float *grad_w, float *grad_b, const float *d_out,
                               const float *in, size_t rows, size_t n_in, size_t n_out)
{
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)n_out, (int)n_in, (int)rows, 1.0f,
                d_out, (int)n_out, in, (int)n_in, 1.0f, grad_w, (int)n_in);
    if (grad_b)
        for (size_t r = 0; r < rows; r++)
            for (size_t k = 0; k < n_out; k++)
                grad_b[k] += d_out[r * n_out + k];
}

/* d_in (rows, n_in) = d_out (rows, n_out) x W (n_out, n_in) */
static void linear_input_grad(float *d_in, const float *d_out, const float *weight, size_t rows,
                              size_t n_in, size_t n_out)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)n_in, (int)n_out,
                1.0f, d_out, (int)n_out, weight, (int)n_in, 0.0f, d_in, (int)n_in);
}

/* Gradient of the mean cross-entropy reaching the head's input rows (into nb->d_top). */
static void head_backward(NetBatch *nb, const CnParams *w, const CnParams *grad)
{
    const CnModelConfig *c = &nb->config;
    size_t N = head_rows(nb), H = (size_t)c->n_hidden, D = (size_t)c->n_dense,
           V = (size_t)c->n_vocab;
    const int32_t *targets = head_targets(nb);
    size_t n_rows = nb->n_predicted_total ? nb->n_predicted_total : nb->n_predicted;
    float scale = n_rows ? 1.0f / (float)n_rows : 0.0f;
    for (size_t r = 0; r < N; r++) {
        float *d = nb->d_probs + r * V;
        const float *p = nb->probs + r * V;
        if (targets[r] < 0) {
            memset(d, 0, V * sizeof(float));
            continue;
        }
        for (size_t k = 0; k < V; k++)
            d[k] = p[k] * scale;
        d[targets[r]] -= scale;
    }
    const float *top = head_input(nb);
    const float *below = D > 0 ? nb->dense : top;
    linear_weight_grad(grad->out_w, grad->out_b, nb->d_probs, below, N, n_top(c), V);
    if (D == 0) {
        linear_input_grad(nb->d_top, nb->d_probs, w->out_w, N, H, V);
        return;
    }
    linear_input_grad(nb->d_dense, nb->d_probs, w->out_w, N, D, V);
    if (nb->dropout_active)
        for (size_t i = 0; i < N * D; i++)
            nb->d_dense[i] *= nb->dense_mask[i];
    if (c->dense_activation == CN_DENSE_RELU) /* kept values keep their sign through dropout */
        for (size_t i = 0; i < N * D; i++)
            nb->d_dense[i] = nb->dense[i] > 0.0f ? nb->d_dense[i] : 0.0f;
    linear_weight_grad(grad->dense_w, grad->dense_b, nb->d_dense, top, N, H, D);
    linear_input_grad(nb->d_top, nb->d_dense, w->dense_w, N, H, D);
}

/* BPTT through layer l: d_out holds the gradient reaching its outputs; leaves the
 * gradient reaching its inputs in d_in (when want_d_in). */
static void layer_backward(NetBatch *nb, const CnParams *w, const CnParams *grad, int l,
                           const float *input, int want_d_in)
{
    size_t B = (size_t)nb->n_lanes, T = (size_t)nb->n_steps, H = (size_t)nb->config.n_hidden;
    const CnLstmWeights *lw = &w->lstm[l];
    memset(nb->dh_next, 0, B * H * sizeof(float));
    memset(nb->dc_next, 0, B * H * sizeof(float));
    float *dh = nb->d_out; /* gradient reaching h_t: from above plus from step t+1 */
    for (size_t t = T; t-- > 0;) {
        for (size_t b = 0; b < B; b++) {
            size_t row = t * B + b;
            float *dh_row = dh + row * H;
            for (size_t j = 0; j < H; j++)
                dh_row[j] += nb->dh_next[b * H + j];
            cn_lstm_cell_backward(nb->gates[l] + row * 4 * H, nb->tanh_c[l] + row * H,
                                  nb->c_in[l] + row * H, dh_row, nb->dc_next + b * H,
                                  nb->d_gates + row * 4 * H, H, nb->config.gates);
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)B, (int)H, (int)(4 * H), 1.0f,
                    nb->d_gates + t * B * 4 * H, (int)(4 * H), lw->w_h, (int)H, 0.0f, nb->dh_next,
                    (int)H);
        for (size_t b = 0; b < B; b++)
            if (!nb->keep[t * B + b]) { /* the state was reset: nothing flows further back */
                memset(nb->dh_next + b * H, 0, H * sizeof(float));
                memset(nb->dc_next + b * H, 0, H * sizeof(float));
            }
    }
    const CnLstmWeights *gw = &grad->lstm[l];
    size_t in = n_in(&nb->config, l);
    linear_weight_grad(gw->w_h, gw->bias, nb->d_gates, nb->h_in[l], T * B, H, 4 * H);
    linear_weight_grad(gw->w_x, NULL, nb->d_gates, input, T * B, in, 4 * H);
    if (want_d_in)
        linear_input_grad(nb->d_in, nb->d_gates, lw->w_x, T * B, in, 4 * H);
}

void net_batch_backward(NetBatch *nb, const CnParams *w, const CnParams *grad)
{
    const CnModelConfig *c = &nb->config;
    size_t B = (size_t)nb->n_lanes, TB = B * (size_t)nb->n_steps, H = (size_t)c->n_hidden;
    head_backward(nb, w, grad);
    memset(nb->d_out, 0, TB * H * sizeof(float));
    size_t skip = nb->head_last ? TB - B : 0;
    memcpy(nb->d_out + skip * H, nb->d_top, head_rows(nb) * H * sizeof(float));
    for (int l = c->n_layers - 1; l >= 0; l--) {
        const float *input = l == 0                ? nb->x0
                             : nb->dropout_active ? nb->dropped[l - 1]
                                                  : nb->h_out[l - 1];
        int want_d_in = l > 0 || c->n_embed > 0;
        layer_backward(nb, w, grad, l, input, want_d_in);
        if (l > 0 && nb->dropout_active) { /* through the dropout between layers */
            const float *mask = nb->drop_mask[l - 1];
            for (size_t i = 0; i < TB * H; i++)
                nb->d_out[i] = nb->d_in[i] * mask[i];
        } else if (l > 0) {
            memcpy(nb->d_out, nb->d_in, TB * H * sizeof(float));
        }
    }
    if (c->n_embed > 0) {
        size_t E = (size_t)c->n_embed;
        for (size_t r = 0; r < TB; r++) {
            float *g = grad->embed + (size_t)nb->ids[r] * E;
            for (size_t k = 0; k < E; k++)
                g[k] += nb->d_in[r * E + k];
        }
    }
}
