/* `continuo train` and `continuo info` as a user runs them: a two-epoch run on seed files,
 * a broken file in the folder named and skipped, SIGTERM writing a checkpoint that
 * --resume continues, and kill -9 at random moments never leaving a broken checkpoint. */
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "continuo/model.h"
#include "test_util.h"

static char *dir;

/* Runs the CLI with args, output to log; returns the child's pid (wait == 0) or status. */
static int run_cli(const char *const *args, const char *log, int wait)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        FILE *f = freopen(log, "w", stdout);
        (void)f;
        dup2(fileno(stdout), 2);
        char *argv[64];
        int n = 0;
        argv[n++] = (char *)CONTINUO_CLI;
        for (; args[n - 1] && n < 63; n++)
            argv[n] = (char *)args[n - 1];
        argv[n] = NULL;
        setenv("OPENBLAS_NUM_THREADS", "1", 1);
        execv(CONTINUO_CLI, argv);
        _exit(127);
    }
    if (!wait)
        return pid;
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}


static int count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int n = 0, c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

static char data_dir[4200], out[4200], log_path[4200], csv[4200];

static void make_data_folder(void)
{
    snprintf(data_dir, sizeof data_dir, "%s/songs", dir);
    mkdir(data_dir, 0755);
    const char *seed = test_seed_dir();
    const char *picks[] = {"8.mid", "ff4-town.mid", "Zelda_Overworld.mid", "balamb.mid"};
    for (int i = 0; i < 4; i++) {
        char from[4300], to[4300];
        snprintf(to, sizeof to, "%s/%s", data_dir, picks[i]);
        if (seed) {
            snprintf(from, sizeof from, "%s/%s", seed, picks[i]);
        } else { /* without the seed corpus, our own songs stand in */
            const char *own[] = {"ode_to_joy", "prelude_c_major_bwv846",
                                 "ah_vous_dirai_je_maman", "ode_to_joy"};
            snprintf(from, sizeof from, "%s/midi_songs/%s.mid", CONTINUO_SOURCE_DIR, own[i]);
        }
        CHECK(symlink(from, to) == 0);
    }
    char broken[4400];
    snprintf(broken, sizeof broken, "%s/broken.mid", data_dir);
    test_write_file(broken, "MThd\0\0\0\6\0\1\0\2\1\340MTrk\0\0\1\0\0\220", 24);
    snprintf(out, sizeof out, "%s/model.cnw", dir);
    snprintf(log_path, sizeof log_path, "%s/log.txt", dir);
    snprintf(csv, sizeof csv, "%s/model.csv", dir);
}

static void test_two_epochs_on_seed_files(void)
{
    char stale[4400], stale_best[4400], kept[4400];
    snprintf(stale, sizeof stale, "%s.tmp-k9Xq2Z", out); /* what a kill -9 mid-write leaves */
    snprintf(stale_best, sizeof stale_best, "%s/model.best.cnw.tmp-a1b2c3", dir);
    snprintf(kept, sizeof kept, "%s.tmp-notours", out); /* not mkstemp's pattern: kept */
    test_write_file(stale, "half a checkpoint", 17);
    test_write_file(stale_best, "half a checkpoint", 17);
    test_write_file(kept, "someone else's", 14);
    const char *args[] = {"train", "--tokens", "original",
                          "--data", data_dir, "--out", out, "--epochs", "2",
                          "--hidden", "16", "--layers", "2", "--dense", "8", "--embed", "8",
                          "--seq", "20", "--batch", "8", "--val-split", "0.25", NULL};
    CHECK(run_cli(args, log_path, 1) == 0);
    CHECK(test_file_contains(log_path, "skipped broken.mid"));
    CHECK(test_file_contains(log_path, "truncated"));
    CHECK(test_file_contains(log_path, "epoch 2/2"));
    CHECK(count_lines(csv) == 3); /* header and two epochs */
    CHECK(access(stale, F_OK) != 0 && access(stale_best, F_OK) != 0);
    CHECK(test_file_contains(log_path, "model.cnw.tmp-k9Xq2Z, left by an interrupted"));
    CHECK(access(kept, F_OK) == 0);
    const char *info[] = {"info", out, NULL};
    CHECK(run_cli(info, log_path, 1) == 0);
    CHECK(test_file_contains(log_path, "2 epochs"));
    CHECK(test_file_contains(log_path, "resumable:   yes"));
}

