/* continuo.lv2 in a small host written on lilv: it loads the bundle from the build tree,
 * connects the ports, sends time:Position and a player's phrase as atom events, runs
 * blocks of 64 and 256 frames, and runs the worker requests the plugin schedules after
 * each block. Checked: the answer comes after the silence on the host's beat grid, frame
 * for frame; every note-on is released; the player interrupts it; stopping the transport
 * releases everything; a model set through patch:Set is swapped in and reported, a broken
 * one refused with a message; state save and restore bring back the model path; and run()
 * neither allocates, locks, waits nor writes (LD_PRELOAD trap, in the normal build). */
#include <lilv/lilv.h>
#include <lv2/atom/forge.h>
#include <lv2/atom/util.h>
#include <lv2/log/log.h>
#include <lv2/midi/midi.h>
#include <lv2/patch/patch.h>
#include <lv2/port-props/port-props.h>
#include <lv2/presets/presets.h>
#include <lv2/state/state.h>
#include <lv2/time/time.h>
#include <lv2/urid/urid.h>
#include <lv2/worker/worker.h>
#include <math.h>
#include <stdarg.h>
#include <time.h>
#include <unistd.h>

#include "continuo/sampler.h"
#include "test_util.h"

#define URI "urn:continuo:generator"
#define RATE 48000.0
#define BUF 65536

__attribute__((weak)) void continuo_rt_enter(void);
__attribute__((weak)) void continuo_rt_leave(void);
__attribute__((weak)) void continuo_rt_trap_counts(long *callbacks, long *violations);

static void rt_enter(void)
{
    if (continuo_rt_enter)
        continuo_rt_enter();
}

static void rt_leave(void)
{
    if (continuo_rt_leave)
        continuo_rt_leave();
}

/* ----- Host services: URIDs, log, worker ----- */

static char *uris[512];
static int n_uris;

static LV2_URID map_uri(LV2_URID_Map_Handle h, const char *uri)
{
    (void)h;
    for (int i = 0; i < n_uris; i++)
        if (strcmp(uris[i], uri) == 0)
            return (LV2_URID)(i + 1);
    if (n_uris == 512)
        return 0;
    uris[n_uris++] = strdup(uri);
    return (LV2_URID)n_uris;
}

static const char *unmap_uri(LV2_URID_Unmap_Handle h, LV2_URID urid)
{
    (void)h;
    return urid >= 1 && (int)urid <= n_uris ? uris[urid - 1] : NULL;
}

static char log_text[8192];

static int log_vprintf(LV2_Log_Handle h, LV2_URID type, const char *fmt, va_list ap)
{
    (void)h, (void)type;
    size_t used = strlen(log_text);
    return vsnprintf(log_text + used, sizeof log_text - used, fmt, ap);
}

static int log_printf(LV2_Log_Handle h, LV2_URID type, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = log_vprintf(h, type, fmt, ap);
    va_end(ap);
    return n;
}

typedef struct {
    uint32_t size;
    uint8_t data[4200];
} Message;

/* Filled from run() and work_response(): fixed slots, no allocation. */
static Message requests[64], responses[64];
static int n_requests, n_responses;

/* Messages up to 512 bytes, as a host with a small worker ring would take. */
static LV2_Worker_Status push(Message *queue, int *n, uint32_t size, const void *data)
{
    if (*n == 64 || size > 512)
        return LV2_WORKER_ERR_NO_SPACE;
    queue[*n].size = size;
    memcpy(queue[*n].data, data, size);
    (*n)++;
    return LV2_WORKER_SUCCESS;
}

static LV2_Worker_Status schedule_work(LV2_Worker_Schedule_Handle h, uint32_t size,
                                       const void *data)
{
    (void)h;
    return push(requests, &n_requests, size, data);
}

static LV2_Worker_Status respond(LV2_Worker_Respond_Handle h, uint32_t size, const void *data)
{
    (void)h;
    return push(responses, &n_responses, size, data);
}

/* ----- The host ----- */

static LilvWorld *world;
static const LilvPlugin *plugin;
static LV2_URID_Map map = {NULL, map_uri};
static LV2_URID_Unmap unmap = {NULL, unmap_uri};
static LV2_Log_Log log_feature = {NULL, log_printf, log_vprintf};
static LV2_Worker_Schedule schedule = {NULL, schedule_work};
static LV2_Feature map_f = {LV2_URID__map, &map}, unmap_f = {LV2_URID__unmap, &unmap},
                   log_f = {LV2_LOG__log, &log_feature},
                   schedule_f = {LV2_WORKER__schedule, &schedule};
static const LV2_Feature *features[] = {&map_f, &unmap_f, &log_f, &schedule_f, NULL};

enum { P_IN, P_OUT, P_ENABLE, P_MODE, P_WAIT, P_LENGTH, P_TEMPERATURE, P_TOP_P, P_CHANNEL,
       P_THRU, P_END_CALL, P_MUTATE, P_LOOP, P_MIN_LISTEN, P_MAX_LISTEN, P_LENGTH_CALL,
       P_STATE_CC, P_LATE, P_FIXED_GRID, N_PORTS };

typedef struct {
    uint64_t frame;
    uint8_t bytes[3];
} Note;

