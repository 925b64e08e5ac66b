/* Models in the plugin, off the audio thread: loaded and freed on the host's worker
 * thread (or in instantiate, restore and cleanup), and the worker's other job, an engine
 * pass. The audio thread's side of a model change is swap.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "continuo.h"

/* Worker thread (or main thread: instantiate, restore). */
Loaded *plugin_load_model(Continuo *self, const char *path, const CnEngineOptions *options)
{
    if (strlen(path) >= MAX_PATH) {
        lv2_log_error(&self->logger, "continuo: model path too long: %.64s...\n", path);
        return NULL;
    }
    Loaded *l = calloc(1, sizeof *l);
    if (!l) {
        lv2_log_error(&self->logger, "continuo: out of memory loading %s\n", path);
        return NULL;
    }
    strcpy(l->path, path);
    CnError err = {{0}};
    if (cn_model_load(&l->model, path, 0, NULL, &err) || cn_model_pack_f32(&l->model, &err)) {
        lv2_log_error(&self->logger, "continuo: cannot load the model: %s\n", err.message);
        free(l);
        return NULL;
    }
    CnEngineOptions o = *options;
    o.sample_rate = self->sample_rate;
    l->engine = cn_engine_new(&l->model, &o, &err);
    if (!l->engine) {
        lv2_log_error(&self->logger, "continuo: cannot start the engine: %s\n", err.message);
        cn_model_free(&l->model);
        free(l);
        return NULL;
    }
    lv2_log_note(&self->logger, "continuo: loaded %s\n", path);
    return l;
}

/* Worker thread (or main thread: restore, cleanup). */
void plugin_free_loaded(Loaded *l)
{
    if (!l)
        return;
    cn_engine_free(l->engine);
    cn_model_free(&l->model);
    free(l);
}

/* Worker thread: an engine pass, a model to load, or an old model to free. */
LV2_Worker_Status plugin_work(LV2_Handle instance, LV2_Worker_Respond_Function respond,
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
        if (msg.configure && cn_engine_configure(msg.loaded->engine, &msg.options, &err))
            lv2_log_warning(&self->logger, "continuo: %s\n", err.message);
        if (msg.path_refused)
            lv2_log_warning(&self->logger, "continuo: cannot load the model: its path is "
                                           "longer than %d bytes\n", MAX_PATH - 1);
        atomic_store(&self->due_frame, cn_engine_work(msg.loaded->engine));
        atomic_store(&self->pass_pending, 0);
    } else if (type == WORK_LOAD && size == sizeof(LoadMessage)) {
        LoadMessage msg;
        memcpy(&msg, data, size);
        char path[MAX_PATH];
        memcpy(path, self->load_path, sizeof path);
        atomic_store(&self->load_busy, 0);
        Loaded *l = plugin_load_model(self, path, &msg.options);
        if (!l) /* plugin_load_model said why */
            lv2_log_note(&self->logger, "continuo: the session keeps %s as its model (saved "
                                        "as chosen); the previous model plays meanwhile\n",
                         path);
        if (l) {
            WorkMessage reply = {.type = WORK_LOADED, .loaded = l};
            if (respond(handle, sizeof reply, &reply) != LV2_WORKER_SUCCESS)
                plugin_free_loaded(l);
        }
    } else if (type == WORK_FREE && size == sizeof(WorkMessage)) {
        WorkMessage msg;
        memcpy(&msg, data, sizeof msg);
        plugin_free_loaded(msg.loaded);
    } else {
        return LV2_WORKER_ERR_UNKNOWN;
    }
    return LV2_WORKER_SUCCESS;
}
