/* Model evaluation: batched cross-entropy in both modes, and statistics of generated
 * token sequences. */
#include "continuo/eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "net_batch.h"

#define EVAL_LANES 64
#define EVAL_STEPS 100

typedef struct {
    double loss_sum;
    size_t n_predicted, n_correct;
} Tally;

static void tally(Tally *t, const NetBatch *nb)
{
    t->loss_sum += nb->loss_sum;
    t->n_predicted += nb->n_predicted;
    t->n_correct += nb->n_correct;
}

/* Songs dealt whole to lanes (each to the lane with least so far), so that every song
 * runs from its own zero state to its end without a cut. */
static int eval_stateful(const CnModel *m, const CnSongIds *songs, size_t n_songs, Tally *t,
                         CnError *err)
{
    int B = EVAL_LANES, T = EVAL_STEPS;
    size_t lane_len[EVAL_LANES] = {0};
    int *lane_of = malloc((n_songs ? n_songs : 1) * sizeof *lane_of);
    if (!lane_of)
        return cn_fail(err, "out of memory");
    for (size_t s = 0; s < n_songs; s++) {
        int best = 0;
        for (int b = 1; b < B; b++)
            best = lane_len[b] < lane_len[best] ? b : best;
        lane_of[s] = best;
        lane_len[best] += songs[s].n;
    }
    size_t longest = 0;
    for (int b = 0; b < B; b++)
        longest = lane_len[b] > longest ? lane_len[b] : longest;
    NetBatch nb;
    if (net_batch_init(&nb, &m->config, B, T, 0, err)) {
        free(lane_of);
        return -1;
    }
    /* cursor of each lane: which song, where in it */
    size_t song_at[EVAL_LANES], pos_in_song[EVAL_LANES];
    for (int b = 0; b < B; b++) {
        song_at[b] = 0;
        while (song_at[b] < n_songs && lane_of[song_at[b]] != b)
            song_at[b]++;
        pos_in_song[b] = 0;
    }
    for (size_t chunk = 0; chunk * (size_t)T < longest; chunk++) {
        for (int t = 0; t < T; t++)
            for (int b = 0; b < B; b++) {
                size_t r = (size_t)t * B + b, s = song_at[b];
                if (s >= n_songs) {
                    nb.ids[r] = 0, nb.targets[r] = -1, nb.keep[r] = 0;
                    continue;
                }
                size_t p = pos_in_song[b];
                nb.ids[r] = songs[s].ids[p];
                nb.targets[r] = p + 1 < songs[s].n ? songs[s].ids[p + 1] : -1;
                nb.keep[r] = p > 0;
                if (++pos_in_song[b] == songs[s].n) { /* on to this lane's next song */
                    pos_in_song[b] = 0;
                    do
                        song_at[b]++;
                    while (song_at[b] < n_songs && lane_of[song_at[b]] != b);
                }
            }
        net_batch_forward(&nb, &m->w, NULL);
        tally(t, &nb);
    }
    net_batch_free(&nb);
    free(lane_of);
    return 0;
}

static int eval_window(const CnModel *m, const CnSongIds *songs, size_t n_songs, int seq,
                       Tally *t, CnError *err)
{
    size_t total = 0;
    for (size_t s = 0; s < n_songs; s++)
        total += songs[s].n;
    if (total <= (size_t)seq)
        return 0;
    uint16_t *stream = malloc(total * sizeof *stream);
    if (!stream)
        return cn_fail(err, "out of memory");
    size_t at = 0;
    for (size_t s = 0; s < n_songs; s++)
        for (size_t i = 0; i < songs[s].n; i++)
            stream[at++] = songs[s].ids[i];
    int B = EVAL_LANES;
    NetBatch nb;
    if (net_batch_init(&nb, &m->config, B, seq, 1, err)) {
        free(stream);
        return -1;
    }
    size_t n_windows = total - (size_t)seq;
    for (size_t first = 0; first < n_windows; first += (size_t)B) {
        for (int b = 0; b < B; b++) {
            size_t w = first + (size_t)b;
            for (int k = 0; k < seq; k++) {
                size_t r = (size_t)k * B + b;
                nb.ids[r] = w < n_windows ? stream[w + (size_t)k] : 0;
                nb.targets[r] = w < n_windows && k == seq - 1 ? stream[w + (size_t)seq] : -1;
                nb.keep[r] = k > 0;
            }
        }
        net_batch_forward(&nb, &m->w, NULL);
        tally(t, &nb);
    }
    net_batch_free(&nb);
    free(stream);
    return 0;
}

