/* The guide: key and loudness of what a timed model continues, as sampling factors. */
#include "continuo/guide.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "continuo/key.h"

/* A time step under this share of those heard is not the heard music's rhythm. */
#define RARE_STEP 0.02

int cn_guide_init(CnGuide *g, const CnVocab *vocab, const CnSamplerOptions *o, CnError *err)
{
    memset(g, 0, sizeof *g);
    g->vocab = vocab;
    cn_guide_set_options(g, o);
    g->key = -1;
    g->level = CN_TIMED_N_VELOCITIES / 2;
    if (vocab->scheme != CN_SCHEME_TIMED)
        return 0;
    g->bias = malloc(vocab->n * sizeof *g->bias);
    if (!g->bias)
        return cn_fail(err, "out of memory");
    return 0;
}

void cn_guide_free(CnGuide *g)
{
    free(g->bias);
    g->bias = NULL;
}

void cn_guide_set_options(CnGuide *g, const CnSamplerOptions *o)
{
    g->key_guard = o->key_guard;
    g->loudness_width = o->loudness_width;
    g->rhythm_guard = o->rhythm_guard;
    g->stale = 1;
}

void cn_guide_reset(CnGuide *g)
{
    memset(g->pitch_weight, 0, sizeof g->pitch_weight);
    g->level_sum = g->level_n = 0;
    memset(g->shift_weight, 0, sizeof g->shift_weight);
    g->shift_n = 0;
    g->key = -1;
    g->stale = 1;
}

static void fade(CnGuide *g, int twelfths)
{
    double kept = exp2(-(double)twelfths / (CN_GUIDE_MEMORY_BEATS * CN_TIMED_STEPS_PER_BEAT));
    for (int pc = 0; pc < 12; pc++)
        g->pitch_weight[pc] *= kept;
    g->level_sum *= kept;
    g->level_n *= kept;
    for (int s = 0; s <= CN_TIMED_MAX_SHIFT; s++)
        g->shift_weight[s] *= kept;
    g->shift_n *= kept;
}

void cn_guide_hear(CnGuide *g, CnToken t)
{
    switch (t.kind) {
    case CN_EVENT_SHIFT:
        fade(g, t.pitch);
        if (t.pitch <= CN_TIMED_MAX_SHIFT && g->level_n > 0) { /* (not a silence before) */
            g->shift_weight[t.pitch] += 1;
            g->shift_n += 1;
        }
        g->stale |= g->rhythm_guard > 0; /* (a fade changes neither key nor loudness) */
        break;
    case CN_EVENT_VELOCITY:
        g->level = t.pitch;
        break;
    case CN_EVENT_ON:
        g->pitch_weight[t.pitch % 12] += 1;
        g->level_sum += g->level;
        g->level_n += 1;
        g->stale = 1;
        break;
    default:
        break;
    }
}

int cn_guide_key(const CnGuide *g)
{
    return g->stale ? cn_key_of_weights(g->pitch_weight) : g->key;
}

double cn_guide_loudness(const CnGuide *g)
{
    return g->level_n > 0 ? g->level_sum / g->level_n : -1;
}

const float *cn_guide_bias(CnGuide *g)
{
    if (!g->bias || g->level_n <= 0 ||
        (g->key_guard <= 0 && g->loudness_width <= 0 && g->rhythm_guard <= 0))
        return NULL;
    if (!g->stale)
        return g->bias;
    g->key = cn_key_of_weights(g->pitch_weight);
    double loudness = cn_guide_loudness(g), width = g->loudness_width;
    float out_of_key = 1.0f - g->key_guard;
    for (size_t i = 0; i < g->vocab->n; i++) {
        CnToken t = g->vocab->tokens[i];
        float f = 1;
        if (t.kind == CN_EVENT_ON && g->key >= 0 && !cn_key_has(g->key, t.pitch % 12))
            f = out_of_key;
        else if (t.kind == CN_EVENT_VELOCITY && width > 0) {
            double z = ((double)t.pitch - loudness) / width;
            f = (float)exp(-0.5 * z * z);
        } else if (t.kind == CN_EVENT_SHIFT && g->shift_n > 0 && t.pitch <= CN_TIMED_MAX_SHIFT &&
                   g->shift_weight[t.pitch] < RARE_STEP * g->shift_n) {
            f = 1.0f - g->rhythm_guard;
        }
        g->bias[i] = f;
    }
    g->stale = 0;
    return g->bias;
}
