/* continuo generate: load weights, continue a prime (a random stretch of the training
 * corpus or a MIDI file) and write the result as a MIDI file. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "render.h"
#include "continuo/tempo.h"
#include "continuo/generate.h"
#include "continuo/midi_file.h"
#include "continuo/tokens.h"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: continuo generate [OPTION]...\n"
            "Continue a prime with the trained network and write a MIDI file.\n\n"
            "  -w, --weights FILE      weights to load\n"
            "                          " CLI_WEIGHTS_HELP "\n"
            "  -l, --length N          tokens to generate (500; a timed model's are events;\n"
            "                          -n is the same)\n"
            "  -p, --prime SOURCE      'random' (a stretch of the training corpus; default)\n"
            "                          or a MIDI file to continue\n"
            "      --prime-length N    tokens of the prime: of a random one (default: the\n"
            "                          model's window), the last ones of a file's (default:\n"
            "                          at most 2000)\n"
            "  -t, --temperature T     0 = always the most likely token, as the original;\n"
            "                          1 = the model's own distribution (default %g)\n"
            "      --top-k K           sample among the K most likely tokens (0 = all)\n"
            "      --top-p P           sample among the most likely tokens holding P of the\n"
            "                          probability (default %g; 1 = all)\n"
            "      --repetition-penalty X   make tokens of the last --repetition-window\n"
            "                          tokens X times less likely (default 1 = off)\n"
            "      --repetition-window N    (default %d)\n"
            "      --key-guard G       a timed model: notes outside the prime's key are\n"
            "                          1 - G times as likely (default %g; 0 off, 1 never)\n"
            "      --loudness-width L  a timed model: loudness stays near the prime's, within\n"
            "                          about L of 16 velocity levels (default %g; 0 = off)\n"
            "      --rhythm-guard R    a timed model: each time step weighed by its share in\n"
            "                          the prime over its share in the music the model\n"
            "                          learned, to the power R (default %g; 0 = off)\n"
            "  -m, --mode MODE         'stateful' (default) or 'window' (the original's way:\n"
            "                          rerun the last window for every token)\n"
            "  -s, --seed N            random seed (default: a new one each run, printed)\n"
            "      --bpm BPM           tempo of the written file (120)\n"
            "      --bf16              run the network on bfloat16 weights (faster)\n"
            "      --threads N         threads sharing each step (1..8, at most the cores;\n"
            "                          default 1; the output is the same)\n"
            "      --prime-index N     prime from the window of the stored corpus that\n"
            "                          starts at token N (the original predict.py's\n"
            "                          random start, chosen)\n"
            "      --no-prime          leave the prime out of the written file\n"
            "  -o, --out FILE          MIDI file to write (default: continuo.mid); '-' or a\n"
            "                          pipe streams it, and the summary goes to stderr\n"
            "      --roll FILE.svg     also draw it as a piano roll\n"
            "      --wav FILE.wav      also render it to audio with FluidSynth\n"
            "      --soundfont FILE    the SoundFont for --wav (default: Debian's GM font)\n"
            "  -h, --help              show this help\n"
            "The prime goes on track 1 of the file and the continuation on track 2. A timed\n"
            "model's notes have the onsets, lengths and velocities it chose (a token is an\n"
            "event: a key down or up, a time shift, a loudness); an original model's come a\n"
            "token every eighth note, each a quarter long, as the original wrote them.\n",
            (double)cn_sampler_defaults().temperature, (double)cn_sampler_defaults().top_p,
            cn_sampler_defaults().repetition_window, (double)cn_sampler_defaults().key_guard,
            (double)cn_sampler_defaults().loudness_width,
            (double)cn_sampler_defaults().rhythm_guard);
}

typedef struct {
    const char *weights, *prime, *output, *roll, *wav, *soundfont;
    int to_stream;            /* the output is standard output, a pipe or a device */
    long length, prime_length, prime_index; /* prime_index -1: none */
    CnGenerateOptions gen;
    double bpm;
    int seed_given, no_prime, bf16;
} GenerateArgs;

enum { OPT_BPM = 256, OPT_NO_PRIME, OPT_PRIME_INDEX,
       OPT_PRIME_LENGTH, OPT_ROLL, OPT_WAV, OPT_SOUNDFONT, OPT_BF16, OPT_THREADS };