static void test_sigterm_checkpoints_and_resume_goes_on(void)
{
    const char *args[] = {"train", "--tokens", "original",
                          "--data", data_dir, "--out", out, "--epochs", "100000",
                          "--hidden", "16", "--layers", "1", "--dense", "0", "--embed", "4",
                          "--seq", "10", "--batch", "2", NULL};
    unlink(out);
    pid_t pid = run_cli(args, log_path, 0);
    struct stat st;
    for (int i = 0; i < 200 && stat(out, &st) != 0; i++)
        usleep(20000);
    usleep(100000);
    kill(pid, SIGTERM);
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(test_file_contains(log_path, "stopped: checkpoint written"));
    CnModel m;
    CnError err = {{0}};
    CHECK(cn_model_load(&m, out, 0, NULL, &err) == 0);
    int epochs = m.info.epochs;
    cn_model_free(&m);
    char target[32];
    snprintf(target, sizeof target, "%d", epochs + 2);
    const char *resume[] = {"train", "--data", data_dir, "--out", out, "--resume", "--epochs",
                            target, NULL};
    CHECK(run_cli(resume, log_path, 1) == 0);
    CHECK(test_file_contains(log_path, "resuming"));
    CHECK(cn_model_load(&m, out, 0, NULL, &err) == 0);
    CHECK(m.info.epochs == epochs + 2);
    cn_model_free(&m);
    const char *contradict[] = {"train", "--out", out, "--resume", "--hidden", "32", NULL};
    CHECK(run_cli(contradict, log_path, 1) == 2);
    CHECK(test_file_contains(log_path, "checkpoint's own"));
}

/* A resume with nothing but --resume and --out goes on as the run started: its epoch
 * target, its corpus folder and its thread count (so the result is bit-identical to the
 * run never stopped, here on one thread); a finished run says how to go on. */
static void test_resume_goes_on_as_the_run_started(void)
{
    char ref[4400], part[4400];
    snprintf(ref, sizeof ref, "%s/ref.cnw", dir);
    snprintf(part, sizeof part, "%s/part.cnw", dir);
    const char *whole[] = {"train", "--tokens", "original",
                           "--data", data_dir, "--out", ref, "--epochs", "3",
                           "--threads", "1", "--hidden", "16", "--layers", "1", "--dense", "0",
                           "--embed", "4", "--seq", "10", "--batch", "2", "-q", NULL};
    CHECK(run_cli(whole, log_path, 1) == 0);
    const char *stopped[] = {"train", "--tokens", "original",
                             "--data", data_dir, "--out", part, "--epochs", "3",
                             "--threads", "1", "--hidden", "16", "--layers", "1", "--dense",
                             "0", "--embed", "4", "--seq", "10", "--batch", "2",
                             "--stop-after-batches", "7", "-q", NULL};
    CHECK(run_cli(stopped, log_path, 1) == 0);
    const char *resume[] = {"train", "--resume", "--out", part, NULL};
    CHECK(run_cli(resume, log_path, 1) == 0);
    CHECK(test_file_contains(log_path, data_dir));
    CHECK(test_file_contains(log_path, "1 threads"));
    CHECK(test_file_contains(log_path, "of 3"));
    /* stopped before its first epoch ended, the run's log still starts with its header */
    char part_csv[4400];
    snprintf(part_csv, sizeof part_csv, "%s/part.csv", dir);
    size_t n_csv = 0;
    uint8_t *csv = test_read_file(part_csv, &n_csv);
    CHECK(csv && n_csv > 6 && memcmp(csv, "epoch,", 6) == 0);
    free(csv);
    CnModel a, b;
    CnError err = {{0}};
    CHECK(cn_model_load(&a, ref, 0, NULL, &err) == 0);
    CHECK(cn_model_load(&b, part, 0, NULL, &err) == 0);
    CHECK(b.info.epochs == 3);
    CHECK(a.n_params == b.n_params &&
          memcmp(a.params, b.params, a.n_params * sizeof(float)) == 0);
    cn_model_free(&a);
    cn_model_free(&b);
    CHECK(run_cli(resume, log_path, 1) == 2); /* done: it says how to go on */
    CHECK(test_file_contains(log_path, "give --epochs N above 3"));
    const char *threads_ok[] = {"train", "--resume", "--out", part, "--threads", "1",
                                "--epochs", "4", "-q", NULL};
    CHECK(run_cli(threads_ok, log_path, 1) == 0); /* --threads is allowed, as said */
}

