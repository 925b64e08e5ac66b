/* What a person sees and hears: the piano roll is well-formed XML with one rectangle per
 * note and the prime drawn apart, the loss curves have one point per epoch, and the WAV
 * render has the expected length and is not silent (when FluidSynth is installed). */
#include <math.h>
#include <unistd.h>

#include "continuo/midi_file.h"
#include "continuo/svg.h"
#include "test_util.h"

static char *dir;
static char log_path[4200];


static int run_cli(const char *const *args)
{
    return test_run_program(CONTINUO_CLI, args, log_path);
}

static char *read_text(const char *path)
{
    size_t n;
    uint8_t *bytes = test_read_file(path, &n);
    if (!bytes)
        return NULL;
    bytes = realloc(bytes, n + 1);
    bytes[n] = '\0';
    return (char *)bytes;
}

static int count(const char *text, const char *what)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, what)) != NULL; p++)
        n++;
    return n;
}

/* Tags open and close in order, attributes are quoted, nothing is left open. */
static int well_formed_xml(const char *text)
{
    char stack[64][32];
    int depth = 0, saw_root = 0;
    for (const char *p = text; (p = strchr(p, '<')) != NULL;) {
        if (p[1] == '?') {
            p = strstr(p, "?>");
            if (!p)
                return 0;
            continue;
        }
        const char *end = strchr(p, '>');
        if (!end)
            return 0;
        int quotes = 0;
        for (const char *q = p; q < end; q++)
            quotes += *q == '"';
        if (quotes % 2)
            return 0;
        char name[32];
        int closing = p[1] == '/';
        size_t len = strcspn(p + 1 + closing, " />\n");
        if (len == 0 || len >= sizeof name)
            return 0;
        memcpy(name, p + 1 + closing, len);
        name[len] = '\0';
        if (closing) {
            if (depth == 0 || strcmp(stack[depth - 1], name) != 0)
                return 0;
            depth--;
        } else if (end[-1] != '/') {
            if (depth == 64)
                return 0;
            strcpy(stack[depth++], name);
            saw_root = 1;
        }
        p = end + 1;
    }
    return depth == 0 && saw_root;
}

static void test_the_piano_roll_has_one_rectangle_per_note(void)
{
    char svg[4300];
    snprintf(svg, sizeof svg, "%s/minuet.svg", dir);
    const char *midi_path = CONTINUO_SOURCE_DIR "/midi_songs/minuet_in_g.mid";
    const char *args[] = {"roll", midi_path, "-o", svg, NULL};
    CHECK(run_cli(args) == 0);
    CnMidi midi;
    CnError err = {{0}};
    CHECK(cn_midi_read_file(midi_path, &midi, &err) == 0);
    char *text = read_text(svg);
    CHECK(text != NULL);
    if (text) {
        CHECK(well_formed_xml(text));
        CHECK(count(text, "<rect") == (int)midi.n_notes);
        CHECK(count(text, "class=\"note prime\"") == 0);
    }
    free(text);
    cn_midi_free(&midi);
}

static void test_a_generated_file_shows_its_prime_apart(void)
{
    /* a file as generate writes it: a "prime" track and a "continuation" track */
    CnNote notes[6];
    for (int i = 0; i < 6; i++)
        notes[i] = (CnNote){.onset = (uint32_t)i * 240, .duration = 480, .pitch = (uint8_t)(60 + i),
                            .velocity = 90, .track = i >= 4};
    static const char *const names[] = {"prime", "continuation"};
    CnMidiWriteOptions o = {.ppqn = 480, .bpm = 120, .track_names = names, .n_track_names = 2};
    char mid[4300], svg[4300];
    snprintf(mid, sizeof mid, "%s/gen.mid", dir);
    snprintf(svg, sizeof svg, "%s/gen.svg", dir);
    CnError err = {{0}};
    CHECK(cn_midi_write_file(mid, notes, 6, &o, &err) == 0);
    CnMidi midi;
    CHECK(cn_midi_read_file(mid, &midi, &err) == 0);
    CHECK(midi.n_tracks == 2 && strcmp(midi.track_names[0], "prime") == 0);
    CHECK(cn_svg_piano_roll(&midi, "a <generated> & primed file", svg, &err) == 0);
    char *text = read_text(svg);
    CHECK(text && well_formed_xml(text));
    CHECK(text && count(text, "class=\"note prime\"") == 4);
    CHECK(text && count(text, "class=\"note\"") == 2);
    CHECK(text && strstr(text, "a &lt;generated&gt; &amp; primed file") != NULL);
    free(text);
    cn_midi_free(&midi);
}

