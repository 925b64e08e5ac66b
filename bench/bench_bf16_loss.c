/* What the bfloat16 step costs in accuracy: the stateful cross-entropy of a model on a
 * folder of MIDI files, stepped with the float32 kernel on the weights as trained, and with
 * the bfloat16 kernel this processor runs (weights rounded and packed; with AVX512-BF16 the
 * inputs of each product kept to 16 significant bits). The condition for offering --bf16
 * is that the two agree to two decimals.
 * Usage: bench_bf16_loss WEIGHTS.cnw DIR */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "continuo/corpus.h"
#include "continuo/state.h"
#include "kernels.h"

/* Mean -log p(next token) over every song, the state reset at each song's start. */
static double cross_entropy(CnState *s, const CnSongIds *songs, size_t n_songs, size_t *n_out)
{
    double sum = 0;
    size_t n = 0;
    for (size_t i = 0; i < n_songs; i++) {
        cn_state_reset(s);
        for (size_t t = 0; t + 1 < songs[i].n; t++) {
            const float *p = cn_state_step(s, songs[i].ids[t]);
            sum -= log(fmax(p[songs[i].ids[t + 1]], 1e-30));
            n++;
        }
    }
    *n_out = n;
    return n ? sum / (double)n : 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: bench_bf16_loss WEIGHTS.cnw DIR\n");
        return 2;
    }
    CnModel m;
    CnCorpus corpus;
    CnSongIds *songs;
    uint16_t *storage;
    size_t n_mapped, n_tokens;
    CnError err = {{0}};
    if (cn_model_load(&m, argv[1], 0, NULL, &err) || cn_corpus_load(argv[2], m.vocab.scheme, &corpus, &err) ||
        cn_corpus_to_ids(&corpus, &m.vocab, &songs, &storage, &n_mapped, &err)) {
        fprintf(stderr, "bench_bf16_loss: %s\n", err.message);
        return 1;
    }
    CnState s;
    if (cn_state_init(&s, &m, CN_MODE_STATEFUL, 0, &err)) {
        fprintf(stderr, "bench_bf16_loss: %s\n", err.message);
        return 1;
    }
    double f32 = cross_entropy(&s, songs, corpus.n_songs, &n_tokens);
    static const char *names[] = {"portable loops", "AVX-512 float32 arithmetic",
                                  "AVX512-BF16 dot products"};
    printf("%zu songs, %zu predictions; float32: %.5f nats\n", corpus.n_songs, n_tokens, f32);
    int best = cn_kernels_best();
    for (int k = CN_BF16_PORTABLE; k <= best; k++) {
        cn_kernels_limit(k);
        if (cn_model_make_bf16(&m, &err)) {
            fprintf(stderr, "bench_bf16_loss: %s\n", err.message);
            return 1;
        }
        s.kernel = CN_KERNEL_BF16;
        double bf16 = cross_entropy(&s, songs, corpus.n_songs, &n_tokens);
        printf("bfloat16 (%s): %.5f nats, %+.5f from float32\n", names[k], bf16, bf16 - f32);
    }
    cn_state_free(&s);
    free(songs);
    free(storage);
    cn_corpus_free(&corpus);
    cn_model_free(&m);
    return 0;
}
