/* The play-along engine driven the way an audio host drives it: a cycle of 256 frames at
 * 48 kHz every 5.3 ms, a player's phrase fed in at its frames, the output recorded with its
 * frames. The answer starts on the beat grid after the silence, its notes fall on the
 * eighth-note grid, every note-on is released, the player interrupts it within a cycle,
 * continuous mode keeps playing, and a flood of junk does no harm. */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "continuo/beat.h"
#include "continuo/engine.h"
#include "continuo/midi_file.h"
#include "continuo/tokens.h"
#include "test_util.h"

#define RATE 48000.0
#define PERIOD 256
#define EIGHTH 12000 /* frames at 120 bpm */

typedef struct {
    uint64_t frame;
    uint8_t bytes[3];
} Recorded;

static Recorded out[20000];
static int n_out;
static uint64_t cycle_frame;

/* What the player plays goes into the next cycle's input, at its start. */
static CnMidiEvent input[4096];
static uint8_t input_bytes[4096][3];
static int n_input;

static void play_bytes(const uint8_t *bytes, size_t size)
{
    if (n_input < 4096) {
        memcpy(input_bytes[n_input], bytes, size);
        input[n_input] = (CnMidiEvent){.offset = 0, .size = (uint32_t)size,
                                       .data = input_bytes[n_input]};
        n_input++;
    }
}

static void play(CnEngine *e, uint8_t status, uint8_t key, uint8_t velocity)
{
    (void)e;
    uint8_t msg[3] = {status, key, velocity};
    play_bytes(msg, 3);
}

static void record(const CnMidiEvent *events, int n)
{
    for (int i = 0; i < n && n_out < 20000; i++)
        if (events[i].size == 3) {
            out[n_out].frame = cycle_frame + events[i].offset;
            memcpy(out[n_out].bytes, events[i].data, 3);
            n_out++;
        }
}

/* One host cycle: the input played since the last, the output due in it. */
static void cycle(CnEngine *e, uint32_t n_frames)
{
    static CnMidiEvent events[512];
    int n = cn_engine_rt_cycle(e, cycle_frame, n_frames, input, n_input, 0, events, 512);
    n_input = 0;
    record(events, n);
}

static void drive(CnEngine *e, int n, int every_cycle);

/* Cycles, a worker pass in each (as the engine's own thread, woken by the input, would
 * have made by then): the clock is the host's, driven, not slept through. */
static void run_cycles(CnEngine *e, int n)
{
    drive(e, n, 1);
}

static void play_phrase(CnEngine *e)
{
    static const uint8_t keys[] = {60, 62, 64, 65, 67, 65, 64, 62};
    for (int i = 0; i < 8; i++) { /* eighth notes, each held most of its length */
        play(e, 0x90, keys[i], 96);
        run_cycles(e, 40);
        play(e, 0x80, keys[i], 0);
        run_cycles(e, 7);
    }
}

static int is_on(const Recorded *r) { return (r->bytes[0] & 0xf0) == 0x90 && r->bytes[2] > 0; }

/* Every note-on released, counting per key. */
static int all_released(void)
{
    int sounding[128] = {0};
    for (int i = 0; i < n_out; i++) {
        if (is_on(&out[i]))
            sounding[out[i].bytes[1]]++;
        else if (sounding[out[i].bytes[1]] > 0)
            sounding[out[i].bytes[1]]--;
    }
    for (int k = 0; k < 128; k++)
        if (sounding[k])
            return 0;
    return 1;
}

static CnModel model, timed; /* the original scheme's model, and a timed one */
static const CnModel *playing = &model;

static CnEngine *start(CnPlayMode mode)
{
    CnEngineOptions o = cn_engine_defaults(RATE);
    o.mode = mode;
    o.length = 16;
    CnError err = {{0}};
    CnEngine *e = cn_engine_new(playing, &o, &err);
    CHECK(e != NULL);
    cycle_frame = 0;
    n_out = 0;
    n_input = 0;
    return e;
}

static void test_an_answer_follows_the_silence_on_the_grid(void)
{
    CnEngine *e = start(CN_PLAY_RESPOND);
    play_phrase(e);
    uint64_t last_activity = cycle_frame - 7 * PERIOD; /* the last note-off */
    run_cycles(e, 1000); /* 5.3 s: two beats of silence (1 s) and the 16-eighth answer (4 s) */
    uint64_t silence_end = last_activity + 2 * 2 * EIGHTH;
    uint64_t expected = (silence_end + EIGHTH - 1) / EIGHTH * EIGHTH;
    int n_on = 0, off_grid = 0;
    uint64_t first = 0;
    for (int i = 0; i < n_out; i++)
        if (is_on(&out[i])) {
            if (n_on++ == 0)
                first = out[i].frame;
            off_grid += out[i].frame % EIGHTH != 0;
        }
    printf("# answer: %d note-ons, first at frame %llu, expected %llu (silence ended %llu)\n",
           n_on, (unsigned long long)first, (unsigned long long)expected,
           (unsigned long long)silence_end);
    CHECK(n_on >= 16);
    CHECK(first >= silence_end);
    CHECK(first >= expected && first < expected + PERIOD);
    CHECK(off_grid == 0);
    CHECK(all_released());
    cn_engine_stop_worker(e);
    CnEngineStats s = cn_engine_stats(e);
    CHECK(s.answers == 1 && s.tokens_heard == 8 && s.late_events == 0);
    cn_engine_free(e);
}

static void test_the_player_interrupts_within_a_cycle(void)
{
    CnEngine *e = start(CN_PLAY_RESPOND);
    play_phrase(e);
    int before = n_out;
    for (int i = 0; i < 400 && n_out == before; i++) /* until the answer sounds */
        run_cycles(e, 1);
    run_cycles(e, 60); /* a few notes into it */
    uint64_t interrupted = cycle_frame;
    play(e, 0x90, 72, 100);
    run_cycles(e, 100);
    play(e, 0x80, 72, 0);
    int late_ons = 0;
    for (int i = 0; i < n_out; i++)
        late_ons += is_on(&out[i]) && out[i].frame >= interrupted + PERIOD;
    printf("# note-ons from the answer after the interruption: %d\n", late_ons);
    CHECK(late_ons == 0);
    int released = 1; /* everything sounding was released by the end of the next cycle */
    int sounding[128] = {0};
    for (int i = 0; i < n_out && out[i].frame < interrupted + 2 * PERIOD; i++) {
        if (is_on(&out[i]))
            sounding[out[i].bytes[1]]++;
        else if (sounding[out[i].bytes[1]] > 0)
            sounding[out[i].bytes[1]]--;
    }
    for (int k = 0; k < 128; k++)
        released &= sounding[k] == 0;
    CHECK(released);
    cn_engine_stop_worker(e);
    CHECK(cn_engine_stats(e).interruptions == 1);
    cn_engine_free(e);
}

