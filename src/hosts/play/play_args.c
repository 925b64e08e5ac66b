#include "play_args.h"
#include "config.h"
#include "continuo/tempo.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

enum {
    OPT_BPM = 256, OPT_WAIT, OPT_RECONNECT, OPT_CLOCK_IN, OPT_NO_CLOCK_IN, OPT_BF16, OPT_THRU,
    OPT_NO_THRU, OPT_OFFSET, OPT_CLOCK_OUT, OPT_CC, OPT_CONTROL_CHANNEL, OPT_MIN_LISTEN,
    OPT_MAX_LISTEN, OPT_STATE_CC, OPT_LEARN, OPT_FIXED_GRID, OPT_LIST_PORTS, OPT_CONFIG,
    OPT_NO_CONFIG, OPT_SAVE
};

const char *const cli_control_names[CN_N_CONTROLS] = {"temperature", "mode", "end-call",
                                                     "mutate", "loop", "wait", "length"};

CnEngineStats cli_sum_stats(CnEngine *const *engines, int n_engines)
{
    CnEngineStats s = {0};
    for (int i = 0; i < n_engines; i++) {
        CnEngineStats one = cn_engine_stats(engines[i]);
        s.dropped_in += one.dropped_in, s.dropped_out += one.dropped_out;
        s.late_events += one.late_events, s.answers += one.answers;
        s.interruptions += one.interruptions, s.tokens_heard += one.tokens_heard;
        s.tokens_played += one.tokens_played;
        s.released_at_longest += one.released_at_longest;
        s.thru_dropped += one.thru_dropped;
        s.beats_found += one.beats_found;
        s.keys_released_for_room += one.keys_released_for_room;
        s.call_bpm = one.call_bpm > 0 ? one.call_bpm : s.call_bpm;
    }
    return s;
}

const char *cli_call_tempo(const CnEngineStats *s, char *text, size_t size)
{
    if (s->call_bpm > 0)
        snprintf(text, size, " (the last at %.1f bpm)", s->call_bpm);
    else
        snprintf(text, size, "%s", "");
    return text;
}

void cli_print_programs(const CliPlayArgs *a)
{
    printf(", programs:");
    for (int i = 0; i < a->n_weights; i++) {
        const char *name = strrchr(a->weights[i], '/');
        printf("%s %d %s", i ? "," : "", i + 1, name ? name + 1 : a->weights[i]);
    }
}

void cli_format_controls(const CnEngineOptions *o, char *line, size_t size)
{
    size_t n = (size_t)snprintf(line, size, "--cc ");
    for (int i = 0; i < CN_N_CONTROLS && n < size; i++) {
        if (o->controls[i] == CN_CONTROL_OFF)
            n += (size_t)snprintf(line + n, size - n, "%s%s=off", i ? "," : "",
                                  cli_control_names[i]);
        else
            n += (size_t)snprintf(line + n, size - n, "%s%s=%u", i ? "," : "",
                                  cli_control_names[i], o->controls[i]);
    }
    if (o->control_channel >= 0 && n < size)
        snprintf(line + n, size - n, " --control-channel %d", o->control_channel + 1);
}

/* --cc NAME=N[,NAME=N...]: N a control change number, or 'off'. */
static int parse_controls(const char *text, uint8_t *controls)
{
    char copy[256];
    if (strlen(text) >= sizeof copy) {
        cli_error(2, "--cc takes a short list such as temperature=71,mode=80");
        return -1;
    }
    strcpy(copy, text);
    for (char *item = strtok(copy, ","); item; item = strtok(NULL, ",")) {
        char *eq = strchr(item, '=');
        int which = -1;
        for (int i = 0; eq && i < CN_N_CONTROLS; i++)
            if ((size_t)(eq - item) == strlen(cli_control_names[i]) &&
                strncmp(item, cli_control_names[i], (size_t)(eq - item)) == 0)
                which = i;
        if (which < 0) {
            cli_error(2, "--cc: '%s' is not NAME=N with NAME one of temperature, mode, "
                         "end-call, mutate, loop", item);
            return -1;
        }
        long v;
        if (strcmp(eq + 1, "off") == 0)
            controls[which] = CN_CONTROL_OFF;
        else if (cli_parse_long("--cc", eq + 1, 0, 127, &v) == 0)
            controls[which] = (uint8_t)v;
        else
            return -1;
    }
    return 0;
}

