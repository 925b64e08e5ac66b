/* Priming and sampling a continuation, for the offline commands. */
#include "continuo/generate.h"

#include <string.h>

#include "continuo/rng.h"

/* The holds follow each token as it is given, the state when it is fed (a token is fed
 * when the next is asked for, so that the last costs no step). */
static void hold(CnGenerator *g, int id)
{
    if (g->timed)
        cn_timed_holds_add(&g->holds, g->model->vocab.tokens[id]);
}

int cn_generator_init(CnGenerator *g, const CnModel *model, const int *prime, size_t n_prime,
                      const CnGenerateOptions *o, CnError *err)
{
    memset(g, 0, sizeof *g);
    if (n_prime == 0)
        return cn_fail(err, "generation needs at least one token to start from");
    if (cn_state_init(&g->state, model, o->mode, o->seq, err))
        return -1;
    if ((o->n_threads > 1 && cn_state_set_threads(&g->state, o->n_threads, err)) ||
        cn_sampler_init(&g->sampler, model->config.n_vocab, &o->sampler, o->seed, err) ||
        cn_guide_init(&g->guide, &model->vocab, &o->sampler, err)) {
        cn_sampler_free(&g->sampler);
        cn_state_free(&g->state);
        return -1;
    }
    g->model = model;
    g->timed = model->vocab.scheme == CN_SCHEME_TIMED;
    if (g->timed && model->corpus)
        cn_guide_learned(&g->guide, model->corpus, model->n_corpus);
    g->last = -1;
    cn_timed_holds_reset(&g->holds);
    for (size_t i = 0; i < n_prime; i++) {
        g->probs = cn_state_step(&g->state, prime[i]);
        hold(g, prime[i]);
        cn_sampler_observe(&g->sampler, prime[i]);
        cn_guide_hear(&g->guide, model->vocab.tokens[prime[i]]);
    }
    return 0;
}

/* The release of a timed note that has sounded its longest, or -1. */
static int due_release(CnGenerator *g)
{
    int key;
    while (g->timed && (key = cn_timed_holds_due(&g->holds)) >= 0) {
        CnToken off = {.kind = CN_EVENT_OFF, .pitch = (uint8_t)key};
        int id = cn_vocab_index(&g->model->vocab, off);
        if (id >= 0)
            return id;
        g->holds.down_at[key] = 0; /* a vocabulary without its release: let it go */
    }
    return -1;
}

int cn_generator_next(CnGenerator *g)
{
    if (g->last >= 0)
        g->probs = cn_state_step(&g->state, g->last);
    int id = due_release(g);
    if (id >= 0) {
        cn_sampler_observe(&g->sampler, id);
        g->n_released++;
    } else {
        id = cn_sampler_sample_biased(&g->sampler, g->probs, cn_guide_bias(&g->guide));
    }
    g->last = id;
    hold(g, id);
    return id;
}

void cn_generator_free(CnGenerator *g)
{
    cn_guide_free(&g->guide);
    cn_sampler_free(&g->sampler);
    cn_state_free(&g->state);
}

int cn_generate(const CnModel *model, const int *prime, size_t n_prime, size_t n_out,
                const CnGenerateOptions *o, int *out, CnError *err)
{
    CnGenerator g;
    if (cn_generator_init(&g, model, prime, n_prime, o, err))
        return -1;
    for (size_t i = 0; i < n_out; i++)
        out[i] = cn_generator_next(&g);
    cn_generator_free(&g);
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