static void test_continuous_mode_keeps_playing_and_panic_silences(void)
{
    CnEngine *e = start(CN_PLAY_CONTINUOUS);
    run_cycles(e, 800); /* 4.3 s: 17 eighths at 120 bpm */
    int n_on = 0, off_grid = 0;
    for (int i = 0; i < n_out; i++)
        if (is_on(&out[i])) {
            n_on++;
            off_grid += out[i].frame % EIGHTH != 0;
        }
    printf("# continuous: %d note-ons in 4.3 s\n", n_on);
    if (getenv("CONTINUO_DEBUG"))
        for (int i = 0; i < n_out; i++)
            printf("%llu %02x %d %d\n", (unsigned long long)out[i].frame, out[i].bytes[0],
                   out[i].bytes[1], out[i].bytes[2]);
    CHECK(n_on >= 15);
    CHECK(off_grid == 0);
    uint8_t all_off[3] = {0xb0, CN_CC_ALL_NOTES_OFF, 0};
    play_bytes(all_off, 3);
    run_cycles(e, 3);
    uint64_t silenced = cycle_frame;
    CHECK(all_released());
    run_cycles(e, 20); /* continuous mode goes on after a panic, but from a clean slate */
    (void)silenced;
    cn_engine_rt_panic(e);
    run_cycles(e, 2);
    CHECK(all_released());
    cn_engine_free(e);
}

/* CC 80 switches a listening engine into continuous mode and back, releasing what
 * sounds; CC 71 sets the temperature, 0..127 to 0..2. */
static void test_control_changes_switch_mode_and_temperature(void)
{
    CnEngine *e = start(CN_PLAY_RESPOND);
    run_cycles(e, 200); /* a second of listening to nobody: silence */
    CHECK(n_out == 0);
    play(e, 0xb0, CN_CC_TEMPERATURE, 127);
    run_cycles(e, 2);
    CHECK(cn_engine_temperature(e) == 2.0f);
    play(e, 0xb0, CN_CC_TEMPERATURE, 32);
    play(e, 0xb0, CN_CC_MODE, 100);
    run_cycles(e, 400); /* 2.1 s of continuous play */
    CHECK(cn_engine_temperature(e) == (float)(32 * 2000 / 127) / 1000.0f);
    CHECK(cn_engine_mode(e) == CN_PLAY_CONTINUOUS);
    int n_on = 0;
    for (int i = 0; i < n_out; i++)
        n_on += is_on(&out[i]);
    play(e, 0xb0, CN_CC_MODE, 0);
    run_cycles(e, 3);
    CHECK(all_released()); /* the switch released what was sounding */
    int after_switch = n_out;
    run_cycles(e, 200);
    printf("# CC 80: %d note-ons in 2.1 s of continuous play, %d events after switching "
           "back\n", n_on, n_out - after_switch);
    CHECK(n_on >= 5); /* eight eighths fit; a slow worker may start a little late */
    CHECK(n_out == after_switch); /* listening again: nothing more */
    cn_engine_free(e);
}

static void test_a_flood_of_junk_does_no_harm(void)
{
    CnEngine *e = start(CN_PLAY_RESPOND);
    uint8_t junk[3];
    uint64_t state = 12345;
    for (int i = 0; i < 20000; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        junk[0] = (uint8_t)(state >> 56), junk[1] = (uint8_t)(state >> 48),
        junk[2] = (uint8_t)(state >> 40);
        play_bytes(junk, 1 + (size_t)(i % 3));
        uint8_t clock = 0xf8;
        play_bytes(&clock, 1);
        if (i % 500 == 0)
            run_cycles(e, 1);
    }
    run_cycles(e, 50);
    cn_engine_rt_panic(e);
    run_cycles(e, 3);
    CHECK(all_released());
    cn_engine_stop_worker(e);
    CnEngineStats s = cn_engine_stats(e);
    printf("# flood: %llu input events dropped while the ring was full\n",
           (unsigned long long)s.dropped_in);
    cn_engine_free(e);
}

/* ----- Driven by the host, without the engine's thread (as in the LV2 plugin) ----- */

static int input_came, passes;
static uint64_t due;

/* One cycle: clock, a worker pass when the host must give one (every cycle, or only on
 * input and at the deadline the last pass returned), output. */
static void drive(CnEngine *e, int n, int every_cycle)
{
    for (int i = 0; i < n; i++) {
        cycle(e, 0); /* the clock and the input, as a host's cycle gives them first */
        if (every_cycle || input_came || cycle_frame + PERIOD > due) {
            due = cn_engine_work(e);
            CHECK(due > cycle_frame); /* a pass leaves nothing due now */
            passes++;
            input_came = 0;
        }
        cycle(e, PERIOD); /* then the output the pass prepared */
        cycle_frame += PERIOD;
    }
}

static void play_driven(CnEngine *e, int every_cycle)
{
    static const uint8_t keys[] = {60, 62, 64, 65, 67, 65, 64, 62};
    for (int i = 0; i < 8; i++) {
        play(e, 0x90, keys[i], 96);
        input_came = 1;
        drive(e, 40, every_cycle);
        play(e, 0x80, keys[i], 0);
        input_came = 1;
        drive(e, 7, every_cycle);
    }
}

static Recorded answered_every_cycle[20000];
static int n_answered_every_cycle;

/* The same phrase and seed, the worker run every cycle and then only when due: the same
 * answer, note for note, from a fraction of the passes; and the answer is sampled a beat
 * ahead of the music, not all at once when it starts. */
static void test_passes_only_when_due_and_an_answer_paced(void)
{
    CnEngineOptions o = cn_engine_defaults(RATE);
    o.length = 32;
    CnError err = {{0}};
    int passes_of[2] = {0, 0}, cycles = 8 * 47 + 1900;
    size_t most_ahead = 0;
    for (int every_cycle = 1; every_cycle >= 0; every_cycle--) {
        CnEngine *e = cn_engine_new(playing, &o, &err);
        CHECK(e != NULL);
        cycle_frame = 0;
        n_out = 0;
        n_input = 0;
        passes = 0;
        due = 0;
        input_came = 0;
        play_driven(e, every_cycle);
        for (int i = 0; i < 1900; i++) { /* 10 s: the wait (1 s), the answer (8 s), its end */
            size_t before = cn_engine_scheduled(e);
            drive(e, 1, every_cycle);
            size_t after = cn_engine_scheduled(e);
            if (before == 0 && after > most_ahead) /* the pass that started the answer */
                most_ahead = after;
        }
        passes_of[every_cycle] = passes;
        CnEngineStats s = cn_engine_stats(e);
        CHECK(s.answers == 1 && s.late_events == 0 && s.dropped_out == 0);
        cn_engine_free(e);
        if (every_cycle) {
            memcpy(answered_every_cycle, out, sizeof out);
            n_answered_every_cycle = n_out;
        }
    }
    int n_on = 0, off_grid = 0, same = n_out == n_answered_every_cycle;
    for (int i = 0; i < n_out; i++) {
        if (is_on(&out[i])) {
            n_on++;
            off_grid += out[i].frame % EIGHTH != 0;
        }
        same = same && out[i].frame == answered_every_cycle[i].frame &&
               !memcmp(out[i].bytes, answered_every_cycle[i].bytes, 3);
    }
    printf("# %d cycles: %d passes when due, %d every cycle; %d note-ons, %d off the grid; "
           "%zu events scheduled by the pass that started the answer\n",
           cycles, passes_of[0], passes_of[1], n_on, off_grid, most_ahead);
    CHECK(n_on >= 32 && off_grid == 0 && all_released());
    CHECK(same);
    CHECK(passes_of[1] == cycles);
    CHECK(passes_of[0] < cycles / 10);
    /* two tokens (the first and the next, a beat ahead), at most 13 keys each, whereas
       the whole answer is at least 32 note-ons and their note-offs */
    CHECK(most_ahead > 0 && most_ahead <= 2 * 13);
}

