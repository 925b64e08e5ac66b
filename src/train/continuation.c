/* Continuations that continue: each piece's opening primes the model, and what it plays
 * next is compared with that opening, beside what the composer wrote next (docs/EVAL.md). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "continuo/eval.h"
#include "continuo/generate.h"

/* The notes of ids from start_twelfth on, before end_twelfth, as rendered: *notes is a
 * view into all (the notes of every id from the piece's start). */
typedef struct {
    CnNote *all;
    size_t n_all;
} Rendered;

static int render_ids(const CnModel *m, const int *ids, size_t n, Rendered *r, CnError *err)
{
    CnToken *tokens = malloc((n ? n : 1) * sizeof *tokens);
    if (!tokens)
        return cn_fail(err, "out of memory");
    for (size_t i = 0; i < n; i++)
        tokens[i] = m->vocab.tokens[ids[i]];
    CnRenderOptions o = cn_render_defaults();
    int rc = cn_render_events(tokens, n, &o, &r->all, &r->n_all, NULL, err);
    free(tokens);
    return rc;
}

/* The notes whose onsets lie in [from, to) beats, a slice of the rendered notes. */
static const CnNote *notes_between(const Rendered *r, double from, double to, size_t *n)
{
    unsigned ppqn = cn_render_defaults().ppqn;
    size_t a = 0, b;
    while (a < r->n_all && r->all[a].onset < from * ppqn)
        a++;
    for (b = a; b < r->n_all && r->all[b].onset < to * ppqn; b++)
        ;
    *n = b - a;
    return r->all + a;
}

static double mean_velocity(const CnNote *notes, size_t n)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += notes[i].velocity;
    return n ? sum / (double)n : NAN;
}

/* Adds one piece's continuation measured against its prime. */
static void measure(const CnNote *prime, size_t n_prime, const CnNote *next, size_t n_next,
                    CnContinuation *c)
{
    unsigned ppqn = cn_render_defaults().ppqn;
    int key = cn_key_of_notes(prime, n_prime);
    size_t in_key = 0, held_long = 0;
    for (size_t i = 0; i < n_next; i++) {
        in_key += cn_key_has(key, next[i].pitch % 12);
        held_long += next[i].duration >= 4 * ppqn;
    }
    CnRhythmHistogram a = {0}, b = {0};
    cn_rhythm_add(&a, prime, n_prime, ppqn);
    cn_rhythm_add(&b, next, n_next, ppqn);
    double gaps = 0, top = 0;
    int distinct = 0;
    for (int i = 0; i < CN_RHYTHM_GAP_BINS; i++) {
        gaps += b.gap[i];
        distinct += b.gap[i] > 0;
        top = b.gap[i] > top ? b.gap[i] : top;
    }
    double gap_distance = cn_rhythm_distance(&a, &b).gaps;
    c->n_pieces++;
    c->n_notes += n_next;
    if (n_next == 0) { /* silence: nothing in key, nothing shared */
        c->sum_gap_distance += 1;
        c->n_silent++;
        return;
    }
    c->sum_in_key += (double)in_key / (double)n_next;
    c->n_keys_agree += cn_keys_related(key, cn_key_of_notes(next, n_next));
    c->sum_long += (double)held_long / (double)n_next;
    c->sum_gap_distance += isnan(gap_distance) ? 1 : gap_distance;
    c->sum_distinct_gaps += distinct;
    c->sum_top_gap += gaps > 0 ? top / gaps : 1;
    c->sum_velocity_difference += fabs(mean_velocity(next, n_next) -
                                       mean_velocity(prime, n_prime));
}

CnContinuationMeans cn_continuation_means(const CnContinuation *c)
{
    double n = (double)c->n_pieces, voiced = (double)(c->n_pieces - c->n_silent);
    CnContinuationMeans m = {NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN};
    if (c->n_pieces == 0)
        return m;
    m.gap_distance = c->sum_gap_distance / n;
    m.silent = (double)c->n_silent / n;
    if (voiced > 0) {
        m.in_key = c->sum_in_key / voiced;
        m.keys_agree = (double)c->n_keys_agree / n;
        m.long_notes = c->sum_long / voiced;
        m.distinct_gaps = c->sum_distinct_gaps / voiced;
        m.top_gap = c->sum_top_gap / voiced;
        m.velocity_difference = c->sum_velocity_difference / voiced;
    }
    return m;
}

/* Where the prime of ids ends: after its last token before prime_beats (a shift that
 * lands on the boundary is in it). Returns 0 when the piece is shorter than want_beats. */
