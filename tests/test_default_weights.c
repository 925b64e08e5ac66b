/* The shipped weights, both of them: they load, they are of their scheme, their vocabulary
 * and the corpus they keep are what their folder of midi_songs/ gives today (the piano
 * collection for the default, the typed pieces for the original scheme's), and they
 * generate. */
#include "continuo/corpus.h"
#include "continuo/generate.h"
#include "continuo/model.h"
#include "test_util.h"

static void check_shipped(const char *file, CnScheme scheme, const char *folder)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/weights/%s", CONTINUO_SOURCE_DIR, file);
    CnModel m;
    CnError err = {{0}};
    int rc = cn_model_load(&m, path, 0, NULL, &err);
    if (rc)
        fprintf(stderr, "%s\n", err.message);
    CHECK(rc == 0);
    if (rc)
        return;
    CHECK(m.vocab.scheme == scheme);
    CnCorpus corpus;
    CnVocab vocab;
    char data[4200];
    snprintf(data, sizeof data, "%s/%s", CONTINUO_SOURCE_DIR, folder);
    CHECK(cn_corpus_load(data, scheme, &corpus, &err) == 0);
    CHECK(corpus.n_skipped == 0);
    CHECK(cn_corpus_vocab(&corpus, &vocab, &err) == 0);
    CHECK(vocab.n == m.vocab.n);
    for (size_t i = 0; i < vocab.n && i < m.vocab.n; i++)
        CHECK_STR(m.vocab.names[i], vocab.names[i]);
    /* the corpus it keeps is the training songs (every tenth held out) as read today */
    CnSongIds *songs = NULL;
    uint16_t *storage = NULL;
    size_t n_mapped, at = 0, differ = 0;
    CHECK(cn_corpus_to_ids(&corpus, &m.vocab, &songs, &storage, &n_mapped, &err) == 0);
    for (size_t s = 0; songs && s < corpus.n_songs; s++) {
        if (cn_corpus_is_validation(s, corpus.n_songs, 0.1))
            continue;
        for (size_t i = 0; i < songs[s].n; i++, at++)
            differ += at >= m.n_corpus || m.corpus[at] != songs[s].ids[i];
    }
    printf("# %s: %s tokens, %zu kept for priming, %zu differ from %s today\n", file,
           cn_scheme_name(scheme), m.n_corpus, differ, folder);
    CHECK(at == m.n_corpus && differ == 0);
    free(songs);
    free(storage);
    CHECK(m.n_corpus > 0 && m.info.epochs > 0);
    int prime[100], out[64];
    size_t n_prime;
    CnGenerateOptions o = {.mode = CN_MODE_STATEFUL, .seed = 3,
                           .sampler = {.temperature = 0.9f, .top_p = 0.95f,
                                       .repetition_penalty = 1.0f}};
    CHECK(cn_random_prime(&m, 100, 3, prime, &n_prime, &err) == 0);
    CHECK(cn_generate(&m, prime, n_prime, 64, &o, out, &err) == 0);
    int distinct = 0;
    for (int i = 0; i < 64; i++) {
        int seen = 0;
        for (int k = 0; k < i; k++)
            seen |= out[k] == out[i];
        distinct += !seen;
    }
    printf("# 64 generated tokens, %d distinct\n", distinct);
    CHECK(distinct > 3);
    cn_vocab_free(&vocab);
    cn_corpus_free(&corpus);
    cn_model_free(&m);
}

static void test_the_shipped_weights_match_the_corpus_and_generate(void)
{
    check_shipped("default.cnw", CN_SCHEME_TIMED, "midi_songs/piano-midi");
    check_shipped("original.cnw", CN_SCHEME_ORIGINAL, "midi_songs");
}

int main(void)
{
    RUN(test_the_shipped_weights_match_the_corpus_and_generate);
    return test_finish();
}