void cli_play_usage(FILE *out, const char *port_example, const char *host_options)
{
    fprintf(out,
            "  -w, --weights FILE    weights to load\n"
            "                        " CLI_WEIGHTS_HELP ";\n"
            "                        give -w up to 8 times to load several, all at start:\n"
            "                        a program change on the control channel picks one\n"
            "                        (program 1, data byte 0, the first). Each costs its\n"
            "                        file's size in memory (21.5 MiB for the 3 x LSTM(512)\n"
            "                        network) and about 1 MiB of state\n"
            "  -n, --name NAME       client name (continuo)\n"
            "  -i, --in PORT         connect this port to our input (repeatable; e.g.\n"
            "                        %s)\n"
            "  -o, --out PORT        connect our output to this port (repeatable)\n"
            "      --list-ports      list the MIDI ports -i and -o can connect to, and exit\n"
            "  -c, --channel N       the answer's MIDI channel 1..16 (1)\n"
            "      --thru, --no-thru pass what the player plays to the output, unchanged and\n"
            "                        in time with the answer (default: on); past what a cycle\n"
            "                        holds a flood is cut and counted, never a note-off\n"
            "  -m, --mode MODE       'respond' (answer after the player's silence; default)\n"
            "                        or 'continuous' (play on, steered by the player)\n"
            "      --bpm BPM         the tempo to expect (120); with no transport or clock,\n"
            "                        each call's own tempo and beat are found in its notes\n"
            "                        and answered on; a MIDI clock on the input takes over\n"
            "                        while it runs (--no-clock-in: not)\n"
            "      --fixed-grid      with no transport or clock, play on the --bpm grid\n"
            "                        from the start instead of the player's beat\n"
            "      --clock-out       send MIDI clock (24 a beat), Start (on a beat) and\n"
            "                        Stop on the output at continuo's tempo, for synths\n"
            "                        and sequencers to follow (jack: a device connected\n"
            "                        later gets Song Position, to find the beat)\n"
            "      --offset MS       move the output this much later, or earlier when\n"
            "                        negative, to meet a synth's latency (-500..500; 0)\n"
            "      --wait BEATS      silence before an answer (2)\n"
            "  -l, --length N        notes in an answer (32; an original model's tokens, one\n"
            "                        an eighth); Nbeats or Nbars: that long, its notes\n"
            "                        released by then (bars of 4/4 end on the bar line);\n"
            "                        'call': as many as the call had\n"
            "      --min-listen BEATS  no answer sooner than this after the call began (0)\n"
            "      --max-listen BEATS  answer a call this long even while it goes on\n"
            "                        (0: never)\n"
            "  -t, --temperature T   sampling temperature (%g; 0 = argmax)\n"
            "      --top-k K         (0 = off)   --top-p P  (%g)\n"
            "      --repetition-penalty X, --repetition-window N  as in 'continuo generate'\n"
            "      --key-guard G, --loudness-width L, --rhythm-guard R  keep the\n"
            "                        call's key, loudness and rhythm, as\n"
            "                        in 'continuo generate'\n"
            "  -s, --seed N          sampler seed (default: a new one each run, printed)\n"
            "      --bf16            run the network on bfloat16 weights: about half the\n"
            "                        time and memory traffic per note (see 'generate')\n"
            "  -v, --verbose         print counters every 5 seconds\n"
            "  -h, --help            show this help\n"
            "      --cc NAME=N,...   the control change of each control (N, or 'off'):\n"
            "                        temperature=%d (0..127 -> 0..2), mode=%d (<64 respond,\n"
            "                        >=64 continuous), end-call=%d (answer now), mutate=%d\n"
            "                        (answer the last call again, anew), loop=%d (>=64 repeat\n"
            "                        the answer until <64), wait=%d (0..127 -> 0..8 beats),\n"
            "                        length=%d (0..127 -> 1..64)\n"
            "      --control-channel N  hear the controls on channel N only (default: any)\n"
            "      --learn           before playing, ask for each control in turn (move it;\n"
            "                        Enter skips one), then print the options line; with\n"
            "      --save            keep them in the setup file for every start\n"
            "      --config FILE     read options from FILE before the command line (default:\n"
            "                        ~/.config/continuo/live.conf), one a line without its\n"
            "                        dashes: 'bpm 100', 'cc end-call=22'; --no-config: none\n"
            "      --state-cc N      send CC N on the answer's channel when the state\n"
            "                        changes: 0 idle, 64 listening, 127 answering (lights)\n"
            "%s"
            "Always: CC %d/%d all notes off, CC %d the sustain pedal (released notes sound\n"
            "on; the silence starts when it is let go).\n",
            port_example, (double)cn_sampler_defaults().temperature,
            (double)cn_sampler_defaults().top_p, CN_CC_TEMPERATURE, CN_CC_MODE, CN_CC_END_CALL,
            CN_CC_MUTATE, CN_CC_LOOP, CN_CC_WAIT, CN_CC_LENGTH, host_options, CN_CC_ALL_NOTES_OFF, CN_CC_ALL_SOUND_OFF, CN_CC_SUSTAIN);
}

