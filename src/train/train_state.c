/* The training state a checkpoint keeps (the options of the run, where its corpus was),
 * read back to resume it. */
#include "continuo/train.h"

#include <stdio.h>
#include <string.h>

#include "continuo/keyvalue.h"
#include "train_state.h"

int cn_state_real(const char *blob, const char *key, double lo, double hi, double *out,
                  CnError *err)
{
    if (cn_kv_real(blob, key, lo, hi, out) >= 0)
        return 0;
    const char *v = cn_kv_value(blob, key);
    return cn_fail(err, "the saved training state is damaged: %s=%.*s is not a number from "
                        "%g to %g", key, (int)cn_kv_length(v), v, lo, hi);
}

int cn_state_long(const char *blob, const char *key, long lo, long hi, long *out,
                  CnError *err)
{
    if (cn_kv_long(blob, key, lo, hi, out) >= 0)
        return 0;
    const char *v = cn_kv_value(blob, key);
    return cn_fail(err, "the saved training state is damaged: %s=%.*s is not a whole number "
                        "from %ld to %ld", key, (int)cn_kv_length(v), v, lo, hi);
}

/* The same for an int or a float field. */
int cn_state_int(const char *blob, const char *key, long lo, long hi, int *field,
                 CnError *err)
{
    long x = *field;
    int rc = cn_state_long(blob, key, lo, hi, &x, err);
    *field = (int)x;
    return rc;
}

int cn_state_float(const char *blob, const char *key, double lo, double hi, float *field,
                   CnError *err)
{
    double x = *field;
    int rc = cn_state_real(blob, key, lo, hi, &x, err);
    *field = (float)x;
    return rc;
}

int cn_train_options_from_state(const CnTrainState *state, CnTrainOptions *o, CnError *err)
{
    const char *b = (const char *)state->blob, *v;
    if (!b || !cn_kv_value(b, "state_format"))
        return cn_fail(err, "the file holds no training state to resume from (was it written "
                            "by 'continuo train'?)");
    if ((v = cn_kv_value(b, "objective"))) {
        if (strncmp(v, "last", 4) != 0 && strncmp(v, "all", 3) != 0)
            return cn_fail(err, "the saved training state is damaged (objective)");
        o->objective = strncmp(v, "last", 4) == 0 ? CN_OBJECTIVE_LAST : CN_OBJECTIVE_ALL;
    }
    long seed = (long)o->seed;
    /* the ranges of the command line's options */
    if (cn_state_int(b, "seq", 1, 100000, &o->seq, err) ||
        cn_state_int(b, "batch", 1, 100000, &o->batch, err) ||
        cn_state_float(b, "lr", 1e-9, 10, &o->lr, err) ||
        cn_state_float(b, "lr_decay", 0.01, 1, &o->lr_decay, err) ||
        cn_state_float(b, "rho", 0, 0.999999, &o->rho, err) ||
        cn_state_float(b, "eps", 1e-12, 1, &o->eps, err) ||
        cn_state_float(b, "clip", 0, 1e9, &o->clip, err) ||
        cn_state_real(b, "val_split", 0, 0.9, &o->val_split, err) ||
        cn_state_long(b, "seed", 0, 2147483647L, &seed, err) ||
        cn_state_int(b, "epochs", 1, 1000000, &o->epochs, err) ||
        cn_state_int(b, "threads", 0, 1024, &o->n_threads, err)) /* 0: not recorded */
        return -1;
    o->seed = (uint64_t)seed;
    o->transpose_lo = o->transpose_hi = 0; /* files before it trained without */
    if ((v = cn_kv_value(b, "transpose")) &&
        (sscanf(v, "%d..%d", &o->transpose_lo, &o->transpose_hi) != 2 ||
         o->transpose_lo < -12 || o->transpose_hi > 12 || o->transpose_lo > o->transpose_hi))
        return cn_fail(err, "the saved training state is damaged (transpose)");
    o->data_dir = NULL; /* cn_train_state_data_dir */
    return 0;
}

int cn_train_state_data_dir(const CnTrainState *state, char *dir, size_t cap)
{
    const char *v = state->blob ? cn_kv_value((const char *)state->blob, "data") : NULL;
    size_t len = v ? strcspn(v, "\n") : 0;
    if (!len || len >= cap)
        return -1;
    memcpy(dir, v, len);
    dir[len] = '\0';
    return 0;
}

