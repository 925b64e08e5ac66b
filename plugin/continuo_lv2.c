/* continuo as an LV2 plugin: a MIDI generator that plays along with the MIDI coming in.
 * run() only moves events (host atoms -> the engine's rings -> host atoms) and asks the
 * host's worker for a pass of the engine; the model steps, and loading a model, happen in
 * work(). A newly loaded model arrives through work_response() and is swapped in at the
 * start of the next run(), after the old one's notes are released. */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lv2/atom/forge.h>
#include <lv2/atom/util.h>
#include <lv2/core/lv2.h>
#include <lv2/core/lv2_util.h>
#include <lv2/log/logger.h>
#include <lv2/midi/midi.h>
#include <lv2/patch/patch.h>
#include <lv2/state/state.h>
#include <lv2/time/time.h>
#include <lv2/urid/urid.h>
#include <lv2/worker/worker.h>

#include "continuo/engine.h"

#define CONTINUO_URI "urn:continuo:generator"
#define CONTINUO_MODEL CONTINUO_URI "#model"
#define DEFAULT_MODEL "default.cnw"
#define MAX_PATH 4096
#define MAX_OUT 512 /* events one run() writes at most */

enum {
    PORT_IN, PORT_OUT, PORT_ENABLE, PORT_MODE, PORT_WAIT, PORT_LENGTH, PORT_TEMPERATURE,
    PORT_TOP_P, PORT_CHANNEL, PORT_THRU, N_PORTS
};

typedef struct {
    LV2_URID atom_Path, atom_Float, atom_Double, atom_Int, atom_Long, atom_URID, atom_Object,
        atom_Blank, atom_Sequence, midi_Event, time_Position, time_beatsPerMinute, time_barBeat,
        time_speed, patch_Set, patch_Get, patch_property, patch_value, model;
} Uris;

/* A model and the engine playing it; made and freed in the worker. */
typedef struct {
    CnModel model;
    CnEngine engine;
    char path[MAX_PATH];
} Loaded;

typedef enum { WORK_PASS, WORK_LOAD, WORK_FREE, WORK_LOADED } WorkType;

typedef struct {
    uint32_t type;
    Loaded *loaded;
    int configure;           /* WORK_PASS: the controls changed, apply options first */
    int path_refused;        /* WORK_PASS: a model path too long to load came in */
    CnEngineOptions options;
} WorkMessage;

/* The path travels in the plugin's load_path, not in the message: a host's worker ring
 * may be smaller than a long path. */
typedef struct {
    uint32_t type;           /* WORK_LOAD */
    CnEngineOptions options; /* the controls when it was asked: the worker reads no port */
} LoadMessage;

typedef struct {
    uint32_t offset;
    uint8_t bytes[3];
} OutEvent;

typedef struct {
    const LV2_Atom_Sequence *in;
    LV2_Atom_Sequence *out;
    const float *control[N_PORTS];
    LV2_URID_Map *map;
    LV2_Worker_Schedule *schedule;
    LV2_Log_Logger logger;
    LV2_Atom_Forge forge;
    Uris uris;
    double sample_rate;
    char bundle_path[MAX_PATH];

    Loaded *current, *pending;     /* RT side: playing, and waiting to be swapped in */
    _Atomic int pass_pending;      /* a worker pass is scheduled and not done */
    _Atomic uint64_t due_frame;    /* the last pass wants the next one by this frame */
    int poked;                     /* the engine got something since the last pass */
    uint64_t frame;                /* frames since instantiation */
    double bpm, speed;
    uint64_t beat_frame;
    int was_enabled, notify;
    CnEngineOptions sent;          /* the options the worker last got */
    int configure_next;            /* send them with the next pass even if unchanged */
    OutEvent events[MAX_OUT];      /* what the engine writes this cycle */
    int n_out;
    /* The current model's path for save(), which may run beside run(): two slots, the one
       not being read is written, then the index flips. */
    char path_slot[2][MAX_PATH];
    _Atomic int path_index;
    /* A model the host asked for: kept by run() until the worker is free to load it (the
       latest ask wins), then copied to load_path, which the worker reads. */
    char request_path[MAX_PATH];
    int request_pending, path_refused;
    char load_path[MAX_PATH];
    _Atomic int load_busy;         /* load_path is the worker's until it clears this */
} Continuo;

