/* What decides whether data-parallel training pays: the compute time of one batch of the
 * default network at several batch sizes (one rank's forward and backward, one thread),
 * the allreduce time of its gradient buffer between the ranks of this run, and from those
 * a model of the speed-up on N machines. Run under mpirun with 2 ranks (bench/mpi.sh); the
 * baseline of every ratio is the compute time of the default batch measured in this run. */
#include <cblas.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "continuo/model.h"
#include "continuo/tokens.h"
#include "net_batch.h"
#include "continuo/rng.h"

#define SEQ 50
#define DEFAULT_BATCH 16
static const int batches[] = {1, 2, 4, 8, 16, 32, 64, 128};
#define N_BATCHES (int)(sizeof batches / sizeof batches[0])

static int compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, compare);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Median seconds of one forward and backward pass of B lanes x SEQ steps. */
static double batch_seconds(CnModel *m, float *grad_buf, int B, int reps)
{
    NetBatch nb;
    CnError err = {{0}};
    if (net_batch_init(&nb, &m->config, B, SEQ, 0, &err)) {
        fprintf(stderr, "bench_mpi: %s\n", err.message);
        exit(1);
    }
    CnParams grad;
    cn_params_views(&m->config, grad_buf, &grad);
    CnRng rng;
    cn_rng_seed(&rng, 7);
    for (int i = 0; i < B * SEQ; i++) {
        nb.ids[i] = (int32_t)cn_rng_below(&rng, (uint32_t)m->config.n_vocab);
        nb.targets[i] = (int32_t)cn_rng_below(&rng, (uint32_t)m->config.n_vocab);
        nb.keep[i] = 1;
    }
    double t[16];
    for (int r = 0; r < reps + 1; r++) {
        double t0 = MPI_Wtime();
        net_batch_forward(&nb, &m->w, &rng);
        net_batch_backward(&nb, &m->w, &grad);
        if (r > 0) /* the first pass warms the caches */
            t[r - 1] = MPI_Wtime() - t0;
    }
    net_batch_free(&nb);
    return median(t, reps);
}

static double allreduce_seconds(float *buf, size_t n, int reps)
{
    double t[64];
    for (int r = 0; r < reps + 1; r++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        double dt = MPI_Wtime() - t0;
        MPI_Allreduce(MPI_IN_PLACE, &dt, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        if (r > 0)
            t[r - 1] = dt;
    }
    return median(t, reps);
}

/* Ring allreduce of bytes over n machines: 2 (n - 1) steps of bytes / n, each paying the
 * link's latency (the model behind NCCL's and Open MPI's large-message allreduce). */
static double ring_seconds(double bytes, int n, double gbit_per_s, double latency)
{
    if (n < 2)
        return 0;
    double steps = 2.0 * (n - 1);
    return steps * (latency + bytes / n / (gbit_per_s * 1e9 / 8));
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, n_ranks;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &n_ranks);
    openblas_set_num_threads(1);
    const char *network = argc > 1 ? argv[1] : "this run's transport";

    CnVocab vocab = {0};
    CnModel m = {0};
    CnError err = {{0}};
    if (cn_vocab_timed(&vocab, &err)) {
        fprintf(stderr, "bench_mpi: %s\n", err.message);
        return 1;
    }
    CnModelConfig config = cn_model_default_config((int)vocab.n);
    if (cn_model_init(&m, &config, &vocab, 1, &err)) {
        fprintf(stderr, "bench_mpi: %s\n", err.message);
        return 1;
    }
    float *grad = aligned_alloc(64, m.n_params * sizeof(float));
    memset(grad, 0, m.n_params * sizeof(float));
    double mb = (double)m.n_params * sizeof(float) / 1e6;

    /* compute: every rank at once, as in training (they share this machine's cores) */
    double compute[N_BATCHES];
    for (int i = 0; i < N_BATCHES; i++) {
        compute[i] = batch_seconds(&m, grad, batches[i], batches[i] > 32 ? 3 : 7);
        MPI_Allreduce(MPI_IN_PLACE, &compute[i], 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    }
    double reduce = allreduce_seconds(grad, m.n_params, 30);
    double counts[4] = {0};
    double small[31];
    for (int r = 0; r < 31; r++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        MPI_Allreduce(MPI_IN_PLACE, counts, 4, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
        small[r] = MPI_Wtime() - t0;
    }
    double latency = median(small + 1, 30);

    if (rank == 0) {
        double base = compute[4]; /* the default batch, 16 x 50 */
        printf("default network: 2 x LSTM(128), embed 32, Dense 64, 240 tokens: %zu parameters, "
               "gradient buffer %.2f MB\n", m.n_params, mb);
        printf("compute of one batch x %d steps (one thread, %d ranks busy at once; ratio to "
               "batch %d):\n", SEQ, n_ranks, DEFAULT_BATCH);
        for (int i = 0; i < N_BATCHES; i++)
            printf("  batch %4d: %8.2f ms  %6.2fx\n", batches[i], 1e3 * compute[i],
                   compute[i] / base);
        printf("allreduce over %s, %d ranks: gradient %.3f ms (%.2f GB/s of buffer, %.1f%% of "
               "the default batch's compute), counts (32 bytes) %.1f us\n", network, n_ranks,
               1e3 * reduce, mb / 1e3 / reduce, 100 * reduce / base, 1e6 * latency);
        printf("model: ring allreduce of %.2f MB, link latency 20 us; speed-up of one epoch on "
               "N machines at a global batch B against one machine at B\n", mb);
        printf("  %-9s %-5s %s\n", "link", "B", "N=2     N=4     N=8     N=16");
        static const double links[] = {10, 25};
        static const int global[] = {16, 64, 128};
        for (int k = 0; k < 2; k++)
            for (int g = 0; g < 3; g++) {
                printf("  %2.0f Gb/s   %-5d", links[k], global[g]);
                for (int n = 2; n <= 16; n *= 2) {
                    int local = global[g] / n;
                    double one = 0, share = 0;
                    for (int i = 0; i < N_BATCHES; i++) {
                        if (batches[i] == global[g])
                            one = compute[i];
                        if (batches[i] == local)
                            share = compute[i];
                    }
                    if (local < 1 || share == 0) {
                        printf(" %-7s", "-");
                        continue;
                    }
                    double comm = ring_seconds(mb * 1e6, n, links[k], 20e-6);
                    printf(" %-7.2f", one / (share + comm));
                }
                printf("\n");
            }
        /* what an allreduce overlapped with the backward pass could save at most */
        for (int k = 0; k < 2; k++)
            for (int n = 2; n <= 16; n *= 2) {
                double comm = ring_seconds(mb * 1e6, n, links[k], 20e-6);
                int under = 0;
                for (int i = 0; i < N_BATCHES && !under; i++)
                    if (comm <= 0.1 * (compute[i] + comm))
                        under = batches[i];
                printf("  %2.0f Gb/s, N=%-2d: allreduce %.2f ms = %4.1f%% of a step at batch "
                       "%d per rank; under 10%% from a batch of %d per rank\n", links[k], n,
                       1e3 * comm, 100 * comm / (base + comm), DEFAULT_BATCH, under);
            }
    }
    free(grad);
    cn_model_free(&m);
    cn_vocab_free(&vocab);
    MPI_Finalize();
    return 0;
}
