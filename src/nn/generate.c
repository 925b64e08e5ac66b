/* Priming and sampling a continuation, for the offline commands. */
#include "continuo/generate.h"

#include "rng.h"

int cn_generate(const CnModel *model, const int *prime, size_t n_prime, size_t n_out,
                const CnGenerateOptions *o, int *out, CnError *err)
{
    if (n_prime == 0)
        return cn_fail(err, "generation needs at least one token to start from");
    CnState state;
    CnSampler sampler;
    if (cn_state_init(&state, model, o->mode, o->seq, err))
        return -1;
    if (o->n_threads > 1 && cn_state_set_threads(&state, o->n_threads, err)) {
        cn_state_free(&state);
        return -1;
    }
    if (cn_sampler_init(&sampler, model->config.n_vocab, &o->sampler, o->seed, err)) {
        cn_state_free(&state);
        return -1;
    }
    const float *probs = NULL;
    for (size_t i = 0; i < n_prime; i++) {
        probs = cn_state_step(&state, prime[i]);
        cn_sampler_observe(&sampler, prime[i]);
    }
    for (size_t i = 0; i < n_out; i++) {
        out[i] = cn_sampler_sample(&sampler, probs);
        if (i + 1 < n_out)
            probs = cn_state_step(&state, out[i]);
    }
    cn_sampler_free(&sampler);
    cn_state_free(&state);
    return 0;
}

int cn_corpus_prime(const CnModel *model, size_t start, size_t n, int *out, CnError *err)
{
    if (model->n_corpus == 0)
        return cn_fail(err, "the weights file keeps no corpus to prime from (import the model "
                            "with --notes)");
    if (n > model->n_corpus || start > model->n_corpus - n)
        return cn_fail(err, "the corpus holds %zu tokens: a window of %zu starts at 0 to %zu, "
                            "not %zu", model->n_corpus, n,
                       model->n_corpus >= n ? model->n_corpus - n : 0, start);
    for (size_t i = 0; i < n; i++)
        out[i] = model->corpus[start + i];
    return 0;
}

int cn_random_prime(const CnModel *model, size_t n, uint64_t seed, int *out, size_t *n_written,
                    CnError *err)
{
    if (model->n_corpus == 0)
        return cn_fail(err, "the weights file keeps no corpus to prime from; give a MIDI file "
                            "to --prime");
    if (n > model->n_corpus)
        n = model->n_corpus;
    CnRng rng;
    cn_rng_seed(&rng, seed ^ 0x9e3779b97f4a7c15ull);
    size_t start = cn_rng_below(&rng, (uint32_t)(model->n_corpus - n + 1));
    for (size_t i = 0; i < n; i++)
        out[i] = model->corpus[start + i];
    *n_written = n;
    return 0;
}
