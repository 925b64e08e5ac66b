/* Inference: the stateful step agrees with the batched network and with window mode, a
 * copied state continues identically, the sampler is deterministic and does what each
 * option says, and evaluation gives hand-computed numbers. */
#include <math.h>
#include <unistd.h>

#include "continuo/eval.h"
#include "continuo/generate.h"
#include "continuo/sampler.h"
#include "continuo/state.h"
#include "kernels.h"
#include "net_batch.h"
#include "test_util.h"

static const char *names[] = {"0.4.7", "2.7", "C4", "D4", "E4", "F#4", "G4", "A4", "B4"};

static CnModel new_model(int n_embed, int n_dense)
{
    CnVocab vocab;
    CnError err = {{0}};
    cn_vocab_from_names(names, 9, &vocab, &err);
    CnModelConfig config = {.n_vocab = 9, .n_embed = n_embed, .n_layers = 3, .n_hidden = 24,
                            .n_dense = n_dense, .dropout = 0.3f};
    CnModel m;
    CHECK(cn_model_init(&m, &config, &vocab, 21, &err) == 0);
    for (size_t i = 0; i < m.n_params; i++) /* livelier than the initialization */
        m.params[i] *= 2.0f;
    cn_vocab_free(&vocab);
    return m;
}

static double max_diff(const float *a, const float *b, int n)
{
    double worst = 0;
    for (int i = 0; i < n; i++)
        worst = fmax(worst, fabs((double)a[i] - b[i]));
    return worst;
}

static void test_step_matches_the_batched_network(void)
{
    for (int variant = 0; variant < 2; variant++) {
        CnModel m = new_model(variant ? 6 : 0, variant ? 0 : 7);
        CnError err = {{0}};
        int T = 20;
        NetBatch nb;
        CHECK(net_batch_init(&nb, &m.config, 1, T, 0, &err) == 0);
        CnState s;
        CHECK(cn_state_init(&s, &m, CN_MODE_STATEFUL, 0, &err) == 0);
        for (int t = 0; t < T; t++) {
            nb.ids[t] = (t * 5 + 3) % 9;
            nb.targets[t] = 0;
            nb.keep[t] = t > 0;
        }
        net_batch_forward(&nb, &m.w, NULL);
        double worst = 0;
        for (int t = 0; t < T; t++)
            worst = fmax(worst, max_diff(cn_state_step(&s, nb.ids[t]), nb.probs + t * 9, 9));
        printf("# variant %d: step vs batched sgemm, largest difference %.2e\n", variant, worst);
        CHECK(worst < 1e-5);
        cn_state_free(&s);
        net_batch_free(&nb);
        cn_model_free(&m);
    }
}

/* The packed bfloat16 product against a plain loop over the rounded weights, on shapes
 * with whole panels, a partial one, an odd number of inputs and a single input; by every
 * kernel this processor has. The float32 kernels agree to rounding; the AVX512-BF16 one,
 * which keeps 16 significant bits of each input, to 2^-16 of the sum of |w x|. */
static void test_the_packed_bfloat16_product(void)
{
    static const int shapes[][2] = {{96, 24}, {9, 7}, {355, 6}, {17, 1}, {48, 65}, {32, 600}};
    int best = cn_kernels_best();
    for (int level = CN_BF16_PORTABLE; level <= best; level++) {
        cn_kernels_limit(level);
        CHECK(cn_kernels_best() == level);
        cn_kernels_limit(CN_BF16_DOT);
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            int rows = shapes[s][0], cols = shapes[s][1];
            float *w = malloc(sizeof(float) * rows * cols), *x = malloc(sizeof(float) * cols);
            float *y = malloc(sizeof(float) * rows), *ref = malloc(sizeof(float) * rows);
            double *magnitude = malloc(sizeof(double) * rows);
            uint16_t *packed = malloc(2 * (size_t)rows * cols);
            for (int i = 0; i < rows * cols; i++)
                w[i] = sinf(0.37f * i) * 0.8f;
            for (int k = 0; k < cols; k++)
                x[k] = cosf(0.11f * k) * (k % 3 ? 1.0f : 1e-3f);
            cn_pack_bf16(packed, w, (size_t)rows, (size_t)cols, level);
            for (int r = 0; r < rows; r++) {
                double sum = 0.25; /* y starts non-zero: the product is added */
                magnitude[r] = 0;
                for (int k = 0; k < cols; k++) {
                    uint16_t b;
                    cn_to_bf16(&b, &w[r * cols + k], 1);
                    uint32_t bits = (uint32_t)b << 16;
                    float rounded;
                    memcpy(&rounded, &bits, sizeof rounded);
                    sum += (double)rounded * x[k];
                    magnitude[r] += fabs((double)rounded * x[k]);
                }
                ref[r] = (float)sum;
                y[r] = 0.25f;
            }
            cn_gemv_bf16(y, packed, x, (size_t)rows, (size_t)cols, level);
            int bad = 0;
            for (int r = 0; r < rows; r++) {
                double tolerance = level == CN_BF16_DOT ? magnitude[r] / 65536 + 1e-6
                                                        : 1e-6 * (1 + magnitude[r]);
                bad += fabs((double)y[r] - ref[r]) > tolerance;
            }
            if (bad)
                printf("# %d x %d (kernel %d): %d rows off, e.g. %.8g for %.8g\n", rows, cols,
                       level, bad, y[0], ref[0]);
            CHECK(bad == 0);
            free(w), free(x), free(y), free(ref), free(magnitude), free(packed);
        }
    }
    printf("# bfloat16 kernels checked: %d of 3 (this processor's best: %d)\n", best + 1, best);
}

