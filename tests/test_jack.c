/* `continuo jack` against a real JACK server (jackd --no-realtime -d dummy, started and
 * stopped here under its own name) and a player client written for the test: the answer
 * starts after the silence on the beat grid, within one period; its notes fall on the
 * eighth-note grid; every note-on is released; the player interrupts it within a period;
 * a flood of junk does no harm; SIGTERM mid-answer leaves no note sounding; the process
 * callback neither allocates nor locks (counted by an LD_PRELOAD trap over the whole run);
 * killing the server makes the client exit with a clear message, or with --reconnect wait
 * for a new server and come back on it. */
#define _GNU_SOURCE /* memmem */
#include <jack/jack.h>
#include <jack/midiport.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "continuo/engine.h"
#include "continuo/key.h"
#include "continuo/tokens.h"
#include "test_util.h"

#define RATE 48000
#define PERIOD 256
#define EIGHTH 12000 /* frames per eighth note at 120 bpm */

typedef struct {
    uint64_t frame;
    uint8_t bytes[3];
    int64_t transport; /* transport frame when it rolls, else -1 */
} Event;

/* The player: sends what is queued when its frame comes, records what arrives. */
#define MAX_EVENTS 120000
static Event to_send[MAX_EVENTS];
static _Atomic int n_queued;
static int n_sent;
static Event received[MAX_EVENTS];
static _Atomic int n_received;
static jack_port_t *player_out, *player_in;
static jack_client_t *player, *recorder;

/* Two clients, so the graph runs player -> continuo -> recorder within one cycle (a
 * client both feeding continuo and listening to it would hear it a period late). */
static int recorder_process(jack_nframes_t n, void *arg)
{
    (void)arg;
    uint64_t start = jack_last_frame_time(recorder);
    jack_position_t pos;
    int rolling = jack_transport_query(recorder, &pos) == JackTransportRolling;
    void *in = jack_port_get_buffer(player_in, n);
    uint32_t count = jack_midi_get_event_count(in);
    for (uint32_t i = 0; i < count; i++) {
        jack_midi_event_t ev;
        int r = atomic_load(&n_received);
        if (jack_midi_event_get(&ev, in, i) == 0 && (ev.size == 3 || ev.size == 1) &&
            r < MAX_EVENTS) {
            received[r].frame = start + ev.time;
            received[r].transport = rolling ? (int64_t)pos.frame + ev.time : -1;
            memset(received[r].bytes, 0, 3);
            memcpy(received[r].bytes, ev.buffer, ev.size);
            atomic_store(&n_received, r + 1);
        }
    }
    return 0;
}

/* The player as timebase master: 100 bpm in 4/4 from transport frame 0. */
#define MASTER_BPM 100.0
static void timebase(jack_transport_state_t state, jack_nframes_t n, jack_position_t *pos,
                     int new_pos, void *arg)
{
    (void)state, (void)n, (void)new_pos, (void)arg;
    double frames_per_beat = RATE * 60.0 / MASTER_BPM;
    double beats = pos->frame / frames_per_beat;
    pos->valid = JackPositionBBT;
    pos->beats_per_minute = MASTER_BPM;
    pos->beats_per_bar = 4;
    pos->beat_type = 4;
    pos->ticks_per_beat = 1920;
    pos->bar = (int32_t)(beats / 4) + 1;
    pos->beat = (int32_t)beats % 4 + 1;
    pos->tick = (int32_t)((beats - (long)beats) * 1920);
    pos->bar_start_tick = (pos->bar - 1) * 4 * 1920.0;
}

static int player_process(jack_nframes_t n, void *arg)
{
    (void)arg;
    uint64_t start = jack_last_frame_time(player);
    void *out = jack_port_get_buffer(player_out, n);
    jack_midi_clear_buffer(out);
    int queued = atomic_load(&n_queued);
    while (n_sent < queued && to_send[n_sent].frame < start + n) {
        uint64_t f = to_send[n_sent].frame;
        uint32_t offset = f > start ? (uint32_t)(f - start) : 0;
        uint8_t status = to_send[n_sent].bytes[0];
        int size = status == 0xf8 || status == 0xfa || status == 0xfb || status == 0xfc ? 1
                 : (status & 0xe0) == 0xc0 ? 2 : 3; /* program change, channel pressure */
        jack_midi_event_write(out, offset, to_send[n_sent].bytes, (size_t)size);
        n_sent++;
    }
    return 0;
}

static void queue(uint64_t frame, uint8_t a, uint8_t b, uint8_t c)
{
    int q = atomic_load(&n_queued);
    to_send[q] = (Event){frame, {a, b, c}, -1};
    atomic_store(&n_queued, q + 1);
}

static uint64_t now_frame(void)
{
    return jack_frame_time(player);
}

/* A phrase of eight eighth notes starting a little from now, the note-off of the note
 * numbered lost (0..7) never sent (-1: all sent); returns its last note-off. */
static uint64_t play_phrase_losing(int lost)
{
    static const uint8_t keys[] = {60, 62, 64, 65, 67, 65, 64, 62};
    uint64_t t = now_frame() + 4800;
    for (int i = 0; i < 8; i++) {
        queue(t + (uint64_t)i * EIGHTH, 0x90, keys[i], 96);
        if (i != lost)
            queue(t + (uint64_t)i * EIGHTH + EIGHTH * 8 / 10, 0x80, keys[i], 0);
    }
    return t + 7 * EIGHTH + EIGHTH * 8 / 10;
}

static uint64_t play_phrase(void)
{
    return play_phrase_losing(-1);
}

static void sleep_ms(int ms)
{
    usleep((useconds_t)ms * 1000);
}

/* Sleeps at least ms, then on until continuo has sent nothing for a second (an answer a
 * loaded machine let start late, or whose last note the model holds long, is over), at
 * most ten seconds more. */
static void sleep_until_quiet(int ms)
{
    sleep_ms(ms);
    for (int waited = 0, last = atomic_load(&n_received), still = 0; waited < 10000 && still < 1000;
         waited += 100) {
        sleep_ms(100);
        int now = atomic_load(&n_received);
        still = now == last ? still + 100 : 0;
        last = now;
    }
}

/* continuo answers on channel 2 (-c 2); the player plays on channel 1, and what comes back
 * on channel 1 is the player's own events passed thru. */
#define ANSWER_CHANNEL 1
static int is_answer(const Event *e) { return (e->bytes[0] & 0x0f) == ANSWER_CHANNEL; }
static int is_on(const Event *e)
{
    return is_answer(e) && (e->bytes[0] & 0xf0) == 0x90 && e->bytes[2] > 0;
}

static int sounding_at_end(int from)
{
    int sounding[16][128] = {{0}}, n = 0;
    for (int i = from; i < atomic_load(&n_received); i++) {
        int ch = received[i].bytes[0] & 15, key = received[i].bytes[1] & 127;
        if (!is_answer(&received[i]))
            continue; /* the player's, passed thru */
        if (is_on(&received[i]))
            sounding[ch][key]++;
        else if (sounding[ch][key] > 0)
            sounding[ch][key]--;
    }
    for (int ch = 0; ch < 16; ch++)
        for (int k = 0; k < 128; k++)
            n += sounding[ch][k];
    return n;
}

static char server[64], *dir, log_path[4300], trap_report[4300];
static pid_t jackd_pid, cont_pid;

