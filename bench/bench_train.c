/* Training throughput of the original-sized network on the seed corpus: windows per second
 * (objective last) or tokens per second (objective all), and how far that is from the
 * floor set by this machine's measured sgemm rate. One line of results per run. */
#include <cblas.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "continuo/corpus.h"
#include "continuo/model.h"
#include "kernels.h"
#include "net_batch.h"
#include "continuo/rng.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* GFLOP/s of the recurrent product at this batch size, the shape that dominates. */
static double sgemm_rate(int B, int H)
{
    int M = 4 * H, K = H;
    float *a = calloc((size_t)M * K, 4), *b = calloc((size_t)K * B, 4), *c = calloc((size_t)M * B, 4);
    for (size_t i = 0; i < (size_t)M * K; i++)
        a[i] = 0.001f * (float)(i % 97);
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now();
        int n = 50;
        for (int i = 0; i < n; i++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, M, K, 1.0f, b, K, a, K, 0.0f,
                        c, M);
        double rate = 2.0 * M * K * B * n / (now() - t0) / 1e9;
        best = rate > best ? rate : best;
    }
    free(a), free(b), free(c);
    return best;
}

/* Multiply-adds of one batch: forward, backward (twice the forward) of every product. */
static double batch_flops(const CnModelConfig *c, int B, int T, int head_last)
{
    double f = 0, H = c->n_hidden;
    for (int l = 0; l < c->n_layers; l++) {
        double in = l ? H : (c->n_embed ? c->n_embed : 1);
        f += 2.0 * B * T * 4 * H * (in + H);
    }
    double rows = head_last ? B : (double)B * T;
    double top = c->n_dense ? c->n_dense : H;
    f += 2.0 * rows * (c->n_dense ? H * c->n_dense : 0) + 2.0 * rows * top * c->n_vocab;
    return 3 * f;
}

int main(int argc, char **argv)
{
    const char *seed_dir = getenv("CONTINUO_SEED_DIR"); /* else the folder beside the project */
    if (!seed_dir || !*seed_dir)
        seed_dir = CONTINUO_SEED_DIR;
    int head_last = 0, n_batches = 6, embed = 0, threads = 2;
    static const struct option options[] = {
        {"objective", required_argument, 0, 'o'}, {"batches", required_argument, 0, 'n'},
        {"embed", required_argument, 0, 'e'},     {"threads", required_argument, 0, 't'},
        {"data", required_argument, 0, 'd'},      {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (ch == 'o')
            head_last = strcmp(optarg, "last") == 0;
        else if (ch == 'n')
            n_batches = atoi(optarg);
        else if (ch == 'e')
            embed = atoi(optarg);
        else if (ch == 't')
            threads = atoi(optarg);
        else if (ch == 'd')
            seed_dir = optarg;
        else
            return 2;
    }
    openblas_set_num_threads(threads);
    CnError err = {{0}};
    CnCorpus corpus;
    CnVocab vocab;
    CnSongIds *songs;
    uint16_t *storage;
    size_t n_mapped;
    if (cn_corpus_load(seed_dir, CN_SCHEME_ORIGINAL, &corpus, &err) || cn_corpus_vocab(&corpus, &vocab, &err) ||
        cn_corpus_to_ids(&corpus, &vocab, &songs, &storage, &n_mapped, &err)) {
        fprintf(stderr, "bench_train: %s\n", err.message);
        return 1;
    }
    CnModelConfig config = cn_model_original_config((int)vocab.n);
    config.n_embed = embed;
    CnModel m;
    if (cn_model_init(&m, &config, &vocab, 1, &err)) {
        fprintf(stderr, "bench_train: %s\n", err.message);
        return 1;
    }
    int B = 64, T = 100;
    NetBatch nb;
    net_batch_init(&nb, &config, B, T, head_last, &err);
    float *grad_buf = aligned_alloc(64, m.n_params * 4), *moments = calloc(m.n_params, 4);
    CnParams grad;
    cn_params_views(&config, grad_buf, &grad);
    CnRng rng;
    cn_rng_seed(&rng, 3);
    size_t total = 0; /* real corpus tokens, laid out as the trainer would */
    for (size_t s = 0; s < corpus.n_songs; s++)
        total += songs[s].n;
    double t_start = 0, items = 0;
    for (int k = 0; k <= n_batches; k++) { /* batch 0 warms up and is not timed */
        for (int t = 0; t < T; t++)
            for (int b = 0; b < B; b++) {
                size_t at = head_last ? ((size_t)k * B + b) * 97 % (total - T - 1) + t
                                      : ((size_t)b * (total / B) + (size_t)k * T + t) % total;
                nb.ids[t * B + b] = storage[at];
                nb.targets[t * B + b] = head_last && t < T - 1 ? -1 : storage[(at + 1) % total];
                nb.keep[t * B + b] = !(head_last && t == 0);
            }
        if (k == 1)
            t_start = now();
        net_batch_forward(&nb, &m.w, &rng);
        memset(grad_buf, 0, m.n_params * 4);
        net_batch_backward(&nb, &m.w, &grad);
        cn_rmsprop_update(m.params, grad_buf, moments, m.n_params, 1e-3f, 0.9f, 1e-7f);
        if (k >= 1)
            items += (double)nb.n_predicted;
    }
    double seconds = now() - t_start;
    double rate = items / seconds;
    double gflops = sgemm_rate(B, config.n_hidden);
    double floor_rate = (head_last ? B : (double)B * T) / (batch_flops(&config, B, T, head_last) /
                                                          (gflops * 1e9));
    printf("continuo train-%s %.1f %s/s (embed %d, %d threads, %d batches of %d x %d); "
           "sgemm %.0f GFLOP/s -> floor %.1f %s/s, %.0f%% of it\n",
           head_last ? "last" : "all", rate, head_last ? "windows" : "tokens", embed, threads,
           n_batches, B, T, gflops, floor_rate, head_last ? "windows" : "tokens",
           100.0 * rate / floor_rate);
    net_batch_free(&nb);
    free(grad_buf);
    free(moments);
    cn_model_free(&m);
    free(songs);
    free(storage);
    cn_vocab_free(&vocab);
    cn_corpus_free(&corpus);
    return 0;
}
