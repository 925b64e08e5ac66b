/* The processes of a data-parallel training run: MPI ranks when the program was built
 * with MPI and started by mpirun, otherwise one process alone, for which every call here
 * does nothing and succeeds. Used by the trainer only; never on a real-time thread. */
#ifndef CONTINUO_RANKS_H
#define CONTINUO_RANKS_H

#include <stddef.h>
#include <stdint.h>

#include "continuo/status.h"

typedef struct {
    int rank;    /* this process, 0 .. n_ranks - 1; rank 0 prints and writes */
    int n_ranks;
    int n_local; /* ranks on this machine, this one included (to share its cores) */
    int joined;  /* 1 when MPI was initialized here and cn_ranks_leave must finish it */
} CnRanks;

/* 1 when this build can run over MPI. */
int cn_ranks_built_with_mpi(void);

/* Joins the run: MPI when the environment says mpirun (or another MPI launcher) started
 * this process and the build has MPI; alone otherwise, without touching MPI at all. */
int cn_ranks_join(CnRanks *ranks, int *argc, char ***argv, CnError *err);

/* Leaves the run (MPI_Finalize when joined). */
void cn_ranks_leave(CnRanks *ranks);

/* The share of n items that rank holds: ranks below n % n_ranks hold one more. */
void cn_ranks_share(size_t n, int rank, int n_ranks, size_t *first, size_t *count);

/* Sums values across ranks, in place, on every rank (an allreduce). */
int cn_ranks_sum_floats(const CnRanks *ranks, float *values, size_t n, CnError *err);
int cn_ranks_sum_doubles(const CnRanks *ranks, double *values, size_t n, CnError *err);

/* *same = 1 when every rank passed the same value. */
int cn_ranks_same(const CnRanks *ranks, uint64_t value, int *same, CnError *err);

/* Collects on rank 0, into all (n_rows x width), the rows every rank holds as its share
 * (cn_ranks_share) of n_rows; mine holds this rank's rows. all is read only on rank 0. */
int cn_ranks_gather_rows(const CnRanks *ranks, const float *mine, float *all, size_t n_rows,
                         size_t width, CnError *err);

/* Whether any rank, and whether rank 0, failed: every rank passes its own failed flag and
 * learns both, so that all stop together and only one of them needs to say why. */
int cn_ranks_any_failed(const CnRanks *ranks, int failed, int *any, int *rank0);

#endif
