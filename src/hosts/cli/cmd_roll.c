/* continuo roll: draws a MIDI file as a piano roll in SVG. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "continuo/svg.h"

static void usage(FILE *out)
{
    fprintf(out, "Usage: continuo roll [OPTION]... FILE.mid\n"
                 "Draw a MIDI file as a piano roll: time against pitch, beats and bars marked,\n"
                 "a generated file's prime in grey.\n\n"
                 "  -o, --out FILE     the SVG file to write (default: FILE.svg; '-' is\n"
                 "                     standard output)\n"
                 "  -h, --help         show this help\n");
}

int cli_write_roll(const char *midi_path, const char *svg_path)
{
    CnMidi midi;
    CnError err = {{0}};
    if (cn_midi_read_file(midi_path, &midi, &err))
        return cli_error(1, "%s: %s", midi_path, err.message);
    const char *slash = strrchr(midi_path, '/');
    int rc = cn_svg_piano_roll(&midi, slash ? slash + 1 : midi_path, svg_path, &err);
    cn_midi_free(&midi);
    return rc ? cli_error(1, "%s", err.message) : 0;
}

int cmd_roll(int argc, char **argv)
{
    static const struct option options[] = {
        {"out", required_argument, 0, 'o'}, {"output", required_argument, 0, 'o'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *output = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", options, NULL)) != -1) {
        if (c == 'o')
            output = optarg;
        else if (c == 'h') {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    char derived[4096];
    if (!output) {
        const char *in = argv[optind];
        size_t len = strlen(in);
        if (len > 4 && strcmp(in + len - 4, ".mid") == 0)
            len -= 4;
        snprintf(derived, sizeof derived, "%.*s.svg", (int)len, in);
        output = derived;
    }
    int rc = cli_write_roll(argv[optind], output);
    if (rc == 0) /* not into the drawing when it goes to standard output */
        fprintf(strcmp(output, "-") == 0 ? stderr : stdout, "wrote %s\n", output);
    return rc;
}