/* An engine of 8-token answers driven by the host from frame 0, with the options the
 * caller changed in *o (NULL: the defaults). */
static CnEngine *start_driven_with(const CnEngineOptions *given)
{
    CnEngineOptions o = given ? *given : cn_engine_defaults(RATE);
    if (!given)
        o.length = 8;
    CnError err = {{0}};
    CnEngine *e = cn_engine_new(playing, &o, &err);
    CHECK(e != NULL);
    if (!e)
        fprintf(stderr, "%s\n", err.message);
    cycle_frame = 0;
    n_out = n_input = 0;
    due = 0;
    return e;
}

static CnEngine *start_driven(double offset_ms)
{
    CnEngineOptions o = cn_engine_defaults(RATE);
    o.length = 8;
    o.offset_ms = offset_ms;
    return start_driven_with(&o);
}

static CnEngineOptions answer_of(int length)
{
    CnEngineOptions o = cn_engine_defaults(RATE);
    o.length = length;
    return o;
}

static uint64_t first_on_after(uint64_t frame)
{
    for (int i = 0; i < n_out; i++)
        if (is_on(&out[i]) && out[i].frame >= frame)
            return out[i].frame;
    return 0;
}

static int ons_between(uint64_t from, uint64_t to, uint8_t *keys, int max_keys)
{
    int n = 0;
    for (int i = 0; i < n_out; i++)
        if (is_on(&out[i]) && out[i].frame >= from && out[i].frame < to) {
            if (keys && n < max_keys)
                keys[n] = out[i].bytes[1];
            n++;
        }
    return n;
}

/* Keys are tracked one by one: a key struck twice and released once is up, a note-off of
 * a key never struck changes nothing, and the answer comes after the wait. */
static void test_held_keys_are_tracked_per_key(void)
{
    CnEngine *e = start_driven(0);
    if (!e)
        return;
    play(e, 0x80, 70, 0); /* never struck */
    static const uint8_t keys[] = {60, 62, 64, 64, 65}; /* 64 struck again while held */
    for (int i = 0; i < 5; i++) {
        play(e, 0x90, keys[i], 90);
        input_came = 1;
        drive(e, 20, 1);
        if (keys[i] != 64 || i == 3) {
            play(e, 0x80, keys[i], 0);
            input_came = 1;
        }
        drive(e, 5, 1);
    }
    drive(e, 1000, 1); /* 5.3 s: the wait and the answer */
    int n_on = 0;
    for (int i = 0; i < n_out; i++)
        n_on += is_on(&out[i]);
    printf("# a key struck twice and released once, an unheld key released: %d answer "
           "note-ons\n", n_on);
    CHECK(n_on >= 8);
    CHECK(all_released());
    cn_engine_free(e);
}

/* With the sustain pedal down, released keys still sound: no answer until it goes up, and
 * the wait counts from then. */
static void test_the_sustain_pedal_holds_the_answer(void)
{
    CnEngine *e = start_driven(0);
    if (!e)
        return;
    play(e, 0xb0, CN_CC_SUSTAIN, 127);
    play_driven(e, 1);
    drive(e, 400, 1); /* 2.1 s with the pedal down: no answer */
    int during = n_out;
    play(e, 0xb0, CN_CC_SUSTAIN, 0);
    uint64_t released = cycle_frame;
    drive(e, 800, 1);
    uint64_t first = 0;
    for (int i = 0; i < n_out && !first; i++)
        if (is_on(&out[i]))
            first = out[i].frame;
    printf("# pedal held 2.1 s: %d events meanwhile; the answer %.2f s after its release\n",
           during, (double)(first - released) / RATE);
    CHECK(during == 0);
    CHECK(first >= released + 2 * 2 * EIGHTH); /* the wait of two beats, from the release */
    CHECK(all_released());
    cn_engine_free(e);
}

/* --offset: the same answer, every event earlier by the offset (or later). */
static void test_the_offset_moves_the_output(void)
{
    static Recorded plain[20000];
    int n_plain = 0;
    for (int k = 0; k < 2; k++) {
        CnEngine *e = start_driven(k == 0 ? 0 : -10);
        if (!e)
            return;
        play_driven(e, 1);
        drive(e, 900, 1);
        if (k == 0) {
            memcpy(plain, out, sizeof plain);
            n_plain = n_out;
        }
        cn_engine_free(e);
    }
    int shifted = n_out == n_plain;
    for (int i = 0; shifted && i < n_out; i++)
        shifted = out[i].frame + 480 == plain[i].frame && !memcmp(out[i].bytes, plain[i].bytes, 3);
    printf("# --offset -10: %d events, each 480 frames earlier: %s\n", n_out,
           shifted ? "yes" : "no");
    CHECK(n_plain > 16 && shifted);
}

/* Controls on the numbers and the channel given: CC 20 on channel 4 is the temperature,
 * the same on channel 1 and the default CC 71 are not. */
static void test_controls_follow_their_numbers_and_channel(void)
{
    CnEngineOptions o = answer_of(8);
    o.controls[CN_CONTROL_TEMPERATURE] = 20;
    o.control_channel = 3;
    CnEngine *e = start_driven_with(&o);
    if (!e)
        return;
    play(e, 0xb0, 20, 127); /* channel 1: not ours */
    play(e, 0xb3, CN_CC_TEMPERATURE, 0);
    drive(e, 2, 1);
    CHECK(cn_engine_temperature(e) == cn_sampler_defaults().temperature);
    play(e, 0xb3, 20, 127);
    drive(e, 2, 1);
    CHECK(cn_engine_temperature(e) == 2.0f);
    cn_engine_free(e);
    o.controls[CN_CONTROL_MODE] = 20; /* two controls on one number: refused, said */
    CnError err = {{0}};
    CHECK(cn_engine_new(playing, &o, &err) == NULL);
    CHECK(strstr(err.message, "given to two controls") != NULL);
    o = answer_of(8);
    o.controls[CN_CONTROL_LOOP] = CN_CC_SUSTAIN;
    CHECK(cn_engine_new(playing, &o, &err) == NULL);
    CHECK(strstr(err.message, "cannot be a control") != NULL);
}

/* The wait and length controls (CC 89, CC 90): the silence an answer waits for, and the
 * next answer's length; an answer of one token after them. */
