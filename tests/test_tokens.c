/* Tokens: names, normal order, hand-made MIDI files to the expected tokens, and tokens
 * to MIDI and back. */
#include "continuo/midi_file.h"
#include "continuo/tokens.h"
#include "test_util.h"

static char tmp_name[CN_TOKEN_NAME_MAX];

static const char *name_of(CnToken t)
{
    cn_token_name(t, tmp_name);
    return tmp_name;
}

static CnToken chord_of(const char *pcs)
{
    CnToken t;
    CnError err;
    if (cn_token_parse(pcs, &t, &err) != 0)
        fprintf(stderr, "bad chord in test: %s\n", err.message);
    return t;
}

static void test_note_names_follow_music21_spelling(void)
{
    CHECK_STR(name_of((CnToken){.pitch = 60}), "C4");
    CHECK_STR(name_of((CnToken){.pitch = 61}), "C#4");
    CHECK_STR(name_of((CnToken){.pitch = 63}), "E-4");
    CHECK_STR(name_of((CnToken){.pitch = 76}), "E5");
    CHECK_STR(name_of((CnToken){.pitch = 75}), "E-5");
    CHECK_STR(name_of((CnToken){.pitch = 70}), "B-4");
    CHECK_STR(name_of((CnToken){.pitch = 21}), "A0");
    CHECK_STR(name_of((CnToken){.pitch = 108}), "C8");
}

static void test_names_parse_back_to_the_same_token(void)
{
    for (int key = 12; key < 128; key++) {
        CnToken t = {.pitch = (uint8_t)key}, back;
        CnError err;
        CHECK(cn_token_parse(name_of(t), &back, &err) == 0);
        CHECK(cn_token_equal(t, back));
    }
    for (uint16_t mask = 1; mask < 4096; mask++) {
        CnToken t = {.is_chord = 1, .pc_mask = mask}, back;
        CnError err;
        CHECK(cn_token_parse(name_of(t), &back, &err) == 0);
        CHECK(cn_token_equal(t, back));
    }
}

static void test_bad_names_are_refused_with_a_reason(void)
{
    const char *bad[] = {"", "H4", "C", "4.12", "4..7", "C#", "0.x", "C4x", "Z9"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CnToken t;
        CnError err = {{0}};
        CHECK(cn_token_parse(bad[i], &t, &err) != 0);
        CHECK(strstr(err.message, "not a token") != NULL);
    }
    CnToken t; /* a line of a file written with CR LF: the CR is shown, not hidden */
    CnError err = {{0}};
    CHECK(cn_token_parse("0\r", &t, &err) != 0);
    CHECK(strstr(err.message, "'0\\r' is not a token") != NULL);
}

static void test_chords_are_in_normal_order(void)
{
    CHECK_STR(name_of(chord_of("4.9")), "4.9");
    CHECK_STR(name_of(chord_of("9.4")), "4.9");           /* A-E: the fourth, not the fifth */
    CHECK_STR(name_of(chord_of("7.0.3")), "0.3.7");       /* C minor */
    CHECK_STR(name_of(chord_of("0.4.7")), "0.4.7");       /* C major */
    CHECK_STR(name_of(chord_of("2.7.11")), "7.11.2");     /* G major */
    CHECK_STR(name_of(chord_of("2.5.7.11")), "11.2.5.7"); /* G7 */
    CHECK_STR(name_of(chord_of("0.4.8")), "0.4.8");       /* symmetric: lowest first */
    CHECK_STR(name_of(chord_of("7")), "7");               /* octaves: one class */
    CHECK_STR(name_of(chord_of("0.1.5.6.8")), "0.1.5.6.8"); /* Forte 5-20 */
    CHECK_STR(name_of(chord_of("11.1.2.5")), "11.1.2.5");
}

static void test_keys_struck_together_make_a_note_or_chord(void)
{
    uint8_t single[] = {64}, octave[] = {55, 67}, triad[] = {67, 60, 64}, twice[] = {60, 60};
    CHECK_STR(name_of(cn_token_from_keys(single, 1)), "E4");
    CHECK_STR(name_of(cn_token_from_keys(octave, 2)), "7");
    CHECK_STR(name_of(cn_token_from_keys(triad, 3)), "0.4.7");
    CHECK_STR(name_of(cn_token_from_keys(twice, 2)), "C4");
}

static int tokenize_bytes(const MidiBuilder *mb, CnTokenStream *stream, CnMidi *midi)
{
    CnError err = {{0}};
    if (cn_midi_parse(mb->bytes, mb->n, midi, &err) != 0) {
        fprintf(stderr, "parse failed: %s\n", err.message);
        return -1;
    }
    if (cn_tokenize(midi, stream, &err) != 0) {
        fprintf(stderr, "tokenize failed: %s\n", err.message);
        return -1;
    }
    return 0;
}

