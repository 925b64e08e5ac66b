/* continuo corpus: tokenizes a folder of MIDI files, prints per-file and total counts,
 * and optionally dumps the token stream for comparison with other tools. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "continuo/files.h"
#include "continuo/corpus.h"

static void usage(FILE *out)
{
    fprintf(out, "Usage: continuo corpus [OPTION]... DIR\n"
                 "Read every .mid/.midi file in DIR, turn its notes and chords into tokens\n"
                 "and print what was found.\n\n"
                 "  -d, --dump FILE  write the whole stream, one token per line, files in\n"
                 "                   sorted name order\n"
                 "  -t, --tokens SCHEME  'original' (default: a note or chord a token) or\n"
                 "                   'timed' (note-on, note-off, time shift and velocity\n"
                 "                   events; chords count onsets shared by several keys)\n"
                 "  -q, --quiet      print only the totals\n"
                 "  -h, --help       show this help\n");
}

static int dump_tokens(const CnCorpus *corpus, const char *path)
{
    CnOutFile out;
    CnError err = {{0}};
    FILE *f = cn_outfile_fopen(&out, path, &err);
    if (!f)
        return cli_error(1, "%s", err.message);
    char name[CN_TOKEN_NAME_MAX];
    for (size_t s = 0; s < corpus->n_songs; s++)
        for (size_t i = 0; i < corpus->songs[s].stream.n_tokens; i++) {
            cn_token_name(corpus->songs[s].stream.tokens[i], name);
            fprintf(f, "%s\n", name);
        }
    if (cn_outfile_fclose(f, &out, &err))
        return cli_error(1, "%s", err.message);
    return 0;
}

static void print_summary(const CnCorpus *corpus, const CnVocab *vocab, int quiet)
{
    size_t notes = 0, chords = 0;
    for (size_t i = 0; i < corpus->n_songs; i++) {
        const CnSong *song = &corpus->songs[i];
        notes += song->stream.n_notes;
        chords += song->stream.n_chords;
        if (!quiet)
            printf("%-48s %7zu notes %7zu chords %7zu tokens\n", song->name, song->stream.n_notes,
                   song->stream.n_chords, song->stream.n_tokens);
        if (song->stream.warning[0])
            fprintf(stderr, "continuo: warning: %s: %s\n", song->name, song->stream.warning);
    }
    for (size_t i = 0; i < corpus->n_skipped; i++)
        fprintf(stderr, "continuo: skipped %s: %s\n", corpus->skipped[i].name,
                corpus->skipped[i].reason);
    printf("%zu files read, %zu skipped: %zu notes, %zu chords, %zu tokens, vocabulary of %zu\n",
           corpus->n_songs, corpus->n_skipped, notes, chords, cn_corpus_n_tokens(corpus),
           vocab->n);
}

int cmd_corpus(int argc, char **argv)
{
    static const struct option options[] = {
        {"dump", required_argument, 0, 'd'},
        {"tokens", required_argument, 0, 't'},
        {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *dump_path = NULL;
    int quiet = 0, c;
    CnScheme scheme = CN_SCHEME_ORIGINAL;
    CnError err = {{0}};
    while ((c = getopt_long(argc, argv, "d:t:qh", options, NULL)) != -1) {
        switch (c) {
        case 'd': dump_path = optarg; break;
        case 't':
            if (cn_scheme_parse(optarg, &scheme, &err))
                return cli_error(2, "--tokens: %s", err.message);
            break;
        case 'q': quiet = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    CnCorpus corpus;
    if (cn_corpus_load(argv[optind], scheme, &corpus, &err))
        return cli_error(1, "%s", err.message);
    CnVocab vocab;
    if (cn_corpus_vocab(&corpus, &vocab, &err)) {
        cn_corpus_free(&corpus);
        return cli_error(1, "%s", err.message);
    }
    print_summary(&corpus, &vocab, quiet);
    int rc = dump_path ? dump_tokens(&corpus, dump_path) : 0;
    cn_vocab_free(&vocab);
    cn_corpus_free(&corpus);
    return rc;
}