static void test_the_wait_and_length_controls(void)
{
    CnEngine *e = start_driven_with(NULL);
    if (!e)
        return;
    play(e, 0xb0, CN_CC_WAIT, 127);
    play(e, 0xb0, CN_CC_LENGTH, 0);
    drive(e, 2, 1);
    CHECK_NEAR(cn_engine_options(e)->wait_beats, 8.0, 1e-9);
    CHECK(cn_engine_options(e)->length == 1);
    play(e, 0xb0, CN_CC_WAIT, 16); /* about an eighth's silence */
    play(e, 0xb0, CN_CC_LENGTH, 127);
    drive(e, 2, 1);
    CHECK_NEAR(cn_engine_options(e)->wait_beats, 16 * 8.0 / 127, 1e-9);
    CHECK(cn_engine_options(e)->length == 64);
    play(e, 0xb0, CN_CC_LENGTH, 0);
    play(e, 0x90, 60, 90);
    drive(e, 10, 1);
    play(e, 0x80, 60, 0);
    drive(e, 400, 1);
    int onsets = 0;
    uint64_t last = UINT64_MAX;
    for (int i = 0; i < n_out; i++)
        if (is_on(&out[i]) && out[i].frame != last) {
            onsets++;
            last = out[i].frame;
        }
    printf("# wait and length by CC: an answer of %d onset(s)\n", onsets);
    CHECK(onsets == 1);
    cn_engine_free(e);
}

/* End call: the answer comes at once, though a key is still held. */
static void test_end_call_answers_at_once(void)
{
    CnEngine *e = start_driven_with(NULL);
    if (!e)
        return;
    for (int i = 0; i < 4; i++) {
        play(e, 0x90, (uint8_t)(60 + 2 * i), 90);
        input_came = 1;
        drive(e, 40, 1);
        if (i < 3)
            play(e, 0x80, (uint8_t)(60 + 2 * i), 0);
        drive(e, 7, 1);
    }
    drive(e, 400, 1); /* 66 still held: no answer */
    CHECK(ons_between(0, UINT64_MAX, NULL, 0) == 0);
    uint64_t asked = cycle_frame;
    play(e, 0xb0, CN_CC_END_CALL, 127);
    drive(e, 600, 1);
    uint64_t first = first_on_after(0);
    printf("# end call with a key held: the answer %.3f s after it\n",
           first ? (double)(first - asked) / RATE : -1.0);
    CHECK(first >= asked && first <= asked + 2 * EIGHTH);
    CHECK(ons_between(0, UINT64_MAX, NULL, 0) >= 8);
    cn_engine_free(e);
}

/* A worker held up past the moment its answer was due (a loaded machine, an xrun that
 * moved the clock on) starts the answer on the first grid point it can still make: later,
 * but on the beat, and no note of it goes out late. */
static void test_a_held_up_worker_starts_the_answer_on_a_later_beat(void)
{
    CnEngine *e = start_driven(0);
    if (!e)
        return;
    play_driven(e, 0);
    uint64_t last_off = cycle_frame - 7 * PERIOD;
    uint64_t due_at = (last_off + 4 * EIGHTH + EIGHTH - 1) / EIGHTH * EIGHTH;
    while (cycle_frame < due_at + EIGHTH + EIGHTH / 3) { /* no pass: the worker is held */
        cycle(e, 0);
        cycle(e, PERIOD);
        cycle_frame += PERIOD;
    }
    uint64_t resumed = cycle_frame;
    drive(e, 1200, 0);
    int n_on = 0, off_grid = 0;
    for (int i = 0; i < n_out; i++)
        if (is_on(&out[i])) {
            n_on++;
            off_grid += out[i].frame % EIGHTH != 0;
        }
    uint64_t first = first_on_after(0);
    CnEngineStats s = cn_engine_stats(e);
    printf("# held up until %.3f s after the answer was due: it began %.3f s after that, "
           "%d note-ons, %d off the grid, %llu events late\n",
           (double)(resumed - due_at) / RATE, (double)(first - resumed) / RATE, n_on, off_grid,
           (unsigned long long)s.late_events);
    CHECK(first > resumed && first % EIGHTH == 0 && first <= resumed + EIGHTH);
    CHECK(n_on >= 8 && off_grid == 0 && s.late_events == 0);
    cn_engine_free(e);
}

/* The shortest listen holds a short call's answer back; the longest answers a call that
 * goes on, and the player's notes do not cut that answer. */
static void test_listening_time_bounds(void)
{
    CnEngineOptions o = answer_of(8);
    o.min_listen_beats = 8;
    CnEngine *e = start_driven_with(&o);
    if (!e)
        return;
    uint64_t call = cycle_frame;
    play(e, 0x90, 60, 90);
    input_came = 1;
    drive(e, 40, 1);
    play(e, 0x80, 60, 0);
    drive(e, 1400, 1);
    uint64_t first = first_on_after(0);
    printf("# shortest listen of 8 beats: a one-note call answered %.2f s after it began\n",
           (double)(first - call) / RATE);
    CHECK(first >= call + 8 * 2 * EIGHTH);
    cn_engine_free(e);

    o = answer_of(8);
    o.max_listen_beats = 4;
    e = start_driven_with(&o);
    if (!e)
        return;
    call = cycle_frame;
    for (int i = 0; i < 24; i++) { /* twelve beats of eighths, never silent */
        play(e, 0x90, (uint8_t)(60 + i % 8), 90);
        input_came = 1;
        drive(e, 40, 1);
        play(e, 0x80, (uint8_t)(60 + i % 8), 0);
        drive(e, 7, 1);
    }
    first = first_on_after(0);
    int n_on = ons_between(0, UINT64_MAX, NULL, 0);
    printf("# longest listen of 4 beats: the answer %.2f s into a 6 s call, %d note-ons\n",
           (double)(first - call) / RATE, n_on);
    CHECK(first >= call + 4 * 2 * EIGHTH && first < call + 5 * 2 * EIGHTH);
    CHECK(n_on >= 8); /* not cut by the notes that went on */
    CHECK(cn_engine_stats(e).interruptions == 0);
    cn_engine_free(e);
}

/* --length call: the answer as long as the call. */
static void test_the_answer_as_long_as_the_call(void)
{
    CnEngineOptions o = answer_of(32);
    o.length_from_call = 1;
    CnEngine *e = start_driven_with(&o);
    if (!e)
        return;
    for (int i = 0; i < 5; i++) {
        play(e, 0x90, (uint8_t)(60 + 2 * i), 90);
        input_came = 1;
        drive(e, 40, 1);
        play(e, 0x80, (uint8_t)(60 + 2 * i), 0);
        drive(e, 7, 1);
    }
    drive(e, 1000, 1);
    CnEngineStats s = cn_engine_stats(e);
    printf("# a call of %llu tokens answered with %llu\n", (unsigned long long)s.tokens_heard,
           (unsigned long long)s.tokens_played);
    CHECK(s.tokens_heard == 5 && s.tokens_played == 5);
    cn_engine_free(e);
}

/* Mutate answers the last call again with another draw; loop repeats an answer until it is
 * let go; the state CC says idle, listening, answering. */
