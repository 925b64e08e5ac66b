/* continuo train: reads a folder of MIDI files, trains the LSTM, checkpoints every epoch,
 * stops cleanly on Ctrl-C or SIGTERM and resumes exactly with --resume. */
#include <cblas.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "continuo/corpus.h"
#include "continuo/files.h"
#include "continuo/model.h"
#include "continuo/ranks.h"
#include "continuo/svg.h"
#include "continuo/train.h"

static volatile sig_atomic_t stop_requested = 0;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

#define DEFAULT_SCHEME CN_SCHEME_TIMED
#define DEFAULT_SCHEME_NAME "timed"
/* Timed models learn much better moved through all twelve keys (docs/PERFORMANCE.md); an
 * original model's vocabulary of chords grows twelvefold with it, and it learns worse. */
#define TIMED_TRANSPOSE_LO -5
#define TIMED_TRANSPOSE_HI 6

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: continuo train [OPTION]...\n"
            "Learn the MIDI files of a folder with a stacked LSTM; write a checkpoint after\n"
            "every epoch. Ctrl-C finishes the batch, saves and stops; --resume goes on.\n"
            "Under mpirun (mpirun -np N continuo train ...) the ranks share every batch\n"
            "and train one model; rank 0 prints and writes.\n\n"
            "  -d, --data DIR        folder of .mid files (default: midi_songs/piano-midi)\n"
            "  -o, --out FILE        checkpoint to write (default: weights/model.cnw); locked\n"
            "                        while written (FILE.lock): a second run on it is refused\n"
            "      --tokens SCHEME   'timed' (notes with their onsets, lengths and\n"
            "                        velocities, docs/TOKENS.md) or 'original' (a note or\n"
            "                        chord an eighth, the Keras project's) (" DEFAULT_SCHEME_NAME ")\n"
            "      --preset NAME     'default' or 'original' (the Keras project exactly:\n"
            "                        original tokens, scalar input, objective last, 200\n"
            "                        epochs, no validation)\n"
            "      --transpose LO..HI  each epoch, move every training song by an interval\n"
            "                        drawn from LO..HI semitones (-12..12; 0..0 = never;\n"
            "                        default: -5..6, all twelve keys, for timed tokens,\n"
            "                        never for original ones); keys pushed off the\n"
            "                        keyboard go an octave back\n"
            "      --objective OBJ   'all' (next token at every position, state carried;\n"
            "                        default) or 'last' (each window predicts one token)\n"
            "      --layers N        LSTM layers (2; original 3)\n"
            "      --hidden N        units per LSTM layer (256; original 512)\n"
            "      --dense N         width of the dense layer, 0 for none (128; original 256)\n"
            "      --embed N         learned embedding width, 0 = scalar input (default 32;\n"
            "                        original 0)\n"
            "      --dropout P       dropout rate while training (0.3)\n"
            "      --seq N           chunk or window length in tokens (50; original 100)\n"
            "      --batch N         streams or windows per batch (16; original 64)\n"
            "      --lr X            RMSprop learning rate (0.001)\n"
            "      --lr-decay F      multiply the learning rate by F (0.01..1) after every\n"
            "                        epoch (1: constant)\n"
            "      --clip X          clip the gradient norm to X, 0 = never (0)\n"
            "      --epochs N        train until N epochs are done (200)\n"
            "      --val-split X     share of songs held out for validation (0.1)\n"
            "      --seed N          data order, initialization and dropout (1)\n"
            "      --threads N       BLAS threads (default: all cores)\n"
            "      --resume          continue the checkpoint at --out with its own settings\n"
            "      --init FILE       start from the weights of FILE (its network and\n"
            "                        vocabulary) instead of random ones: a new run with\n"
            "                        this command's training settings, to train on with\n"
            "                        another recipe (longer chunks, a lower rate)\n"
            "      --log FILE        per-epoch CSV (default: the checkpoint's name + .csv)\n"
            "      --best FILE       best-by-validation copy (default: NAME.best.cnw)\n"
            "  -q, --quiet           print nothing but errors\n"
            "  -h, --help            show this help\n");
}