static void check_stream(const CnTokenStream *s, const char *const *expected, size_t n)
{
    CHECK(s->n_tokens == n);
    for (size_t i = 0; i < n && i < s->n_tokens; i++)
        CHECK_STR(name_of(s->tokens[i]), expected[i]);
}

/* One track: a C major chord, then E4 G4 with running status and velocity-0 note-offs,
 * a tempo change in the middle, then an A minor chord written with note-off events. */
static void test_hand_made_single_track(void)
{
    MidiBuilder mb = {0};
    mb_header(&mb, 0, 1, 96);
    mb_track_begin(&mb);
    mb_event(&mb, 0, 6, 0xff, 0x51, 0x03, 0x07, 0xa1, 0x20); /* 120 bpm */
    mb_event(&mb, 0, 3, 0x90, 60, 80);
    mb_event(&mb, 0, 2, 64, 80);                             /* running status */
    mb_event(&mb, 2, 2, 67, 80);                             /* 2 ticks late: same chord */
    mb_event(&mb, 94, 2, 60, 0);
    mb_event(&mb, 0, 2, 64, 0);
    mb_event(&mb, 0, 2, 67, 0);
    mb_event(&mb, 0, 2, 64, 70);                             /* E4 */
    mb_event(&mb, 48, 2, 64, 0);
    mb_event(&mb, 0, 6, 0xff, 0x51, 0x03, 0x0f, 0x42, 0x40); /* tempo change: 60 bpm */
    mb_event(&mb, 0, 3, 0x90, 67, 70);                       /* G4 */
    mb_event(&mb, 48, 3, 0x80, 67, 0);
    mb_event(&mb, 0, 3, 0x90, 57, 90);                       /* A minor: A3 C4 E4 */
    mb_event(&mb, 0, 2, 60, 90);
    mb_event(&mb, 0, 2, 64, 90);
    mb_event(&mb, 96, 3, 0x80, 57, 0);
    mb_event(&mb, 0, 2, 60, 0);
    mb_event(&mb, 0, 2, 64, 0);
    mb_track_end(&mb);

    CnMidi midi;
    CnTokenStream s;
    if (tokenize_bytes(&mb, &s, &midi) == 0) {
        const char *expected[] = {"0.4.7", "E4", "G4", "9.0.4"};
        check_stream(&s, expected, 4);
        CHECK(s.n_chords == 2 && s.n_notes == 2);
        CHECK(s.onsets[1] == 12 && s.onsets[2] == 18 && s.onsets[3] == 24);
        CHECK(midi.n_notes == 8);
        CHECK(midi.notes[0].duration == 96);
        CHECK_NEAR(midi.bpm, 120.0, 1e-6);
        CHECK(s.warning[0] == '\0');
        cn_token_stream_free(&s);
        cn_midi_free(&midi);
    }
    mb_free(&mb);
}

/* music21 makes a chord of notes struck together only when they are also released
 * together (within a sixty-fourth, ppqn / 16 ticks, of the first note's onset and release):
 * a note held past the others is a token of its own, after the chord; the first note
 * struck later ends the search; a note can join two chords, as in music21. */
static void test_chords_need_their_notes_released_together(void)
{
    MidiBuilder mb = {0};
    mb_header(&mb, 0, 1, 480); /* tolerance: 30 ticks */
    mb_track_begin(&mb);
    /* 1. C4 E4 G4 struck and released together: one chord */
    mb_event(&mb, 0, 3, 0x90, 60, 80);
    mb_event(&mb, 0, 3, 0x90, 64, 80);
    mb_event(&mb, 10, 3, 0x90, 67, 80);
    mb_event(&mb, 470, 3, 0x80, 60, 0);
    mb_event(&mb, 0, 3, 0x80, 64, 0);
    mb_event(&mb, 20, 3, 0x80, 67, 0);
    /* 2. at 960: C4 E4 released after a beat, G4 held two: the chord 0.4, then G4 */
    mb_event(&mb, 460, 3, 0x90, 60, 80);
    mb_event(&mb, 0, 3, 0x90, 64, 80);
    mb_event(&mb, 0, 3, 0x90, 67, 80);
    mb_event(&mb, 480, 3, 0x80, 60, 0);
    mb_event(&mb, 0, 3, 0x80, 64, 0);
    mb_event(&mb, 480, 3, 0x80, 67, 0);
    /* 3. at 1920: D4 A4 struck together, released 31 ticks apart: two notes */
    mb_event(&mb, 0, 3, 0x90, 62, 80);
    mb_event(&mb, 0, 3, 0x90, 69, 80);
    mb_event(&mb, 240, 3, 0x80, 62, 0);
    mb_event(&mb, 31, 3, 0x80, 69, 0);
    /* 4. at 2880: F4 (to 2980), A4 25 ticks later (to 3030), C5 25 ticks later (to 3005):
       F4 takes C5 (struck and released within 30 of it) but not A4; A4, not yet in a
       chord, takes C5 again */
    mb_event(&mb, 689, 3, 0x90, 65, 80);
    mb_event(&mb, 25, 3, 0x90, 69, 80);
    mb_event(&mb, 0, 3, 0x90, 72, 80);
    mb_event(&mb, 75, 3, 0x80, 65, 0);
    mb_event(&mb, 25, 3, 0x80, 72, 0);
    mb_event(&mb, 25, 3, 0x80, 69, 0);
    mb_track_end(&mb);

    CnMidi midi;
    CnTokenStream s;
    if (tokenize_bytes(&mb, &s, &midi) == 0) {
        const char *expected[] = {"0.4.7", "0.4", "G4", "D4", "A4", "0.5", "9.0"};
        check_stream(&s, expected, 7);
        CHECK(s.onsets[1] == 24 && s.onsets[2] == 24); /* the chord and the held note */
        CHECK(s.onsets[3] == 48 && s.onsets[4] == 48);
        cn_token_stream_free(&s);
        cn_midi_free(&midi);
    }
    mb_free(&mb);
}

