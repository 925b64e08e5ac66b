/* continuo import-keras: a model trained by the original Keras project (its weights.hdf5
 * and its data/notes) into a continuo weights file that every command plays. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "continuo/files.h"
#include "continuo/keras.h"
#include "continuo/model.h"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: continuo import-keras MODEL.hdf5 (--notes NOTES | --vocab FILE)\n"
            "                             -o OUT.cnw\n"
            "Turn a model the original Keras project trained (the .hdf5 file its\n"
            "ModelCheckpoint wrote, either version of its network) into a continuo model:\n"
            "the vocabulary is rebuilt as its predict.py does, sorted(set(notes)), and the\n"
            "notes become the model's corpus for --prime random and --prime-index.\n\n"
            "      --notes FILE   the corpus pickle the project wrote (data/notes)\n"
            "      --vocab FILE   instead: the vocabulary, one token per line, sorted\n"
            "  -o, --out FILE     the continuo model to write\n"
            "      --time-limit S give up on a file that takes longer than S seconds to\n"
            "                     read (60): a damaged HDF5 file can make the library spin\n"
            "  -h, --help         show this help\n\n"
            "The file is read in a process of its own: a damaged file that crashes or\n"
            "hangs the HDF5 library is refused as damaged (exit 2), and nothing is written.\n"
            "HDF5 keeps no checksum over most of a file's bytes, so some damage reads\n"
            "without a word: compare an imported model's loss (continuo eval) with the\n"
            "original's.\n\n"
            "Then: continuo generate -w OUT.cnw --prime-index N --temperature 0, or\n"
            "continuo jack -w OUT.cnw.\n");
}

/* The vocabulary file: one token per line, in the model's (sorted) order. */
static int read_vocab_file(const char *path, CnVocab *vocab)
{
    CnError err = {{0}};
    FILE *f = cn_fopen_regular(path, &err);
    if (!f)
        return cli_error(2, "%s: %s", path, err.message);
    size_t n = 0, cap = 0;
    char **names = NULL, line[256];
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        size_t len = strcspn(line, "\r\n");
        if (line[len] == '\0' && !feof(f)) {
            rc = cli_error(2, "%s: line %zu is longer than any token", path, n + 1);
            break;
        }
        line[len] = '\0';
        if (len == 0)
            continue;
        if (n == cap) {
            char **grown = realloc(names, (cap = cap ? 2 * cap : 256) * sizeof *names);
            if (!grown) {
                rc = cli_error(1, "out of memory");
                break;
            }
            names = grown;
        }
        if (!(names[n++] = strdup(line)))
            rc = cli_error(1, "out of memory");
    }
    fclose(f);
    if (rc == 0 && cn_vocab_from_names((const char *const *)names, n, vocab, &err))
        rc = cli_error(2, "%s: %s", path, err.message);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (strcmp(names[i], vocab->names[i]) != 0) {
            rc = cli_error(2, "%s: line %zu ('%s') is out of order: the model's vocabulary is "
                              "sorted, as sorted(set(notes)) gives it", path, i + 1, names[i]);
            cn_vocab_free(vocab);
        }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

static int import(const char *model_path, const char *notes_path, const char *vocab_path,
                  const char *out);

#define CHILD_FAILED 10 /* the child exits with this plus its own exit code when it refuses */

/* Runs the import in a child process: a crash or a hang inside libhdf5 on a damaged file
 * (it checks no checksum over most bytes, and some damage sends it astray) becomes a
 * refusal, not a crash of continuo. */