enum {
    OPT_PRESET = 256, OPT_OBJECTIVE, OPT_LAYERS, OPT_HIDDEN, OPT_DENSE, OPT_EMBED, OPT_DROPOUT,
    OPT_SEQ, OPT_BATCH, OPT_LR, OPT_CLIP, OPT_EPOCHS, OPT_VAL, OPT_SEED, OPT_THREADS,
    OPT_RESUME, OPT_LOG, OPT_BEST, OPT_STOP_AFTER, OPT_TOKENS, OPT_TRANSPOSE, OPT_LR_DECAY,
    OPT_INIT,
};

typedef struct {
    const char *data_dir, *out_path, *log_path, *best_path;
    const char *init_path;  /* --init: the weights to start from */
    CnModelConfig config;
    CnScheme scheme;
    CnTrainOptions train;
    int threads, resume, quiet, epochs_given, threads_given, data_given, transpose_given;
    int dropout_given;
    char resumed_data[4096];
    int settings_given; /* options --resume must not contradict */
    int network_given;  /* options that shape a fresh network (not with --init) */
    char derived_log[4096], derived_best[4096], derived_svg[4096];
} TrainArgs;

static int parse_args(int argc, char **argv, TrainArgs *a)
{
    static const struct option options[] = {
        {"data", required_argument, 0, 'd'},       {"out", required_argument, 0, 'o'},
        {"output", required_argument, 0, 'o'},
        {"preset", required_argument, 0, OPT_PRESET},
        {"tokens", required_argument, 0, OPT_TOKENS},
        {"transpose", required_argument, 0, OPT_TRANSPOSE},
        {"objective", required_argument, 0, OPT_OBJECTIVE},
        {"layers", required_argument, 0, OPT_LAYERS},
        {"hidden", required_argument, 0, OPT_HIDDEN},
        {"dense", required_argument, 0, OPT_DENSE}, {"embed", required_argument, 0, OPT_EMBED},
        {"dropout", required_argument, 0, OPT_DROPOUT},
        {"seq", required_argument, 0, OPT_SEQ},     {"batch", required_argument, 0, OPT_BATCH},
        {"lr", required_argument, 0, OPT_LR},       {"clip", required_argument, 0, OPT_CLIP},
        {"lr-decay", required_argument, 0, OPT_LR_DECAY},
        {"init", required_argument, 0, OPT_INIT},
        {"epochs", required_argument, 0, OPT_EPOCHS},
        {"val-split", required_argument, 0, OPT_VAL},
        {"seed", required_argument, 0, OPT_SEED},
        {"threads", required_argument, 0, OPT_THREADS},
        {"resume", no_argument, 0, OPT_RESUME},    {"log", required_argument, 0, OPT_LOG},
        {"best", required_argument, 0, OPT_BEST},
        {"stop-after-batches", required_argument, 0, OPT_STOP_AFTER}, /* for tests */
        {"quiet", no_argument, 0, 'q'},            {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    a->data_dir = "midi_songs/piano-midi";
    a->out_path = "weights/model.cnw";
    a->config = cn_model_default_config(0); /* the vocabulary comes from the corpus */
    a->train = cn_train_options_default();
    a->scheme = DEFAULT_SCHEME;
    int c;
    long v;
    double x;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:o:qh", options, NULL)) != -1) {
        int setting = 1;
        switch (c) {
        case 'd': a->data_dir = optarg; a->data_given = 1; setting = 0; break;
        case 'o': a->out_path = optarg; setting = 0; break;
        case 'q': a->quiet = 1; setting = 0; break;
        case 'h': usage(stdout); return 1;
        case OPT_PRESET:
            if (strcmp(optarg, "original") == 0) {
                a->train = cn_train_options_original(); /* (without transposition) */
                a->config = cn_model_original_config(0);
                a->scheme = CN_SCHEME_ORIGINAL;
            } else if (strcmp(optarg, "default") != 0) {
                return cli_error(2, "--preset is 'default' or 'original', not '%s'", optarg) ? -1 : -1;
            }
            break;
        case OPT_TRANSPOSE: {
            int lo, hi, used = 0;
            if (sscanf(optarg, "%d..%d%n", &lo, &hi, &used) != 2 || optarg[used] != '\0' ||
                lo < -12 || hi > 12 || lo > hi)
                return cli_error(2, "--transpose takes LO..HI, semitones from -12 to 12, low "
                                    "first (like -5..6), not '%s'", optarg) ? -1 : -1;
            a->train.transpose_lo = lo;
            a->train.transpose_hi = hi;
            a->transpose_given = 1;
            break;
        }
        case OPT_TOKENS: {
            CnError err = {{0}};
            if (cn_scheme_parse(optarg, &a->scheme, &err))
                return cli_error(2, "--tokens: %s", err.message) ? -1 : -1;
            break;
        }
        case OPT_OBJECTIVE:
            if (strcmp(optarg, "all") == 0)
                a->train.objective = CN_OBJECTIVE_ALL;
            else if (strcmp(optarg, "last") == 0)
                a->train.objective = CN_OBJECTIVE_LAST;
            else
                return cli_error(2, "--objective is 'all' or 'last', not '%s'", optarg) ? -1 : -1;
            break;
#define LONG_OPT(code, name, lo, hi, field)                                               \
        case code:                                                                        \
            if (cli_parse_long(name, optarg, lo, hi, &v))                                 \
                return -1;                                                                \
            field = (int)v;                                                               \
            a->network_given |= code == OPT_LAYERS || code == OPT_HIDDEN ||               \
                                code == OPT_DENSE || code == OPT_EMBED;                   \
            break;
        LONG_OPT(OPT_LAYERS, "--layers", 1, CN_MAX_LAYERS, a->config.n_layers)
        LONG_OPT(OPT_HIDDEN, "--hidden", 1, CN_MAX_HIDDEN, a->config.n_hidden)
        LONG_OPT(OPT_DENSE, "--dense", 0, CN_MAX_HIDDEN, a->config.n_dense)
        LONG_OPT(OPT_EMBED, "--embed", 0, CN_MAX_HIDDEN, a->config.n_embed)
        LONG_OPT(OPT_SEQ, "--seq", 1, 100000, a->train.seq)
        LONG_OPT(OPT_BATCH, "--batch", 1, 100000, a->train.batch)
#undef LONG_OPT
        case OPT_THREADS:
            if (cli_parse_long("--threads", optarg, 1, 1024, &v))
                return -1;
            a->threads = (int)v;
            a->threads_given = 1;
            setting = 0;
            break;
        case OPT_EPOCHS:
            if (cli_parse_long("--epochs", optarg, 1, 1000000, &v))
                return -1;
            a->train.epochs = (int)v;
            a->epochs_given = 1;
            setting = 0;
            break;
        case OPT_SEED:
            if (cli_parse_long("--seed", optarg, 0, 2147483647L, &v))
                return -1;
            a->train.seed = (uint64_t)v;
            break;
        case OPT_STOP_AFTER:
            if (cli_parse_long("--stop-after-batches", optarg, 1, 1000000000L, &v))
                return -1;
            a->train.stop_after_batches = v;
            setting = 0;
            break;
        case OPT_DROPOUT:
            if (cli_parse_double("--dropout", optarg, 0, 0.95, &x))
                return -1;
            a->config.dropout = (float)x;
            a->dropout_given = 1;
            break;
        case OPT_LR:
            if (cli_parse_double("--lr", optarg, 1e-9, 10, &x))
                return -1;
            a->train.lr = (float)x;
            break;
        case OPT_LR_DECAY:
            if (cli_parse_double("--lr-decay", optarg, 0.01, 1, &x))
                return -1;
            a->train.lr_decay = (float)x;
            break;
        case OPT_INIT: a->init_path = optarg; setting = 0; break;
        case OPT_CLIP:
            if (cli_parse_double("--clip", optarg, 0, 1e9, &x))
                return -1;
            a->train.clip = (float)x;
            break;
        case OPT_VAL:
            if (cli_parse_double("--val-split", optarg, 0, 0.9, &x))
                return -1;
            a->train.val_split = x;
            break;
        case OPT_RESUME: a->resume = 1; setting = 0; break;
        case OPT_LOG: a->log_path = optarg; setting = 0; break;
        case OPT_BEST: a->best_path = optarg; setting = 0; break;
        default: usage(stderr); return -1;
        }
        a->settings_given |= setting;
    }
    if (optind != argc) {
        cli_error(2, "unexpected argument '%s'", argv[optind]);
        return -1;
    }
    if (!a->transpose_given && a->scheme == CN_SCHEME_TIMED) {
        a->train.transpose_lo = TIMED_TRANSPOSE_LO;
        a->train.transpose_hi = TIMED_TRANSPOSE_HI;
    }
    return 0;
}

/* NAME.cnw -> NAME + suffix */
static void derive_path(char *dst, size_t cap, const char *path, const char *suffix)
{
    size_t len = strlen(path);
    if (len > 4 && strcmp(path + len - 4, ".cnw") == 0)
        len -= 4;
    snprintf(dst, cap, "%.*s%s", (int)len, path, suffix);
}

static void format_duration(char *buf, size_t cap, double seconds)
{
    if (!(seconds >= 0) || seconds > 1e8)
        snprintf(buf, cap, "?");
    else if (seconds >= 3600)
        snprintf(buf, cap, "%dh%02dm", (int)(seconds / 3600), (int)fmod(seconds / 60, 60));
    else
        snprintf(buf, cap, "%dm%02ds", (int)(seconds / 60), (int)fmod(seconds, 60));
}

typedef struct {
    int tty, quiet;
    const char *unit;
    const char *csv_path, *svg_path, *title;
} ProgressView;

/* The loss curves, redrawn from the CSV log after every epoch. */
static void draw_losses(const ProgressView *view)
{
    CnLossPoint *points;
    size_t n;
    CnError err = {{0}};
    if (cn_read_loss_csv(view->csv_path, &points, &n, &err) == 0 && n > 0 &&
        cn_svg_loss_curves(points, n, view->title, view->svg_path, &err) != 0)
        fprintf(stderr, "continuo: warning: %s\n", err.message);
    free(points);
}

static void show_progress(const CnTrainProgress *p, void *user)
{
    const ProgressView *view = user;
    if (p->epoch_done)
        draw_losses(view);
    if (view->quiet)
        return;
    char eta[32];
    format_duration(eta, sizeof eta, p->eta_seconds);
    if (!p->epoch_done) {
        if (!view->tty)
            return; /* nothing per batch unless someone is watching */
        int width = 24, filled = p->n_batches ? (int)(width * p->batch / p->n_batches) : 0;
        char bar[32];
        for (int i = 0; i < width; i++)
            bar[i] = i < filled ? '#' : '.';
        bar[width] = '\0';
        fprintf(stderr, "\r\033[Kepoch %d/%d [%s] %ld/%ld loss %.4f %.0f %s/s ETA %s", p->epoch,
                p->n_epochs, bar, p->batch, p->n_batches, p->train_loss, p->items_per_second,
                view->unit, eta);
        return;
    }
    if (view->tty)
        fprintf(stderr, "\r\033[K");
    printf("epoch %d/%d: train loss %.4f acc %.3f", p->epoch, p->n_epochs, p->train_loss,
           p->train_accuracy);
    if (!isnan(p->val_loss))
        printf(", val loss %.4f acc %.3f%s", p->val_loss, p->val_accuracy,
               p->improved ? " (best)" : "");
    printf(", %.0f %s/s, ETA %s\n", p->items_per_second, view->unit, eta);
    fflush(stdout);
}

/* The first line of DIR/NOTICE, when the folder has one: what the music is and its licence,
 * which a model trained on it carries (kept in the model, shown by info). */
static void read_notice(const char *dir, char *notice, size_t size)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/NOTICE", dir);
    CnError ignored;
    FILE *f = cn_fopen_regular(path, &ignored);
    if (!f)
        return;
    if (fgets(notice, (int)size, f))
        notice[strcspn(notice, "\r\n")] = '\0';
    fclose(f);
}

