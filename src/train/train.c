/* The training loop: epoch plans (lanes of whole songs for truncated BPTT, or the
 * original's shuffled windows), RMSprop steps, validation, checkpoints and resume. */
#include "continuo/train.h"

#include "continuo/files.h"
#include "continuo/keyvalue.h"

#include <cblas.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "continuo/corpus.h"
#include "continuo/eval.h"
#include "crc32.h"
#include "kernels.h"
#include "net_batch.h"
#include "plans.h"
#include "train_state.h"
#include "continuo/rng.h"

CnTrainOptions cn_train_options_original(void)
{
    return (CnTrainOptions){.objective = CN_OBJECTIVE_LAST, .seq = 100, .batch = 64,
                            .epochs = 200, .lr = 1e-3f, .lr_decay = 1.0f, .rho = 0.9f,
                            .eps = 1e-7f, .clip = 0.0f, .val_split = 0.0, .seed = 1};
}

CnTrainOptions cn_train_options_default(void)
{
    return (CnTrainOptions){.objective = CN_OBJECTIVE_ALL, .seq = 50, .batch = 16,
                            .epochs = 200, .lr = 1e-3f, .lr_decay = 1.0f, .rho = 0.9f,
                            .eps = 1e-7f, .clip = 0.0f, .val_split = 0.1, .seed = 1};
}

const char *cn_objective_name(CnObjective objective)
{
    return objective == CN_OBJECTIVE_LAST ? "last" : "all";
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ----- One run ---------------------------------------------------------------------------- */

typedef struct {
    CnModel *model;
    const CnTrainOptions *opt;
    const CnRanks *ranks;  /* NULL: alone */
    int is_rank0;          /* validates, writes and reports */
    NetBatch nb;           /* this rank's share of the batch's lanes */
    float *grad_buf;
    CnParams grad;
    float *moments;
    CnRng dropout_rng;
    CnSongIds *train_songs, *val_songs;
    size_t n_train, n_val;
    LanePlan lanes;
    WindowPlan windows;
    Transposer transposer;
    /* where the run is */
    int epoch;             /* epochs complete */
    long batch_done;       /* batches done in the epoch under way */
    double loss_sum;       /* of the epoch under way */
    size_t n_predicted, n_correct;
    double best_val;
    int resumed;           /* going on with a checkpoint's run (else a new run, whose log
                              starts afresh) */
    double seconds_before; /* training time of earlier runs, or of the weights started from */
    double started;
    size_t epoch_items;    /* predicted in this run during the epoch under way */
    long epoch_batches;    /* batches run in this run during the epoch under way */
    long total_batches;    /* batches run in this run */
} Run;

static uint64_t epoch_seed(uint64_t seed, int epoch)
{
    uint64_t x = seed ^ (0x5851f42d4c957f2dull * (uint64_t)(epoch + 1));
    return cn_splitmix64(&x);
}

static int plan_epoch(Run *r, CnError *err)
{
    CnRng order_rng;
    cn_rng_seed(&order_rng, epoch_seed(r->opt->seed, r->epoch));
    Transposer *tr = r->transposer.map ? &r->transposer : NULL;
    if (tr) /* draws of their own: without transposition the data order is as before */
        cn_rng_seed(&tr->rng, epoch_seed(r->opt->seed ^ 0x3c6ef372fe94f82bull, r->epoch));
    if (r->opt->objective == CN_OBJECTIVE_ALL) {
        cn_lane_plan_free(&r->lanes);
        return cn_lane_plan_make(&r->lanes, r->train_songs, r->n_train, r->opt->batch,
                                 r->opt->seq, &order_rng, tr, err);
    }
    if (tr)
        cn_window_plan_stream(&r->windows, r->train_songs, r->n_train, tr);
    for (size_t w = 0; w < r->windows.n_windows; w++)
        r->windows.order[w] = (uint32_t)w;
    cn_shuffle(r->windows.order, r->windows.n_windows, &order_rng);
    return 0;
}

static long batches_in_epoch(const Run *r)
{
    return r->opt->objective == CN_OBJECTIVE_ALL ? r->lanes.n_chunks : r->windows.n_batches;
}

static void clip_gradient(float *grad, size_t n, float max_norm)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += (double)grad[i] * grad[i];
    double norm = sqrt(sum);
    if (norm > max_norm) {
        float scale = (float)(max_norm / norm);
        for (size_t i = 0; i < n; i++)
            grad[i] *= scale;
    }
}

