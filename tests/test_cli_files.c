/* The files the commands read and write, where things go wrong: MIDI to a pipe, a FIFO and
 * standard output; a full disk (RLIMIT_FSIZE, /dev/full) leaves the file it would have
 * replaced intact and says why; a piano roll of music with a huge gap stays small; FIFOs
 * given as input are refused instead of waited on; train does not overwrite a MIDI file. */
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "continuo/midi_file.h"
#include "continuo/model.h"
#include "test_util.h"

#define WEIGHTS CONTINUO_SOURCE_DIR "/weights/original.cnw"

static char *dir;
static char log_path[4200];

static int run_cli(const char *const *args)
{
    return test_run_program(CONTINUO_CLI, args, log_path);
}

static int log_contains(const char *text)
{
    return test_file_contains(log_path, text);
}

static const char *in_dir(const char *name)
{
    return test_path_in(dir, name);
}

/* Runs the command with files limited to max_bytes (SIGXFSZ ignored, so a write past it
 * fails with EFBIG as on a full disk). */
static int run_cli_limited(const char *const *args, long max_bytes)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit limit = {(rlim_t)max_bytes, (rlim_t)max_bytes};
        if (setrlimit(RLIMIT_FSIZE, &limit) != 0 || !freopen(log_path, "w", stdout) ||
            dup2(fileno(stdout), 2) < 0)
            _exit(126);
        const char *argv[32] = {CONTINUO_CLI};
        for (int i = 0; args[i] && i < 30; i++)
            argv[i + 1] = args[i];
        execv(CONTINUO_CLI, (char *const *)argv);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int same_bytes(const char *a, const char *b)
{
    size_t na, nb;
    uint8_t *x = test_read_file(a, &na), *y = test_read_file(b, &nb);
    int same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

static int leftovers(void)
{
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -q '\\.tmp-'", dir);
    return system(cmd) == 0;
}

static int is_midi(const char *path)
{
    CnMidi midi;
    CnError err = {{0}};
    if (cn_midi_read_file(path, &midi, &err) != 0)
        return 0;
    int ok = midi.n_notes > 0;
    cn_midi_free(&midi);
    return ok;
}

static void test_midi_streams_to_a_pipe_a_fifo_and_stdout(void)
{
    const char *file = in_dir("file.mid");
    const char *args[] = {"generate", "-w", WEIGHTS, "--length", "40", "--seed", "5", "-o",
                          file, NULL};
    CHECK(run_cli(args) == 0);

    char cmd[9000];
    snprintf(cmd, sizeof cmd, "'%s' generate -w '%s' --length 40 --seed 5 -o - 2>'%s' | cat "
             "> '%s'", CONTINUO_CLI, WEIGHTS, log_path, in_dir("piped.mid"));
    CHECK(system(cmd) == 0);
    CHECK(same_bytes(file, in_dir("piped.mid")));
    CHECK(log_contains("wrote -")); /* the summary on stderr, not in the music */

    snprintf(cmd, sizeof cmd, "'%s' generate -w '%s' --length 40 --seed 5 -o /dev/stdout "
             "2>'%s' | cat > '%s'", CONTINUO_CLI, WEIGHTS, log_path, in_dir("stdout.mid"));
    CHECK(system(cmd) == 0);
    CHECK(same_bytes(file, in_dir("stdout.mid")));

    const char *fifo = in_dir("fifo.mid");
    CHECK(mkfifo(fifo, 0600) == 0);
    snprintf(cmd, sizeof cmd, "cat '%s' > '%s' &", fifo, in_dir("from_fifo.mid"));
    CHECK(system(cmd) == 0);
    const char *to_fifo[] = {"generate", "-w", WEIGHTS, "--length", "40", "--seed", "5", "-o",
                             fifo, NULL};
    CHECK(run_cli(to_fifo) == 0);
    usleep(200000); /* the reader writes what it got */
    CHECK(same_bytes(file, in_dir("from_fifo.mid")));
    CHECK(is_midi(in_dir("from_fifo.mid")));

    const char *roll_of_stream[] = {"generate", "-w", WEIGHTS, "--length", "10", "-o", "-",
                                    "--roll", in_dir("x.svg"), NULL};
    CHECK(run_cli(roll_of_stream) == 2);
    CHECK(log_contains("--roll and --wav read the MIDI file back"));
    unlink(fifo);
}

static void test_a_full_disk_keeps_the_old_file_and_says_why(void)
{
    const char *keep = in_dir("keep.mid"), *copy = in_dir("keep_copy.mid");
    const char *first[] = {"generate", "-w", WEIGHTS, "--length", "40", "--seed", "1", "-o",
                           keep, NULL};
    CHECK(run_cli(first) == 0);
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", keep, copy);
    CHECK(system(cmd) == 0);

    const char *big[] = {"generate", "-w", WEIGHTS, "--length", "3000", "--seed", "2", "-o",
                         keep, NULL};
    CHECK(run_cli_limited(big, 4096) == 1);
    CHECK(log_contains("cannot write"));
    CHECK(log_contains("File too large"));
    CHECK(same_bytes(keep, copy));
    CHECK(!leftovers());

    const char *svg = in_dir("keep.svg"), *svg_copy = in_dir("keep_copy.svg");
    const char *roll[] = {"roll", keep, "-o", svg, NULL};
    CHECK(run_cli(roll) == 0);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", svg, svg_copy);
    CHECK(system(cmd) == 0);
    const char *big_roll[] = {"roll", in_dir("big.mid"), "-o", svg, NULL};
    const char *make_big[] = {"generate", "-w", WEIGHTS, "--length", "600", "--seed", "3",
                              "-o", in_dir("big.mid"), NULL};
    CHECK(run_cli(make_big) == 0);
    struct stat st;
    CHECK(stat(svg, &st) == 0);
    CHECK(run_cli_limited(big_roll, (long)st.st_size) == 1);
    CHECK(log_contains("File too large"));
    CHECK(same_bytes(svg, svg_copy));
    CHECK(!leftovers());

    const char *to_full[] = {"generate", "-w", WEIGHTS, "--length", "40", "-o", "/dev/full",
                             NULL};
    CHECK(run_cli(to_full) == 1);
    CHECK(log_contains("No space left on device"));

    /* a folder that really fills: the system's reason, not a later call's */
    const char *small = in_dir("small_disk");
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && mount -t tmpfs -o size=16k tmpfs '%s' "
                              "2>/dev/null", small, small);
    if (system(cmd) != 0) {
        printf("# skipped the small disk: cannot mount a tmpfs here\n");
        return;
    }
    const char *on_small = test_path_in(small, "big.mid");
    const char *fill[] = {"generate", "-w", WEIGHTS, "--length", "20000", "--seed", "2", "-o",
                          on_small, NULL};
    CHECK(run_cli(fill) == 1);
    CHECK(log_contains("No space left on device"));
    CHECK(access(on_small, F_OK) != 0);
    snprintf(cmd, sizeof cmd, "umount '%s'", small);
    CHECK(system(cmd) == 0);
}