static int parse_args(int argc, char **argv, GenerateArgs *a)
{
    static const struct option options[] = {
        {"weights", required_argument, 0, 'w'}, {"length", required_argument, 0, 'n'},
        {"prime", required_argument, 0, 'p'},   CLI_SAMPLER_LONG_OPTIONS,
        {"mode", required_argument, 0, 'm'},    {"seed", required_argument, 0, 's'},
        {"bpm", required_argument, 0, OPT_BPM}, {"no-prime", no_argument, 0, OPT_NO_PRIME},
        {"prime-length", required_argument, 0, OPT_PRIME_LENGTH},
        {"prime-index", required_argument, 0, OPT_PRIME_INDEX},
        {"out", required_argument, 0, 'o'},     {"output", required_argument, 0, 'o'},
        {"help", no_argument, 0, 'h'},
        {"roll", required_argument, 0, OPT_ROLL}, {"wav", required_argument, 0, OPT_WAV},
        {"soundfont", required_argument, 0, OPT_SOUNDFONT},
        {"bf16", no_argument, 0, OPT_BF16},
        {"threads", required_argument, 0, OPT_THREADS},
        {0, 0, 0, 0}};
    *a = (GenerateArgs){.weights = NULL, .prime = "random",
                        .output = "continuo.mid", .length = 500, .bpm = 120,
                        .prime_index = -1};
    a->gen.mode = CN_MODE_STATEFUL;
    a->gen.sampler = cn_sampler_defaults();
    int c;
    long v;
    optind = 1;
    while ((c = getopt_long(argc, argv, "w:l:n:p:t:m:s:o:h", options, NULL)) != -1) {
        switch (c) {
        case 'w': a->weights = optarg; break;
        case 'p': a->prime = optarg; break;
        case 'o': a->output = optarg; break;
        case 'h': usage(stdout); return 1;
        case 'l':
        case 'n':
            if (cli_parse_long("--length", optarg, 1, 1000000, &a->length))
                return -1;
            break;
        case OPT_PRIME_LENGTH:
            if (cli_parse_long("--prime-length", optarg, 1, 100000, &a->prime_length))
                return -1;
            break;
        case OPT_PRIME_INDEX:
            if (cli_parse_long("--prime-index", optarg, 0, 2000000000L, &a->prime_index))
                return -1;
            break;
        case 'm':
            if (strcmp(optarg, "stateful") == 0)
                a->gen.mode = CN_MODE_STATEFUL;
            else if (strcmp(optarg, "window") == 0)
                a->gen.mode = CN_MODE_WINDOW;
            else
                return cli_error(2, "--mode is 'stateful' or 'window', not '%s'", optarg) ? -1 : -1;
            break;
        case 's':
            if (cli_parse_long("--seed", optarg, 0, 2147483647L, &v))
                return -1;
            a->gen.seed = (uint64_t)v;
            a->seed_given = 1;
            break;
        case OPT_BPM:
            if (cli_parse_double("--bpm", optarg, CN_BPM_MIN, CN_BPM_MAX, &a->bpm))
                return -1;
            break;
        case OPT_NO_PRIME: a->no_prime = 1; break;
        case OPT_ROLL: a->roll = optarg; break;
        case OPT_WAV: a->wav = optarg; break;
        case OPT_SOUNDFONT: a->soundfont = optarg; break;
        case OPT_BF16: a->bf16 = 1; break;
        case OPT_THREADS:
            if (cli_parse_long("--threads", optarg, 1, 8, &v))
                return -1;
            a->gen.n_threads = (int)v;
            break;
        default: {
            int handled = cli_sampler_option(c, optarg, 100, &a->gen.sampler);
            if (handled == 0)
                usage(stderr);
            if (handled <= 0)
                return -1;
        }
        }
    }
    if (optind != argc) {
        cli_error(2, "unexpected argument '%s'", argv[optind]);
        return -1;
    }
    if (a->prime_index >= 0 && strcmp(a->prime, "random") != 0) {
        cli_error(2, "--prime-index primes from the stored corpus: give it or --prime FILE, "
                     "not both");
        return -1;
    }
    if (!a->seed_given)
        a->gen.seed = cli_fresh_seed();
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores > 0 && a->gen.n_threads > cores) { /* more would only wait on each other */
        fprintf(stderr, "continuo: --threads %d capped at this machine's %ld cores\n",
                a->gen.n_threads, cores);
        a->gen.n_threads = (int)cores;
    }
    struct stat st;
    a->to_stream = strcmp(a->output, "-") == 0 ||
                   (stat(a->output, &st) == 0 && !S_ISREG(st.st_mode));
    if (a->to_stream && (a->roll || a->wav)) {
        cli_error(2, "--roll and --wav read the MIDI file back: give -o a file, not %s",
                  strcmp(a->output, "-") == 0 ? "standard output" : "a pipe or device");
        return -1;
    }
    return cli_resolve_weights(&a->weights);
}

