/* continuo as an LV2 plugin: a MIDI generator that plays along with the MIDI coming in.
 * This file: the descriptor and the instance's life (the host's main thread). The audio
 * thread's run() is in run.c, models in models.c, state in state.c (see continuo.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lv2/core/lv2_util.h>

#include "continuo.h"

/* Main thread. */
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
    self->defaults = cn_engine_defaults(rate);
    self->transport = (CnTransport){.bpm = self->defaults.bpm};
    cn_tempo_init(&self->tempo, self->sample_rate, self->defaults.bpm, 0, 0);
    self->was_enabled = 1;
    char path[MAX_PATH + 32];
    snprintf(path, sizeof path, "%s%s%s", bundle_path,
             bundle_path[0] && bundle_path[strlen(bundle_path) - 1] == '/' ? "" : "/",
             DEFAULT_MODEL);
    self->sent = plugin_options_from_controls(self);
    self->current = plugin_load_model(self, path, &self->sent);
    if (!self->current) {
        free(self);
        return NULL;
    }
    strcpy(self->path_slot[0], self->current->path);
    return self;
}

/* Main thread (or wherever the host connects ports; never beside run()). */
static void connect_port(LV2_Handle instance, uint32_t port, void *data)
{
    Continuo *self = instance;
    if (port == PORT_IN)
        self->in = data;
    else if (port == PORT_OUT)
        self->out = data;
    else if (port == PORT_LATE)
        self->late = data;
    else if (port < N_PORTS)
        self->control[port] = data;
}

/* Main thread. */
static void cleanup(LV2_Handle instance)
{
    Continuo *self = instance;
    plugin_free_loaded(self->pending);
    plugin_free_loaded(self->current);
    free(self);
}

static const void *extension_data(const char *uri)
{
    static const LV2_Worker_Interface worker = {plugin_work, plugin_work_response, NULL};
    static const LV2_State_Interface state = {plugin_save, plugin_restore};
    if (strcmp(uri, LV2_WORKER__interface) == 0)
        return &worker;
    if (strcmp(uri, LV2_STATE__interface) == 0)
        return &state;
    return NULL;
}

static const LV2_Descriptor descriptor = {CONTINUO_URI,   instantiate, connect_port,
                                          plugin_activate, plugin_run, NULL,
                                          cleanup,        extension_data};

LV2_SYMBOL_EXPORT const LV2_Descriptor *lv2_descriptor(uint32_t index)
{
    return index == 0 ? &descriptor : NULL;
}
