/* The guide: key and loudness of what a timed model continues, as sampling factors. */
#include "continuo/guide.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "continuo/key.h"

/* A time step under this share of those heard is not the heard music's rhythm. */
#define RARE_STEP 0.02
/* Shares of time steps are compared with this added to both (a step neither took stays
 * as it is), and a step's factor stays within MOST_FACTOR either way. */
#define SHARE_FLOOR 0.01
#define MOST_FACTOR 20.0

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

void cn_guide_learned(CnGuide *g, const uint16_t *ids, size_t n)
{
    double count[CN_TIMED_MAX_SHIFT + 1] = {0}, total = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] >= g->vocab->n)
            continue;
        CnToken t = g->vocab->tokens[ids[i]];
        if (t.kind == CN_EVENT_SHIFT && t.pitch <= CN_TIMED_MAX_SHIFT)
            count[t.pitch] += 1, total += 1;
    }
    for (int s = 0; s <= CN_TIMED_MAX_SHIFT; s++)
        g->learned_share[s] = total > 0 ? count[s] / total : 0;
    g->learned_known = total > 0;
    g->stale = 1;
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

/* A time step's factor: (heard share / learned share) to the power of the guard, within
 * MOST_FACTOR either way; without the learned shares, 1 - guard for a rare step. */
static float rhythm_factor(const CnGuide *g, int step)
{
    double heard = g->shift_weight[step] / g->shift_n, learned = g->learned_share[step];
    if (!g->learned_known)
        return heard < RARE_STEP ? 1.0f - g->rhythm_guard : 1.0f;
    double f = pow((heard + SHARE_FLOOR) / (learned + SHARE_FLOOR), g->rhythm_guard);
    return (float)(f < 1 / MOST_FACTOR ? 1 / MOST_FACTOR : f > MOST_FACTOR ? MOST_FACTOR : f);
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
                   g->rhythm_guard > 0) {
            f = rhythm_factor(g, t.pitch);
        }
        g->bias[i] = f;
    }
    g->stale = 0;
    return g->bias;
}