/* Two tracks (right hand, left hand): notes at the same time in different tracks stay
 * separate tokens, ordered by onset and then by track. No track has a program change, so
 * music21 makes no parts and lstm.py takes every note: the drums too (music21 has no rule
 * for channel 10: a drum hit is the pitch of its key). */
static void test_hand_made_two_hands_and_drums(void)
{
    MidiBuilder mb = {0};
    mb_header(&mb, 1, 3, 480);
    mb_track_begin(&mb); /* right hand: D5 then F#5 */
    mb_event(&mb, 0, 3, 0x90, 74, 100);
    mb_event(&mb, 480, 3, 0x90, 74, 0);
    mb_event(&mb, 0, 3, 0x90, 78, 100);
    mb_event(&mb, 480, 3, 0x90, 78, 0);
    mb_track_end(&mb);
    mb_track_begin(&mb); /* left hand: D3+A3 together, then D2 */
    mb_event(&mb, 0, 3, 0x91, 50, 60);
    mb_event(&mb, 0, 3, 0x91, 57, 60);
    mb_event(&mb, 960, 3, 0x81, 50, 0);
    mb_event(&mb, 0, 3, 0x81, 57, 0);
    mb_event(&mb, 0, 3, 0x91, 38, 60);
    mb_event(&mb, 480, 3, 0x81, 38, 0);
    mb_track_end(&mb);
    mb_track_begin(&mb); /* drums */
    mb_event(&mb, 0, 3, 0x99, 36, 100);
    mb_event(&mb, 240, 3, 0x89, 36, 0);
    mb_track_end(&mb);

    CnMidi midi;
    CnTokenStream s;
    if (tokenize_bytes(&mb, &s, &midi) == 0) {
        const char *expected[] = {"D5", "9.2", "C2", "F#5", "D2"};
        check_stream(&s, expected, 5);
        CHECK(s.n_dropped == 0 && s.warning[0] == '\0');
        cn_token_stream_free(&s);
        cn_midi_free(&midi);
    }
    mb_free(&mb);
}

/* A second instrument (a program change to strings on another channel) is left out. */
static void test_only_the_first_instrument_is_kept(void)
{
    MidiBuilder mb = {0};
    mb_header(&mb, 1, 2, 480);
    mb_track_begin(&mb);
    mb_event(&mb, 0, 2, 0xc0, 0);
    mb_event(&mb, 0, 3, 0x90, 60, 100);
    mb_event(&mb, 480, 3, 0x80, 60, 0);
    mb_track_end(&mb);
    mb_track_begin(&mb);
    mb_event(&mb, 0, 2, 0xc2, 48);
    mb_event(&mb, 0, 3, 0x92, 72, 100);
    mb_event(&mb, 480, 3, 0x82, 72, 0);
    mb_track_end(&mb);
    CnMidi midi;
    CnTokenStream s;
    if (tokenize_bytes(&mb, &s, &midi) == 0) {
        const char *expected[] = {"C4"};
        check_stream(&s, expected, 1);
        CHECK(strstr(s.warning, "other than the first") != NULL);
        cn_token_stream_free(&s);
        cn_midi_free(&midi);
    }
    mb_free(&mb);
}

/* music21 makes chords within a track whatever the channels: two notes of one track on
 * two channels struck and let go together are a chord, and one key struck on both is a
 * chord of its pitch class (a Chord of two C4s), not a note. */
static void test_chords_across_channels_of_a_track(void)
{
    MidiBuilder mb = {0};
    mb_header(&mb, 0, 1, 480);
    mb_track_begin(&mb);
    mb_event(&mb, 0, 3, 0x90, 60, 100); /* C4 on channel 1, E4 on channel 2 */
    mb_event(&mb, 0, 3, 0x91, 64, 100);
    mb_event(&mb, 480, 3, 0x80, 60, 0);
    mb_event(&mb, 0, 3, 0x81, 64, 0);
    mb_event(&mb, 0, 3, 0x90, 67, 100); /* G4 on both */
    mb_event(&mb, 0, 3, 0x91, 67, 100);
    mb_event(&mb, 480, 3, 0x80, 67, 0);
    mb_event(&mb, 0, 3, 0x81, 67, 0);
    mb_track_end(&mb);
    CnMidi midi;
    CnTokenStream s;
    if (tokenize_bytes(&mb, &s, &midi) == 0) {
        const char *expected[] = {"0.4", "7"};
        check_stream(&s, expected, 2);
        cn_token_stream_free(&s);
        cn_midi_free(&midi);
    }
    mb_free(&mb);
}

