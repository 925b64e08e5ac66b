/* Reading the saved training state's values, as strictly as the command line reads its
 * options: 0 and the value when it is a number in lo..hi, 0 and the value untouched when
 * the key is absent, -1 and a message naming it otherwise. Internal to the trainer. */
#ifndef CONTINUO_TRAIN_STATE_H
#define CONTINUO_TRAIN_STATE_H

#include "continuo/status.h"

int cn_state_real(const char *blob, const char *key, double lo, double hi, double *out,
                  CnError *err);
int cn_state_long(const char *blob, const char *key, long lo, long hi, long *out,
                  CnError *err);
int cn_state_int(const char *blob, const char *key, long lo, long hi, int *field,
                 CnError *err);
int cn_state_float(const char *blob, const char *key, double lo, double hi, float *field,
                   CnError *err);

#endif