static void test_mutate_loop_and_the_state_cc(void)
{
    CnEngineOptions o = answer_of(8);
    o.state_cc = 30;
    CnEngine *e = start_driven_with(&o);
    if (!e)
        return;
    play_driven(e, 1);
    drive(e, 900, 1); /* the answer, and its end */
    uint8_t first[8] = {0}, again[8] = {0}, looped[16] = {0};
    CHECK(ons_between(0, UINT64_MAX, first, 8) >= 8);
    uint64_t mutated = cycle_frame;
    play(e, 0xb0, CN_CC_MUTATE, 127);
    drive(e, 900, 1);
    CHECK(ons_between(mutated, UINT64_MAX, again, 8) >= 8);
    CHECK(cn_engine_stats(e).answers == 2);
    CHECK(memcmp(first, again, 8) != 0);

    uint64_t looping = cycle_frame;
    play(e, 0xb0, CN_CC_LOOP, 127);
    play(e, 0xb0, CN_CC_MUTATE, 127);
    drive(e, 1500, 1); /* 8 s: the answer twice and more */
    uint64_t start = first_on_after(looping), pass = 8 * EIGHTH;
    uint8_t second[16] = {0};
    int n1 = ons_between(start, start + pass, looped, 16);
    int n2 = ons_between(start + pass, start + 2 * pass, second, 16);
    play(e, 0xb0, CN_CC_LOOP, 0);
    drive(e, 1000, 1);
    int same = n1 > 0 && n1 == n2 && memcmp(looped, second, (size_t)(n1 < 16 ? n1 : 16)) == 0;
    printf("# mutate: a new draw (%s); loop: %d and %d note-ons in two passes of 8 eighths, "
           "%s\n", memcmp(first, again, 8) ? "different" : "the same", n1, n2,
           same ? "the same notes" : "not the same");
    CHECK(same);
    CHECK(all_released());
    int states[16], n_states = 0;
    for (int i = 0; i < n_out && n_states < 16; i++)
        if (out[i].bytes[0] == 0xb0 && out[i].bytes[1] == 30)
            states[n_states++] = out[i].bytes[2];
    CHECK(n_states >= 3 && states[0] == 64 && states[1] == 127 && states[2] == 0);
    cn_engine_free(e);
}

/* ----- A timed model: rhythm, lengths and loudness of its own ----- */

/* A small timed model whose output ignores its input: every event improbable but those the
 * test gives a bias (event, log weight) pairs. */
static CnModel timed_model_playing(const CnToken *events, const float *biases, int n,
                                   uint64_t seed)
{
    CnError err = {{0}};
    CnModelConfig config = timed.config;
    config.n_layers = 1, config.n_hidden = 8, config.n_dense = 0, config.n_embed = 4;
    CnModel m;
    CHECK(cn_model_init(&m, &config, &timed.vocab, seed, &err) == 0);
    memset(m.params, 0, m.n_params * sizeof(float));
    for (int k = 0; k < config.n_vocab; k++)
        m.w.out_b[k] = -1e4f;
    for (int i = 0; i < n; i++)
        m.w.out_b[cn_vocab_index(&timed.vocab, events[i])] = biases[i];
    return m;
}


#define TWELFTH 2000 /* frames of a twelfth of a beat at 120 bpm */

/* A phrase with a dotted rhythm, a held note under it and loud and soft notes, driven. */
static uint64_t play_timed_phrase(CnEngine *e)
{
    static const struct { int at, length; uint8_t key, velocity; } notes[] = {
        {0, 9, 60, 100},  {9, 3, 64, 60},  {12, 24, 48, 40}, {12, 6, 67, 110}, {18, 6, 65, 70},
        {24, 9, 64, 100}, {33, 3, 62, 50}, {36, 12, 60, 90}};
    uint64_t start = cycle_frame + 4 * PERIOD, last_off = 0;
    for (int step = 0; step <= 48; step++) {
        uint64_t at = start + (uint64_t)step * TWELFTH;
        drive(e, (int)((at - cycle_frame) / PERIOD), 0); /* to the cycle holding the step */
        for (size_t i = 0; i < sizeof notes / sizeof notes[0]; i++) {
            if (notes[i].at == step)
                play(e, 0x90, notes[i].key, notes[i].velocity), input_came = 1;
            if (notes[i].at + notes[i].length == step) {
                play(e, 0x80, notes[i].key, 0), input_came = 1;
                last_off = cycle_frame;
            }
        }
    }
    return last_off;
}

/* Lengths, onsets on the twelfth grid and velocities of the notes of the output from
 * frame on; every note-on paired with the next note-off of its key. */
typedef struct {
    int n_on, off_grid, unreleased, n_lengths, n_gaps, n_velocities, not_levels;
    int not_eighths; /* gaps between onsets other than an eighth */
    uint64_t first, longest;
} TimedAnswer;

static int add_distinct(uint64_t *seen, int n, uint64_t v)
{
    for (int i = 0; i < n; i++)
        if (seen[i] == v)
            return n;
    if (n < 64)
        seen[n++] = v;
    return n;
}

static TimedAnswer timed_answer_from(uint64_t from)
{
    TimedAnswer a = {0};
    uint64_t on_at[128] = {0}, lengths[64], gaps[64], velocities[64], last_on = 0;
    for (int i = 0; i < n_out; i++) {
        const Recorded *r = &out[i];
        if (r->frame < from || (r->bytes[0] & 0xe0) != 0x80)
            continue;
        uint8_t key = r->bytes[1];
        if (is_on(r)) {
            if (a.n_on++ == 0)
                a.first = r->frame;
            else if (r->frame > last_on) {
                a.n_gaps = add_distinct(gaps, a.n_gaps, r->frame - last_on);
                a.not_eighths += r->frame - last_on != EIGHTH;
            }
            last_on = r->frame;
            a.off_grid += r->frame % TWELFTH != 0;
            a.n_velocities = add_distinct(velocities, a.n_velocities, r->bytes[2]);
            a.not_levels += cn_level_velocity(cn_velocity_level(r->bytes[2])) != r->bytes[2];
            a.unreleased += on_at[key] != 0;
            on_at[key] = r->frame + 1;
        } else if (on_at[key]) {
            uint64_t length = r->frame - (on_at[key] - 1);
            a.n_lengths = add_distinct(lengths, a.n_lengths, length);
            a.longest = length > a.longest ? length : a.longest;
            on_at[key] = 0;
        }
    }
    for (int k = 0; k < 128; k++)
        a.unreleased += on_at[k] != 0;
    return a;
}

/* An engine on the timed model, driven by the host, answers of length notes, seed seed. */
static CnEngine *start_timed(int length, uint64_t seed)
{
    playing = &timed;
    CnEngineOptions o = cn_engine_defaults(RATE);
    o.length = length;
    o.seed = seed;
    return start_driven_with(&o);
}

/* The answer of a timed model: after the silence, on the grid of twelfths of a beat, in
 * the model's rhythm (not a note every eighth), with lengths of more than one kind and the
 * velocities of the model's levels, none longer than the longest, every note released;
 * the player's phrase is heard as events, not as tokens an eighth. */
