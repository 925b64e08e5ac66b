/* The batched LSTM: finite-difference check of every parameter tensor's gradient (both
 * objectives, with and without embedding and dense layer, across song resets and a
 * carried state), and agreement of the BLAS forward with a plain-loop reference. */
#include <math.h>
#include <stdio.h>

#include "continuo/model.h"
#include "net_batch.h"
#include "continuo/rng.h"
#include "test_util.h"

static CnVocab make_vocab(int n)
{
    const char *all[] = {"C4", "D4", "E4", "F4", "G4", "A4", "B4", "C5", "0.4.7", "2.7", "9.0.4"};
    CnVocab v;
    CnError err;
    cn_vocab_from_names(all, (size_t)n, &v, &err);
    return v;
}

static void fill_chunk(NetBatch *nb, CnRng *rng, int with_resets)
{
    size_t TB = (size_t)nb->n_lanes * (size_t)nb->n_steps;
    for (size_t r = 0; r < TB; r++) {
        nb->ids[r] = (int32_t)cn_rng_below(rng, (uint32_t)nb->config.n_vocab);
        nb->targets[r] = cn_rng_below(rng, 5) == 0 ? -1
                                                   : (int32_t)cn_rng_below(rng, (uint32_t)nb->config.n_vocab);
        nb->keep[r] = with_resets ? cn_rng_below(rng, 4) != 0 : 1;
    }
}

static double chunk_loss(NetBatch *nb, const CnModel *m, float *const *carry_h,
                         float *const *carry_c)
{
    size_t BH = (size_t)nb->n_lanes * (size_t)nb->config.n_hidden;
    for (int l = 0; l < nb->config.n_layers; l++) { /* each trial starts from the same state */
        memcpy(nb->carry_h[l], carry_h[l], BH * sizeof(float));
        memcpy(nb->carry_c[l], carry_c[l], BH * sizeof(float));
    }
    net_batch_forward(nb, &m->w, NULL);
    return nb->loss_sum / (double)nb->n_predicted;
}

static double relative_error(double numeric, double analytic)
{
    return fabs(numeric - analytic) / (fabs(numeric) + fabs(analytic) + 1e-2);
}

/* The Keras imports' activations (hard-sigmoid gates, ReLU after the dense layer), or
 * continuo's own. */
static int keras_activations = 0;

static void gradient_check(int n_embed, int n_dense, int head_last, const char *label)
{
    CnModelConfig config = {.n_vocab = 9, .n_embed = n_embed, .n_layers = 2, .n_hidden = 6,
                            .n_dense = n_dense, .dropout = 0.0f};
    if (keras_activations) {
        config.gates = CN_GATES_HARD_SIGMOID;
        config.dense_activation = CN_DENSE_RELU;
    }
    CnVocab vocab = make_vocab(9);
    CnModel m;
    CnError err = {{0}};
    CHECK(cn_model_init(&m, &config, &vocab, 7, &err) == 0);
    CnRng rng;
    cn_rng_seed(&rng, 11);
    for (size_t i = 0; i < m.n_params; i++) /* bigger weights than the init: stronger signal */
        m.params[i] *= 1.5f;
    if (keras_activations) /* no bias exactly 0, where ReLU's corner would sit on rows of 0 */
        for (size_t i = 0; i < m.n_params; i++)
            m.params[i] += 0.2f * (cn_rng_float(&rng) - 0.5f);
    NetBatch nb;
    CHECK(net_batch_init(&nb, &config, 3, 5, head_last, &err) == 0);

    fill_chunk(&nb, &rng, !head_last); /* a first chunk, so the second starts mid-song */
    net_batch_forward(&nb, &m.w, NULL);
    float *carry_h[CN_MAX_LAYERS], *carry_c[CN_MAX_LAYERS];
    size_t BH = 3 * 6;
    for (int l = 0; l < config.n_layers; l++) {
        carry_h[l] = malloc(BH * sizeof(float));
        carry_c[l] = malloc(BH * sizeof(float));
        memcpy(carry_h[l], nb.carry_h[l], BH * sizeof(float));
        memcpy(carry_c[l], nb.carry_c[l], BH * sizeof(float));
    }
    fill_chunk(&nb, &rng, !head_last);
    if (head_last) /* windows start from a zero state */
        for (int b = 0; b < 3; b++)
            nb.keep[b] = 0;

    float *grad_buf = calloc(m.n_params, sizeof(float));
    CnParams grad;
    cn_params_views(&config, grad_buf, &grad);
    chunk_loss(&nb, &m, carry_h, carry_c);
    net_batch_backward(&nb, &m.w, &grad);

    double worst = 0;
    int n_checked = 0, n_bad = 0, n_kinks = 0;
    const float eps = 2e-3f;
    double centre = chunk_loss(&nb, &m, carry_h, carry_c);
    for (size_t i = 0; i < m.n_params; i++) {
        float saved = m.params[i];
        m.params[i] = saved + eps;
        double up = chunk_loss(&nb, &m, carry_h, carry_c);
        m.params[i] = saved - eps;
        double down = chunk_loss(&nb, &m, carry_h, carry_c);
        m.params[i] = saved;
        double numeric = (up - down) / (2.0 * eps), analytic = grad_buf[i];
        double error = relative_error(numeric, analytic);
        /* piecewise-linear activations: where a step crosses a corner (the hard sigmoid's
           clip, ReLU's zero) the central difference averages two slopes; the gradient is
           then the slope on one side */
        double right = (up - centre) / eps, left = (centre - down) / eps;
        if (keras_activations && error > 2e-2 &&
            fmin(relative_error(right, analytic), relative_error(left, analytic)) < 1e-2) {
            n_kinks++;
            error = fmin(relative_error(right, analytic), relative_error(left, analytic));
        }
        if (error > worst)
            worst = error;
        n_bad += error > 2e-2;
        n_checked++;
    }
    printf("# %s: %d parameters checked, worst relative error %.2e; %d at a corner\n", label,
           n_checked, worst, n_kinks);
    CHECK(n_bad == 0);
    CHECK(n_kinks * 20 < n_checked); /* corners are rare: the check covers nearly all */
    CHECK(n_checked > 300);
    for (int l = 0; l < config.n_layers; l++) {
        free(carry_h[l]);
        free(carry_c[l]);
    }
    free(grad_buf);
    net_batch_free(&nb);
    cn_model_free(&m);
    cn_vocab_free(&vocab);
}

