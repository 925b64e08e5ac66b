/* Ranks of a data-parallel training run over MPI, or one process alone (continuo/ranks.h).
 * MPI is used only when the build has it (CONTINUO_HAVE_MPI) and a launcher started this
 * process, so the program run by hand never initializes MPI. */
#include "continuo/ranks.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef CONTINUO_HAVE_MPI
#include <mpi.h>
#endif

void cn_ranks_share(size_t n, int rank, int n_ranks, size_t *first, size_t *count)
{
    size_t R = (size_t)n_ranks, r = (size_t)rank, base = n / R, extra = n % R;
    *count = base + (r < extra);
    *first = r * base + (r < extra ? r : extra);
}

#ifdef CONTINUO_HAVE_MPI

static int alone(const CnRanks *ranks)
{
    return !ranks || ranks->n_ranks <= 1 || !ranks->joined;
}

int cn_ranks_built_with_mpi(void)
{
    return 1;
}

/* Open MPI, MPICH (Hydra) and PMIx launchers each leave one of these. */
static int started_by_launcher(void)
{
    static const char *const names[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK",
                                        "PMI_RANK"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (getenv(names[i]))
            return 1;
    return 0;
}

static int mpi_fail(CnError *err, const char *what, int code)
{
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(code, text, &len) != MPI_SUCCESS)
        snprintf(text, sizeof text, "error %d", code);
    return cn_fail(err, "MPI %s failed: %s", what, text);
}

int cn_ranks_join(CnRanks *ranks, int *argc, char ***argv, CnError *err)
{
    *ranks = (CnRanks){.rank = 0, .n_ranks = 1, .n_local = 1, .joined = 0};
    if (!started_by_launcher())
        return 0;
    int provided, rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS)
        return mpi_fail(err, "initialization", rc);
    ranks->joined = 1;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &ranks->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks->n_ranks);
    MPI_Comm local;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local) ==
        MPI_SUCCESS) {
        MPI_Comm_size(local, &ranks->n_local);
        MPI_Comm_free(&local);
    }
    return 0;
}

void cn_ranks_leave(CnRanks *ranks)
{
    if (ranks && ranks->joined) {
        MPI_Finalize();
        ranks->joined = 0;
    }
}

/* MPI counts are ints: a larger buffer goes in pieces. */
static int sum_pieces(void *values, size_t n, size_t size, MPI_Datatype type, CnError *err)
{
    const size_t piece = (size_t)INT_MAX / 2;
    for (size_t at = 0; at < n; at += piece) {
        size_t len = n - at < piece ? n - at : piece;
        int rc = MPI_Allreduce(MPI_IN_PLACE, (char *)values + at * size, (int)len, type, MPI_SUM,
                               MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return mpi_fail(err, "allreduce", rc);
    }
    return 0;
}

int cn_ranks_sum_floats(const CnRanks *ranks, float *values, size_t n, CnError *err)
{
    return alone(ranks) ? 0 : sum_pieces(values, n, sizeof(float), MPI_FLOAT, err);
}

int cn_ranks_sum_doubles(const CnRanks *ranks, double *values, size_t n, CnError *err)
{
    return alone(ranks) ? 0 : sum_pieces(values, n, sizeof(double), MPI_DOUBLE, err);
}

int cn_ranks_same(const CnRanks *ranks, uint64_t value, int *same, CnError *err)
{
    *same = 1;
    if (alone(ranks))
        return 0;
    uint64_t low = value, high = value;
    int rc = MPI_Allreduce(MPI_IN_PLACE, &low, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
    if (rc == MPI_SUCCESS)
        rc = MPI_Allreduce(MPI_IN_PLACE, &high, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS)
        return mpi_fail(err, "allreduce", rc);
    *same = low == high;
    return 0;
}

int cn_ranks_gather_rows(const CnRanks *ranks, const float *mine, float *all, size_t n_rows,
                         size_t width, CnError *err)
{
    if (alone(ranks)) {
        memcpy(all, mine, n_rows * width * sizeof(float));
        return 0;
    }
    if (n_rows * width > (size_t)INT_MAX)
        return cn_fail(err, "the carried state is too large to collect (%zu values)",
                       n_rows * width);
    int R = ranks->n_ranks, *counts = malloc(2 * (size_t)R * sizeof *counts);
    if (!counts)
        return cn_fail(err, "out of memory");
    for (int r = 0; r < R; r++) {
        size_t first, count;
        cn_ranks_share(n_rows, r, R, &first, &count);
        counts[r] = (int)(count * width);
        counts[R + r] = (int)(first * width);
    }
    int rc = MPI_Gatherv(mine, counts[ranks->rank], MPI_FLOAT, all, counts, counts + R,
                         MPI_FLOAT, 0, MPI_COMM_WORLD);
    free(counts);
    return rc == MPI_SUCCESS ? 0 : mpi_fail(err, "gather", rc);
}

int cn_ranks_any_failed(const CnRanks *ranks, int failed, int *any, int *rank0)
{
    *any = failed != 0;
    *rank0 = failed != 0 && (!ranks || ranks->rank == 0);
    if (alone(ranks))
        return 0;
    int flags[2] = {*any, *rank0};
    if (MPI_Allreduce(MPI_IN_PLACE, flags, 2, MPI_INT, MPI_MAX, MPI_COMM_WORLD) != MPI_SUCCESS) {
        *any = 1;
        return -1;
    }
    *any = flags[0];
    *rank0 = flags[1];
    return 0;
}

#else /* one process: nothing to share */

int cn_ranks_built_with_mpi(void)
{
    return 0;
}

int cn_ranks_join(CnRanks *ranks, int *argc, char ***argv, CnError *err)
{
    (void)argc;
    (void)argv;
    (void)err;
    *ranks = (CnRanks){.rank = 0, .n_ranks = 1, .n_local = 1, .joined = 0};
    return 0;
}

void cn_ranks_leave(CnRanks *ranks)
{
    (void)ranks;
}

int cn_ranks_sum_floats(const CnRanks *ranks, float *values, size_t n, CnError *err)
{
    (void)ranks, (void)values, (void)n, (void)err;
    return 0;
}

int cn_ranks_sum_doubles(const CnRanks *ranks, double *values, size_t n, CnError *err)
{
    (void)ranks, (void)values, (void)n, (void)err;
    return 0;
}

int cn_ranks_same(const CnRanks *ranks, uint64_t value, int *same, CnError *err)
{
    (void)ranks, (void)value, (void)err;
    *same = 1;
    return 0;
}

int cn_ranks_gather_rows(const CnRanks *ranks, const float *mine, float *all, size_t n_rows,
                         size_t width, CnError *err)
{
    (void)ranks, (void)err;
    memcpy(all, mine, n_rows * width * sizeof(float));
    return 0;
}

int cn_ranks_any_failed(const CnRanks *ranks, int failed, int *any, int *rank0)
{
    (void)ranks;
    *any = *rank0 = failed != 0;
    return 0;
}

#endif