/* music21's parts (partitionByInstrument, lstm.py's parts[0]): a track's program changes
 * are its instruments, from each to the next; a track without one, and a track's notes
 * before its first, belong to no part; programs music21 has no instrument for (2, 3: the
 * bright and electric grands) are all one nameless instrument; the first part is the
 * first track's first instrument. */
static void test_the_first_part_as_music21_makes_it(void)
{
    MidiBuilder mb = {0};
    mb_header(&mb, 1, 4, 480);
    mb_track_begin(&mb); /* program 2, then harpsichord (6) from beat 2 */
    mb_event(&mb, 0, 2, 0xc0, 1);
    mb_event(&mb, 0, 3, 0x90, 60, 100);
    mb_event(&mb, 480, 3, 0x80, 60, 0);
    mb_event(&mb, 0, 2, 0xc0, 6);
    mb_event(&mb, 0, 3, 0x90, 62, 100);
    mb_event(&mb, 480, 3, 0x80, 62, 0);
    mb_track_end(&mb);
    mb_track_begin(&mb); /* program 3 (nameless too: the same part), from beat 1 only */
    mb_event(&mb, 0, 3, 0x91, 48, 100);
    mb_event(&mb, 240, 3, 0x81, 48, 0);
    mb_event(&mb, 240, 2, 0xc1, 2);
    mb_event(&mb, 0, 3, 0x91, 50, 100);
    mb_event(&mb, 480, 3, 0x81, 50, 0);
    mb_track_end(&mb);
    mb_track_begin(&mb); /* no program change: no part */
    mb_event(&mb, 0, 3, 0x92, 72, 100);
    mb_event(&mb, 480, 3, 0x82, 72, 0);
    mb_track_end(&mb);
    mb_track_begin(&mb); /* piano: another part */
    mb_event(&mb, 0, 2, 0xc3, 0);
    mb_event(&mb, 0, 3, 0x93, 76, 100);
    mb_event(&mb, 480, 3, 0x83, 76, 0);
    mb_track_end(&mb);
    CnMidi midi;
    CnTokenStream s;
    if (tokenize_bytes(&mb, &s, &midi) == 0) {
        const char *expected[] = {"C4", "D3"};
        check_stream(&s, expected, 2);
        CHECK(s.n_dropped == 4 && strstr(s.warning, "or of none") != NULL);
        cn_token_stream_free(&s);
        cn_midi_free(&midi);
    }
    mb_free(&mb);
}

/* music21 ends a note at the next event of its key and channel, whatever it is (its
 * matchedNoteOff tests isNoteOff without calling it): a key struck again while it sounds
 * ends the first note there and is no note of its own, and a pitch bend whose low byte is
 * the key's number ends it too. continuo follows it (docs/TOKENS.md). A note-on that
 * nothing ends is no note. */
static void test_notes_end_as_music21_reads_them(void)
{
    MidiBuilder mb = {0};
    mb_header(&mb, 0, 1, 480);
    mb_track_begin(&mb);
    mb_event(&mb, 0, 3, 0x90, 60, 100); /* C4 and E4 struck together ... */
    mb_event(&mb, 0, 3, 0x90, 64, 100);
    mb_event(&mb, 240, 3, 0x90, 60, 90); /* ... C4 struck again: ends C4 with E4 */
    mb_event(&mb, 0, 3, 0x80, 64, 0);
    mb_event(&mb, 240, 3, 0x80, 60, 0);  /* (ends nothing) */
    mb_event(&mb, 0, 3, 0x90, 67, 100);  /* G4 and B4 ... */
    mb_event(&mb, 0, 3, 0x90, 71, 100);
    mb_event(&mb, 240, 3, 0xe0, 67, 64); /* ... a pitch bend of low byte 67 ends G4 */
    mb_event(&mb, 0, 3, 0x80, 71, 0);
    mb_event(&mb, 240, 3, 0x80, 67, 0);
    mb_event(&mb, 0, 3, 0x90, 72, 100);  /* C5, never let go */
    mb_event(&mb, 480, 3, 0x90, 74, 100); /* D5 */
    mb_event(&mb, 480, 3, 0x80, 74, 0);
    mb_track_end(&mb);
    CnMidi midi;
    CnTokenStream s;
    if (tokenize_bytes(&mb, &s, &midi) == 0) {
        const char *expected[] = {"0.4", "7.11", "D5"};
        check_stream(&s, expected, 3);
        cn_token_stream_free(&s);
        cn_midi_free(&midi);
    }
    mb_free(&mb);
}