static void write_bytes_hex(const char *path, const char *hex)
{
    uint8_t bytes[256];
    size_t n = 0;
    for (; hex[2 * n] && n < sizeof bytes; n++) {
        unsigned v;
        sscanf(hex + 2 * n, "%2x", &v);
        bytes[n] = (uint8_t)v;
    }
    CHECK(test_write_file(path, bytes, n) == 0);
}

/* The file of the sweep: division 1, time signature 4/64, a gap of 0xFFFFF0 ticks (a 2 GB
 * drawing before); and the same with a gap of 0x0FFFFFF0 (an int overflow before). */
static void test_a_huge_gap_draws_a_small_roll(void)
{
    const char *vlq[] = {"87ffff70", "ffffff70"}; /* 0xFFFFF0 and 0x0FFFFFF0 */
    for (int i = 0; i < 2; i++) {
        char hex[256];
        snprintf(hex, sizeof hex,
                 "4d546864000000060000000100014d54726b0000001f00ff58040406180800903c6401803c00"
                 "%s903e6401803e0000ff2f00", vlq[i]);
        const char *mid = in_dir("gap.mid"), *svg = in_dir("gap.svg");
        write_bytes_hex(mid, hex);
        const char *args[] = {"roll", mid, "-o", svg, NULL};
        CHECK(run_cli_limited(args, 8 << 20) == 0);
        struct stat st;
        CHECK(stat(svg, &st) == 0);
        printf("# a gap of %s ticks: a roll of %lld bytes\n", vlq[i], (long long)st.st_size);
        CHECK(st.st_size > 0 && st.st_size < (1 << 20));
    }
}