#define MAX_FILE_PRIME 2000 /* a prime's last tokens carry the context; 1 M would take minutes */

/* The last `keep` tokens of a MIDI file (all when 0: at most MAX_FILE_PRIME), mapped onto
 * the vocabulary; *n_mapped counts the substitutes. */
static int prime_from_file(const CnModel *m, const char *path, size_t keep, int **ids,
                           size_t *n, size_t *n_mapped)
{
    CnMidi midi;
    CnTokenStream stream;
    CnError err = {{0}};
    if (cn_midi_read_file(path, &midi, &err))
        return cli_error(1, "cannot read the prime %s: %s", path, err.message);
    int rc = cn_tokenize_scheme(&midi, m->vocab.scheme, &stream, &err);
    cn_midi_free(&midi);
    if (rc)
        return cli_error(1, "%s: %s", path, err.message);
    if (stream.n_tokens == 0) {
        cn_token_stream_free(&stream);
        return cli_error(1, "the prime %s has no notes", path);
    }
    size_t limit = keep ? keep : MAX_FILE_PRIME, first = 0;
    if (stream.n_tokens > limit) {
        first = stream.n_tokens - limit;
        fprintf(stderr, "continuo: the prime %s has %zu tokens: continuing from its last %zu "
                        "(--prime-length sets how many)\n", path, stream.n_tokens, limit);
    }
    *n = stream.n_tokens - first;
    *ids = malloc(*n * sizeof **ids);
    *n_mapped = 0;
    for (size_t i = 0; *ids && i < *n; i++) {
        CnToken t = stream.tokens[first + i];
        int id = cn_vocab_index(&m->vocab, t);
        if (id < 0) {
            id = cn_vocab_nearest(&m->vocab, t);
            (*n_mapped)++;
        }
        (*ids)[i] = id;
    }
    cn_token_stream_free(&stream);
    return *ids ? 0 : cli_error(1, "out of memory");
}

/* Where the prime ends, in ticks: an original model's tokens an eighth apart, a timed
 * model's at the sum of its shifts. */
static uint32_t continuation_start(const CnModel *m, const CnToken *tokens, size_t n_prime,
                                   const CnRenderOptions *render)
{
    if (m->vocab.scheme != CN_SCHEME_TIMED)
        return (uint32_t)(n_prime * render->step_quarters * render->ppqn + 0.5);
    uint64_t twelfths = 0;
    for (size_t i = 0; i < n_prime; i++)
        twelfths += tokens[i].kind == CN_EVENT_SHIFT ? tokens[i].pitch : 0;
    return (uint32_t)(twelfths * render->ppqn / CN_TIMED_STEPS_PER_BEAT);
}

static int write_output(const CnModel *m, const int *ids, size_t n_prime, size_t n_total,
                        const GenerateArgs *a, double *seconds)
{
    size_t first = a->no_prime ? n_prime : 0;
    CnToken *tokens = malloc((n_total - first) * sizeof *tokens);
    if (!tokens)
        return cli_error(1, "out of memory");
    for (size_t i = first; i < n_total; i++)
        tokens[i - first] = m->vocab.tokens[ids[i]];
    CnRenderOptions options = cn_render_defaults();
    CnNote *notes;
    size_t n_notes;
    double quarters;
    CnError err = {{0}};
    uint32_t continuation_starts = continuation_start(m, tokens, n_prime - first, &options);
    int rc = cn_render_scheme(tokens, n_total - first, m->vocab.scheme, &options, &notes,
                              &n_notes, &quarters, &err);
    free(tokens);
    if (rc)
        return cli_error(1, "%s", err.message);
    for (size_t i = 0; i < n_notes; i++) /* the prime on track 1, the continuation on 2 */
        notes[i].track = !a->no_prime && notes[i].onset >= continuation_starts ? 1 : 0;
    static const char *const with_prime[] = {"prime", "continuation"};
    static const char *const alone[] = {"continuation"};
    CnMidiWriteOptions write = {.ppqn = options.ppqn, .bpm = a->bpm, .program = 0,
                                .track_names = a->no_prime ? alone : with_prime,
                                .n_track_names = a->no_prime ? 1 : 2};
    rc = cn_midi_write_file(a->output, notes, n_notes, &write, &err);
    free(notes);
    if (rc)
        return cli_error(1, "%s", err.message);
    *seconds = quarters * 60.0 / a->bpm;
    return 0;
}

