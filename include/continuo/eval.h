/* Measuring a model: how well it predicts music it did not train on, and what its own
 * continuations look like. The definitions are in docs/EVAL.md. */
#ifndef CONTINUO_EVAL_H
#define CONTINUO_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "continuo/corpus.h"
#include "continuo/model.h"
#include "continuo/state.h"

typedef struct {
    double loss;        /* mean cross-entropy of the predicted positions, nats */
    double perplexity;  /* exp(loss) */
    double accuracy;    /* share of positions whose most probable token was the next one */
    size_t n_predicted;
} CnEvalLoss;

/* Stateful: every song from a zero state, every token after the first predicted from all
 * before it in the song. Window: songs concatenated (as the original trained), every token
 * with seq tokens before it predicted from those seq alone, from a zero state. Batched
 * products, so a folder takes seconds. */
int cn_eval_loss(const CnModel *model, const CnSongIds *songs, size_t n_songs, CnMode mode,
                 int seq, CnEvalLoss *result, CnError *err);

/* Distinct n-grams over all n-grams of ids (1 = no n-gram repeats). */
double cn_eval_distinct_ngrams(const int *ids, size_t n, int order);

/* The longest stretch, in tokens, made of one block of at most max_period tokens played
 * at least twice in a row (0 when nothing repeats back to back). */
size_t cn_eval_longest_loop(const int *ids, size_t n, int max_period);

/* Share of the n-grams of ids (n-gram length order) found verbatim in the corpus. */
double cn_eval_copied_share(const int *ids, size_t n, const uint16_t *corpus, size_t n_corpus,
                            int order);

/* Total-variation distance (0..1) between the pitch-class histograms of ids and of the
 * corpus; a chord's classes share its one count equally. */
double cn_eval_pitch_class_distance(const CnVocab *vocab, const int *ids, size_t n,
                                    const uint16_t *corpus, size_t n_corpus);

#endif
