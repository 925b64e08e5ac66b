/* Sampling the next token: temperature, top-k, top-p and a repetition guard over the
 * model's probabilities, with an own xoshiro256** generator. No allocation after init. */
#include "continuo/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "continuo/rng.h"

CnSamplerOptions cn_sampler_argmax(void)
{
    return (CnSamplerOptions){.temperature = 0.0f, .top_k = 0, .top_p = 1.0f,
                              .repetition_penalty = 1.0f, .repetition_window = 0};
}

CnSamplerOptions cn_sampler_defaults(void)
{
    return (CnSamplerOptions){.temperature = 1.0f, .top_k = 0, .top_p = 0.95f,
                              .repetition_penalty = 1.0f, .repetition_window = 16,
                              .key_guard = 0.9f, .loudness_width = 2.0f, .rhythm_guard = 0.5f};
}

int cn_sampler_check(const CnSamplerOptions *o, CnError *err)
{
    if (!(o->temperature >= 0 && o->temperature <= 100))
        return cn_fail(err, "temperature %g: must be 0 (argmax) to 100", (double)o->temperature);
    if (o->top_k < 0)
        return cn_fail(err, "top-k %d: must be 0 (off) or more", o->top_k);
    if (!(o->top_p > 0 && o->top_p <= 1))
        return cn_fail(err, "top-p %g: must be above 0 and at most 1", (double)o->top_p);
    if (!(o->repetition_penalty >= 1 && o->repetition_penalty <= 100))
        return cn_fail(err, "repetition penalty %g: must be 1 (off) to 100",
                       (double)o->repetition_penalty);
    if (o->repetition_window < 0 || o->repetition_window > CN_SAMPLER_MAX_WINDOW)
        return cn_fail(err, "repetition window %d: must be 0..%d", o->repetition_window,
                       CN_SAMPLER_MAX_WINDOW);
    if (!(o->key_guard >= 0 && o->key_guard <= 1))
        return cn_fail(err, "key guard %g: must be 0 (off) to 1 (never out of key)",
                       (double)o->key_guard);
    if (!(o->rhythm_guard >= 0 && o->rhythm_guard <= 1))
        return cn_fail(err, "rhythm guard %g: must be 0 (off) to 1 (only the heard steps)",
                       (double)o->rhythm_guard);
    if (!(o->loudness_width >= 0 && o->loudness_width <= 100))
        return cn_fail(err, "loudness width %g: must be 0 (off) to 100 velocity levels",
                       (double)o->loudness_width);
    return 0;
}

int cn_sampler_init(CnSampler *s, int n_vocab, const CnSamplerOptions *options, uint64_t seed,
                    CnError *err)
{
    memset(s, 0, sizeof *s);
    if (cn_sampler_check(options, err))
        return -1;
    if (n_vocab < 1)
        return cn_fail(err, "empty vocabulary");
    s->options = *options;
    s->n_vocab = n_vocab;
    cn_rng_seed(&s->rng, seed);
    s->weights = malloc((size_t)n_vocab * sizeof *s->weights);
    s->order = malloc((size_t)n_vocab * sizeof *s->order);
    if (!s->weights || !s->order) {
        cn_sampler_free(s);
        return cn_fail(err, "out of memory");
    }
    return 0;
}

void cn_sampler_free(CnSampler *s)
{
    free(s->weights);
    free(s->order);
    s->weights = NULL;
    s->order = NULL;
}

void cn_sampler_observe(CnSampler *s, int token)
{
    s->recent[s->recent_at] = token;
    s->recent_at = (s->recent_at + 1) % CN_SAMPLER_MAX_WINDOW;
    if (s->n_recent < CN_SAMPLER_MAX_WINDOW)
        s->n_recent++;
}

/* 2^x and log2(x) to about 2e-5, for the temperature's p^(1/T) on every token:
 * powf on a vocabulary of a few hundred costs more than a small model's step, and a
 * sampling weight needs no more precision. Written without branches so that the loop over
 * the vocabulary vectorizes (this file is built with -O3). log2 takes x > 0 normal; exp2
 * takes x above -16384 and gives 0 below 2^-126. */
static float fast_log2(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    float e = (float)((int)(u >> 23) - 127), m;
    u = (u & 0x007fffff) | 0x3f800000; /* the mantissa, in [1, 2) */
    memcpy(&m, &u, 4);
    float t = (m - 1.0f) / (m + 1.0f), t2 = t * t; /* log m = 2 atanh t, |t| < 1/3 */
    return e + 2.8853901f * t * (1.0f + t2 * (0.33333333f + t2 * (0.2f + t2 * 0.14285714f)));
}

static float fast_exp2(float x)
{
    int i = (int)(x + 16384.0f) - 16384; /* floor */
    float f = x - (float)i, scale;
    uint32_t u = (uint32_t)(i + 127) << 23;
    u &= -(uint32_t)(i > -127);
    memcpy(&scale, &u, 4);
    return scale * (1.0f + f * (0.69314718f + f * (0.24022651f + f * (0.05550411f +
                   f * (0.0096181291f + f * (0.0013333558f + f * 0.00015403530f))))));
}