typedef struct {
    LilvInstance *instance;
    const LV2_Worker_Interface *worker;
    float controls[N_PORTS];
    _Alignas(8) uint8_t in_buf[BUF], out_buf[BUF];
    LV2_Atom_Forge forge;
    uint64_t frame;
    uint32_t block;
    Note out[8000];
    int n_out;
    char notified[4200]; /* the last model path the plugin reported (patch:Set) */
    int n_blocks, n_work;  /* blocks run, worker requests the plugin made */
} Host;

static Host *host_new(uint32_t block)
{
    Host *h = calloc(1, sizeof *h);
    h->block = block;
    h->instance = lilv_plugin_instantiate(plugin, RATE, features);
    if (!h->instance) {
        free(h);
        return NULL;
    }
    h->worker = lilv_instance_get_extension_data(h->instance, LV2_WORKER__interface);
    static const float defaults[N_PORTS] = {0, 0, 1, 0, 2, 16, 1.0f, 0.95f, 2, 1,
                                            0, 0, 0, 0, 0, 0, -1, 0, 0};
    memcpy(h->controls, defaults, sizeof defaults);
    for (int p = P_ENABLE; p < N_PORTS; p++)
        lilv_instance_connect_port(h->instance, (uint32_t)p, &h->controls[p]);
    lilv_instance_connect_port(h->instance, P_IN, h->in_buf);
    lilv_instance_connect_port(h->instance, P_OUT, h->out_buf);
    lv2_atom_forge_init(&h->forge, &map);
    lilv_instance_activate(h->instance);
    return h;
}

static void host_free(Host *h)
{
    lilv_instance_deactivate(h->instance);
    lilv_instance_free(h->instance);
    free(h);
}

/* What the player sends: MIDI, positions and patch messages at absolute frames. */
typedef enum { EV_MIDI, EV_POSITION, EV_SET_MODEL, EV_GET } EventKind;
typedef struct {
    uint64_t frame;
    EventKind kind;
    uint8_t midi[3];
    double bpm, bar_beat, speed;
    char path[4400];
} Input;

static Input script[512];
static int n_script, script_at;

static void send_midi(uint64_t frame, uint8_t a, uint8_t b, uint8_t c)
{
    script[n_script++] = (Input){.frame = frame, .kind = EV_MIDI, .midi = {a, b, c}};
}

static void send_position(uint64_t frame, double bpm, double bar_beat, double speed)
{
    script[n_script++] = (Input){.frame = frame, .kind = EV_POSITION, .bpm = bpm,
                                 .bar_beat = bar_beat, .speed = speed};
}

static void send_model(uint64_t frame, const char *path)
{
    script[n_script] = (Input){.frame = frame, .kind = EV_SET_MODEL};
    snprintf(script[n_script++].path, sizeof script[0].path, "%s", path);
}

static void forge_input(Host *h, const Input *in, uint32_t offset)
{
    LV2_Atom_Forge *f = &h->forge;
    LV2_Atom_Forge_Frame frame;
    lv2_atom_forge_frame_time(f, offset);
    if (in->kind == EV_MIDI) {
        lv2_atom_forge_atom(f, 3, map_uri(NULL, LV2_MIDI__MidiEvent));
        lv2_atom_forge_write(f, in->midi, 3);
    } else if (in->kind == EV_POSITION) {
        lv2_atom_forge_object(f, &frame, 0, map_uri(NULL, LV2_TIME__Position));
        lv2_atom_forge_key(f, map_uri(NULL, LV2_TIME__beatsPerMinute));
        lv2_atom_forge_float(f, (float)in->bpm);
        lv2_atom_forge_key(f, map_uri(NULL, LV2_TIME__barBeat));
        lv2_atom_forge_float(f, (float)in->bar_beat);
        lv2_atom_forge_key(f, map_uri(NULL, LV2_TIME__speed));
        lv2_atom_forge_float(f, (float)in->speed);
        lv2_atom_forge_pop(f, &frame);
    } else if (in->kind == EV_SET_MODEL) {
        lv2_atom_forge_object(f, &frame, 0, map_uri(NULL, LV2_PATCH__Set));
        lv2_atom_forge_key(f, map_uri(NULL, LV2_PATCH__property));
        lv2_atom_forge_urid(f, map_uri(NULL, URI "#model"));
        lv2_atom_forge_key(f, map_uri(NULL, LV2_PATCH__value));
        lv2_atom_forge_path(f, in->path, (uint32_t)strlen(in->path));
        lv2_atom_forge_pop(f, &frame);
    } else {
        lv2_atom_forge_object(f, &frame, 0, map_uri(NULL, LV2_PATCH__Get));
        lv2_atom_forge_pop(f, &frame);
    }
}

static void read_output(Host *h)
{
    const LV2_Atom_Sequence *seq = (const LV2_Atom_Sequence *)h->out_buf;
    LV2_URID midi = map_uri(NULL, LV2_MIDI__MidiEvent), set = map_uri(NULL, LV2_PATCH__Set);
    int64_t last = 0;
    LV2_ATOM_SEQUENCE_FOREACH(seq, ev)
    {
        CHECK(ev->time.frames >= last && ev->time.frames < h->block);
        last = ev->time.frames;
        if (ev->body.type == midi && ev->body.size == 3 && h->n_out < 8000) {
            h->out[h->n_out].frame = h->frame + (uint64_t)ev->time.frames;
            memcpy(h->out[h->n_out++].bytes, LV2_ATOM_BODY_CONST(&ev->body), 3);
        } else if (ev->body.type == map_uri(NULL, LV2_ATOM__Object) &&
                   ((const LV2_Atom_Object *)&ev->body)->body.otype == set) {
            const LV2_Atom *value = NULL;
            lv2_atom_object_get((const LV2_Atom_Object *)&ev->body,
                                map_uri(NULL, LV2_PATCH__value), &value, 0);
            if (value && value->size < sizeof h->notified)
                memcpy(h->notified, LV2_ATOM_BODY_CONST(value), value->size);
        }
    }
}

