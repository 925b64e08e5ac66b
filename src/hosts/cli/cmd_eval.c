/* continuo eval: how well a model predicts a folder of music it did not train on, in both
 * modes, and what its own continuations look like (docs/EVAL.md defines each number). */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "continuo/corpus.h"
#include "continuo/eval.h"
#include "continuo/generate.h"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: continuo eval [OPTION]... DIR\n"
            "Measure a model on the MIDI files in DIR (music it did not train on) and on\n"
            "continuations it generates.\n\n"
            "  -w, --weights FILE     weights to measure\n"
            "                         " CLI_WEIGHTS_HELP "\n"
            "      --seq N            window length for window mode (default: the model's)\n"
            "      --no-window        leave window mode out (it costs --seq times stateful's)\n"
            "      --samples N        continuations to generate (4)\n"
            "  -n, --length N         tokens in each (200)\n"
            "  -t, --temperature T    sampling as in 'continuo generate' (%g)\n"
            "      --top-k K          (0 = off)\n"
            "      --top-p P          (%g)\n"
            "      --repetition-penalty X, --repetition-window N  as in 'continuo generate'\n"
            "      --key-guard G, --loudness-width L, --rhythm-guard R  keep the\n"
            "                         prime's key, loudness and rhythm, as\n"
            "                         in 'continuo generate'\n"
            "  -s, --seed N           first continuation's seed, then N+1, ... (1)\n"
            "      --held-out X       only the songs training holds out of DIR with\n"
            "                         --val-split X (0 = every song of DIR)\n"
            "      --prime-beats N    continuations of openings: prime with each piece's\n"
            "                         first N beats (32; 0 = leave them out)\n"
            "      --continue-beats N and compare the next N beats with them (32)\n"
            "      --bf16             measure the model with bfloat16 weights\n"
            "      --json             print one JSON object instead of the table\n"
            "  -h, --help             show this help\n",
            (double)cn_sampler_defaults().temperature, (double)cn_sampler_defaults().top_p);
}

typedef struct {
    const char *weights, *dir;
    int seq, samples, json, bf16, no_window;
    long length;
    double held_out;
    int prime_beats, continue_beats;
    CnGenerateOptions gen;
} EvalArgs;

enum { OPT_SEQ = 256, OPT_SAMPLES, OPT_JSON, OPT_BF16, OPT_HELD_OUT, OPT_PRIME_BEATS,
       OPT_CONTINUE_BEATS, OPT_NO_WINDOW };