static void test_the_loss_curves_have_one_point_per_epoch(void)
{
    char out[4300], svg[4300];
    snprintf(out, sizeof out, "%s/model.cnw", dir);
    snprintf(svg, sizeof svg, "%s/model.svg", dir);
    const char *args[] = {"train", "--tokens", "original", "--data",
                          CONTINUO_SOURCE_DIR "/midi_songs", "--out", out,
                          "--epochs", "3", "--hidden", "8", "--layers", "1", "--dense", "0",
                          "--embed", "4", "--seq", "16", "--batch", "4", "-q", NULL};
    CHECK(run_cli(args) == 0);
    char *text = read_text(svg);
    CHECK(text != NULL);
    if (text) {
        CHECK(well_formed_xml(text));
        CHECK(count(text, "class=\"train\"") == 3);
        CHECK(count(text, "class=\"val\"") == 3);
    }
    free(text);
}

static int have_fluidsynth(void)
{
    return system("command -v fluidsynth >/dev/null 2>&1") == 0 &&
           access("/usr/share/sounds/sf2/FluidR3_GM.sf2", R_OK) == 0;
}

static void test_the_audio_render_is_as_long_as_the_music_and_not_silent(void)
{
    if (!have_fluidsynth()) {
        printf("# skipped: FluidSynth or fluid-soundfont-gm is not installed "
               "(apt-get install fluidsynth fluid-soundfont-gm)\n");
        return;
    }
    char weights[4300], mid[4300], wav[4300];
    snprintf(weights, sizeof weights, "%s/model.cnw", dir); /* from the loss test */
    snprintf(mid, sizeof mid, "%s/out.mid", dir);
    snprintf(wav, sizeof wav, "%s/out.wav", dir);
    const char *args[] = {"generate", "-w", weights, "--length", "40", "--no-prime", "--bpm",
                          "120", "--seed", "2", "-o", mid, "--wav", wav, NULL};
    CHECK(run_cli(args) == 0);
    char *text = read_text(log_path);
    double seconds = 0, level = -200;
    const char *line = text ? strstr(text, "s of audio") : NULL;
    CHECK(line != NULL);
    if (line) { /* "wrote X: 11.3 s of audio, -24.0 dBFS RMS" */
        const char *colon = line;
        while (colon > text && *colon != ':')
            colon--;
        sscanf(colon + 1, "%lf s of audio, %lf dBFS", &seconds, &level);
    }
    double music = 39 * 0.25 + 0.5; /* last onset plus a quarter note, at 120 bpm */
    printf("# rendered %.2f s (music %.2f s), %.1f dBFS RMS\n", seconds, music, level);
    CHECK(seconds >= music && seconds < music + 4.0);
    CHECK(level > -45.0);
    free(text);
    const char *missing_font[] = {"generate", "-w", weights, "--length", "8", "-o", mid, "--wav",
                                  wav, "--soundfont", "/nonexistent.sf2", NULL};
    CHECK(run_cli(missing_font) == 1);
}

int main(void)
{
    dir = test_make_temp_dir("pictures");
    snprintf(log_path, sizeof log_path, "%s/log.txt", dir);
    RUN(test_the_piano_roll_has_one_rectangle_per_note);
    RUN(test_a_generated_file_shows_its_prime_apart);
    RUN(test_the_loss_curves_have_one_point_per_epoch);
    RUN(test_the_audio_render_is_as_long_as_the_music_and_not_silent);
    test_remove_tree(dir);
    free(dir);
    return test_finish();
}