/* One block: the input due in it, run(), then the worker's requests and responses, as a
 * host's worker thread would serve them between two cycles. */
static void run_block(Host *h)
{
    LV2_Atom_Sequence *in = (LV2_Atom_Sequence *)h->in_buf;
    lv2_atom_forge_set_buffer(&h->forge, h->in_buf, BUF);
    LV2_Atom_Forge_Frame seq;
    lv2_atom_forge_sequence_head(&h->forge, &seq, 0);
    while (script_at < n_script && script[script_at].frame < h->frame + h->block) {
        uint64_t f = script[script_at].frame;
        forge_input(h, &script[script_at++], f > h->frame ? (uint32_t)(f - h->frame) : 0);
    }
    lv2_atom_forge_pop(&h->forge, &seq);
    (void)in;
    LV2_Atom_Sequence *out = (LV2_Atom_Sequence *)h->out_buf;
    out->atom.type = map_uri(NULL, LV2_ATOM__Chunk);
    out->atom.size = BUF - sizeof(LV2_Atom);

    rt_enter();
    lilv_instance_run(h->instance, h->block);
    rt_leave();
    read_output(h);

    h->n_blocks++;
    h->n_work += n_requests;
    for (int i = 0; i < n_requests; i++)
        h->worker->work(lilv_instance_get_handle(h->instance), respond, NULL,
                        requests[i].size, requests[i].data);
    n_requests = 0;
    rt_enter();
    for (int i = 0; i < n_responses; i++)
        h->worker->work_response(lilv_instance_get_handle(h->instance), responses[i].size,
                                 responses[i].data);
    n_responses = 0;
    if (h->worker->end_run)
        h->worker->end_run(lilv_instance_get_handle(h->instance));
    rt_leave();
    h->frame += h->block;
}

static void run_until(Host *h, uint64_t frame)
{
    while (h->frame < frame)
        run_block(h);
}

static void reset_script(void)
{
    n_script = script_at = 0;
}

/* The tests of the eighth-note grid play the original scheme's model (a token an eighth);
 * the bundle's default is a timed one. */
#define ORIGINAL_MODEL CONTINUO_SOURCE_DIR "/weights/original.cnw"

static void reset_script_original(void)
{
    reset_script();
    send_model(0, ORIGINAL_MODEL);
}

/* ----- What the output says ----- */

static int is_on(const Note *n) { return (n->bytes[0] & 0xf0) == 0x90 && n->bytes[2] > 0; }

/* Notes of channel (0-based) still sounding after the output up to frame `until`. */
static int sounding(const Host *h, int channel, uint64_t until)
{
    int count[128] = {0}, left = 0;
    for (int i = 0; i < h->n_out && h->out[i].frame <= until; i++) {
        const Note *n = &h->out[i];
        if ((n->bytes[0] & 15) != channel)
            continue;
        if (is_on(n))
            count[n->bytes[1]]++;
        else if (count[n->bytes[1]] > 0)
            count[n->bytes[1]]--;
    }
    for (int k = 0; k < 128; k++)
        left += count[k];
    return left;
}

typedef struct {
    int n_on, off_grid;
    uint64_t first;
} Answer;

/* Note-ons on channel from frame on, with how many miss the grid of `eighth` from origin. */
static Answer answer_from(const Host *h, int channel, uint64_t from, uint64_t origin,
                          uint64_t eighth)
{
    Answer a = {0, 0, 0};
    for (int i = 0; i < h->n_out; i++) {
        const Note *n = &h->out[i];
        if (!is_on(n) || (n->bytes[0] & 15) != channel || n->frame < from)
            continue;
        if (a.n_on++ == 0)
            a.first = n->frame;
        a.off_grid += (n->frame - origin) % eighth != 0;
    }
    return a;
}

/* Eight eighth notes from `start` at the tempo's eighth; returns the last note-off. */
static uint64_t play_phrase(uint64_t start, uint64_t eighth)
{
    static const uint8_t keys[] = {60, 62, 64, 65, 67, 65, 64, 62};
    for (int i = 0; i < 8; i++) {
        send_midi(start + (uint64_t)i * eighth, 0x90, keys[i], 96);
        send_midi(start + (uint64_t)i * eighth + eighth * 8 / 10, 0x80, keys[i], 0);
    }
    return start + 7 * eighth + eighth * 8 / 10;
}

static uint64_t next_grid(uint64_t frame, uint64_t origin, uint64_t eighth)
{
    return origin + (frame - origin + eighth - 1) / eighth * eighth;
}

/* ----- Tests ----- */

static void test_lv2ls_lists_the_bundle(void)
{
    CHECK(system("lv2ls | grep -qx '" URI "'") == 0);
    CHECK(plugin != NULL);
}

