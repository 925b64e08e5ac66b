/* A model change, the audio thread's side: the path a host sets is kept until the worker
 * is free and handed over in the instance's load_path (a host's worker ring may be smaller
 * than a path); the model the worker loaded comes back through work_response and is
 * swapped in at the start of a run(), after the old model's notes are released. */
#include <string.h>

#include "continuo.h"

/* Audio thread (or restore, never beside run()): the model the user chose, which save()
 * writes whether it loaded or not (a drive not mounted today may be tomorrow). */
void plugin_publish_path(Continuo *self, const char *path)
{
    int next = 1 - atomic_load(&self->path_index);
    size_t len = strlen(path);
    len = len < MAX_PATH - 1 ? len : MAX_PATH - 1;
    memcpy(self->path_slot[next], path, len);
    self->path_slot[next][len] = '\0';
    atomic_store(&self->path_index, next);
}

/* Audio thread: a patch:Set of the model path. Kept until the worker is free to load it;
 * the latest ask wins. */
void plugin_request_load(Continuo *self, const LV2_Atom *value)
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

/* Audio thread: hands the requested model to the worker once it is free; retried every
 * cycle until the host's worker takes the message. */
void plugin_send_load(Continuo *self)
{
    if (!self->request_pending || atomic_load(&self->load_busy))
        return;
    memcpy(self->load_path, self->request_path, strlen(self->request_path) + 1);
    atomic_store(&self->load_busy, 1);
    LoadMessage msg = {.type = WORK_LOAD, .options = plugin_options_from_controls(self)};
    if (self->schedule->schedule_work(self->schedule->handle, sizeof msg, &msg) ==
        LV2_WORKER_SUCCESS) {
        self->request_pending = 0;
        plugin_publish_path(self, self->request_path);
    } else {
        atomic_store(&self->load_busy, 0);
    }
}

/* Audio thread: the pending model takes over; the old one's note-offs go into out (their
 * count is returned) and the old one goes back to the worker to be freed. */
int plugin_swap_model(Continuo *self, CnMidiEvent *out, int max_out)
{
    Loaded *old = self->current;
    int n = cn_engine_rt_hand_over(old->engine, self->pending->engine, out, max_out);
    self->current = self->pending;
    self->pending = NULL;
    WorkMessage msg = {.type = WORK_FREE, .loaded = old};
    if (self->schedule->schedule_work(self->schedule->handle, sizeof msg, &msg) !=
        LV2_WORKER_SUCCESS) {
        /* no room to hand it back: keep it playing silently until there is */
        self->pending = self->current;
        self->current = old;
        return n;
    }
    self->configure_next = 1; /* the new engine gets the controls on its first pass */
    self->notify = 1;
    return n;
}

/* Audio thread: a model the worker loaded waits in pending for the next run(). */
LV2_Worker_Status plugin_work_response(LV2_Handle instance, uint32_t size, const void *data)
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