static void map_uris(LV2_URID_Map *map, Uris *u)
{
    u->atom_Path = map->map(map->handle, LV2_ATOM__Path);
    u->atom_Float = map->map(map->handle, LV2_ATOM__Float);
    u->atom_Double = map->map(map->handle, LV2_ATOM__Double);
    u->atom_Int = map->map(map->handle, LV2_ATOM__Int);
    u->atom_Long = map->map(map->handle, LV2_ATOM__Long);
    u->atom_URID = map->map(map->handle, LV2_ATOM__URID);
    u->atom_Object = map->map(map->handle, LV2_ATOM__Object);
    u->atom_Blank = map->map(map->handle, LV2_ATOM__Blank);
    u->atom_Sequence = map->map(map->handle, LV2_ATOM__Sequence);
    u->midi_Event = map->map(map->handle, LV2_MIDI__MidiEvent);
    u->time_Position = map->map(map->handle, LV2_TIME__Position);
    u->time_beatsPerMinute = map->map(map->handle, LV2_TIME__beatsPerMinute);
    u->time_barBeat = map->map(map->handle, LV2_TIME__barBeat);
    u->time_speed = map->map(map->handle, LV2_TIME__speed);
    u->patch_Set = map->map(map->handle, LV2_PATCH__Set);
    u->patch_Get = map->map(map->handle, LV2_PATCH__Get);
    u->patch_property = map->map(map->handle, LV2_PATCH__property);
    u->patch_value = map->map(map->handle, LV2_PATCH__value);
    u->model = map->map(map->handle, CONTINUO_MODEL);
}

/* ----- Models: loaded and freed outside the audio thread ----- */

static Loaded *load_model(Continuo *self, const char *path, const CnEngineOptions *options)
{
    Loaded *l = calloc(1, sizeof *l);
    CnError err = {{0}};
    if (!l) {
        lv2_log_error(&self->logger, "continuo: out of memory loading %s\n", path);
        return NULL;
    }
    if (strlen(path) >= MAX_PATH) {
        lv2_log_error(&self->logger, "continuo: model path too long: %.64s...\n", path);
        free(l);
        return NULL;
    }
    strcpy(l->path, path);
    if (cn_model_load(&l->model, path, 0, NULL, &err) || cn_model_pack_f32(&l->model, &err)) {
        lv2_log_error(&self->logger, "continuo: cannot load the model: %s\n", err.message);
        free(l);
        return NULL;
    }
    CnEngineOptions o = *options;
    o.sample_rate = self->sample_rate;
    if (cn_engine_init(&l->engine, &l->model, &o, &err)) {
        lv2_log_error(&self->logger, "continuo: cannot start the engine: %s\n", err.message);
        cn_model_free(&l->model);
        free(l);
        return NULL;
    }
    lv2_log_note(&self->logger, "continuo: loaded %s\n", path);
    return l;
}

static void free_loaded(Loaded *l)
{
    if (!l)
        return;
    cn_engine_stop(&l->engine);
    cn_model_free(&l->model);
    free(l);
}

/* ----- Controls ----- */

static float control(const Continuo *self, int port, float fallback, float lo, float hi)
{
    const float *p = self->control[port];
    if (!p || !isfinite(*p))
        return fallback;
    return *p < lo ? lo : *p > hi ? hi : *p;
}

static CnEngineOptions options_from_controls(const Continuo *self)
{
    CnEngineOptions o = cn_engine_defaults(self->sample_rate);
    o.mode = control(self, PORT_MODE, 0, 0, 1) >= 0.5f ? CN_PLAY_CONTINUOUS : CN_PLAY_RESPOND;
    o.wait_beats = control(self, PORT_WAIT, 2, 0, 16);
    o.length = (int)lrintf(control(self, PORT_LENGTH, 32, 1, 256));
    o.sampler.temperature = control(self, PORT_TEMPERATURE, 0.9f, 0, 2);
    o.sampler.top_p = control(self, PORT_TOP_P, 0.95f, 0.05f, 1);
    o.channel = (uint8_t)(lrintf(control(self, PORT_CHANNEL, 1, 1, 16)) - 1);
    if (self->bpm >= 10 && self->bpm <= 400)
        o.bpm = self->bpm;
    return o;
}

static int same_controls(const CnEngineOptions *a, const CnEngineOptions *b)
{
    return a->mode == b->mode && a->wait_beats == b->wait_beats && a->length == b->length &&
           a->sampler.temperature == b->sampler.temperature &&
           a->sampler.top_p == b->sampler.top_p && a->channel == b->channel;
}

