/* The plugin's control ports as engine options; safe on the audio thread (pure reads).
 * A port the host left unconnected, or not a number, takes the engine's default. */
#include <math.h>

#include "continuo/tempo.h"
#include "continuo.h"

float plugin_control(const Continuo *self, int port, float fallback, float lo, float hi)
{
    const float *p = self->control[port];
    if (!p || !isfinite(*p))
        return fallback;
    return *p < lo ? lo : *p > hi ? hi : *p;
}

CnEngineOptions plugin_options_from_controls(const Continuo *self)
{
    CnEngineOptions o = self->defaults;
    float continuous = o.mode == CN_PLAY_CONTINUOUS;
    o.mode = plugin_control(self, PORT_MODE, continuous, 0, 1) >= 0.5f ? CN_PLAY_CONTINUOUS
                                                                      : CN_PLAY_RESPOND;
    o.wait_beats = plugin_control(self, PORT_WAIT, (float)o.wait_beats, 0, 16);
    o.length = (int)lrintf(plugin_control(self, PORT_LENGTH, (float)o.length, 1, 256));
    o.sampler.temperature = plugin_control(self, PORT_TEMPERATURE, o.sampler.temperature, 0, 2);
    o.sampler.top_p = plugin_control(self, PORT_TOP_P, o.sampler.top_p, 0.05f, 1);
    o.channel = (uint8_t)(lrintf(plugin_control(self, PORT_CHANNEL, o.channel + 1.0f, 1, 16)) - 1);
    o.min_listen_beats = plugin_control(self, PORT_MIN_LISTEN, 0, 0, 64);
    o.max_listen_beats = plugin_control(self, PORT_MAX_LISTEN, 0, 0, 256);
    if (o.max_listen_beats > 0 && o.max_listen_beats < o.min_listen_beats)
        o.max_listen_beats = o.min_listen_beats;
    o.length_from_call = plugin_control(self, PORT_LENGTH_CALL, 0, 0, 1) >= 0.5f;
    o.state_cc = (int)lrintf(plugin_control(self, PORT_STATE_CC, -1, -1, 127));
    o.fixed_grid = plugin_control(self, PORT_FIXED_GRID, 0, 0, 1) >= 0.5f;
    o.bpm = self->tempo.default_bpm; /* the host's tempo, stopped: the guess */
    return o;
}

int plugin_same_controls(const CnEngineOptions *a, const CnEngineOptions *b)
{
    return a->mode == b->mode && a->wait_beats == b->wait_beats && a->length == b->length &&
           a->sampler.temperature == b->sampler.temperature &&
           a->sampler.top_p == b->sampler.top_p && a->channel == b->channel &&
           a->min_listen_beats == b->min_listen_beats &&
           a->max_listen_beats == b->max_listen_beats &&
           a->length_from_call == b->length_from_call && a->state_cc == b->state_cc &&
           a->fixed_grid == b->fixed_grid;
}