/* Loads the corpus and maps it onto the vocabulary (built here for a fresh model). */
static int load_data(const TrainArgs *a, CnCorpus *corpus, CnVocab *fresh_vocab,
                     const CnVocab *vocab, CnSongIds **songs, uint16_t **storage)
{
    CnError err = {{0}};
    if (cn_corpus_load(a->data_dir, vocab ? vocab->scheme : a->scheme, corpus, &err))
        return cli_error(1, "%s", err.message);
    for (size_t i = 0; i < corpus->n_skipped; i++)
        fprintf(stderr, "continuo: skipped %s: %s\n", corpus->skipped[i].name,
                corpus->skipped[i].reason);
    if (corpus->n_songs == 0)
        return cli_error(1, "no readable MIDI file with notes in %s", a->data_dir);
    if (!vocab) {
        if (cn_corpus_vocab_transposed(corpus, a->train.transpose_lo, a->train.transpose_hi,
                                       fresh_vocab, &err))
            return cli_error(1, "%s", err.message);
        if (fresh_vocab->n < 2)
            return cli_error(1, "the music in %s has a single distinct token (%s): a model "
                                "learns to choose between at least two", a->data_dir,
                             fresh_vocab->n ? fresh_vocab->names[0] : "none");
        vocab = fresh_vocab;
    }
    size_t n_mapped;
    if (cn_corpus_to_ids(corpus, vocab, songs, storage, &n_mapped, &err))
        return cli_error(1, "%s", err.message);
    if (n_mapped && !a->quiet)
        fprintf(stderr, "continuo: %zu tokens the checkpoint's vocabulary lacks were mapped to "
                        "the nearest it has\n", n_mapped);
    return 0;
}