static float epoch_lr(const CnTrainOptions *o, int epoch)
{
    return o->lr_decay == 1.0f ? o->lr : (float)(o->lr * pow(o->lr_decay, epoch));
}

/* One step: this rank's lanes forward; the batch's counts, and whether any rank was asked
 * to stop, summed across ranks; the gradient of the whole batch's mean loss summed across
 * ranks; the same update on every rank. Alone, the sums are what this rank has. */
static int train_batch(Run *r, long batch_index, volatile sig_atomic_t *stop_asked,
                       int last_asked, size_t *n_predicted, int *stop, CnError *err)
{
    if (r->opt->objective == CN_OBJECTIVE_ALL)
        cn_lane_plan_fill(&r->lanes, &r->nb, batch_index);
    else
        cn_window_plan_fill(&r->windows, &r->nb, batch_index);
    net_batch_forward(&r->nb, &r->model->w, &r->dropout_rng);
    double counts[4] = {r->nb.loss_sum, (double)r->nb.n_predicted, (double)r->nb.n_correct,
                        (stop_asked && *stop_asked) || last_asked};
    if (cn_ranks_sum_doubles(r->ranks, counts, 4, err))
        return -1;
    r->loss_sum += counts[0];
    *n_predicted = (size_t)counts[1];
    r->n_predicted += *n_predicted;
    r->n_correct += (size_t)counts[2];
    *stop = counts[3] > 0;
    if (*n_predicted == 0)
        return 0;
    memset(r->grad_buf, 0, r->model->n_params * sizeof(float));
    r->nb.n_predicted_total = *n_predicted;
    net_batch_backward(&r->nb, &r->model->w, &r->grad);
    if (cn_ranks_sum_floats(r->ranks, r->grad_buf, r->model->n_params, err))
        return -1;
    if (r->opt->clip > 0)
        clip_gradient(r->grad_buf, r->model->n_params, r->opt->clip);
    cn_rmsprop_update(r->model->params, r->grad_buf, r->moments, r->model->n_params,
                      epoch_lr(r->opt, r->epoch), r->opt->rho, r->opt->eps);
    return 0;
}

/* Every rank learns whether any failed. A rank that did not fail itself returns -1 with an
 * empty message when another did (that rank says why). */
static int agree(const Run *r, int rc, CnError *err)
{
    int any, rank0;
    if (cn_ranks_any_failed(r->ranks, rc != 0, &any, &rank0) && rc == 0)
        return cn_fail(err, "lost contact with the other ranks");
    if (any && rc == 0)
        return cn_fail(err, "%s", "");
    return rc;
}

/* Mean loss and accuracy on the held-out songs, without dropout, measured as the
 * objective trains: each song from a zero state (all), or windows of seq tokens (last). */
static int validate(Run *r, double *loss, double *accuracy, CnError *err)
{
    *loss = NAN;
    *accuracy = NAN;
    if (r->n_val == 0)
        return 0;
    CnEvalLoss result;
    CnMode mode = r->opt->objective == CN_OBJECTIVE_ALL ? CN_MODE_STATEFUL : CN_MODE_WINDOW;
    if (cn_eval_loss(r->model, r->val_songs, r->n_val, mode, r->opt->seq, &result, err))
        return -1;
    *loss = result.loss;
    *accuracy = result.accuracy;
    return 0;
}

/* ----- Checkpoints ------------------------------------------------------------------------ */

static int state_blob(const Run *r, char *blob, size_t cap)
{
    const CnTrainOptions *o = r->opt;
    const uint64_t *s = r->dropout_rng.s;
    /* a folder name with a line break cannot be a line of the blob: not recorded */
    const char *data = o->data_dir && !strchr(o->data_dir, '\n') ? o->data_dir : "";
    int n = snprintf(blob, cap,
                     "state_format=1\nobjective=%s\nseq=%d\nbatch=%d\nlr=%.9g\nrho=%.9g\n"
                     "eps=%.9g\nclip=%.9g\nval_split=%.17g\nseed=%" PRIu64 "\nepoch=%d\n"
                     "batch_done=%ld\nloss_sum=%.17g\nn_predicted=%zu\nn_correct=%zu\n"
                     "best_val=%.17g\ndropout_rng=%016" PRIx64 " %016" PRIx64 " %016" PRIx64
                      " %016" PRIx64 "\nepochs=%d\nthreads=%d\ndata=%s\ntranspose=%d..%d\n"
                     "lr_decay=%.9g\n",
                     cn_objective_name(o->objective), o->seq, o->batch, (double)o->lr,
                     (double)o->rho, (double)o->eps, (double)o->clip, o->val_split, o->seed,
                     r->epoch, r->batch_done, r->loss_sum, r->n_predicted, r->n_correct,
                     r->best_val, s[0], s[1], s[2], s[3], o->epochs, o->n_threads, data,
                     o->transpose_lo, o->transpose_hi, (double)o->lr_decay);
    return n > 0 && (size_t)n < cap ? n : -1;
}

