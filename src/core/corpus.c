/* Folder of MIDI files to token streams; bad files are named and skipped. Any thread
 * but the real-time one. */
#include "continuo/corpus.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int is_midi_name(const char *name)
{
    size_t len = strlen(name);
    return (len > 4 && strcasecmp(name + len - 4, ".mid") == 0) ||
           (len > 5 && strcasecmp(name + len - 5, ".midi") == 0);
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list_midi_files(const char *dir, char ***names, size_t *n_names, CnError *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return cn_fail(err, "cannot open folder %s: %s", dir, strerror(errno));
    char **list = NULL;
    size_t n = 0, cap = 0;
    struct dirent *entry;
    int rc = 0;
    while (rc == 0 && (entry = readdir(d)) != NULL) {
        if (!is_midi_name(entry->d_name))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **p = realloc(list, cap * sizeof *p);
            if (!p) {
                rc = cn_fail(err, "out of memory");
                break;
            }
            list = p;
        }
        if (!(list[n] = strdup(entry->d_name)))
            rc = cn_fail(err, "out of memory");
        else
            n++;
    }
    closedir(d);
    if (rc) {
        for (size_t i = 0; i < n; i++)
            free(list[i]);
        free(list);
        return -1;
    }
    qsort(list, n, sizeof *list, compare_strings);
    *names = list;
    *n_names = n;
    return 0;
}

static int add_skipped(CnCorpus *corpus, const char *name, const char *reason)
{
    CnSkippedFile *p = realloc(corpus->skipped, (corpus->n_skipped + 1) * sizeof *p);
    if (!p)
        return -1;
    corpus->skipped = p;
    p[corpus->n_skipped].name = strdup(name);
    p[corpus->n_skipped].reason = strdup(reason);
    corpus->n_skipped++;
    return 0;
}

/* Reads one file into a new song; returns 1 when it was skipped, -1 on out of memory. */
static int load_song(CnCorpus *corpus, const char *dir, const char *name, CnError *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    CnMidi midi;
    CnError why = {{0}};
    CnSong song = {0};
    if (cn_midi_read_file(path, &midi, &why) == 0) {
        song.n_midi_notes = midi.n_notes;
        if (cn_tokenize_scheme(&midi, corpus->scheme, &song.stream, &why) == 0 &&
            song.stream.n_tokens == 0)
            snprintf(why.message, sizeof why.message, "no notes to learn from");
        cn_midi_free(&midi);
    }
    if (why.message[0]) {
        cn_token_stream_free(&song.stream);
        return add_skipped(corpus, name, why.message) ? cn_fail(err, "out of memory") : 1;
    }
    CnSong *p = realloc(corpus->songs, (corpus->n_songs + 1) * sizeof *p);
    if (!p || !(song.name = strdup(name))) {
        cn_token_stream_free(&song.stream);
        if (p)
            corpus->songs = p;
        return cn_fail(err, "out of memory");
    }
    corpus->songs = p;
    p[corpus->n_songs++] = song;
    return 0;
}

int cn_corpus_load(const char *dir, CnScheme scheme, CnCorpus *corpus, CnError *err)
{
    memset(corpus, 0, sizeof *corpus);
    corpus->scheme = scheme;
    char **names = NULL;
    size_t n_names = 0;
    if (list_midi_files(dir, &names, &n_names, err))
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n_names && rc >= 0; i++)
        rc = load_song(corpus, dir, names[i], err);
    for (size_t i = 0; i < n_names; i++)
        free(names[i]);
    free(names);
    if (rc < 0) {
        cn_corpus_free(corpus);
        return -1;
    }
    if (n_names == 0)
        return cn_fail(err, "no .mid or .midi files in %s", dir);
    return 0;
}

void cn_corpus_free(CnCorpus *corpus)
{
    if (!corpus)
        return;
    for (size_t i = 0; i < corpus->n_songs; i++) {
        free(corpus->songs[i].name);
        cn_token_stream_free(&corpus->songs[i].stream);
    }
    for (size_t i = 0; i < corpus->n_skipped; i++) {
        free(corpus->skipped[i].name);
        free(corpus->skipped[i].reason);
    }
    free(corpus->songs);
    free(corpus->skipped);
    memset(corpus, 0, sizeof *corpus);
}

size_t cn_corpus_n_tokens(const CnCorpus *corpus)
{
    size_t n = 0;
    for (size_t i = 0; i < corpus->n_songs; i++)
        n += corpus->songs[i].stream.n_tokens;
    return n;
}

