/* continuo info: what a weights file holds, after it passed every check of the loader. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>

#include "cli.h"
#include "continuo/model.h"

static void usage(FILE *out)
{
    fprintf(out, "Usage: continuo info [FILE.cnw]\n"
                 "Check a weights file and print its hyperparameters, vocabulary size,\n"
                 "parameter count, training epochs and last losses. Without FILE, the\n"
                 "default model " CLI_WEIGHTS_HELP ".\n\n"
                 "  -h, --help  show this help\n");
}

int cmd_info(int argc, char **argv)
{
    static const struct option options[] = {{"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return 0;
        }
        usage(stderr);
        return 2;
    }
    if (optind < argc - 1) {
        usage(stderr);
        return 2;
    }
    const char *path = optind == argc - 1 ? argv[optind] : NULL;
    if (cli_resolve_weights(&path))
        return 2;
    CnModel m;
    CnTrainState state;
    CnError err = {{0}};
    if (cn_model_load(&m, path, 0, &state, &err))
        return cli_error(1, "%s", err.message);
    const CnModelConfig *cf = &m.config;
    const CnTrainInfo *in = &m.info;
    printf("file:        %s (format version %d, checksums good)\n", path,
           cn_model_file_version(&m));
    printf("network:     %s -> %d x LSTM(%d)%s -> ", cf->n_embed ? "embedding" : "scalar input",
           cf->n_layers, cf->n_hidden, cf->dropout > 0 ? " with dropout" : "");
    if (cf->n_dense)
        printf("Dense(%d)%s -> ", cf->n_dense, cf->dense_activation == CN_DENSE_RELU ? " -> ReLU"
                                                                                   : "");
    printf("Dense(%d) -> softmax\n", cf->n_vocab);
    printf("gates:       %s\n", cf->gates == CN_GATES_HARD_SIGMOID
                                   ? "hard sigmoid, clip(0.2 x + 0.5, 0, 1) (Keras before 2.3)"
                                   : "sigmoid");
    if (cf->n_embed)
        printf("embedding:   %d\n", cf->n_embed);
    printf("dropout:     %g\n", (double)cf->dropout);
    printf("tokens:      %s\n", m.vocab.scheme == CN_SCHEME_TIMED
                                    ? "timed (key down, key up, time shift, velocity events)"
                                    : "original (a note or chord every eighth note)");
    printf("vocabulary:  %d tokens (first %s, last %s)\n", cf->n_vocab, m.vocab.names[0],
           m.vocab.names[m.vocab.n - 1]);
    printf("parameters:  %zu (%.1f MB as float32)\n", cn_model_count_weights(cf),
           (double)cn_model_count_weights(cf) * 4 / 1e6);
    printf("training:    %d epochs, objective %s, seq %d, %.0f s\n", in->epochs,
           in->objective[0] ? in->objective : "none", in->seq,
           isnan(in->seconds) ? 0.0 : in->seconds);
    printf("last losses: train %.4f, validation %.4f (accuracy %.3f)\n", in->train_loss,
           in->val_loss, in->val_accuracy);
    printf("corpus:      %zu tokens in %zu songs kept for priming\n", m.n_corpus, m.n_songs);
    if (in->notice[0])
        printf("notice:      %s\n", in->notice);
    printf("resumable:   %s\n", state.moments ? "yes (optimizer state saved)" : "no");
    cn_train_state_free(&state);
    cn_model_free(&m);
    return 0;
}
