/* Training: a small model learns a repeated phrase (loss near zero, argmax continuation
 * reproduces it), and a run stopped mid-epoch and resumed ends bit-identical to one that
 * was never stopped, for both objectives. */
#include <cblas.h>
#include <math.h>

#include "continuo/train.h"
#include "net_batch.h"
#include "continuo/rng.h"
#include "test_util.h"

static const char *names[] = {"0.4.7", "2.7", "C4", "D4", "E4", "F#4", "G4", "A4"};
static char *dir;

static CnModel new_model(int n_embed, int n_layers, int n_hidden, int n_dense, float dropout)
{
    CnVocab vocab;
    CnError err = {{0}};
    cn_vocab_from_names(names, 8, &vocab, &err);
    CnModelConfig config = {.n_vocab = 8, .n_embed = n_embed, .n_layers = n_layers,
                            .n_hidden = n_hidden, .n_dense = n_dense, .dropout = dropout};
    CnModel m;
    CHECK(cn_model_init(&m, &config, &vocab, 9, &err) == 0);
    cn_vocab_free(&vocab);
    return m;
}

/* Greedy continuation, one step at a time through a batch of one stream. */
static void continue_argmax(const CnModel *m, const uint16_t *prefix, int n_prefix, int n_out,
                            int *out)
{
    NetBatch nb;
    CnError err = {{0}};
    CHECK(net_batch_init(&nb, &m->config, 1, 1, 0, &err) == 0);
    int next = 0;
    for (int t = 0; t < n_prefix + n_out; t++) {
        nb.ids[0] = t < n_prefix ? prefix[t] : next;
        nb.targets[0] = 0;
        nb.keep[0] = t > 0;
        net_batch_forward(&nb, &m->w, NULL);
        next = 0;
        for (int k = 1; k < m->config.n_vocab; k++)
            next = nb.probs[k] > nb.probs[next] ? k : next;
        if (t >= n_prefix - 1 && t - n_prefix + 1 < n_out)
            out[t - n_prefix + 1] = next;
    }
    net_batch_free(&nb);
}

static void test_a_repeated_phrase_is_learned(void)
{
    static const uint16_t phrase[12] = {2, 3, 4, 2, 3, 6, 2, 3, 4, 2, 3, 7};
    uint16_t song[12 * 30];
    for (int i = 0; i < 12 * 30; i++)
        song[i] = phrase[i % 12];
    CnSongIds songs[1] = {{song, 12 * 30}};
    CnModel m = new_model(8, 1, 32, 0, 0.0f);
    CnTrainOptions o = cn_train_options_default();
    char out[4300];
    snprintf(out, sizeof out, "%s/phrase.cnw", dir);
    o.out_path = out;
    o.seq = 24;
    o.batch = 4;
    o.lr = 0.01f;
    o.epochs = 80;
    o.val_split = 0;
    CnError err = {{0}};
    CHECK(cn_train(&m, NULL, songs, 1, &o, NULL, NULL, NULL, &err) == 0);
    printf("# final training loss %.4f after %d epochs\n", m.info.train_loss, m.info.epochs);
    CHECK(m.info.epochs == 80);
    CHECK(m.info.train_loss < 0.05);
    int continuation[24];
    continue_argmax(&m, song, 12, 24, continuation);
    int matches = 0;
    for (int i = 0; i < 24; i++)
        matches += continuation[i] == phrase[i % 12];
    CHECK(matches == 24);
    cn_model_free(&m);
}

static void random_songs(uint16_t *storage, CnSongIds *songs, int n_songs)
{
    CnRng rng;
    cn_rng_seed(&rng, 77);
    size_t at = 0;
    for (int s = 0; s < n_songs; s++) {
        size_t n = 40 + cn_rng_below(&rng, 40);
        songs[s] = (CnSongIds){storage + at, n};
        for (size_t i = 0; i < n; i++) /* a little structure: mostly steps upwards */
            storage[at + i] = (uint16_t)((i + cn_rng_below(&rng, 3)) % 8);
        at += n;
    }
}

