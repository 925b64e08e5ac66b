/* The plans of an epoch's batches (plans.h). */
#include "plans.h"

#include <stdlib.h>
#include <string.h>



/* The ids of a song, moved by this epoch's next interval for it. */
const uint16_t *cn_song_map(Transposer *tr)
{
    if (!tr || !tr->map)
        return NULL;
    uint32_t row = cn_rng_below(&tr->rng, (uint32_t)(tr->hi - tr->lo + 1));
    return tr->map + (size_t)row * (size_t)tr->n_vocab;
}

void cn_shuffle(uint32_t *a, size_t n, CnRng *rng)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = cn_rng_below(rng, (uint32_t)i);
        uint32_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

void cn_lane_plan_free(LanePlan *p)
{
    free(p->ids);
    free(p->targets);
    free(p->keep);
    memset(p, 0, sizeof *p);
}

int cn_lane_plan_make(LanePlan *p, const CnSongIds *songs, size_t n_songs, int n_lanes,
                      int seq, CnRng *order_rng, Transposer *tr, CnError *err)
{
    memset(p, 0, sizeof *p);
    for (size_t i = 0; i < n_songs; i++)
        p->total += songs[i].n;
    uint32_t *order = malloc((n_songs ? n_songs : 1) * sizeof *order);
    p->ids = malloc((p->total ? p->total : 1) * sizeof *p->ids);
    p->targets = malloc((p->total ? p->total : 1) * sizeof *p->targets);
    p->keep = malloc(p->total ? p->total : 1);
    if (!order || !p->ids || !p->targets || !p->keep) {
        free(order);
        cn_lane_plan_free(p);
        return cn_fail(err, "out of memory");
    }
    for (size_t i = 0; i < n_songs; i++)
        order[i] = (uint32_t)i;
    if (order_rng)
        cn_shuffle(order, n_songs, order_rng);
    size_t at = 0;
    for (size_t k = 0; k < n_songs; k++) {
        const CnSongIds *s = &songs[order[k]];
        const uint16_t *map = cn_song_map(tr);
        for (size_t i = 0; i < s->n; i++, at++) {
            p->ids[at] = map ? map[s->ids[i]] : s->ids[i];
            p->targets[at] = i + 1 < s->n ? (map ? map[s->ids[i + 1]] : s->ids[i + 1])
                                          : -1; /* a song's end */
            p->keep[at] = i > 0; /* a new song starts from a zero state */
        }
    }
    free(order);
    p->n_lanes = n_lanes;
    p->lane_len = (p->total + (size_t)n_lanes - 1) / (size_t)n_lanes;
    p->n_chunks = (long)((p->lane_len + (size_t)seq - 1) / (size_t)seq);
    for (size_t start = p->lane_len; start < p->total; start += p->lane_len)
        p->keep[start] = 0; /* a lane cut inside a song starts afresh */
    return 0;
}

/* The chunk's steps of nb's lanes (lanes lane_first.. of the plan's when ranks share it). */
void cn_lane_plan_fill(const LanePlan *p, NetBatch *nb, long chunk)
{
    size_t B = (size_t)nb->n_lanes, T = (size_t)nb->n_steps;
    for (size_t t = 0; t < T; t++)
        for (size_t b = 0; b < B; b++) {
            size_t lane = (size_t)nb->lane_first + b;
            size_t pos = (size_t)chunk * T + t, r = t * B + b;
            size_t at = lane * p->lane_len + pos;
            if (lane < (size_t)p->n_lanes && pos < p->lane_len && at < p->total) {
                nb->ids[r] = p->ids[at];
                nb->targets[r] = p->targets[at];
                nb->keep[r] = p->keep[at];
            } else { /* past the end of the stream: nothing to learn here */
                nb->ids[r] = 0;
                nb->targets[r] = -1;
                nb->keep[r] = 0;
            }
        }
}

