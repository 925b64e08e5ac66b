/* Texts of key=value lines, as the weights file's text sections and the saved training
 * state are written: reading a value, strictly. Pure, any thread. */
#ifndef CONTINUO_KEYVALUE_H
#define CONTINUO_KEYVALUE_H

#include <stddef.h>

/* The value of the line that starts with "key=" (up to its newline), or NULL. */
const char *cn_kv_value(const char *text, const char *key);

/* The value's length, up to its line's end. */
size_t cn_kv_length(const char *value);

/* A whole number in lo..hi (1 and *out), absent (0, *out untouched), or anything else:
 * not a number, more after it, out of range (-1). */
int cn_kv_long(const char *text, const char *key, long lo, long hi, long *out);

/* The same for a real number. */
int cn_kv_real(const char *text, const char *key, double lo, double hi, double *out);

/* Whether a key is given twice (which would count would be a guess): 0, or -1 with the
 * key's length in *key_length and *key at its first line. */
int cn_kv_repeated(const char *text, const char **key, int *key_length);

#endif