static int contained(const char *model_path, const char *notes_path, const char *vocab_path,
                     const char *out, long seconds)
{
    fflush(stdout);
    fflush(stderr);
    pid_t child = fork();
    if (child < 0)
        return cli_error(1, "cannot start the reading process: %s", strerror(errno));
    if (child == 0) {
        int rc = import(model_path, notes_path, vocab_path, out);
        fflush(stdout);
        fflush(stderr);
        _exit(rc ? CHILD_FAILED + rc : 0); /* any other status is a crash */
    }
    int status = 0;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        pid_t done = waitpid(child, &status, WNOHANG);
        if (done == child)
            break;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (done < 0 || now.tv_sec - start.tv_sec >= seconds) {
            kill(child, SIGKILL);
            waitpid(child, &status, 0);
            CnError ignored;
            cn_model_remove_interrupted_saves(out, NULL, NULL, &ignored);
            return cli_error(2, "%s: damaged HDF5 file: reading it did not finish in %ld s "
                                "(--time-limit); nothing was written", model_path, seconds);
        }
        usleep(10000);
    }
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (code == 0 || code > CHILD_FAILED)
        return code ? code - CHILD_FAILED : 0;
    CnError ignored; /* killed by a signal, or ended by a crash handler (a sanitizer's) */
    cn_model_remove_interrupted_saves(out, NULL, NULL, &ignored);
    return cli_error(2, "%s: damaged HDF5 file: the HDF5 library crashed reading it (%s); "
                        "nothing was written", model_path,
                     WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "a crash handler ended it");
}

int cmd_import_keras(int argc, char **argv)
{
    static const struct option options[] = {
        {"notes", required_argument, 0, 'n'}, {"vocab", required_argument, 0, 'v'},
        {"out", required_argument, 0, 'o'},   {"output", required_argument, 0, 'o'},
        {"help", no_argument, 0, 'h'},
        {"time-limit", required_argument, 0, 't'},
        {0, 0, 0, 0}};
    const char *notes_path = NULL, *vocab_path = NULL, *out = NULL;
    long seconds = 60;
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "o:h", options, NULL)) != -1;) {
        switch (c) {
        case 'n': notes_path = optarg; break;
        case 'v': vocab_path = optarg; break;
        case 'o': out = optarg; break;
        case 't':
            if (cli_parse_long("--time-limit", optarg, 1, 86400, &seconds))
                return 2;
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc - 1 || !out || !notes_path == !vocab_path) {
        usage(stderr);
        return 2;
    }
    const char *model_path = argv[optind];
    CnError err = {{0}};
    if (!cn_keras_available())
        return cli_error(2, "this build of continuo reads no HDF5 files: install libhdf5-dev "
                            "and build it again");
    if (cn_model_file_is_foreign(out, &err))
        return cli_error(2, "%s: not overwriting it (choose another -o)", err.message);
    return contained(model_path, notes_path, vocab_path, out, seconds);
}

static int import(const char *model_path, const char *notes_path, const char *vocab_path,
                  const char *out)
{
    CnError err = {{0}};
    CnStringList notes = {0};
    CnVocab vocab = {0};
    CnModel model = {0};
    CnKerasInfo info;
    int rc = 0;
    if (notes_path) {
        if (cn_pickle_load_strings(notes_path, &notes, &err) ||
            cn_keras_vocab_from_notes(&notes, &vocab, &err))
            rc = cli_error(2, "%s", err.message);
    } else {
        rc = read_vocab_file(vocab_path, &vocab);
    }
    if (rc == 0 && cn_keras_import(model_path, &vocab, &model, &info, &err))
        rc = cli_error(2, "%s", err.message);
    if (rc == 0 && notes_path && cn_keras_set_corpus(&model, &notes, &err))
        rc = cli_error(2, "%s: %s", notes_path, err.message);
    if (rc == 0 && cn_model_save(&model, NULL, out, &err))
        rc = cli_error(1, "%s", err.message);
    if (rc == 0) {
        const CnModelConfig *c = &model.config;
        printf("imported %s%s%s: %s\n", model_path, info.keras_version[0] ? ", Keras " : "",
               info.keras_version, info.layers);
        printf("as %d x LSTM(%d) with %s gates", c->n_layers, c->n_hidden,
               cn_gates_name(c->gates));
        if (c->n_dense)
            printf(" -> Dense(%d)%s", c->n_dense,
                   c->dense_activation == CN_DENSE_RELU ? " -> ReLU" : "");
        printf(" -> Dense(%d) -> softmax", c->n_vocab);
        if (info.n_folded)
            printf(" (%d batch normalization%s folded in)", info.n_folded,
                   info.n_folded == 1 ? "" : "s");
        printf(";\nvocabulary of %d tokens", c->n_vocab);
        if (notes_path)
            printf(", corpus of %zu notes", notes.n);
        printf(", windows of %d -> %s\n", model.info.seq, out);
    }
    cn_model_free(&model);
    cn_vocab_free(&vocab);
    cn_string_list_free(&notes);
    return rc;
}
