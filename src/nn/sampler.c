/* Sampling the next token: temperature, top-k, top-p and a repetition guard over the
 * model's probabilities, with an own xoshiro256** generator. No allocation after init. */
#include "continuo/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

CnSamplerOptions cn_sampler_argmax(void)
{
    return (CnSamplerOptions){.temperature = 0.0f, .top_k = 0, .top_p = 1.0f,
                              .repetition_penalty = 1.0f, .repetition_window = 0};
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
    CnRng rng;
    cn_rng_seed(&rng, seed);
    memcpy(s->rng, rng.s, sizeof s->rng);
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

static int argmax(const float *w, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        best = w[i] > w[best] ? i : best;
    return best;
}

/* Orders order[0..n) by weight, largest first (heap sort: in place, no allocation). */
static void sift_down(int *order, const float *w, int root, int n)
{
    for (;;) {
        int child = 2 * root + 1;
        if (child >= n)
            return;
        /* a min-heap on weight puts the smallest last, giving descending order */
        if (child + 1 < n && w[order[child + 1]] < w[order[child]])
            child++;
        if (w[order[root]] <= w[order[child]])
            return;
        int t = order[root];
        order[root] = order[child];
        order[child] = t;
        root = child;
    }
}

static void sort_descending(int *order, const float *w, int n)
{
    for (int i = n / 2 - 1; i >= 0; i--)
        sift_down(order, w, i, n);
    for (int end = n - 1; end > 0; end--) {
        int t = order[0];
        order[0] = order[end];
        order[end] = t;
        sift_down(order, w, 0, end);
    }
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
    const CnSamplerOptions *o = &s->options;
    int V = s->n_vocab;
    memcpy(s->weights, probs, (size_t)V * sizeof(float));
    apply_repetition_guard(s);
    int token;
    if (o->temperature <= 0.0f) {
        token = argmax(s->weights, V);
    } else {
        float inv_t = 1.0f / o->temperature;
        for (int i = 0; i < V; i++) /* p^(1/T) is softmax(logits / T) up to a constant */
            s->weights[i] = s->weights[i] > 0 ? powf(s->weights[i], inv_t) : 0.0f;
        for (int i = 0; i < V; i++)
            s->order[i] = i;
        sort_descending(s->order, s->weights, V);
        double total = 0;
        for (int i = 0; i < V; i++)
            total += s->weights[i];
        int keep = o->top_k > 0 && o->top_k < V ? o->top_k : V;
        double kept = 0;
        int n = 0;
        while (n < keep) { /* the nucleus: the fewest tokens holding top_p of the mass */
            kept += s->weights[s->order[n++]];
            if (kept >= o->top_p * total)
                break;
        }
        CnRng rng;
        memcpy(rng.s, s->rng, sizeof rng.s);
        double coin = (double)(cn_rng_u64(&rng) >> 11) * (1.0 / 9007199254740992.0) * kept;
        memcpy(s->rng, rng.s, sizeof rng.s);
        token = s->order[n - 1];
        double acc = 0;
        for (int i = 0; i < n; i++) {
            acc += s->weights[s->order[i]];
            if (coin < acc) {
                token = s->order[i];
                break;
            }
        }
    }
    cn_sampler_observe(s, token);
    return token;
}