/* The host says the bar is at beat bar_beat at frame position_frame, at bpm; the player
 * plays a phrase from phrase_start; the answer must start on the first eighth of the host's
 * grid after two beats of silence, and stay on that grid, frame for frame. */
static void answers_on_the_grid(uint32_t block, double bpm, uint64_t position_frame,
                                double bar_beat, uint64_t phrase_start)
{
    Host *h = host_new(block);
    CHECK(h != NULL);
    if (!h)
        return;
    reset_script_original();
    uint64_t beat = (uint64_t)(RATE * 60 / bpm), eighth = beat / 2;
    uint64_t origin = position_frame - (uint64_t)((bar_beat - floor(bar_beat)) * (double)beat);
    send_position(position_frame, bpm, bar_beat, 1);
    uint64_t last_off = play_phrase(phrase_start, eighth);
    uint64_t expected = next_grid(last_off + 2 * beat, origin, eighth);
    run_until(h, expected + 16 * eighth + 48000);
    Answer a = answer_from(h, 1, 0, origin, eighth);
    Answer thru = answer_from(h, 0, 0, 0, 1);
    printf("# %g bpm, blocks of %u: %d answer note-ons, first at %llu (expected %llu), %d off "
           "the grid; %d notes passed through; worker asked %d times in %d blocks\n", bpm, block,
           a.n_on, (unsigned long long)a.first, (unsigned long long)expected, a.off_grid,
           thru.n_on, h->n_work, h->n_blocks);
    CHECK(a.n_on >= 16);
    CHECK(a.first == expected);
    CHECK(a.off_grid == 0);
    CHECK(sounding(h, 1, UINT64_MAX) == 0);
    CHECK(thru.n_on == 8 && thru.first == phrase_start);
    CHECK(h->controls[P_LATE] == 0); /* the late-notes port: a worker that keeps up */
    /* the worker runs on input and when the engine has something due, not every block:
       16 input events, about 20 answer steps and deadlines */
    CHECK(h->n_work > 16 && h->n_work < 100 && h->n_work < h->n_blocks / 4);
    host_free(h);
}

/* 120 bpm from frame 0: an eighth is 12000 frames. */
static void test_answers_on_the_grid_in_blocks_of_64(void)
{
    answers_on_the_grid(64, 120, 0, 0, 4800);
}

static void test_answers_on_the_grid_in_blocks_of_256(void)
{
    answers_on_the_grid(256, 120, 0, 0, 4800);
}

/* 100 bpm (an eighth is 14400 frames); beat 1.25 of the bar at frame 48000, so a beat fell
 * at 40800 and the grid runs from there. */
static void test_the_host_tempo_and_beat_are_followed(void)
{
    answers_on_the_grid(256, 100, 48000, 1.25, 60000);
}

static void test_stopping_the_transport_releases_everything(void)
{
    Host *h = host_new(256);
    reset_script_original();
    send_position(0, 120, 0, 1);
    uint64_t last_off = play_phrase(4800, 12000);
    uint64_t start = next_grid(last_off + 48000, 0, 12000);
    uint64_t stop = start + 4 * 12000 + 3000; /* a quarter note is sounding */
    send_position(stop, 120, 0, 0);
    run_until(h, stop + 96000);
    Answer before = answer_from(h, 1, 0, 0, 12000);
    Answer after = answer_from(h, 1, stop + 256, 0, 12000);
    int held = 0; /* sounding just before the stop */
    for (int i = 0; i < h->n_out; i++)
        held += h->out[i].frame < stop && is_on(&h->out[i]) && (h->out[i].bytes[0] & 15) == 1;
    printf("# %d answer notes before the stop, %d after, %d sounding a block later\n",
           before.n_on - after.n_on, after.n_on, sounding(h, 1, stop + 256));
    CHECK(held >= 4);
    CHECK(after.n_on == 0);
    CHECK(sounding(h, 1, stop + 256) == 0);
    host_free(h);
}

static void test_the_player_interrupts_the_answer(void)
{
    Host *h = host_new(64);
    reset_script_original();
    send_position(0, 120, 0, 1);
    uint64_t last_off = play_phrase(4800, 12000);
    uint64_t start = next_grid(last_off + 48000, 0, 12000);
    uint64_t interrupt = start + 3 * 12000 + 1000;
    send_midi(interrupt, 0x90, 72, 100);
    send_midi(interrupt + 30000, 0x80, 72, 0);
    run_until(h, interrupt + 30000);
    Answer after = answer_from(h, 1, interrupt + 64, 0, 12000);
    CHECK(answer_from(h, 1, 0, 0, 12000).n_on >= 3);
    CHECK(after.n_on == 0);
    CHECK(sounding(h, 1, interrupt + 64) == 0);
    host_free(h);
}

/* The call-and-response ports: End call answers a call whose last key is still held, and
 * Loop repeats that answer on the grid; the engine hears them, the output never sees
 * them as MIDI. */
