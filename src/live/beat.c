/* The beat of a call (continuo/beat.h): a search over tempi and phases, then a fit. */
#include "continuo/beat.h"

#include <math.h>

#define CHORD_SECONDS 0.03   /* notes struck this close together are one onset */
#define REACH_SECONDS 0.05   /* an onset this far from a grid point is not on it */
#define TEMPO_STEP 1.01      /* the tempi tried are 1 % apart */
#define GUESS_OCTAVES 0.7    /* a tempo an octave from the guess counts 0.36 as much */
#define HALF_SHARE 0.6       /* the half tempo is taken when it scores this share of the best */
#define MAX_PHASES 32        /* the strongest onsets are tried as the beat's phase */

typedef struct {
    double time, weight;
} Onset;

/* The latest onsets of times, notes struck together made one (their strengths summed),
 * each weighted also by the time to the next one: a note that lasts is more often on a
 * beat. Returns how many, at most CN_BEAT_MAX_ONSETS. */
static size_t gather(const double *times, const float *strength, size_t n, Onset *out)
{
    Onset backwards[CN_BEAT_MAX_ONSETS];
    size_t m = 0;
    for (size_t i = n; i > 0 && m < CN_BEAT_MAX_ONSETS;) {
        size_t last = --i;
        double w = strength ? strength[last] : 1;
        while (i > 0 && times[last] - times[i - 1] < CHORD_SECONDS) {
            i--;
            w += strength ? strength[i] : 1;
        }
        backwards[m++] = (Onset){times[i], w > 0 ? w : 0};
    }
    for (size_t k = 0; k < m; k++)
        out[k] = backwards[m - 1 - k];
    for (size_t k = 0; k < m; k++) {
        double gap = k + 1 < m ? out[k + 1].time - out[k].time : 0.5;
        gap = gap < 0.05 ? 0.05 : gap > 1.0 ? 1.0 : gap;
        out[k].weight *= sqrt(gap / 0.25);
    }
    return m;
}

/* How far x lies from the nearest multiple of spacing. */
static double off_grid(double x, double spacing)
{
    double r = x - floor(x / spacing) * spacing;
    return r < spacing - r ? r : spacing - r;
}

/* How well the grid of period and phase places the onsets, per unit of their weight,
 * beyond what onsets at random times would get. */
static double grid_fit(const Onset *o, size_t n, double total_weight, double period,
                       double phase)
{
    static const double divisions[] = {1, 2, 4, 3}, level_weight[] = {1, 0.5, 0.25, 0.25};
    double score = 0;
    for (int k = 0; k < 4; k++) {
        double spacing = period / divisions[k];
        /* the kernel 1 - (d/reach)^2 averages 4/3 reach over a spacing at random */
        double chance = 4.0 / 3.0 * REACH_SECONDS / spacing, sum = 0;
        for (size_t i = 0; i < n; i++) {
            double d = off_grid(o[i].time - phase, spacing) / REACH_SECONDS;
            sum += o[i].weight * ((d < 1 ? 1 - d * d : 0) - chance);
        }
        score += level_weight[k] * sum;
    }
    return score / total_weight;
}

/* The grid fitted to the onsets it places on its sixteenths and triplets: least squares
 * of their times over their twelfths of a beat, twice. */
static void refine(const Onset *o, size_t n, double *period, double *phase)
{
    for (int pass = 0; pass < 2; pass++) {
        double twelfth = *period / 12, sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
        for (size_t i = 0; i < n; i++) {
            double r = (o[i].time - *phase) / twelfth;
            double by3 = 3 * round(r / 3), by4 = 4 * round(r / 4);
            double x = fabs(r - by3) < fabs(r - by4) ? by3 : by4;
            if (fabs(r - x) * twelfth > REACH_SECONDS)
                continue;
            double w = o[i].weight;
            sw += w, sx += w * x, sy += w * o[i].time, sxx += w * x * x, sxy += w * x * o[i].time;
        }
        double det = sw * sxx - sx * sx;
        if (sw <= 0 || det <= 1e-9 * sw * sw)
            return;
        double slope = (sw * sxy - sx * sy) / det;
        if (!(fabs(slope * 12 / *period - 1) < 0.05))
            return; /* the fit would leave the tempo it was asked to refine */
        *phase = (sy - slope * sx) / sw;
        *period = 12 * slope;
    }
}

/* grid_fit, counted less the further its tempo lies from the guess. */
static double judge(const Onset *o, size_t n, double total_weight, double guess_bpm,
                    double period, double phase)
{
    double octaves = log2(60.0 / period / guess_bpm) / GUESS_OCTAVES;
    return exp(-0.5 * octaves * octaves) * grid_fit(o, n, total_weight, period, phase);
}

/* The indices of the strongest onsets (at most MAX_PHASES): one of them is on a beat. */
static size_t strongest(const Onset *o, size_t m, size_t *kept)
{
    size_t n = 0;
    for (size_t i = 0; i < m; i++) {
        if (n < MAX_PHASES) {
            kept[n++] = i;
            continue;
        }
        size_t weakest = 0;
        for (size_t k = 1; k < n; k++)
            weakest = o[kept[k]].weight < o[kept[weakest]].weight ? k : weakest;
        if (o[i].weight > o[kept[weakest]].weight)
            kept[weakest] = i;
    }
    return n;
}

int cn_beat_find(const double *times, const float *strength, size_t n, double guess_bpm,
                 CnBeat *beat)
{
    Onset o[CN_BEAT_MAX_ONSETS];
    size_t m = gather(times, strength, n, o);
    if (m < CN_BEAT_MIN_ONSETS)
        return -1;
    double total_weight = 0;
    for (size_t i = 0; i < m; i++)
        total_weight += o[i].weight;
    if (!(total_weight > 0))
        return -1;
    size_t phases[MAX_PHASES];
    size_t n_phases = strongest(o, m, phases);
    if (!(guess_bpm >= CN_BEAT_BPM_MIN && guess_bpm <= CN_BEAT_BPM_MAX))
        guess_bpm = guess_bpm < CN_BEAT_BPM_MIN ? CN_BEAT_BPM_MIN : CN_BEAT_BPM_MAX;
    double best = 0, best_period = 0, best_phase = 0;
    for (double bpm = CN_BEAT_BPM_MIN; bpm <= CN_BEAT_BPM_MAX; bpm *= TEMPO_STEP)
        for (size_t p = 0; p < n_phases; p++) {
            double score = judge(o, m, total_weight, guess_bpm, 60.0 / bpm, o[phases[p]].time);
            if (score > best)
                best = score, best_period = 60.0 / bpm, best_phase = o[phases[p]].time;
        }
    if (!(best > 0))
        return -1;
    /* half as fast, on either half of the beats, nearly as good: the slower is the beat a
       player counts (an even run of eighths fits its own rate as well as it fits the beat) */
    double half = 2 * best_period;
    if (60.0 / half >= CN_BEAT_BPM_MIN) {
        double on = judge(o, m, total_weight, guess_bpm, half, best_phase);
        double off = judge(o, m, total_weight, guess_bpm, half, best_phase + best_period);
        if (off > on)
            on = off, best_phase += best_period;
        if (on >= HALF_SHARE * best)
            best_period = half, best = on;
    }
    refine(o, m, &best_period, &best_phase);
    double first = floor((o[0].time - best_phase) / best_period + 1.0 / 24);
    *beat = (CnBeat){.bpm = 60.0 / best_period, .beat_time = best_phase + first * best_period,
                     .score = best, .n_onsets = (int)m};
    return 0;
}