/* Writes the checkpoint (rank 0), with carry (n_carry values) when given. */
static int write_checkpoint(Run *r, const float *carry, size_t n_carry, CnError *err)
{
    char blob[8192];
    int n_blob = state_blob(r, blob, sizeof blob);
    if (n_blob < 0)
        return cn_fail(err, "training state too long");
    r->model->info.seconds = r->seconds_before + (now_seconds() - r->started);
    CnTrainState ts = {.moments = r->moments, .blob = (uint8_t *)blob, .n_blob = (size_t)n_blob,
                       .carry = (float *)carry, .n_carry = n_carry};
    return cn_model_save(r->model, &ts, r->opt->out_path, err);
}

/* A checkpoint in mid-epoch, on every rank together: with_carry collects every lane's
 * carried state on rank 0 (layer by layer, h then c, lanes in order), which writes. */
static int save_checkpoint(Run *r, int with_carry, CnError *err)
{
    const CnModelConfig *c = &r->model->config;
    size_t B = (size_t)r->opt->batch, H = (size_t)c->n_hidden, n_carry = 0;
    float *carry = NULL;
    int rc = 0;
    if (with_carry) {
        n_carry = 2 * (size_t)c->n_layers * B * H;
        carry = r->is_rank0 ? malloc(n_carry * sizeof(float)) : NULL;
        rc = agree(r, r->is_rank0 && !carry ? cn_fail(err, "out of memory") : 0, err);
        for (int l = 0; l < c->n_layers && rc == 0; l++) {
            float *h = carry ? carry + 2 * (size_t)l * B * H : NULL;
            rc = cn_ranks_gather_rows(r->ranks, r->nb.carry_h[l], h, B, H, err);
            if (rc == 0)
                rc = cn_ranks_gather_rows(r->ranks, r->nb.carry_c[l], h ? h + B * H : NULL, B,
                                          H, err);
        }
    }
    if (rc == 0 && r->is_rank0)
        rc = write_checkpoint(r, carry, n_carry, err);
    free(carry);
    return agree(r, rc, err);
}

static int restore_run(Run *r, const CnTrainState *ts, CnError *err)
{
    const char *b = (const char *)ts->blob, *v;
    if (!ts->moments)
        return cn_fail(err, "the checkpoint lacks its optimizer state; cannot resume exactly");
    memcpy(r->moments, ts->moments, r->model->n_params * sizeof(float));
    long predicted = (long)r->n_predicted, correct = (long)r->n_correct;
    if (cn_state_int(b, "epoch", 0, r->opt->epochs, &r->epoch, err) ||
        cn_state_long(b, "batch_done", 0, LONG_MAX, &r->batch_done, err) ||
        cn_state_real(b, "loss_sum", 0, HUGE_VAL, &r->loss_sum, err) ||
        cn_state_long(b, "n_predicted", 0, LONG_MAX, &predicted, err) ||
        cn_state_long(b, "n_correct", 0, predicted, &correct, err) ||
        cn_state_real(b, "best_val", 0, INFINITY, &r->best_val, err))
        return -1;
    r->n_predicted = (size_t)predicted;
    r->n_correct = (size_t)correct;
    if (!(v = cn_kv_value(b, "dropout_rng")) ||
        sscanf(v, "%" SCNx64 " %" SCNx64 " %" SCNx64 " %" SCNx64, &r->dropout_rng.s[0],
               &r->dropout_rng.s[1], &r->dropout_rng.s[2], &r->dropout_rng.s[3]) != 4)
        return cn_fail(err, "the saved training state is damaged (random state)");
    r->resumed = 1;
    return 0;
}

