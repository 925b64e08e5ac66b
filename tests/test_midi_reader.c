/* The MIDI reader on bad input: hundreds of damaged variants of real and hand-made files
 * each get a clear error or a clean parse, never a crash, hang or leak (run under the
 * sanitizer build); valid oddities libsmf aborts on are read. */
#include "continuo/midi_file.h"
#include "continuo/tokens.h"
#include "test_util.h"

#include <dirent.h>

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t next_random(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

static int n_variants, n_refused;

/* Parses bytes; a failure must say why, a success must tokenize. */
static void try_bytes(const uint8_t *bytes, size_t n)
{
    CnMidi midi;
    CnError err = {{0}};
    n_variants++;
    if (cn_midi_parse(bytes, n, &midi, &err) != 0) {
        n_refused++;
        CHECK(strlen(err.message) > 10);
        return;
    }
    CnTokenStream s;
    CHECK(cn_tokenize(&midi, &s, &err) == 0);
    cn_token_stream_free(&s);
    cn_midi_free(&midi);
}

static void damage(const uint8_t *bytes, size_t n)
{
    uint8_t *copy = malloc(n + 16);
    for (int cut = 1; cut <= 24; cut++) /* truncations */
        try_bytes(bytes, n * (size_t)cut / 25);
    for (int round = 0; round < 40; round++) { /* bit flips, 1 to 8 at a time */
        memcpy(copy, bytes, n);
        int flips = 1 + (int)(next_random() % 8);
        for (int f = 0; f < flips; f++) {
            size_t at = next_random() % n;
            copy[at] ^= (uint8_t)(1u << (next_random() % 8));
        }
        try_bytes(copy, n);
    }
    for (size_t at = 4; at + 4 <= n && at < 64; at += 5) { /* huge length fields */
        memcpy(copy, bytes, n);
        copy[at] = copy[at + 1] = copy[at + 2] = 0xff;
        try_bytes(copy, n);
    }
    free(copy);
}

static MidiBuilder small_file(void)
{
    MidiBuilder mb = {0};
    mb_header(&mb, 1, 2, 96);
    mb_track_begin(&mb);
    mb_event(&mb, 0, 6, 0xff, 0x51, 0x03, 0x07, 0xa1, 0x20);
    mb_event(&mb, 0, 5, 0xf0, 0x03, 0x7e, 0x7f, 0xf7);
    mb_event(&mb, 0, 3, 0x90, 60, 80);
    mb_event(&mb, 0, 2, 64, 80);
    mb_event(&mb, 96, 2, 60, 0);
    mb_event(&mb, 0, 2, 64, 0);
    mb_event(&mb, 0, 3, 0xb0, 64, 127);
    mb_track_end(&mb);
    mb_track_begin(&mb);
    mb_event(&mb, 0, 2, 0xc1, 0);
    mb_event(&mb, 48, 3, 0x91, 48, 70);
    mb_event(&mb, 48, 3, 0x81, 48, 0);
    mb_track_end(&mb);
    return mb;
}

static void test_damaged_hand_made_files_are_refused_cleanly(void)
{
    MidiBuilder mb = small_file();
    try_bytes(mb.bytes, mb.n);
    CHECK(n_refused == 0); /* the undamaged file itself is fine */
    damage(mb.bytes, mb.n);
    mb_free(&mb);
}

/* Four real files damaged: from the seed corpus where it is beside the project, else from
 * our own songs. */
static void test_damaged_real_files_are_refused_cleanly(void)
{
    const char *dir = test_seed_dir();
    const char *seed_names[] = {"8.mid", "ff4-town.mid", "Zelda_Overworld.mid", "balamb.mid"};
    const char *own_names[] = {"ode_to_joy.mid", "prelude_c_major_bwv846.mid",
                               "ah_vous_dirai_je_maman.mid", "greensleeves.mid"};
    const char *const *names = dir ? seed_names : own_names;
    if (!dir) {
        printf("# seed corpus not found: damaging four of midi_songs instead\n");
        dir = CONTINUO_SOURCE_DIR "/midi_songs";
    }
    for (size_t i = 0; i < 4; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        size_t n;
        uint8_t *bytes = test_read_file(path, &n);
        CHECK(bytes != NULL);
        if (bytes)
            damage(bytes, n);
        free(bytes);
    }
}

static void expect_refused(const uint8_t *bytes, size_t n, const char *why)
{
    CnMidi midi;
    CnError err = {{0}};
    n_variants++;
    int rc = cn_midi_parse(bytes, n, &midi, &err);
    CHECK(rc != 0);
    if (rc == 0) {
        cn_midi_free(&midi);
        return;
    }
    n_refused++;
    if (!strstr(err.message, why))
        fprintf(stderr, "message \"%s\" lacks \"%s\"\n", err.message, why);
    CHECK(strstr(err.message, why) != NULL);
}

static void test_non_midi_and_empty_files_say_why(void)
{
    expect_refused((const uint8_t *)"", 0, "too short");
    expect_refused((const uint8_t *)"hello, this is not a MIDI file", 30, "not a Standard MIDI");
    static const uint8_t header_only[14] = {'M', 'T', 'h', 'd', 0, 0, 0, 6, 0, 0, 0, 1, 0, 96};
    expect_refused(header_only, sizeof header_only, "no track");
    uint8_t bad_format[14];
    memcpy(bad_format, header_only, 14);
    bad_format[9] = 3;
    expect_refused(bad_format, 14, "format");
    uint8_t zero_division[14];
    memcpy(zero_division, header_only, 14);
    zero_division[13] = 0;
    expect_refused(zero_division, 14, "division");

    MidiBuilder mb = {0}; /* a track claiming far more bytes than the file has */
    mb_header(&mb, 0, 1, 96);
    mb_raw(&mb, (const uint8_t *)"MTrk\xff\xff\xff\xf0", 8);
    mb_event(&mb, 0, 3, 0x90, 60, 80);
    expect_refused(mb.bytes, mb.n, "truncated");
    mb_free(&mb);

    mb_header(&mb, 0, 1, 96); /* a five-byte delta time */
    mb_track_begin(&mb);
    mb_raw(&mb, (const uint8_t *)"\x81\x81\x81\x81\x01\x90\x3c\x40", 8);
    mb_track_end(&mb);
    expect_refused(mb.bytes, mb.n, "longer than 4 bytes");
    mb_free(&mb);

    mb_header(&mb, 0, 1, 96); /* data bytes before any status byte */
    mb_track_begin(&mb);
    mb_event(&mb, 0, 2, 60, 80);
    mb_track_end(&mb);
    expect_refused(mb.bytes, mb.n, "running status");
    mb_free(&mb);

    mb_header(&mb, 0, 1, 96); /* a sysex longer than its track */
    mb_track_begin(&mb);
    mb_raw(&mb, (const uint8_t *)"\x00\xf0\x8f\xff\x7f\x01", 6);
    mb_track_end(&mb);
    expect_refused(mb.bytes, mb.n, "longer than its track");
    mb_free(&mb);
}

/* libsmf 1.3 aborts on these valid files; we read them. */
static void test_valid_oddities_are_read(void)
{
    MidiBuilder mb = {0};
    mb_header(&mb, 0, 1, 96); /* an F7 escape and a track with no End-of-Track */
    mb_track_begin(&mb);
    mb_event(&mb, 0, 4, 0xf7, 0x02, 0xf8, 0xfa);
    mb_event(&mb, 0, 3, 0x90, 62, 80);
    mb_event(&mb, 96, 3, 0x80, 62, 0);
    mb_event(&mb, 0, 3, 0x90, 65, 80); /* never released */
    uint32_t len = (uint32_t)(mb.n - mb.track_start - 4);
    for (int i = 0; i < 4; i++)
        mb.bytes[mb.track_start + (size_t)i] = (uint8_t)(len >> (8 * (3 - i)));
    CnMidi midi;
    CnError err = {{0}};
    CHECK(cn_midi_parse(mb.bytes, mb.n, &midi, &err) == 0);
    CHECK(midi.n_notes == 2);
    CHECK(midi.n_no_eot == 1);
    CHECK(midi.n_unclosed == 1);
    cn_midi_free(&midi);
    mb_free(&mb);

    mb_header(&mb, 0, 1, 0xe728); /* SMPTE: 25 fps x 40 ticks per frame */
    mb_track_begin(&mb);
    mb_event(&mb, 0, 3, 0x90, 60, 80);
    mb_event(&mb, 500, 3, 0x80, 60, 0);
    mb_track_end(&mb);
    CHECK(cn_midi_parse(mb.bytes, mb.n, &midi, &err) == 0);
    CHECK(midi.ppqn == 500); /* 1000 ticks a second, read at 120 bpm */
    cn_midi_free(&midi);
    mb_free(&mb);

    mb_header(&mb, 0, 1, 0x8000); /* SMPTE with no frame rate and no ticks */
    mb_track_begin(&mb);
    mb_event(&mb, 0, 3, 0x90, 60, 80);
    mb_track_end(&mb);
    CHECK(cn_midi_parse(mb.bytes, mb.n, &midi, &err) != 0);
    CHECK(strstr(err.message, "SMPTE time division 0x8000") != NULL);
    mb_free(&mb);
}

/* 480 000 events in 1.7 MB: libsmf takes tens of seconds; ours is linear. */
static void test_a_huge_file_loads(void)
{
    MidiBuilder mb = {0};
    mb_header(&mb, 0, 1, 480);
    mb_track_begin(&mb);
    for (int i = 0; i < 240000; i++) {
        mb_event(&mb, 10, 3, 0x90, 40 + i % 40, 90);
        mb_event(&mb, 10, 2, 40 + i % 40, 0);
    }
    mb_track_end(&mb);
    CHECK(mb.n > 1500000);
    CnMidi midi;
    CnError err = {{0}};
    CHECK(cn_midi_parse(mb.bytes, mb.n, &midi, &err) == 0);
    CHECK(midi.n_notes == 240000);
    CHECK(midi.n_unclosed == 0);
    cn_midi_free(&midi);
    mb_free(&mb);
}

/* Every input the fuzzer ever crashed us with stays a test. */
static void test_fuzz_regressions_do_not_crash(void)
{
    DIR *d = opendir(CONTINUO_FUZZ_REGRESSIONS);
    CHECK(d != NULL);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", CONTINUO_FUZZ_REGRESSIONS, e->d_name);
        size_t n;
        uint8_t *bytes = test_read_file(path, &n);
        if (bytes)
            try_bytes(bytes, n);
        free(bytes);
    }
    closedir(d);
}

int main(void)
{
    RUN(test_damaged_hand_made_files_are_refused_cleanly);
    RUN(test_damaged_real_files_are_refused_cleanly);
    RUN(test_non_midi_and_empty_files_say_why);
    RUN(test_valid_oddities_are_read);
    RUN(test_a_huge_file_loads);
    RUN(test_fuzz_regressions_do_not_crash);
    printf("# %d malformed or damaged variants tried, %d refused with a message\n", n_variants,
           n_refused);
    CHECK(n_variants >= 200);
    return test_finish();
}