static void test_a_timed_answer_has_rhythm_lengths_and_loudness(void)
{
    CnEngine *e = start_timed(24, 3);
    uint64_t last_off = play_timed_phrase(e);
    drive(e, 3000, 0); /* 16 s: the wait, the answer, its end */
    TimedAnswer a = timed_answer_from(last_off);
    uint64_t silence_end = last_off + 2 * 2 * EIGHTH;
    printf("# timed answer: %d note-ons from frame %llu (silence ended %llu), %d off the "
           "twelfths, %d distinct gaps, %d lengths (longest %.2f beats), %d velocities, %d "
           "unreleased\n", a.n_on, (unsigned long long)a.first,
           (unsigned long long)silence_end, a.off_grid, a.n_gaps, a.n_lengths,
           (double)a.longest / (2 * EIGHTH), a.n_velocities, a.unreleased);
    CHECK(a.n_on >= 12 && a.n_on <= 24);
    uint64_t grid = (silence_end + EIGHTH - 1) / EIGHTH * EIGHTH; /* the answer's start */
    CHECK(a.first >= grid && a.first < grid + 2 * EIGHTH); /* its first note, the model's */
    CHECK(a.off_grid == 0 && a.not_levels == 0); /* the velocities are the model's levels */
    CHECK(a.n_lengths >= 2 && a.not_eighths > 0); /* not the original's metronome */
    CHECK(a.longest <= (uint64_t)CN_TIMED_LONGEST_NOTE * TWELFTH);
    CHECK(a.unreleased == 0 && all_released());
    CnEngineStats s = cn_engine_stats(e);
    CHECK(s.answers == 1 && s.late_events == 0 && s.dropped_out == 0);
    CHECK(s.tokens_heard >= 16 + 4); /* eight note-ons, eight note-offs, shifts, velocities */
    cn_engine_free(e);
    playing = &model;
}

/* A timed answer interrupted by the player: nothing of it after the cycle, everything
 * it held released; continuous mode plays on, and a panic silences it. */
static void test_a_timed_answer_is_interrupted_and_continuous_play_goes_on(void)
{
    playing = &timed;
    CnEngine *e = start_driven_with(NULL);
    uint64_t last_off = play_timed_phrase(e);
    drive(e, (int)((last_off + 4 * EIGHTH + 3 * EIGHTH - cycle_frame) / PERIOD), 0);
    uint64_t interrupted = cycle_frame;
    int before = timed_answer_from(0).n_on;
    play(e, 0x90, 72, 100), input_came = 1;
    drive(e, 200, 0);
    play(e, 0x80, 72, 0), input_came = 1;
    drive(e, 2, 0);
    int late_ons = 0;
    for (int i = 0; i < n_out; i++)
        late_ons += is_on(&out[i]) && out[i].bytes[1] != 72 && out[i].frame >= interrupted &&
                    out[i].frame < interrupted + 200 * PERIOD;
    printf("# timed: %d answer note-ons before the interruption, %d after it\n", before - 1,
           late_ons);
    CHECK(late_ons == 0 && all_released());
    cn_engine_free(e);

    /* continuous play, on the twelfth grid in the rhythm the model gives: a model of known
       rhythm (the shipped one may choose steady eighths from an empty context, which is the
       model's choice, measured by continuo eval, not the engine's) */
    static const CnToken events[] = {{.kind = CN_EVENT_ON, .pitch = 60},
                                     {.kind = CN_EVENT_OFF, .pitch = 60},
                                     {.kind = CN_EVENT_ON, .pitch = 67},
                                     {.kind = CN_EVENT_OFF, .pitch = 67},
                                     {.kind = CN_EVENT_SHIFT, .pitch = 3},
                                     {.kind = CN_EVENT_SHIFT, .pitch = 9}};
    static const float biases[] = {0, 0, 0, 0, 0, 0};
    CnModel rhythm = timed_model_playing(events, biases, 6, 11);
    playing = &rhythm;
    CnEngineOptions o = cn_engine_defaults(RATE);
    o.mode = CN_PLAY_CONTINUOUS;
    e = start_driven_with(&o);
    drive(e, 1600, 0); /* 8.5 s */
    TimedAnswer a = timed_answer_from(0);
    printf("# timed, continuous: %d note-ons in 8.5 s, %d off the twelfths, %d distinct gaps, "
           "%d not an eighth\n", a.n_on, a.off_grid, a.n_gaps, a.not_eighths);
    CHECK(a.n_on >= 8 && a.off_grid == 0 && a.not_eighths > 0 && a.not_levels == 0);
    cn_engine_rt_panic(e);
    drive(e, 3, 0);
    CHECK(all_released());
    cn_engine_free(e);
    cn_model_free(&rhythm);
    playing = &model;
}

/* Loop with a timed model: the answer's notes again, the same keys at the same distances,
 * pass after pass, each pass a whole number of beats long (the loop keeps its beat). */
static void test_a_timed_answer_loops(void)
{
    CnEngine *e = start_timed(6, 5);
    play(e, 0xb0, CN_CC_LOOP, 127), input_came = 1;
    uint64_t last_off = play_timed_phrase(e);
    drive(e, 2500, 0);
    uint8_t keys[64];
    uint64_t at[64];
    int n = 0;
    for (int i = 0; i < n_out && n < 64; i++)
        if (is_on(&out[i]) && out[i].frame > last_off) {
            keys[n] = out[i].bytes[1];
            at[n++] = out[i].frame;
        }
    int same = n >= 18;
    for (int i = 6; i < 18 && i < n; i++) /* (the gap into a pass is the last note's end) */
        same &= keys[i] == keys[i - 6] &&
                (i % 6 == 0 || at[i] - at[i - 1] == at[i - 6] - at[i - 7]);
    uint64_t beat = 2 * EIGHTH, period = n >= 18 ? at[6] - at[0] : 0;
    printf("# timed loop: %d note-ons, three passes of 6 %s, a pass %.3f beats\n", n,
           same ? "alike" : "differ", (double)period / (double)beat);
    CHECK(same);
    CHECK(period > 0 && period % beat == 0 && at[12] - at[6] == period);
    play(e, 0xb0, CN_CC_LOOP, 0), input_came = 1;
    drive(e, 1500, 0);
    CHECK(all_released());
    cn_engine_free(e);
    playing = &model;
}

/* A timed model that strikes C4 rarely and never releases it (and E4 often, released):
 * live, each C4 it leaves down ends at the longest length, on the grid, and the release
 * goes to the model as its next event, counted. */