/* A step on the packed bfloat16 copy is the float32 step on the rounded weights; a step
 * shared among threads is bit for bit the one-thread step, whether the helpers spin or
 * have gone to sleep between steps. */
static void test_bfloat16_and_threaded_steps(void)
{
    CnError err = {{0}};
    CnVocab vocab;
    cn_vocab_from_names(names, 9, &vocab, &err);
    CnModelConfig config = {.n_vocab = 9, .n_embed = 6, .n_layers = 2, .n_hidden = 40,
                            .n_dense = 20};
    CnModel m;
    CHECK(cn_model_init(&m, &config, &vocab, 5, &err) == 0);
    cn_vocab_free(&vocab);
    for (size_t i = 0; i < m.n_params; i++)
        m.params[i] *= 2.0f;
    CHECK(cn_model_round_bf16(&m, &err) == 0);
    CHECK(cn_model_make_bf16(&m, &err) == 0);
    for (int kernel = 0; kernel < 2; kernel++) {
        CnState one, three;
        CHECK(cn_state_init(&one, &m, CN_MODE_STATEFUL, 0, &err) == 0);
        CHECK(cn_state_init(&three, &m, CN_MODE_STATEFUL, 0, &err) == 0);
        one.kernel = three.kernel = kernel ? CN_KERNEL_BF16 : CN_KERNEL_F32;
        CHECK(cn_state_set_threads(&three, 3, &err) == 0);
        CHECK(cn_state_set_threads(&three, 99, &err) == -1 && strstr(err.message, "99"));
        CHECK(cn_state_set_threads(&three, 3, &err) == 0);
        int identical = 1;
        for (int t = 0; t < 30; t++) {
            if (t % 10 == 9)
                usleep(5000); /* long enough for the helpers to sleep */
            const float *a = cn_state_step(&one, (t * 4 + 1) % 9);
            const float *b = cn_state_step(&three, (t * 4 + 1) % 9);
            identical &= memcmp(a, b, 9 * sizeof(float)) == 0;
        }
        CHECK(identical);
        cn_state_free(&one);
        cn_state_free(&three);
    }
    /* bfloat16 steps, by every kernel this processor has, against float32 on the same
       (rounded) weights */
    for (int level = CN_BF16_PORTABLE; level <= cn_kernels_best(); level++) {
        cn_kernels_limit(level);
        CHECK(cn_model_make_bf16(&m, &err) == 0 && m.bf16_kernel == level); /* repacked */
        cn_kernels_limit(CN_BF16_DOT);
        CnState f32, bf16;
        CHECK(cn_state_init(&f32, &m, CN_MODE_STATEFUL, 0, &err) == 0);
        CHECK(cn_state_init(&bf16, &m, CN_MODE_STATEFUL, 0, &err) == 0);
        f32.kernel = CN_KERNEL_F32;
        double worst = 0;
        for (int t = 0; t < 30; t++) {
            const float *a = cn_state_step(&f32, (t * 7 + 2) % 9);
            worst = fmax(worst, max_diff(a, cn_state_step(&bf16, (t * 7 + 2) % 9), 9));
        }
        printf("# bfloat16 step (kernel %d) against float32 on the rounded weights: %.2e\n",
               level, worst);
        CHECK(bf16.kernel == CN_KERNEL_BF16);
        CHECK(worst < 1e-5);
        cn_state_free(&f32);
        cn_state_free(&bf16);
    }
    cn_model_free(&m);
}

/* The float32 matrices packed in place (in the file's read-only mapping made private and
 * writable): steps agree with the row-major ones to rounding, on one thread or three, and
 * the packed model refuses to be saved or given a bfloat16 copy. */