static void test_fifos_are_refused_not_waited_on(void)
{
    const char *songs = in_dir("songs");
    mkdir(songs, 0755);
    char path[4400], cmd[9000];
    snprintf(path, sizeof path, "%s/x.mid", songs);
    CHECK(mkfifo(path, 0600) == 0);
    snprintf(cmd, sizeof cmd, "cp '%s/midi_songs/ode_to_joy.mid' '%s/'", CONTINUO_SOURCE_DIR,
             songs);
    CHECK(system(cmd) == 0);

    const char *roll[] = {"roll", path, "-o", in_dir("fifo.svg"), NULL};
    CHECK(run_cli(roll) == 1);
    CHECK(log_contains("FIFO"));
    const char *prime[] = {"generate", "-w", WEIGHTS, "--prime", path, "-o", in_dir("p.mid"),
                           NULL};
    CHECK(run_cli(prime) == 1);
    CHECK(log_contains("FIFO"));
    const char *corpus[] = {"corpus", songs, NULL};
    CHECK(run_cli(corpus) == 0); /* the FIFO named and skipped, the song read */
    CHECK(log_contains("x.mid"));
    CHECK(log_contains("FIFO"));
    const char *info[] = {"info", path, NULL};
    CHECK(run_cli(info) == 1);
    CHECK(log_contains("FIFO"));
}

static void test_train_does_not_overwrite_a_midi_file(void)
{
    const char *song = in_dir("song.mid"), *copy = in_dir("song_copy.mid");
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "cp '%s/midi_songs/ode_to_joy.mid' '%s' && cp '%s' '%s'",
             CONTINUO_SOURCE_DIR, song, song, copy);
    CHECK(system(cmd) == 0);
    const char *args[] = {"train", "--tokens", "original", "--data",
                          CONTINUO_SOURCE_DIR "/midi_songs", "--out", song,
                          "--epochs", "1", "--hidden", "8", "--layers", "1", "--dense", "0",
                          "--embed", "4", "-q", NULL};
    CHECK(run_cli(args) == 2);
    CHECK(log_contains("this is a MIDI file"));
    CHECK(log_contains("not overwriting it"));
    CHECK(same_bytes(song, copy));
}

/* n notes of key after key (the same key when distinct is 0), an eighth apart. */
static void write_notes(const char *path, size_t n, int distinct)
{
    CnNote *notes = calloc(n, sizeof *notes);
    for (size_t i = 0; i < n; i++)
        notes[i] = (CnNote){.onset = (uint32_t)(i * 240), .duration = 200,
                            .pitch = (uint8_t)(60 + (distinct ? i % 12 : 0)), .velocity = 80};
    CnMidiWriteOptions o = {.ppqn = 480, .bpm = 120};
    CnError err = {{0}};
    CHECK(cn_midi_write_file(path, notes, n, &o, &err) == 0);
    free(notes);
}

/* What a user can ask for by accident is refused or bounded before the work starts, with
 * the reason in words. */