/* w^inv_t for every weight w in [0, 1] (0 stays 0), inv_t at most 100. */
static void temper(float *restrict w, int n, float inv_t)
{
    for (int i = 0; i < n; i++) {
        uint32_t was, r;
        memcpy(&was, &w[i], 4);
        float tempered = fast_exp2(fast_log2(w[i] + 1e-37f) * inv_t);
        memcpy(&r, &tempered, 4);
        r &= -(uint32_t)(was != 0);
        memcpy(&w[i], &r, 4);
    }
}

static int argmax(const float *w, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        best = w[i] > w[best] ? i : best;
    return best;
}

/* Sampling from the nucleus (the fewest tokens, largest first, holding top_p of the
 * weight, at most top_k of them) without sorting: draw from all tokens in proportion to
 * weight, and keep the draw if the tokens heavier than it hold less than top_p of the
 * weight and are fewer than top_k (exactly the nucleus's members), else draw again. That is
 * the nucleus's own distribution, at two passes over the vocabulary per draw, and a draw
 * is kept at least top_p of the time. -1 when MAX_DRAWS were not kept (a top-k far smaller
 * than the spread of the weights): the caller then draws from the top_k heaviest. */
#define MAX_DRAWS 16

static int draw(const float *w, int V, double total, CnRng *rng)
{
    double coin = (double)(cn_rng_u64(rng) >> 11) * (1.0 / 9007199254740992.0) * total, acc = 0;
    for (int i = 0; i < V; i++) {
        acc += w[i];
        if (coin < acc)
            return i;
    }
    for (int i = V - 1; i >= 0; i--) /* rounding left the coin past the end */
        if (w[i] > 0)
            return i;
    return 0;
}

static int in_nucleus(const float *w, int V, int token, double mass, int keep)
{
    double heavier = 0;
    int n_heavier = 0;
    for (int i = 0; i < V; i++)
        if (w[i] > w[token]) {
            heavier += w[i];
            n_heavier++;
        }
    return heavier < mass && n_heavier < keep;
}

static int draw_nucleus(const float *w, int V, double total, double mass, int keep, CnRng *rng)
{
    for (int k = 0; k < MAX_DRAWS; k++) {
        int token = draw(w, V, total, rng);
        if (in_nucleus(w, V, token, mass, keep))
            return token;
    }
    return -1;
}

/* The top_k heaviest, chosen one by one (only when draw_nucleus gave up), and a draw among
 * them; order is scratch. */
static int draw_top_k(const float *w, int V, int keep, int *order, CnRng *rng)
{
    int n = 0;
    double kept = 0;
    for (; n < keep; n++) {
        int best = -1;
        for (int i = 0; i < V; i++) {
            int taken = 0;
            for (int j = 0; j < n && !taken; j++)
                taken = order[j] == i;
            if (!taken && (best < 0 || w[i] > w[best]))
                best = i;
        }
        order[n] = best;
        kept += w[best];
    }
    float sub[64];
    int m = n < 64 ? n : 64;
    for (int i = 0; i < m; i++)
        sub[i] = w[order[i]];
    return order[draw(sub, m, kept, rng)];
}

static void apply_repetition_guard(CnSampler *s)
{
    const CnSamplerOptions *o = &s->options;
    if (o->repetition_penalty <= 1.0f || o->repetition_window == 0)
        return;
    int n = o->repetition_window < s->n_recent ? o->repetition_window : s->n_recent;
    for (int k = 1; k <= n; k++) {
        int token = s->recent[(s->recent_at - k + CN_SAMPLER_MAX_WINDOW) % CN_SAMPLER_MAX_WINDOW];
        if (token < 0 || token >= s->n_vocab)
            continue;
        /* once per distinct token: mark with a negative sign while penalizing */
        if (s->weights[token] > 0)
            s->weights[token] = -s->weights[token] / o->repetition_penalty;
    }
    for (int i = 0; i < s->n_vocab; i++)
        s->weights[i] = fabsf(s->weights[i]);
}

int cn_sampler_sample(CnSampler *s, const float *probs)
{
    return cn_sampler_sample_biased(s, probs, NULL);
}

int cn_sampler_sample_biased(CnSampler *s, const float *probs, const float *bias)
{
    const CnSamplerOptions *o = &s->options;
    int V = s->n_vocab;
    memcpy(s->weights, probs, (size_t)V * sizeof(float));
    if (bias) {
        double kept = 0;
        for (int i = 0; i < V; i++)
            kept += s->weights[i] * bias[i];
        if (kept > 0) /* (a bias that removes everything is not followed) */
            for (int i = 0; i < V; i++)
                s->weights[i] *= bias[i];
    }
    apply_repetition_guard(s);
    int token;
    if (o->temperature <= 0.0f) {
        token = argmax(s->weights, V);
    } else {
        float inv_t = 1.0f / o->temperature;
        if (inv_t != 1.0f) /* p^(1/T) is softmax(logits / T) up to a constant */
            temper(s->weights, V, inv_t);
        double total = 0;
        for (int i = 0; i < V; i++)
            total += s->weights[i];
        int keep = o->top_k > 0 && o->top_k < V ? o->top_k : V;
        token = draw_nucleus(s->weights, V, total, o->top_p * total, keep, &s->rng);
        if (token < 0)
            token = draw_top_k(s->weights, V, keep < 64 ? keep : 64, s->order, &s->rng);
    }
    cn_sampler_observe(s, token);
    return token;
}