static int parse_args(int argc, char **argv, EvalArgs *a)
{
    static const struct option options[] = {
        {"weights", required_argument, 0, 'w'}, {"seq", required_argument, 0, OPT_SEQ},
        {"samples", required_argument, 0, OPT_SAMPLES}, {"length", required_argument, 0, 'n'},
        CLI_SAMPLER_LONG_OPTIONS,                   {"seed", required_argument, 0, 's'},
        {"json", no_argument, 0, OPT_JSON},         {"help", no_argument, 0, 'h'},
        {"bf16", no_argument, 0, OPT_BF16},
        {"held-out", required_argument, 0, OPT_HELD_OUT},
        {"no-window", no_argument, 0, OPT_NO_WINDOW},
        {"prime-beats", required_argument, 0, OPT_PRIME_BEATS},
        {"continue-beats", required_argument, 0, OPT_CONTINUE_BEATS},
        {0, 0, 0, 0}};
    *a = (EvalArgs){.weights = NULL, .samples = 4, .length = 200, .prime_beats = 32,
                    .continue_beats = 32};
    a->gen = (CnGenerateOptions){.mode = CN_MODE_STATEFUL, .seed = 1,
                                 .sampler = cn_sampler_defaults()};
    int c;
    long v;
    optind = 1;
    while ((c = getopt_long(argc, argv, "w:n:t:s:h", options, NULL)) != -1) {
        switch (c) {
        case 'w': a->weights = optarg; break;
        case 'h': usage(stdout); return 1;
        case OPT_JSON: a->json = 1; break;
        case OPT_BF16: a->bf16 = 1; break;
        case OPT_NO_WINDOW: a->no_window = 1; break;
        case OPT_SEQ:
            if (cli_parse_long("--seq", optarg, 1, 100000, &v))
                return -1;
            a->seq = (int)v;
            break;
        case OPT_HELD_OUT:
            if (cli_parse_double("--held-out", optarg, 0, 0.99, &a->held_out))
                return -1;
            break;
        case OPT_PRIME_BEATS:
            if (cli_parse_long("--prime-beats", optarg, 0, 10000, &v))
                return -1;
            a->prime_beats = (int)v;
            break;
        case OPT_CONTINUE_BEATS:
            if (cli_parse_long("--continue-beats", optarg, 1, 10000, &v))
                return -1;
            a->continue_beats = (int)v;
            break;
        case OPT_SAMPLES:
            if (cli_parse_long("--samples", optarg, 0, 1000, &v))
                return -1;
            a->samples = (int)v;
            break;
        case 'n':
            if (cli_parse_long("--length", optarg, 8, 1000000, &a->length))
                return -1;
            break;
        case 's':
            if (cli_parse_long("--seed", optarg, 0, 2147483647L, &v))
                return -1;
            a->gen.seed = (uint64_t)v;
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
    if (optind != argc - 1) {
        usage(stderr);
        return -1;
    }
    a->dir = argv[optind];
    return cli_resolve_weights(&a->weights);
}

/* Cross-entropy of a model that knows only the training corpus's token frequencies
 * (add-one smoothed), on the positions stateful mode predicts: the level to beat. */
static double unigram_baseline(const CnModel *m, const CnSongIds *songs, size_t n_songs)
{
    if (m->n_corpus == 0)
        return NAN;
    double *count = calloc((size_t)m->config.n_vocab, sizeof *count);
    if (!count)
        return NAN;
    for (size_t i = 0; i < m->n_corpus; i++)
        count[m->corpus[i]] += 1;
    double total = (double)m->n_corpus + m->config.n_vocab, sum = 0;
    size_t n = 0;
    for (size_t s = 0; s < n_songs; s++)
        for (size_t i = 1; i < songs[s].n; i++, n++)
            sum -= log((count[songs[s].ids[i]] + 1) / total);
    free(count);
    return n ? sum / (double)n : NAN;
}

typedef struct {
    double distinct4, copied8, pc_distance;
    size_t longest_loop, n_tokens;
    CnRhythmHistogram rhythm; /* of the continuations, as notes */
    CnRhythmDistance to_data; /* from the music of the folder */
} GenStats;

/* Adds notes of tokens of scheme to a rhythm histogram. */
static int add_rendered(const CnToken *tokens, size_t n, CnScheme scheme, CnRhythmHistogram *h,
                        CnError *err)
{
    CnRenderOptions render = cn_render_defaults();
    CnNote *notes;
    size_t n_notes;
    if (cn_render_scheme(tokens, n, scheme, &render, &notes, &n_notes, NULL, err))
        return -1;
    cn_rhythm_add(h, notes, n_notes, render.ppqn);
    free(notes);
    return 0;
}

/* Adds the notes of a continuation (token ids of the model) to a rhythm histogram. */
static int add_rhythm(const CnModel *m, const int *ids, size_t n, CnRhythmHistogram *h,
                      CnError *err)
{
    CnToken *tokens = malloc((n ? n : 1) * sizeof *tokens);
    if (!tokens)
        return cn_fail(err, "out of memory");
    for (size_t i = 0; i < n; i++)
        tokens[i] = m->vocab.tokens[ids[i]];
    int rc = add_rendered(tokens, n, m->vocab.scheme, h, err);
    free(tokens);
    return rc;
}

/* The rhythm of the folder's music as it is played (its notes on the grid of twelfths of a
 * beat, with their lengths and velocities, whatever the model's scheme can say). */
static int folder_rhythm(const char *dir, const CnCorpus *read, CnRhythmHistogram *h,
                         CnError *err)
{
    CnCorpus timed;
    const CnCorpus *c = read;
    if (read->scheme != CN_SCHEME_TIMED) {
        if (cn_corpus_load(dir, CN_SCHEME_TIMED, &timed, err))
            return -1;
        c = &timed;
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < c->n_songs; i++)
        rc = add_rendered(c->songs[i].stream.tokens, c->songs[i].stream.n_tokens,
                          CN_SCHEME_TIMED, h, err);
    if (c != read)
        cn_corpus_free(&timed);
    return rc;
}

static int generated_stats(const CnModel *m, const EvalArgs *a, GenStats *g, CnError *err)
{
    memset(g, 0, sizeof *g);
    g->distinct4 = g->copied8 = g->pc_distance = NAN;
    if (a->samples == 0)
        return 0;
    if (m->n_corpus == 0) {
        fprintf(stderr, "continuo: %s keeps no training corpus, which the generation measures "
                        "start from and compare with: they are left out\n", a->weights);
        return 0;
    }
    size_t n_prime_max = (size_t)(m->info.seq > 0 ? m->info.seq : 100);
    size_t total = (size_t)a->samples * (size_t)a->length;
    int *all = malloc(total * sizeof *all), *prime = malloc(n_prime_max * sizeof *prime);
    int rc = all && prime ? 0 : cn_fail(err, "out of memory");
    double distinct = 0, copied = 0;
    for (int s = 0; rc == 0 && s < a->samples; s++) {
        CnGenerateOptions o = a->gen;
        o.seed = a->gen.seed + (uint64_t)s;
        size_t n_prime;
        int *out = all + (size_t)s * (size_t)a->length;
        rc = cn_random_prime(m, n_prime_max, o.seed, prime, &n_prime, err);
        if (rc == 0)
            rc = cn_generate(m, prime, n_prime, (size_t)a->length, &o, out, err);
        if (rc == 0)
            rc = add_rhythm(m, out, (size_t)a->length, &g->rhythm, err);
        if (rc == 0) {
            distinct += cn_eval_distinct_ngrams(out, (size_t)a->length, 4);
            copied += cn_eval_copied_share(out, (size_t)a->length, m->corpus, m->n_corpus, 8);
            size_t loop = cn_eval_longest_loop(out, (size_t)a->length, 32);
            g->longest_loop = loop > g->longest_loop ? loop : g->longest_loop;
        }
    }
    if (rc == 0) {
        g->distinct4 = distinct / a->samples;
        g->copied8 = copied / a->samples;
        g->pc_distance = cn_eval_pitch_class_distance(&m->vocab, all, total, m->corpus,
                                                      m->n_corpus);
        g->n_tokens = total;
    }
    free(all);
    free(prime);
    return rc;
}

/* Continuations of the openings, the model's and the composer's. */
typedef struct {
    int measured;
    CnContinuation model, composer;
} ContinueStats;

static int continue_stats(const CnModel *m, const EvalArgs *a, const CnSongIds *songs,
                          size_t n_songs, ContinueStats *c, CnError *err)
{
    memset(c, 0, sizeof *c);
    if (a->prime_beats == 0 || m->vocab.scheme != CN_SCHEME_TIMED)
        return 0;
    CnContinueOptions o = {.prime_beats = a->prime_beats, .continue_beats = a->continue_beats,
                           .max_tokens = 64 * (a->continue_beats + 8), .gen = a->gen};
    c->measured = 1;
    return cn_eval_continuations(m, songs, n_songs, &o, &c->model, &c->composer, err);
}

static void print_continuations(const EvalArgs *a, const ContinueStats *c)
{
    CnContinuationMeans m = cn_continuation_means(&c->model);
    CnContinuationMeans t = cn_continuation_means(&c->composer);
    printf("continuations of the openings (%zu pieces, %zu too short; %d beats primed, the "
           "next %d compared)\n", c->model.n_pieces, c->model.n_too_short, a->prime_beats,
           a->continue_beats);
    printf("                                  model    composer\n");
    printf("  notes in the prime's key      %8.3f  %8.3f\n", m.in_key, t.in_key);
    printf("  key kept (or its relative)    %8.3f  %8.3f\n", m.keys_agree, t.keys_agree);
    printf("  notes held 4 beats or more    %8.3f  %8.3f\n", m.long_notes, t.long_notes);
    printf("  onset gaps, from the prime's  %8.3f  %8.3f   (0 = the same, 1 = nothing shared)\n",
           m.gap_distance, t.gap_distance);
    printf("  distinct onset gaps           %8.2f  %8.2f\n", m.distinct_gaps, t.distinct_gaps);
    printf("  the commonest gap's share     %8.3f  %8.3f\n", m.top_gap, t.top_gap);
    printf("  velocity, from the prime's    %8.2f  %8.2f   (difference of the means)\n",
           m.velocity_difference, t.velocity_difference);
    printf("  silent continuations          %8.3f  %8.3f\n", m.silent, t.silent);
    printf("  notes ended at their longest  %8.3f\n",
           c->model.n_notes ? (double)c->model.n_released / (double)c->model.n_notes : NAN);
}

static void print_table(const EvalArgs *a, const CnModel *m, size_t n_songs, size_t n_tokens,
                        size_t n_mapped, const CnEvalLoss *st, const CnEvalLoss *wi,
                        double unigram, const GenStats *g)
{
    printf("model:  %s (%d x LSTM(%d), %s input, %d epochs, objective %s, %s weights)\n",
           a->weights, m->config.n_layers, m->config.n_hidden,
           m->config.n_embed ? "embedding" : "scalar", m->info.epochs, m->info.objective,
           a->bf16 ? "bfloat16" : "float32");
    printf("data:   %s: %zu songs, %zu tokens (%zu mapped to the nearest known token)\n\n",
           a->dir, n_songs, n_tokens, n_mapped);
    printf("prediction            stateful      window\n");
    printf("  cross-entropy     %10.4f  %10.4f   nats\n", st->loss, wi->loss);
    printf("  perplexity        %10.2f  %10.2f\n", st->perplexity, wi->perplexity);
    printf("  accuracy          %10.4f  %10.4f\n", st->accuracy, wi->accuracy);
    printf("  positions         %10zu  %10zu\n", st->n_predicted, wi->n_predicted);
    printf("  unigram baseline  %10.4f               nats (token frequencies alone)\n\n",
           unigram);
    if (a->samples == 0)
        return;
    printf("generated (%d x %ld tokens, temperature %g, top-k %d, top-p %g, seeds from %llu)\n",
           a->samples, a->length, (double)a->gen.sampler.temperature, a->gen.sampler.top_k,
           (double)a->gen.sampler.top_p, (unsigned long long)a->gen.seed);
    printf("  distinct 4-grams        %.4f\n", g->distinct4);
    printf("  longest loop            %zu tokens\n", g->longest_loop);
    printf("  8-grams copied          %.4f\n", g->copied8);
    printf("  pitch-class distance    %.4f\n", g->pc_distance);
    printf("  distances from the folder's music (0 = the same, 1 = nothing shared):\n");
    printf("    onset gaps            %.4f\n", g->to_data.gaps);
    printf("    note lengths          %.4f\n", g->to_data.lengths);
    printf("    velocities            %.4f\n", g->to_data.velocities);
    printf("    notes struck together %.4f\n", g->to_data.together);
}

/* JSON has no NaN: unknown numbers are null. */
static void json_number(const char *key, double v, const char *end)
{
    if (isnan(v) || isinf(v))
        printf("\"%s\": null%s", key, end);
    else
        printf("\"%s\": %.6g%s", key, v, end);
}

static void json_continuation(const char *key, const CnContinuation *c, const char *end)
{
    CnContinuationMeans m = cn_continuation_means(c);
    printf("\"%s\": {\"pieces\": %zu, \"too_short\": %zu, ", key, c->n_pieces, c->n_too_short);
    json_number("in_key", m.in_key, ", ");
    json_number("keys_agree", m.keys_agree, ", ");
    json_number("long_notes", m.long_notes, ", ");
    json_number("gap_distance", m.gap_distance, ", ");
    json_number("distinct_gaps", m.distinct_gaps, ", ");
    json_number("top_gap", m.top_gap, ", ");
    json_number("velocity_difference", m.velocity_difference, ", ");
    json_number("silent", m.silent, ", ");
    json_number("ended_at_longest",
                c->n_notes ? (double)c->n_released / (double)c->n_notes : NAN, "}");
    printf("%s", end);
}

static void print_json(const EvalArgs *a, size_t n_songs, size_t n_tokens, const CnEvalLoss *st,
                       const CnEvalLoss *wi, double unigram, const GenStats *g,
                       const ContinueStats *c)
{
    printf("{\"weights\": \"%s\", \"songs\": %zu, \"tokens\": %zu, ", a->weights, n_songs,
           n_tokens);
    json_number("unigram_baseline", unigram, ", ");
    const CnEvalLoss *modes[2] = {st, wi};
    const char *names[2] = {"stateful", "window"};
    for (int i = 0; i < 2; i++) {
        printf("\"%s\": {", names[i]);
        json_number("cross_entropy", modes[i]->loss, ", ");
        json_number("perplexity", modes[i]->perplexity, ", ");
        json_number("accuracy", modes[i]->accuracy, ", ");
        printf("\"positions\": %zu}, ", modes[i]->n_predicted);
    }
    printf("\"generated\": {\"samples\": %d, \"length\": %ld, ", a->samples, a->length);
    json_number("distinct_4grams", g->distinct4, ", ");
    printf("\"longest_loop\": %zu, ", g->longest_loop);
    json_number("copied_8grams", g->copied8, ", ");
    json_number("pitch_class_distance", g->pc_distance, ", ");
    json_number("onset_gap_distance", g->to_data.gaps, ", ");
    json_number("length_distance", g->to_data.lengths, ", ");
    json_number("velocity_distance", g->to_data.velocities, ", ");
    json_number("together_distance", g->to_data.together, "}");
    if (c->measured) {
        printf(", \"continuations\": {\"prime_beats\": %d, \"continue_beats\": %d, ",
               a->prime_beats, a->continue_beats);
        json_continuation("model", &c->model, ", ");
        json_continuation("composer", &c->composer, "}");
    }
    printf("}\n");
}

int cmd_eval(int argc, char **argv)
{
    EvalArgs a;
    int parsed = parse_args(argc, argv, &a);
    if (parsed)
        return parsed > 0 ? 0 : 2;
    CnModel m;
    CnError err = {{0}};
    if (cn_model_load(&m, a.weights, a.bf16, NULL, &err) ||
        (a.bf16 && cn_model_round_bf16(&m, &err)))
        return cli_error(1, "%s", err.message);
    CnCorpus corpus;
    if (cn_corpus_load(a.dir, m.vocab.scheme, &corpus, &err)) {
        cn_model_free(&m);
        return cli_error(1, "%s", err.message);
    }
    for (size_t i = 0; i < corpus.n_skipped; i++)
        fprintf(stderr, "continuo: skipped %s: %s\n", corpus.skipped[i].name,
                corpus.skipped[i].reason);
    if (a.held_out > 0) {
        cn_corpus_keep_validation(&corpus, a.held_out);
        if (corpus.n_songs == 0) {
            cn_corpus_free(&corpus);
            cn_model_free(&m);
            return cli_error(1, "%s holds no song that --held-out %g leaves out", a.dir,
                             a.held_out);
        }
    }
    CnSongIds *songs = NULL;
    uint16_t *storage = NULL;
    size_t n_mapped = 0;
    CnEvalLoss stateful, window;
    GenStats gen;
    ContinueStats cont;
    int rc = cn_corpus_to_ids(&corpus, &m.vocab, &songs, &storage, &n_mapped, &err) ||
             cn_eval_loss(&m, songs, corpus.n_songs, CN_MODE_STATEFUL, a.seq, &stateful, &err) ||
             (a.no_window ? (window = (CnEvalLoss){NAN, NAN, NAN, 0}, 0)
                          : cn_eval_loss(&m, songs, corpus.n_songs, CN_MODE_WINDOW, a.seq,
                                         &window, &err)) ||
             generated_stats(&m, &a, &gen, &err) ||
             continue_stats(&m, &a, songs, corpus.n_songs, &cont, &err);
    CnRhythmHistogram data = {0};
    if (rc == 0 && a.samples > 0)
        rc = folder_rhythm(a.dir, &corpus, &data, &err);
    gen.to_data = cn_rhythm_distance(&gen.rhythm, &data);
    if (rc)
        rc = cli_error(1, "%s", err.message);
    else if (a.json)
        print_json(&a, corpus.n_songs, cn_corpus_n_tokens(&corpus), &stateful, &window,
                   unigram_baseline(&m, songs, corpus.n_songs), &gen, &cont);
    else {
        print_table(&a, &m, corpus.n_songs, cn_corpus_n_tokens(&corpus), n_mapped, &stateful,
                    &window, unigram_baseline(&m, songs, corpus.n_songs), &gen);
        if (cont.measured) {
            printf("\n");
            print_continuations(&a, &cont);
        }
    }
    free(songs);
    free(storage);
    cn_corpus_free(&corpus);
    cn_model_free(&m);
    return rc;
}