static void resume_matches_uninterrupted(CnObjective objective, long stop_after)
{
    uint16_t storage[6 * 80];
    CnSongIds songs[6];
    random_songs(storage, songs, 6);
    CnTrainOptions o = cn_train_options_default();
    o.objective = objective;
    o.seq = 10;
    o.batch = 3;
    o.epochs = 3;
    o.val_split = 0.34;
    o.seed = 5;
    char path_a[4300], path_b[4300];
    snprintf(path_a, sizeof path_a, "%s/a.cnw", dir);
    snprintf(path_b, sizeof path_b, "%s/b.cnw", dir);
    CnError err = {{0}};

    CnModel a = new_model(4, 2, 16, 8, 0.3f);
    o.out_path = path_a;
    CHECK(cn_train(&a, NULL, songs, 6, &o, NULL, NULL, NULL, &err) == 0);

    CnModel b = new_model(4, 2, 16, 8, 0.3f);
    CnTrainOptions ob = o;
    ob.out_path = path_b;
    ob.stop_after_batches = stop_after;
    CHECK(cn_train(&b, NULL, songs, 6, &ob, NULL, NULL, NULL, &err) == 1);
    int stopped_epoch = b.info.epochs;
    cn_model_free(&b);

    CnModel resumed;
    CnTrainState state;
    CHECK(cn_model_load(&resumed, path_b, 1, &state, &err) == 0);
    CnTrainOptions oc = cn_train_options_original(); /* everything must come from the file */
    CHECK(cn_train_options_from_state(&state, &oc, &err) == 0);
    CHECK(oc.objective == objective && oc.seq == 10 && oc.batch == 3 && oc.seed == 5);
    oc.epochs = 3;
    oc.out_path = path_b;
    CHECK(cn_train(&resumed, &state, songs, 6, &oc, NULL, NULL, NULL, &err) == 0);
    printf("# %s: stopped after %ld batches (in epoch %d); final val loss %.6f vs %.6f\n",
           cn_objective_name(objective), stop_after, stopped_epoch + 1, resumed.info.val_loss,
           a.info.val_loss);
    CHECK(resumed.info.epochs == 3);
    CHECK(resumed.info.train_loss == a.info.train_loss);
    CHECK(resumed.info.val_loss == a.info.val_loss);
    CHECK(memcmp(resumed.params, a.params, a.n_params * sizeof(float)) == 0);
    cn_train_state_free(&state);
    cn_model_free(&resumed);
    cn_model_free(&a);
}

static void test_resume_mid_epoch_matches_uninterrupted_all(void)
{
    resume_matches_uninterrupted(CN_OBJECTIVE_ALL, 11); /* 8 batches an epoch */
}

static void test_resume_mid_epoch_matches_uninterrupted_last(void)
{
    resume_matches_uninterrupted(CN_OBJECTIVE_LAST, 100); /* 77 batches an epoch */
}

static void test_resume_needs_saved_state(void)
{
    CnTrainState empty = {0};
    CnTrainOptions o = cn_train_options_default();
    CnError err = {{0}};
    CHECK(cn_train_options_from_state(&empty, &o, &err) != 0);
    CHECK(strstr(err.message, "no training state") != NULL);
}

static void test_bad_options_are_refused(void)
{
    uint16_t ids[5] = {1, 2, 3, 9, 1}; /* 9 is outside an 8-token vocabulary */
    CnSongIds songs[1] = {{ids, 5}};
    CnModel m = new_model(0, 1, 4, 0, 0.0f);
    CnTrainOptions o = cn_train_options_default();
    char out[4300];
    snprintf(out, sizeof out, "%s/x.cnw", dir);
    o.out_path = out;
    CnError err = {{0}};
    CHECK(cn_train(&m, NULL, songs, 1, &o, NULL, NULL, NULL, &err) == -1);
    CHECK(strstr(err.message, "outside the vocabulary") != NULL);
    ids[3] = 4;
    o.objective = CN_OBJECTIVE_LAST; /* 5 tokens cannot fill a window of 100 */
    o.val_split = 0;
    CHECK(cn_train(&m, NULL, songs, 1, &o, NULL, NULL, NULL, &err) == -1);
    CHECK(strstr(err.message, "too few") != NULL);
    cn_model_free(&m);
}

int main(void)
{
    openblas_set_num_threads(1); /* bit-exact comparisons need a fixed summation order */
    dir = test_make_temp_dir("train");
    RUN(test_a_repeated_phrase_is_learned);
    RUN(test_resume_mid_epoch_matches_uninterrupted_all);
    RUN(test_resume_mid_epoch_matches_uninterrupted_last);
    RUN(test_resume_needs_saved_state);
    RUN(test_bad_options_are_refused);
    test_remove_tree(dir);
    free(dir);
    return test_finish();
}
