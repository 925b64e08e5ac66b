/* One stream's inference: the stacked LSTM stepped one token at a time on preallocated
 * buffers (matrix-vector products through our own kernels on packed float32 or bfloat16
 * weights, BLAS when asked), in stateful or window mode. A step may
 * run on a worker thread next to an audio thread: it allocates nothing and takes no lock. */
#include "continuo/state.h"

#include <cblas.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels.h"

/* A share of one or two products into the same rows: y += W x (+ W2 x2). */
typedef struct {
    float *y;
    const float *w, *x, *w2, *x2; /* w2 NULL: one product */
    int n_rows, n_cols, n_cols2;
} Job;

struct CnHelper {
    const CnState *state;
    pthread_t thread;
    sem_t wake;
    Job job;                     /* written before job_seq is bumped */
    _Atomic uint32_t job_seq;    /* bumped by the caller for each job */
    _Atomic uint32_t done_seq;   /* the last job the helper finished */
    _Atomic int sleeping, quit;
    sem_t done;                  /* posted when a job ends while the caller sleeps on it */
    _Atomic int caller_sleeping;
};

#define HELPER_SPIN_NS 200000 /* between steps a helper spins this long, then sleeps */
#define CALLER_SPIN_NS 20000  /* the caller waits this long for a helper, then sleeps */
#define LATE_NS 500000        /* a helper this late was kept off its core, not waking up */
#define SOLO_AFTER_LATE 1024  /* products the caller then does alone before trying again */