/* A part ends at its highest time, and a note that starts there (its length quantized to
 * none) is in no part, unless something of the file lasts longer: the tempo of a track
 * without notes goes into the first part, and so keeps it. */
static void test_a_note_of_no_length_at_the_end(void)
{
    for (int tempo_later = 0; tempo_later < 2; tempo_later++) {
        MidiBuilder mb = {0};
        mb_header(&mb, 1, 2, 480);
        mb_track_begin(&mb); /* the conductor: a tempo at 0, or also at beat 4 */
        mb_event(&mb, 0, 6, 0xff, 0x51, 3, 0x07, 0xa1, 0x20);
        if (tempo_later)
            mb_event(&mb, 1920, 6, 0xff, 0x51, 3, 0x07, 0xa1, 0x20);
        mb_track_end(&mb);
        mb_track_begin(&mb);
        mb_event(&mb, 0, 2, 0xc0, 0);
        mb_event(&mb, 0, 3, 0x90, 60, 100);
        mb_event(&mb, 480, 3, 0x80, 60, 0);
        mb_event(&mb, 0, 3, 0x90, 62, 100); /* a sixty-fourth: no length on the grid */
        mb_event(&mb, 20, 3, 0x80, 62, 0);
        mb_track_end(&mb);
        CnMidi midi;
        CnTokenStream s;
        if (tokenize_bytes(&mb, &s, &midi) == 0) {
            const char *expected[] = {"C4", "D4"};
            check_stream(&s, expected, tempo_later ? 2 : 1);
            cn_token_stream_free(&s);
            cn_midi_free(&midi);
        }
        mb_free(&mb);
    }
}

/* Onsets snap to the nearer of the sixteenth and eighth-triplet grids; half-way between
 * two points of a grid, to the earlier; as near to both grids, to the earlier point
 * (music21's bestMatch sorts by error, then by the match): 60 ticks (a 32nd) goes to 0, not
 * to the sixteenth; 200 (5/12 of a quarter) to the triplet, not the eighth. */
static void test_onsets_are_quantized_like_music21(void)
{
    MidiBuilder mb = {0};
    mb_header(&mb, 0, 1, 480);
    mb_track_begin(&mb);
    uint32_t onsets[] = {0, 60, 118, 165, 200, 330, 470, 540};  /* ticks */
    uint32_t expected_twelfths[] = {0, 0, 3, 4, 4, 8, 12, 12};
    uint32_t now = 0;
    for (int i = 0; i < 8; i++) {
        mb_event(&mb, onsets[i] - now, 3, 0x90, 60 + i, 100);
        mb_event(&mb, 20, 3, 0x80, 60 + i, 0);
        now = onsets[i] + 20;
    }
    mb_event(&mb, 960, 3, 0x90, 80, 100); /* (the last note, of a length: see below) */
    mb_event(&mb, 480, 3, 0x80, 80, 0);
    mb_track_end(&mb);
    CnMidi midi;
    CnTokenStream s;
    if (tokenize_bytes(&mb, &s, &midi) == 0) {
        CHECK(s.n_tokens == 9);
        for (size_t i = 0; i < 8 && i < s.n_tokens; i++)
            CHECK(s.onsets[i] == expected_twelfths[i]);
        cn_token_stream_free(&s);
        cn_midi_free(&midi);
    }
    mb_free(&mb);
}

static void parse_all(const char *const *names, size_t n, CnToken *tokens)
{
    CnError err = {{0}};
    for (size_t i = 0; i < n; i++)
        CHECK(cn_token_parse(names[i], &tokens[i], &err) == 0);
}

static void test_tokens_to_midi_and_back_are_identical(void)
{
    const char *names[] = {"C4", "E-5", "0.4.7", "B-2", "7", "9.0.4", "F#6", "11.2.5.7", "A0"};
    size_t n = sizeof names / sizeof names[0];
    CnToken tokens[16];
    CnError err = {{0}};
    parse_all(names, n, tokens);
    CnRenderOptions render = cn_render_defaults();
    CnNote *notes;
    size_t n_notes;
    CHECK(cn_render_tokens(tokens, n, &render, &notes, &n_notes, &err) == 0);
    CHECK(n_notes == 1 + 1 + 3 + 1 + 2 + 3 + 1 + 4 + 1); /* "7" sounds G3 and G4 */
    CHECK(notes[1].onset == 240 && notes[1].duration == 480); /* half a beat apart */
    CHECK(notes[2].pitch >= 60 && notes[2].pitch < 72);       /* chords in C4..B4 */

    char *dir = test_make_temp_dir("tokens");
    char path[4200];
    snprintf(path, sizeof path, "%s/round.mid", dir);
    CnMidiWriteOptions write = {.ppqn = render.ppqn, .bpm = 120, .program = 0};
    CHECK(cn_midi_write_file(path, notes, n_notes, &write, &err) == 0);
    CnMidi midi;
    CnTokenStream s;
    CHECK(cn_midi_read_file(path, &midi, &err) == 0);
    CHECK(cn_tokenize(&midi, &s, &err) == 0);
    check_stream(&s, names, n);
    CHECK_NEAR(midi.bpm, 120.0, 1e-3);
    CHECK(midi.n_unclosed == 0);
    cn_token_stream_free(&s);
    cn_midi_free(&midi);
    free(notes);
    test_remove_tree(dir);
    free(dir);
}

