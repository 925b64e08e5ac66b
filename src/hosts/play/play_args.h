/* The options every live command shares (continuo jack, continuo alsa): weights, client
 * name, ports to connect, and the engine's musical options. */
#ifndef CONTINUO_CLI_PLAY_ARGS_H
#define CONTINUO_CLI_PLAY_ARGS_H

#include <stdio.h>

#include "continuo/engine.h"

#define CLI_MAX_PORTS 16
#define CLI_MAX_MODELS 8

typedef struct {
    const char *weights[CLI_MAX_MODELS], *name; /* models, switched by program change */
    int n_weights;
    const char *ins[CLI_MAX_PORTS], *outs[CLI_MAX_PORTS];
    int n_ins, n_outs, verbose;
    int bf16;      /* run the network on bfloat16 weights */
    int reconnect; /* jack: wait for the server to come back */
    int clock_in;  /* follow a MIDI clock on the input (default; --no-clock-in) */
    int thru;      /* the player's events to the output too (default; --no-thru) */
    int clock_out; /* MIDI clock, Start and Stop on the output (--clock-out) */
    int learn;     /* ask for each control in turn before playing (--learn) */
    int list_ports; /* list the ports -i and -o can name, and exit (--list-ports) */
    int save;      /* --learn: keep what was learned in the setup file (--save) */
    char config_path[4096]; /* the setup file read (or to be written), "" for none */
    int seed_given;
    CnEngineOptions engine;
} CliPlayArgs;

/* Which of the command-specific flags a command takes. */
enum { CLI_PLAY_RECONNECT = 1 };

/* Parses the setup file (src/hosts/play/config.h; --config FILE, --no-config) and then
 * argv into a. Returns 0, 1 after --help (usage printed to stdout), or -1 after an error
 * (printed; a bad line of the setup is named, and nothing of it used). */
int cli_parse_play_args(int argc, char **argv, unsigned extras, void (*usage)(FILE *),
                        CliPlayArgs *a);

/* Loads every model for live play into models[0..n_weights), laid out for the step
 * (bfloat16 with --bf16); on failure none stays loaded and the message names the file. */
int cli_load_live_models(CnModel *models, const CliPlayArgs *a, CnError *err);
void cli_free_live_models(CnModel *models, const CliPlayArgs *a);

/* The model a program change picks (0-based program number) among n_models, or -1: not a
 * program change, none that exists, or not on control_channel (-1: any). Safe on the audio
 * thread. */
static inline int cli_program_change(const uint8_t *bytes, uint32_t size, int n_models,
                                     int control_channel)
{
    if (size != 2 || (bytes[0] & 0xf0) != 0xc0 || bytes[1] >= n_models)
        return -1;
    if (control_channel >= 0 && (bytes[0] & 0x0f) != control_channel)
        return -1;
    return bytes[1];
}

/* ", programs: 1 a.cnw, 2 b.cnw" for a start line: which program picks which model. */
void cli_print_programs(const CliPlayArgs *a);

/* The counters of every model's engine, added up (for the exit line). */
CnEngineStats cli_sum_stats(CnEngine *const *engines, int n_engines);

/* " (the last at 97.3 bpm)", or "" before any: what the counters say of the beat found. */
const char *cli_call_tempo(const CnEngineStats *stats, char *text, size_t size);

/* The controls' names as --cc takes them. */
extern const char *const cli_control_names[CN_N_CONTROLS];

/* The options line that sets o's controls: "--cc temperature=71,... [--control-channel N]". */
void cli_format_controls(const CnEngineOptions *o, char *line, size_t size);

/* The help lines of the shared options, for each command's usage(), the host's own
 * options (host_options: help lines, or "") after them. */
void cli_play_usage(FILE *out, const char *port_example, const char *host_options);

#endif