static void test_a_note_the_model_holds_too_long_ends_and_the_model_hears_it(void)
{
    static const CnToken events[] = {{.kind = CN_EVENT_ON, .pitch = 60},
                                     {.kind = CN_EVENT_ON, .pitch = 64},
                                     {.kind = CN_EVENT_OFF, .pitch = 64},
                                     {.kind = CN_EVENT_SHIFT, .pitch = 12}};
    static const float biases[] = {-0.2f, 2.3f, 2.3f, 2.3f};
    CnModel holder = timed_model_playing(events, biases, 4, 7);
    playing = &holder;
    CnEngineOptions o = cn_engine_defaults(RATE);
    o.length = 40;
    o.seed = 2;
    o.sampler.top_p = 1.0f;
    CnEngine *e = start_driven_with(&o);
    uint64_t last_off = play_timed_phrase(e);
    drive(e, 9000, 0); /* 48 s */
    uint64_t on_at = 0, longest = (uint64_t)CN_TIMED_LONGEST_NOTE * TWELFTH;
    int n_c4 = 0, at_longest = 0, too_long = 0;
    for (int i = 0; i < n_out; i++) {
        const Recorded *r = &out[i];
        if (r->frame <= last_off || r->bytes[1] != 60 || (r->bytes[0] & 0xe0) != 0x80)
            continue;
        if (is_on(r)) {
            n_c4++;
            on_at = r->frame + 1;
        } else if (on_at) {
            at_longest += r->frame - (on_at - 1) == longest;
            too_long += r->frame - (on_at - 1) > longest;
            on_at = 0;
        }
    }
    cn_engine_stop_worker(e);
    CnEngineStats s = cn_engine_stats(e);
    printf("# %d C4s, %d ended at the longest length, %d longer; the engine counts %llu\n",
           n_c4, at_longest, too_long, (unsigned long long)s.released_at_longest);
    CHECK(at_longest >= 1 && too_long == 0);
    CHECK(s.released_at_longest >= (uint64_t)at_longest);
    CHECK(all_released());
    cn_engine_free(e);
    cn_model_free(&holder);
    playing = &model;
}

/* A timed model that strikes and releases C4 and E4 at random, time moving a sixteenth
 * on now and then: keys released, or struck twice, at the instant they went down. Live,
 * as in a rendered file, no note is zero long (a key let go at once sounds a twelfth) and
 * no key is struck twice at one instant. */
static void test_no_zero_length_notes_and_no_double_strikes(void)
{
    static const CnToken events[] = {{.kind = CN_EVENT_ON, .pitch = 60},
                                     {.kind = CN_EVENT_OFF, .pitch = 60},
                                     {.kind = CN_EVENT_ON, .pitch = 64},
                                     {.kind = CN_EVENT_OFF, .pitch = 64},
                                     {.kind = CN_EVENT_SHIFT, .pitch = 3}};
    static const float biases[] = {0, 0, 0, 0, 0};
    CnModel quick = timed_model_playing(events, biases, 5, 9);
    playing = &quick;
    CnEngineOptions o = cn_engine_defaults(RATE);
    o.mode = CN_PLAY_CONTINUOUS;
    o.sampler.top_p = 1.0f;
    o.sampler.temperature = 1.0f;
    CnEngine *e = start_driven_with(&o);
    drive(e, 1000, 0); /* 5.3 s */
    cn_engine_rt_panic(e);
    drive(e, 3, 0);
    uint64_t on_at[128] = {0};
    int n_on = 0, zero = 0, twice = 0, a_twelfth = 0;
    for (int i = 0; i < n_out; i++) {
        const Recorded *r = &out[i];
        uint8_t key = r->bytes[1];
        if ((r->bytes[0] & 0xe0) != 0x80)
            continue;
        if (is_on(r)) {
            n_on++;
            twice += on_at[key] == r->frame + 1;
            on_at[key] = r->frame + 1;
        } else if (on_at[key]) {
            zero += r->frame == on_at[key] - 1;
            a_twelfth += r->frame == on_at[key] - 1 + TWELFTH;
            on_at[key] = 0;
        }
    }
    printf("# %d note-ons: %d zero long, %d struck twice at one instant, %d a twelfth long\n",
           n_on, zero, twice, a_twelfth);
    CHECK(n_on > 20 && zero == 0 && twice == 0 && a_twelfth > 0);
    CHECK(all_released());
    cn_engine_free(e);
    cn_model_free(&quick);
    playing = &model;
}

/* The beat of two-bar calls cut from the shipped piano pieces (the first file of every ten),
 * each played at 80, 100, 120 or 140 bpm from a moment off any grid: the tempo is found for at least
 * three calls in four, and a grid of sixteenths from the beat found lies a median of at
 * most 12 ms from the call's own. Too few notes tell nothing. */
static void test_the_beat_of_calls_from_real_music(void)
{
    const char *folder = CONTINUO_SOURCE_DIR "/midi_songs/piano-midi";
    struct dirent **names;
    int n_names = scandir(folder, &names, NULL, alphasort);
    CHECK(n_names > 0);
    int n_calls = 0, right = 0, n_files = 0;
    double offs[256];
    int n_offs = 0;
    for (int f = 0; f < n_names; f++) {
        size_t len = strlen(names[f]->d_name);
        if (len < 5 || strcmp(names[f]->d_name + len - 4, ".mid") || n_files++ % 10)
            continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", folder, names[f]->d_name);
        CnMidi midi;
        CnError err = {{0}};
        if (cn_midi_read_file(path, &midi, &err))
            continue;
        static const double tempi[4] = {80, 100, 120, 140};
        double bpm = tempi[n_calls % 4], spb = 60 / bpm, start = 16, shift = 0.37;
        double times[512];
        float strength[512];
        size_t n = 0;
        for (size_t i = 0; i < midi.n_notes && n < 512; i++) {
            double beat = (double)midi.notes[i].onset / midi.ppqn - start;
            if (beat >= 0 && beat < 8) {
                times[n] = shift + beat * spb;
                strength[n++] = midi.notes[i].velocity / 127.0f;
            }
        }
        cn_midi_free(&midi);
        CnBeat found;
        if (n < 8)
            continue;
        n_calls++;
        if (cn_beat_find(times, strength, n, 120, &found))
            continue;
        right += fabs(found.bpm / bpm - 1) < 0.04;
        double step = 60 / found.bpm / 4;
        for (int k = 0; k < 4 && n_offs < 256; k++) { /* the grid found, after the call */
            double t = found.beat_time + ceil((shift + 8 * spb - found.beat_time) / step + k) * step;
            double r = fmod(t - shift, spb / 4);
            offs[n_offs++] = 1000 * fmin(r, spb / 4 - r);
        }
    }
    for (int f = 0; f < n_names; f++)
        free(names[f]);
    free(names);
    for (int i = 1; i < n_offs; i++) /* the median, by insertion */
        for (int j = i; j > 0 && offs[j] < offs[j - 1]; j--) {
            double x = offs[j];
            offs[j] = offs[j - 1], offs[j - 1] = x;
        }
    double median = n_offs ? offs[n_offs / 2] : 1e9;
    printf("# %d calls from real music at 80 to 140 bpm: the tempo found for %d, the grid "
           "found a median %.1f ms from the call's\n", n_calls, right, median);
    CHECK(n_calls >= 20);
    CHECK(right * 4 >= n_calls * 3);
    CHECK(median <= 12);
    double few[3] = {0, 0.5, 1.0};
    CnBeat none;
    CHECK(cn_beat_find(few, NULL, 3, 120, &none) == -1);
    double together[6] = {1, 1.001, 1.002, 1.003, 1.004, 1.005};
    CHECK(cn_beat_find(together, NULL, 6, 120, &none) == -1); /* one chord */
}