static void test_packed_float32_steps(void)
{
    CnError err = {{0}};
    CnModel plain, packed;
    const char *path = CONTINUO_SOURCE_DIR "/weights/original.cnw";
    CHECK(cn_model_load(&plain, path, 0, NULL, &err) == 0);
    CHECK(cn_model_load(&packed, path, 0, NULL, &err) == 0);
    CHECK(packed.owned_mapping != NULL); /* the read-only mapping path */
    CHECK(cn_model_pack_f32(&packed, &err) == 0 && packed.f32_packed);
    int V = plain.config.n_vocab;
    CnState a, b, c;
    CHECK(cn_state_init(&a, &plain, CN_MODE_STATEFUL, 0, &err) == 0);
    CHECK(cn_state_init(&b, &packed, CN_MODE_STATEFUL, 0, &err) == 0);
    CHECK(cn_state_init(&c, &packed, CN_MODE_STATEFUL, 0, &err) == 0);
    CHECK(cn_state_set_threads(&c, 3, &err) == 0);
    for (int portable = 0; portable < 2; portable++) { /* the AVX-512 kernel, if any */
        cn_kernels_limit(portable ? CN_BF16_PORTABLE : CN_BF16_DOT);
        cn_state_reset(&a), cn_state_reset(&b), cn_state_reset(&c);
        double worst = 0;
        int identical = 1;
        for (int t = 0; t < 40; t++) {
            int token = (t * 13 + 5) % V;
            const float *pa = cn_state_step(&a, token), *pb = cn_state_step(&b, token);
            worst = fmax(worst, max_diff(pa, pb, V));
            identical &= memcmp(pb, cn_state_step(&c, token), (size_t)V * sizeof(float)) == 0;
        }
        printf("# packed float32 step (%s) against row-major: %.2e\n",
               portable ? "portable loops" : "best kernel", worst);
        CHECK(worst < 1e-5);
        CHECK(identical);
    }
    cn_kernels_limit(CN_BF16_DOT);
    char *dir = test_make_temp_dir("packed"), out[4200];
    snprintf(out, sizeof out, "%s/x.cnw", dir);
    CHECK(cn_model_save(&packed, NULL, out, &err) == -1 && strstr(err.message, "packed"));
    CHECK(cn_model_make_bf16(&packed, &err) == -1 && strstr(err.message, "packed"));
    test_remove_tree(dir);
    free(dir);
    cn_state_free(&a);
    cn_state_free(&b);
    cn_state_free(&c);
    cn_model_free(&plain);
    cn_model_free(&packed);
}

static void test_window_and_stateful_agree_for_the_first_window(void)
{
    CnModel m = new_model(5, 7);
    CnError err = {{0}};
    CnState stateful, window;
    int seq = 12;
    CHECK(cn_state_init(&stateful, &m, CN_MODE_STATEFUL, seq, &err) == 0);
    CHECK(cn_state_init(&window, &m, CN_MODE_WINDOW, seq, &err) == 0);
    int differ_after = 0;
    for (int t = 0; t < 2 * seq; t++) {
        int token = (t * 7 + 1) % 9;
        double d = max_diff(cn_state_step(&stateful, token), cn_state_step(&window, token), 9);
        if (t < seq)
            CHECK(d == 0.0); /* the same operations in the same order */
        else
            differ_after += d > 0;
    }
    CHECK(differ_after > 0); /* after seq tokens the window forgets; the state does not */
    cn_state_free(&stateful);
    cn_state_free(&window);
    cn_model_free(&m);
}

static void test_a_copied_state_continues_identically(void)
{
    CnModel m = new_model(0, 7);
    CnError err = {{0}};
    for (int mode = 0; mode < 2; mode++) {
        CnState a, b;
        CHECK(cn_state_init(&a, &m, (CnMode)mode, 8, &err) == 0);
        CHECK(cn_state_init(&b, &m, (CnMode)mode, 8, &err) == 0);
        for (int t = 0; t < 11; t++)
            cn_state_step(&a, t % 9);
        CHECK(cn_state_copy(&b, &a) == 0);
        for (int t = 0; t < 10; t++) {
            float pa[9];
            memcpy(pa, cn_state_step(&a, (t * 4) % 9), sizeof pa);
            CHECK(max_diff(pa, cn_state_step(&b, (t * 4) % 9), 9) == 0.0);
        }
        cn_state_reset(&b);
        CnState fresh;
        CHECK(cn_state_init(&fresh, &m, (CnMode)mode, 8, &err) == 0);
        CHECK(max_diff(cn_state_step(&fresh, 3), cn_state_step(&b, 3), 9) == 0.0);
        cn_state_free(&fresh);
        cn_state_free(&a);
        cn_state_free(&b);
    }
    CnState other;
    CnModel m2 = new_model(0, 7);
    CnState a;
    CHECK(cn_state_init(&a, &m, CN_MODE_STATEFUL, 8, &err) == 0);
    CHECK(cn_state_init(&other, &m2, CN_MODE_STATEFUL, 8, &err) == 0);
    CHECK(cn_state_copy(&other, &a) != 0); /* states of different models do not mix */
    cn_state_free(&a);
    cn_state_free(&other);
    cn_model_free(&m2);
    cn_model_free(&m);
}

static const float probs[6] = {0.05f, 0.4f, 0.3f, 0.15f, 0.06f, 0.04f};