/* The training songs, concatenated, stay in the model for 'generate --prime random'. */
static int remember_corpus(CnModel *m, const CnSongIds *songs, size_t n, double val_split)
{
    size_t total = 0, n_train = 0;
    for (size_t i = 0; i < n; i++)
        if (!cn_corpus_is_validation(i, n, val_split))
            total += songs[i].n, n_train++;
    uint16_t *ids = malloc((total ? total : 1) * sizeof *ids);
    uint32_t *starts = malloc((n_train ? n_train : 1) * sizeof *starts);
    CnError err = {{0}};
    int rc = (ids && starts) ? 0 : cli_error(1, "out of memory");
    size_t at = 0, k = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (cn_corpus_is_validation(i, n, val_split))
            continue;
        starts[k++] = (uint32_t)at;
        memcpy(ids + at, songs[i].ids, songs[i].n * sizeof *ids);
        at += songs[i].n;
    }
    if (rc == 0 && cn_model_set_corpus(m, ids, total, starts, n_train, &err))
        rc = cli_error(1, "%s", err.message);
    free(ids);
    free(starts);
    return rc;
}

/* --init: a new run from trained weights, on their vocabulary, with this command's
 * training settings (the dropout too, when given). */
static int start_from(TrainArgs *a, CnModel *model, CnCorpus *corpus, CnSongIds **songs,
                      uint16_t **storage)
{
    CnError err = {{0}};
    if (a->network_given)
        return cli_error(2, "--init %s brings its own network: give no --layers, --hidden, "
                            "--dense or --embed with it", a->init_path);
    if (cn_model_load(model, a->init_path, 1, NULL, &err))
        return cli_error(1, "cannot start from --init %s: %s", a->init_path, err.message);
    if (model->vocab.scheme != a->scheme)
        return cli_error(2, "--init %s is a model of %s tokens: give --tokens %s", a->init_path,
                         cn_scheme_name(model->vocab.scheme), cn_scheme_name(model->vocab.scheme));
    if (a->dropout_given)
        model->config.dropout = a->config.dropout;
    model->info.epochs = 0;
    if (load_data(a, corpus, NULL, &model->vocab, songs, storage))
        return 1;
    return remember_corpus(model, *songs, corpus->n_songs, a->train.val_split);
}

