/* The plugin's audio thread: activate() and run(). run() gathers the cycle's MIDI and the
 * host's transport, lets the engine hear and answer in one cycle call, writes the result,
 * and asks the host's worker for an engine pass only when one is due. Nothing here
 * allocates, locks, prints or sleeps (tests/check_rt_symbols.sh). */
#include <math.h>
#include <string.h>
#include <time.h>

#include <lv2/atom/util.h>

#include "continuo/tempo.h"
#include "continuo.h"

/* Audio thread. */
void plugin_activate(LV2_Handle instance)
{
    Continuo *self = instance;
    cn_engine_rt_panic(self->current->engine); /* whatever sounded before is released */
    self->skips = (SkipClock){0};              /* the time it was inactive was not skipped */
    self->poked = 1;
}

static double atom_number(const Uris *u, const LV2_Atom *a, double fallback)
{
    if (!a)
        return fallback;
    if (a->type == u->atom_Float)
        return ((const LV2_Atom_Float *)a)->body;
    if (a->type == u->atom_Double)
        return ((const LV2_Atom_Double *)a)->body;
    if (a->type == u->atom_Int)
        return ((const LV2_Atom_Int *)a)->body;
    if (a->type == u->atom_Long)
        return (double)((const LV2_Atom_Long *)a)->body;
    return fallback;
}

/* The host's transport, as its position atoms tell it: whether it rolls, its tempo (when
 * stopped, the guess for the player's beat), and where its bars begin (bars end on the
 * host's bar lines). The tempo follower makes of it what every host's does (run()). */
static void follow_position(Continuo *self, const LV2_Atom_Object *obj, uint32_t offset)
{
    const Uris *u = &self->uris;
    const LV2_Atom *bpm = NULL, *bar_beat = NULL, *speed = NULL;
    lv2_atom_object_get(obj, u->time_beatsPerMinute, &bpm, u->time_barBeat, &bar_beat,
                        u->time_speed, &speed, 0);
    CnTransport *t = &self->transport;
    t->rolling = atom_number(u, speed, t->rolling) != 0;
    double tempo = atom_number(u, bpm, t->bpm);
    if (!cn_bpm_in_range(tempo))
        return;
    t->bpm = tempo;
    if (bar_beat) { /* back to the bar's first beat */
        uint64_t now = self->frame + offset;
        double back = fmax(0, atom_number(u, bar_beat, 0)) * self->sample_rate * 60.0 / tempo;
        t->bar_frame = now - (uint64_t)fmin((double)now, back);
        t->has_bar = 1;
    }
}

static void handle_patch(Continuo *self, const LV2_Atom_Object *obj)
{
    const Uris *u = &self->uris;
    const LV2_Atom *property = NULL, *value = NULL;
    if (obj->body.otype == u->patch_Get) {
        self->notify = 1;
        return;
    }
    lv2_atom_object_get(obj, u->patch_property, &property, u->patch_value, &value, 0);
    if (property && property->type == u->atom_URID &&
        ((const LV2_Atom_URID *)property)->body == u->model)
        plugin_request_load(self, value);
}

static void write_midi(Continuo *self, const CnMidiEvent *ev)
{
    if (lv2_atom_forge_frame_time(&self->forge, ev->offset))
        if (lv2_atom_forge_atom(&self->forge, ev->size, self->uris.midi_Event))
            lv2_atom_forge_write(&self->forge, ev->data, ev->size);
}

static void write_model_path(Continuo *self)
{
    const Uris *u = &self->uris;
    const char *path = self->current->path;
    LV2_Atom_Forge_Frame frame;
    if (!lv2_atom_forge_frame_time(&self->forge, 0) ||
        !lv2_atom_forge_object(&self->forge, &frame, 0, u->patch_Set))
        return;
    lv2_atom_forge_key(&self->forge, u->patch_property);
    lv2_atom_forge_urid(&self->forge, u->model);
    lv2_atom_forge_key(&self->forge, u->patch_value);
    lv2_atom_forge_path(&self->forge, path, (uint32_t)strlen(path));
    lv2_atom_forge_pop(&self->forge, &frame);
}