/* ----- LV2 ----- */

static LV2_Handle instantiate(const LV2_Descriptor *descriptor, double rate,
                              const char *bundle_path, const LV2_Feature *const *features)
{
    (void)descriptor;
    Continuo *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    LV2_Log_Log *log = NULL;
    const char *missing = lv2_features_query(features, LV2_LOG__log, &log, false,
                                             LV2_URID__map, &self->map, true,
                                             LV2_WORKER__schedule, &self->schedule, true, NULL);
    lv2_log_logger_init(&self->logger, self->map, log);
    if (missing) {
        lv2_log_error(&self->logger, "continuo: the host lacks the feature <%s>\n", missing);
        free(self);
        return NULL;
    }
    map_uris(self->map, &self->uris);
    lv2_atom_forge_init(&self->forge, self->map);
    self->sample_rate = rate;
    self->bpm = 120;
    self->was_enabled = 1;
    char path[MAX_PATH + 32];
    snprintf(self->bundle_path, sizeof self->bundle_path, "%s", bundle_path);
    snprintf(path, sizeof path, "%s%s%s", bundle_path,
             bundle_path[0] && bundle_path[strlen(bundle_path) - 1] == '/' ? "" : "/",
             DEFAULT_MODEL);
    self->sent = options_from_controls(self);
    self->current = load_model(self, path, &self->sent);
    if (!self->current) {
        free(self);
        return NULL;
    }
    strcpy(self->path_slot[0], self->current->path);
    return self;
}

static void connect_port(LV2_Handle instance, uint32_t port, void *data)
{
    Continuo *self = instance;
    if (port == PORT_IN)
        self->in = data;
    else if (port == PORT_OUT)
        self->out = data;
    else if (port < N_PORTS)
        self->control[port] = data;
}

static void activate(LV2_Handle instance)
{
    Continuo *self = instance;
    cn_engine_panic(&self->current->engine); /* whatever sounded before is released */
    self->poked = 1;
}

