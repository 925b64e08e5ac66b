/* The shipped weights: they load, their vocabulary is what midi_songs/ gives today, and
 * they generate. */
#include "continuo/corpus.h"
#include "continuo/generate.h"
#include "continuo/model.h"
#include "test_util.h"

static void test_the_shipped_weights_match_the_corpus_and_generate(void)
{
    CnModel m;
    CnError err = {{0}};
    int rc = cn_model_load(&m, CONTINUO_SOURCE_DIR "/weights/default.cnw", 0, NULL, &err);
    if (rc)
        fprintf(stderr, "%s\n", err.message);
    CHECK(rc == 0);
    if (rc)
        return;
    CnCorpus corpus;
    CnVocab vocab;
    CHECK(cn_corpus_load(CONTINUO_SOURCE_DIR "/midi_songs", CN_SCHEME_ORIGINAL, &corpus, &err) == 0);
    CHECK(corpus.n_skipped == 0);
    CHECK(cn_corpus_vocab(&corpus, &vocab, &err) == 0);
    CHECK(vocab.n == m.vocab.n);
    for (size_t i = 0; i < vocab.n && i < m.vocab.n; i++)
        CHECK_STR(m.vocab.names[i], vocab.names[i]);
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

int main(void)
{
    RUN(test_the_shipped_weights_match_the_corpus_and_generate);
    return test_finish();
}