static int is_midi_message(const LV2_Atom_Event *ev)
{
    const uint8_t *b = (const uint8_t *)LV2_ATOM_BODY_CONST(&ev->body);
    return ev->body.size >= 1 && (b[0] & 0x80);
}

/* The cycle's MIDI into in_events; transport and patch messages acted on. */
static int read_input(Continuo *self, uint32_t n_frames, int enabled)
{
    const Uris *u = &self->uris;
    int n_in = 0;
    if (!self->in)
        return 0;
    LV2_ATOM_SEQUENCE_FOREACH(self->in, ev)
    {
        uint32_t offset = ev->time.frames < n_frames ? (uint32_t)ev->time.frames : 0;
        if (ev->body.type == u->midi_Event && is_midi_message(ev)) {
            if (n_in < MAX_IN)
                self->in_events[n_in++] = (CnMidiEvent){
                    .offset = offset, .size = ev->body.size,
                    .data = (const uint8_t *)LV2_ATOM_BODY_CONST(&ev->body)};
            self->poked |= enabled;
        } else if (ev->body.type == u->atom_Object || ev->body.type == u->atom_Blank) {
            const LV2_Atom_Object *obj = (const LV2_Atom_Object *)&ev->body;
            if (obj->body.otype == u->time_Position) {
                follow_position(self, obj, offset);
                self->poked = 1;
            } else if (obj->body.otype == u->patch_Set || obj->body.otype == u->patch_Get) {
                handle_patch(self, obj);
            }
        }
    }
    return n_in;
}

/* The call-and-response ports, as the engine's controls: end call and mutate when turned
 * on, loop when it changes. */
static void press_buttons(Continuo *self, CnEngine *e)
{
    const struct { int port, *was, control, level; } buttons[3] = {
        {PORT_END_CALL, &self->was_end_call, CN_CONTROL_END_CALL, 0},
        {PORT_MUTATE, &self->was_mutate, CN_CONTROL_MUTATE, 0},
        {PORT_LOOP, &self->was_loop, CN_CONTROL_LOOP, 1}};
    for (int i = 0; i < 3; i++) {
        int now = plugin_control(self, buttons[i].port, 0, 0, 1) >= 0.5f;
        int changed = now != *buttons[i].was;
        *buttons[i].was = now;
        if (changed && (now || buttons[i].level)) {
            cn_engine_rt_control(e, (CnControl)buttons[i].control, now ? 127 : 0);
            self->poked = 1;
        }
    }
}

/* One worker pass at a time, and only when there is something to do: input or a change
 * came, or the engine's next deadline falls in this cycle. */
static void ask_for_pass(Continuo *self, uint32_t n_frames)
{
    CnEngineOptions now = plugin_options_from_controls(self);
    int configure = self->configure_next || !plugin_same_controls(&now, &self->sent);
    if (atomic_load(&self->pass_pending) ||
        !(self->poked || configure || self->path_refused ||
          self->frame + n_frames >= atomic_load(&self->due_frame)))
        return;
    WorkMessage msg = {.type = WORK_PASS, .loaded = self->current, .configure = configure,
                       .path_refused = self->path_refused, .options = now};
    atomic_store(&self->pass_pending, 1);
    if (self->schedule->schedule_work(self->schedule->handle, sizeof msg, &msg) !=
        LV2_WORKER_SUCCESS) {
        atomic_store(&self->pass_pending, 0);
        return;
    }
    self->poked = 0;
    self->path_refused = 0;
    if (configure) {
        self->sent = now;
        self->configure_next = 0;
    }
}

/* Cycles the host skipped. A host on a loaded machine may leave a late plugin out of a
 * cycle (JACK does), and the frames run() counts then fall behind the host's: answers placed
 * on the count would slip off the beat by a cycle each time. With the transport stopped
 * nothing else tells the time, so the wall clock does (clock_gettime reads it without a
 * system call or a lock). A run() may start late but never early, so the smallest lag (wall
 * time less frames counted) over a window of SKIP_WINDOW_SECONDS is where the host's time
 * stands; when it has moved on by a cycle or more since the last window, those cycles were
 * skipped. Slow drift between the audio and the wall clock is followed, window by window,
 * never taken for a skip; a gap longer than SKIP_MOST_SECONDS is a host that paused, not a
 * skip, and is not counted. Rolling, the host's position decides instead. */