static void test_argmax_and_its_equivalents(void)
{
    CnSampler s;
    CnError err = {{0}};
    CnSamplerOptions o = cn_sampler_argmax();
    CHECK(cn_sampler_init(&s, 6, &o, 1, &err) == 0);
    CHECK(cn_sampler_sample(&s, probs) == 1);
    cn_sampler_free(&s);
    o = (CnSamplerOptions){.temperature = 1.0f, .top_k = 1, .top_p = 1.0f,
                           .repetition_penalty = 1.0f};
    CHECK(cn_sampler_init(&s, 6, &o, 2, &err) == 0);
    for (int i = 0; i < 20; i++)
        CHECK(cn_sampler_sample(&s, probs) == 1);
    cn_sampler_free(&s);
    o.top_k = 0;
    o.top_p = 0.3f; /* the most likely token alone holds 0.4 */
    CHECK(cn_sampler_init(&s, 6, &o, 3, &err) == 0);
    for (int i = 0; i < 20; i++)
        CHECK(cn_sampler_sample(&s, probs) == 1);
    cn_sampler_free(&s);
}

static void test_sampling_follows_the_options(void)
{
    CnSampler s;
    CnError err = {{0}};
    CnSamplerOptions o = {.temperature = 1.0f, .top_p = 1.0f, .repetition_penalty = 1.0f};
    CHECK(cn_sampler_init(&s, 6, &o, 4, &err) == 0);
    int counts[6] = {0};
    for (int i = 0; i < 20000; i++)
        counts[cn_sampler_sample(&s, probs)]++;
    for (int k = 0; k < 6; k++) /* within 1.5 points of the model's distribution */
        CHECK(fabs(counts[k] / 20000.0 - probs[k]) < 0.015);
    cn_sampler_free(&s);

    o.top_k = 2; /* only tokens 1 and 2, in the ratio 4:3 */
    CHECK(cn_sampler_init(&s, 6, &o, 5, &err) == 0);
    memset(counts, 0, sizeof counts);
    for (int i = 0; i < 7000; i++)
        counts[cn_sampler_sample(&s, probs)]++;
    CHECK(counts[0] + counts[3] + counts[4] + counts[5] == 0);
    CHECK(abs(counts[1] - 4000) < 250);
    cn_sampler_free(&s);

    o = (CnSamplerOptions){.temperature = 0.5f, .top_p = 0.75f, .repetition_penalty = 1.0f};
    CHECK(cn_sampler_init(&s, 6, &o, 7, &err) == 0); /* p^2, and of that the nucleus: */
    memset(counts, 0, sizeof counts);               /* tokens 1 and 2 hold 0.16 + 0.09 of */
    for (int i = 0; i < 20000; i++)                 /* 0.2802 = 0.89: those two alone */
        counts[cn_sampler_sample(&s, probs)]++;
    CHECK(counts[0] + counts[3] + counts[4] + counts[5] == 0);
    CHECK(fabs(counts[1] / 20000.0 - 0.16 / 0.25) < 0.015);
    cn_sampler_free(&s);

    float flat[100];
    for (int k = 0; k < 100; k++)
        flat[k] = 0.01f;
    flat[37] = 0.0100001f; /* top-k 1 of an almost flat distribution: the heaviest, always */
    o = (CnSamplerOptions){.temperature = 1.0f, .top_k = 1, .top_p = 1.0f,
                           .repetition_penalty = 1.0f};
    CHECK(cn_sampler_init(&s, 100, &o, 8, &err) == 0);
    for (int i = 0; i < 50; i++)
        CHECK(cn_sampler_sample(&s, flat) == 37);
    cn_sampler_free(&s);

    o = (CnSamplerOptions){.temperature = 0, .top_p = 1, .repetition_penalty = 10,
                           .repetition_window = 4};
    CHECK(cn_sampler_init(&s, 6, &o, 6, &err) == 0);
    CHECK(cn_sampler_sample(&s, probs) == 1); /* then 1 is recent and penalized */
    CHECK(cn_sampler_sample(&s, probs) == 2);
    CHECK(cn_sampler_sample(&s, probs) == 3);
    cn_sampler_free(&s);

    CnSamplerOptions bad = {.temperature = -1, .top_p = 1, .repetition_penalty = 1};
    CHECK(cn_sampler_check(&bad, &err) != 0 && strstr(err.message, "temperature"));
    bad = (CnSamplerOptions){.temperature = 1, .top_p = 0, .repetition_penalty = 1};
    CHECK(cn_sampler_check(&bad, &err) != 0 && strstr(err.message, "top-p"));
}

static void test_same_seed_same_continuation(void)
{
    CnModel m = new_model(4, 7);
    CnError err = {{0}};
    int prime[5] = {2, 3, 4, 5, 6}, a[50], b[50], c[50];
    CnGenerateOptions o = {.mode = CN_MODE_STATEFUL, .seed = 9,
                           .sampler = {.temperature = 1.0f, .top_p = 0.9f,
                                       .repetition_penalty = 1.0f}};
    CHECK(cn_generate(&m, prime, 5, 50, &o, a, &err) == 0);
    CHECK(cn_generate(&m, prime, 5, 50, &o, b, &err) == 0);
    CHECK(memcmp(a, b, sizeof a) == 0);
    o.seed = 10;
    CHECK(cn_generate(&m, prime, 5, 50, &o, c, &err) == 0);
    CHECK(memcmp(a, c, sizeof a) != 0);
    cn_model_free(&m);
}

