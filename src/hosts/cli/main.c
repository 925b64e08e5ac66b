/* The continuo command: dispatches to one subcommand per file, GNU-style options. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "continuo/ranks.h"

/* The live clients are programs of their own beside this one (continuo-jack,
 * continuo-alsa), so that the other commands run where JACK or ALSA is not installed and
 * do not carry their libraries. */
static int run_companion(const char *program, char **argv)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 32);
    if (n <= 0)
        return cli_error(1, "cannot find where continuo is: %s", strerror(errno));
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    strcpy(slash ? slash + 1 : self, program);
    argv[0] = (char *)program;
    execv(self, argv);
    return cli_error(1, "cannot run %s, the live client that comes with continuo: %s", self,
                     strerror(errno));
}

static int cmd_jack_program(int argc, char **argv)
{
    (void)argc;
    return run_companion("continuo-jack", argv);
}

static int cmd_alsa_program(int argc, char **argv)
{
    (void)argc;
    return run_companion("continuo-alsa", argv);
}

static const struct {
    const char *name;
    CliCommand run;
    const char *summary;
} commands[] = {
    {"corpus", cmd_corpus, "tokenize a folder of MIDI files and summarize it"},
    {"score", cmd_score, "turn hand-written text scores into MIDI files"},
    {"train", cmd_train, "train the LSTM on a folder of MIDI files"},
    {"generate", cmd_generate, "continue a prime and write a MIDI file"},
    {"eval", cmd_eval, "measure a model on music it did not train on"},
    {"info", cmd_info, "check a weights file and describe it"},
    {"import-keras", cmd_import_keras, "read a model the original Keras project trained"},
    {"roll", cmd_roll, "draw a MIDI file as a piano roll (SVG)"},
    {"jack", cmd_jack_program, "play along live as a JACK MIDI client"},
    {"alsa", cmd_alsa_program, "play along live as an ALSA sequencer client (no JACK needed)"},
};

static void usage(FILE *out)
{
    fprintf(out, "Usage: continuo COMMAND [OPTION]...\n"
                 "A music generator that learns from MIDI files and plays along.\n\n"
                 "Commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n'continuo COMMAND --help' lists a command's options.\n"
                 "  -h, --help     show this help\n"
                 "  -V, --version  show the version\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
        printf("continuo %s\n%s\n", CONTINUO_VERSION,
               cn_ranks_built_with_mpi() ? "train: data-parallel over MPI (mpirun -np N)"
                                          : "train: one process (built without MPI)");
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    return cli_error(2, "unknown command '%s' (try 'continuo --help')", argv[1]);
}