static void test_limits_are_checked_before_the_work(void)
{
    const char *huge_seq[] = {"train", "--tokens", "original", "--data",
                          CONTINUO_SOURCE_DIR "/midi_songs", "--out",
                              in_dir("seq.cnw"), "--seq", "100000", "-q", NULL};
    CHECK(run_cli(huge_seq) == 1);
    CHECK(log_contains("lower --seq or --batch"));
    CHECK(access(in_dir("seq.cnw"), F_OK) != 0);

    const char *long_prime = in_dir("long.mid");
    write_notes(long_prime, 3000, 1);
    const char *prime[] = {"generate", "-w", WEIGHTS, "--prime", long_prime, "--length", "4",
                           "-o", in_dir("primed.mid"), NULL};
    CHECK(run_cli(prime) == 0);
    CHECK(log_contains("has 3000 tokens: continuing from its last 2000"));

    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    const char *threads[] = {"generate", "-w", WEIGHTS, "--threads", "8", "--length", "4",
                             "-o", in_dir("threads.mid"), NULL};
    CHECK(run_cli(threads) == 0);
    if (cores < 8)
        CHECK(log_contains("capped at this machine's"));

    const char *one = in_dir("one_note");
    mkdir(one, 0755);
    char path[4400];
    snprintf(path, sizeof path, "%s/same.mid", one);
    write_notes(path, 20, 0);
    const char *one_token[] = {"train", "--tokens", "original",
                               "--data", one, "--out", in_dir("one.cnw"), "-q", NULL};
    CHECK(run_cli(one_token) == 1);
    CHECK(log_contains("a single distinct token (C4)"));
}

/* Messages that named the wrong thing, or echoed what cannot be read. */
static void test_messages_say_the_real_reason(void)
{
    const char *score[] = {"score", CONTINUO_SOURCE_DIR "/midi_songs/ode_to_joy.mid", "-o",
                           in_dir("s.mid"), NULL};
    CHECK(run_cli(score) == 1);
    CHECK(log_contains("is not a text score: byte 0x00"));
    CHECK(log_contains("(it is a MIDI file)"));
    /* a tempo that is not a number is refused, not written as 120 bpm */
    const char *nan_score = in_dir("nan.txt");
    static const char nan_text[] = "tempo nan\nvoice melody\nC4/4 D4 E4 F4 |\n";
    CHECK(test_write_file(nan_score, nan_text, sizeof nan_text - 1) == 0);
    const char *nan_args[] = {"score", nan_score, "-o", in_dir("nan.mid"), NULL};
    CHECK(run_cli(nan_args) == 1);
    CHECK(log_contains("line 1: tempo must be 10..400"));

    CnVocab vocab;
    CnModel m;
    CnError err = {{0}};
    const char *names[] = {"C4", "D4", "E4"};
    CHECK(cn_vocab_from_names(names, 3, &vocab, &err) == 0);
    CnModelConfig config = {.n_vocab = 3, .n_embed = 4, .n_layers = 1, .n_hidden = 8};
    CHECK(cn_model_init(&m, &config, &vocab, 1, &err) == 0);
    CHECK(cn_model_save(&m, NULL, in_dir("bare.cnw"), &err) == 0); /* no corpus kept */
    cn_model_free(&m);
    cn_vocab_free(&vocab);
    const char *eval[] = {"eval", "-w", in_dir("bare.cnw"), CONTINUO_SOURCE_DIR "/midi_songs",
                          NULL};
    CHECK(run_cli(eval) == 0);
    CHECK(log_contains("keeps no training corpus"));
}

int main(void)
{
    dir = test_make_temp_dir("files");
    snprintf(log_path, sizeof log_path, "%s/log.txt", dir);
    RUN(test_midi_streams_to_a_pipe_a_fifo_and_stdout);
    RUN(test_a_full_disk_keeps_the_old_file_and_says_why);
    RUN(test_a_huge_gap_draws_a_small_roll);
    RUN(test_fifos_are_refused_not_waited_on);
    RUN(test_train_does_not_overwrite_a_midi_file);
    RUN(test_limits_are_checked_before_the_work);
    RUN(test_messages_say_the_real_reason);
    test_remove_tree(dir);
    free(dir);
    return test_finish();
}