static int add_port(const char **ports, int *n, const char *name, const char *option)
{
    if (*n == CLI_MAX_PORTS) {
        cli_error(2, "at most %d %s ports", CLI_MAX_PORTS, option);
        return -1;
    }
    ports[(*n)++] = name;
    return 0;
}

/* --length N (notes), N beats or N bars: "32", "8beats", "2bars" (also "8b", "2bar"). */
static int parse_length(const char *text, CnEngineOptions *o)
{
    char *end;
    long n = strtol(text, &end, 10);
    CnLengthUnit unit = CN_LENGTH_NOTES;
    if (strcmp(end, "b") == 0 || strcmp(end, "beat") == 0 || strcmp(end, "beats") == 0)
        unit = CN_LENGTH_BEATS;
    else if (strcmp(end, "bar") == 0 || strcmp(end, "bars") == 0)
        unit = CN_LENGTH_BARS;
    else if (*end)
        n = 0;
    long most = unit == CN_LENGTH_BARS ? 1024 / CN_BEATS_PER_BAR : 1024;
    if (end == text || n < 1 || n > most) {
        cli_error(2, "--length takes notes (1..1024), beats (like 8beats, up to 1024) or bars "
                     "(like 2bars, up to %ld), or 'call', not '%s'", most, text);
        return -1;
    }
    o->length = (int)n;
    o->length_unit = unit;
    return 0;
}

static int parse_mode(const char *text, CnPlayMode *mode)
{
    if (strcmp(text, "respond") == 0)
        *mode = CN_PLAY_RESPOND;
    else if (strcmp(text, "continuous") == 0)
        *mode = CN_PLAY_CONTINUOUS;
    else {
        cli_error(2, "--mode is 'respond' or 'continuous', not '%s'", text);
        return -1;
    }
    return 0;
}

int cli_load_live_models(CnModel *models, const CliPlayArgs *a, CnError *err)
{
    for (int i = 0; i < a->n_weights; i++) {
        if (cn_model_load(&models[i], a->weights[i], 0, NULL, err) ||
            (a->bf16 ? cn_model_make_bf16 : cn_model_pack_f32)(&models[i], err)) {
            if (models[i].params)
                cn_model_free(&models[i]);
            while (i-- > 0)
                cn_model_free(&models[i]);
            return -1;
        }
    }
    return 0;
}

void cli_free_live_models(CnModel *models, const CliPlayArgs *a)
{
    for (int i = 0; i < a->n_weights; i++)
        cn_model_free(&models[i]);
}


