/* A timed model's guide: what the music being continued (a prime, the player's call) says
 * of its key and loudness, as factors for the sampler (cn_sampler_sample_biased). Its key
 * is Krumhansl and Kessler's of the note-ons heard, the recent ones counting most; an
 * out-of-key note-on is made less likely by the sampler options' key_guard. Its loudness is
 * the heard note-ons' mean velocity level; the levels the model may choose are weighted by
 * a normal of loudness_width levels around it, so the model's own dynamics stay, around the
 * loudness it answers. Its rhythm is the time steps (shift tokens) heard; a step that
 * made up under RARE_STEP of them is made less likely by rhythm_guard. The guide hears only what it is given, not the model's own playing:
 * a continuation keeps the key and loudness of what it continues. A model of the original
 * scheme is not guided (its factors are all 1: cn_guide_bias gives NULL). */
#ifndef CONTINUO_GUIDE_H
#define CONTINUO_GUIDE_H

#include "continuo/sampler.h"
#include "continuo/tokens.h"

/* How fast what was heard fades: its weight halves every this many beats heard since. */
#define CN_GUIDE_MEMORY_BEATS 16

typedef struct {
    const CnVocab *vocab;
    float key_guard, loudness_width, rhythm_guard;
    double pitch_weight[12];   /* note-ons heard, by pitch class, fading */
    double level_sum, level_n; /* velocity levels of the note-ons heard, fading */
    double shift_weight[CN_TIMED_MAX_SHIFT + 1], shift_n; /* time steps heard, fading */
    double learned_share[CN_TIMED_MAX_SHIFT + 1]; /* of each time step in the music the
                                                    model learned */
    int learned_known;         /* learned_share is set (cn_guide_learned) */
    int level;                 /* the velocity level note-ons are heard at now */
    int key;                   /* cn_key_of_weights(pitch_weight); -1 none yet */
    int stale;                 /* bias is behind what was heard */
    float *bias;               /* (vocab->n) the factors; NULL when not guided */
} CnGuide;

/* Allocates the factors for a timed vocabulary; options say how strongly to guide. */
int cn_guide_init(CnGuide *guide, const CnVocab *vocab, const CnSamplerOptions *options,
                  CnError *err);
void cn_guide_free(CnGuide *guide);

/* The music the model learned (its training tokens, ids of vocab): with it, the rhythm
 * guard weighs each time step by how much more (or less) often the heard music takes it
 * than that music did, so the continuation's steps come out in the heard music's shares;
 * without it, only the steps the heard music (almost) never took are made rarer. */
void cn_guide_learned(CnGuide *guide, const uint16_t *ids, size_t n_ids);

/* New strengths (what was heard is kept). Allocates nothing. */
void cn_guide_set_options(CnGuide *guide, const CnSamplerOptions *options);

/* Forgets what was heard (the factors become 1 until something is heard again). */
void cn_guide_reset(CnGuide *guide);

/* Takes in one token of the music being continued. Allocates nothing. */
void cn_guide_hear(CnGuide *guide, CnToken token);

/* The factors for the next token, NULL when there are none (nothing heard, not guided).
 * Allocates nothing. */
const float *cn_guide_bias(CnGuide *guide);

/* The guide's key (-1: none yet) and loudness in velocity levels (-1: none yet). */
int cn_guide_key(const CnGuide *guide);
double cn_guide_loudness(const CnGuide *guide);

#endif