static int prepare_model(TrainArgs *a, CnModel *model, CnTrainState *state, CnCorpus *corpus,
                         CnVocab *vocab, CnSongIds **songs, uint16_t **storage)
{
    CnError err = {{0}};
    if (!a->resume && (cn_model_file_is_foreign(a->out_path, &err) ||
                       cn_model_file_is_foreign(a->train.best_path, &err)))
        return cli_error(2, "%s: not overwriting it (choose another --out)", err.message);
    if (a->resume && a->init_path)
        return cli_error(2, "--resume goes on with the checkpoint at --out; --init starts a "
                            "new run from other weights: give one of them");
    if (a->resume) {
        if (a->settings_given)
            return cli_error(2, "--resume goes on with the checkpoint's own network and "
                                "training settings; give only --epochs, --threads, --data "
                                "and paths");
        if (cn_model_load(model, a->out_path, 1, state, &err))
            return cli_error(1, "cannot resume: %s", err.message);
        int epochs = a->train.epochs;
        a->train.n_threads = 0;
        if (cn_train_options_from_state(state, &a->train, &err))
            return cli_error(1, "cannot resume %s: %s", a->out_path, err.message);
        /* the run goes on as it started, unless told otherwise (older files recorded
           neither epochs, threads nor folder: 200 epochs, all cores, the default folder) */
        if (a->epochs_given || a->train.epochs < 1)
            a->train.epochs = a->epochs_given ? epochs : 200;
        if (!a->threads_given && a->train.n_threads > 0)
            a->threads = a->train.n_threads;
        if (!a->data_given &&
            cn_train_state_data_dir(state, a->resumed_data, sizeof a->resumed_data) == 0)
            a->data_dir = a->resumed_data;
        else if (!a->data_given)
            a->data_dir = "midi_songs"; /* the default when files did not record theirs */
        if (a->train.epochs <= model->info.epochs)
            return cli_error(2, "%s has trained %d epochs of the %d asked: give --epochs N "
                                "above %d to go on", a->out_path, model->info.epochs,
                             a->train.epochs, model->info.epochs);
        return load_data(a, corpus, NULL, &model->vocab, songs, storage);
    }
    if (a->init_path)
        return start_from(a, model, corpus, songs, storage);
    if (load_data(a, corpus, vocab, NULL, songs, storage))
        return 1;
    a->config.n_vocab = (int)vocab->n;
    if (cn_model_init(model, &a->config, vocab, a->train.seed, &err))
        return cli_error(1, "%s", err.message);
    return remember_corpus(model, *songs, corpus->n_songs, a->train.val_split);
}