/* A small timed model whose output ignores its state: every event improbable (the test
 * raises the biases of those it plays); its LSTM keeps random weights, so that its state
 * depends on what it is fed. */
static CnModel timed_model_ignoring_state(CnVocab *vocab, uint64_t seed)
{
    CnError err = {{0}};
    CHECK(cn_vocab_timed(vocab, &err) == 0);
    CnModelConfig config = {.n_vocab = (int)vocab->n, .n_embed = 4, .n_layers = 1,
                            .n_hidden = 8, .n_dense = 0};
    CnModel m;
    CHECK(cn_model_init(&m, &config, vocab, seed, &err) == 0);
    memset(m.w.out_w, 0, (size_t)config.n_vocab * config.n_hidden * sizeof(float));
    for (int k = 0; k < config.n_vocab; k++)
        m.w.out_b[k] = -1e4f;
    return m;
}

/* A timed model that ignores its input and never releases a key: it strikes C4 (one
 * event in 20) or moves a beat on. Every note must end where it has sounded the longest
 * length, at once after the shift that reaches it, and the model must be told: the
 * release is in the stream the state was fed, not only in the rendered file. */
static void test_a_note_the_model_does_not_end_is_released_and_told(void)
{
    CnVocab vocab;
    CnError err = {{0}};
    CnModel m = timed_model_ignoring_state(&vocab, 3);
    int on = cn_vocab_index(&vocab, (CnToken){.kind = CN_EVENT_ON, .pitch = 60});
    int off = cn_vocab_index(&vocab, (CnToken){.kind = CN_EVENT_OFF, .pitch = 60});
    int beat = cn_vocab_index(&vocab, (CnToken){.kind = CN_EVENT_SHIFT, .pitch = 12});
    m.w.out_b[on] = 0;
    m.w.out_b[beat] = (float)log(19.0);
    CnGenerateOptions o = {.mode = CN_MODE_STATEFUL, .seed = 4,
                           .sampler = {.temperature = 1.0f, .top_p = 1.0f,
                                       .repetition_penalty = 1.0f}};
    CnGenerator g;
    int prime = on;
    CHECK(cn_generator_init(&g, &m, &prime, 1, &o, &err) == 0);
    uint64_t now = 0, down_at = 1; /* the prime struck C4 at 0 */
    int n_released = 0, late = 0, offs_sampled = 0;
    static int given[3000];
    for (int i = 0; i < 3000; i++) {
        int id = given[i] = cn_generator_next(&g);
        if (id == beat) {
            now += 12;
            late += down_at && now - (down_at - 1) > CN_TIMED_LONGEST_NOTE;
        } else if (id == on) {
            down_at = now + 1;
        } else if (id == off) {
            n_released++;
            late += !down_at || now - (down_at - 1) != CN_TIMED_LONGEST_NOTE;
            down_at = 0;
        } else {
            offs_sampled++;
        }
    }
    printf("# %d notes released at their longest by the generator (it says %zu), %d late\n",
           n_released, g.n_released, late);
    CHECK(n_released > 10 && (size_t)n_released == g.n_released);
    CHECK(late == 0 && offs_sampled == 0);
    /* the state was fed the releases: the prime and the stream but its last token, stepped
       by hand, give the generator's state */
    CnState by_hand;
    CHECK(cn_state_init(&by_hand, &m, CN_MODE_STATEFUL, 0, &err) == 0);
    cn_state_step(&by_hand, prime);
    for (int i = 0; i + 1 < 3000; i++)
        cn_state_step(&by_hand, given[i]);
    CHECK(by_hand.n_steps == g.state.n_steps);
    CHECK(max_diff(by_hand.h, g.state.h, m.config.n_hidden) == 0);
    cn_state_free(&by_hand);
    cn_generator_free(&g);
    cn_model_free(&m);
    cn_vocab_free(&vocab);
}

