/* Measuring a model: how well it predicts music it did not train on, and what its own
 * continuations look like. The definitions are in docs/EVAL.md. */
#ifndef CONTINUO_EVAL_H
#define CONTINUO_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "continuo/corpus.h"
#include "continuo/generate.h"
#include "continuo/key.h"
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

/* Rhythm and dynamics of notes, as histograms: gaps between successive onsets and note
 * lengths in twelfths of a beat (the last bin holds everything longer), velocity levels,
 * and how many notes start together. */
#define CN_RHYTHM_GAP_BINS 49    /* 1..48 twelfths, a bar of 4/4 or more */
#define CN_RHYTHM_LENGTH_BINS 97 /* 1..96 twelfths, two bars or more */
#define CN_RHYTHM_TOGETHER_BINS 9 /* 1..8 notes or more */
typedef struct {
    double gap[CN_RHYTHM_GAP_BINS], length[CN_RHYTHM_LENGTH_BINS];
    double level[CN_TIMED_N_VELOCITIES], together[CN_RHYTHM_TOGETHER_BINS];
} CnRhythmHistogram;

/* Adds the notes of one piece (sorted by onset; onsets and lengths in ticks of ppqn). */
void cn_rhythm_add(CnRhythmHistogram *h, const CnNote *notes, size_t n_notes, unsigned ppqn);

/* Total-variation distances (0 same, 1 disjoint) between two histograms, per measure; NAN
 * where either is empty. */
typedef struct {
    double gaps, lengths, velocities, together;
} CnRhythmDistance;

CnRhythmDistance cn_rhythm_distance(const CnRhythmHistogram *a, const CnRhythmHistogram *b);


/* Continuations of held-out openings (docs/EVAL.md): each piece's first prime_beats prime
 * the model, which plays on for continue_beats; those are compared with the prime, and so
 * are the composer's own next continue_beats. */
typedef struct {
    int prime_beats, continue_beats;
    int max_tokens;          /* a continuation's events at most */
    CnGenerateOptions gen;   /* piece i is continued with seed gen.seed + i */
} CnContinueOptions;

typedef struct { /* sums over the pieces, for cn_continuation_means */
    size_t n_pieces, n_too_short, n_silent, n_notes, n_keys_agree, n_released;
    double sum_in_key, sum_long, sum_gap_distance, sum_distinct_gaps, sum_top_gap,
        sum_velocity_difference;
} CnContinuation;

typedef struct {
    double in_key;              /* share of a continuation's notes in the prime's key */
    double keys_agree;          /* share of pieces continued in the prime's key or relative */
    double long_notes;          /* share of notes held four beats or more */
    double gap_distance;        /* onset gaps, continuation against prime (1 when silent) */
    double distinct_gaps;       /* distinct onset gaps in a continuation */
    double top_gap;             /* share of its gaps that are its commonest one */
    double velocity_difference; /* |mean velocity of continuation - of prime| */
    double silent;              /* share of pieces continued with no note at all */
} CnContinuationMeans;

/* The model's continuations and the composer's, over songs (the model's ids); a piece
 * shorter than prime and continuation is counted in n_too_short and left out. Timed
 * models only. */
int cn_eval_continuations(const CnModel *model, const CnSongIds *songs, size_t n_songs,
                          const CnContinueOptions *options, CnContinuation *by_model,
                          CnContinuation *by_composer, CnError *err);
CnContinuationMeans cn_continuation_means(const CnContinuation *sums);

#endif
