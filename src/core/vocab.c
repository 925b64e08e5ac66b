/* The vocabulary: the sorted names of a scheme's tokens, as the original's sorted(set()),
 * and the nearest a vocabulary has to a token it lacks. */
#include "tokens_internal.h"

#include <stdlib.h>
#include <string.h>

static int compare_names(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static int vocab_alloc(CnVocab *vocab, size_t n, CnError *err)
{
    vocab->names = malloc((n ? n : 1) * sizeof *vocab->names);
    vocab->tokens = malloc((n ? n : 1) * sizeof *vocab->tokens);
    vocab->n = 0;
    vocab->scheme = CN_SCHEME_ORIGINAL;
    if (!vocab->names || !vocab->tokens) {
        cn_vocab_free(vocab);
        return cn_fail(err, "out of memory");
    }
    return 0;
}

/* Sorts names, drops duplicates and fills tokens; returns -1 on an unparsable name. */
static int vocab_finish(CnVocab *vocab, size_t n, CnError *err)
{
    qsort(vocab->names, n, sizeof *vocab->names, compare_names);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (kept > 0 && strcmp(vocab->names[kept - 1], vocab->names[i]) == 0)
            continue;
        memmove(vocab->names[kept], vocab->names[i], CN_TOKEN_NAME_MAX);
        if (cn_token_parse(vocab->names[kept], &vocab->tokens[kept], err)) {
            cn_vocab_free(vocab);
            return -1;
        }
        CnScheme scheme = vocab->tokens[kept].kind == CN_TOKEN_PITCHED ? CN_SCHEME_ORIGINAL
                                                                       : CN_SCHEME_TIMED;
        if (kept > 0 && scheme != vocab->scheme) {
            char shown[96];
            cn_fail(err, "'%s' is not a token of the %s scheme the vocabulary's other tokens "
                         "belong to", cn_token_visible(vocab->names[kept], shown),
                    cn_scheme_name(vocab->scheme));
            cn_vocab_free(vocab);
            return -1;
        }
        vocab->scheme = scheme;
        kept++;
    }
    vocab->n = kept;
    return 0;
}

int cn_vocab_build(const CnTokenStream *streams, size_t n_streams, CnVocab *vocab, CnError *err)
{
    /* Distinct tokens are few (notes: 128, chords: 4096), so a presence table is enough. */
    static const size_t n_slots = 128 + 4096;
    uint8_t *seen = calloc(n_slots, 1);
    if (!seen)
        return cn_fail(err, "out of memory");
    size_t n = 0;
    for (size_t s = 0; s < n_streams; s++)
        for (size_t i = 0; i < streams[s].n_tokens; i++) {
            CnToken t = streams[s].tokens[i];
            size_t slot = t.is_chord ? 128 + (t.pc_mask & 4095) : t.pitch;
            n += !seen[slot];
            seen[slot] = 1;
        }
    if (vocab_alloc(vocab, n, err)) {
        free(seen);
        return -1;
    }
    size_t k = 0;
    for (size_t slot = 0; slot < n_slots; slot++) {
        if (!seen[slot])
            continue;
        CnToken t = slot < 128 ? (CnToken){.pitch = (uint8_t)slot}
                               : (CnToken){.is_chord = 1, .pc_mask = (uint16_t)(slot - 128)};
        cn_token_name(t, vocab->names[k++]);
    }
    free(seen);
    return vocab_finish(vocab, n, err);
}

int cn_vocab_timed(CnVocab *vocab, CnError *err)
{
    int n_keys = CN_TIMED_HIGHEST_KEY - CN_TIMED_LOWEST_KEY + 1;
    size_t n = (size_t)(2 * n_keys + CN_TIMED_MAX_SHIFT + CN_TIMED_N_VELOCITIES), k = 0;
    if (vocab_alloc(vocab, n, err))
        return -1;
    for (int key = CN_TIMED_LOWEST_KEY; key <= CN_TIMED_HIGHEST_KEY; key++) {
        cn_token_name((CnToken){.kind = CN_EVENT_ON, .pitch = (uint8_t)key}, vocab->names[k++]);
        cn_token_name((CnToken){.kind = CN_EVENT_OFF, .pitch = (uint8_t)key}, vocab->names[k++]);
    }
    for (int shift = 1; shift <= CN_TIMED_MAX_SHIFT; shift++)
        cn_token_name((CnToken){.kind = CN_EVENT_SHIFT, .pitch = (uint8_t)shift},
                      vocab->names[k++]);
    for (int level = 0; level < CN_TIMED_N_VELOCITIES; level++)
        cn_token_name((CnToken){.kind = CN_EVENT_VELOCITY, .pitch = (uint8_t)level},
                      vocab->names[k++]);
    return vocab_finish(vocab, n, err);
}

int cn_vocab_from_names(const char *const *names, size_t n_names, CnVocab *vocab, CnError *err)
{
    if (vocab_alloc(vocab, n_names, err))
        return -1;
    for (size_t i = 0; i < n_names; i++) {
        if (strlen(names[i]) >= CN_TOKEN_NAME_MAX) {
            cn_vocab_free(vocab);
            return cn_fail(err, "vocabulary entry %zu is longer than a token can be", i);
        }
        strcpy(vocab->names[i], names[i]);
    }
    size_t n = n_names;
    if (vocab_finish(vocab, n, err))
        return -1;
    if (vocab->n != n_names) {
        cn_vocab_free(vocab);
        return cn_fail(err, "vocabulary lists a token twice");
    }
    return 0;
}

int cn_vocab_index(const CnVocab *vocab, CnToken token)
{
    char name[CN_TOKEN_NAME_MAX];
    cn_token_name(token, name);
    const char(*hit)[CN_TOKEN_NAME_MAX] =
        bsearch(name, vocab->names, vocab->n, sizeof *vocab->names, compare_names);
    return hit ? (int)(hit - vocab->names) : -1;
}

static uint16_t token_pcs(CnToken t)
{
    return t.is_chord ? t.pc_mask : (uint16_t)(1u << (t.pitch % 12));
}

/* Lower is closer: same-class notes by octave distance, then chords by shared classes. */
static long token_distance(CnToken want, CnToken have)
{
    if (want.kind != have.kind)
        return 10000000;
    if (want.kind == CN_EVENT_ON || want.kind == CN_EVENT_OFF)
        return cn_timed_key(want.pitch) == have.pitch ? 0 : 1000 + abs(want.pitch - have.pitch);
    if (want.kind != CN_TOKEN_PITCHED)
        return abs(want.pitch - have.pitch);
    if (!want.is_chord && !have.is_chord) {
        int d = abs((int)want.pitch - (int)have.pitch);
        return d % 12 == 0 ? d / 12 : 1000 + d;
    }
    uint16_t a = token_pcs(want), b = token_pcs(have);
    int shared = __builtin_popcount(a & b), differ = __builtin_popcount(a ^ b);
    return 100000 - 100 * shared + differ + (want.is_chord != have.is_chord ? 50 : 0);
}

int cn_vocab_nearest(const CnVocab *vocab, CnToken token)
{
    int best = -1;
    long best_distance = 0;
    for (size_t i = 0; i < vocab->n; i++) {
        long d = token_distance(token, vocab->tokens[i]);
        if (best < 0 || d < best_distance) {
            best = (int)i;
            best_distance = d;
        }
    }
    return best;
}

void cn_vocab_free(CnVocab *vocab)
{
    if (!vocab)
        return;
    free(vocab->names);
    free(vocab->tokens);
    vocab->names = NULL;
    vocab->tokens = NULL;
    vocab->n = 0;
}
