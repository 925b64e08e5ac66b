/* Corpus loading on real files: the seed files give tokens (91 of the 92: AT.mid's one
 * track sets two programs at its first tick, the piano's and then program 2's; music21
 * makes the piano's span end where the next begins, so the first part, the piano's, holds
 * no note, and the original project took none from the file), and a folder with broken
 * files names them, skips them and reads the rest. */
#include "continuo/corpus.h"
#include "test_util.h"

static void test_all_seed_files_give_tokens(void)
{
    const char *dir = test_seed_dir();
    CnCorpus corpus;
    CnError err = {{0}};
    CHECK(cn_corpus_load(dir, CN_SCHEME_ORIGINAL, &corpus, &err) == 0);
    CHECK(corpus.n_songs == 91);
    CHECK(corpus.n_skipped == 1);
    size_t notes = 0, chords = 0;
    for (size_t i = 0; i < corpus.n_songs; i++) {
        CHECK(corpus.songs[i].stream.n_tokens > 0);
        notes += corpus.songs[i].stream.n_notes;
        chords += corpus.songs[i].stream.n_chords;
    }
    CnVocab vocab;
    CHECK(cn_corpus_vocab(&corpus, &vocab, &err) == 0);
    printf("# seed corpus: %zu files, %zu notes, %zu chords, %zu tokens, vocabulary %zu\n",
           corpus.n_songs, notes, chords, cn_corpus_n_tokens(&corpus), vocab.n);
    CHECK(cn_corpus_n_tokens(&corpus) > 50000);
    CHECK(vocab.n > 200 && vocab.n < 500);
    for (size_t i = 1; i < vocab.n; i++)
        CHECK(strcmp(vocab.names[i - 1], vocab.names[i]) < 0);
    cn_vocab_free(&vocab);
    cn_corpus_free(&corpus);
}

static void write_small_song(const char *path, int first_key)
{
    MidiBuilder mb = {0};
    mb_header(&mb, 0, 1, 96);
    mb_track_begin(&mb);
    for (int i = 0; i < 8; i++) {
        mb_event(&mb, 0, 3, 0x90, first_key + i, 80);
        mb_event(&mb, 48, 3, 0x80, first_key + i, 0);
    }
    mb_track_end(&mb);
    CHECK(test_write_file(path, mb.bytes, mb.n) == 0);
    mb_free(&mb);
}

static void test_broken_files_are_named_and_skipped(void)
{
    char *dir = test_make_temp_dir("corpus");
    char path[4200];
    snprintf(path, sizeof path, "%s/a_good.mid", dir);
    write_small_song(path, 60);
    snprintf(path, sizeof path, "%s/z_good.MID", dir);
    write_small_song(path, 48);
    snprintf(path, sizeof path, "%s/b_text.mid", dir);
    test_write_file(path, "not music", 9);
    snprintf(path, sizeof path, "%s/c_empty.midi", dir);
    test_write_file(path, "", 0);
    snprintf(path, sizeof path, "%s/readme.txt", dir);
    test_write_file(path, "ignored", 7);

    CnCorpus corpus;
    CnError err = {{0}};
    CHECK(cn_corpus_load(dir, CN_SCHEME_ORIGINAL, &corpus, &err) == 0);
    CHECK(corpus.n_songs == 2);
    CHECK(corpus.n_skipped == 2);
    if (corpus.n_songs == 2) {
        CHECK_STR(corpus.songs[0].name, "a_good.mid");
        CHECK_STR(corpus.songs[1].name, "z_good.MID");
        CHECK(corpus.songs[1].stream.n_tokens == 8);
    }
    if (corpus.n_skipped == 2) {
        CHECK_STR(corpus.skipped[0].name, "b_text.mid");
        CHECK(strstr(corpus.skipped[0].reason, "too short") != NULL);
        CHECK_STR(corpus.skipped[1].name, "c_empty.midi");
    }
    cn_corpus_free(&corpus);
    test_remove_tree(dir);
    free(dir);
}

static void test_a_missing_folder_is_an_error(void)
{
    CnCorpus corpus;
    CnError err = {{0}};
    CHECK(cn_corpus_load("/nonexistent/continuo", CN_SCHEME_ORIGINAL, &corpus, &err) != 0);
    CHECK(strstr(err.message, "cannot open folder") != NULL);
}

static void test_validation_songs_are_spread_evenly(void)
{
    int n_val = 0;
    for (size_t i = 0; i < 92; i++)
        n_val += cn_corpus_is_validation(i, 92, 0.1);
    CHECK(n_val == 9);
    CHECK(cn_corpus_is_validation(9, 92, 0.1));
    CHECK(!cn_corpus_is_validation(0, 92, 0.1));
    CHECK(!cn_corpus_is_validation(5, 92, 0.0));
}

/* "test_corpus seed" reads the seed corpus beside the project (its own CTest, skipped
 * where the corpus is absent); without an argument, everything that needs nothing else. */
int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "seed") == 0) {
        if (!test_seed_dir()) {
            printf("# skipped: the seed corpus (92 piano files) is not beside the project; "
                   "set CONTINUO_SEED_DIR to its folder to run this test\n");
            return TEST_SKIP;
        }
        RUN(test_all_seed_files_give_tokens);
        return test_finish();
    }
    RUN(test_broken_files_are_named_and_skipped);
    RUN(test_a_missing_folder_is_an_error);
    RUN(test_validation_songs_are_spread_evenly);
    return test_finish();
}