static void test_vocabulary_is_sorted_in_byte_order(void)
{
    const char *names[] = {"E4", "0.4.7", "C#4", "10.2", "B-3", "4.9", "C4"};
    CnVocab v;
    CnError err = {{0}};
    CHECK(cn_vocab_from_names(names, 7, &v, &err) == 0);
    const char *sorted[] = {"0.4.7", "10.2", "4.9", "B-3", "C#4", "C4", "E4"};
    CHECK(v.n == 7);
    for (size_t i = 0; i < 7 && i < v.n; i++)
        CHECK_STR(v.names[i], sorted[i]);
    CnToken c4 = {.pitch = 60};
    CHECK(cn_vocab_index(&v, c4) == 5);
    CHECK(cn_vocab_index(&v, (CnToken){.pitch = 62}) == -1);
    cn_vocab_free(&v);
}

static void test_unknown_tokens_map_to_the_nearest(void)
{
    const char *names[] = {"C4", "E4", "0.4.7", "2.7", "9.0.4"};
    CnVocab v;
    CnError err = {{0}};
    CHECK(cn_vocab_from_names(names, 5, &v, &err) == 0);
    CnToken c6 = {.pitch = 84}, e2 = {.pitch = 40}, t;
    CHECK_STR(v.names[cn_vocab_nearest(&v, c6)], "C4");
    CHECK_STR(v.names[cn_vocab_nearest(&v, e2)], "E4");
    cn_token_parse("0.4.7.11", &t, &err);
    CHECK_STR(v.names[cn_vocab_nearest(&v, t)], "0.4.7");
    cn_token_parse("9.0", &t, &err);
    CHECK_STR(v.names[cn_vocab_nearest(&v, t)], "9.0.4");
    cn_vocab_free(&v);
}

/* ----- The timed scheme ---------------------------------------------------------------- */

static int tokenize_timed_bytes(const MidiBuilder *mb, CnTokenStream *stream, CnMidi *midi)
{
    CnError err = {{0}};
    if (cn_midi_parse(mb->bytes, mb->n, midi, &err) != 0 ||
        cn_tokenize_timed(midi, stream, &err) != 0) {
        fprintf(stderr, "timed tokenize failed: %s\n", err.message);
        return -1;
    }
    return 0;
}

static void test_timed_names_parse_back_and_bad_ones_are_refused(void)
{
    CnVocab v;
    CnError err = {{0}};
    CHECK(cn_vocab_timed(&v, &err) == 0);
    CHECK(v.n == 2 * 88 + 48 + 16 && v.scheme == CN_SCHEME_TIMED);
    for (size_t i = 0; i < v.n; i++) {
        CnToken back;
        CHECK(cn_token_parse(v.names[i], &back, &err) == 0);
        CHECK(cn_token_equal(back, v.tokens[i]));
        CHECK(cn_vocab_index(&v, v.tokens[i]) == (int)i);
    }
    CHECK_STR(name_of((CnToken){.kind = CN_EVENT_ON, .pitch = 61}), "on:C#4");
    CHECK_STR(name_of((CnToken){.kind = CN_EVENT_OFF, .pitch = 21}), "off:A0");
    CHECK_STR(name_of((CnToken){.kind = CN_EVENT_SHIFT, .pitch = 12}), "shift:12");
    CHECK_STR(name_of((CnToken){.kind = CN_EVENT_VELOCITY, .pitch = 3}), "vel:3");
    const char *bad[] = {"on:", "on:C9", "off:G#8", "on:4.7", "shift:0", "shift:49",
                         "shift:x", "vel:16", "vel:", "on:C4 "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CnToken t;
        CHECK(cn_token_parse(bad[i], &t, &err) != 0);
        CHECK(strstr(err.message, "not a token") != NULL);
    }
    const char *mixed[] = {"C4", "on:C4"}; /* one scheme a vocabulary */
    CnVocab m;
    CHECK(cn_vocab_from_names(mixed, 2, &m, &err) != 0);
    CHECK(strstr(err.message, "scheme") != NULL);
    /* a key beyond the piano goes by octaves to the nearest the vocabulary has */
    CHECK_STR(v.names[cn_vocab_nearest(&v, (CnToken){.kind = CN_EVENT_ON, .pitch = 112})],
              "on:E7");
    CHECK_STR(v.names[cn_vocab_nearest(&v, (CnToken){.kind = CN_EVENT_OFF, .pitch = 12})],
              "off:C1");
    cn_vocab_free(&v);
    for (int vel = 1; vel < 128; vel++) /* a level plays a velocity of its own range */
        CHECK(cn_velocity_level(cn_level_velocity(cn_velocity_level((uint8_t)vel))) ==
              cn_velocity_level((uint8_t)vel));
    CHECK(cn_velocity_level(1) == 0 && cn_velocity_level(127) == CN_TIMED_N_VELOCITIES - 1);
}