static size_t prime_end(const CnModel *m, const uint16_t *ids, size_t n, int prime_beats,
                        int want_beats)
{
    uint64_t now = 0, boundary = (uint64_t)prime_beats * CN_TIMED_STEPS_PER_BEAT;
    size_t end = 0;
    for (size_t i = 0; i < n; i++) {
        CnToken t = m->vocab.tokens[ids[i]];
        if (t.kind == CN_EVENT_SHIFT)
            now += t.pitch;
        if (now <= boundary && (now < boundary || t.kind == CN_EVENT_SHIFT))
            end = i + 1;
        if (now >= (uint64_t)want_beats * CN_TIMED_STEPS_PER_BEAT)
            return end;
    }
    return 0;
}

/* The model's continuation of prime (n_prime ids), generated until continue_beats (and
 * the longest note's length more, so that its notes end as they would) have passed, into
 * *out (prime, then continuation). */
static int continue_prime(const CnModel *m, const int *prime, size_t n_prime,
                          const CnContinueOptions *o, uint64_t seed, int **out, size_t *n_out,
                          size_t *n_released, CnError *err)
{
    uint64_t until = (uint64_t)o->continue_beats * CN_TIMED_STEPS_PER_BEAT +
                     CN_TIMED_LONGEST_NOTE;
    size_t cap = n_prime + (size_t)o->max_tokens;
    int *ids = malloc(cap * sizeof *ids);
    if (!ids)
        return cn_fail(err, "out of memory");
    memcpy(ids, prime, n_prime * sizeof *ids);
    CnGenerateOptions g_options = o->gen;
    g_options.seed = seed;
    CnGenerator g;
    if (cn_generator_init(&g, m, prime, n_prime, &g_options, err)) {
        free(ids);
        return -1;
    }
    uint64_t start = g.holds.now;
    size_t n = n_prime;
    while (n < cap && g.holds.now < start + until)
        ids[n++] = cn_generator_next(&g);
    *n_released = g.n_released;
    cn_generator_free(&g);
    *out = ids;
    *n_out = n;
    return 0;
}

/* Measures the model's continuation of one piece and the composer's. */
static int one_piece(const CnModel *m, const CnSongIds *song, const CnContinueOptions *o,
                     uint64_t seed, CnContinuation *model, CnContinuation *composer,
                     CnError *err)
{
    int want = o->prime_beats + o->continue_beats;
    size_t n_prime = prime_end(m, song->ids, song->n, o->prime_beats, want);
    if (n_prime == 0) {
        model->n_too_short++;
        composer->n_too_short++;
        return 0;
    }
    int *whole = malloc(song->n * sizeof *whole), *generated = NULL;
    if (!whole)
        return cn_fail(err, "out of memory");
    for (size_t i = 0; i < song->n; i++)
        whole[i] = song->ids[i];
    Rendered truth = {0}, gen = {0};
    size_t n_generated = 0, n_released = 0;
    int rc = render_ids(m, whole, song->n, &truth, err) ||
             continue_prime(m, whole, n_prime, o, seed, &generated, &n_generated, &n_released,
                            err) ||
             render_ids(m, generated, n_generated, &gen, err);
    if (rc == 0) {
        /* the prime ends where its shifts do, which is where both continuations start */
        uint64_t twelfths = 0;
        for (size_t i = 0; i < n_prime; i++)
            if (m->vocab.tokens[whole[i]].kind == CN_EVENT_SHIFT)
                twelfths += m->vocab.tokens[whole[i]].pitch;
        double from = (double)twelfths / CN_TIMED_STEPS_PER_BEAT, to = from + o->continue_beats;
        size_t n_p, n_t, n_g;
        const CnNote *p = notes_between(&truth, 0, from, &n_p);
        const CnNote *t = notes_between(&truth, from, to, &n_t);
        const CnNote *g = notes_between(&gen, from, to, &n_g);
        measure(p, n_p, t, n_t, composer);
        measure(p, n_p, g, n_g, model);
        model->n_released += n_released;
    }
    free(truth.all);
    free(gen.all);
    free(generated);
    free(whole);
    return rc ? -1 : 0;
}

int cn_eval_continuations(const CnModel *m, const CnSongIds *songs, size_t n_songs,
                          const CnContinueOptions *o, CnContinuation *model,
                          CnContinuation *composer, CnError *err)
{
    memset(model, 0, sizeof *model);
    memset(composer, 0, sizeof *composer);
    if (m->vocab.scheme != CN_SCHEME_TIMED)
        return cn_fail(err, "continuations are measured for timed models only: an original "
                            "model's tokens say no time, length or loudness");
    if (o->prime_beats < 1 || o->continue_beats < 1 || o->max_tokens < 1)
        return cn_fail(err, "a continuation needs at least a beat of prime and one to play");
    for (size_t s = 0; s < n_songs; s++)
        if (one_piece(m, &songs[s], o, o->gen.seed + s, model, composer, err))
            return -1;
    return 0;
}
