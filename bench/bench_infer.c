/* Inference speed of the original-sized network (3 x LSTM(512), embedding 64, dense 256) at
 * batch 1: microseconds per stateful step and per note in window mode, on 1 and 2
 * threads, against this machine's floor measured in the same run (the weights' bytes in
 * each format over the read bandwidth measured on a buffer of that size; FLOPs over the
 * measured sgemv rate). */
#include <cblas.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "continuo/model.h"
#include "continuo/state.h"
#include "kernels.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, compare_doubles);
    return v[n / 2];
}

/* Median microseconds per stateful step over repeats of 100 steps. */
static double time_steps(CnState *s, int n_vocab, int repeats, int steps)
{
    double *runs = malloc((size_t)repeats * sizeof *runs);
    int token = 1;
    for (int i = 0; i < 50; i++)
        cn_state_step(s, token);
    for (int r = 0; r < repeats; r++) {
        double t0 = now();
        for (int i = 0; i < steps; i++) {
            const float *p = cn_state_step(s, token);
            token = (token + (p[0] > 0.5f) + 7) % n_vocab;
        }
        runs[r] = (now() - t0) / steps * 1e6;
    }
    double m = median(runs, repeats);
    free(runs);
    return m;
}

typedef struct {
    const float *data;
    size_t n;
    float sum;
} Slice;

/* Built for the widest vectors the machine has, so that the loop waits on memory only. */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
static void *sum_slice(void *arg)
{
    Slice *s = arg;
    float acc[16] = {0};
    size_t quarter = s->n / 4 / 16 * 16; /* four streams at once, as the kernels read */
    const float *a = s->data, *b = a + quarter, *c = b + quarter, *d = c + quarter;
    for (int pass = 0; pass < 10; pass++) /* ten passes amortize starting the thread */
        for (size_t i = 0; i < quarter; i += 16)
            for (int j = 0; j < 16; j++)
                acc[j] += a[i + j] + b[i + j] + c[i + j] + d[i + j];
    for (int j = 0; j < 16; j++)
        s->sum += acc[j];
    return NULL;
}

/* GB/s reading a buffer of n_bytes again and again, split over threads. */
static double read_bandwidth(size_t n_bytes, int threads)
{
    size_t n = n_bytes / sizeof(float);
    float *buf = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
    for (size_t i = 0; i < n; i++)
        buf[i] = 1.0f;
    double best = 0;
    for (int r = 0; r < 10; r++) {
        Slice slices[8];
        pthread_t ids[8];
        double t0 = now();
        for (int t = 0; t < threads; t++) {
            slices[t] = (Slice){buf + n / threads * t, n / threads, 0};
            pthread_create(&ids[t], NULL, sum_slice, &slices[t]);
        }
        for (int t = 0; t < threads; t++)
            pthread_join(ids[t], NULL);
        double rate = 10.0 * (double)n_bytes / (now() - t0) / 1e9;
        best = rate > best ? rate : best;
    }
    free(buf);
    return best;
}

/* GFLOP/s of one large matrix-vector product of the recurrent shape. */
static double sgemv_rate(int rows, int cols)
{
    float *a = aligned_alloc(64, (size_t)rows * cols * 4), *x = calloc((size_t)cols, 4),
          *y = calloc((size_t)rows, 4);
    memset(a, 0, (size_t)rows * cols * 4);
    double best = 0;
    for (int r = 0; r < 50; r++) {
        double t0 = now();
        cblas_sgemv(CblasRowMajor, CblasNoTrans, rows, cols, 1.0f, a, cols, x, 1, 0.0f, y, 1);
        double rate = 2.0 * rows * cols / (now() - t0) / 1e9;
        best = rate > best ? rate : best;
    }
    free(a), free(x), free(y);
    return best;
}