static int same_params(const char *x, const char *y)
{
    CnModel a, b;
    CnError err = {{0}};
    int same = 0;
    if (cn_model_load(&a, x, 0, NULL, &err) == 0) {
        if (cn_model_load(&b, y, 0, NULL, &err) == 0) {
            same = a.n_params == b.n_params &&
                   memcmp(a.params, b.params, a.n_params * sizeof(float)) == 0;
            cn_model_free(&b);
        }
        cn_model_free(&a);
    }
    return same;
}

/* Songs moved through the keys, both schemes: a run stopped mid-epoch and resumed ends
 * bit-identical to the run never stopped (the intervals are drawn from the seed), and the
 * moves are real (without them the result differs). */
static void test_transposition_is_reproducible_and_resumes_exactly(void)
{
    static const char *const schemes[] = {"timed", "original"};
    for (int k = 0; k < 2; k++) {
        char ref[4400], part[4400], still[4400];
        snprintf(ref, sizeof ref, "%s/tr-ref.cnw", dir);
        snprintf(part, sizeof part, "%s/tr-part.cnw", dir);
        snprintf(still, sizeof still, "%s/tr-still.cnw", dir);
        unlink(ref), unlink(part), unlink(still);
#define SMALL "--threads", "1", "--hidden", "16", "--layers", "1", "--dense", "0", "--embed", \
              "4", "--seq", "10", "--batch", "2", "--tokens", schemes[k], "-q"
        const char *whole[] = {"train", "--data", data_dir, "--out", ref, "--epochs", "2",
                               "--transpose", "-3..4", SMALL, NULL};
        const char *stopped[] = {"train", "--data", data_dir, "--out", part, "--epochs", "2",
                                 "--transpose", "-3..4", "--stop-after-batches", "30", SMALL,
                                 NULL};
        const char *unmoved[] = {"train", "--data", data_dir, "--out", still, "--epochs", "2",
                                 "--transpose", "0..0", SMALL, NULL};
#undef SMALL
        const char *resume[] = {"train", "--resume", "--out", part, "-q", NULL};
        CHECK(run_cli(whole, log_path, 1) == 0);
        CHECK(run_cli(stopped, log_path, 1) == 0);
        CHECK(run_cli(resume, log_path, 1) == 0);
        CHECK(run_cli(unmoved, log_path, 1) == 0);
        CHECK(same_params(ref, part));
        CHECK(!same_params(ref, still));
    }
    const char *bad[] = {"train", "--data", data_dir, "--out", out, "--transpose", "6..-5",
                         NULL};
    CHECK(run_cli(bad, log_path, 1) == 2);
    CHECK(test_file_contains(log_path, "--transpose takes LO..HI"));
}