/* This rank's lanes of the carried state saved in mid-epoch (whatever the ranks then). */
static void restore_carry(Run *r, const CnTrainState *ts)
{
    const CnModelConfig *c = &r->model->config;
    size_t H = (size_t)c->n_hidden, BH = (size_t)r->opt->batch * H;
    size_t mine = (size_t)r->nb.lane_first * H, n_mine = (size_t)r->nb.n_lanes * H;
    net_batch_reset_carry(&r->nb);
    if (!ts->carry || ts->n_carry != 2 * (size_t)c->n_layers * BH)
        return;
    for (int l = 0; l < c->n_layers; l++) {
        const float *h = ts->carry + 2 * (size_t)l * BH, *cell = h + BH;
        memcpy(r->nb.carry_h[l], h + mine, n_mine * sizeof(float));
        memcpy(r->nb.carry_c[l], cell + mine, n_mine * sizeof(float));
    }
}

/* ----- Set-up and the loop ------------------------------------------------------------- */

static int split_songs(Run *r, const CnSongIds *songs, size_t n_songs, CnError *err)
{
    r->train_songs = malloc((n_songs ? n_songs : 1) * sizeof *r->train_songs);
    r->val_songs = malloc((n_songs ? n_songs : 1) * sizeof *r->val_songs);
    if (!r->train_songs || !r->val_songs)
        return cn_fail(err, "out of memory");
    for (size_t i = 0; i < n_songs; i++) {
        if (cn_corpus_is_validation(i, n_songs, r->opt->val_split))
            r->val_songs[r->n_val++] = songs[i];
        else
            r->train_songs[r->n_train++] = songs[i];
    }
    size_t n_tokens = 0;
    for (size_t i = 0; i < r->n_train; i++)
        n_tokens += r->train_songs[i].n;
    if (n_tokens < 2 || (r->opt->objective == CN_OBJECTIVE_LAST && n_tokens <= (size_t)r->opt->seq))
        return cn_fail(err, "the training songs hold %zu tokens: too few for %s", n_tokens,
                       r->opt->objective == CN_OBJECTIVE_LAST ? "one window" : "training");
    return 0;
}

static int check_options(const CnTrainOptions *o, const CnModel *m, const CnSongIds *songs,
                         size_t n_songs, CnError *err)
{
    if (o->seq < 1 || o->seq > 100000 || o->batch < 1 || o->batch > 100000)
        return cn_fail(err, "sequence length and batch must be 1..100000");
    if (!(o->lr > 0) || !(o->rho >= 0 && o->rho < 1) || !(o->eps > 0) || !(o->clip >= 0))
        return cn_fail(err, "learning rate and epsilon must be positive, rho in [0, 1)");
    if (!(o->lr_decay >= 0.01f && o->lr_decay <= 1))
        return cn_fail(err, "the learning rate's decay per epoch must be from 0.01 to 1");
    if (!(o->val_split >= 0 && o->val_split < 1))
        return cn_fail(err, "validation split must be at least 0 and below 1");
    if (!o->out_path)
        return cn_fail(err, "no output path for checkpoints");
    for (size_t s = 0; s < n_songs; s++)
        for (size_t i = 0; i < songs[s].n; i++)
            if (songs[s].ids[i] >= m->config.n_vocab)
                return cn_fail(err, "song %zu has token id %u outside the vocabulary", s,
                               songs[s].ids[i]);
    return 0;
}


static void run_free(Run *r)
{
    free(r->transposer.map);
    net_batch_free(&r->nb);
    free(r->grad_buf);
    free(r->moments);
    free(r->train_songs);
    free(r->val_songs);
    cn_lane_plan_free(&r->lanes);
    cn_window_plan_free(&r->windows);
}

