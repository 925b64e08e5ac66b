/* Training: batches over token streams, truncated BPTT or the original's windows,
 * RMSprop, per-epoch validation, atomic checkpoints and exact resume. Never runs on a
 * real-time thread; reports progress through a callback and never prints. */
#ifndef CONTINUO_TRAIN_H
#define CONTINUO_TRAIN_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "continuo/corpus.h"
#include "continuo/model.h"
#include "continuo/ranks.h"
#include "continuo/status.h"

typedef enum {
    CN_OBJECTIVE_ALL,  /* next token at every position; state carried chunk to chunk */
    CN_OBJECTIVE_LAST, /* the original: each window of seq tokens predicts the next one */
} CnObjective;

typedef struct {
    CnObjective objective;
    int seq;            /* chunk length (all) or window length (last) */
    int batch;          /* parallel streams (all) or windows per batch (last) */
    int epochs;         /* train until this many epochs are complete */
    float lr, rho, eps; /* RMSprop, as Keras: lr 0.001, rho 0.9, epsilon 1e-7 */
    float lr_decay;     /* the learning rate of epoch e (from 0) is lr * lr_decay^e;
                           1 = constant */
    float clip;         /* clip the gradient's global norm to this; 0 = never */
    double val_split;   /* share of songs held out for validation */
    uint64_t seed;      /* data order, transposition and dropout */
    int transpose_lo, transpose_hi; /* every epoch each training song is moved by an
                                       interval drawn from this range, in semitones
                                       (-12..12); 0..0: never. The vocabulary must hold
                                       the moved tokens (cn_corpus_vocab_transposed) */
    const char *out_path;   /* checkpoint written after every epoch (and on a stop) */
    const char *best_path;  /* best-by-validation copy; NULL = none */
    const char *csv_path;   /* per-epoch log; NULL = none */
    /* Recorded in the checkpoint so that a resume goes on as the run started (they do not
       change the training itself): */
    const char *data_dir;   /* the corpus folder */
    int n_threads;          /* BLAS threads: the same count keeps a resume bit-identical */
    long stop_after_batches; /* act as if stopped after this many batches; 0 = never (tests) */
    /* Data-parallel training (NULL: alone). Every rank gets the same songs, model and
       options; each trains its share of the lanes (or windows) of every batch, the
       gradients are summed across ranks, and every rank takes the same step. Rank 0 alone
       validates, writes and reports progress. */
    const CnRanks *ranks;
} CnTrainOptions;

/* The original project's recipe: every window of 100 tokens predicts the next, batch 64,
 * RMSprop(0.001, 0.9, 1e-7), 200 epochs, all songs used for training. */
CnTrainOptions cn_train_options_original(void);
/* continuo's default: every position, chunks of 50, batch 16 (many small updates: a small
 * corpus makes few batches), 10 % of songs held out. */
CnTrainOptions cn_train_options_default(void);

typedef struct {
    int epoch;               /* the epoch under way, from 1 */
    int n_epochs;
    long batch, n_batches;   /* within the epoch */
    double train_loss;       /* mean so far in this epoch */
    double train_accuracy;
    double val_loss, val_accuracy; /* of the epoch just ended; NAN when none */
    double items_per_second; /* tokens (all) or windows (last) */
    double eta_seconds;      /* for the remaining epochs */
    int epoch_done;          /* 1 when this report closes an epoch */
    int improved;            /* 1 when the epoch set a new best validation loss */
} CnTrainProgress;

typedef void (*CnTrainProgressFn)(const CnTrainProgress *progress, void *user);

/* Trains model (freshly initialized, or loaded writable with its train_state to resume)
 * on songs. Checks *stop between batches: when set, finishes the batch, writes a
 * checkpoint and returns 1. Returns 0 when the epochs are done, -1 with err on failure
 * (nothing written after the last complete checkpoint). With ranks, every rank returns
 * the same; a rank that fails because another did has an empty err message, and ranks
 * found to differ (program, options, songs or starting weights) are refused with the
 * message on rank 0 only. */
int cn_train(CnModel *model, const CnTrainState *resume, const CnSongIds *songs,
             size_t n_songs, const CnTrainOptions *options, CnTrainProgressFn progress,
             void *user, volatile sig_atomic_t *stop, CnError *err);

/* Reads the options a checkpoint was trained with back from its saved state, so a resumed
 * run continues exactly; fields not saved keep their values in options. */
int cn_train_options_from_state(const CnTrainState *state, CnTrainOptions *options,
                                CnError *err);

/* The corpus folder a checkpoint's run trained on, into dir; -1 when not recorded. */
int cn_train_state_data_dir(const CnTrainState *state, char *dir, size_t cap);

const char *cn_objective_name(CnObjective objective);

#endif