/* The first epoch's training loss in a log. */
static double first_train_loss(const char *csv_path)
{
    FILE *f = fopen(csv_path, "r");
    double loss = NAN;
    char line[512];
    if (f && fgets(line, sizeof line, f) && fgets(line, sizeof line, f))
        sscanf(line, "%*d,%lf", &loss);
    if (f)
        fclose(f);
    return loss;
}

/* --init goes on from trained weights with another recipe (longer chunks, a decaying rate):
 * it starts where they left off, the decay changes the run and survives a stop and resume
 * exactly, and what cannot go with it is refused with the reason. */
static void test_init_starts_from_trained_weights(void)
{
    char base[4400], base_csv[4400], ref[4400], ref_csv[4400], part[4400], flat[4400];
    snprintf(base, sizeof base, "%s/init-base.cnw", dir);
    snprintf(base_csv, sizeof base_csv, "%s/init-base.csv", dir);
    snprintf(ref, sizeof ref, "%s/init-ref.cnw", dir);
    snprintf(ref_csv, sizeof ref_csv, "%s/init-ref.csv", dir);
    snprintf(part, sizeof part, "%s/init-part.cnw", dir);
    snprintf(flat, sizeof flat, "%s/init-flat.cnw", dir);
#define SMALL "--data", data_dir, "--threads", "1", "--batch", "2", "-q"
    const char *first[] = {"train", "--out", base, "--epochs", "2", "--hidden", "16",
                           "--layers", "1", "--dense", "0", "--embed", "4", "--seq", "10",
                           SMALL, NULL};
    CHECK(run_cli(first, log_path, 1) == 0);
    const char *whole[] = {"train", "--init", base, "--out", ref, "--epochs", "2", "--seq",
                           "20", "--lr-decay", "0.5", SMALL, NULL};
    const char *stopped[] = {"train", "--init", base, "--out", part, "--epochs", "2", "--seq",
                             "20", "--lr-decay", "0.5", "--stop-after-batches", "25", SMALL,
                             NULL};
    const char *resume[] = {"train", "--resume", "--out", part, "-q", NULL};
    const char *constant[] = {"train", "--init", base, "--out", flat, "--epochs", "2",
                              "--seq", "20", SMALL, NULL};
#undef SMALL
    CHECK(run_cli(whole, log_path, 1) == 0);
    CHECK(run_cli(stopped, log_path, 1) == 0);
    CHECK(run_cli(resume, log_path, 1) == 0);
    CHECK(run_cli(constant, log_path, 1) == 0);
    CHECK(same_params(ref, part));
    CHECK(!same_params(ref, flat));
    CHECK(!same_params(ref, base));
    double fresh_loss = first_train_loss(base_csv), init_loss = first_train_loss(ref_csv);
    CHECK(init_loss < fresh_loss); /* it begins with what the first run learned */
    CnModel m;
    CnError err = {{0}};
    CHECK(cn_model_load(&m, ref, 0, NULL, &err) == 0);
    CHECK(m.config.n_hidden == 16 && m.info.seq == 20 && m.info.epochs == 2);
    cn_model_free(&m);

    const char *reshaped[] = {"train", "--init", base, "--out", flat, "--hidden", "32",
                              "--data", data_dir, NULL};
    CHECK(run_cli(reshaped, log_path, 1) == 2);
    CHECK(test_file_contains(log_path, "brings its own network"));
    const char *both[] = {"train", "--init", base, "--resume", "--out", part, NULL};
    CHECK(run_cli(both, log_path, 1) == 2);
    CHECK(test_file_contains(log_path, "give one of them"));
    const char *other_scheme[] = {"train", "--init", base, "--tokens", "original", "--out",
                                  flat, "--data", data_dir, NULL};
    CHECK(run_cli(other_scheme, log_path, 1) == 2);
    CHECK(test_file_contains(log_path, "give --tokens timed"));
    const char *missing[] = {"train", "--init", "no-such.cnw", "--out", flat, "--data",
                             data_dir, NULL};
    CHECK(run_cli(missing, log_path, 1) == 1);
    CHECK(test_file_contains(log_path, "cannot start from --init no-such.cnw"));
    const char *bad_decay[] = {"train", "--lr-decay", "1.5", "--out", flat, NULL};
    CHECK(run_cli(bad_decay, log_path, 1) == 2);
    CHECK(test_file_contains(log_path, "--lr-decay"));
}