static void test_the_call_and_response_ports(void)
{
    Host *h = host_new(256);
    reset_script_original();
    send_position(0, 120, 0, 1);
    h->controls[P_LENGTH] = 8;
    for (int i = 0; i < 4; i++) {
        send_midi(4800 + (uint64_t)i * 12000, 0x90, (uint8_t)(60 + 2 * i), 96);
        if (i < 3)
            send_midi(4800 + (uint64_t)i * 12000 + 9000, 0x80, (uint8_t)(60 + 2 * i), 0);
    }
    run_until(h, 4800 + 4 * 12000 + 48000); /* a second on, 66 still held: no answer */
    CHECK(answer_from(h, 1, 0, 0, 12000).n_on == 0);
    uint64_t pressed = h->frame;
    h->controls[P_END_CALL] = 1;
    h->controls[P_LOOP] = 1;
    run_until(h, pressed + 20 * 12000); /* the 8-token answer, and again */
    Answer a = answer_from(h, 1, pressed, 0, 12000);
    h->controls[P_LOOP] = 0;
    send_midi(h->frame + 100, 0x80, 66, 0);
    run_until(h, h->frame + 12 * 12000);
    int ccs = 0;
    for (int i = 0; i < h->n_out; i++)
        ccs += (h->out[i].bytes[0] & 0xf0) == 0xb0;
    printf("# End call with a key held: the answer %.3f s after it; with Loop, %d note-ons "
           "in 20 eighths\n", (double)(a.first - pressed) / RATE, a.n_on);
    CHECK(a.first >= pressed && a.first < pressed + 2 * 12000);
    CHECK(a.n_on >= 12 && a.off_grid == 0); /* more than one pass of 8 */
    CHECK(ccs == 0);
    CHECK(sounding(h, 1, UINT64_MAX) == 0);

    h->controls[P_STATE_CC] = 30; /* the state for a controller's lights */
    uint64_t phrase = h->frame + 4800;
    uint64_t last_off = play_phrase(phrase, 12000);
    run_until(h, next_grid(last_off + 48000, 0, 12000) + 12 * 12000);
    int states[8], n_states = 0;
    for (int i = 0; i < h->n_out && n_states < 8; i++)
        if (h->out[i].bytes[0] == 0xb1 && h->out[i].bytes[1] == 30)
            states[n_states++] = h->out[i].bytes[2];
    printf("# State CC 30: %d changes, %d %d %d\n", n_states, n_states > 0 ? states[0] : -1,
           n_states > 1 ? states[1] : -1, n_states > 2 ? states[2] : -1);
    CHECK(n_states >= 2);
    CHECK(n_states >= 1 && states[n_states - 1] == 0); /* idle again at the end */
    host_free(h);
}

/* Continuous mode plays on the grid without a phrase; back to respond, it stops at once. */
static void test_continuous_mode_and_switching_back(void)
{
    Host *h = host_new(256);
    reset_script_original();
    send_position(0, 120, 0, 1);
    h->controls[P_MODE] = 1;
    run_until(h, 4 * 48000);
    Answer a = answer_from(h, 1, 0, 0, 12000);
    h->controls[P_MODE] = 0;
    uint64_t switched = h->frame;
    run_until(h, switched + 2048); /* the worker's next pass sees the new mode */
    uint64_t quiet = h->frame;
    run_until(h, quiet + 48000);
    printf("# continuous: %d note-ons in 4 s, %d off the grid; after switching: %d\n", a.n_on,
           a.off_grid, answer_from(h, 1, quiet, 0, 12000).n_on);
    CHECK(a.n_on >= 12);
    CHECK(a.off_grid == 0);
    CHECK(answer_from(h, 1, quiet, 0, 12000).n_on == 0);
    CHECK(sounding(h, 1, quiet) == 0);
    host_free(h);
}

/* The bundle's own model is a timed one: at the host's 100 bpm it answers a phrase after
 * the silence, on the host's grid of twelfths of a beat, not a note every eighth, and
 * releases every note; all in blocks of 64 under the trap. */
static void test_the_default_timed_model_answers_on_the_hosts_grid(void)
{
    Host *h = host_new(64);
    CHECK(h != NULL);
    if (!h)
        return;
    reset_script();
    uint64_t beat = (uint64_t)(RATE * 60 / 100), twelfth = beat / 12, origin = 4800;
    send_position(origin, 100, 0, 1); /* a bar starts at frame 4800 */
    uint64_t last_off = play_phrase(origin + beat, beat / 2);
    run_until(h, last_off + 2 * beat + 24 * beat);
    Answer a = answer_from(h, 1, last_off, origin, twelfth);
    Answer eighths = answer_from(h, 1, last_off, origin, beat / 2);
    printf("# the bundle's timed model at 100 bpm: %d answer note-ons from %.2f beats after "
           "the phrase, %d off the twelfths, %d not on an eighth\n", a.n_on,
           ((double)a.first - (double)last_off) / (double)beat, a.off_grid, eighths.off_grid);
    CHECK(a.n_on >= 8 && a.off_grid == 0);
    CHECK(a.first >= last_off + 2 * beat);
    CHECK(sounding(h, 1, UINT64_MAX) == 0);
    host_free(h);
}

/* A host on a busy machine, run in real time, that leaves the plugin out of three cycles
 * (as JACK does with a late client) while the player plays and its transport is stopped:
 * the plugin must count the skipped frames in (it finds them within two windows of its
 * wall clock, 1.2 s), so that its answer is on the host's grid. */