static void print_start(const TrainArgs *a, const CnModel *m, const CnCorpus *corpus)
{
    const CnModelConfig *c = &m->config;
    char dense[32] = "";
    if (c->n_dense)
        snprintf(dense, sizeof dense, " -> Dense(%d)", c->n_dense);
    printf("%s %zu songs (%zu %s tokens, vocabulary %d) from %s: %s input -> %d x LSTM(%d)%s, "
           "%zu weights; objective %s, seq %d, batch %d, transposed %d..%d, %d threads -> %s\n",
           a->resume ? "resuming on" : "training on", corpus->n_songs,
           cn_corpus_n_tokens(corpus), cn_scheme_name(m->vocab.scheme), c->n_vocab, a->data_dir,
           c->n_embed ? "embedding" : "scalar", c->n_layers, c->n_hidden, dense,
           cn_model_count_weights(c),
           cn_objective_name(a->train.objective), a->train.seq, a->train.batch,
           a->train.transpose_lo, a->train.transpose_hi, a->threads,
           a->out_path);
    if (a->resume)
        printf("from epoch %d of %d\n", m->info.epochs, a->train.epochs);
    if (a->init_path)
        printf("starting from the weights of %s\n", a->init_path);
    if (a->train.lr_decay != 1.0f)
        printf("learning rate %g, times %g after every epoch\n", (double)a->train.lr,
               (double)a->train.lr_decay);
    fflush(stdout);
}

static void say_removed(const char *file, void *user)
{
    (void)user;
    fprintf(stderr, "continuo: removed %s, left by an interrupted checkpoint write\n", file);
}

/* Under mpirun only rank 0 speaks: the others' output goes nowhere, and their own stderr is
 * kept for a failure rank 0 did not share (returned, or -1 alone). */
static int silence_other_ranks(const CnRanks *ranks)
{
    if (ranks->rank == 0)
        return -1;
    int kept = dup(STDERR_FILENO), null = open("/dev/null", O_WRONLY);
    if (null >= 0) {
        fflush(stdout);
        fflush(stderr);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        close(null);
    }
    return kept;
}

/* Every rank learns whether any failed; a rank other than 0 that failed for a reason of
 * its own (message), where rank 0 had none to give, says it on its own stderr. Returns
 * the exit code all ranks give. */
static int ranks_outcome(const CnRanks *ranks, int rc, int kept_stderr, const char *message)
{
    int any, rank0;
    cn_ranks_any_failed(ranks, rc != 0 && message[0], &any, &rank0);
    if (rc && !rank0 && kept_stderr >= 0 && message[0])
        dprintf(kept_stderr, "continuo: rank %d of %d: %s\n", ranks->rank, ranks->n_ranks,
                message);
    return rc ? rc : any ? 1 : 0;
}

static int train_main(const TrainArgs *args, const CnRanks *ranks, int kept_stderr);