/* An answer of two bars (--length 2bars) ends on the bar line two bars or a little more on
 * from where it starts, every note released by then; one of six beats lasts six beats. */
static void test_an_answer_in_bars_ends_on_the_bar(void)
{
    for (int bars = 1; bars >= 0; bars--) {
        playing = &timed;
        CnEngineOptions o = cn_engine_defaults(RATE);
        o.length = bars ? 2 : 6;
        o.length_unit = bars ? CN_LENGTH_BARS : CN_LENGTH_BEATS;
        o.seed = 3;
        CnEngine *e = start_driven_with(&o);
        uint64_t last_off = play_timed_phrase(e);
        drive(e, 3000, 0);
        uint64_t beat = 2 * EIGHTH, bar = 4 * beat, first = 0, last = 0;
        int n_on = 0;
        for (int i = 0; i < n_out; i++)
            if (out[i].frame > last_off && (out[i].bytes[0] & 0xe0) == 0x80) {
                if (is_on(&out[i]) && n_on++ == 0)
                    first = out[i].frame;
                last = out[i].frame;
            }
        /* the answer starts on a beat; its end: the bar line at least 2 bars less half a
           beat on, or six beats on */
        uint64_t end = bars ? (first + 2 * bar - beat / 2 + bar - 1) / bar * bar : first + 6 * beat;
        printf("# an answer of %s: %d note-ons from frame %llu, the last event %.2f beats "
               "after its start (it ends %.2f beats after)\n", bars ? "2 bars" : "6 beats", n_on,
               (unsigned long long)first, (double)(last - first) / (double)beat,
               (double)(end - first) / (double)beat);
        CHECK(n_on >= 4);
        CHECK(last <= end && last + 2 * beat > end); /* it plays up to its end */
        CHECK(all_released());
        cn_engine_free(e);
    }
    playing = &model;
}

/* The most of the answer's keys sounding at once, from index from of the output. */
static int most_at_once(int from)
{
    int sounding[128] = {0}, now = 0, most = 0;
    for (int i = from; i < n_out; i++) {
        int key = out[i].bytes[1] & 127;
        if ((out[i].bytes[0] & 0xe0) != 0x80)
            continue;
        if (is_on(&out[i]))
            now += sounding[key]++ == 0;
        else if (sounding[key] > 0)
            now -= --sounding[key] == 0;
        most = now > most ? now : most;
    }
    return most;
}

/* A timed model that strikes eight keys over and over and lets none go: its answer to a
 * phrase of at most two keys at once holds six at most (the model told of each key let go
 * for room), and to a chord of eight, eight. */
static void test_an_answer_holds_no_more_keys_than_the_call_or_six(void)
{
    static const CnToken events[] = {{.kind = CN_EVENT_ON, .pitch = 60}, {.kind = CN_EVENT_ON, .pitch = 62},
                                     {.kind = CN_EVENT_ON, .pitch = 64}, {.kind = CN_EVENT_ON, .pitch = 65},
                                     {.kind = CN_EVENT_ON, .pitch = 67}, {.kind = CN_EVENT_ON, .pitch = 69},
                                     {.kind = CN_EVENT_ON, .pitch = 71}, {.kind = CN_EVENT_ON, .pitch = 72},
                                     {.kind = CN_EVENT_SHIFT, .pitch = 3}};
    static const float biases[] = {2, 2, 2, 2, 2, 2, 2, 2, 2.5f};
    CnModel striker = timed_model_playing(events, biases, 9, 5);
    playing = &striker;
    for (int chord = 0; chord < 2; chord++) {
        CnEngineOptions o = cn_engine_defaults(RATE);
        o.length = 40;
        o.seed = 4;
        CnEngine *e = start_driven_with(&o);
        if (chord) { /* eight keys at once, a beat long */
            drive(e, 4, 0);
            for (int k = 0; k < 8; k++)
                play(e, 0x90, (uint8_t)(48 + 2 * k), 90);
            input_came = 1;
            drive(e, 94, 0);
            for (int k = 0; k < 8; k++)
                play(e, 0x80, (uint8_t)(48 + 2 * k), 0);
            input_came = 1;
            drive(e, 1, 0);
        } else {
            play_timed_phrase(e);
        }
        int from = n_out;
        drive(e, 2500, 0);
        int most = most_at_once(from);
        CnEngineStats s = cn_engine_stats(e);
        printf("# the striker's answer to %s: at most %d keys at once, %llu let go for room\n",
               chord ? "a chord of eight" : "a phrase of two keys at once", most,
               (unsigned long long)s.keys_released_for_room);
        CHECK(most == (chord ? 8 : 6));
        CHECK(s.keys_released_for_room > 0);
        CHECK(all_released());
        cn_engine_free(e);
    }
    cn_model_free(&striker);
    playing = &model;
}

int main(void)
{
    CnError err = {{0}};
    if (cn_model_load(&model, CONTINUO_SOURCE_DIR "/weights/original.cnw", 0, NULL, &err) ||
        cn_model_load(&timed, CONTINUO_SOURCE_DIR "/weights/default.cnw", 0, NULL, &err)) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    RUN(test_an_answer_follows_the_silence_on_the_grid);
    RUN(test_the_player_interrupts_within_a_cycle);
    RUN(test_continuous_mode_keeps_playing_and_panic_silences);
    RUN(test_control_changes_switch_mode_and_temperature);
    RUN(test_a_flood_of_junk_does_no_harm);
    RUN(test_passes_only_when_due_and_an_answer_paced);
    RUN(test_held_keys_are_tracked_per_key);
    RUN(test_the_sustain_pedal_holds_the_answer);
    RUN(test_the_offset_moves_the_output);
    RUN(test_controls_follow_their_numbers_and_channel);
    RUN(test_the_wait_and_length_controls);
    RUN(test_end_call_answers_at_once);
    RUN(test_a_held_up_worker_starts_the_answer_on_a_later_beat);
    RUN(test_listening_time_bounds);
    RUN(test_the_answer_as_long_as_the_call);
    RUN(test_mutate_loop_and_the_state_cc);
    RUN(test_a_timed_answer_has_rhythm_lengths_and_loudness);
    RUN(test_a_timed_answer_is_interrupted_and_continuous_play_goes_on);
    RUN(test_a_timed_answer_loops);
    RUN(test_a_note_the_model_holds_too_long_ends_and_the_model_hears_it);
    RUN(test_no_zero_length_notes_and_no_double_strikes);
    RUN(test_the_beat_of_calls_from_real_music);
    RUN(test_an_answer_in_bars_ends_on_the_bar);
    RUN(test_an_answer_holds_no_more_keys_than_the_call_or_six);
    cn_model_free(&model);
    cn_model_free(&timed);
    return test_finish();
}