static void test_skipped_cycles_keep_the_grid(void)
{
    const uint32_t block = 256;
    Host *h = host_new(block);
    CHECK(h != NULL);
    if (!h)
        return;
    reset_script();
    /* what is tested is the count of frames: on the host's fixed grid (a call heard while
       the count lags is answered on the beat it was heard at, see the docs) */
    h->controls[P_FIXED_GRID] = 1;
    uint64_t beat = (uint64_t)RATE / 2, twelfth = beat / 12; /* 120 bpm, frame 0 a beat */
    uint64_t last_off = play_phrase(beat, beat / 2);
    uint64_t skips[3] = {2 * beat, 3 * beat, 4 * beat}; /* the phrase: beats 1 to 5 */
    uint64_t end = last_off + 6 * beat;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    int skipped = 0;
    while (h->frame < end) {
        long ns = (long)(1e9 * block / RATE);
        next.tv_nsec += ns;
        if (next.tv_nsec >= 1000000000L) {
            next.tv_nsec -= 1000000000L;
            next.tv_sec++;
        }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
        if (skipped < 3 && h->frame >= skips[skipped]) {
            skips[skipped++] = h->frame; /* this cycle is not run */
            h->frame += block;
            continue;
        }
        run_block(h);
    }
    run_until(h, end + 24 * beat); /* the rest of the answer, faster than real time */
    Answer a = answer_from(h, 1, last_off, 0, twelfth);
    printf("# 3 cycles of %u frames skipped in a call: the answer's %d note-ons from %.2f "
           "beats after it, %d off the host's grid\n", block, a.n_on,
           ((double)a.first - (double)last_off) / (double)beat, a.off_grid);
    CHECK(skipped == 3);
    CHECK(a.n_on >= 8 && a.first >= last_off + 2 * beat);
    CHECK(a.off_grid == 0);
    CHECK(sounding(h, 1, UINT64_MAX) == 0);
    host_free(h);
}

/* With the transport stopped the plugin finds a call's beat as the JACK client does: a call
 * at 80 bpm starting off the host's grid is answered on the call's own twelfths of a beat;
 * with the Fixed grid port on, on the host's 120 bpm grid from frame 0 instead. */
static void test_a_call_is_answered_on_its_own_beat(void)
{
    static const int degrees[16] = {0, 4, 7, 12, 11, 7, 5, 2, 4, 7, 9, 7, 5, 4, 2, 0};
    for (int fixed = 0; fixed < 2; fixed++) {
        Host *h = host_new(256);
        CHECK(h != NULL);
        if (!h)
            return;
        reset_script();
        h->controls[P_FIXED_GRID] = (float)fixed;
        uint64_t beat = RATE * 60 / 80, eighth = beat / 2, origin = 31777, last_off = 0;
        for (int i = 0; i < 16; i++) { /* C major's scale and arpeggio, a low C each bar */
            uint64_t on = origin + (uint64_t)i * eighth;
            if (i % 8 == 0)
                send_midi(on, 0x90, 36, 70);
            if (i % 8 == 7)
                send_midi(on, 0x80, 36, 0);
            send_midi(on, 0x90, (uint8_t)(60 + degrees[i]), 80);
            send_midi(on + eighth * 9 / 10, 0x80, (uint8_t)(60 + degrees[i]), 0);
            last_off = on + eighth * 9 / 10;
        }
        run_until(h, last_off + 32 * beat);
        Answer own = answer_from(h, 1, last_off, origin, beat / 12);
        Answer host = answer_from(h, 1, last_off, 0, RATE / 2 / 12);
        printf("# a call at 80 bpm off the host's grid%s: %d answer note-ons, %d off the call's "
               "twelfths, %d off the host's\n", fixed ? ", Fixed grid on" : "", own.n_on,
               own.off_grid, host.off_grid);
        CHECK(own.n_on >= 8);
        CHECK(fixed ? host.off_grid == 0 && own.off_grid > 0
                    : own.off_grid == 0 && host.off_grid > 0);
        CHECK(sounding(h, 1, UINT64_MAX) == 0);
        host_free(h);
    }
}

static char *dir;

static void copy_file(const char *from, const char *to)
{
    size_t n;
    uint8_t *bytes = test_read_file(from, &n);
    CHECK(bytes && test_write_file(to, bytes, n) == 0);
    free(bytes);
}

static char *state_text(Host *h, const char *tag)
{
    char save_dir[4300];
    snprintf(save_dir, sizeof save_dir, "%s/%s", dir, tag);
    LilvState *state = lilv_state_new_from_instance(plugin, h->instance, &map, NULL, NULL, NULL,
                                                    save_dir, NULL, NULL, 0, features);
    CHECK(state != NULL);
    if (!state)
        return strdup("");
    char *text = lilv_state_to_string(world, &map, &unmap, state, "urn:continuo:test", NULL);
    lilv_state_free(state);
    return text;
}

/* A model set through patch:Set plays after a swap, is reported back, saved with the
 * session and brought back by restoring an older state; a broken file is refused. */