/* The options of argv into a (usage NULL: a line of the setup file, told apart). */
static int parse_options(int argc, char **argv, unsigned extras, void (*usage)(FILE *),
                         CliPlayArgs *a)
{
    static const struct option options[] = {
        {"weights", required_argument, 0, 'w'}, {"name", required_argument, 0, 'n'},
        {"in", required_argument, 0, 'i'},      {"out", required_argument, 0, 'o'},
        {"channel", required_argument, 0, 'c'}, {"mode", required_argument, 0, 'm'},
        {"bpm", required_argument, 0, OPT_BPM}, {"wait", required_argument, 0, OPT_WAIT},
        {"length", required_argument, 0, 'l'},  CLI_SAMPLER_LONG_OPTIONS,
        {"seed", required_argument, 0, 's'},    {"verbose", no_argument, 0, 'v'},
        {"reconnect", no_argument, 0, OPT_RECONNECT},
        {"clock-in", no_argument, 0, OPT_CLOCK_IN},
        {"no-clock-in", no_argument, 0, OPT_NO_CLOCK_IN},
        {"thru", no_argument, 0, OPT_THRU},     {"no-thru", no_argument, 0, OPT_NO_THRU},
        {"offset", required_argument, 0, OPT_OFFSET},
        {"clock-out", no_argument, 0, OPT_CLOCK_OUT},
        {"cc", required_argument, 0, OPT_CC},
        {"control-channel", required_argument, 0, OPT_CONTROL_CHANNEL},
        {"min-listen", required_argument, 0, OPT_MIN_LISTEN},
        {"max-listen", required_argument, 0, OPT_MAX_LISTEN},
        {"state-cc", required_argument, 0, OPT_STATE_CC},
        {"fixed-grid", no_argument, 0, OPT_FIXED_GRID},
        {"learn", no_argument, 0, OPT_LEARN},
        {"list-ports", no_argument, 0, OPT_LIST_PORTS},
        {"config", required_argument, 0, OPT_CONFIG},
        {"no-config", no_argument, 0, OPT_NO_CONFIG},
        {"save", no_argument, 0, OPT_SAVE},
        {"bf16", no_argument, 0, OPT_BF16},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    *a = (CliPlayArgs){.name = "continuo", .clock_in = 1, .thru = 1,
                       .engine = cn_engine_defaults(48000)};
    long v = 1;
    int c, rc = 0;
    optind = 0; /* (a full start: argv differs from one call to the next) */
    opterr = usage != NULL;
    while (rc == 0 && (c = getopt_long(argc, argv, "w:n:i:o:c:m:l:t:s:vh", options, NULL)) != -1) {
        switch (c) {
        case 'w':
            if (a->n_weights == CLI_MAX_MODELS) {
                cli_error(2, "at most %d models (-w)", CLI_MAX_MODELS);
                return -1;
            }
            a->weights[a->n_weights++] = optarg;
            break;
        case 'n': a->name = optarg; break;
        case 'i': rc = add_port(a->ins, &a->n_ins, optarg, "--in"); break;
        case 'o': rc = add_port(a->outs, &a->n_outs, optarg, "--out"); break;
        case 'c':
            rc = cli_parse_long("--channel", optarg, 1, 16, &v);
            a->engine.channel = (uint8_t)(v - 1);
            break;
        case 'm': rc = parse_mode(optarg, &a->engine.mode); break;
        case OPT_BPM: rc = cli_parse_double("--bpm", optarg, CN_BPM_MIN, CN_BPM_MAX, &a->engine.bpm); break;
        case OPT_WAIT:
            rc = cli_parse_double("--wait", optarg, 0, 64, &a->engine.wait_beats);
            break;
        case 'l':
            if (strcmp(optarg, "call") == 0) {
                a->engine.length_from_call = 1;
                break;
            }
            rc = parse_length(optarg, &a->engine);
            break;
        case OPT_CC: rc = parse_controls(optarg, a->engine.controls); break;
        case OPT_CONTROL_CHANNEL:
            rc = cli_parse_long("--control-channel", optarg, 1, 16, &v);
            a->engine.control_channel = (int)v - 1;
            break;
        case OPT_MIN_LISTEN:
            rc = cli_parse_double("--min-listen", optarg, 0, 64, &a->engine.min_listen_beats);
            break;
        case OPT_MAX_LISTEN:
            rc = cli_parse_double("--max-listen", optarg, 0, 256, &a->engine.max_listen_beats);
            break;
        case OPT_FIXED_GRID: a->engine.fixed_grid = 1; break;
        case OPT_STATE_CC:
            rc = cli_parse_long("--state-cc", optarg, 0, 127, &v);
            a->engine.state_cc = (int)v;
            break;
        case 's':
            rc = cli_parse_long("--seed", optarg, 0, 2147483647L, &v);
            a->engine.seed = (uint64_t)v;
            a->seed_given = 1;
            break;
        case OPT_OFFSET:
            rc = cli_parse_double("--offset", optarg, -500, 500, &a->engine.offset_ms);
            break;
        case OPT_CLOCK_IN: a->clock_in = 1; break;
        case OPT_NO_CLOCK_IN: a->clock_in = 0; break;
        case OPT_THRU: a->thru = 1; break;
        case OPT_CLOCK_OUT: a->clock_out = 1; break;
        case OPT_LEARN: a->learn = 1; break;
        case OPT_LIST_PORTS: a->list_ports = 1; break;
        case OPT_CONFIG: /* (read before: cli_parse_play_args) */
        case OPT_NO_CONFIG: break;
        case OPT_SAVE: a->save = 1; break;
        case OPT_NO_THRU: a->thru = 0; break;
        case 'v': a->verbose = 1; break;
        case OPT_BF16: a->bf16 = 1; break;
        case OPT_RECONNECT:
            if (!(extras & CLI_PLAY_RECONNECT)) {
                cli_error(2, "%s is not an option of this command", argv[optind - 1]);
                return -1;
            }
            a->reconnect = 1;
            break;
        case 'h':
            if (!usage)
                return cli_error(2, "help cannot be part of a setup"), -1;
            usage(stdout);
            return 1;
        default: {
            int handled = cli_sampler_option(c, optarg, 2, &a->engine.sampler);
            if (handled == 0 && !usage)
                cli_error(2, "%s is no option of this command, or lacks its value",
                          argv[optind - 1]);
            else if (handled == 0)
                usage(stderr);
            if (handled <= 0)
                return -1;
        }
        }
    }
    if (rc)
        return -1;
    if (optind != argc) {
        if (usage)
            cli_error(2, "unexpected argument '%s'", argv[optind]);
        else
            cli_error(2, "%s takes no value ('%s')", argv[1] + 2, argv[optind]);
        return -1;
    }
    if (!usage) /* a line of the setup: the whole is checked with the command line */
        return 0;
    CnError err = {{0}};
    if (cn_engine_check_options(&a->engine, &err)) {
        cli_error(2, "%s", err.message);
        return -1;
    }
    if (!a->seed_given) { /* the same phrase gets another answer each run; printed, so that
                             one can be had again with --seed */
        a->engine.seed = cli_fresh_seed();
    }
    if (a->n_weights == 0 && !a->list_ports) { /* (listing ports needs no model) */
        a->n_weights = 1;
        return cli_resolve_weights(&a->weights[0]);
    }
    return 0;
}

/* Options that make no sense in a setup file: what it is, and what runs once. */
static int setup_refuses(const char *option)
{
    static const char *const refused[] = {"--config", "--no-config", "--help", "--learn",
                                          "--list-ports", "--save"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        if (strcmp(option, refused[i]) == 0)
            return cli_error(2, "%s is an option of the command line, not of a setup",
                             option + 2), -1;
    return 0;
}

/* Each line of the setup alone: a bad one is named, and nothing of the file is used. */
static int check_setup(const CliConfig *config, char *argv0, unsigned extras)
{
    for (int i = 0; i < config->n;) {
        int j = i + 1;
        while (j < config->n && config->lines[j] == config->lines[i])
            j++;
        char *line_argv[4] = {argv0, config->args[i], j - i > 1 ? config->args[i + 1] : NULL,
                              NULL};
        snprintf(cli_error_context, sizeof cli_error_context, "%s:%d: ", config->path,
                 config->lines[i]);
        CliPlayArgs scratch;
        int rc = setup_refuses(config->args[i]) ? -1
                 : parse_options(j - i + 1, line_argv, extras, NULL, &scratch);
        cli_error_context[0] = '\0';
        if (rc != 0)
            return -1;
        i = j;
    }
    return 0;
}

int cli_parse_play_args(int argc, char **argv, unsigned extras, void (*usage)(FILE *),
                        CliPlayArgs *a)
{
    const char *given = NULL; /* --config FILE, --no-config: which setup, found first */
    int none = 0, saving = 0; /* (--save may make the file) */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--no-config") == 0)
            none = 1;
        else if (strcmp(argv[i], "--save") == 0)
            saving = 1;
        else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            given = argv[++i];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            given = argv[i] + 9;
    }
    static CliConfig config; /* (the options point into it for the process's life) */
    char path[4096] = "";
    if (given)
        snprintf(path, sizeof path, "%s", given);
    else if (!none && cli_config_default_path(path, sizeof path))
        path[0] = '\0';
    if (!none && path[0] && (cli_config_read(path, given && !saving, &config) ||
                             check_setup(&config, argv[0], extras)))
        return -1;
    char **all = malloc((size_t)(config.n + argc + 1) * sizeof *all);
    if (!all)
        return cli_error(1, "out of memory"), -1;
    int n = 0;
    all[n++] = argv[0]; /* the setup's options, then the command line's, which win */
    for (int i = 0; i < config.n; i++)
        all[n++] = config.args[i];
    for (int i = 1; i < argc; i++)
        all[n++] = argv[i];
    all[n] = NULL;
    int rc = parse_options(n, all, extras, usage, a);
    free(all);
    snprintf(a->config_path, sizeof a->config_path, "%s", none ? "" : path);
    return rc;
}
