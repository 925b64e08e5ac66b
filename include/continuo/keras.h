/* Models of the original Keras project, from the files it wrote: the HDF5 model file of
 * ModelCheckpoint or model.save (both versions of its network, or any Sequential of LSTM,
 * Dropout, Dense, Activation and BatchNormalization layers of that shape) and the corpus
 * pickle data/notes (continuo/pickle.h), into a continuo model of the original scheme.
 * Offline only. */
#ifndef CONTINUO_KERAS_H
#define CONTINUO_KERAS_H

#include <stddef.h>

#include "continuo/model.h"
#include "continuo/pickle.h"
#include "continuo/status.h"

/* What the file held. */
typedef struct {
    char keras_version[32]; /* as the file says; "" when it does not */
    char layers[256];       /* the Keras layers, in order: "LSTM(512) Dropout LSTM(512) ..." */
    int n_folded;           /* batch normalizations folded into a dense layer */
    int seq;                /* the window length the model was built for; 0 when not said */
} CnKerasInfo;

/* 1 when this build reads HDF5 files. */
int cn_keras_available(void);

/* Reads the Keras model file at path into model (freshly made: cn_model_free it) with the
 * vocabulary vocab, whose order must be the model's (sorted(set(notes)), as the original's
 * predict.py built it): the input is the original's token index / vocabulary size, the
 * gates' and the dense layer's activations are the file's, batch normalizations are
 * folded into the dense layer before or after them. info (may be NULL) says what was read.
 * Refuses, with the reason, a file that is not HDF5, not a Keras model, a model of another
 * shape, or weights that do not fit. */
int cn_keras_import(const char *path, const CnVocab *vocab, CnModel *model, CnKerasInfo *info,
                    CnError *err);

/* Reads a model_config text as import does (its layers and their settings), without the
 * weights: 0 and info, or -1 and why it would be refused. Needs no HDF5. */
int cn_keras_check_config(const char *text, size_t n, CnKerasInfo *info, CnError *err);

/* The vocabulary predict.py builds from the corpus: sorted(set(notes)). */
int cn_keras_vocab_from_notes(const CnStringList *notes, CnVocab *vocab, CnError *err);

/* Sets notes (each in vocab) as the model's stored corpus, one song, for priming. */
int cn_keras_set_corpus(CnModel *model, const CnStringList *notes, CnError *err);

#endif