static size_t count_distinct(const int *ids, size_t n, int n_vocab)
{
    unsigned char *seen = calloc((size_t)n_vocab, 1);
    size_t distinct = 0;
    for (size_t i = 0; seen && i < n; i++) {
        distinct += !seen[ids[i]];
        seen[ids[i]] = 1;
    }
    free(seen);
    return distinct;
}

int cmd_generate(int argc, char **argv)
{
    GenerateArgs a;
    int parsed = parse_args(argc, argv, &a);
    if (parsed)
        return parsed > 0 ? 0 : 2;
    CnModel m;
    CnError err = {{0}};
    if (cn_model_load(&m, a.weights, 0, NULL, &err) ||
        (a.bf16 ? cn_model_make_bf16(&m, &err) : cn_model_pack_f32(&m, &err)))
        return cli_error(1, "%s", err.message);
    int *prime = NULL;
    size_t n_prime = 0, n_mapped = 0;
    int rc = 0;
    size_t want = a.prime_length ? (size_t)a.prime_length
                                 : (size_t)(m.info.seq > 0 ? m.info.seq : 100);
    if (a.prime_index >= 0) { /* the window predict.py starts from when its start is N */
        prime = malloc(want * sizeof *prime);
        n_prime = want;
        if (!prime || cn_corpus_prime(&m, (size_t)a.prime_index, want, prime, &err))
            rc = cli_error(2, "--prime-index: %s", prime ? err.message : "out of memory");
    } else if (strcmp(a.prime, "random") == 0) {
        prime = malloc(want * sizeof *prime);
        if (!prime || cn_random_prime(&m, want, a.gen.seed, prime, &n_prime, &err))
            rc = cli_error(1, "%s", prime ? err.message : "out of memory");
    } else {
        rc = prime_from_file(&m, a.prime, (size_t)a.prime_length, &prime, &n_prime, &n_mapped);
    }
    int *ids = rc ? NULL : malloc((n_prime + (size_t)a.length) * sizeof *ids);
    if (rc == 0 && !ids)
        rc = cli_error(1, "out of memory");
    if (rc == 0) {
        memcpy(ids, prime, n_prime * sizeof *ids);
        if (cn_generate(&m, prime, n_prime, (size_t)a.length, &a.gen, ids + n_prime, &err))
            rc = cli_error(1, "%s", err.message);
    }
    double seconds = 0;
    if (rc == 0)
        rc = write_output(&m, ids, n_prime, n_prime + (size_t)a.length, &a, &seconds);
    if (rc == 0) { /* on stderr when the music itself goes to stdout */
        FILE *say = a.to_stream ? stderr : stdout;
        fprintf(say, "wrote %s: %ld tokens (%zu distinct) after a prime of %zu, %.1f s at %g "
                     "bpm, seed %llu", a.output, a.length,
                count_distinct(ids + n_prime, (size_t)a.length, m.config.n_vocab), n_prime,
                seconds, a.bpm, (unsigned long long)a.gen.seed);
        if (n_mapped)
            fprintf(say, "; %zu prime tokens the vocabulary lacks were mapped to the nearest",
                    n_mapped);
        fprintf(say, "\n");
    }
    if (rc == 0 && a.roll && (rc = cli_write_roll(a.output, a.roll)) == 0)
        printf("wrote %s: piano roll\n", a.roll);
    double wav_seconds, level;
    if (rc == 0 && a.wav &&
        (rc = render_wav(a.output, a.wav, a.soundfont, &wav_seconds, &level)) == 0)
        printf("wrote %s: %.1f s of audio, %.1f dBFS RMS\n", a.wav, wav_seconds, level);
    free(ids);
    free(prime);
    cn_model_free(&m);
    return rc;
}