void cn_window_plan_free(WindowPlan *p)
{
    free(p->stream);
    free(p->order);
    memset(p, 0, sizeof *p);
}

/* The songs, concatenated, each moved by its interval of the epoch when tr is given. */
void cn_window_plan_stream(WindowPlan *p, const CnSongIds *songs, size_t n_songs,
                           Transposer *tr)
{
    size_t at = 0;
    for (size_t s = 0; s < n_songs; s++) {
        const uint16_t *map = cn_song_map(tr);
        for (size_t i = 0; i < songs[s].n; i++)
            p->stream[at++] = map ? map[songs[s].ids[i]] : songs[s].ids[i];
    }
}

int cn_window_plan_make(WindowPlan *p, const CnSongIds *songs, size_t n_songs, int seq,
                        int batch, CnError *err)
{
    memset(p, 0, sizeof *p);
    for (size_t s = 0; s < n_songs; s++)
        p->n_stream += songs[s].n;
    p->n_windows = p->n_stream > (size_t)seq ? p->n_stream - (size_t)seq : 0;
    if (p->n_windows > UINT32_MAX)
        return cn_fail(err, "corpus too large for windows");
    p->stream = malloc((p->n_stream ? p->n_stream : 1) * sizeof *p->stream);
    p->order = malloc((p->n_windows ? p->n_windows : 1) * sizeof *p->order);
    if (!p->stream || !p->order) {
        cn_window_plan_free(p);
        return cn_fail(err, "out of memory");
    }
    cn_window_plan_stream(p, songs, n_songs, NULL);
    for (size_t w = 0; w < p->n_windows; w++)
        p->order[w] = (uint32_t)w;
    p->n_batches = (long)((p->n_windows + (size_t)batch - 1) / (size_t)batch);
    return 0;
}

void cn_window_plan_fill(const WindowPlan *p, NetBatch *nb, long batch_index)
{
    size_t B = (size_t)nb->n_lanes, T = (size_t)nb->n_steps;
    for (size_t b = 0; b < B; b++) {
        size_t w = (size_t)batch_index * (size_t)nb->n_lanes_total + (size_t)nb->lane_first + b;
        int valid = w < p->n_windows;
        size_t start = valid ? p->order[w] : 0;
        for (size_t t = 0; t < T; t++) {
            size_t r = t * B + b;
            nb->ids[r] = valid ? p->stream[start + t] : 0;
            nb->targets[r] = valid && t == T - 1 ? p->stream[start + T] : -1;
            nb->keep[r] = t > 0; /* every window starts from a zero state */
        }
    }
}

/* The id of every token moved by every interval of the options' range; a token the
 * vocabulary lacks moved becomes the nearest it has. */
int cn_transposer_init(Transposer *tr, const CnModel *m, const CnTrainOptions *o,
                       CnError *err)
{
    memset(tr, 0, sizeof *tr);
    if (o->transpose_lo == 0 && o->transpose_hi == 0)
        return 0;
    if (o->transpose_lo < -12 || o->transpose_hi > 12 || o->transpose_lo > o->transpose_hi)
        return cn_fail(err, "transposition must be within -12..12 semitones, low to high");
    size_t n_rows = (size_t)(o->transpose_hi - o->transpose_lo + 1), V = m->vocab.n;
    tr->map = malloc(n_rows * V * sizeof *tr->map);
    if (!tr->map)
        return cn_fail(err, "out of memory");
    tr->lo = o->transpose_lo;
    tr->hi = o->transpose_hi;
    tr->n_vocab = (int)V;
    for (size_t row = 0; row < n_rows; row++)
        for (size_t id = 0; id < V; id++) {
            CnToken moved = cn_token_transpose(m->vocab.tokens[id], tr->lo + (int)row);
            int to = cn_vocab_index(&m->vocab, moved);
            tr->map[row * V + id] = (uint16_t)(to >= 0 ? to : cn_vocab_nearest(&m->vocab, moved));
        }
    return 0;
}
