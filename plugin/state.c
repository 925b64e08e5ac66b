/* The plugin's state: the model's path, saved and restored through the host (main
 * thread). */
#include <stdlib.h>
#include <string.h>

#include <lv2/core/lv2_util.h>

#include "continuo.h"

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

/* Main thread, possibly beside run(): the current model's path from its slot. */
LV2_State_Status plugin_save(LV2_Handle instance, LV2_State_Store_Function store,
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

/* Main thread, never beside run(). */
LV2_State_Status plugin_restore(LV2_Handle instance, LV2_State_Retrieve_Function retrieve,
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
    /* restore() is never called beside run(), so the pending and path slots are ours */
    CnEngineOptions options = plugin_options_from_controls(self);
    Loaded *l = plugin_load_model(self, path, &options);
    plugin_publish_path(self, path); /* the session's choice, loaded or not */
    if (!l)
        lv2_log_note(&self->logger, "continuo: the session keeps %s as its model (saved as "
                                    "chosen); the current model plays meanwhile\n", path);
    free_mapped_path(features, path);
    if (l) {
        plugin_free_loaded(self->pending);
        self->pending = l;
    }
    return LV2_STATE_SUCCESS;
}

