/* continuo.lv2: the plugin's instance, shared by its files, each named for the thread its
 * callbacks run on:
 *   plugin.c    instantiate, connect_port, cleanup: the host's main thread
 *   run.c       activate, run: the audio thread (with controls.c)
 *   models.c    loading and freeing models: the worker thread
 *   swap.c      a model's path handed to the worker, a loaded model swapped in: the
 *               audio thread
 *   state.c     save, restore: the host's main thread (save may run beside run())
 * The instance's fields are grouped by the thread that owns them. */
#ifndef CONTINUO_LV2_H
#define CONTINUO_LV2_H

#include <stdatomic.h>

#include <lv2/atom/forge.h>
#include <lv2/core/lv2.h>
#include <lv2/log/logger.h>
#include <lv2/state/state.h>
#include <lv2/worker/worker.h>

#include "continuo/engine.h"
#include "continuo/tempo.h"
#include "uris.h"

#define DEFAULT_MODEL "default.cnw"
#define MAX_PATH 4096
#define MAX_IN 512  /* player events one run() takes */
#define MAX_OUT 512 /* events one run() writes at most */

enum {
    PORT_IN, PORT_OUT, PORT_ENABLE, PORT_MODE, PORT_WAIT, PORT_LENGTH, PORT_TEMPERATURE,
    PORT_TOP_P, PORT_CHANNEL, PORT_THRU, PORT_END_CALL, PORT_MUTATE, PORT_LOOP,
    PORT_MIN_LISTEN, PORT_MAX_LISTEN, PORT_LENGTH_CALL, PORT_STATE_CC, PORT_LATE,
    PORT_FIXED_GRID, N_PORTS
};

/* A model and the engine playing it; made and freed outside the audio thread. */
typedef struct {
    CnModel model;
    CnEngine *engine;
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

/* The path travels in the instance's load_path, not in the message: a host's worker ring
 * may be smaller than a long path. */
typedef struct {
    uint32_t type;           /* WORK_LOAD */
    CnEngineOptions options; /* the controls when it was asked: the worker reads no port */
} LoadMessage;

/* The wall clock at each run(), to find the cycles a host did not run (run.c). */
typedef struct {
    double window_start; /* wall time the current window began; 0: none yet */
    double lowest_lag;   /* the window's smallest lag: wall time less the frames counted */
    double last_lowest;  /* the previous window's, less the skips it showed */
    int have_last;
    uint64_t skipped;    /* frames counted in for skipped cycles, in all */
} SkipClock;

typedef struct {
    /* Set by instantiate, read-only after */
    LV2_URID_Map *map;
    LV2_Worker_Schedule *schedule;
    LV2_Log_Logger logger;
    Uris uris;
    double sample_rate;
    CnEngineOptions defaults;      /* the engine's, at this rate: the controls' fallbacks */

    /* The host's port buffers (connect_port) */
    const LV2_Atom_Sequence *in;
    LV2_Atom_Sequence *out;
    const float *control[N_PORTS];
    float *late;                   /* the output port counting late notes, or NULL */

    /* Audio thread: run(), activate(), work_response() */
    LV2_Atom_Forge forge;
    Loaded *current, *pending;     /* playing, and waiting to be swapped in */
    int poked;                     /* the engine got something since the last pass */
    uint64_t frame;                /* frames since instantiation, skipped cycles counted */
    SkipClock skips;               /* finds the cycles the host skipped (run.c) */
    CnTransport transport;         /* the host's, as its position atoms said it last */
    CnTempoFollower tempo;
    int was_enabled, notify;
    CnEngineOptions sent;          /* the options the worker last got */
    int configure_next;            /* send them with the next pass even if unchanged */
    char request_path[MAX_PATH];   /* a model the host asked for, until the worker is free */
    int request_pending, path_refused;
    CnMidiEvent in_events[MAX_IN], out_events[MAX_OUT];
    int was_end_call, was_mutate, was_loop; /* the call-and-response ports last cycle */

    /* Audio thread <-> worker */
    _Atomic int pass_pending;      /* a worker pass is scheduled and not done */
    _Atomic uint64_t due_frame;    /* the last pass wants the next one by this frame */
    char load_path[MAX_PATH];      /* the worker's until it clears load_busy */
    _Atomic int load_busy;

    /* Audio thread -> save(), which may run beside run(): the current model's path in two
       slots, the one not being read is written, then the index flips */
    char path_slot[2][MAX_PATH];
    _Atomic int path_index;
} Continuo;

/* controls.c (audio thread, or any) */
float plugin_control(const Continuo *self, int port, float fallback, float lo, float hi);
CnEngineOptions plugin_options_from_controls(const Continuo *self);
int plugin_same_controls(const CnEngineOptions *a, const CnEngineOptions *b);

/* run.c (audio thread) */
void plugin_activate(LV2_Handle instance);
void plugin_run(LV2_Handle instance, uint32_t n_frames);

/* models.c (worker thread; main thread in instantiate, restore, cleanup) */
Loaded *plugin_load_model(Continuo *self, const char *path, const CnEngineOptions *options);
void plugin_free_loaded(Loaded *loaded);
LV2_Worker_Status plugin_work(LV2_Handle instance, LV2_Worker_Respond_Function respond,
                              LV2_Worker_Respond_Handle handle, uint32_t size,
                              const void *data);

/* swap.c (audio thread) */
void plugin_publish_path(Continuo *self, const char *path);
void plugin_request_load(Continuo *self, const LV2_Atom *value);
void plugin_send_load(Continuo *self);
int plugin_swap_model(Continuo *self, CnMidiEvent *out, int max_out);
LV2_Worker_Status plugin_work_response(LV2_Handle instance, uint32_t size, const void *data);

/* state.c (main thread) */
LV2_State_Status plugin_save(LV2_Handle instance, LV2_State_Store_Function store,
                             LV2_State_Handle handle, uint32_t flags,
                             const LV2_Feature *const *features);
LV2_State_Status plugin_restore(LV2_Handle instance, LV2_State_Retrieve_Function retrieve,
                                LV2_State_Handle handle, uint32_t flags,
                                const LV2_Feature *const *features);

#endif