static pid_t spawn(const char *const *argv, const char *log, int preload_trap)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        if (log && (!freopen(log, "w", stdout) || dup2(fileno(stdout), 2) < 0))
            _exit(126);
        setenv("JACK_DEFAULT_SERVER", server, 1);
        setenv("JACK_NO_START_SERVER", "1", 1);
        if (preload_trap) {
            setenv("LD_PRELOAD", CONTINUO_RT_TRAP, 1);
            setenv("CONTINUO_RT_TRAP_REPORT", trap_report, 1);
        }
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static int wait_exit(pid_t pid, int seconds)
{
    for (int i = 0; i < seconds * 20; i++) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        sleep_ms(50);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

static int start_server(void)
{
    char jackd_log[4300];
    snprintf(jackd_log, sizeof jackd_log, "%s/jackd.log", dir);
    const char *args[] = {"jackd", "--no-realtime", "-n", server, "-d", "dummy", "-r", "48000",
                          "-p", "256", NULL};
    jackd_pid = spawn(args, jackd_log, 0);
    const char *wait_args[] = {"jack_wait", "-s", server, "-w", "-t", "10", NULL};
    return wait_exit(spawn(wait_args, NULL, 0), 15) == 0 ? 0 : -1;
}

/* continuo on the default weights, float32 or (bf16) bfloat16, connected to our clients */
/* A client of the original model on today's fixed grid (--fixed-grid: 120 bpm from frame
 * 0, whatever the phrases' own beat), for the tests whose subject is not the beat. */
/* Spawns a client and waits until its ports are connected to the player's and the
 * recorder's (at most 5 s). */
static pid_t spawn_connected(const char *const *args, int trap)
{
    pid_t pid = spawn(args, log_path, trap);
    for (int i = 0; i < 100 && !(jack_port_connected(player_in) > 0 &&
                                 jack_port_connected(player_out) > 0); i++)
        sleep_ms(50);
    return pid;
}

static pid_t start_continuo(int trap, int bf16)
{
    const char *args[] = {CONTINUO_CLI, "jack", "-w", CONTINUO_SOURCE_DIR "/weights/original.cnw",
                          "-n", "cont", "--wait", "2", "--length", "16", "--seed", "4",
                          "-c", "2", "-i", "player:out", "-o", "recorder:in", "--fixed-grid",
                          bf16 ? "--bf16" : NULL, NULL};
    return spawn_connected(args, trap);
}


static int shared_off_grid; /* the shared continuo's first answer's notes off the grid */

/* The continuo the first tests share, under the allocation trap where there is one (its
 * report needs over 20 s of callbacks); started by the first of them that runs. */
static pid_t shared_continuo(void)
{
    if (!cont_pid)
        cont_pid = start_continuo(CONTINUO_TRAP_AVAILABLE, 0);
    return cont_pid;
}

static int wait_for_log(const char *text, int seconds);

static int log_contains(const char *text)
{
    return test_file_contains(log_path, text);
}

/* The events the client's engine counted as late (due before the cycle that played them:
 * its worker fell behind), from the counters it prints when it stops; -1 if none. */
static long late_events_in_log(void)
{
    size_t n;
    uint8_t *bytes = test_read_file(log_path, &n);
    long late = -1;
    for (size_t i = 0; bytes && i + 5 <= n; i++)
        if (memcmp(bytes + i, " late", 5) == 0) { /* "..., 3 late" */
            size_t j = i;
            while (j > 0 && bytes[j - 1] >= '0' && bytes[j - 1] <= '9')
                j--;
            if (j < i)
                late = strtol((const char *)bytes + j, NULL, 10);
        }
    free(bytes);
    return late;
}

/* After continuo stopped: whether every note off the grid (off) and every uneven gap
 * between note-ons (gaps) is one its engine counted late. Where a note's frame has passed
 * before the worker queued it (a sanitizer build on two shared cores, an xrun that moved
 * the clock on) the note goes out at once, as late as it is: that is timing, which a test
 * on a shared machine must not assert. Where the engine places notes is not: every note
 * not counted late must be exactly there. A late note-on is off the grid once and makes
 * two gaps uneven. */
static int on_time_unless_late(int off, int gaps)
{
    long late = late_events_in_log();
    if (off > 0 || gaps > 0)
        printf("#   %d off the grid and %d uneven gaps; the engine played %ld events late\n",
               off, gaps, late);
    return late >= 0 && off <= late && gaps <= 2 * late;
}

static void test_answers_on_the_grid_and_interruptions(void)
{
    pid_t cont = shared_continuo();
    int from = atomic_load(&n_received);
    uint64_t last_off = play_phrase();
    sleep_ms(2100 + 1000 + 4500 + 500); /* the phrase, two beats of silence, the answer */
    uint64_t silence_end = last_off + 4 * EIGHTH;
    uint64_t expected = (silence_end + EIGHTH - 1) / EIGHTH * EIGHTH;
    int n_on = 0, off_grid = 0;
    uint64_t first = 0;
    for (int i = from; i < atomic_load(&n_received); i++)
        if (is_on(&received[i])) {
            if (n_on++ == 0)
                first = received[i].frame;
            off_grid += received[i].frame % EIGHTH != 0;
        }
    printf("# answer: %d note-ons, first at %llu, expected %llu\n", n_on,
           (unsigned long long)first, (unsigned long long)expected);
    CHECK(n_on >= 16);
    CHECK(first >= expected && first < expected + PERIOD);
    shared_off_grid = off_grid; /* checked against the late count when it stops */
    CHECK(sounding_at_end(from) == 0);

    from = atomic_load(&n_received); /* again, and interrupt it */
    last_off = play_phrase();
    uint64_t answer = ((last_off + 4 * EIGHTH) + EIGHTH - 1) / EIGHTH * EIGHTH;
    uint64_t interrupt_at = answer + 3 * EIGHTH + 1000;
    queue(interrupt_at, 0x90, 72, 100);
    queue(interrupt_at + 24000, 0x80, 72, 0);
    sleep_ms(2000 + 1000 + 1500 + 1500);
    int after = 0; /* while the player holds the key, nothing more may come */
    for (int i = from; i < atomic_load(&n_received); i++)
        after += is_on(&received[i]) && received[i].frame >= interrupt_at + PERIOD &&
                 received[i].frame < interrupt_at + 24000;
    int sounding[128] = {0}, left = 0;
    for (int i = from; i < atomic_load(&n_received) &&
                       received[i].frame < interrupt_at + 2 * PERIOD; i++) {
        if (!is_answer(&received[i]))
            continue;
        if (is_on(&received[i]))
            sounding[received[i].bytes[1]]++;
        else if (sounding[received[i].bytes[1]] > 0)
            sounding[received[i].bytes[1]]--;
    }
    for (int k = 0; k < 128; k++)
        left += sounding[k];
    printf("# interrupted at %llu: %d answer notes after it, %d left sounding a period later\n",
           (unsigned long long)interrupt_at, after, left);
    CHECK(after == 0);
    CHECK(left == 0);
    CHECK(kill(cont, 0) == 0);
}

static int answer_notes_since(int from)
{
    int n = 0;
    for (int i = from; i < atomic_load(&n_received); i++)
        n += is_on(&received[i]);
    return n;
}

/* A note-off the keyboard never sent does not leave the responder deaf: the player's
 * All Notes Off clears the held keys at once, and without it the key counts as released
 * after the longest hold (8 s). */
static void test_a_lost_note_off_does_not_silence_the_responder(void)
{
    int from = atomic_load(&n_received);
    uint64_t last_off = play_phrase_losing(4); /* 67 stays down */
    sleep_ms(2100);
    queue(last_off + 2400, 0xb0, 123, 0); /* the player's All Notes Off */
    sleep_ms(300);
    play_phrase();
    sleep_until_quiet(2100 + 1000 + 4500 + 500);
    int after_cc = answer_notes_since(from);
    printf("# a note-off lost, then All Notes Off and a phrase: %d answer note-ons\n",
           after_cc);
    CHECK(after_cc >= 16);
    CHECK(sounding_at_end(from) == 0);

    from = atomic_load(&n_received);
    uint64_t start = now_frame();
    play_phrase_losing(4); /* 67 stays down, and nothing clears it */
    sleep_ms(2100 + 3000);
    int while_held = answer_notes_since(from);
    /* past the longest hold: the wait and the answer */
    sleep_until_quiet(3500 + 1000 + 4500 + 500);
    int n_on = 0;
    uint64_t first = 0;
    for (int i = from; i < atomic_load(&n_received); i++)
        if (is_on(&received[i]) && n_on++ == 0)
            first = received[i].frame;
    printf("# a note-off lost, nothing else: %d answer note-ons while it counted as held, "
           "%d in all, the first %.1f s after the phrase began\n", while_held, n_on,
           (double)(first - start) / 48000);
    CHECK(while_held == 0);
    CHECK(n_on >= 16);
    CHECK(sounding_at_end(from) == 0);
}

static void test_a_flood_does_no_harm(void)
{
    pid_t cont = shared_continuo();
    uint64_t t = now_frame() + 2400;
    for (int i = 0; i < 6000; i++) { /* 6000 events in a second: notes, clock, CCs */
        uint64_t f = t + (uint64_t)i * 8;
        if (i % 3 == 0)
            queue(f, 0x90, (uint8_t)(36 + i % 48), 80);
        else if (i % 3 == 1)
            queue(f, 0x80, (uint8_t)(36 + (i - 1) % 48), 0);
        else
            queue(f, 0xf8, 0, 0);
    }
    sleep_ms(1500);
    CHECK(kill(cont, 0) == 0);
}

/* Queues events given in any order, in the order of their frames (the player sends them
 * one after the other). */
static int by_frame(const void *a, const void *b)
{
    const Event *x = a, *y = b;
    return x->frame < y->frame ? -1 : x->frame > y->frame;
}

static void queue_all(Event *events, int n)
{
    qsort(events, (size_t)n, sizeof *events, by_frame);
    for (int i = 0; i < n; i++)
        queue(events[i].frame, events[i].bytes[0], events[i].bytes[1], events[i].bytes[2]);
}

/* Every note-on on any channel (the answer's and the player's passed thru) followed by its
 * note-off, from event from on. */
static int anything_sounding_at_end(int from)
{
    int sounding[16][128] = {{0}}, n = 0;
    for (int i = from; i < atomic_load(&n_received); i++) {
        uint8_t kind = received[i].bytes[0] & 0xf0;
        int ch = received[i].bytes[0] & 15, key = received[i].bytes[1] & 127;
        if (kind == 0x90 && received[i].bytes[2] > 0)
            sounding[ch][key] = 1;
        else if (kind == 0x80 || kind == 0x90)
            sounding[ch][key] = 0;
    }
    for (int ch = 0; ch < 16; ch++)
        for (int k = 0; k < 128; k++)
            n += sounding[ch][k];
    return n;
}

/* The number before `what` in continuo's exit line, -1 when it is not there. */
static long counted_in_log(const char *what)
{
    size_t n = 0;
    uint8_t *bytes = test_read_file(log_path, &n);
    long value = -1;
    size_t len = strlen(what);
    for (size_t i = 0; bytes && i + len <= n; i++)
        if (memcmp(bytes + i, what, len) == 0) {
            size_t j = i;
            while (j > 0 && bytes[j - 1] == ' ')
                j--;
            while (j > 0 && bytes[j - 1] >= '0' && bytes[j - 1] <= '9')
                j--;
            value = strtol((const char *)bytes + j, NULL, 10);
        }
    free(bytes);
    return value;
}

/* 600 of the player's events a cycle (more than a cycle may write) while an answer plays,
 * and still flooding at SIGTERM: the answer's releases and the player's note-offs all get
 * through (none is dropped; what finds no room waits a cycle), and the exit line counts
 * the player's events that were not passed on. */
static void test_a_thru_flood_drops_no_note_off(void)
{
    pid_t cont = start_continuo(0, 0);
    sleep_ms(300);
    int from = atomic_load(&n_received);
    uint64_t last_off = play_phrase();
    uint64_t answer = ((last_off + 4 * EIGHTH) + EIGHTH - 1) / EIGHTH * EIGHTH;
    uint64_t t = answer + 3 * EIGHTH; /* three notes into the answer */
    static Event flood[MAX_EVENTS / 2];
    int n_flood = 0;
    for (int i = 0; n_flood + 2 <= MAX_EVENTS / 2; i++) {
        uint64_t f = t + (uint64_t)i * PERIOD / 300; /* 300 notes, 600 events a cycle */
        uint8_t key = (uint8_t)(24 + (i * 7) % 80);
        flood[n_flood++] = (Event){f, {0x90, key, 70}, -1};
        flood[n_flood++] = (Event){f + PERIOD * 4, {0x80, key, 0}, -1};
    }
    queue_all(flood, n_flood); /* 200 cycles of it */
    while (now_frame() < t + 60 * PERIOD) /* flooding for 60 cycles, then stopped mid-flood */
        sleep_ms(5);
    kill(cont, SIGTERM);
    CHECK(wait_exit(cont, 10) == 0);
    sleep_ms(200);
    long dropped = counted_in_log("of the player's events not passed on");
    int left = anything_sounding_at_end(from);
    printf("# thru flood: %d events queued, %ld of the player's not passed on, %d notes left "
           "sounding\n", n_flood, dropped, left);
    CHECK(left == 0);
    CHECK(dropped > 0);
    while (n_sent < atomic_load(&n_queued)) /* the rest of the flood, to no one */
        sleep_ms(20);
}

/* SIGTERM to continuo `eighths` into its answer to a phrase that ended at last_off (the
 * answer starts on the eighth grid two beats later); returns its exit code. */
static int stop_mid_answer(pid_t cont, uint64_t last_off, int eighths)
{
    uint64_t answer = ((last_off + 4 * EIGHTH) + EIGHTH - 1) / EIGHTH * EIGHTH;
    while (now_frame() < answer + (uint64_t)eighths * EIGHTH)
        sleep_ms(20);
    kill(cont, SIGTERM);
    int code = wait_exit(cont, 10);
    sleep_ms(100);
    return code;
}

static void test_sigterm_mid_answer_leaves_nothing_sounding(void)
{
    pid_t cont = shared_continuo();
    int from = atomic_load(&n_received);
    CHECK(stop_mid_answer(cont, play_phrase(), 4) == 0);
    CHECK(sounding_at_end(from) == 0);
    CHECK(log_contains("stopped:"));
    CHECK(on_time_unless_late(shared_off_grid, 0));
}

/* The trap's report of the last run under it: callbacks of at least `seconds` in all,
 * none allocating or locking. */
static void test_the_process_callback_neither_allocates_nor_locks_for(double seconds)
{
    size_t n;
    uint8_t *text = test_read_file(trap_report, &n);
    CHECK(text != NULL);
    if (!text)
        return;
    long callbacks = 0, violations = -1;
    text = realloc(text, n + 1);
    text[n] = '\0';
    sscanf((char *)text, "%ld %ld", &callbacks, &violations);
    printf("# %ld process callbacks (%.1f s), %ld allocations or locks in them\n", callbacks,
           callbacks * (double)PERIOD / RATE, violations);
    CHECK(callbacks * PERIOD / RATE >= seconds);
    CHECK(violations == 0);
    free(text);
}

static void test_the_process_callback_neither_allocates_nor_locks(void)
{
    test_the_process_callback_neither_allocates_nor_locks_for(20);
}

static void test_bad_weights_are_refused_before_any_port_exists(void)
{
    char bad[4400];
    snprintf(bad, sizeof bad, "%s/bad.cnw", dir);
    test_write_file(bad, "not weights at all", 18);
    const char *args[] = {CONTINUO_CLI, "jack", "-w", bad, "-n", "broken", NULL};
    pid_t pid = spawn(args, log_path, 0);
    CHECK(wait_exit(pid, 10) == 1);
    CHECK(log_contains("not a continuo weights file"));
    CHECK(jack_port_by_name(player, "broken:in") == NULL);
}

/* With a timebase master rolling at 100 bpm, the answer follows its tempo and beats. */
static void test_the_transport_tempo_and_beats_are_followed(void)
{
    CHECK(jack_set_timebase_callback(player, 0, timebase, NULL) == 0);
    jack_transport_locate(player, 0);
    jack_transport_start(player);
    pid_t cont = start_continuo(0, 1); /* and on the bfloat16 weights */
    sleep_ms(300);
    int from = atomic_load(&n_received);
    play_phrase();
    sleep_ms(2100 + 1300 + 3000);
    int n_on = 0, off_beat_grid = 0;
    const int64_t eighth = (int64_t)(RATE * 60.0 / MASTER_BPM / 2);
    for (int i = from; i < atomic_load(&n_received); i++)
        if (is_on(&received[i])) {
            n_on++;
            /* the master gives its position in ticks (1920 a beat), so the beat is known
               to within one tick: 15 frames here */
            int64_t from_grid = received[i].transport % eighth;
            from_grid = from_grid > eighth / 2 ? eighth - from_grid : from_grid;
            off_beat_grid += received[i].transport < 0 || from_grid > 15;
            if (getenv("CONTINUO_DEBUG"))
                printf("%llu %lld\n", (unsigned long long)received[i].frame,
                       (long long)received[i].transport);
        }
    CHECK(log_contains("bfloat16 weights"));
    jack_transport_stop(player); /* mid-answer: everything must stop */
    uint64_t stopped = now_frame();
    sleep_ms(300);
    int after_stop = 0;
    for (int i = from; i < atomic_load(&n_received); i++)
        after_stop += is_on(&received[i]) && received[i].frame > stopped + 2 * PERIOD;
    CHECK(after_stop == 0);
    CHECK(sounding_at_end(from) == 0);
    jack_release_timebase(player);
    kill(cont, SIGTERM);
    CHECK(wait_exit(cont, 10) == 0);
    CHECK(sounding_at_end(from) == 0);
    printf("# at the master's 100 bpm: %d note-ons, %d more than a tick off its eighth grid\n",
           n_on, off_beat_grid);
    CHECK(n_on - off_beat_grid >= 8);
    CHECK(on_time_unless_late(off_beat_grid, 0));
}

/* The answer's note-ons from index from: how many, and how many of the gaps between them
 * are not whole multiples of step (within tol frames). */
static int answer_gaps_off(int from, int64_t step, int64_t tol, int *n_on)
{
    int off = 0;
    uint64_t last = 0;
    *n_on = 0;
    for (int i = from; i < atomic_load(&n_received); i++) {
        if (!is_on(&received[i]))
            continue;
        if ((*n_on)++ > 0) {
            int64_t r = (int64_t)(received[i].frame - last) % step;
            off += r > tol && r < step - tol;
        }
        last = received[i].frame;
    }
    return off;
}

/* What the player plays comes out unchanged, at its own frames and in order, beside the
 * answer; and with the sustain pedal held, the silence starts only when it is let go. */
static void test_thru_and_the_sustain_pedal(void)
{
    pid_t cont = start_continuo(0, 0);
    sleep_ms(300);
    int from = atomic_load(&n_received);
    static Event played[64];
    int n = 0;
    uint64_t t = now_frame() + 4800;
    played[n++] = (Event){t, {0xb0, 64, 127}, 0};
    static const uint8_t keys[] = {60, 62, 64, 65, 67, 65, 64, 62};
    for (int i = 0; i < 8; i++) {
        played[n++] = (Event){t + 2400 + (uint64_t)i * EIGHTH, {0x90, keys[i], 96}, 0};
        played[n++] = (Event){t + 2400 + (uint64_t)i * EIGHTH + 9000, {0x80, keys[i], 0}, 0};
    }
    uint64_t pedal_up = t + 2400 + 8 * EIGHTH + 2 * 48000; /* two seconds after the last */
    played[n++] = (Event){pedal_up, {0xb0, 64, 0}, 0};
    queue_all(played, n);
    sleep_ms((int)((pedal_up - now_frame()) / 48) + 1000 + 4500 + 500);
    int matched = 0, n_thru = 0;
    for (int i = from; i < atomic_load(&n_received); i++) {
        if (is_answer(&received[i]))
            continue;
        if (n_thru < n && received[i].frame == played[n_thru].frame &&
            !memcmp(received[i].bytes, played[n_thru].bytes, 3))
            matched++;
        n_thru++;
    }
    uint64_t first = 0;
    for (int i = from; i < atomic_load(&n_received) && !first; i++)
        if (is_on(&received[i]))
            first = received[i].frame;
    printf("# thru: %d of %d events back at their frames and in order; with the pedal held "
           "2 s, the answer began %.2f s after it was let go\n", matched, n,
           first ? ((double)first - (double)pedal_up) / 48000 : -1.0);
    CHECK(n_thru == n && matched == n);
    CHECK(first >= pedal_up + 4 * EIGHTH); /* the wait, two beats, from the pedal's release */
    CHECK(sounding_at_end(from) == 0);
    kill(cont, SIGTERM);
    CHECK(wait_exit(cont, 10) == 0);
}

/* A 100 bpm MIDI clock with Start: the answer's eighths are 300 ms apart and on the clock's
 * beat; when the clock stops, the tempo is --bpm's again. The clock's ticks are events the
 * player sends: one delivered a cycle late (an xrun of a busy machine) moves a beat by up
 * to a period, hence the tolerance, where the transport's positions are exact. */
static void test_a_midi_clock_sets_the_tempo_and_the_beat(void)
{
    pid_t cont = start_continuo(0, 0);
    sleep_ms(300);
    int from = atomic_load(&n_received);
    static Event events[1200];
    int n = 0;
    uint64_t t0 = now_frame() + 4800, tick = 1200; /* 24 a beat at 100 bpm */
    events[n++] = (Event){t0 - 10, {0xfa, 0, 0}, 0};
    for (int k = 0; k < 440; k++) /* 11 s of clock */
        events[n++] = (Event){t0 + (uint64_t)k * tick, {0xf8, 0, 0}, 0};
    static const uint8_t keys[] = {60, 62, 64, 65, 67, 65, 64, 62};
    uint64_t phrase = t0 + 2 * 48000;
    for (int i = 0; i < 8; i++) {
        events[n++] = (Event){phrase + (uint64_t)i * 14400, {0x90, keys[i], 96}, 0};
        events[n++] = (Event){phrase + (uint64_t)i * 14400 + 10000, {0x80, keys[i], 0}, 0};
    }
    queue_all(events, n);
    sleep_ms(11000 + 500);
    int n_on = 0, off_beat = 0;
    for (int i = from; i < atomic_load(&n_received); i++)
        if (is_on(&received[i])) {
            n_on++;
            int64_t r = (int64_t)(received[i].frame - t0) % 14400;
            off_beat += r > PERIOD && r < 14400 - PERIOD;
        }
    int gaps_off = answer_gaps_off(from, 14400, PERIOD, &n_on);
    printf("# a 100 bpm clock: %d answer note-ons, %d off the clock's eighths, %d gaps not "
           "a multiple of 300 ms\n", n_on, off_beat, gaps_off);
    if (off_beat || gaps_off || getenv("CONTINUO_DEBUG"))
        for (int i = from; i < atomic_load(&n_received); i++)
            if (is_on(&received[i]))
                printf("#   note-on %d at clock frame %lld\n", received[i].bytes[1],
                       (long long)(received[i].frame - t0));
    CHECK(n_on >= 16);

    from = atomic_load(&n_received); /* the clock has stopped: --bpm again */
    play_phrase();
    sleep_ms(2100 + 1000 + 4500 + 500);
    int n_on_after, gaps_off_after = answer_gaps_off(from, EIGHTH, 2, &n_on_after);
    printf("# the clock stopped: %d answer note-ons, %d gaps not a multiple of 250 ms\n",
           n_on_after, gaps_off_after);
    CHECK(n_on_after >= 16);
    CHECK(sounding_at_end(from) == 0);
    kill(cont, SIGTERM);
    CHECK(wait_exit(cont, 10) == 0);
    CHECK(on_time_unless_late(off_beat, gaps_off + gaps_off_after));
}

/* --clock-out: Start, then a tick every 1000 frames (24 a beat at 120 bpm) on the beat
 * grid, moved as the notes are by --offset (offset_ms), and Stop when continuo stops. */
static void clock_out_ticks_at_the_tempo(const char *offset_ms)
{
    int from = atomic_load(&n_received);
    const char *args[] = {CONTINUO_CLI, "jack", "-w", CONTINUO_SOURCE_DIR "/weights/original.cnw",
                          "-n", "cont", "--clock-out", "--no-thru", "-o", "recorder:in",
                          "--offset", offset_ms, NULL};
    pid_t cont = spawn(args, log_path, 0);
    sleep_ms(3000);
    kill(cont, SIGTERM);
    CHECK(wait_exit(cont, 10) == 0);
    sleep_ms(100);
    int64_t moved = (int64_t)(atof(offset_ms) * RATE / 1000);
    uint64_t shift = (uint64_t)((moved % 1000 + 1000) % 1000);
    uint64_t beat_shift = (uint64_t)((moved % 24000 + 24000) % 24000);
    int starts = 0, stops = 0, ticks = 0, uneven = 0, off_beat = 0;
    uint64_t last = 0, first = 0;
    for (int i = from; i < atomic_load(&n_received); i++) {
        uint8_t b = received[i].bytes[0];
        starts += b == 0xfa;
        stops += b == 0xfc && starts > 0;
        if (b != 0xf8)
            continue;
        first = ticks == 0 ? received[i].frame : first;
        uneven += ticks > 0 && received[i].frame - last != 1000;
        off_beat += received[i].frame % 1000 != shift; /* the grid starts at frame 0 */
        last = received[i].frame;
        ticks++;
    }
    printf("# --clock-out, --offset %s ms: Start %d, %d ticks (%d not 1000 frames after the "
           "last, %d off the grid, the first %s a beat), Stop %d\n", offset_ms, starts, ticks,
           uneven, off_beat, first % 24000 == beat_shift ? "on" : "not on", stops);
    CHECK(starts == 1 && stops == 1);
    CHECK(ticks > 100 && uneven == 0 && off_beat == 0);
    CHECK(first % 24000 == beat_shift); /* Start's tick is beat one */
}

/* A device patched in to continuo:out after the clock started hears Song Position (the
 * sixteenths since Start) and Continue just before a tick on a sixteenth, whose place
 * agrees with the beat the ticks keep: it can find the beat without a Start. */
static void test_a_late_device_finds_the_clocks_beat(void)
{
    const char *args[] = {CONTINUO_CLI, "jack", "-w", CONTINUO_SOURCE_DIR "/weights/original.cnw",
                          "-n", "cont", "--clock-out", "--no-thru", NULL};
    pid_t cont = spawn(args, log_path, 0);
    sleep_ms(1500);
    int from = atomic_load(&n_received);
    CHECK(jack_connect(recorder, "cont:out", "recorder:in") == 0);
    sleep_ms(1500);
    kill(cont, SIGTERM);
    CHECK(wait_exit(cont, 10) == 0);
    int position = -1, continued = 0, starts = 0, ok_order = 0;
    uint64_t tick = 0;
    for (int i = from; i < atomic_load(&n_received); i++) {
        const Event *r = &received[i];
        starts += r->bytes[0] == 0xfa;
        if (r->bytes[0] == 0xf2 && position < 0) {
            position = r->bytes[1] | r->bytes[2] << 7;
            ok_order = i + 2 < atomic_load(&n_received) && received[i + 1].bytes[0] == 0xfb &&
                       received[i + 2].bytes[0] == 0xf8 && received[i + 1].frame == r->frame &&
                       received[i + 2].frame == r->frame;
            continued = received[i + 1].bytes[0] == 0xfb;
            tick = received[i + 2].frame;
        }
    }
    /* ticks 1000 frames apart from frame 0, Start on a beat: the tick at sixteenth p lies
       p sixteenths (6000 frames) after a beat */
    printf("# a device connected late: Song Position %d, Continue %d, the next tick at frame "
           "%llu, %d Start\n", position, continued, (unsigned long long)tick, starts);
    CHECK(position > 0 && ok_order && starts == 0);
    CHECK(tick % 6000 == 0 && (tick - (uint64_t)position * 6000) % 24000 == 0);
}

static void test_clock_out_ticks_at_the_tempo(void)
{
    clock_out_ticks_at_the_tempo("0");
    clock_out_ticks_at_the_tempo("50");  /* 2400 frames later */
    clock_out_ticks_at_the_tempo("-30"); /* 1440 frames earlier */
}

/* Controls on numbers of one's own: end-call on CC 20 answers a call whose last key is
 * still held, and the state CC on 30 says listening, then answering; a number given to
 * two controls is refused in one line. */
static void test_controls_on_numbers_of_ones_own(void)
{
    const char *args[] = {CONTINUO_CLI, "jack", "-w", CONTINUO_SOURCE_DIR "/weights/original.cnw",
                          "-n", "cont", "--length", "8", "-c", "2", "--cc", "end-call=20",
                          "--state-cc", "30", "--no-thru", "-i", "player:out", "-o",
                          "recorder:in", NULL};
    pid_t cont = spawn_connected(args, 0);
    int from = atomic_load(&n_received);
    uint64_t t = now_frame() + 4800;
    for (int i = 0; i < 4; i++) {
        queue(t + (uint64_t)i * EIGHTH, 0x90, (uint8_t)(60 + 2 * i), 96);
        if (i < 3)
            queue(t + (uint64_t)i * EIGHTH + 9000, 0x80, (uint8_t)(60 + 2 * i), 0);
    }
    uint64_t asked = t + 4 * EIGHTH + 48000; /* a second later, 66 still held */
    queue(asked, 0xb0, 20, 127);
    sleep_ms((int)((asked - now_frame()) / 48) + 3000);
    uint64_t first = 0;
    int states[8], n_states = 0;
    for (int i = from; i < atomic_load(&n_received); i++) {
        if (is_on(&received[i]) && !first)
            first = received[i].frame;
        /* the idle state (0) it may send when it starts, once its ports are connected */
        if (received[i].bytes[0] == (0xb0 | ANSWER_CHANNEL) && received[i].bytes[1] == 30 &&
            n_states < 8 && !(n_states == 0 && received[i].bytes[2] == 0))
            states[n_states++] = received[i].bytes[2];
    }
    printf("# end-call on CC 20 with a key held: the answer %.3f s after it; state CC %d "
           "then %d\n", first ? ((double)first - (double)asked) / 48000 : -1.0,
           n_states > 0 ? states[0] : -1, n_states > 1 ? states[1] : -1);
    CHECK(first >= asked && first < asked + 2 * EIGHTH);
    CHECK(n_states >= 2 && states[0] == 64 && states[1] == 127);
    queue(now_frame() + 2400, 0x80, 66, 0);
    kill(cont, SIGTERM);
    CHECK(wait_exit(cont, 10) == 0);
    CHECK(sounding_at_end(from) == 0);

    const char *twice[] = {CONTINUO_CLI, "jack", "--cc", "temperature=20,mode=20", NULL};
    CHECK(wait_exit(spawn(twice, log_path, 0), 10) == 2);
    CHECK(log_contains("control change 20 is given to two controls"));
    const char *pedal[] = {CONTINUO_CLI, "jack", "--cc", "loop=64", NULL};
    CHECK(wait_exit(spawn(pedal, log_path, 0), 10) == 2);
    CHECK(log_contains("cannot be a control"));
}

/* --learn: each control in turn from the controls the player moves (a knob sends several
 * messages; numbers already taken are passed over), the options line printed, and then
 * the learned end-call works; an interrupted session says what it learned. */
/* A phrase, then the learned end-call (CC 22 on channel 3): answered at once. */
static void end_call_is_answered(const char *what)
{
    int from = atomic_load(&n_received);
    uint64_t t = now_frame() + 4800;
    for (int i = 0; i < 4; i++) {
        queue(t + (uint64_t)i * EIGHTH, 0x90, (uint8_t)(60 + 2 * i), 96);
        if (i < 3)
            queue(t + (uint64_t)i * EIGHTH + 9000, 0x80, (uint8_t)(60 + 2 * i), 0);
    }
    uint64_t asked = t + 4 * EIGHTH + 24000;
    queue(asked, 0xb2, 22, 127); /* the learned end-call, on the learned channel */
    sleep_ms((int)((asked - now_frame()) / 48) + 2500);
    uint64_t first = 0;
    for (int i = from; i < atomic_load(&n_received) && !first; i++)
        if (is_on(&received[i]))
            first = received[i].frame;
    printf("# %s: end-call on CC 22 answered %.3f s after it\n", what,
           first ? ((double)first - (double)asked) / 48000 : -1.0);
    CHECK(first >= asked && first < asked + 2 * EIGHTH);
    queue(now_frame() + 2400, 0x80, 66, 0);
}

static void test_controls_are_learned(void)
{
    char setup[4300];
    snprintf(setup, sizeof setup, "%s/learned.conf", dir);
    const char *args[] = {CONTINUO_CLI, "jack", "-w", CONTINUO_SOURCE_DIR "/weights/original.cnw",
                          "-n", "cont", "--length", "8", "-c", "2", "--no-thru", "--learn",
                          "--config", setup, "--save",
                          "-i", "player:out", "-o", "recorder:in", NULL};
    pid_t cont = spawn(args, log_path, 0);
    CHECK(wait_for_log("move the control for temperature", 10));
    for (int i = 0; i < 100 && jack_port_connected(player_out) == 0; i++)
        sleep_ms(50);
    uint64_t t = now_frame() + 2400;
    for (int i = 0; i < CN_N_CONTROLS; i++) /* CC 20.. on channel 3, each turned a little */
        for (int k = 0; k < 3; k++)
            queue(t + (uint64_t)(i * 14400 + k * 480), 0xb2, (uint8_t)(20 + i),
                  (uint8_t)(60 + k));
    CHECK(wait_for_log("learned: --cc temperature=20,mode=21,end-call=22,mutate=23,loop=24,"
                       "wait=25,length=26 --control-channel 3", 10));
    CHECK(wait_for_log("saved in", 10));
    CHECK(wait_for_log("listening on", 10));
    end_call_is_answered("learned controls");
    kill(cont, SIGTERM);
    CHECK(wait_exit(cont, 10) == 0);

    /* the learned setup survives a restart: the setup file alone gives the controls */
    const char *again[] = {CONTINUO_CLI, "jack", "-w", CONTINUO_SOURCE_DIR "/weights/original.cnw",
                           "-n", "cont", "--length", "8", "-c", "2", "--no-thru",
                           "--config", setup, "-i", "player:out", "-o", "recorder:in", NULL};
    cont = spawn(again, log_path, 0);
    CHECK(wait_for_log("listening on", 10));
    for (int i = 0; i < 100 && jack_port_connected(player_out) == 0; i++)
        sleep_ms(50);
    end_call_is_answered("after a restart, from the setup file");
    kill(cont, SIGTERM);
    CHECK(wait_exit(cont, 10) == 0);

    const char *plain[] = {CONTINUO_CLI, "jack", "-w", CONTINUO_SOURCE_DIR "/weights/original.cnw",
                           "-n", "cont", "--length", "8", "-c", "2", "--no-thru", "--learn",
                           "--no-config", "-i", "player:out", "-o", "recorder:in", NULL};

    cont = spawn(plain, log_path, 0); /* interrupted after two */
    CHECK(wait_for_log("move the control for temperature", 10));
    for (int i = 0; i < 100 && jack_port_connected(player_out) == 0; i++)
        sleep_ms(50);
    t = now_frame() + 2400;
    queue(t, 0xb0, 30, 1);
    queue(t + 4800, 0xb0, 31, 1);
    CHECK(wait_for_log("move the control for end-call", 10));
    kill(cont, SIGTERM);
    CHECK(wait_exit(cont, 10) == 0);
    CHECK(log_contains("learning interrupted; learned so far: --cc temperature=30,mode=31,"
                       "end-call=85,mutate=86,loop=87,wait=89,length=90 --control-channel 1"));

    cont = spawn(plain, log_path, 0); /* two controls on two channels: said, not dropped */
    CHECK(wait_for_log("move the control for temperature", 10));
    for (int i = 0; i < 100 && jack_port_connected(player_out) == 0; i++)
        sleep_ms(50);
    t = now_frame() + 2400;
    queue(t, 0xba, 38, 1);        /* temperature: CC 38 on channel 11 */
    queue(t + 4800, 0xb0, 39, 1); /* mode: CC 39 on channel 1 */
    CHECK(wait_for_log("move the control for end-call", 10));
    kill(cont, SIGTERM);
    CHECK(wait_exit(cont, 10) == 0);
    CHECK(log_contains("temperature is CC 38 on channel 11"));
    CHECK(log_contains("came on different channels, so they are heard on any channel"));
    CHECK(log_contains("learned so far: --cc temperature=38,mode=39,"));
}

/* Two models loaded at start: a program change between answers picks the second, whose
 * answer to the same phrase differs, and the callback that swaps them allocates and locks
 * nothing (the trap, in the normal build). */
static void test_a_program_change_switches_models(void)
{
    char small[4400];
    snprintf(small, sizeof small, "%s/small.cnw", dir);
    const char *train[] = {CONTINUO_CLI, "train", "--data", CONTINUO_SOURCE_DIR "/midi_songs",
                           "--out", small, "--epochs", "1", "--hidden", "16", "--layers", "1",
                           "--dense", "0", "--embed", "8", "--seq", "20", "--batch", "8",
                           "--threads", "1", "-q", NULL};
    CHECK(wait_exit(spawn(train, NULL, 0), 120) == 0);
    const char *args[] = {CONTINUO_CLI, "jack", "-w", CONTINUO_SOURCE_DIR "/weights/original.cnw",
                          "-w", small, "-n", "cont", "--length", "16", "--seed", "4", "-c", "2",
                          "--no-thru", "-i", "player:out", "-o", "recorder:in", NULL};
    unlink(trap_report);
    pid_t cont = spawn_connected(args, CONTINUO_TRAP_AVAILABLE);
    uint8_t keys[2][64];
    int n_keys[2] = {0, 0};
    queue(now_frame() + 2400, 0xc0, 7, 0); /* a model that was not given: ignored */
    sleep_ms(100);
    for (int round = 0; round < 2; round++) {
        if (round == 1)
            queue(now_frame() + 2400, 0xc0, 1, 0); /* program 2: the second model */
        int from = atomic_load(&n_received);
        play_phrase();
        /* the phrase, the wait, and the answer: the small timed model's 16 notes take
           longer than the original one's 16 eighths */
        sleep_ms(2100 + 1000 + (round == 0 ? 4500 : 9000) + 500);
        for (int i = from; i < atomic_load(&n_received); i++)
            if (is_on(&received[i]) && n_keys[round] < 64)
                keys[round][n_keys[round]++] = received[i].bytes[1];
        CHECK(sounding_at_end(from) == 0);
    }
    int same = n_keys[0] == n_keys[1] && memcmp(keys[0], keys[1], (size_t)n_keys[0]) == 0;
    printf("# two models: %d note-ons from the first, %d from the second after program "
           "change 2, %s\n", n_keys[0], n_keys[1], same ? "the same" : "different");
    CHECK(n_keys[0] >= 16 && n_keys[1] >= 16 && !same);
    CHECK(log_contains("programs: 1 original.cnw, 2 small.cnw")); /* which picks which */
    kill(cont, SIGTERM);
    CHECK(wait_exit(cont, 10) == 0);
    if (CONTINUO_TRAP_AVAILABLE) {
        size_t n;
        char *text = (char *)test_read_file(trap_report, &n);
        long callbacks = 0, violations = -1;
        if (text) {
            text = realloc(text, n + 1);
            text[n] = '\0';
            sscanf(text, "%ld %ld", &callbacks, &violations);
        }
        printf("# %ld callbacks of the two-model client, %ld allocations or locks\n",
               callbacks, violations);
        CHECK(callbacks > 0 && violations == 0);
        free(text);
    }
}

/* A clock ticks for `seconds` from t0 at `per_tick` frames with Start before it, and a
 * phrase of eighths `eighth` frames long starts a second in; queued in frame order. */
static void play_over_a_clock(uint64_t t0, uint64_t per_tick, double seconds, uint64_t eighth,
                              int song_position_first)
{
    static Event events[2400];
    int n = 0;
    if (song_position_first)
        events[n++] = (Event){t0 - 20, {0xf2, 0x7f, 0x7f}, 0}; /* far beyond any song */
    events[n++] = (Event){t0 - 10, {0xfa, 0, 0}, 0};
    for (uint64_t k = 0; k * per_tick < (uint64_t)(seconds * RATE) && n < 2380; k++)
        events[n++] = (Event){t0 + k * per_tick, {0xf8, 0, 0}, 0};
    static const uint8_t keys[] = {60, 62, 64, 65, 67, 65, 64, 62};
    for (int i = 0; i < 8; i++) {
        events[n++] = (Event){t0 + RATE + (uint64_t)i * eighth, {0x90, keys[i], 96}, 0};
        events[n++] = (Event){t0 + RATE + (uint64_t)i * eighth + eighth * 8 / 10, {0x80, keys[i], 0}, 0};
    }
    queue_all(events, n);
}

/* Odd clocks: one at 400 bpm is followed (eighths of 75 ms); a Song Position far beyond
 * the song and then a clock at 500 bpm, outside what is followed, leave --bpm's tempo. No
 * note is left sounding either way. */
static void test_odd_clocks(void)
{
    pid_t cont = start_continuo(0, 0);
    sleep_ms(300);
    int from = atomic_load(&n_received), n_on;
    play_over_a_clock(now_frame() + 4800, 300, 6, 3600, 0);
    sleep_ms(6500);
    int gaps_off = answer_gaps_off(from, 3600, PERIOD, &n_on);
    printf("# a 400 bpm clock: %d answer note-ons, %d gaps not a multiple of 75 ms\n", n_on,
           gaps_off);
    CHECK(n_on >= 16);
    CHECK(sounding_at_end(from) == 0);

    from = atomic_load(&n_received);
    play_over_a_clock(now_frame() + 4800, 240, 8, 3600, 1);
    sleep_ms(8500);
    int gaps_off_after = answer_gaps_off(from, EIGHTH, 2, &n_on);
    printf("# Song Position beyond the song, then a 500 bpm clock: %d answer note-ons, %d "
           "gaps not a multiple of 250 ms (--bpm's)\n", n_on, gaps_off_after);
    CHECK(n_on >= 16);
    CHECK(sounding_at_end(from) == 0);
    kill(cont, SIGTERM);
    CHECK(wait_exit(cont, 10) == 0);
    CHECK(on_time_unless_late(0, gaps_off + gaps_off_after));
}

/* The timebase master leaves while the transport rolls: the tempo is --bpm's again. */
static void test_the_tempo_returns_to_bpm_when_the_master_leaves(void)
{
    CHECK(jack_set_timebase_callback(player, 0, timebase, NULL) == 0);
    jack_transport_locate(player, 0);
    jack_transport_start(player);
    pid_t cont = start_continuo(0, 0);
    sleep_ms(500);
    jack_release_timebase(player);
    sleep_ms(300);
    int from = atomic_load(&n_received), n_on;
    play_phrase();
    sleep_ms(2100 + 1000 + 4500 + 500);
    int gaps_off = answer_gaps_off(from, EIGHTH, 2, &n_on);
    printf("# the master left: %d answer note-ons, %d gaps not a multiple of 250 ms\n", n_on,
           gaps_off);
    CHECK(n_on >= 16);
    jack_transport_stop(player);
    sleep_ms(300);
    CHECK(sounding_at_end(from) == 0);
    kill(cont, SIGTERM);
    CHECK(wait_exit(cont, 10) == 0);
    CHECK(on_time_unless_late(0, gaps_off));
}

static void test_a_vanishing_server_ends_the_client_cleanly(void)
{
    pid_t cont = start_continuo(0, 0);
    sleep_ms(500);
    jack_client_close(player);
    jack_client_close(recorder);
    player = recorder = NULL;
    /* SIGTERM, not SIGKILL: a killed jackd leaves its entry in JACK's shared-memory
       registry behind, and after a few of those no new server can start on the machine */
    kill(jackd_pid, SIGTERM);
    waitpid(jackd_pid, NULL, 0);
    jackd_pid = 0;
    int code = wait_exit(cont, 10);
    CHECK(code == 1);
    CHECK(log_contains("JACK server stopped"));
}

static int wait_for_log(const char *text, int seconds)
{
    for (int i = 0; i < seconds * 10; i++) {
        size_t n;
        char *log = (char *)test_read_file(log_path, &n);
        int found = log && memmem(log, n, text, strlen(text)) != NULL;
        free(log);
        if (found)
            return 1;
        sleep_ms(100);
    }
    return log_contains(text); /* prints the log to explain */
}

static void stop_server(void)
{
    kill(jackd_pid, SIGTERM);
    waitpid(jackd_pid, NULL, 0);
    jackd_pid = 0;
}

/* Whether a client of the running server sees the port within seconds. */
static int port_appears(const char *port, int seconds)
{
    jack_client_t *watcher = jack_client_open("watcher", JackNoStartServer, NULL);
    int found = 0;
    for (int i = 0; watcher && i < seconds * 10 && !found; i++) {
        found = jack_port_by_name(watcher, port) != NULL;
        if (!found)
            sleep_ms(100);
    }
    if (watcher)
        jack_client_close(watcher);
    return found;
}

/* --list-ports names the server's MIDI ports as -i and -o take them: the player's output
 * among those that play into continuo, the recorder's input among those it plays into. */
static void test_list_ports_names_what_i_and_o_take(void)
{
    char command[4400], line[512];
    snprintf(command, sizeof command, "%s jack --list-ports 2>&1", CONTINUO_CLI);
    FILE *p = popen(command, "r");
    CHECK(p != NULL);
    int section = 0, player_in_i = 0, recorder_in_o = 0, misplaced = 0;
    while (p && fgets(line, sizeof line, p)) {
        if (strstr(line, "(-i PORT)"))
            section = 1;
        else if (strstr(line, "(-o PORT)"))
            section = 2;
        player_in_i += section == 1 && strcmp(line, "  player:out\n") == 0;
        recorder_in_o += section == 2 && strcmp(line, "  recorder:in\n") == 0;
        misplaced += (section == 2 && strcmp(line, "  player:out\n") == 0) ||
                     (section == 1 && strcmp(line, "  recorder:in\n") == 0);
    }
    int status = p ? pclose(p) : -1;
    printf("# --list-ports: player:out %s, recorder:in %s\n", player_in_i ? "for -i" : "missing",
           recorder_in_o ? "for -o" : "missing");
    CHECK(status == 0 && player_in_i == 1 && recorder_in_o == 1 && misplaced == 0);
}

/* With --reconnect the client outlives its server, and is back when a server is. */
static void test_reconnect_waits_for_the_server_to_return(void)
{
    CHECK(start_server() == 0);
    const char *args[] = {CONTINUO_CLI, "jack", "-w", CONTINUO_SOURCE_DIR "/weights/original.cnw",
                          "-n", "phoenix", "--reconnect", NULL};
    pid_t cont = spawn(args, log_path, 0);
    CHECK(port_appears("phoenix:in", 10));
    stop_server();
    CHECK(wait_for_log("waiting for it to come back", 10));
    CHECK(kill(cont, 0) == 0);
    CHECK(start_server() == 0);
    CHECK(wait_for_log("the JACK server is back", 10));
    CHECK(port_appears("phoenix:out", 10));
    kill(cont, SIGTERM);
    CHECK(wait_exit(cont, 10) == 0);
    stop_server();
}

/* ----- A timed model (the default weights) ----- */

#define TWELFTH 2000 /* frames of a twelfth of a beat at 120 bpm */

/* A phrase in rhythm: a dotted eighth and a sixteenth, a held low note under quick ones,
 * loud and soft; returns its last note-off. */
static uint64_t timed_phrase_start; /* the frame the last timed phrase began at */

/* A phrase of the timed model's kind (note lengths and loudness its own) at 120 bpm. */
static uint64_t play_timed_phrase(void)
{
    static const struct { int at, length; uint8_t key, velocity; } notes[] = {
        {0, 9, 60, 100},  {9, 3, 64, 60},  {12, 24, 48, 40}, {12, 6, 67, 110}, {18, 6, 65, 70},
        {24, 9, 64, 100}, {33, 3, 62, 50}, {36, 12, 60, 90}};
    static Event events[32];
    int n = 0;
    /* off the 120 bpm grid from frame 0 by over two twelfths: its answer is on its own */
    uint64_t t = (now_frame() + 4800) / EIGHTH * EIGHTH + EIGHTH + 5000, last = 0;
    timed_phrase_start = t;
    for (size_t i = 0; i < sizeof notes / sizeof notes[0]; i++) {
        uint64_t on = t + (uint64_t)notes[i].at * TWELFTH;
        uint64_t off = on + (uint64_t)notes[i].length * TWELFTH;
        events[n++] = (Event){on, {0x90, notes[i].key, notes[i].velocity}, 0};
        events[n++] = (Event){off, {0x80, notes[i].key, 0}, 0};
        last = off > last ? off : last;
    }
    queue_all(events, n);
    return last;
}

/* The answer's note-ons from index from: how many, how many off the grid of twelfths,
 * how many distinct lengths, and whether every velocity is one of the model's levels. */
static void timed_answer(int from, int *n_on, int *off_grid, int *n_lengths, int *not_levels,
                         uint64_t *first_length)
{
    uint64_t on_at[128] = {0}, lengths[64];
    *n_on = *off_grid = *n_lengths = *not_levels = 0;
    *first_length = 0;
    for (int i = from; i < atomic_load(&n_received); i++) {
        const Event *r = &received[i];
        if (!is_answer(r) || (r->bytes[0] & 0xe0) != 0x80)
            continue;
        uint8_t key = r->bytes[1] & 127;
        if (is_on(r)) {
            (*n_on)++;
            uint64_t into = (r->frame - timed_phrase_start) % TWELFTH; /* its own grid */
            *off_grid += into > 48 && into < TWELFTH - 48;
            *not_levels += cn_level_velocity(cn_velocity_level(r->bytes[2])) != r->bytes[2];
            on_at[key] = r->frame + 1;
        } else if (on_at[key]) {
            uint64_t length = r->frame - (on_at[key] - 1);
            int known = 0;
            for (int k = 0; k < *n_lengths; k++)
                known |= lengths[k] == length;
            if (!known && *n_lengths < 64)
                lengths[(*n_lengths)++] = length;
            *first_length = *first_length ? *first_length : length;
            on_at[key] = 0;
        }
    }
}

/* continuo jack with the default, timed model answers a phrase in rhythm, on the phrase's
 * own grid of twelfths of a beat (its beat found), with lengths and velocities of the
 * model's; a phrase played into its answer interrupts it; SIGTERM mid-answer releases
 * everything; all under the trap. */
static void test_a_timed_model_answers_in_rhythm(void)
{
    const char *args[] = {CONTINUO_CLI, "jack", "-w", CONTINUO_SOURCE_DIR "/weights/default.cnw",
                          "-n", "timed", "--wait", "2", "--length", "16", "--seed", "4",
                          "-c", "2", "-i", "player:out", "-o", "recorder:in", NULL};
    pid_t cont = spawn_connected(args, CONTINUO_TRAP_AVAILABLE);
    int from = atomic_load(&n_received);
    uint64_t last_off = play_timed_phrase();
    sleep_ms((int)((last_off - now_frame()) / 48) + 1000 + 8000 + 500);
    int n_on, off_grid, n_lengths, not_levels;
    uint64_t first_length;
    timed_answer(from, &n_on, &off_grid, &n_lengths, &not_levels, &first_length);
    uint64_t first = 0;
    for (int i = from; i < atomic_load(&n_received) && !first; i++)
        if (is_on(&received[i]))
            first = received[i].frame;
    printf("# timed: %d answer note-ons from %.2f s after the phrase, %d off the twelfths, "
           "%d distinct lengths, %d velocities not the model's levels\n", n_on,
           ((double)first - (double)last_off) / 48000, off_grid, n_lengths, not_levels);
    /* lengths of the model's own: not the original scheme's quarter for every note (a
       piano model may well answer with a legato run of one length) */
    CHECK(n_on - off_grid >= 8 && (n_lengths >= 2 || first_length != 4 * 3 * TWELFTH) &&
          not_levels == 0);
    CHECK(first >= last_off + 4 * EIGHTH);
    CHECK(sounding_at_end(from) == 0);

    from = atomic_load(&n_received); /* again, and stop it mid-answer */
    CHECK(stop_mid_answer(cont, play_timed_phrase(), 6) == 0);
    CHECK(answer_notes_since(from) > 0 && sounding_at_end(from) == 0);
    CHECK(on_time_unless_late(off_grid, 0));
    if (CONTINUO_TRAP_AVAILABLE)
        test_the_process_callback_neither_allocates_nor_locks_for(10);
}

/* A two-bar call in key (0..11 major, 12..23 minor): a tonic in the bass each bar under
 * sixteen eighths of scale and arpeggio; returns its last note-off. */
static uint64_t play_call_in(int key)
{
    static const int major[16] = {0, 4, 7, 12, 11, 7, 5, 2, 4, 7, 9, 7, 5, 4, 2, 0};
    static const int minor[16] = {0, 3, 7, 12, 11, 7, 5, 2, 3, 7, 8, 7, 5, 3, 2, 0};
    const int *degrees = key < 12 ? major : minor;
    int tonic = 60 + key % 12;
    static Event events[64];
    int n = 0;
    uint64_t t = now_frame() + 4800;
    for (int i = 0; i < 16; i++) {
        uint64_t on = t + (uint64_t)i * EIGHTH;
        events[n++] = (Event){on, {0x90, (uint8_t)(tonic + degrees[i]), 80}, 0};
        events[n++] = (Event){on + EIGHTH * 9 / 10, {0x80, (uint8_t)(tonic + degrees[i]), 0}, 0};
        if (i % 8 == 0) {
            events[n++] = (Event){on, {0x90, (uint8_t)(tonic - 24), 70}, 0};
            events[n++] = (Event){on + 7 * EIGHTH, {0x80, (uint8_t)(tonic - 24), 0}, 0};
        }
    }
    queue_all(events, n);
    return t + 15 * EIGHTH + EIGHTH * 9 / 10;
}

/* Share of the answer's note-ons from index from that lie in key's scale; *n_on says how
 * many there were. */
static double answer_in_key(int from, int key, int *n_on)
{
    int in_key = 0;
    *n_on = 0;
    for (int i = from; i < atomic_load(&n_received); i++)
        if (is_answer(&received[i]) && is_on(&received[i])) {
            (*n_on)++;
            in_key += cn_key_has(key, received[i].bytes[1] % 12);
        }
    return *n_on ? (double)in_key / *n_on : 0;
}

/* The default model and options answer calls in E-flat major, A major and F-sharp minor,
 * each after the others (the first by a fresh client), in the call's key: the sampler's
 * guide follows the call, not what was heard before it. */
static void test_calls_in_three_keys_are_answered_in_key(void)
{
    const char *args[] = {CONTINUO_CLI, "jack", "-w", CONTINUO_SOURCE_DIR "/weights/default.cnw",
                          "-n", "keys", "--wait", "2", "--length", "24", "--seed", "5",
                          "--no-thru", "-c", "2", "-i", "player:out", "-o", "recorder:in", NULL};
    pid_t cont = spawn_connected(args, 0);
    const int keys[3] = {3, 9, 12 + 6};
    double sum = 0, worst = 1;
    for (int k = 0; k < 3; k++) {
        int from = atomic_load(&n_received), n_on;
        uint64_t last_off = play_call_in(keys[k]);
        sleep_ms((int)((last_off - now_frame()) / 48) + 1000 + 10000);
        double share = answer_in_key(from, keys[k], &n_on);
        printf("# a call in %s: %d answer note-ons, %.2f of them in its key\n",
               cn_key_name(keys[k]), n_on, share);
        CHECK(n_on >= 8);
        CHECK(sounding_at_end(from) == 0);
        sum += share;
        worst = share < worst ? share : worst;
    }
    CHECK(sum / 3 >= 0.8 && worst >= 0.6);
    kill(cont, SIGTERM);
    CHECK(wait_exit(cont, 10) == 0);
}

static uint64_t play_call_loud(double bpm, uint64_t t, uint8_t velocity);

/* A two-bar call at bpm starting at frame t: sixteen eighths of C major's scale and
 * arpeggio, a low C at each bar; returns its last note-off. */
static uint64_t play_call_at(double bpm, uint64_t t)
{
    return play_call_loud(bpm, t, 80);
}

/* The same at a velocity of one's own on the beats (the eighths between a quarter softer,
 * the bass an eighth). */
static uint64_t play_call_loud(double bpm, uint64_t t, uint8_t velocity)
{
    static const int degrees[16] = {0, 4, 7, 12, 11, 7, 5, 2, 4, 7, 9, 7, 5, 4, 2, 0};
    static Event events[64];
    double eighth = RATE * 30.0 / bpm;
    int n = 0;
    for (int i = 0; i < 16; i++) {
        uint64_t on = t + (uint64_t)llround(i * eighth);
        uint64_t off = on + (uint64_t)llround(eighth * 0.9);
        uint8_t accent = (uint8_t)(i % 2 ? velocity * 3 / 4 : velocity); /* the beats */
        events[n++] = (Event){on, {0x90, (uint8_t)(60 + degrees[i]), accent}, 0};
        events[n++] = (Event){off, {0x80, (uint8_t)(60 + degrees[i]), 0}, 0};
        if (i % 8 == 0) {
            events[n++] = (Event){on, {0x90, 36, (uint8_t)(velocity * 7 / 8)}, 0};
            events[n++] = (Event){on + (uint64_t)llround(7 * eighth), {0x80, 36, 0}, 0};
        }
    }
    queue_all(events, n);
    return t + (uint64_t)llround(15.9 * eighth);
}

/* With no transport or clock and the default model and options, a call at 80 bpm and one
 * at 140, each starting at a random moment, are answered on their own beat: every note-on
 * of the answer lies on the call's grid of twelfths of a beat but those the engine counted
 * late (a client on 120 bpm from frame 0 would miss it by chance alone for nine notes in
 * ten), and the counters say the tempo found. */
static void test_calls_are_answered_on_their_own_beat(void)
{
    const char *args[] = {CONTINUO_CLI, "jack", "-w", CONTINUO_SOURCE_DIR "/weights/default.cnw",
                          "-n", "beat", "--seed", "3", "--no-thru", "-c", "2", "-v",
                          "-i", "player:out", "-o", "recorder:in", NULL};
    pid_t cont = spawn_connected(args, 0);
    const double tempi[2] = {80, 140};
    int total_off = 0;
    srand((unsigned)getpid());
    for (int k = 0; k < 2; k++) {
        double beat = RATE * 60.0 / tempi[k], twelfth = beat / 12;
        uint64_t t = now_frame() + 4800 + (uint64_t)(rand() % (int)beat);
        int from = atomic_load(&n_received);
        uint64_t last_off = play_call_at(tempi[k], t);
        sleep_ms((int)((last_off - now_frame()) / 48) + (int)(2 * 60000 / tempi[k]) + 1000);
        for (int quiet = 0, seen = -1, waited = 0; quiet < 2000 && waited < 40000;
             waited += 100) { /* until the answer has ended: two seconds without a note */
            int n = atomic_load(&n_received);
            quiet = n == seen ? quiet + 100 : 0;
            seen = n;
            sleep_ms(100);
        }
        int n_on = 0, off_grid = 0;
        double worst = 0;
        for (int i = from; i < atomic_load(&n_received); i++) {
            if (!is_answer(&received[i]) || !is_on(&received[i]))
                continue;
            double steps = (double)(received[i].frame - t) / twelfth;
            double off = fabs(steps - round(steps)) * twelfth / RATE * 1000;
            n_on++;
            off_grid += off > 1.0;
            worst = off > worst ? off : worst;
        }
        printf("# a call at %.0f bpm from frame %llu: %d answer note-ons, %d more than 1 ms off "
               "its twelfths (worst %.2f ms)\n", tempi[k], (unsigned long long)t, n_on,
               off_grid, worst);
        CHECK(n_on >= 8);
        CHECK(off_grid * 4 <= n_on); /* (a client placing them at random: nine in ten) */
        CHECK(sounding_at_end(from) == 0);
        total_off += off_grid;
    }
    CHECK(wait_for_log("2 calls' beat found (the last at 14", 10));
    kill(cont, SIGTERM);
    CHECK(wait_exit(cont, 10) == 0);
    CHECK(on_time_unless_late(total_off, 0)); /* off only when it went out late */
}

/* --length 2bars: with no transport or clock the bar lines are the call's (its first beat
 * is a downbeat), and the answer ends on one of them, its notes released by then. */
static void test_an_answer_in_bars_ends_on_the_players_bar_line(void)
{
    const char *args[] = {CONTINUO_CLI, "jack", "-w", CONTINUO_SOURCE_DIR "/weights/default.cnw",
                          "-n", "bars", "--seed", "2", "--no-thru", "-c", "2", "--length", "2bars",
                          "-i", "player:out", "-o", "recorder:in", NULL};
    pid_t cont = spawn_connected(args, 0);
    double beat = RATE * 60.0 / 100, bar = 4 * beat;
    uint64_t t = now_frame() + 4800 + (uint64_t)(rand() % (int)beat);
    int from = atomic_load(&n_received);
    uint64_t last_off = play_call_at(100, t);
    sleep_ms((int)((last_off - now_frame()) / 48) + 2 * 600 + 8 * 600 + 3000);
    uint64_t first = 0, last = 0;
    int n_on = 0;
    for (int i = from; i < atomic_load(&n_received); i++)
        if (is_answer(&received[i])) {
            if (is_on(&received[i]) && n_on++ == 0)
                first = received[i].frame;
            last = received[i].frame;
        }
    double bars_to_last = (double)(last - t) / bar;
    double line = round(bars_to_last) * bar + (double)t; /* the nearest bar line */
    printf("# --length 2bars at 100 bpm: %d note-ons from %.2f bars after the call began, "
           "the last event %.3f bars after it\n", n_on, (double)(first - t) / bar, bars_to_last);
    CHECK(n_on >= 4);
    /* up to a bar line (a cycle's grace for an event a loaded machine sent late) */
    CHECK((double)last <= line + PERIOD && (double)last > line - 2 * beat);
    CHECK((double)(last - first) >= 2 * bar - beat); /* two bars long */
    CHECK(sounding_at_end(from) == 0);
    kill(cont, SIGTERM);
    CHECK(wait_exit(cont, 10) == 0);
}

/* The answer's note-ons from index from: their mean velocity and how many velocities. */
static double answer_loudness(int from, int *n_levels)
{
    int seen[128] = {0}, n = 0;
    double sum = 0;
    *n_levels = 0;
    for (int i = from; i < atomic_load(&n_received); i++)
        if (is_answer(&received[i]) && is_on(&received[i])) {
            uint8_t v = received[i].bytes[2];
            *n_levels += seen[v]++ == 0;
            sum += v;
            n++;
        }
    return n ? sum / n : 0;
}

/* A soft call (velocity 30 on the beats, 22 between) is answered softly and a loud one
 * (110, 82) loudly, each with dynamics around it (more than one level), by the default
 * model and options. */
static void test_soft_and_loud_calls_get_soft_and_loud_answers(void)
{
    const char *args[] = {CONTINUO_CLI, "jack", "-w", CONTINUO_SOURCE_DIR "/weights/default.cnw",
                          "-n", "loud", "--seed", "6", "--no-thru", "-c", "2", "--length", "16",
                          "-i", "player:out", "-o", "recorder:in", NULL};
    pid_t cont = spawn_connected(args, 0);
    const uint8_t velocities[2] = {30, 110};
    double mean[2];
    int levels[2];
    for (int k = 0; k < 2; k++) {
        int from = atomic_load(&n_received);
        uint64_t last_off = play_call_loud(100, now_frame() + 4800, velocities[k]);
        sleep_ms((int)((last_off - now_frame()) / 48) + 1200 + 8000);
        mean[k] = answer_loudness(from, &levels[k]);
        printf("# a call at velocity %d: the answer's mean velocity %.1f, %d velocities\n",
               velocities[k], mean[k], levels[k]);
        CHECK(fabs(mean[k] - velocities[k] * 7 / 8) <= 15 && levels[k] >= 2);
        CHECK(sounding_at_end(from) == 0);
    }
    CHECK(mean[1] - mean[0] >= 50);
    kill(cont, SIGTERM);
    CHECK(wait_exit(cont, 10) == 0);
}

/* The loop (CC 87) of an answer of two bars at 100 bpm from a random moment: each pass
 * repeats the first a whole number of bars later, no note of any pass is zero long, and
 * letting the loop go ends it with every note released. */
static void test_a_looped_answer_keeps_its_bars(void)
{
    const char *args[] = {CONTINUO_CLI, "jack", "-w", CONTINUO_SOURCE_DIR "/weights/default.cnw",
                          "-n", "loop", "--seed", "4", "--no-thru", "-c", "2", "--length", "2bars",
                          "-i", "player:out", "-o", "recorder:in", NULL};
    pid_t cont = spawn_connected(args, 0);
    double beat = RATE * 60.0 / 100, bar = 4 * beat;
    uint64_t t = now_frame() + 4800 + (uint64_t)(rand() % (int)beat);
    queue(t - 2400, 0xb0, CN_CC_LOOP, 127);
    int from = atomic_load(&n_received);
    uint64_t last_off = play_call_at(100, t);
    sleep_ms((int)((last_off - now_frame()) / 48) + 1200 + 3 * 3 * 2400 + 500);
    queue(now_frame() + 2400, 0xb0, CN_CC_LOOP, 0);
    sleep_ms(3 * 2400);
    uint64_t on_at[128] = {0}, ons[512];
    uint8_t keys[512];
    int n = 0, zero = 0;
    for (int i = from; i < atomic_load(&n_received); i++) {
        const Event *r = &received[i];
        if (!is_answer(r) || (r->bytes[0] & 0xe0) != 0x80)
            continue;
        int key = r->bytes[1] & 127;
        if (is_on(r)) {
            if (n < 512)
                ons[n] = r->frame, keys[n++] = (uint8_t)key;
            on_at[key] = r->frame + 1;
        } else if (on_at[key]) {
            zero += r->frame + 1 == on_at[key];
            on_at[key] = 0;
        }
    }
    /* the second pass: the first note-on again, like the first six, whole bars later */
    double period = 0;
    for (int j = 1; j < n && period == 0; j++) {
        int alike = j + 6 <= n;
        for (int k = 0; k < 6 && alike; k++) /* (a cycle's grace for a late note) */
            alike = keys[j + k] == keys[k] &&
                    llabs((long long)(ons[j + k] - ons[j]) - (long long)(ons[k] - ons[0])) <= PERIOD;
        if (alike && ons[j] - ons[0] > beat)
            period = (double)(ons[j] - ons[0]);
    }
    double bars = period / bar;
    printf("# a looped answer of 2 bars: %d note-ons, a pass %.4f bars, %d zero-length notes\n",
           n, bars, zero);
    CHECK(n >= 12 && period > 0);
    CHECK(fabs(bars - round(bars)) * bar <= PERIOD && bars >= 2); /* whole bars */
    CHECK(zero == 0);
    CHECK(sounding_at_end(from) == 0);
    kill(cont, SIGTERM);
    CHECK(wait_exit(cont, 10) == 0);
}

int main(void)
{
    if (system("command -v jackd >/dev/null 2>&1 && command -v jack_wait >/dev/null 2>&1")) {
        printf("skipped: jackd is not installed (apt-get install jackd2)\n");
        return TEST_SKIP;
    }
    snprintf(server, sizeof server, "continuo-test-%d", (int)getpid());
    dir = test_make_temp_dir("jack");
    setenv("XDG_CONFIG_HOME", dir, 1); /* no setup of the machine's user reaches the tests */
    snprintf(log_path, sizeof log_path, "%s/continuo.log", dir);
    snprintf(trap_report, sizeof trap_report, "%s/trap.txt", dir);
    if (start_server() != 0) {
        fprintf(stderr, "jackd did not start\n");
        kill(jackd_pid, SIGTERM);
        return 1;
    }
    setenv("JACK_DEFAULT_SERVER", server, 1);
    player = jack_client_open("player", JackNoStartServer, NULL);
    CHECK(player != NULL);
    if (player) {
        player_out = jack_port_register(player, "out", JACK_DEFAULT_MIDI_TYPE, JackPortIsOutput, 0);
        jack_set_process_callback(player, player_process, NULL);
        jack_activate(player);
        recorder = jack_client_open("recorder", JackNoStartServer, NULL);
        CHECK(recorder != NULL);
        player_in = jack_port_register(recorder, "in", JACK_DEFAULT_MIDI_TYPE, JackPortIsInput, 0);
        jack_set_process_callback(recorder, recorder_process, NULL);
        jack_activate(recorder);
        int trap = CONTINUO_TRAP_AVAILABLE;
        RUN(test_list_ports_names_what_i_and_o_take);
        RUN(test_answers_on_the_grid_and_interruptions);
        RUN(test_a_lost_note_off_does_not_silence_the_responder);
        RUN(test_a_flood_does_no_harm);
        sleep_ms(3000); /* the whole run under the trap lasts over 20 s */
        RUN(test_sigterm_mid_answer_leaves_nothing_sounding);
        RUN(test_a_thru_flood_drops_no_note_off);
        if (trap)
            RUN(test_the_process_callback_neither_allocates_nor_locks);
        else
            printf("# the allocation trap is not used in the sanitizer build\n");
        RUN(test_bad_weights_are_refused_before_any_port_exists);
        RUN(test_the_transport_tempo_and_beats_are_followed);
        RUN(test_thru_and_the_sustain_pedal);
        RUN(test_a_midi_clock_sets_the_tempo_and_the_beat);
        RUN(test_odd_clocks);
        RUN(test_the_tempo_returns_to_bpm_when_the_master_leaves);
        RUN(test_clock_out_ticks_at_the_tempo);
        RUN(test_a_late_device_finds_the_clocks_beat);
        RUN(test_controls_on_numbers_of_ones_own);
        RUN(test_a_program_change_switches_models);
        RUN(test_controls_are_learned);
        RUN(test_a_timed_model_answers_in_rhythm);
        RUN(test_calls_in_three_keys_are_answered_in_key);
        RUN(test_calls_are_answered_on_their_own_beat);
        RUN(test_an_answer_in_bars_ends_on_the_players_bar_line);
        RUN(test_soft_and_loud_calls_get_soft_and_loud_answers);
        RUN(test_a_looped_answer_keeps_its_bars);
        RUN(test_a_vanishing_server_ends_the_client_cleanly);
        RUN(test_reconnect_waits_for_the_server_to_return);
    }
    if (cont_pid && waitpid(cont_pid, NULL, WNOHANG) == 0) { /* a test stopped early */
        kill(cont_pid, SIGTERM);
        wait_exit(cont_pid, 10);
    }
    if (player)
        jack_client_close(player);
    if (recorder)
        jack_client_close(recorder);
    if (jackd_pid) {
        kill(jackd_pid, SIGTERM);
        waitpid(jackd_pid, NULL, 0);
    }
    test_remove_tree(dir);
    free(dir);
    return test_finish();
}