int cn_corpus_vocab(const CnCorpus *corpus, CnVocab *vocab, CnError *err)
{
    if (corpus->scheme == CN_SCHEME_TIMED)
        return cn_vocab_timed(vocab, err);
    CnTokenStream *streams = malloc((corpus->n_songs ? corpus->n_songs : 1) * sizeof *streams);
    if (!streams)
        return cn_fail(err, "out of memory");
    for (size_t i = 0; i < corpus->n_songs; i++)
        streams[i] = corpus->songs[i].stream;
    int rc = cn_vocab_build(streams, corpus->n_songs, vocab, err);
    free(streams);
    return rc;
}

int cn_corpus_vocab_transposed(const CnCorpus *corpus, int lo, int hi, CnVocab *vocab,
                               CnError *err)
{
    if (corpus->scheme == CN_SCHEME_TIMED || (lo == 0 && hi == 0))
        return cn_corpus_vocab(corpus, vocab, err);
    size_t n_songs = corpus->n_songs, n_shifts = (size_t)(hi - lo + 1), total = 0;
    for (size_t i = 0; i < n_songs; i++)
        total += corpus->songs[i].stream.n_tokens;
    CnTokenStream *streams = calloc(n_songs * n_shifts + 1, sizeof *streams);
    CnToken *tokens = malloc((total * n_shifts + 1) * sizeof *tokens);
    if (!streams || !tokens) {
        free(streams);
        free(tokens);
        return cn_fail(err, "out of memory");
    }
    size_t at = 0, k = 0;
    for (int shift = lo; shift <= hi; shift++)
        for (size_t i = 0; i < n_songs; i++, k++) {
            const CnTokenStream *song = &corpus->songs[i].stream;
            streams[k] = (CnTokenStream){.tokens = tokens + at, .n_tokens = song->n_tokens};
            for (size_t j = 0; j < song->n_tokens; j++)
                tokens[at++] = cn_token_transpose(song->tokens[j], shift);
        }
    int rc = cn_vocab_build(streams, k, vocab, err);
    free(streams);
    free(tokens);
    return rc;
}

int cn_corpus_is_validation(size_t i, size_t n, double val_fraction)
{
    if (val_fraction <= 0 || n < 2)
        return 0;
    return floor((double)(i + 1) * val_fraction) > floor((double)i * val_fraction);
}

void cn_corpus_keep_validation(CnCorpus *corpus, double val_fraction)
{
    size_t n = corpus->n_songs, kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (cn_corpus_is_validation(i, n, val_fraction)) {
            corpus->songs[kept++] = corpus->songs[i];
        } else {
            free(corpus->songs[i].name);
            cn_token_stream_free(&corpus->songs[i].stream);
        }
    }
    corpus->n_songs = kept;
}

int cn_corpus_to_ids(const CnCorpus *corpus, const CnVocab *vocab, CnSongIds **songs,
                     uint16_t **storage, size_t *n_mapped, CnError *err)
{
    if (vocab->scheme != corpus->scheme)
        return cn_fail(err, "the model's tokens are %s, the corpus was read as %s",
                       cn_scheme_name(vocab->scheme), cn_scheme_name(corpus->scheme));
    size_t total = cn_corpus_n_tokens(corpus);
    *songs = malloc((corpus->n_songs ? corpus->n_songs : 1) * sizeof **songs);
    *storage = malloc((total ? total : 1) * sizeof **storage);
    *n_mapped = 0;
    if (!*songs || !*storage || vocab->n == 0) {
        free(*songs);
        free(*storage);
        *songs = NULL;
        *storage = NULL;
        return cn_fail(err, vocab->n ? "out of memory" : "the vocabulary is empty");
    }
    size_t at = 0;
    for (size_t s = 0; s < corpus->n_songs; s++) {
        const CnTokenStream *st = &corpus->songs[s].stream;
        (*songs)[s] = (CnSongIds){.ids = *storage + at, .n = st->n_tokens};
        for (size_t i = 0; i < st->n_tokens; i++) {
            int id = cn_vocab_index(vocab, st->tokens[i]);
            if (id < 0) {
                id = cn_vocab_nearest(vocab, st->tokens[i]);
                (*n_mapped)++;
            }
            (*storage)[at++] = (uint16_t)id;
        }
    }
    return 0;
}