static int run_init(Run *r, CnModel *model, const CnTrainState *resume, const CnSongIds *songs,
                    size_t n_songs, const CnTrainOptions *opt, CnError *err)
{
    memset(r, 0, sizeof *r);
    r->model = model;
    r->opt = opt;
    r->ranks = opt->ranks;
    r->is_rank0 = !opt->ranks || opt->ranks->rank == 0;
    r->best_val = INFINITY;
    r->started = now_seconds();
    r->seconds_before = isfinite(model->info.seconds) ? model->info.seconds : 0;
    if (check_options(opt, model, songs, n_songs, err) || split_songs(r, songs, n_songs, err))
        return -1;
    size_t lane_first = 0, n_lanes = (size_t)opt->batch;
    if (opt->ranks) {
        cn_ranks_share((size_t)opt->batch, opt->ranks->rank, opt->ranks->n_ranks, &lane_first,
                       &n_lanes);
        if (opt->batch < opt->ranks->n_ranks) /* said alike on every rank */
            return cn_fail(err, "%d ranks share a batch of %d %s: give --batch %d or more, or "
                                "fewer ranks", opt->ranks->n_ranks, opt->batch,
                           opt->objective == CN_OBJECTIVE_ALL ? "streams" : "windows",
                           opt->ranks->n_ranks);
    }
    r->grad_buf = aligned_alloc(64, model->n_params * sizeof(float));
    r->moments = aligned_alloc(64, model->n_params * sizeof(float));
    if (!r->grad_buf || !r->moments)
        return cn_fail(err, "out of memory for the gradients");
    memset(r->moments, 0, model->n_params * sizeof(float));
    cn_params_views(&model->config, r->grad_buf, &r->grad);
    if (net_batch_init(&r->nb, &model->config, (int)n_lanes, opt->seq,
                       opt->objective == CN_OBJECTIVE_LAST, err))
        return -1;
    r->nb.lane_first = (int)lane_first;
    r->nb.n_lanes_total = opt->batch;
    if (opt->objective == CN_OBJECTIVE_LAST &&
        cn_window_plan_make(&r->windows, r->train_songs, r->n_train, opt->seq, opt->batch, err))
                            return -1;
    if (cn_transposer_init(&r->transposer, model, opt, err))
        return -1;
    cn_rng_seed(&r->dropout_rng, opt->seed + 0x6a09e667f3bcc909ull);
    if (resume && resume->blob && restore_run(r, resume, err))
        return -1;
    snprintf(model->info.objective, sizeof model->info.objective, "%s",
             cn_objective_name(opt->objective));
    model->info.seq = opt->seq;
    return 0;
}

static void report(Run *r, long batch, long n_batches, double epoch_started, double val_loss,
                   double val_accuracy, int epoch_done, int improved, CnTrainProgressFn fn,
                   void *user)
{
    if (!fn || !r->is_rank0)
        return;
    double elapsed = now_seconds() - epoch_started;
    CnTrainProgress p = {.epoch = r->epoch + 1, .n_epochs = r->opt->epochs, .batch = batch,
                         .n_batches = n_batches, .val_loss = val_loss,
                         .val_accuracy = val_accuracy, .epoch_done = epoch_done,
                         .improved = improved};
    p.train_loss = r->n_predicted ? r->loss_sum / (double)r->n_predicted : NAN;
    p.train_accuracy = r->n_predicted ? (double)r->n_correct / (double)r->n_predicted : NAN;
    p.items_per_second = elapsed > 0 ? (double)r->epoch_items / elapsed : 0;
    double per_batch = r->epoch_batches > 0 ? elapsed / (double)r->epoch_batches : 0;
    long remaining = (n_batches - batch) + (long)(r->opt->epochs - r->epoch - 1) * n_batches;
    p.eta_seconds = per_batch * (double)(remaining > 0 ? remaining : 0);
    fn(&p, user);
}

/* Copies the log so far into f (a log is a line per epoch: small); *copied counts bytes. */
static int copy_log(const char *path, FILE *f, size_t *copied, CnError *err)
{
    *copied = 0;
    FILE *old = fopen(path, "r");
    if (!old)
        return errno == ENOENT ? 0 : cn_fail(err, "cannot read the log %s: %s", path,
                                             strerror(errno));
    char buffer[8192];
    for (size_t got; (got = fread(buffer, 1, sizeof buffer, old)) > 0; *copied += got)
        fwrite(buffer, 1, got, f);
    int failed = ferror(old);
    fclose(old);
    return failed ? cn_fail(err, "cannot read the log %s", path) : 0;
}

/* The log gains a line; it is rewritten whole (continuo/files.h), so a full disk or a
 * kill leaves the last complete one. */
