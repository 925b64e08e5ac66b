/* The continuo program's subcommands, one file each; main.c dispatches to them. */
#ifndef CONTINUO_CLI_H
#define CONTINUO_CLI_H

#include <stdint.h>

typedef int (*CliCommand)(int argc, char **argv);

int cmd_corpus(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_roll(int argc, char **argv);
int cmd_jack(int argc, char **argv);
int cmd_alsa(int argc, char **argv);
int cmd_import_keras(int argc, char **argv);

/* Draws midi_path as a piano roll into svg_path; prints why on failure. */
int cli_write_roll(const char *midi_path, const char *svg_path);

/* Prints "continuo: <message>" to stderr and returns exit code 1 (or the one given); the
 * message stays in cli_last_error. */
#define CLI_ERROR_MAX 4096
extern char cli_last_error[CLI_ERROR_MAX];
/* Said before each message while set (e.g. "FILE:LINE: "), "" otherwise. */
extern char cli_error_context[4200];
int cli_error(int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* The sampling options every playing command shares: -t/--temperature, --top-k, --top-p,
 * --repetition-penalty, --repetition-window, --key-guard, --loudness-width, --rhythm-guard. Codes above 1000 leave room for each
 * command's own. */
enum { CLI_OPT_TOP_K = 1001, CLI_OPT_TOP_P, CLI_OPT_REP_PENALTY, CLI_OPT_REP_WINDOW,
       CLI_OPT_KEY_GUARD, CLI_OPT_LOUDNESS_WIDTH, CLI_OPT_RHYTHM_GUARD };
#define CLI_SAMPLER_LONG_OPTIONS                                                          \
    {"temperature", required_argument, 0, 't'},                                           \
        {"top-k", required_argument, 0, CLI_OPT_TOP_K},                                   \
        {"top-p", required_argument, 0, CLI_OPT_TOP_P},                                   \
        {"repetition-penalty", required_argument, 0, CLI_OPT_REP_PENALTY},                \
        {"repetition-window", required_argument, 0, CLI_OPT_REP_WINDOW},                  \
        {"key-guard", required_argument, 0, CLI_OPT_KEY_GUARD},                           \
        {"loudness-width", required_argument, 0, CLI_OPT_LOUDNESS_WIDTH},                 \
        {"rhythm-guard", required_argument, 0, CLI_OPT_RHYTHM_GUARD}

/* Applies option code with its argument to the sampler options: 1 when it was a sampling
 * option, 0 when not, -1 when its value was refused (the message is printed). */
int cli_sampler_option(int code, const char *arg, double max_temperature, void *sampler);

/* The default model: weights/default.cnw in the current folder (a clone of the project),
 * else the one installed with the program (PREFIX/share/continuo/default.cnw, found from
 * where the program is, or from the prefix it was built for); NULL when there is none. */
#define CLI_LOCAL_WEIGHTS "weights/default.cnw"
#define CLI_WEIGHTS_HELP "(default: " CLI_LOCAL_WEIGHTS ", else the installed one)"
const char *cli_default_weights(void);

/* Leaves *weights alone when set, else sets the default model; -1 and a message saying
 * where it looked when there is none. */
int cli_resolve_weights(const char **weights);

/* Parses a whole decimal number or fails with a message naming the option. */
/* A seed for a run not given --seed: from the system's entropy (getrandom), so that runs
 * started in one second differ; printed by the caller, so that a run can be had again.
 * 0..2147483646, the range --seed takes. */
uint64_t cli_fresh_seed(void);

int cli_parse_long(const char *option, const char *text, long min, long max, long *value);
int cli_parse_double(const char *option, const char *text, double min, double max,
                     double *value);

#endif