/* A model that ignores its input: zero weights, output bias log p. */
static void test_eval_gives_hand_computed_numbers(void)
{
    CnModel m = new_model(0, 0);
    memset(m.params, 0, m.n_params * sizeof(float));
    double p[9] = {0.4, 0.3, 0.2, 0.1, 0, 0, 0, 0, 0};
    for (int k = 0; k < 9; k++)
        m.w.out_b[k] = p[k] > 0 ? (float)log(p[k]) : -1e4f;
    uint16_t song1[] = {0, 1, 2, 0}, song2[] = {1, 1};
    CnSongIds songs[2] = {{song1, 4}, {song2, 2}};
    CnEvalLoss st, wi;
    CnError err = {{0}};
    CHECK(cn_eval_loss(&m, songs, 2, CN_MODE_STATEFUL, 2, &st, &err) == 0);
    CHECK(cn_eval_loss(&m, songs, 2, CN_MODE_WINDOW, 2, &wi, &err) == 0);
    /* stateful targets 1, 2, 0 | 1; window (seq 2) over 0 1 2 0 1 1: targets 2, 0, 1, 1 */
    double st_expected = -(log(0.3) + log(0.2) + log(0.4) + log(0.3)) / 4;
    double wi_expected = -(log(0.2) + log(0.4) + log(0.3) + log(0.3)) / 4;
    CHECK(st.n_predicted == 4 && wi.n_predicted == 4);
    CHECK_NEAR(st.loss, st_expected, 1e-5);
    CHECK_NEAR(wi.loss, wi_expected, 1e-5);
    CHECK_NEAR(st.perplexity, exp(st_expected), 1e-4);
    CHECK_NEAR(st.accuracy, 0.25, 1e-12); /* argmax is token 0: one target of four */
    CHECK_NEAR(wi.accuracy, 0.25, 1e-12);
    cn_model_free(&m);
}

static void test_generated_statistics_by_hand(void)
{
    int ab[] = {1, 2, 1, 2, 1, 2, 3, 4, 5, 6};
    CHECK(cn_eval_longest_loop(ab, 10, 32) == 6);     /* 1 2 1 2 1 2 */
    int none[] = {1, 2, 3, 4, 5, 6};
    CHECK(cn_eval_longest_loop(none, 6, 32) == 0);
    CHECK_NEAR(cn_eval_distinct_ngrams(none, 6, 4), 1.0, 1e-12);
    /* 4-grams of ab: 1212 2121 1212 2123 1234 2345 3456: 6 distinct of 7 */
    CHECK_NEAR(cn_eval_distinct_ngrams(ab, 10, 4), 6.0 / 7.0, 1e-12);
    uint16_t corpus[] = {9, 1, 2, 3, 9};
    int gen[] = {1, 2, 3, 4}; /* 3-grams: 123 (in corpus) 234 (not) */
    CHECK_NEAR(cn_eval_copied_share(gen, 4, corpus, 5, 3), 0.5, 1e-12);

    CnVocab v;
    CnError err = {{0}};
    const char *pcs[] = {"C4", "D4", "0.2"};
    CHECK(cn_vocab_from_names(pcs, 3, &v, &err) == 0); /* sorted: "0.2", "C4", "D4" */
    int only_c[] = {1, 1};
    uint16_t chord[] = {0};
    /* C only against half C, half D: distance 0.5 */
    CHECK_NEAR(cn_eval_pitch_class_distance(&v, only_c, 2, chord, 1), 0.5, 1e-12);
    cn_vocab_free(&v);
}

/* Krumhansl-Kessler keys of hand-made notes, scales and relatives. */
static void test_keys_by_hand(void)
{
    CnNote c_major[7], a_minor[8];
    const uint8_t up_c[7] = {60, 62, 64, 65, 67, 69, 71};
    const uint8_t up_a[8] = {57, 59, 60, 62, 64, 65, 68, 69}; /* harmonic minor */
    for (int i = 0; i < 8; i++) {
        if (i < 7)
            c_major[i] = (CnNote){.onset = (uint32_t)i * 480, .duration = i == 0 ? 1440 : 480,
                                  .pitch = up_c[i], .velocity = 64};
        a_minor[i] = (CnNote){.onset = (uint32_t)i * 480,
                              .duration = i == 0 || i == 7 ? 1440 : 480, .pitch = up_a[i],
                              .velocity = 64};
    }
    CHECK(cn_key_of_notes(c_major, 7) == 0);
    CHECK(cn_key_of_notes(a_minor, 8) == 12 + 9);
    CHECK_STR(cn_key_name(12 + 9), "a");
    CHECK(cn_key_of_notes(c_major, 0) == -1);
    CHECK(cn_keys_related(0, 21) && cn_keys_related(21, 0) && cn_keys_related(7, 16));
    CHECK(!cn_keys_related(0, 19) && !cn_keys_related(0, 7) && !cn_keys_related(12, 21));
    CHECK(cn_key_has(0, 0) && cn_key_has(0, 11) && !cn_key_has(0, 6) && !cn_key_has(0, 1));
    CHECK(cn_key_has(21, 8) && cn_key_has(21, 7) && !cn_key_has(21, 1)); /* G# and G in a */
}

/* The guide of a timed vocabulary after hearing an E minor arpeggio, soft, in eighths: an
 * F note-on (not in e) is 1 - key_guard as likely, G and D# (e's raised seventh) are not
 * touched; the velocity levels fall off around the heard one; a step never heard is
 * 1 - rhythm_guard as likely, the eighth not; and sampling with the factors keeps to them.
 * An original vocabulary and a guide with nothing heard change nothing. */