static void test_models_swap_save_and_restore(void)
{
    char other[4300], broken[4300];
    snprintf(other, sizeof other, "%s/other.cnw", dir);
    snprintf(broken, sizeof broken, "%s/broken.cnw", dir);
    copy_file(ORIGINAL_MODEL, other); /* (the default is timed: a swap of schemes) */
    CHECK(test_write_file(broken, "CNW1 but not really weights", 27) == 0);

    Host *h = host_new(256);
    reset_script();
    send_position(0, 120, 0, 1);
    LilvState *first = lilv_state_new_from_instance(plugin, h->instance, &map, NULL, NULL, NULL,
                                                    dir, NULL, NULL, 0, features);
    char *text = state_text(h, "a");
    CHECK(strstr(text, "default.cnw") != NULL);
    free(text);

    uint64_t last_off = play_phrase(4800, 12000);
    uint64_t start = next_grid(last_off + 48000, 0, 12000);
    send_model(start + 3 * 12000 + 100, other); /* mid-answer */
    run_until(h, start + 3 * 12000 + 2000);
    CHECK(strstr(h->notified, "other.cnw") != NULL);
    CHECK(sounding(h, 1, start + 3 * 12000 + 2000) == 0); /* the old engine's notes released */
    text = state_text(h, "b");
    CHECK(strstr(text, "other.cnw") != NULL);
    free(text);

    /* the new model answers the next phrase */
    int before = h->n_out;
    uint64_t phrase = h->frame + 4800;
    last_off = play_phrase(phrase, 12000);
    run_until(h, next_grid(last_off + 48000, 0, 12000) + 20 * 12000);
    CHECK(answer_from(h, 1, phrase, 0, 12000).n_on >= 16);
    CHECK(h->n_out > before);
    CHECK(sounding(h, 1, UINT64_MAX) == 0);

    /* a broken file: refused with a reason, the model plays on, and the session keeps the
       user's choice (a drive not mounted today may be tomorrow) */
    log_text[0] = '\0';
    send_model(h->frame + 10, broken);
    run_until(h, h->frame + 2048);
    printf("# the plugin said: %s", log_text);
    CHECK(strstr(log_text, "broken.cnw") != NULL);
    CHECK(strstr(log_text, "plays meanwhile") != NULL);
    text = state_text(h, "c");
    CHECK(strstr(text, "broken.cnw") != NULL);
    free(text);
    phrase = h->frame + 4800; /* the other model still answers */
    last_off = play_phrase(phrase, 12000);
    run_until(h, next_grid(last_off + 48000, 0, 12000) + 20 * 12000);
    CHECK(answer_from(h, 1, phrase, 0, 12000).n_on >= 16);

    /* restoring the first state brings the default model back */
    CHECK(first != NULL);
    if (first) {
        lilv_state_restore(first, h->instance, NULL, NULL, 0, features);
        run_block(h);
        CHECK(strstr(h->notified, "default.cnw") != NULL);
        text = state_text(h, "d");
        CHECK(strstr(text, "default.cnw") != NULL);
        free(text);
        lilv_state_free(first);
    }
    host_free(h);
}

/* A path of 3000 bytes loads through a host that takes only small worker messages; one
 * over the limit of 4095 is refused with a reason in the host's log. */
static void test_long_model_paths(void)
{
    char path[4400], longer[4400];
    int n = snprintf(path, sizeof path, "%s", dir);
    while (n < 3000)
        n += snprintf(path + n, sizeof path - (size_t)n, "/.");
    snprintf(path + n, sizeof path - (size_t)n, "/other.cnw");
    copy_file(CONTINUO_SOURCE_DIR "/weights/default.cnw", path);
    n = snprintf(longer, sizeof longer, "%s", dir);
    while (n < 4100)
        n += snprintf(longer + n, sizeof longer - (size_t)n, "/.");
    snprintf(longer + n, sizeof longer - (size_t)n, "/other.cnw");

    Host *h = host_new(256);
    reset_script();
    send_model(100, path);
    run_until(h, 4096);
    CHECK(strcmp(h->notified, path) == 0);
    log_text[0] = '\0';
    send_model(h->frame + 10, longer);
    run_until(h, h->frame + 2048);
    printf("# a %zu-byte path loaded; a %zu-byte one: %s", strlen(path), strlen(longer),
           log_text);
    CHECK(strstr(log_text, "longer than 4095 bytes") != NULL);
    CHECK(strcmp(h->notified, path) == 0); /* the model plays on */
    host_free(h);
}

static void test_the_trap_sees_what_it_should(void)
{
    long callbacks, before, after;
    continuo_rt_trap_counts(&callbacks, &before);
    rt_enter();
    void *volatile p = malloc(16);
    free(p);
    CHECK(write(-1, "", 0) < 0); /* a write on no file, but a write */
    rt_leave();
    continuo_rt_trap_counts(&callbacks, &after);
    CHECK(after - before == 3);
}

static void test_run_neither_allocates_nor_locks(void)
{
    long callbacks, violations;
    continuo_rt_trap_counts(&callbacks, &violations);
    printf("# %ld real-time calls into the plugin (run, work_response, end_run), %ld "
           "allocations, locks, waits or writes in them\n", callbacks, violations);
    CHECK(callbacks > 10000);
    CHECK(violations == 0);
}

/* The bundle offers the sampling every command starts from (cn_sampler_defaults). */
static void test_the_sampling_defaults_are_continuos_own(void)
{
    uint32_t n = lilv_plugin_get_num_ports(plugin);
    float *min = calloc(n, sizeof *min), *max = calloc(n, sizeof *max);
    float *def = calloc(n, sizeof *def);
    lilv_plugin_get_port_ranges_float(plugin, min, max, def);
    CnSamplerOptions s = cn_sampler_defaults();
    printf("# the bundle's defaults: temperature %g, top-p %g\n", (double)def[P_TEMPERATURE],
           (double)def[P_TOP_P]);
    CHECK_NEAR(def[P_TEMPERATURE], s.temperature, 1e-6);
    CHECK_NEAR(def[P_TOP_P], s.top_p, 1e-6);
    free(min), free(max), free(def);
}