int cn_eval_loss(const CnModel *model, const CnSongIds *songs, size_t n_songs, CnMode mode,
                 int seq, CnEvalLoss *result, CnError *err)
{
    memset(result, 0, sizeof *result);
    for (size_t s = 0; s < n_songs; s++)
        for (size_t i = 0; i < songs[s].n; i++)
            if (songs[s].ids[i] >= model->config.n_vocab)
                return cn_fail(err, "song %zu has a token outside the vocabulary", s);
    if (seq <= 0)
        seq = model->info.seq > 0 ? model->info.seq : 100;
    Tally t = {0};
    int rc = mode == CN_MODE_STATEFUL ? eval_stateful(model, songs, n_songs, &t, err)
                                      : eval_window(model, songs, n_songs, seq, &t, err);
    if (rc)
        return -1;
    result->n_predicted = t.n_predicted;
    result->loss = t.n_predicted ? t.loss_sum / (double)t.n_predicted : NAN;
    result->perplexity = exp(result->loss);
    result->accuracy = t.n_predicted ? (double)t.n_correct / (double)t.n_predicted : NAN;
    return 0;
}

/* ----- Statistics of generated sequences --------------------------------------------- */

static uint64_t ngram_hash(const int *ids, int order)
{
    uint64_t h = 1469598103934665603ull;
    for (int k = 0; k < order; k++)
        h = (h ^ (uint64_t)(uint32_t)ids[k]) * 1099511628211ull;
    return h;
}

typedef struct {
    uint64_t *slots; /* 0 = empty; hashes stored as h | 1 so none is 0 */
    size_t mask;
} HashSet;

static int hashset_init(HashSet *s, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n + 16)
        cap *= 2;
    s->slots = calloc(cap, sizeof *s->slots);
    s->mask = cap - 1;
    return s->slots ? 0 : -1;
}

/* Adds h; returns 1 when it was new. */
static int hashset_add(HashSet *s, uint64_t h)
{
    h |= 1;
    for (size_t i = (size_t)(h ^ (h >> 29)) & s->mask;; i = (i + 1) & s->mask) {
        if (s->slots[i] == h)
            return 0;
        if (s->slots[i] == 0) {
            s->slots[i] = h;
            return 1;
        }
    }
}

static int hashset_has(const HashSet *s, uint64_t h)
{
    h |= 1;
    for (size_t i = (size_t)(h ^ (h >> 29)) & s->mask;; i = (i + 1) & s->mask) {
        if (s->slots[i] == h)
            return 1;
        if (s->slots[i] == 0)
            return 0;
    }
}

double cn_eval_distinct_ngrams(const int *ids, size_t n, int order)
{
    if (order < 1 || n < (size_t)order)
        return NAN;
    size_t n_grams = n - (size_t)order + 1, distinct = 0;
    HashSet set;
    if (hashset_init(&set, n_grams))
        return NAN;
    for (size_t i = 0; i < n_grams; i++)
        distinct += (size_t)hashset_add(&set, ngram_hash(ids + i, order));
    free(set.slots);
    return (double)distinct / (double)n_grams;
}

size_t cn_eval_longest_loop(const int *ids, size_t n, int max_period)
{
    size_t best = 0;
    for (size_t p = 1; p <= (size_t)max_period && p < n; p++) {
        size_t run = 0; /* positions i with ids[i] == ids[i + p], in a row */
        for (size_t i = 0; i + p < n; i++) {
            run = ids[i] == ids[i + p] ? run + 1 : 0;
            if (run >= p && run + p > best) /* the block and at least one full repeat */
                best = run + p;
        }
    }
    return best;
}

double cn_eval_copied_share(const int *ids, size_t n, const uint16_t *corpus, size_t n_corpus,
                            int order)
{
    if (order < 1 || n < (size_t)order || n_corpus < (size_t)order)
        return NAN;
    HashSet set;
    if (hashset_init(&set, n_corpus))
        return NAN;
    int window[64];
    for (size_t i = 0; i + (size_t)order <= n_corpus; i++) {
        for (int k = 0; k < order && k < 64; k++)
            window[k] = corpus[i + (size_t)k];
        hashset_add(&set, ngram_hash(window, order));
    }
    size_t n_grams = n - (size_t)order + 1, copied = 0;
    for (size_t i = 0; i < n_grams; i++)
        copied += (size_t)hashset_has(&set, ngram_hash(ids + i, order));
    free(set.slots);
    return (double)copied / (double)n_grams;
}