/* A dotted rhythm, a held chord under a melody, a soft and a loud note, a key struck again
 * while it sounds, a triplet, and a rest longer than a bar: each as the events say. */
static void test_timed_events_say_rhythm_lengths_and_loudness(void)
{
    MidiBuilder mb = {0};
    mb_header(&mb, 0, 1, 480);
    mb_track_begin(&mb);
    mb_event(&mb, 0, 3, 0x90, 48, 40);   /* C3 and G3 held two beats, soft */
    mb_event(&mb, 0, 3, 0x90, 55, 40);
    mb_event(&mb, 0, 3, 0x90, 72, 100);  /* C5 a dotted eighth, loud */
    mb_event(&mb, 360, 3, 0x80, 72, 0);
    mb_event(&mb, 0, 3, 0x90, 74, 100);  /* D5 a sixteenth */
    mb_event(&mb, 120, 3, 0x80, 74, 0);
    mb_event(&mb, 0, 3, 0x90, 76, 100);  /* E5 struck, then again while it sounds */
    mb_event(&mb, 160, 3, 0x90, 76, 100);
    mb_event(&mb, 160, 3, 0x80, 76, 0);  /* (the first note-off: the FIFO pairs it) */
    mb_event(&mb, 160, 3, 0x80, 48, 0);  /* beat 2: the chord ends, and the second E5 */
    mb_event(&mb, 0, 3, 0x80, 55, 0);
    mb_event(&mb, 0, 3, 0x80, 76, 0);
    mb_event(&mb, 2400, 3, 0x90, 60, 64); /* five beats of rest, then C4 a quarter */
    mb_event(&mb, 480, 3, 0x80, 60, 0);
    mb_track_end(&mb);
    CnMidi midi;
    CnTokenStream s;
    if (tokenize_timed_bytes(&mb, &s, &midi) == 0) {
        const char *expected[] = {
            "vel:4", "on:C3", "on:G3", "vel:12", "on:C5", "shift:9", "off:C5", "on:D5",
            "shift:3", "off:D5", "on:E5", "shift:4", "off:E5", "on:E5", "shift:8", "off:C3",
            "off:G3", "off:E5", "shift:48", "shift:12", "vel:7", "on:C4", "shift:12", "off:C4"};
        size_t n = sizeof expected / sizeof expected[0];
        check_stream(&s, expected, n);
        CHECK(s.n_notes == 7 && s.n_chords == 1); /* C3, G3 and C5 together */
        CHECK(s.onsets[5] == 9 && s.onsets[n - 1] == 96);

        /* and back: the same notes, at the levels' velocities */
        CnRenderOptions render = cn_render_defaults();
        CnNote *notes;
        size_t n_notes;
        double quarters;
        CnError err = {{0}};
        CHECK(cn_render_events(s.tokens, s.n_tokens, &render, &notes, &n_notes, &quarters,
                               &err) == 0);
        CHECK(n_notes == 7);
        CHECK_NEAR(quarters, 8.0, 1e-9);
        static const struct { uint32_t onset, duration; uint8_t pitch; } want[] = {
            {0, 960, 48}, {0, 960, 55}, {0, 360, 72}, {360, 120, 74}, {480, 160, 76},
            {640, 320, 76}, {3360, 480, 60}};
        for (size_t i = 0; i < n_notes && i < 7; i++) {
            CHECK(notes[i].onset == want[i].onset && notes[i].duration == want[i].duration);
            CHECK(notes[i].pitch == want[i].pitch);
        }
        CHECK(cn_velocity_level(notes[0].velocity) == cn_velocity_level(40));
        CHECK(cn_velocity_level(notes[2].velocity) == cn_velocity_level(100));
        free(notes);
        cn_token_stream_free(&s);
        cn_midi_free(&midi);
    }
    mb_free(&mb);
}

/* Events a model may write in any order still make notes that end: an on never released
 * ends at the longest length, a release of a silent key is nothing, the last notes end a
 * beat after the last event. */