/* Big checkpoints of a model that trains on little: most of the time goes to writing. */
static void test_kill_9_never_leaves_a_broken_checkpoint(void)
{
    char one_song[4300], from[4300], to[4400];
    snprintf(one_song, sizeof one_song, "%s/one", dir);
    mkdir(one_song, 0755);
    snprintf(from, sizeof from, "%s/midi_songs/ah_vous_dirai_je_maman.mid", CONTINUO_SOURCE_DIR);
    snprintf(to, sizeof to, "%s/song.mid", one_song);
    CHECK(symlink(from, to) == 0);
    const char *args[] = {"train", "--tokens", "original",
                          "--data", one_song, "--out", out, "--epochs", "1000000",
                          "--hidden", "384", "--layers", "2", "--dense", "0", "--embed", "4",
                          "--seq", "70", "--batch", "1", "--val-split", "0", NULL};
    unlink(out);
    srand((unsigned)time(NULL));
    int loaded = 0;
    for (int round = 0; round < 12; round++) {
        struct stat before = {0};
        time_t last_write = stat(out, &before) == 0 ? before.st_mtime : 0;
        pid_t pid = run_cli(args, log_path, 0);
        for (int i = 0; i < 600; i++) { /* until this run has written once (slow builds too) */
            struct stat now;
            if (stat(out, &now) == 0 && (now.st_mtime != last_write ||
                                         now.st_mtim.tv_nsec != before.st_mtim.tv_nsec))
                break;
            usleep(50000);
        }
        usleep((useconds_t)(rand() % 400) * 1000);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        CnModel m;
        CnError err = {{0}};
        struct stat st;
        if (stat(out, &st) != 0)
            continue; /* killed before the first checkpoint */
        int rc = cn_model_load(&m, out, 0, NULL, &err);
        if (rc != 0)
            fprintf(stderr, "round %d: %s\n", round, err.message);
        CHECK(rc == 0);
        if (rc == 0) {
            loaded++;
            cn_model_free(&m);
        }
    }
    int interrupted_writes = 0; /* temporary files left by a kill in the middle of a write */
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d)) != NULL;)
        interrupted_writes += strncmp(e->d_name, "model.cnw.tmp-", 14) == 0;
    if (d)
        closedir(d);
    printf("# %d of 12 kill -9 rounds left a checkpoint, every one loadable; %d killed a write "
           "half-way\n", loaded, interrupted_writes);
    CHECK(loaded >= 6);
}

/* A checkpoint whose saved state was changed to key=value: written back with its
 * checksums (as a careless tool would), then resumed. */
static int resume_with_state(const char *checkpoint, const char *key, const char *value,
                             const char *expected)
{
    CnModel m;
    CnTrainState state;
    CnError err = {{0}};
    CHECK(cn_model_load(&m, checkpoint, 1, &state, &err) == 0);
    char *blob = calloc(state.n_blob + 256, 1), *out = blob;
    const char *line = (const char *)state.blob, *end = line + state.n_blob;
    size_t klen = strlen(key);
    while (line < end) {
        const char *next = memchr(line, '\n', (size_t)(end - line));
        next = next ? next + 1 : end;
        if ((size_t)(next - line) > klen && memcmp(line, key, klen) == 0 && line[klen] == '=')
            out += sprintf(out, "%s=%s\n", key, value);
        else
            memcpy(out, line, (size_t)(next - line)), out += next - line;
        line = next;
    }
    uint8_t *kept = state.blob;
    state.blob = (uint8_t *)blob;
    state.n_blob = (size_t)(out - blob);
    char damaged[4400];
    snprintf(damaged, sizeof damaged, "%s/damaged.cnw", dir);
    CHECK(cn_model_save(&m, &state, damaged, &err) == 0);
    state.blob = kept;
    free(blob);
    cn_train_state_free(&state);
    cn_model_free(&m);
    const char *resume[] = {"train", "--resume", "--out", damaged, "-q", NULL};
    int rc = run_cli(resume, log_path, 1);
    int said = test_file_contains(log_path, expected);
    if (rc != 1 || !said)
        printf("# %s=%s: exit %d\n", key, value, rc);
    return rc == 1 && said;
}

