/* Choosing the next token from a distribution: argmax (the original's only choice),
 * temperature, top-k, top-p and a repetition guard, with the sampler's own seeded random
 * generator (never rand()). Sampling allocates nothing. */
#ifndef CONTINUO_SAMPLER_H
#define CONTINUO_SAMPLER_H

#include <stdint.h>

#include "continuo/rng.h"

#include "continuo/status.h"

#define CN_SAMPLER_MAX_WINDOW 256

typedef struct {
    float temperature;        /* 0 = argmax; 1 = the model's distribution */
    int top_k;                /* keep the k most probable tokens; 0 = all */
    float top_p;              /* keep the most probable tokens up to this mass; 1 = all */
    float repetition_penalty; /* divide the probability of recently played tokens; 1 = off */
    int repetition_window;    /* how many recent tokens count as recent (<= 256) */
    /* A timed model's guide (guide.h), following what it continues: */
    float key_guard;          /* 0..1: out-of-key note-ons' probability times 1 - this; 0 off */
    float loudness_width;     /* velocity levels kept near the heard loudness, a normal's
                                 width in levels; 0 = off */
    float rhythm_guard;       /* 0..1: each time step weighed by (its share in the heard
                                 music / its share in the music the model learned) to
                                 this power, so the continuation takes the heard music's
                                 steps; without the learned music, steps the heard music
                                 (almost) never took are 1 - this times as likely; 0 off */
} CnSamplerOptions;

/* Argmax, as the original generated. */
CnSamplerOptions cn_sampler_argmax(void);

/* What generate, eval, the live clients and the plugin sample with unless told otherwise:
 * one set, chosen by the continuation measures of docs/EVAL.md. */
CnSamplerOptions cn_sampler_defaults(void);

typedef struct {
    CnSamplerOptions options;
    int n_vocab;
    CnRng rng;
    float *weights;             /* (n_vocab) scratch */
    int *order;                 /* (n_vocab) scratch */
    int recent[CN_SAMPLER_MAX_WINDOW]; /* ring of the last tokens */
    int n_recent, recent_at;
} CnSampler;

int cn_sampler_init(CnSampler *sampler, int n_vocab, const CnSamplerOptions *options,
                    uint64_t seed, CnError *err);
void cn_sampler_free(CnSampler *sampler);

/* Checks options; the message says which is out of range. */
int cn_sampler_check(const CnSamplerOptions *options, CnError *err);

/* Picks a token from probs (n_vocab values summing to 1) and remembers it as recent. */
int cn_sampler_sample(CnSampler *sampler, const float *probs);

/* The same, each probability first multiplied by bias (n_vocab factors in 0..1, from a
 * CnGuide; NULL: none). */
int cn_sampler_sample_biased(CnSampler *sampler, const float *probs, const float *bias);

/* Remembers a token that was played but not sampled (a prime, the player's notes). */
void cn_sampler_observe(CnSampler *sampler, int token);

#endif