static void test_gradients_every_position_scalar_input(void)
{
    gradient_check(0, 4, 0, "all, scalar input, dense 4");
}

static void test_gradients_every_position_embedding(void)
{
    gradient_check(3, 4, 0, "all, embedding 3, dense 4");
}

static void test_gradients_last_position_scalar_input(void)
{
    gradient_check(0, 4, 1, "last, scalar input, dense 4");
}

static void test_gradients_last_position_embedding_no_dense(void)
{
    gradient_check(3, 0, 1, "last, embedding 3, no dense");
}

static void test_gradients_hard_sigmoid_gates_and_relu(void)
{
    keras_activations = 1;
    gradient_check(0, 4, 0, "all, hard-sigmoid gates, dense 4 + ReLU");
    gradient_check(0, 4, 1, "last, hard-sigmoid gates, dense 4 + ReLU");
    keras_activations = 0;
}

/* ----- Plain-loop reference ------------------------------------------------------------ */

static float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

/* One stream through the network with naive loops, probabilities of every step. */
static void reference_forward(const CnModel *m, const int32_t *ids, int n_steps, float *probs)
{
    const CnModelConfig *c = &m->config;
    int H = c->n_hidden, V = c->n_vocab, D = c->n_dense;
    float h[CN_MAX_LAYERS][64] = {{0}}, cs[CN_MAX_LAYERS][64] = {{0}};
    for (int t = 0; t < n_steps; t++) {
        float x[64];
        int n_x = c->n_embed > 0 ? c->n_embed : 1;
        for (int k = 0; k < n_x; k++)
            x[k] = c->n_embed > 0 ? m->w.embed[ids[t] * c->n_embed + k]
                                  : (float)ids[t] / (float)V;
        for (int l = 0; l < c->n_layers; l++) {
            const CnLstmWeights *lw = &m->w.lstm[l];
            float z[4 * 64];
            for (int r = 0; r < 4 * H; r++) {
                double s = lw->bias[r];
                for (int k = 0; k < n_x; k++)
                    s += (double)lw->w_x[r * n_x + k] * x[k];
                for (int k = 0; k < H; k++)
                    s += (double)lw->w_h[r * H + k] * h[l][k];
                z[r] = (float)s;
            }
            for (int j = 0; j < H; j++) {
                float i = sigmoid(z[j]), f = sigmoid(z[H + j]), g = tanhf(z[2 * H + j]),
                      o = sigmoid(z[3 * H + j]);
                cs[l][j] = f * cs[l][j] + i * g;
                h[l][j] = o * tanhf(cs[l][j]);
            }
            memcpy(x, h[l], (size_t)H * sizeof(float));
            n_x = H;
        }
        float top[64];
        int n_top = H;
        memcpy(top, x, (size_t)H * sizeof(float));
        if (D > 0) {
            for (int r = 0; r < D; r++) {
                double s = m->w.dense_b[r];
                for (int k = 0; k < H; k++)
                    s += (double)m->w.dense_w[r * H + k] * x[k];
                top[r] = (float)s;
            }
            n_top = D;
        }
        float *p = probs + (size_t)t * (size_t)V;
        double sum = 0, max = -1e30;
        for (int r = 0; r < V; r++) {
            double s = m->w.out_b[r];
            for (int k = 0; k < n_top; k++)
                s += (double)m->w.out_w[r * n_top + k] * top[k];
            p[r] = (float)s;
            max = s > max ? s : max;
        }
        for (int r = 0; r < V; r++)
            sum += exp(p[r] - max);
        for (int r = 0; r < V; r++)
            p[r] = (float)(exp(p[r] - max) / sum);
    }
}

