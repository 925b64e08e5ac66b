/* What runs beside the audio thread allocates nothing: an inference step (through
 * OpenBLAS too, on packed float32 or bfloat16 weights, shared with helper threads) and a
 * sampler draw, counted by the process-wide allocation counter. */
#include <cblas.h>

#include "alloc_counter.h"
#include <unistd.h>

#include "continuo/engine.h"
#include "continuo/ring.h"
#include "continuo/sampler.h"
#include "continuo/state.h"
#include "test_util.h"

static const char *names[] = {"0.4.7", "2.7", "C4", "D4", "E4", "F#4", "G4", "A4", "B4"};

enum { ROW_MAJOR, PACKED_F32, PACKED_BF16 };
static const char *packings[] = {"row-major", "packed float32", "packed bfloat16"};

static void steps_allocate_nothing(int n_embed, CnMode mode, int threads, int packing)
{
    openblas_set_num_threads(threads);
    CnVocab vocab;
    CnError err = {{0}};
    cn_vocab_from_names(names, 9, &vocab, &err);
    /* big enough that OpenBLAS would use its threads for the products */
    CnModelConfig config = {.n_vocab = 9, .n_embed = n_embed, .n_layers = 2, .n_hidden = 512,
                            .n_dense = 64, .dropout = 0.3f};
    CnModel m;
    CHECK(cn_model_init(&m, &config, &vocab, 1, &err) == 0);
    if (packing == PACKED_BF16)
        CHECK(cn_model_make_bf16(&m, &err) == 0);
    if (packing == PACKED_F32)
        CHECK(cn_model_pack_f32(&m, &err) == 0);
    CnState state;
    CnSampler sampler;
    CnSamplerOptions o = {.temperature = 0.9f, .top_k = 5, .top_p = 0.9f,
                          .repetition_penalty = 1.2f, .repetition_window = 8};
    CHECK(cn_state_init(&state, &m, mode, 6, &err) == 0);
    CHECK(cn_sampler_init(&sampler, 9, &o, 1, &err) == 0);
    if (packing != ROW_MAJOR) /* the helper threads are started before counting */
        CHECK(cn_state_set_threads(&state, threads, &err) == 0);
    cn_sampler_sample(&sampler, cn_state_step(&state, 2)); /* BLAS warms up its buffers */
    alloc_counter_start();
    int token = 3;
    for (int i = 0; i < 50; i++)
        token = cn_sampler_sample(&sampler, cn_state_step(&state, token));
    CnState copy = state; /* (a shallow struct copy, only to keep the compiler honest) */
    (void)copy;
    cn_state_reset(&state);
    long n = alloc_counter_stop();
    printf("# embed %d, %s mode, %s, %d threads: %ld allocations in 50 steps\n", n_embed,
           mode == CN_MODE_STATEFUL ? "stateful" : "window", packings[packing], threads, n);
    CHECK(n == 0);
    cn_sampler_free(&sampler);
    cn_state_free(&state);
    cn_model_free(&m);
    cn_vocab_free(&vocab);
}

static void test_stateful_steps_allocate_nothing(void)
{
    steps_allocate_nothing(0, CN_MODE_STATEFUL, 1, ROW_MAJOR);
    steps_allocate_nothing(16, CN_MODE_STATEFUL, 2, ROW_MAJOR);
    steps_allocate_nothing(16, CN_MODE_STATEFUL, 2, PACKED_F32);
    steps_allocate_nothing(16, CN_MODE_STATEFUL, 2, PACKED_BF16);
}

static void test_window_steps_allocate_nothing(void)
{
    steps_allocate_nothing(16, CN_MODE_WINDOW, 2, ROW_MAJOR);
}

static void test_ring_traffic_allocates_nothing(void)
{
    CnRing ring;
    CnError err = {{0}};
    CHECK(cn_ring_init(&ring, 24, 64, &err) == 0);
    char message[24] = "note on, frame 123";
    alloc_counter_start();
    for (int i = 0; i < 1000; i++) {
        cn_ring_push(&ring, message);
        if (i % 3 == 0)
            cn_ring_pop(&ring, message);
    }
    CHECK(alloc_counter_stop() == 0);
    cn_ring_free(&ring);
}

/* The host's cycles and the worker answering a phrase, counted together: nothing is
 * allocated once the engine has started, with a model of either scheme. */
static void engine_allocates_nothing(const char *path)
{
    CnModel m;
    CnError err = {{0}};
    CHECK(cn_model_load(&m, path, 0, NULL, &err) == 0);
    CnEngineOptions o = cn_engine_defaults(48000);
    o.wait_beats = 0.5;
    o.length = 8;
    CnEngine *e = cn_engine_new(&m, &o, &err);
    CHECK(e != NULL);
    CHECK(e && cn_engine_start_worker(e, &err) == 0);
    usleep(20000); /* let the worker reach its loop */
    int made = 0, passed = 0;
    uint64_t frame = 0;
    static CnMidiEvent out[256];
    alloc_counter_start();
    for (int cycle = 0; cycle < 600; cycle++) {
        CnMidiEvent in[2];
        int n_in = 0;
        uint8_t on[3] = {0x90, (uint8_t)(60 + cycle / 10), 90}, off[3] = {0x80, on[1], 0};
        if (cycle < 80 && cycle % 10 == 0) {
            in[n_in++] = (CnMidiEvent){.offset = 0, .size = 3, .data = on};
            in[n_in++] = (CnMidiEvent){.offset = 100, .size = 3, .data = off};
        }
        int n = cn_engine_rt_cycle(e, frame, 256, in, n_in, CN_CYCLE_THRU, out, 256);
        for (int i = 0; i < n; i++) {
            made += out[i].data == out[i].bytes;
            passed += out[i].data != out[i].bytes;
        }
        frame += 256;
        usleep(2000);
    }
    long n = alloc_counter_stop();
    printf("# engine, %s tokens: %d events made and %d passed through over 600 cycles, %ld "
           "allocations\n", cn_scheme_name(m.vocab.scheme), made, passed, n);
    CHECK(made > 8);
    CHECK(passed == 16);
    CHECK(n == 0);
    cn_engine_free(e);
    cn_model_free(&m);
}

static void test_the_engine_allocates_nothing_while_playing(void)
{
    engine_allocates_nothing(CONTINUO_SOURCE_DIR "/weights/original.cnw");
    engine_allocates_nothing(CONTINUO_SOURCE_DIR "/weights/default.cnw");
}

static void test_the_counter_counts(void)
{
    alloc_counter_start();
    void *volatile p = malloc(100);
    free(p);
    CHECK(alloc_counter_stop() == 2);
}

int main(void)
{
    RUN(test_the_counter_counts);
    RUN(test_stateful_steps_allocate_nothing);
    RUN(test_window_steps_allocate_nothing);
    RUN(test_ring_traffic_allocates_nothing);
    RUN(test_the_engine_allocates_nothing_while_playing);
    return test_finish();
}