static int append_csv(const Run *r, double train_loss, double train_acc, double val_loss,
                      double val_acc, double items_per_second, CnError *err)
{
    if (!r->opt->csv_path)
        return 0;
    int fresh = r->epoch == 1 && !r->resumed;
    CnOutFile out;
    FILE *f = cn_outfile_fopen(&out, r->opt->csv_path, err);
    if (!f)
        return -1;
    size_t copied = 0;
    if (!fresh && copy_log(r->opt->csv_path, f, &copied, err)) {
        fclose(f);
        cn_outfile_abort(&out);
        return -1;
    }
    if (copied == 0) /* a fresh run, or one stopped and resumed before its first line */
        fprintf(f, "epoch,train_loss,train_accuracy,val_loss,val_accuracy,%s_per_second,"
                   "seconds\n", r->opt->objective == CN_OBJECTIVE_LAST ? "windows" : "tokens");
    fprintf(f, "%d,%.6f,%.6f,%.6f,%.6f,%.1f,%.1f\n", r->epoch, train_loss, train_acc, val_loss,
            val_acc, items_per_second, r->model->info.seconds);
    return cn_outfile_fclose(f, &out, err);
}

/* Validation, model info, checkpoint, best copy and log at the end of an epoch. */
static int finish_epoch(Run *r, double epoch_started, CnTrainProgressFn progress, void *user,
                        CnError *err)
{
    double elapsed = now_seconds() - epoch_started;
    double items_per_second = elapsed > 0 ? (double)r->epoch_items / elapsed : 0;
    double val_loss = NAN, val_acc = NAN;
    int rc = r->is_rank0 ? validate(r, &val_loss, &val_acc, err) : 0;
    double train_loss = r->n_predicted ? r->loss_sum / (double)r->n_predicted : NAN;
    double train_acc = r->n_predicted ? (double)r->n_correct / (double)r->n_predicted : NAN;
    long n_batches = batches_in_epoch(r);
    r->epoch++;
    r->batch_done = 0;
    r->loss_sum = 0;
    r->n_predicted = r->n_correct = 0;
    CnTrainInfo *info = &r->model->info;
    info->epochs = r->epoch;
    info->train_loss = train_loss;
    info->val_loss = val_loss;
    info->val_accuracy = val_acc;
    int improved = !isnan(val_loss) && val_loss < r->best_val;
    if (improved)
        r->best_val = val_loss;
    if (rc == 0 && r->is_rank0)
        rc = write_checkpoint(r, NULL, 0, err);
    if (rc == 0 && r->is_rank0 && r->opt->best_path && (improved || isnan(val_loss)))
        rc = cn_model_save(r->model, NULL, r->opt->best_path, err);
    if (rc == 0 && r->is_rank0)
        rc = append_csv(r, train_loss, train_acc, val_loss, val_acc, items_per_second, err);
    if (agree(r, rc, err))
        return -1;
    if (progress && r->is_rank0) {
        CnTrainProgress p = {.epoch = r->epoch, .n_epochs = r->opt->epochs,
                             .batch = n_batches, .n_batches = n_batches,
                             .train_loss = train_loss, .train_accuracy = train_acc,
                             .val_loss = val_loss, .val_accuracy = val_acc,
                             .items_per_second = items_per_second, .epoch_done = 1,
                             .improved = improved};
        p.eta_seconds = elapsed * (double)(r->opt->epochs - r->epoch);
        progress(&p, user);
    }
    return 0;
}

/* ----- Ranks that must agree ----------------------------------------------------------- */

/* What the ranks compare before the first batch: checksums (continuing CRC-32, as the
 * weights file's) of what each was given. */
static uint64_t digest(uint64_t crc, const void *bytes, size_t n)
{
    return cn_crc32((uint32_t)crc, bytes, n);
}

static uint64_t options_digest(const CnTrainOptions *o, const CnModelConfig *c)
{
    int ints[] = {(int)o->objective, o->seq, o->batch, o->epochs, o->transpose_lo,
                  o->transpose_hi, c->n_vocab, c->n_embed, c->n_layers, c->n_hidden, c->n_dense};
    float floats[] = {o->lr, o->lr_decay, o->rho, o->eps, o->clip, c->dropout};
    uint64_t h = digest(0, ints, sizeof ints);
    h = digest(h, floats, sizeof floats);
    h = digest(h, &o->val_split, sizeof o->val_split);
    h = digest(h, &o->seed, sizeof o->seed);
    return digest(h, &o->stop_after_batches, sizeof o->stop_after_batches);
}