static void test_the_guide_by_hand(void)
{
    CnError err = {{0}};
    CnVocab v;
    CHECK(cn_vocab_timed(&v, &err) == 0);
    CnSamplerOptions o = cn_sampler_defaults();
    o.key_guard = 0.9f;
    o.loudness_width = 2;
    o.rhythm_guard = 0.5f;
    CnGuide g;
    CHECK(cn_guide_init(&g, &v, &o, &err) == 0);
    CHECK(cn_guide_bias(&g) == NULL);
    CHECK(cn_guide_key(&g) == -1 && cn_guide_loudness(&g) < 0);
    const uint8_t arpeggio[] = {52, 55, 59, 64, 59, 55, 63, 64};
    cn_guide_hear(&g, (CnToken){.kind = CN_EVENT_VELOCITY, .pitch = 4});
    for (int round = 0; round < 4; round++)
        for (int i = 0; i < 8; i++) {
            cn_guide_hear(&g, (CnToken){.kind = CN_EVENT_ON, .pitch = arpeggio[i]});
            cn_guide_hear(&g, (CnToken){.kind = CN_EVENT_SHIFT, .pitch = 6});
            cn_guide_hear(&g, (CnToken){.kind = CN_EVENT_OFF, .pitch = arpeggio[i]});
        }
    CHECK_STR(cn_key_name(cn_guide_key(&g)), "e");
    CHECK_NEAR(cn_guide_loudness(&g), 4, 1e-9);
    const float *bias = cn_guide_bias(&g);
    CHECK(bias != NULL);
    if (!bias)
        return;
    int f = cn_vocab_index(&v, (CnToken){.kind = CN_EVENT_ON, .pitch = 65});
    int g4 = cn_vocab_index(&v, (CnToken){.kind = CN_EVENT_ON, .pitch = 67});
    int d_sharp = cn_vocab_index(&v, (CnToken){.kind = CN_EVENT_ON, .pitch = 63});
    int off_f = cn_vocab_index(&v, (CnToken){.kind = CN_EVENT_OFF, .pitch = 65});
    int level[3] = {cn_vocab_index(&v, (CnToken){.kind = CN_EVENT_VELOCITY, .pitch = 4}),
                    cn_vocab_index(&v, (CnToken){.kind = CN_EVENT_VELOCITY, .pitch = 6}),
                    cn_vocab_index(&v, (CnToken){.kind = CN_EVENT_VELOCITY, .pitch = 12})};
    int eighth = cn_vocab_index(&v, (CnToken){.kind = CN_EVENT_SHIFT, .pitch = 6});
    int fifth_of_beat = cn_vocab_index(&v, (CnToken){.kind = CN_EVENT_SHIFT, .pitch = 5});
    CHECK_NEAR(bias[f], 0.1, 1e-6);
    CHECK(bias[g4] == 1 && bias[d_sharp] == 1 && bias[off_f] == 1);
    CHECK_NEAR(bias[level[0]], 1, 1e-6);
    CHECK_NEAR(bias[level[1]], exp(-0.5), 1e-6);
    CHECK(bias[level[2]] < 1e-3); /* four widths away */
    CHECK(bias[eighth] == 1);
    CHECK_NEAR(bias[fifth_of_beat], 0.5, 1e-6);

    /* with the shares of the music the model learned (eighths and quarters alike), a step
       weighs (heard + 0.01) / (learned + 0.01) to the guard's power: the heard eighths
       more, the quarters it never took less, a step neither took alike */
    int quarter = cn_vocab_index(&v, (CnToken){.kind = CN_EVENT_SHIFT, .pitch = 12});
    uint16_t learned[4] = {(uint16_t)eighth, (uint16_t)quarter, (uint16_t)f, (uint16_t)g4};
    cn_guide_learned(&g, learned, 4);
    bias = cn_guide_bias(&g);
    CHECK_NEAR(bias[eighth], pow(1.01 / 0.51, 0.5), 1e-5);
    CHECK_NEAR(bias[quarter], pow(0.01 / 0.51, 0.5), 1e-5);
    CHECK_NEAR(bias[fifth_of_beat], 1, 1e-6);
    CHECK_NEAR(bias[f], 0.1, 1e-6); /* the key as before */

    /* an even distribution over F and G4: F comes about a tenth as often as G4 */
    float *probs = calloc(v.n, sizeof *probs);
    probs[f] = probs[g4] = 0.5f;
    CnSamplerOptions plain = {.temperature = 1, .top_p = 1, .repetition_penalty = 1};
    CnSampler s;
    CHECK(cn_sampler_init(&s, (int)v.n, &plain, 7, &err) == 0);
    int n_f = 0;
    for (int i = 0; i < 11000; i++)
        n_f += cn_sampler_sample_biased(&s, probs, bias) == f;
    CHECK(n_f > 700 && n_f < 1300);
    /* a bias that leaves nothing is not followed */
    probs[g4] = 0;
    probs[f] = 1;
    float none[1024] = {0};
    CHECK(v.n <= 1024 && cn_sampler_sample_biased(&s, probs, none) == f);
    cn_sampler_free(&s);
    free(probs);

    cn_guide_reset(&g);
    CHECK(cn_guide_bias(&g) == NULL && cn_guide_key(&g) == -1);
    cn_guide_free(&g);
    cn_vocab_free(&v);

    const char *names[] = {"C4", "D4", "0.4.7"};
    CHECK(cn_vocab_from_names(names, 3, &v, &err) == 0);
    CHECK(cn_guide_init(&g, &v, &o, &err) == 0);
    cn_guide_hear(&g, v.tokens[0]);
    CHECK(cn_guide_bias(&g) == NULL);
    cn_guide_free(&g);
    cn_vocab_free(&v);
}

