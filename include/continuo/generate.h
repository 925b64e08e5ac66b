/* Offline generation: prime a state with tokens, then sample a continuation. Built on
 * state.h and sampler.h; what `continuo generate` and `continuo eval` share. */
#ifndef CONTINUO_GENERATE_H
#define CONTINUO_GENERATE_H

#include <stddef.h>
#include <stdint.h>

#include "continuo/guide.h"
#include "continuo/model.h"
#include "continuo/sampler.h"
#include "continuo/state.h"

typedef struct {
    CnMode mode;
    int seq;                  /* window length in window mode; 0 = the model's */
    CnSamplerOptions sampler;
    uint64_t seed;
    int n_threads;            /* threads sharing each step (cn_state_set_threads); 0 = 1 */
} CnGenerateOptions;

/* A continuation being generated: a state primed with tokens, then one token at a time,
 * guided by the prime's key and loudness as the sampler options ask (guide.h).
 * A timed model's note that has sounded CN_TIMED_LONGEST_NOTE is released by the generator,
 * and the release is fed to the model as if it had played it (cn_timed_holds). */
typedef struct {
    const CnModel *model;
    CnState state;
    CnSampler sampler;
    CnGuide guide;      /* the prime's key and loudness (the sampler options say how much) */
    CnTimedHolds holds; /* a timed model's keys held down */
    int timed;
    int last;           /* the token given last, not yet fed to the state; -1 none */
    const float *probs; /* what the state predicts next */
    size_t n_released;  /* notes ended at their longest by the generator */
} CnGenerator;

/* Feeds the n_prime (at least one) token ids of prime. */
int cn_generator_init(CnGenerator *g, const CnModel *model, const int *prime, size_t n_prime,
                      const CnGenerateOptions *options, CnError *err);
/* The next token id of the continuation. */
int cn_generator_next(CnGenerator *g);
void cn_generator_free(CnGenerator *g);

/* Feeds the n_prime token ids of prime, then samples n_out tokens into out. */
int cn_generate(const CnModel *model, const int *prime, size_t n_prime, size_t n_out,
                const CnGenerateOptions *options, int *out, CnError *err);

/* A random stretch of at most n token ids of the corpus the model remembers (as the
 * original primed from a random window of its training data) into out; *n_written says
 * how many (fewer when the corpus is shorter). Fails when the model keeps no corpus. */
int cn_random_prime(const CnModel *model, size_t n, uint64_t seed, int *out, size_t *n_written,
                    CnError *err);

/* The n token ids of the stored corpus from token start on (the original predict.py's
 * network_input[start], when n is its window) into out; refused, with the range, when the
 * window does not fit in the corpus or the model keeps none. */
int cn_corpus_prime(const CnModel *model, size_t start, size_t n, int *out, CnError *err);

#endif