static uint64_t songs_digest(const CnModel *m, const CnSongIds *songs, size_t n_songs)
{
    uint64_t h = 0;
    for (size_t i = 0; i < m->vocab.n; i++) {
        char name[CN_TOKEN_NAME_MAX];
        cn_token_name(m->vocab.tokens[i], name);
        h = digest(h, name, strlen(name) + 1);
    }
    for (size_t s = 0; s < n_songs; s++) {
        h = digest(h, &songs[s].n, sizeof songs[s].n);
        h = digest(h, songs[s].ids, songs[s].n * sizeof *songs[s].ids);
    }
    return h;
}

static uint64_t start_digest(const Run *r)
{
    uint64_t h = digest(0, r->model->params, r->model->n_params * sizeof(float));
    h = digest(h, r->moments, r->model->n_params * sizeof(float));
    h = digest(h, &r->epoch, sizeof r->epoch);
    h = digest(h, &r->batch_done, sizeof r->batch_done);
    return digest(h, r->dropout_rng.s, sizeof r->dropout_rng.s);
}

/* Ranks started differently would train different models while summing each other's
 * gradients: refused before the first batch, with the reason on rank 0. */
static int check_ranks_agree(const Run *r, const CnSongIds *songs, size_t n_songs,
                             CnError *err)
{
    if (!r->ranks || r->ranks->n_ranks < 2)
        return 0;
    const char *version = CONTINUO_VERSION;
    struct {
        uint64_t value;
        const char *problem;
    } checks[] = {
        {digest(0, version, strlen(version)),
         "run different versions of continuo: every machine needs the same build"},
        {options_digest(r->opt, &r->model->config),
         "were given different training options: start every rank with the same command"},
        {songs_digest(r->model, songs, n_songs),
         "read different songs: every rank needs the same data folder, file for file"},
        {start_digest(r),
         "start from different weights or training states: every rank needs the same "
         "--resume checkpoint"},
    };
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        int same;
        if (cn_ranks_same(r->ranks, checks[i].value, &same, err))
            return -1;
        if (!same)
            return r->is_rank0 ? cn_fail(err, "the %d ranks %s", r->ranks->n_ranks,
                                         checks[i].problem)
                               : cn_fail(err, "%s", "");
    }
    return 0;
}

/* ----- The loop -------------------------------------------------------------------------- */

int cn_train(CnModel *model, const CnTrainState *resume, const CnSongIds *songs,
             size_t n_songs, const CnTrainOptions *options, CnTrainProgressFn progress,
             void *user, volatile sig_atomic_t *stop, CnError *err)
{
    Run r;
    int rc = agree(&r, run_init(&r, model, resume, songs, n_songs, options, err), err);
    if (rc == 0)
        rc = check_ranks_agree(&r, songs, n_songs, err);
    int resumed_mid_epoch = rc == 0 && r.batch_done > 0;
    while (rc == 0 && r.epoch < options->epochs) {
        if ((rc = plan_epoch(&r, err)) != 0)
            break;
        if (resumed_mid_epoch && resume)
            restore_carry(&r, resume);
        else
            net_batch_reset_carry(&r.nb);
        resumed_mid_epoch = 0;
        double epoch_started = now_seconds();
        r.epoch_items = 0;
        r.epoch_batches = 0;
        long n_batches = batches_in_epoch(&r);
        if (r.batch_done >= n_batches && r.batch_done > 0) {
            rc = cn_fail(err, "the saved training state is damaged: batch_done=%ld, but an "
                              "epoch has %ld batches", r.batch_done, n_batches);
            break;
        }
        for (long k = r.batch_done; k < n_batches; k++) {
            int last = options->stop_after_batches > 0 &&
                       r.total_batches + 1 == options->stop_after_batches;
            size_t n_predicted;
            int stop_now;
            if ((rc = train_batch(&r, k, stop, last, &n_predicted, &stop_now, err)) != 0)
                break;
            r.batch_done = k + 1;
            r.epoch_items += n_predicted;
            r.epoch_batches++;
            r.total_batches++;
            report(&r, k + 1, n_batches, epoch_started, NAN, NAN, 0, 0, progress, user);
            if (stop_now) {
                rc = save_checkpoint(&r, options->objective == CN_OBJECTIVE_ALL, err);
                if (rc == 0)
                    rc = 1;
                break;
            }
        }
        if (rc == 0)
            rc = finish_epoch(&r, epoch_started, progress, user, err);
    }
    run_free(&r);
    return rc;
}
