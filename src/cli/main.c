/* The continuo command: dispatches to one subcommand per file, GNU-style options. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "continuo/sampler.h"

#ifndef CONTINUO_VERSION
#define CONTINUO_VERSION "0.1.0"
#endif

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
    {"roll", cmd_roll, "draw a MIDI file as a piano roll (SVG)"},
    {"jack", cmd_jack, "play along live as a JACK MIDI client"},
    {"alsa", cmd_alsa, "play along live as an ALSA sequencer client (no JACK needed)"},
};

int cli_error(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("continuo: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return code;
}

int cli_parse_long(const char *option, const char *text, long min, long max, long *value)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end != '\0' || v < min || v > max) {
        cli_error(2, "%s takes a whole number from %ld to %ld, not '%s'", option, min, max, text);
        return -1;
    }
    *value = v;
    return 0;
}

int cli_parse_double(const char *option, const char *text, double min, double max,
                     double *value)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end != '\0' || !(v >= min && v <= max)) {
        cli_error(2, "%s takes a number from %g to %g, not '%s'", option, min, max, text);
        return -1;
    }
    *value = v;
    return 0;
}

int cli_sampler_option(int code, const char *arg, double max_temperature, void *options)
{
    CnSamplerOptions *s = options;
    long v;
    double x;
    switch (code) {
    case 't':
        if (cli_parse_double("--temperature", arg, 0, max_temperature, &x))
            return -1;
        s->temperature = (float)x;
        return 1;
    case CLI_OPT_TOP_K:
        if (cli_parse_long("--top-k", arg, 0, 100000, &v))
            return -1;
        s->top_k = (int)v;
        return 1;
    case CLI_OPT_TOP_P:
        if (cli_parse_double("--top-p", arg, 1e-6, 1, &x))
            return -1;
        s->top_p = (float)x;
        return 1;
    case CLI_OPT_REP_PENALTY:
        if (cli_parse_double("--repetition-penalty", arg, 1, 100, &x))
            return -1;
        s->repetition_penalty = (float)x;
        return 1;
    case CLI_OPT_REP_WINDOW:
        if (cli_parse_long("--repetition-window", arg, 0, CN_SAMPLER_MAX_WINDOW, &v))
            return -1;
        s->repetition_window = (int)v;
        return 1;
    default:
        return 0;
    }
}

static void usage(FILE *out)
{
    fprintf(out, "Usage: continuo COMMAND [OPTION]...\n"
                 "A music generator that learns from MIDI files and plays along.\n\n"
                 "Commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
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
        printf("continuo %s\n", CONTINUO_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    return cli_error(2, "unknown command '%s' (try 'continuo --help')", argv[1]);
}