/* A host shows the plugin's maker and its factory presets; each preset sets only ports the
 * plugin has, within their ranges; End call and Mutate are triggers (a host sets them back
 * after a press). */
typedef struct {
    const LilvPlugin *plugin;
    int n_values, bad;
} PresetCheck;

static void check_preset_value(const char *symbol, void *user, const void *value,
                               uint32_t size, uint32_t type)
{
    PresetCheck *c = user;
    LilvNode *sym = lilv_new_string(world, symbol);
    const LilvPort *port = lilv_plugin_get_port_by_symbol(c->plugin, sym);
    lilv_node_free(sym);
    c->n_values++;
    if (!port || size != sizeof(float) || type != map_uri(NULL, LV2_ATOM__Float)) {
        c->bad++;
        return;
    }
    LilvNode *def, *min, *max;
    lilv_port_get_range(c->plugin, port, &def, &min, &max);
    float v = *(const float *)value;
    c->bad += !min || !max || v < lilv_node_as_float(min) || v > lilv_node_as_float(max);
    lilv_node_free(def), lilv_node_free(min), lilv_node_free(max);
}

static void test_a_maker_presets_and_trigger_ports(void)
{
    LilvNode *maker = lilv_plugin_get_author_name(plugin);
    printf("# maker: %s\n", maker ? lilv_node_as_string(maker) : "(none)");
    CHECK(maker && strcmp(lilv_node_as_string(maker), "continuo") == 0);
    lilv_node_free(maker);

    LilvNode *preset_class = lilv_new_uri(world, LV2_PRESETS__Preset);
    LilvNode *label = lilv_new_uri(world, "http://www.w3.org/2000/01/rdf-schema#label");
    LilvNodes *presets = lilv_plugin_get_related(plugin, preset_class);
    int n = 0, named = 0;
    LILV_FOREACH (nodes, i, presets) {
        const LilvNode *preset = lilv_nodes_get(presets, i);
        lilv_world_load_resource(world, preset);
        LilvNode *name = lilv_world_get(world, preset, label, NULL);
        LilvState *state = lilv_state_new_from_world(world, &map, preset);
        PresetCheck c = {plugin, 0, 0};
        if (state)
            lilv_state_emit_port_values(state, check_preset_value, &c);
        printf("# preset '%s': %d values, %d out of place\n",
               name ? lilv_node_as_string(name) : "?", c.n_values, c.bad);
        named += name && (strcmp(lilv_node_as_string(name), "Call and response") == 0 ||
                          strcmp(lilv_node_as_string(name), "Endless") == 0 ||
                          strcmp(lilv_node_as_string(name), "Calm") == 0 ||
                          strcmp(lilv_node_as_string(name), "Wild") == 0);
        CHECK(state != NULL && c.n_values >= 4 && c.bad == 0);
        lilv_state_free(state);
        lilv_node_free(name);
        n++;
    }
    CHECK(n == 4 && named == 4);
    lilv_nodes_free(presets);
    lilv_node_free(label);
    lilv_node_free(preset_class);

    LilvNode *trigger = lilv_new_uri(world, LV2_PORT_PROPS__trigger);
    CHECK(lilv_port_has_property(plugin, lilv_plugin_get_port_by_index(plugin, P_END_CALL),
                                 trigger));
    CHECK(lilv_port_has_property(plugin, lilv_plugin_get_port_by_index(plugin, P_MUTATE),
                                 trigger));
    lilv_node_free(trigger);
}

int main(void)
{
    dir = test_make_temp_dir("lv2");
    world = lilv_world_new();
    lilv_world_load_all(world); /* LV2_PATH names the build tree's bundle folder */
    LilvNode *uri = lilv_new_uri(world, URI);
    plugin = lilv_plugins_get_by_uri(lilv_world_get_all_plugins(world), uri);
    RUN(test_lv2ls_lists_the_bundle);
    if (plugin) {
        RUN(test_the_sampling_defaults_are_continuos_own);
        RUN(test_a_maker_presets_and_trigger_ports);
        RUN(test_answers_on_the_grid_in_blocks_of_64);
        RUN(test_answers_on_the_grid_in_blocks_of_256);
        RUN(test_the_host_tempo_and_beat_are_followed);
        RUN(test_stopping_the_transport_releases_everything);
        RUN(test_the_player_interrupts_the_answer);
        RUN(test_continuous_mode_and_switching_back);
        RUN(test_the_call_and_response_ports);
        RUN(test_the_default_timed_model_answers_on_the_hosts_grid);
        RUN(test_skipped_cycles_keep_the_grid);
        RUN(test_a_call_is_answered_on_its_own_beat);
    RUN(test_models_swap_save_and_restore);
        RUN(test_long_model_paths);
        if (continuo_rt_trap_counts) {
            RUN(test_run_neither_allocates_nor_locks);
            RUN(test_the_trap_sees_what_it_should);
        } else {
            printf("# the allocation trap is not used in the sanitizer build\n");
        }
    }
    lilv_node_free(uri);
    lilv_world_free(world);
    test_remove_tree(dir);
    free(dir);
    for (int i = 0; i < n_uris; i++)
        free(uris[i]);
    return test_finish();
}