static void pause_a_little(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* A spin that gives its core away every 64 turns: with more threads than free cores, the
 * thread being waited for may be the one that needs it. */
static void spin_turn(int spins)
{
    if (spins % 64 == 0)
        sched_yield();
    else
        pause_a_little();
}

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* The caller's wait for a helper's job: a short spin (the job is tens of microseconds),
 * then asleep until the helper posts, so that on a loaded machine the helper gets the
 * core instead of a spinning caller. */
static int wait_for_helper(struct CnHelper *h, uint32_t seq)
{
    uint64_t start = 0, first = 0;
    for (int spins = 1; atomic_load(&h->done_seq) != seq; spins++) {
        spin_turn(spins);
        if (spins % 64 != 0)
            continue;
        uint64_t t = now_ns();
        if (!start) {
            start = first = t;
        } else if (t - start > CALLER_SPIN_NS) {
            atomic_store(&h->caller_sleeping, 1);
            if (atomic_load(&h->done_seq) != seq) /* the helper posts if it saw us asleep */
                while (sem_wait(&h->done) != 0)
                    ;
            atomic_store(&h->caller_sleeping, 0);
            start = now_ns();
        }
    }
    return first && now_ns() - first > LATE_NS;
}

static void gemv_rows(const CnState *s, float *y, const float *w, const float *x, int rows,
                      int cols);

static void *helper_main(void *arg)
{
    struct CnHelper *h = arg;
    uint32_t seen = 0;
    for (;;) {
        uint32_t seq;
        uint64_t spin_start = now_ns();
        for (int spins = 1; (seq = atomic_load(&h->job_seq)) == seen; spins++) {
            if (atomic_load(&h->quit))
                return NULL;
            spin_turn(spins);
            if (spins % 256 == 0 && now_ns() - spin_start > HELPER_SPIN_NS) {
                /* the caller posts whenever it sees us asleep after bumping job_seq */
                atomic_store(&h->sleeping, 1);
                if (atomic_load(&h->job_seq) == seen && !atomic_load(&h->quit))
                    while (sem_wait(&h->wake) != 0)
                        ;
                atomic_store(&h->sleeping, 0);
                spin_start = now_ns();
            }
        }
        seen = seq;
        Job j = h->job;
        gemv_rows(h->state, j.y, j.w, j.x, j.n_rows, j.n_cols);
        if (j.w2)
            gemv_rows(h->state, j.y, j.w2, j.x2, j.n_rows, j.n_cols2);
        atomic_store(&h->done_seq, seq);
        if (atomic_load(&h->caller_sleeping))
            sem_post(&h->done); /* a stray post only makes the caller look again */
    }
}

static void stop_helpers(CnState *s)
{
    for (int i = 0; i < s->n_threads - 1; i++) {
        struct CnHelper *h = s->helpers[i];
        if (!h)
            continue;
        atomic_store(&h->quit, 1);
        sem_post(&h->wake);
        pthread_join(h->thread, NULL);
        sem_destroy(&h->wake);
        sem_destroy(&h->done);
        free(h);
        s->helpers[i] = NULL;
    }
    s->n_threads = 1;
}

int cn_state_set_threads(CnState *s, int n_threads, CnError *err)
{
    if (n_threads < 1 || n_threads > CN_MAX_THREADS)
        return cn_fail(err, "threads must be 1 to %d, not %d", CN_MAX_THREADS, n_threads);
    stop_helpers(s);
    for (int i = 0; i < n_threads - 1; i++) {
        struct CnHelper *h = calloc(1, sizeof *h);
        if (!h || sem_init(&h->wake, 0, 0) != 0) {
            free(h);
            stop_helpers(s);
            return cn_fail(err, "cannot set up a helper thread");
        }
        if (sem_init(&h->done, 0, 0) != 0) {
            sem_destroy(&h->wake);
            free(h);
            stop_helpers(s);
            return cn_fail(err, "cannot set up a helper thread");
        }
        h->state = s;
        if (pthread_create(&h->thread, NULL, helper_main, h) != 0) {
            sem_destroy(&h->wake);
            sem_destroy(&h->done);
            free(h);
            stop_helpers(s);
            return cn_fail(err, "cannot start a helper thread");
        }
        s->helpers[i] = h;
        s->n_threads = i + 2;
    }
    return 0;
}

static float *alloc_floats(size_t n, int *failed)
{
    float *p = aligned_alloc(64, ((n ? n : 1) * sizeof(float) + 63) / 64 * 64);
    if (p)
        memset(p, 0, (n ? n : 1) * sizeof(float));
    else
        *failed = 1;
    return p;
}

int cn_state_init(CnState *s, const CnModel *model, CnMode mode, int seq, CnError *err)
{
    memset(s, 0, sizeof *s);
    const CnModelConfig *c = &model->config;
    if (seq <= 0)
        seq = model->info.seq > 0 ? model->info.seq : 100;
    if (seq > 100000)
        return cn_fail(err, "window of %d tokens is too long", seq);
    s->model = model;
    s->mode = mode;
    s->seq = seq;
    s->kernel = model->params_bf16 ? CN_KERNEL_BF16 : CN_KERNEL_F32;
    s->n_threads = 1;
    size_t H = (size_t)c->n_hidden, L = (size_t)c->n_layers;
    int failed = 0;
    s->h = alloc_floats(L * H, &failed);
    s->c = alloc_floats(L * H, &failed);
    s->input = alloc_floats(c->n_embed > 0 ? (size_t)c->n_embed : 1, &failed);
    s->gates = alloc_floats(4 * H, &failed);
    s->tanh_c = alloc_floats(H, &failed);
    s->dense = alloc_floats((size_t)c->n_dense, &failed);
    s->probs = alloc_floats((size_t)c->n_vocab, &failed);
    s->history = calloc((size_t)seq, sizeof *s->history);
    if (failed || !s->history) {
        cn_state_free(s);
        return cn_fail(err, "out of memory for an inference state");
    }
    return 0;
}

void cn_state_free(CnState *s)
{
    if (s->n_threads > 1)
        stop_helpers(s);
    free(s->h);
    free(s->c);
    free(s->input);
    free(s->gates);
    free(s->tanh_c);
    free(s->dense);
    free(s->probs);
    free(s->history);
    memset(s, 0, sizeof *s);
}

void cn_state_reset(CnState *s)
{
    const CnModelConfig *c = &s->model->config;
    size_t LH = (size_t)c->n_layers * (size_t)c->n_hidden;
    memset(s->h, 0, LH * sizeof(float));
    memset(s->c, 0, LH * sizeof(float));
    s->n_history = 0;
    s->n_steps = 0;
}

int cn_state_copy(CnState *dst, const CnState *src)
{
    if (dst->model != src->model || dst->mode != src->mode || dst->seq != src->seq)
        return -1;
    const CnModelConfig *c = &src->model->config;
    size_t LH = (size_t)c->n_layers * (size_t)c->n_hidden;
    memcpy(dst->h, src->h, LH * sizeof(float));
    memcpy(dst->c, src->c, LH * sizeof(float));
    memcpy(dst->probs, src->probs, (size_t)c->n_vocab * sizeof(float));
    memcpy(dst->history, src->history, (size_t)src->seq * sizeof *src->history);
    dst->n_history = src->n_history;
    dst->n_steps = src->n_steps;
    return 0;
}

/* y (rows) += W (rows, cols) x, W rows of one of the model's tensors, by the state's
 * kernel, on the calling thread. */
static void gemv_rows(const CnState *s, float *y, const float *w, const float *x, int rows,
                      int cols)
{
    const CnModel *m = s->model;
    if (s->kernel == CN_KERNEL_BF16 && m->params_bf16)
        cn_gemv_bf16(y, m->params_bf16 + (w - m->params), x, (size_t)rows, (size_t)cols,
                     m->bf16_kernel);
    else if (m->f32_packed) /* whatever the kernel asked: the row-major weights are gone */
        cn_gemv_f32_packed(y, w, x, (size_t)rows, (size_t)cols);
    else if (s->kernel == CN_KERNEL_BLAS)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, rows, cols, 1.0f, w, cols, x, 1, 1.0f, y, 1);
    else
        cn_gemv_f32(y, w, x, (size_t)rows, (size_t)cols);
}

/* y (rows) += W x + W2 x2 (W2 may be NULL), shared between the caller and its helpers in
 * slices of whole panels (a packed matrix's rows from a multiple of CN_PANEL on are
 * again a packed matrix). Two products in one go halve the times the threads meet. */