static void add_pitch_classes(double hist[12], CnToken t)
{
    if (t.kind == CN_EVENT_ON) {
        hist[t.pitch % 12] += 1.0;
        return;
    }
    if (t.kind != CN_TOKEN_PITCHED)
        return; /* time and loudness have no pitch */
    if (!t.is_chord) {
        hist[t.pitch % 12] += 1.0;
        return;
    }
    int n = __builtin_popcount(t.pc_mask);
    for (int pc = 0; pc < 12; pc++)
        if (t.pc_mask >> pc & 1)
            hist[pc] += 1.0 / n;
}

double cn_eval_pitch_class_distance(const CnVocab *vocab, const int *ids, size_t n,
                                    const uint16_t *corpus, size_t n_corpus)
{
    if (n == 0 || n_corpus == 0)
        return NAN;
    double a[12] = {0}, b[12] = {0};
    for (size_t i = 0; i < n; i++)
        if (ids[i] >= 0 && (size_t)ids[i] < vocab->n)
            add_pitch_classes(a, vocab->tokens[ids[i]]);
    for (size_t i = 0; i < n_corpus; i++)
        if (corpus[i] < vocab->n)
            add_pitch_classes(b, vocab->tokens[corpus[i]]);
    double sum_a = 0, sum_b = 0, tv = 0;
    for (int pc = 0; pc < 12; pc++)
        sum_a += a[pc], sum_b += b[pc];
    for (int pc = 0; pc < 12; pc++)
        tv += fabs(a[pc] / sum_a - b[pc] / sum_b);
    return tv / 2;
}

/* ----- Rhythm and dynamics ------------------------------------------------------------- */

static size_t bin(uint64_t ticks, unsigned ppqn, size_t n_bins)
{
    uint64_t twelfths = (ticks * CN_TIMED_STEPS_PER_BEAT + ppqn / 2) / ppqn;
    return twelfths < n_bins ? (size_t)twelfths : n_bins - 1;
}

static size_t length_bin(uint64_t ticks, unsigned ppqn)
{
    size_t b = bin(ticks, ppqn, CN_RHYTHM_LENGTH_BINS);
    return b > 0 ? b : 1; /* a note shorter than a twelfth lasts one, as the tokens say */
}

void cn_rhythm_add(CnRhythmHistogram *h, const CnNote *notes, size_t n_notes, unsigned ppqn)
{
    if (ppqn == 0)
        return;
    size_t together = 0;
    for (size_t i = 0; i < n_notes; i++) {
        const CnNote *n = &notes[i];
        h->length[length_bin(n->duration, ppqn)] += 1;
        h->level[cn_velocity_level(n->velocity)] += 1;
        together++;
        /* an onset's notes end where the next onset begins (within a twelfth) */
        int last = i + 1 == n_notes ||
                   bin(notes[i + 1].onset - n->onset, ppqn, CN_RHYTHM_GAP_BINS) > 0;
        if (!last)
            continue;
        h->together[together < CN_RHYTHM_TOGETHER_BINS ? together : CN_RHYTHM_TOGETHER_BINS - 1]
            += 1;
        together = 0;
        if (i + 1 < n_notes)
            h->gap[bin(notes[i + 1].onset - n->onset, ppqn, CN_RHYTHM_GAP_BINS)] += 1;
    }
}

static double tv_distance(const double *a, const double *b, size_t n)
{
    double sum_a = 0, sum_b = 0, tv = 0;
    for (size_t i = 0; i < n; i++)
        sum_a += a[i], sum_b += b[i];
    if (sum_a <= 0 || sum_b <= 0)
        return NAN;
    for (size_t i = 0; i < n; i++)
        tv += fabs(a[i] / sum_a - b[i] / sum_b);
    return tv / 2;
}

CnRhythmDistance cn_rhythm_distance(const CnRhythmHistogram *a, const CnRhythmHistogram *b)
{
    return (CnRhythmDistance){
        .gaps = tv_distance(a->gap, b->gap, CN_RHYTHM_GAP_BINS),
        .lengths = tv_distance(a->length, b->length, CN_RHYTHM_LENGTH_BINS),
        .velocities = tv_distance(a->level, b->level, CN_TIMED_N_VELOCITIES),
        .together = tv_distance(a->together, b->together, CN_RHYTHM_TOGETHER_BINS)};
}
