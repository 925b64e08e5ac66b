/* continuo score: turns hand-written scores (midi_songs/src) into MIDI files. */
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "continuo/files.h"
#include "continuo/score.h"

static void usage(FILE *out)
{
    fprintf(out, "Usage: continuo score [OPTION]... SCORE.txt...\n"
                 "Turn scores written in continuo's text notation into MIDI files\n"
                 "(the notation is described in midi_songs/README.md).\n\n"
                 "  -o, --out FILE      the MIDI file to write (one score only)\n"
                 "  -d, --out-dir DIR   write NAME.mid into DIR for every NAME.txt\n"
                 "  -h, --help          show this help\n");
}

static char *read_text(const char *path, CnError *err)
{
    CnError why = {{0}};
    FILE *f = cn_fopen_regular(path, &why);
    if (!f) {
        cn_fail(err, "%s: %s", path, why.message);
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *text = malloc(cap + 1);
    size_t got;
    while (text && (got = fread(text + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *bigger = cap < (64u << 20) ? realloc(text, 2 * cap + 1) : NULL;
            if (!bigger) {
                free(text);
                text = NULL;
                break;
            }
            text = bigger;
            cap *= 2;
        }
    }
    fclose(f);
    if (!text) {
        cn_fail(err, "%s is too large or memory ran out", path);
        return NULL;
    }
    text[n] = '\0';
    for (size_t i = 0; i < n; i++) { /* a score is text: say so rather than echo bytes */
        unsigned char c = (unsigned char)text[i];
        if (c == 0 || c == 0x7f || (c < 0x20 && c != '\t' && c != '\n' && c != '\r')) {
            cn_fail(err, "%s is not a text score: byte 0x%02x at offset %zu%s", path, c, i,
                    n >= 4 && memcmp(text, "MThd", 4) == 0 ? " (it is a MIDI file)" : "");
            free(text);
            return NULL;
        }
    }
    return text;
}

static int convert(const char *src, const char *dst)
{
    CnError err = {{0}};
    char *text = read_text(src, &err);
    if (!text)
        return cli_error(1, "%s", err.message);
    CnScore score;
    int rc = cn_score_parse(text, &score, &err);
    free(text);
    if (rc)
        return cli_error(1, "%s: %s", src, err.message);
    const char *names[16];
    for (unsigned v = 0; v < score.n_voices && v < 16; v++)
        names[v] = score.voice_names[v];
    CnMidiWriteOptions options = {.ppqn = CN_SCORE_PPQN, .bpm = score.bpm, .program = 0,
                                  .track_names = names, .n_track_names = score.n_voices,
                                  .beats_per_bar = score.beats_per_bar,
                                  .beat_unit = score.beat_unit};
    rc = cn_midi_write_file(dst, score.notes, score.n_notes, &options, &err);
    cn_score_free(&score);
    return rc ? cli_error(1, "%s: %s", dst, err.message) : 0;
}

static int convert_into(const char *src, const char *dir)
{
    char *copy = strdup(src);
    char *base = basename(copy);
    char *dot = strrchr(base, '.');
    if (dot)
        *dot = '\0';
    char dst[4096];
    snprintf(dst, sizeof dst, "%s/%s.mid", dir, base);
    int rc = convert(src, dst);
    free(copy);
    return rc;
}

int cmd_score(int argc, char **argv)
{
    static const struct option options[] = {
        {"out", required_argument, 0, 'o'}, {"output", required_argument, 0, 'o'},
        {"out-dir", required_argument, 0, 'd'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *output = NULL, *out_dir = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "o:d:h", options, NULL)) != -1) {
        switch (c) {
        case 'o': output = optarg; break;
        case 'd': out_dir = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    int n_scores = argc - optind;
    if (n_scores < 1 || (!output == !out_dir) || (output && n_scores != 1)) {
        usage(stderr);
        return 2;
    }
    if (output)
        return convert(argv[optind], output);
    int rc = 0;
    for (int i = optind; i < argc; i++)
        rc |= convert_into(argv[i], out_dir);
    return rc;
}