static void test_blas_forward_matches_plain_loops(void)
{
    for (int variant = 0; variant < 2; variant++) {
        CnModelConfig config = {.n_vocab = 11, .n_embed = variant ? 5 : 0, .n_layers = 3,
                                .n_hidden = 16, .n_dense = variant ? 0 : 8, .dropout = 0.3f};
        CnVocab vocab = make_vocab(11);
        CnModel m;
        CnError err = {{0}};
        CHECK(cn_model_init(&m, &config, &vocab, 3, &err) == 0);
        NetBatch nb;
        int T = 12;
        CHECK(net_batch_init(&nb, &config, 1, T, 0, &err) == 0);
        CnRng rng;
        cn_rng_seed(&rng, 5);
        for (int t = 0; t < T; t++) {
            nb.ids[t] = (int32_t)cn_rng_below(&rng, 11);
            nb.targets[t] = 0;
            nb.keep[t] = 1;
        }
        net_batch_forward(&nb, &m.w, NULL); /* no dropout outside training */
        float expected[12 * 11];
        reference_forward(&m, nb.ids, T, expected);
        double worst = 0;
        for (int i = 0; i < T * 11; i++)
            worst = fmax(worst, fabs(expected[i] - nb.probs[i]));
        printf("# variant %d: largest probability difference %.2e\n", variant, worst);
        CHECK(worst < 1e-5);
        net_batch_free(&nb);
        cn_model_free(&m);
        cn_vocab_free(&vocab);
    }
}

static void test_initialization_follows_keras(void)
{
    CnModelConfig config = {.n_vocab = 9, .n_embed = 0, .n_layers = 1, .n_hidden = 32,
                            .n_dense = 0, .dropout = 0};
    CnVocab vocab = make_vocab(9);
    CnModel m;
    CnError err = {{0}};
    CHECK(cn_model_init(&m, &config, &vocab, 1, &err) == 0);
    int H = 32;
    double worst = 0; /* recurrent kernel (4H x H): orthonormal columns */
    for (int a = 0; a < H; a++)
        for (int b = 0; b < H; b++) {
            double dot = 0;
            for (int r = 0; r < 4 * H; r++)
                dot += (double)m.w.lstm[0].w_h[r * H + a] * m.w.lstm[0].w_h[r * H + b];
            worst = fmax(worst, fabs(dot - (a == b)));
        }
    CHECK(worst < 1e-5);
    for (int j = 0; j < 4 * H; j++) /* forget-gate bias 1, others 0 */
        CHECK(m.w.lstm[0].bias[j] == (j >= H && j < 2 * H ? 1.0f : 0.0f));
    float limit = sqrtf(6.0f / (1 + 4 * H));
    for (int r = 0; r < 4 * H; r++)
        CHECK(fabsf(m.w.lstm[0].w_x[r]) <= limit);
    cn_model_free(&m);
    cn_vocab_free(&vocab);
}

int main(void)
{
    RUN(test_initialization_follows_keras);
    RUN(test_blas_forward_matches_plain_loops);
    RUN(test_gradients_every_position_scalar_input);
    RUN(test_gradients_every_position_embedding);
    RUN(test_gradients_last_position_scalar_input);
    RUN(test_gradients_last_position_embedding_no_dense);
    RUN(test_gradients_hard_sigmoid_gates_and_relu);
    return test_finish();
}
