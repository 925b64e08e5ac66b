/* A small, fast, seedable random generator (xoshiro256**, seeded by splitmix64), used
 * by initialization, dropout, data order and sampling. Its state is a plain value, so
 * that it can be saved in a checkpoint and restored exactly. */
#ifndef CONTINUO_RNG_H
#define CONTINUO_RNG_H

#include <math.h>
#include <stdint.h>

typedef struct {
    uint64_t s[4];
} CnRng;

static inline uint64_t cn_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline void cn_rng_seed(CnRng *rng, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        rng->s[i] = cn_splitmix64(&seed);
}

static inline uint64_t cn_rng_u64(CnRng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = ((s[1] * 5) << 7 | (s[1] * 5) >> 57) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = s[3] << 45 | s[3] >> 19;
    return result;
}

/* Uniform in [0, 1) with 24 bits, exactly representable as a float. */
static inline float cn_rng_float(CnRng *rng)
{
    return (float)(cn_rng_u64(rng) >> 40) * (1.0f / 16777216.0f);
}

/* Uniform integer in [0, n), n > 0 (Lemire's multiply, bias below 2^-32 for small n). */
static inline uint32_t cn_rng_below(CnRng *rng, uint32_t n)
{
    return (uint32_t)(((cn_rng_u64(rng) >> 32) * (uint64_t)n) >> 32);
}

static inline double cn_rng_normal(CnRng *rng)
{
    double u1 = ((double)(cn_rng_u64(rng) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
    double u2 = (double)(cn_rng_u64(rng) >> 11) * (1.0 / 9007199254740992.0);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

#endif