/* Continuations of a piece that climbs the C major scale in quarters for 64 beats: the
 * composer's next 32 beats are the prime's key, rhythm and loudness exactly; a model that
 * ignores its input and strikes or releases C4 or moves a beat on plays in that key, at the
 * prime's loudness (it says none of its own), in gaps of whole beats. */
static void test_continuations_by_hand(void)
{
    CnVocab vocab;
    CnError err = {{0}};
    CnModel m = timed_model_ignoring_state(&vocab, 5);
#define ID(kind_, value_) cn_vocab_index(&vocab, (CnToken){.kind = (kind_), .pitch = (value_)})
    m.w.out_b[ID(CN_EVENT_ON, 60)] = m.w.out_b[ID(CN_EVENT_OFF, 60)] = 0;
    m.w.out_b[ID(CN_EVENT_SHIFT, 12)] = 0;
    static const uint8_t scale[7] = {60, 62, 64, 65, 67, 69, 71};
    uint16_t ids[64 * 4];
    size_t n = 0;
    ids[n++] = (uint16_t)ID(CN_EVENT_VELOCITY, 8);
    for (int beat = 0; beat < 64; beat++) {
        ids[n++] = (uint16_t)ID(CN_EVENT_ON, scale[beat % 7]);
        ids[n++] = (uint16_t)ID(CN_EVENT_SHIFT, 12);
        ids[n++] = (uint16_t)ID(CN_EVENT_OFF, scale[beat % 7]);
    }
#undef ID
    CnSongIds songs[2] = {{ids, n}, {ids, 40}}; /* the second too short */
    CnContinueOptions o = {.prime_beats = 32, .continue_beats = 32, .max_tokens = 2000,
                           .gen = {.mode = CN_MODE_STATEFUL, .seed = 3,
                                   .sampler = {.temperature = 1.0f, .top_p = 1.0f,
                                               .repetition_penalty = 1.0f}}};
    CnContinuation model, composer;
    CHECK(cn_eval_continuations(&m, songs, 2, &o, &model, &composer, &err) == 0);
    CnContinuationMeans t = cn_continuation_means(&composer);
    CnContinuationMeans g = cn_continuation_means(&model);
    printf("# composer: in key %.3f, keys agree %.3f, gaps %.3f; model: in key %.3f, gaps "
           "%.3f, %.1f distinct, velocity %.2f\n", t.in_key, t.keys_agree, t.gap_distance,
           g.in_key, g.gap_distance, g.distinct_gaps, g.velocity_difference);
    CHECK(composer.n_pieces == 1 && composer.n_too_short == 1 && model.n_pieces == 1);
    CHECK(composer.n_notes == 32);
    CHECK_NEAR(t.in_key, 1, 0);
    CHECK_NEAR(t.keys_agree, 1, 0);
    CHECK_NEAR(t.long_notes, 0, 0);
    CHECK_NEAR(t.gap_distance, 0, 1e-12);
    CHECK_NEAR(t.distinct_gaps, 1, 0);
    CHECK_NEAR(t.top_gap, 1, 0);
    CHECK_NEAR(t.velocity_difference, 0, 0);
    CHECK(model.n_notes > 0);
    CHECK_NEAR(g.in_key, 1, 0);
    CHECK_NEAR(g.velocity_difference, 0, 0);
    CHECK(g.distinct_gaps >= 1);
    CnModel original = new_model(0, 0);
    CHECK(cn_eval_continuations(&original, songs, 1, &o, &model, &composer, &err) == -1);
    cn_model_free(&original);
    cn_model_free(&m);
    cn_vocab_free(&vocab);
}

int main(void)
{
    RUN(test_step_matches_the_batched_network);
    RUN(test_the_packed_bfloat16_product);
    RUN(test_bfloat16_and_threaded_steps);
    RUN(test_packed_float32_steps);
    RUN(test_window_and_stateful_agree_for_the_first_window);
    RUN(test_a_copied_state_continues_identically);
    RUN(test_argmax_and_its_equivalents);
    RUN(test_sampling_follows_the_options);
    RUN(test_same_seed_same_continuation);
    RUN(test_a_note_the_model_does_not_end_is_released_and_told);
    RUN(test_eval_gives_hand_computed_numbers);
    RUN(test_generated_statistics_by_hand);
    RUN(test_keys_by_hand);
    RUN(test_the_guide_by_hand);
    RUN(test_continuations_by_hand);
    return test_finish();
}
