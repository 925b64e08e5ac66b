/* What a generated token costs beside its model step: the sampler (temperature, top-p)
 * against the step, on a real model's own distributions, measured in the same run; and the
 * same draw guided (guide.h, the default strengths) by a guide that hears every token, the
 * worst case (live, it hears only the player's).
 * Usage: bench_sampler WEIGHTS.cnw [TOKENS=20000] [THREADS=1] [--bf16|--f32] [TEMPERATURE=0.9] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "continuo/generate.h"
#include "continuo/model.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_sampler WEIGHTS.cnw [TOKENS] [THREADS] [--bf16|--f32] "
                        "[TEMPERATURE]\n");
        return 2;
    }
    long n_tokens = argc > 2 ? atol(argv[2]) : 20000;
    int threads = argc > 3 ? atoi(argv[3]) : 1, bf16 = argc > 4 && !strcmp(argv[4], "--bf16");
    CnModel m;
    CnError err = {{0}};
    if (cn_model_load(&m, argv[1], 0, NULL, &err) ||
        (bf16 ? cn_model_make_bf16(&m, &err) : cn_model_pack_f32(&m, &err))) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    CnState state;
    CnSampler sampler, guided;
    CnGuide guide;
    float temperature = argc > 5 ? (float)atof(argv[5]) : 0.9f;
    CnSamplerOptions o = {.temperature = temperature, .top_p = 0.95f, .repetition_penalty = 1.0f};
    if (cn_state_init(&state, &m, CN_MODE_STATEFUL, 0, &err) ||
        (threads > 1 && cn_state_set_threads(&state, threads, &err)) ||
        cn_sampler_init(&sampler, m.config.n_vocab, &o, 1, &err)) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    CnSamplerOptions with_guide = o;
    CnSamplerOptions defaults = cn_sampler_defaults();
    with_guide.key_guard = defaults.key_guard;
    with_guide.loudness_width = defaults.loudness_width;
    with_guide.rhythm_guard = 0.5f; /* (off by default: on here, to count its share) */
    if (cn_sampler_init(&guided, m.config.n_vocab, &with_guide, 1, &err) ||
        cn_guide_init(&guide, &m.vocab, &with_guide, &err)) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    const float *probs = cn_state_step(&state, m.corpus ? m.corpus[0] : 0);
    double step_s = 0, sample_s = 0, guided_s = 0;
    for (long i = 0; i < n_tokens; i++) {
        double t0 = now();
        int id = cn_sampler_sample(&sampler, probs);
        double t1 = now();
        cn_guide_hear(&guide, m.vocab.tokens[id]);
        (void)cn_sampler_sample_biased(&guided, probs, cn_guide_bias(&guide));
        double t2 = now();
        probs = cn_state_step(&state, id);
        step_s += now() - t2;
        sample_s += t1 - t0;
        guided_s += t2 - t1;
    }
    double step_us = step_s / (double)n_tokens * 1e6, sample_us = sample_s / (double)n_tokens * 1e6;
    printf("%s (%s tokens, vocabulary %d, %s, %d thread%s): step %.2f us, sampling %.2f us "
           "(temperature %g, top-p 0.95) = %.3f of a step\n", argv[1],
           cn_scheme_name(m.vocab.scheme), m.config.n_vocab, bf16 ? "bfloat16" : "float32",
           threads, threads > 1 ? "s" : "", step_us, sample_us, (double)temperature,
           sample_us / step_us);
    double guided_us = guided_s / (double)n_tokens * 1e6;
    if (cn_guide_bias(&guide))
        printf("  guided (hearing every token, recomputed at each): %.2f us = %.3f of a step, "
               "%.2f x the unguided draw\n", guided_us, guided_us / step_us,
               guided_us / sample_us);
    cn_guide_free(&guide);
    cn_sampler_free(&guided);
    cn_sampler_free(&sampler);
    cn_state_free(&state);
    cn_model_free(&m);
    return 0;
}