static void gemv2(CnState *s, float *y, int rows, const float *w, const float *x, int cols,
                  const float *w2, const float *x2, int cols2)
{
    int n = s->n_threads, panels = rows / CN_PANEL;
    int blas = s->kernel == CN_KERNEL_BLAS && !s->model->f32_packed; /* threads of its own */
    if (n > 1 && s->solo_products > 0) {
        s->solo_products--;
        n = 1;
    }
    if (n == 1 || blas || panels < n) {
        gemv_rows(s, y, w, x, rows, cols);
        if (w2)
            gemv_rows(s, y, w2, x2, rows, cols2);
        return;
    }
    int mine = panels / n * CN_PANEL, start = mine;
    uint32_t seqs[CN_MAX_THREADS];
    for (int i = 0; i < n - 1; i++) {
        struct CnHelper *h = s->helpers[i];
        int count = i == n - 2 ? rows - start : mine;
        h->job = (Job){y + start, w + (size_t)start * cols, x,
                       w2 ? w2 + (size_t)start * cols2 : NULL, x2, count, cols, cols2};
        seqs[i] = atomic_load(&h->job_seq) + 1;
        atomic_store(&h->job_seq, seqs[i]);
        if (atomic_load(&h->sleeping))
            sem_post(&h->wake);
        start += count;
    }
    gemv_rows(s, y, w, x, mine, cols);
    if (w2)
        gemv_rows(s, y, w2, x2, mine, cols2);
    int late = 0;
    for (int i = 0; i < n - 1; i++)
        late |= wait_for_helper(s->helpers[i], seqs[i]);
    if (late)
        s->solo_products = SOLO_AFTER_LATE;
}

static void gemv(CnState *s, float *y, const float *w, const float *x, int rows, int cols)
{
    gemv2(s, y, rows, w, x, cols, NULL, NULL, 0);
}

/* Runs one token through every LSTM layer, updating h and c. */
static void step_layers(CnState *s, int token)
{
    const CnModel *m = s->model;
    const CnModelConfig *c = &m->config;
    int H = c->n_hidden, n_in = c->n_embed > 0 ? c->n_embed : 1;
    if (c->n_embed > 0)
        memcpy(s->input, m->w.embed + (size_t)token * (size_t)n_in, (size_t)n_in * sizeof(float));
    else
        s->input[0] = (float)token / (float)c->n_vocab; /* the original's scalar input */
    const float *x = s->input;
    for (int l = 0; l < c->n_layers; l++) {
        const CnLstmWeights *lw = &m->w.lstm[l];
        float *h = s->h + (size_t)l * H, *cs = s->c + (size_t)l * H;
        memcpy(s->gates, lw->bias, 4 * (size_t)H * sizeof(float));
        if (n_in == 1) {
            for (int r = 0; r < 4 * H; r++)
                s->gates[r] += lw->w_x[r] * x[0];
            gemv(s, s->gates, lw->w_h, h, 4 * H, H);
        } else {
            gemv2(s, s->gates, 4 * H, lw->w_x, x, n_in, lw->w_h, h, H);
        }
        cn_lstm_cell(s->gates, cs, cs, h, s->tanh_c, (size_t)H, c->gates);
        x = h;
        n_in = H;
    }
}

/* The dense layer and softmax on the top layer's output. */
static void step_head(CnState *s)
{
    const CnModel *m = s->model;
    const CnModelConfig *c = &m->config;
    int H = c->n_hidden, V = c->n_vocab, D = c->n_dense;
    const float *top = s->h + (size_t)(c->n_layers - 1) * H;
    int n_top = H;
    if (D > 0) {
        memcpy(s->dense, m->w.dense_b, (size_t)D * sizeof(float));
        gemv(s, s->dense, m->w.dense_w, top, D, H);
        if (c->dense_activation == CN_DENSE_RELU)
            cn_relu(s->dense, (size_t)D);
        top = s->dense;
        n_top = D;
    }
    memcpy(s->probs, m->w.out_b, (size_t)V * sizeof(float));
    gemv(s, s->probs, m->w.out_w, top, V, n_top);
    cn_softmax(s->probs, (size_t)V);
}

const float *cn_state_step(CnState *s, int token)
{
    int V = s->model->config.n_vocab;
    if (token < 0 || token >= V)
        token = 0; /* callers map tokens onto the vocabulary; never read out of bounds */
    s->n_steps++;
    if (s->mode == CN_MODE_STATEFUL) {
        step_layers(s, token);
        step_head(s);
        return s->probs;
    }
    if (s->n_history == s->seq) { /* slide the window */
        memmove(s->history, s->history + 1, (size_t)(s->seq - 1) * sizeof *s->history);
        s->n_history--;
    }
    s->history[s->n_history++] = token;
    const CnModelConfig *c = &s->model->config;
    size_t LH = (size_t)c->n_layers * (size_t)c->n_hidden;
    memset(s->h, 0, LH * sizeof(float));
    memset(s->c, 0, LH * sizeof(float));
    for (int i = 0; i < s->n_history; i++)
        step_layers(s, s->history[i]);
    step_head(s);
    return s->probs;
}
