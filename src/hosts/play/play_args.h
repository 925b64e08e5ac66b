/* The options every live command shares (continuo jack, continuo alsa): weights, client
 * name, ports to connect, and the engine's musical options. */
#ifndef CONTINUO_CLI_PLAY_ARGS_H
#define CONTINUO_CLI_PLAY_ARGS_H

#include <stdio.h>

#include "continuo/engine.h"

#define CLI_MAX_PORTS 16

typedef struct {
    const char *weights, *name;
    const char *ins[CLI_MAX_PORTS], *outs[CLI_MAX_PORTS];
    int n_ins, n_outs, verbose;
    int bf16;      /* run the network on bfloat16 weights */
    int reconnect; /* jack: wait for the server to come back */
    int clock_in;  /* follow a MIDI clock on the input (default; --no-clock-in) */
    int thru;      /* the player's events to the output too (default; --no-thru) */
    int clock_out; /* MIDI clock, Start and Stop on the output (--clock-out) */
    int seed_given;
    CnEngineOptions engine;
} CliPlayArgs;

/* Which of the command-specific flags a command takes. */
enum { CLI_PLAY_RECONNECT = 1 };

/* Parses argv into a. Returns 0, 1 after --help (usage printed to stdout), or -1 after an
 * error (printed). */
int cli_parse_play_args(int argc, char **argv, unsigned extras, void (*usage)(FILE *),
                        CliPlayArgs *a);

/* Loads the weights for live play, laid out for the step (bfloat16 with --bf16). */
int cli_load_live_model(CnModel *model, const CliPlayArgs *a, CnError *err);

/* The help lines of the shared options, for each command's usage(). */
void cli_play_usage(FILE *out, const char *port_example);

#endif