int main(int argc, char **argv)
{
    int repeats = 30, n_vocab = 355;
    const char *save_path = NULL;
    static const struct option options[] = {{"repeats", required_argument, 0, 'r'},
                                            {"vocab", required_argument, 0, 'v'},
                                            {"save-model", required_argument, 0, 'c'},
                                            {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (ch == 'r')
            repeats = atoi(optarg);
        else if (ch == 'v')
            n_vocab = atoi(optarg);
        else if (ch == 'c')
            save_path = optarg;
        else
            return 2;
    }
    char (*names)[CN_TOKEN_NAME_MAX] = malloc((size_t)n_vocab * CN_TOKEN_NAME_MAX);
    const char **name_ptrs = malloc((size_t)n_vocab * sizeof *name_ptrs);
    for (int i = 0; i < n_vocab; i++) { /* any distinct valid names: chords by bit mask */
        CnToken t = {.is_chord = 1, .pc_mask = (uint16_t)(i + 1)};
        cn_token_name(t, names[i]);
        name_ptrs[i] = names[i];
    }
    CnVocab vocab;
    CnError err = {{0}};
    CnModel m;
    CnModelConfig config = cn_model_original_config(n_vocab);
    config.n_embed = 64; /* the network measured since the start (docs/PERFORMANCE.md) */
    if (cn_vocab_from_names(name_ptrs, (size_t)n_vocab, &vocab, &err) ||
        cn_model_init(&m, &config, &vocab, 1, &err)) {
        fprintf(stderr, "bench_infer: %s\n", err.message);
        return 1;
    }
    size_t weight_bytes = (cn_model_count_weights(&config) - (size_t)n_vocab * (size_t)config.n_embed) * 4;
    double flops = 2.0 * (double)weight_bytes / 4;
    if (cn_model_make_bf16(&m, &err)) {
        fprintf(stderr, "bench_infer: %s\n", err.message);
        return 1;
    }
    if (save_path) { /* for measuring `continuo generate` from the outside */
        uint16_t corpus[200];
        uint32_t starts[1] = {0};
        for (int i = 0; i < 200; i++)
            corpus[i] = (uint16_t)(i * 7 % n_vocab);
        m.info.seq = 100;
        if (cn_model_set_corpus(&m, corpus, 200, starts, 1, &err) ||
            cn_model_save(&m, NULL, save_path, &err))
            fprintf(stderr, "bench_infer: %s\n", err.message);
    }
    CnState stateful, window;
    cn_state_init(&stateful, &m, CN_MODE_STATEFUL, 100, &err);
    cn_state_init(&window, &m, CN_MODE_WINDOW, 100, &err);
    static const struct {
        CnKernel kernel;
        int threads;
        const char *name;
        int bytes_per_weight;
        int limit; /* the bfloat16 kernel at most (kernels.h) */
        int packed; /* float32 weights packed in place (from then on) */
    } runs[] = {{CN_KERNEL_F32, 1, "float32, own kernel", 4, CN_BF16_DOT, 0},
                {CN_KERNEL_F32, 2, "float32, own kernel", 4, CN_BF16_DOT, 0},
                {CN_KERNEL_BF16, 1, "bfloat16, portable loops", 2, CN_BF16_PORTABLE, 0},
                {CN_KERNEL_BF16, 1, "bfloat16, AVX-512 float32 arithmetic", 2, CN_BF16_AVX512, 0},
                {CN_KERNEL_BF16, 1, "bfloat16, AVX512-BF16 dot products", 2, CN_BF16_DOT, 0},
                {CN_KERNEL_BF16, 2, "bfloat16, AVX-512 float32 arithmetic", 2, CN_BF16_AVX512, 0},
                {CN_KERNEL_BF16, 2, "bfloat16, AVX512-BF16 dot products", 2, CN_BF16_DOT, 0},
                {CN_KERNEL_BLAS, 1, "float32, OpenBLAS sgemv", 4, CN_BF16_DOT, 0},
                {CN_KERNEL_BLAS, 2, "float32, OpenBLAS sgemv", 4, CN_BF16_DOT, 0},
                {CN_KERNEL_F32, 1, "float32 packed, own kernel", 4, CN_BF16_DOT, 1},
                {CN_KERNEL_F32, 2, "float32 packed, own kernel", 4, CN_BF16_DOT, 1}};
    double bandwidth[5][3] = {{0}}; /* by bytes per weight and threads */
    for (int t = 1; t <= 2; t++) {
        bandwidth[4][t] = read_bandwidth(weight_bytes, t);
        bandwidth[2][t] = read_bandwidth(weight_bytes / 2, t);
    }
    openblas_set_num_threads(1);
    double gflops = sgemv_rate(4 * config.n_hidden, config.n_hidden);
    printf("machine: read bandwidth over the float32 weights' %.1f MB %.1f GB/s (1 thread), "
           "%.1f GB/s (2); over the bfloat16 weights' %.1f MB %.1f GB/s (1), %.1f GB/s (2); "
           "sgemv of the recurrent kernel %.1f GFLOP/s (1 thread), so %.2f GFLOP a step takes %.0f us\n",
           weight_bytes / 1e6, bandwidth[4][1], bandwidth[4][2], weight_bytes / 2e6,
           bandwidth[2][1], bandwidth[2][2], gflops, flops / 1e9, flops / (gflops * 1e3));
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        openblas_set_num_threads(runs[i].kernel == CN_KERNEL_BLAS ? runs[i].threads : 1);
        cn_kernels_limit(runs[i].limit);
        if (runs[i].packed && cn_model_pack_f32(&m, &err)) {
            fprintf(stderr, "bench_infer: %s\n", err.message);
            return 1;
        }
        if (runs[i].kernel == CN_KERNEL_BF16 && cn_kernels_best() != runs[i].limit)
            continue; /* this processor lacks it */
        if (runs[i].kernel == CN_KERNEL_BF16 && cn_model_make_bf16(&m, &err)) { /* repacks */
            fprintf(stderr, "bench_infer: %s\n", err.message);
            return 1;
        }
        int own = runs[i].kernel == CN_KERNEL_BLAS ? 1 : runs[i].threads;
        if (cn_state_set_threads(&stateful, own, &err) || cn_state_set_threads(&window, own, &err)) {
            fprintf(stderr, "bench_infer: %s\n", err.message);
            return 1;
        }
        stateful.kernel = window.kernel = runs[i].kernel;
        double step = time_steps(&stateful, n_vocab, repeats, 100);
        cn_state_reset(&window);
        for (int k = 0; k < 100; k++) /* fill the window */
            cn_state_step(&window, k % n_vocab);
        double note = time_steps(&window, n_vocab, 5, 3);
        double bytes = (double)weight_bytes / 4 * runs[i].bytes_per_weight;
        /* The step reads every weight once: memory bandwidth is the floor. */
        double rate = bandwidth[runs[i].bytes_per_weight][runs[i].threads];
        double floor_us = bytes / (rate * 1e3);
        printf("continuo step %.1f us/step, window %.0f us/note (%s, %d thread%s); floor %.1f us "
               "(%.1f MB at %.1f GB/s): %.2fx the floor\n",
               step, note, runs[i].name, runs[i].threads, runs[i].threads > 1 ? "s" : "",
               floor_us, bytes / 1e6, rate, step / floor_us);
    }
    cn_state_free(&stateful);
    cn_state_free(&window);
    cn_model_free(&m);
    cn_vocab_free(&vocab);
    free(names);
    free(name_ptrs);
    return 0;
}