#define SKIP_WINDOW_SECONDS 0.6
#define SKIP_MOST_SECONDS 0.5

static uint64_t skipped_frames(Continuo *self, uint32_t n_frames)
{
    SkipClock *c = &self->skips;
    if (self->transport.rolling) {
        c->window_start = 0;
        c->have_last = 0;
        return 0;
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double now = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
    double lag = now - (double)self->frame / self->sample_rate;
    if (c->window_start == 0) {
        c->window_start = now;
        c->lowest_lag = lag;
        return 0;
    }
    c->lowest_lag = lag < c->lowest_lag ? lag : c->lowest_lag;
    if (now - c->window_start < SKIP_WINDOW_SECONDS)
        return 0;
    double lowest = c->lowest_lag, cycle = (double)n_frames / self->sample_rate;
    double step = c->have_last ? lowest - c->last_lowest : 0;
    uint64_t cycles = 0;
    if (step >= 0.5 * cycle && step <= SKIP_MOST_SECONDS)
        cycles = (uint64_t)floor(step / cycle + 0.5);
    c->have_last = 1;
    c->last_lowest = lowest - (double)cycles * cycle;
    c->window_start = now;
    c->lowest_lag = lag - (double)cycles * cycle;
    c->skipped += cycles * n_frames;
    return cycles * n_frames;
}

/* Audio thread. */
void plugin_run(LV2_Handle instance, uint32_t n_frames)
{
    Continuo *self = instance;
    if (!self->out)
        return;
    uint32_t capacity = self->out->atom.size;
    lv2_atom_forge_set_buffer(&self->forge, (uint8_t *)self->out, capacity);
    LV2_Atom_Forge_Frame seq;
    lv2_atom_forge_sequence_head(&self->forge, &seq, 0);
    if (n_frames == 0) { /* an empty cycle: an empty sequence out */
        lv2_atom_forge_pop(&self->forge, &seq);
        return;
    }
    self->frame += skipped_frames(self, n_frames);

    int room = (int)(capacity / 24) - 8; /* a MIDI event takes 24 bytes of the sequence */
    room = room < 0 ? 0 : room > MAX_OUT ? MAX_OUT : room;
    int n_out = 0;
    if (self->pending)
        n_out = plugin_swap_model(self, self->out_events, room);
    CnEngine *e = self->current->engine;
    int enabled = plugin_control(self, PORT_ENABLE, 1, 0, 1) >= 0.5f;
    int thru = plugin_control(self, PORT_THRU, 1, 0, 1) >= 0.5f;
    if (self->was_enabled && !enabled) {
        cn_engine_rt_panic(e);
        self->poked = 1;
    }
    self->was_enabled = enabled;

    int n_in = read_input(self, n_frames, enabled);
    cn_tempo_follow(&self->tempo, &self->transport, self->frame);
    cn_engine_rt_follow(e, &self->tempo);
    press_buttons(self, e);
    unsigned flags = (thru || !enabled ? CN_CYCLE_THRU : 0) | (enabled ? 0 : CN_CYCLE_DEAF);
    n_out += cn_engine_rt_cycle(e, self->frame, n_frames, self->in_events, n_in, flags,
                                self->out_events + n_out, room - n_out);
    if (self->notify) {
        write_model_path(self);
        self->notify = 0;
    }
    for (int i = 0; i < n_out; i++)
        write_midi(self, &self->out_events[i]);
    lv2_atom_forge_pop(&self->forge, &seq);

    plugin_send_load(self);
    ask_for_pass(self, n_frames);
    if (self->late) /* as the JACK client counts them at exit */
        *self->late = (float)cn_engine_rt_late(e);
    self->frame += n_frames;
}