int cmd_train(int argc, char **argv)
{
    CnRanks ranks;
    CnError err = {{0}};
    if (cn_ranks_join(&ranks, NULL, NULL, &err))
        return cli_error(1, "%s", err.message);
    int kept_stderr = silence_other_ranks(&ranks);
    TrainArgs a;
    memset(&a, 0, sizeof a);
    int parsed = parse_args(argc, argv, &a);
    int rc = parsed ? (parsed > 0 ? 0 : 2) : train_main(&a, &ranks, kept_stderr);
    if (kept_stderr >= 0)
        close(kept_stderr);
    cn_ranks_leave(&ranks);
    return rc;
}

static int train_main(const TrainArgs *args, const CnRanks *ranks, int kept_stderr)
{
    TrainArgs a = *args;
    derive_path(a.derived_log, sizeof a.derived_log, a.out_path, ".csv");
    derive_path(a.derived_best, sizeof a.derived_best, a.out_path, ".best.cnw");
    derive_path(a.derived_svg, sizeof a.derived_svg, a.out_path, ".svg");
    a.train.out_path = a.out_path;
    a.train.csv_path = a.log_path ? a.log_path : a.derived_log;
    a.train.best_path = a.best_path ? a.best_path : a.derived_best;

    CnModel model = {0};
    CnTrainState state = {0};
    CnCorpus corpus = {0};
    CnVocab vocab = {0};
    CnSongIds *songs = NULL;
    uint16_t *storage = NULL;
    /* two trainers on one checkpoint would overwrite each other's model and interleave
       their logs: the writer (rank 0) holds a lock beside it from before it is read */
    CnLock lock = {.fd = -1};
    CnError lock_err = {{0}};
    int rc = ranks->rank == 0 && cn_lock_take(&lock, a.out_path, &lock_err)
                 ? cli_error(1, "%s", lock_err.message)
                 : prepare_model(&a, &model, &state, &corpus, &vocab, &songs, &storage);
    if (rc == 0)
        read_notice(a.data_dir, model.info.notice, sizeof model.info.notice);
    rc = ranks_outcome(ranks, rc, kept_stderr, cli_last_error);
    if (ranks->n_local > 1 && !a.threads_given) { /* the machine's cores shared among its ranks */
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        a.threads = cores > ranks->n_local ? (int)(cores / ranks->n_local) : 1;
    }
    if (a.threads == 0)
        a.threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    openblas_set_num_threads(a.threads);
    a.train.n_threads = a.threads;
    a.train.data_dir = a.data_dir;
    a.train.ranks = ranks;
    if (rc == 0) {
        CnError ignored; /* an unreadable folder: the first checkpoint will say so */
        if (ranks->rank == 0) {
            cn_model_remove_interrupted_saves(a.train.out_path, say_removed, NULL, &ignored);
            cn_model_remove_interrupted_saves(a.train.best_path, say_removed, NULL, &ignored);
        }
        if (!a.quiet)
            print_start(&a, &model, &corpus);
        struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESETHAND};
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        ProgressView view = {.tty = isatty(STDERR_FILENO), .quiet = a.quiet,
                             .unit = a.train.objective == CN_OBJECTIVE_LAST ? "windows"
                                                                            : "tokens",
                             .csv_path = a.train.csv_path, .svg_path = a.derived_svg,
                             .title = a.out_path};
        CnError err = {{0}};
        int result = cn_train(&model, a.resume ? &state : NULL, songs, corpus.n_songs, &a.train,
                              show_progress, &view, &stop_requested, &err);
        if (view.tty && !a.quiet)
            fprintf(stderr, "\r\033[K");
        if (result < 0 && ranks->rank == 0 && err.message[0])
            cli_error(1, "%s", err.message);
        rc = ranks_outcome(ranks, result < 0, kept_stderr, err.message);
        if (result == 1 && !a.quiet)
            printf("stopped: checkpoint written to %s; 'continuo train --resume%s%s' goes on\n",
                   a.out_path, strcmp(a.out_path, "weights/model.cnw") ? " --out " : "",
                   strcmp(a.out_path, "weights/model.cnw") ? a.out_path : "");
        else if (result == 0 && !a.quiet)
            printf("done: %d epochs, weights in %s, log in %s, loss curves in %s\n",
                   model.info.epochs, a.out_path, a.train.csv_path, a.derived_svg);
    }
    cn_lock_release(&lock);
    free(songs);
    free(storage);
    cn_corpus_free(&corpus);
    cn_vocab_free(&vocab);
    cn_model_free(&model);
    cn_train_state_free(&state);
    return rc;
}