/* Every value of a saved training state is read as strictly as the command line reads
 * its option: a damaged one is named, and nothing runs (threads=100000 once spun for
 * minutes; batch_done past the epoch's end made an epoch of nothing). */
static void test_a_damaged_training_state_is_refused(void)
{
    char part[4400];
    snprintf(part, sizeof part, "%s/state.cnw", dir);
    const char *stopped[] = {"train", "--tokens", "original",
                             "--data", data_dir, "--out", part, "--epochs", "3",
                             "--threads", "1", "--hidden", "16", "--layers", "1", "--dense",
                             "0", "--embed", "4", "--seq", "10", "--batch", "2",
                             "--stop-after-batches", "7", "-q", NULL};
    CHECK(run_cli(stopped, log_path, 1) == 0);
    CHECK(resume_with_state(part, "threads", "100000", "threads=100000 is not"));
    CHECK(resume_with_state(part, "threads", "-1", "threads=-1 is not"));
    CHECK(resume_with_state(part, "epoch", "-1", "epoch=-1 is not"));
    CHECK(resume_with_state(part, "epochs", "0", "epochs=0 is not"));
    CHECK(resume_with_state(part, "seed", "abc", "seed=abc is not"));
    CHECK(resume_with_state(part, "loss_sum", "nan", "loss_sum=nan is not"));
    CHECK(resume_with_state(part, "lr", "-1", "lr=-1 is not"));
    CHECK(resume_with_state(part, "batch_done", "99999999", "batch_done=99999999, but an "
                                                            "epoch has"));
}

/* Two trainers on one --out: the second is refused, naming the first; once the first is
 * killed (-9, no clean-up), the lock it left blocks nobody and --resume goes on. */
static void test_a_busy_out_is_refused_and_a_stale_lock_is_not(void)
{
    char busy[4400], busy_log[4400];
    snprintf(busy, sizeof busy, "%s/busy.cnw", dir);
    snprintf(busy_log, sizeof busy_log, "%s/busy.txt", dir);
    const char *args[] = {"train", "--tokens", "original",
                          "--data", data_dir, "--out", busy, "--epochs", "100000",
                          "--hidden", "16", "--layers", "1", "--dense", "0", "--embed", "4",
                          "--seq", "10", "--batch", "2", "-q", NULL};
    unlink(busy);
    pid_t first = run_cli(args, busy_log, 0);
    struct stat st;
    for (int i = 0; i < 500 && stat(busy, &st) != 0; i++) /* its first checkpoint */
        usleep(20000);
    CHECK(run_cli(args, log_path, 1) == 1);
    char holder[64];
    snprintf(holder, sizeof holder, "another process %ld is writing", (long)first);
    CHECK(test_file_contains(log_path, holder));
    const char *resume[] = {"train", "--resume", "--out", busy, "--epochs", "100000", "-q",
                            NULL};
    CHECK(run_cli(resume, log_path, 1) == 1);
    CHECK(test_file_contains(log_path, "another process"));
    kill(first, SIGKILL);
    waitpid(first, NULL, 0);
    char lock[4410];
    snprintf(lock, sizeof lock, "%s.lock", busy);
    CHECK(access(lock, F_OK) == 0); /* left behind, */
    CnModel m;
    CnError err = {{0}};
    CHECK(cn_model_load(&m, busy, 0, NULL, &err) == 0);
    char target[16];
    snprintf(target, sizeof target, "%d", m.info.epochs + 1);
    cn_model_free(&m);
    const char *more[] = {"train", "--resume", "--out", busy, "--epochs", target, "-q", NULL};
    CHECK(run_cli(more, log_path, 1) == 0); /* but blocking nobody */
    CHECK(access(lock, F_OK) != 0); /* and gone after a clean end */
}

