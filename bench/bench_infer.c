/* Inference speed of the default network (3 x LSTM(512), embedding 64, dense 256) at
 * batch 1: microseconds per stateful step and per note in window mode, on 1 and 2
 * threads, against this machine's floor measured in the same run (weight bytes over the
 * measured read bandwidth of a buffer that size; FLOPs over the measured sgemv rate). */
#include <cblas.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "continuo/model.h"
#include "continuo/state.h"

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

/* GB/s reading a buffer of n_bytes again and again (a dot product keeps it honest). */
static double read_bandwidth(size_t n_bytes)
{
    size_t n = n_bytes / sizeof(float);
    float *buf = aligned_alloc(64, n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        buf[i] = 1.0f;
    double best = 0;
    for (int r = 0; r < 20; r++) {
        double t0 = now();
        volatile float sum = cblas_sdot((int)n, buf, 1, buf, 1);
        (void)sum;
        double rate = (double)n_bytes / (now() - t0) / 1e9;
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
    static const struct option options[] = {{"repeats", required_argument, 0, 'r'},
                                            {"vocab", required_argument, 0, 'v'},
                                            {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (ch == 'r')
            repeats = atoi(optarg);
        else if (ch == 'v')
            n_vocab = atoi(optarg);
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
    CnModelConfig config = {.n_vocab = n_vocab, .n_embed = 64, .n_layers = 3, .n_hidden = 512,
                            .n_dense = 256, .dropout = 0.3f};
    if (cn_vocab_from_names(name_ptrs, (size_t)n_vocab, &vocab, &err) ||
        cn_model_init(&m, &config, &vocab, 1, &err)) {
        fprintf(stderr, "bench_infer: %s\n", err.message);
        return 1;
    }
    size_t weight_bytes = (cn_model_count_weights(&config) - (size_t)n_vocab * 64) * 4;
    double flops = 2.0 * (double)weight_bytes / 4;
    CnState stateful, window;
    cn_state_init(&stateful, &m, CN_MODE_STATEFUL, 100, &err);
    cn_state_init(&window, &m, CN_MODE_WINDOW, 100, &err);
    for (int threads = 1; threads <= 2; threads++) {
        openblas_set_num_threads(threads);
        double step = time_steps(&stateful, n_vocab, repeats, 100);
        for (int i = 0; i < 100; i++) /* fill the window */
            cn_state_step(&window, i % n_vocab);
        double note = time_steps(&window, n_vocab, 5, 3);
        double bandwidth = read_bandwidth(weight_bytes);
        double gflops = sgemv_rate(2048, 512);
        double floor_bytes = weight_bytes / (bandwidth * 1e3), floor_flops = flops / (gflops * 1e3);
        double floor_us = floor_bytes > floor_flops ? floor_bytes : floor_flops;
        printf("continuo step %.1f us/step, window %.0f us/note (%d thread%s); floor %.1f us "
               "(%.1f MB at %.1f GB/s; %.2f GFLOP at %.1f GFLOP/s): %.2fx the floor\n",
               step, note, threads, threads > 1 ? "s" : "", floor_us, weight_bytes / 1e6,
               bandwidth, flops / 1e9, gflops, step / floor_us);
    }
    cn_state_free(&stateful);
    cn_state_free(&window);
    cn_model_free(&m);
    cn_vocab_free(&vocab);
    free(names);
    free(name_ptrs);
    return 0;
}