static void collect(uint32_t offset, const uint8_t *bytes, int size, void *user)
{
    Continuo *self = user;
    if (size == 3 && self->n_out < MAX_OUT) {
        OutEvent *e = &self->events[self->n_out++];
        e->offset = offset;
        memcpy(e->bytes, bytes, 3);
    }
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

/* The host's transport: tempo, where the beat falls, and whether it rolls. */
static void follow_position(Continuo *self, const LV2_Atom_Object *obj, uint32_t offset)
{
    const Uris *u = &self->uris;
    const LV2_Atom *bpm = NULL, *bar_beat = NULL, *speed = NULL;
    lv2_atom_object_get(obj, u->time_beatsPerMinute, &bpm, u->time_barBeat, &bar_beat,
                        u->time_speed, &speed, 0);
    CnEngine *e = &self->current->engine;
    double new_speed = atom_number(u, speed, self->speed);
    if (self->speed != 0 && new_speed == 0)
        cn_engine_panic(e); /* the transport stopped: so does the music */
    self->speed = new_speed;
    double tempo = atom_number(u, bpm, self->bpm);
    if (!(tempo >= 10 && tempo <= 400))
        return;
    self->bpm = tempo;
    uint64_t now = self->frame + offset;
    if (bar_beat) {
        double beat = atom_number(u, bar_beat, 0), into = beat - floor(beat);
        double back = into * self->sample_rate * 60.0 / tempo;
        self->beat_frame = now - (uint64_t)fmin((double)now, back);
    }
    cn_engine_set_tempo(e, tempo, self->beat_frame);
}

static void request_load(Continuo *self, const LV2_Atom *value)
{
    if (!value || value->type != self->uris.atom_Path || value->size == 0)
        return;
    if (value->size >= MAX_PATH) { /* said by the next worker pass (no logging here) */
        self->path_refused = 1;
        return;
    }
    memcpy(self->request_path, LV2_ATOM_BODY_CONST(value), value->size);
    self->request_path[value->size] = '\0';
    self->request_pending = 1;
}

/* Hands the requested model to the worker once it is free; retried every cycle until the
 * host's worker takes the message. */
static void send_load(Continuo *self)
{
    if (!self->request_pending || atomic_load(&self->load_busy))
        return;
    memcpy(self->load_path, self->request_path, strlen(self->request_path) + 1);
    atomic_store(&self->load_busy, 1);
    LoadMessage msg = {.type = WORK_LOAD, .options = options_from_controls(self)};
    if (self->schedule->schedule_work(self->schedule->handle, sizeof msg, &msg) ==
        LV2_WORKER_SUCCESS)
        self->request_pending = 0;
    else
        atomic_store(&self->load_busy, 0);
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
        request_load(self, value);
}

static void write_midi(Continuo *self, uint32_t offset, const uint8_t *bytes, uint32_t size)
{
    if (lv2_atom_forge_frame_time(&self->forge, offset))
        if (lv2_atom_forge_atom(&self->forge, size, self->uris.midi_Event))
            lv2_atom_forge_write(&self->forge, bytes, size);
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

/* A model loaded in the worker takes over: the old one's notes are released first. */
static void swap_model(Continuo *self)
{
    Loaded *old = self->current;
    cn_engine_rt_release_all(&old->engine, MAX_OUT - self->n_out, collect, self);
    self->current = self->pending;
    self->pending = NULL;
    cn_engine_set_tempo(&self->current->engine, self->bpm, self->beat_frame);
    int next = 1 - atomic_load(&self->path_index);
    strcpy(self->path_slot[next], self->current->path);
    atomic_store(&self->path_index, next);
    WorkMessage msg = {.type = WORK_FREE, .loaded = old};
    if (self->schedule->schedule_work(self->schedule->handle, sizeof msg, &msg) !=
        LV2_WORKER_SUCCESS) {
        /* no room to hand it back: keep it playing silently until there is */
        self->pending = self->current;
        self->current = old;
        return;
    }
    self->configure_next = 1; /* the new engine gets the controls on its first pass */
    self->notify = 1;
}

static int is_midi_message(const LV2_Atom_Event *ev)
{
    const uint8_t *b = (const uint8_t *)LV2_ATOM_BODY_CONST(&ev->body);
    return ev->body.size >= 1 && (b[0] & 0x80);
}

static void run(LV2_Handle instance, uint32_t n_frames)
{
    Continuo *self = instance;
    const Uris *u = &self->uris;
    if (!self->out)
        return;
    self->n_out = 0;
    uint32_t capacity = self->out->atom.size;
    lv2_atom_forge_set_buffer(&self->forge, (uint8_t *)self->out, capacity);
    LV2_Atom_Forge_Frame seq;
    lv2_atom_forge_sequence_head(&self->forge, &seq, 0);
    if (n_frames == 0) { /* an empty cycle: an empty sequence out */
        lv2_atom_forge_pop(&self->forge, &seq);
        return;
    }

    if (self->pending)
        swap_model(self);
    CnEngine *e = &self->current->engine;
    cn_engine_rt_clock(e, self->frame);
    int enabled = control(self, PORT_ENABLE, 1, 0, 1) >= 0.5f;
    int thru = control(self, PORT_THRU, 1, 0, 1) >= 0.5f;
    if (self->was_enabled && !enabled) {
        cn_engine_panic(e);
        self->poked = 1;
    }
    self->was_enabled = enabled;

    const LV2_Atom_Event *thru_events[MAX_OUT];
    int n_thru = 0;
    if (self->in) {
        LV2_ATOM_SEQUENCE_FOREACH(self->in, ev)
        {
            uint32_t offset = ev->time.frames < n_frames ? (uint32_t)ev->time.frames : 0;
            if (ev->body.type == u->midi_Event && is_midi_message(ev)) {
                if (enabled) {
                    cn_engine_rt_input(e, self->frame + offset, LV2_ATOM_BODY_CONST(&ev->body),
                                       ev->body.size);
                    self->poked = 1;
                }
                if ((thru || !enabled) && n_thru < MAX_OUT)
                    thru_events[n_thru++] = ev;
            } else if (ev->body.type == u->atom_Object || ev->body.type == u->atom_Blank) {
                const LV2_Atom_Object *obj = (const LV2_Atom_Object *)&ev->body;
                if (obj->body.otype == u->time_Position) {
                    follow_position(self, obj, offset);
                    self->poked = 1;
                }
                else if (obj->body.otype == u->patch_Set || obj->body.otype == u->patch_Get)
                    handle_patch(self, obj);
            }
        }
    }

    int room = (int)(capacity / 24) - 8; /* a MIDI event takes 24 bytes of the sequence */
    if (room > MAX_OUT - self->n_out)
        room = MAX_OUT - self->n_out;
    if (room > n_thru)
        cn_engine_rt_output(e, self->frame, n_frames, room - n_thru, collect, self);

    if (self->notify) {
        write_model_path(self);
        self->notify = 0;
    }
    /* the engine's events and the player's (thru), merged in time order */
    int i = 0, j = 0;
    uint32_t last = 0; /* a sequence's times never go back */
    while (i < self->n_out || j < n_thru) {
        uint32_t t_out = i < self->n_out ? self->events[i].offset : UINT32_MAX;
        uint32_t t_thru = j < n_thru ? (uint32_t)thru_events[j]->time.frames : UINT32_MAX;
        uint32_t t = t_out <= t_thru ? t_out : t_thru;
        t = t < last ? last : t >= n_frames ? n_frames - 1 : t;
        last = t;
        if (t_out <= t_thru) {
            write_midi(self, t, self->events[i++].bytes, 3);
        } else {
            const LV2_Atom_Event *ev = thru_events[j++];
            write_midi(self, t, LV2_ATOM_BODY_CONST(&ev->body), ev->body.size);
        }
    }
    lv2_atom_forge_pop(&self->forge, &seq);

    /* One worker pass at a time, and only when there is something to do: input or a change
       came, or the engine's next deadline falls in this cycle. */
    CnEngineOptions now = options_from_controls(self);
    int configure = self->configure_next || !same_controls(&now, &self->sent);
    send_load(self);
    if (!atomic_load(&self->pass_pending) &&
        (self->poked || configure || self->path_refused ||
         self->frame + n_frames >= atomic_load(&self->due_frame))) {
        WorkMessage msg = {.type = WORK_PASS, .loaded = self->current, .configure = configure,
                           .path_refused = self->path_refused, .options = now};
        atomic_store(&self->pass_pending, 1);
        if (self->schedule->schedule_work(self->schedule->handle, sizeof msg, &msg) ==
            LV2_WORKER_SUCCESS) {
            self->poked = 0;
            self->path_refused = 0;
            if (msg.configure) {
                self->sent = now;
                self->configure_next = 0;
            }
        } else {
            atomic_store(&self->pass_pending, 0);
        }
    }
    self->frame += n_frames;
}

static LV2_Worker_Status work(LV2_Handle instance, LV2_Worker_Respond_Function respond,
                              LV2_Worker_Respond_Handle handle, uint32_t size, const void *data)
{
    Continuo *self = instance;
    uint32_t type;
    if (size < sizeof type)
        return LV2_WORKER_ERR_UNKNOWN;
    memcpy(&type, data, sizeof type);
    if (type == WORK_PASS && size == sizeof(WorkMessage)) {
        WorkMessage msg;
        memcpy(&msg, data, sizeof msg);
        CnError err = {{0}};
        if (msg.configure && cn_engine_configure(&msg.loaded->engine, &msg.options, &err))
            lv2_log_warning(&self->logger, "continuo: %s\n", err.message);
        if (msg.path_refused)
            lv2_log_warning(&self->logger, "continuo: cannot load the model: its path is "
                                           "longer than %d bytes\n", MAX_PATH - 1);
        atomic_store(&self->due_frame, cn_engine_work(&msg.loaded->engine));
        atomic_store(&self->pass_pending, 0);
    } else if (type == WORK_LOAD && size == sizeof(LoadMessage)) {
        LoadMessage msg;
        memcpy(&msg, data, size);
        char path[MAX_PATH];
        memcpy(path, self->load_path, sizeof path);
        atomic_store(&self->load_busy, 0);
        Loaded *l = load_model(self, path, &msg.options);
        if (l) { /* on failure the current model plays on; load_model said why */
            WorkMessage reply = {.type = WORK_LOADED, .loaded = l};
            if (respond(handle, sizeof reply, &reply) != LV2_WORKER_SUCCESS)
                free_loaded(l);
        }
    } else if (type == WORK_FREE && size == sizeof(WorkMessage)) {
        WorkMessage msg;
        memcpy(&msg, data, sizeof msg);
        free_loaded(msg.loaded);
    } else {
        return LV2_WORKER_ERR_UNKNOWN;
    }
    return LV2_WORKER_SUCCESS;
}

static LV2_Worker_Status work_response(LV2_Handle instance, uint32_t size, const void *data)
{
    Continuo *self = instance;
    WorkMessage msg;
    if (size != sizeof msg)
        return LV2_WORKER_ERR_UNKNOWN;
    memcpy(&msg, data, sizeof msg);
    if (msg.type != WORK_LOADED)
        return LV2_WORKER_ERR_UNKNOWN;
    if (self->pending) { /* two loads in a row: the older one never plays */
        WorkMessage drop = {.type = WORK_FREE, .loaded = self->pending};
        self->schedule->schedule_work(self->schedule->handle, sizeof drop, &drop);
    }
    self->pending = msg.loaded;
    return LV2_WORKER_SUCCESS;
}

/* A path between its absolute form and the session's (abstract) one, through the host's
 * state:mapPath when it has one; free it with free_mapped_path. */
static char *map_path(const LV2_Feature *const *features, const char *path, int to_abstract)
{
    LV2_State_Map_Path *m = lv2_features_data(features, LV2_STATE__mapPath);
    if (!m)
        return strdup(path);
    return to_abstract ? m->abstract_path(m->handle, path) : m->absolute_path(m->handle, path);
}

static void free_mapped_path(const LV2_Feature *const *features, char *path)
{
    LV2_State_Free_Path *f = lv2_features_data(features, LV2_STATE__freePath);
    if (f && lv2_features_data(features, LV2_STATE__mapPath))
        f->free_path(f->handle, path);
    else
        free(path);
}

static LV2_State_Status save(LV2_Handle instance, LV2_State_Store_Function store,
                             LV2_State_Handle handle, uint32_t flags,
                             const LV2_Feature *const *features)
{
    (void)flags;
    Continuo *self = instance;
    char path[MAX_PATH];
    memcpy(path, self->path_slot[atomic_load(&self->path_index)], MAX_PATH);
    path[MAX_PATH - 1] = '\0';
    char *stored = map_path(features, path, 1);
    if (!stored)
        return LV2_STATE_ERR_UNKNOWN;
    LV2_State_Status status = store(handle, self->uris.model, stored, strlen(stored) + 1,
                                    self->uris.atom_Path,
                                    LV2_STATE_IS_POD | LV2_STATE_IS_PORTABLE);
    free_mapped_path(features, stored);
    return status;
}

static LV2_State_Status restore(LV2_Handle instance, LV2_State_Retrieve_Function retrieve,
                                LV2_State_Handle handle, uint32_t flags,
                                const LV2_Feature *const *features)
{
    (void)flags;
    Continuo *self = instance;
    size_t size;
    uint32_t type, value_flags;
    const char *value = retrieve(handle, self->uris.model, &size, &type, &value_flags);
    if (!value)
        return LV2_STATE_SUCCESS; /* an old session without a model: keep the current one */
    if (type != self->uris.atom_Path || size == 0 || value[size - 1] != '\0')
        return LV2_STATE_ERR_BAD_TYPE;
    char *path = map_path(features, value, 0);
    if (!path)
        return LV2_STATE_ERR_UNKNOWN;
    /* restore() is never called beside run(), so the pending slot is ours to set */
    CnEngineOptions options = options_from_controls(self);
    Loaded *l = load_model(self, path, &options);
    free_mapped_path(features, path);
    if (!l)
        return LV2_STATE_ERR_UNKNOWN;
    free_loaded(self->pending);
    self->pending = l;
    return LV2_STATE_SUCCESS;
}

static void cleanup(LV2_Handle instance)
{
    Continuo *self = instance;
    free_loaded(self->pending);
    free_loaded(self->current);
    free(self);
}

static const void *extension_data(const char *uri)
{
    static const LV2_Worker_Interface worker = {work, work_response, NULL};
    static const LV2_State_Interface state = {save, restore};
    if (strcmp(uri, LV2_WORKER__interface) == 0)
        return &worker;
    if (strcmp(uri, LV2_STATE__interface) == 0)
        return &state;
    return NULL;
}

static const LV2_Descriptor descriptor = {CONTINUO_URI, instantiate, connect_port, activate,
                                          run, NULL, cleanup, extension_data};

LV2_SYMBOL_EXPORT const LV2_Descriptor *lv2_descriptor(uint32_t index)
{
    return index == 0 ? &descriptor : NULL;
}