/* The first line of the folder's NOTICE (what the music is, its licence) goes into the
 * model, its best copy and info, as the shipped model says it learned piano-midi.de. */
static void test_a_folder_notice_goes_with_the_model(void)
{
    char noticed[4400], model[4400], best[4400];
    snprintf(noticed, sizeof noticed, "%s/noticed", dir);
    snprintf(model, sizeof model, "%s/noticed.cnw", dir);
    snprintf(best, sizeof best, "%s/noticed.best.cnw", dir);
    mkdir(noticed, 0755);
    static const char notice[] = "Made for the test, CC0\nsecond line not kept\n";
    CHECK(test_write_file(test_path_in(noticed, "NOTICE"), notice, sizeof notice - 1) == 0);
    char from[4300];
    snprintf(from, sizeof from, "%s/midi_songs/ode_to_joy.mid", CONTINUO_SOURCE_DIR);
    CHECK(symlink(from, test_path_in(noticed, "ode.mid")) == 0);
    snprintf(from, sizeof from, "%s/midi_songs/frere_jacques.mid", CONTINUO_SOURCE_DIR);
    CHECK(symlink(from, test_path_in(noticed, "frere.mid")) == 0);
    const char *args[] = {"train", "--data", noticed, "--out", model, "--epochs", "1",
                          "--hidden", "8", "--layers", "1", "--dense", "0", "--embed", "4",
                          "--val-split", "0.5", "-q", NULL};
    CHECK(run_cli(args, log_path, 1) == 0);
    const char *info[] = {"info", best, NULL};
    CHECK(run_cli(info, log_path, 1) == 0);
    CHECK(test_file_contains(log_path, "notice:      Made for the test, CC0\n"));
    CnModel m;
    CnError err = {{0}};
    CHECK(cn_model_load(&m, model, 0, NULL, &err) == 0);
    CHECK_STR(m.info.notice, "Made for the test, CC0");
    cn_model_free(&m);
}

static void test_info_refuses_a_foreign_file(void)
{
    char midi[4300];
    snprintf(midi, sizeof midi, "%s/ode_to_joy.mid", dir);
    char source[4300];
    snprintf(source, sizeof source, "%s/midi_songs/ode_to_joy.mid", CONTINUO_SOURCE_DIR);
    size_t n;
    uint8_t *bytes = test_read_file(source, &n);
    CHECK(bytes != NULL);
    test_write_file(midi, bytes, n);
    free(bytes);
    const char *args[] = {"info", midi, NULL};
    CHECK(run_cli(args, log_path, 1) == 1);
    CHECK(test_file_contains(log_path, "this is a MIDI file, not a weights file"));
}

int main(void)
{
    dir = test_make_temp_dir("cli-train");
    make_data_folder();
    RUN(test_two_epochs_on_seed_files);
    RUN(test_sigterm_checkpoints_and_resume_goes_on);
    RUN(test_resume_goes_on_as_the_run_started);
    RUN(test_transposition_is_reproducible_and_resumes_exactly);
    RUN(test_init_starts_from_trained_weights);
    RUN(test_kill_9_never_leaves_a_broken_checkpoint);
    RUN(test_info_refuses_a_foreign_file);
    RUN(test_a_damaged_training_state_is_refused);
    RUN(test_a_busy_out_is_refused_and_a_stale_lock_is_not);
    RUN(test_a_folder_notice_goes_with_the_model);
    test_remove_tree(dir);
    free(dir);
    return test_finish();
}