static void test_timed_rendering_ends_every_note(void)
{
    const char *names[] = {"off:D4", "on:C4", "shift:48", "shift:48", "shift:12", "on:E4",
                           "on:E4", "shift:6", "on:G4"};
    size_t n = sizeof names / sizeof names[0];
    CnToken tokens[16];
    CnError err = {{0}};
    parse_all(names, n, tokens);
    CnRenderOptions render = cn_render_defaults();
    CnNote *notes;
    size_t n_notes;
    double quarters;
    CHECK(cn_render_events(tokens, n, &render, &notes, &n_notes, &quarters, &err) == 0);
    CHECK(n_notes == 3); /* E4 struck twice at once is one note */
    CHECK(notes[0].pitch == 60 && notes[0].duration == CN_TIMED_LONGEST_NOTE * 40);
    CHECK(notes[1].pitch == 64 && notes[1].onset == 108 * 40 && notes[1].duration == 18 * 40);
    CHECK(notes[2].pitch == 67 && notes[2].duration == 12 * 40);
    CHECK_NEAR(quarters, (114.0 + 12) / 12, 1e-9);
    free(notes);
}

/* Every file of midi_songs, as timed events and back: every note comes back with its
 * onset and length on the twelfth-of-a-beat grid, its key and its velocity's level. */
static void test_timed_round_trip_of_real_songs(void)
{
    CnTokenStream s;
    CnMidi midi;
    CnError err = {{0}};
    const char *files[] = {"fur_elise.mid", "the_entertainer.mid"};
    int checked = 0;
    for (size_t f = 0; f < 2; f++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/midi_songs/%s", CONTINUO_SOURCE_DIR, files[f]);
        if (cn_midi_read_file(path, &midi, &err) != 0)
            continue;
        checked++;
        CHECK(cn_tokenize_timed(&midi, &s, &err) == 0);
        CnRenderOptions render = cn_render_defaults();
        CnNote *notes;
        size_t n_notes;
        double quarters;
        CHECK(cn_render_events(s.tokens, s.n_tokens, &render, &notes, &n_notes, &quarters,
                               &err) == 0);
        CHECK(n_notes == s.n_notes && n_notes > 100);
        size_t matched = 0;
        uint32_t shift = notes[0].onset;
        uint64_t first = UINT64_MAX;
        for (size_t i = 0; i < midi.n_notes; i++)
            first = midi.notes[i].onset < first ? midi.notes[i].onset : first;
        for (size_t i = 0; i < n_notes; i++) {
            for (size_t j = 0; j < midi.n_notes; j++) {
                const CnNote *o = &midi.notes[j];
                uint64_t on = ((uint64_t)(o->onset - first) * 12 + midi.ppqn / 2) / midi.ppqn;
                if (o->pitch == notes[i].pitch && on * 40 == notes[i].onset - shift &&
                    cn_velocity_level(o->velocity) == cn_velocity_level(notes[i].velocity)) {
                    matched++;
                    break;
                }
            }
        }
        CHECK(matched == n_notes);
        free(notes);
        cn_token_stream_free(&s);
        cn_midi_free(&midi);
    }
    CHECK(checked == 2);
}

/* Transposition moves keys and chords, keeps time and loudness, and folds what leaves the
 * keyboard back by an octave. */
static void test_tokens_transpose(void)
{
    CnToken t;
    CnError err = {{0}};
    const char *cases[][3] = {{"C4", "3", "E-4"},        {"0.4.7", "2", "2.6.9"},
                              {"11.2.5.7", "1", "0.3.6.8"}, {"on:C4", "-5", "on:G3"},
                              {"off:B7", "3", "off:D7"},  {"on:C1", "-4", "on:G#1"},
                              {"shift:5", "4", "shift:5"}, {"vel:9", "-2", "vel:9"},
                              {"G9", "1", "G#8"},        {"4.9", "-12", "4.9"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK(cn_token_parse(cases[i][0], &t, &err) == 0);
        CHECK_STR(name_of(cn_token_transpose(t, atoi(cases[i][1]))), cases[i][2]);
    }
}

int main(void)
{
    RUN(test_note_names_follow_music21_spelling);
    RUN(test_names_parse_back_to_the_same_token);
    RUN(test_bad_names_are_refused_with_a_reason);
    RUN(test_chords_are_in_normal_order);
    RUN(test_keys_struck_together_make_a_note_or_chord);
    RUN(test_hand_made_single_track);
    RUN(test_chords_need_their_notes_released_together);
    RUN(test_hand_made_two_hands_and_drums);
    RUN(test_only_the_first_instrument_is_kept);
    RUN(test_onsets_are_quantized_like_music21);
    RUN(test_chords_across_channels_of_a_track);
    RUN(test_the_first_part_as_music21_makes_it);
    RUN(test_notes_end_as_music21_reads_them);
    RUN(test_a_note_of_no_length_at_the_end);
    RUN(test_tokens_to_midi_and_back_are_identical);
    RUN(test_vocabulary_is_sorted_in_byte_order);
    RUN(test_unknown_tokens_map_to_the_nearest);
    RUN(test_timed_names_parse_back_and_bad_ones_are_refused);
    RUN(test_timed_events_say_rhythm_lengths_and_loudness);
    RUN(test_timed_rendering_ends_every_note);
    RUN(test_timed_round_trip_of_real_songs);
    RUN(test_tokens_transpose);
    return test_finish();
}
