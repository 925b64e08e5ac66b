/* A corpus: every MIDI file of a folder as a token stream, in sorted name order, with
 * the files that could not be read named and skipped; and the train/validation split. */
#ifndef CONTINUO_CORPUS_H
#define CONTINUO_CORPUS_H

#include <stddef.h>
#include <stdint.h>

#include "continuo/status.h"
#include "continuo/tokens.h"

typedef struct {
    char *name;           /* file name inside the folder */
    CnTokenStream stream; /* its tokens; stream.warning says what was left out */
    size_t n_midi_notes;  /* notes in the file before tokenizing */
} CnSong;

typedef struct {
    char *name;   /* file name inside the folder */
    char *reason; /* why it was skipped, for the user */
} CnSkippedFile;

typedef struct {
    CnSong *songs;          /* (n_songs) sorted by name; files without notes are skipped */
    size_t n_songs;
    CnSkippedFile *skipped; /* (n_skipped) */
    size_t n_skipped;
    CnScheme scheme;        /* the tokens the songs were read into */
} CnCorpus;

/* Reads every .mid/.midi file in dir (not recursive) into tokens of scheme. A bad file is
 * recorded in skipped and the rest is read; failing only when dir itself cannot be listed
 * or holds no MIDI. */
int cn_corpus_load(const char *dir, CnScheme scheme, CnCorpus *corpus, CnError *err);

void cn_corpus_free(CnCorpus *corpus);

size_t cn_corpus_n_tokens(const CnCorpus *corpus);

/* Builds the vocabulary of all songs (the timed scheme's is always the whole). */
int cn_corpus_vocab(const CnCorpus *corpus, CnVocab *vocab, CnError *err);

/* The same, of all songs transposed by every interval from lo to hi semitones (training
 * with transposition meets all of them). */
int cn_corpus_vocab_transposed(const CnCorpus *corpus, int lo, int hi, CnVocab *vocab,
                               CnError *err);

typedef struct {
    const uint16_t *ids; /* token ids of one song */
    size_t n;
} CnSongIds;

/* The token ids of every song under vocab (of the corpus's scheme). A token the vocabulary lacks becomes the
 * nearest one it has (cn_vocab_nearest), counted in *n_mapped. (*songs)[i].ids point into
 * *storage; free both. */
int cn_corpus_to_ids(const CnCorpus *corpus, const CnVocab *vocab, CnSongIds **songs,
                     uint16_t **storage, size_t *n_mapped, CnError *err);

/* Whether song i of n goes to validation when val_fraction of the songs are held out:
 * spread evenly through the sorted list (0.1 holds out every tenth song). */
int cn_corpus_is_validation(size_t i, size_t n, double val_fraction);

/* Keeps only the songs that training holds out with val_fraction (the same songs). */
void cn_corpus_keep_validation(CnCorpus *corpus, double val_fraction);

#endif
