/* The one kind of Python pickle continuo reads: a list of str, as the original Keras
 * project's get_notes() wrote its corpus to data/notes (protocols 2 to 5). Anything else
 * (other objects, text protocols, nesting) is refused with what was found and where. A
 * bounded reader of its own: it never runs what a pickle asks. Pure, no I/O but the
 * loader. */
#ifndef CONTINUO_PICKLE_H
#define CONTINUO_PICKLE_H

#include <stddef.h>
#include <stdint.h>

#include "continuo/status.h"

#define CN_PICKLE_MAX_STRING 64         /* longest string kept: the longest token is 31 */
#define CN_PICKLE_MAX_ITEMS 100000000u  /* a hundred million notes */

typedef struct {
    const char **items; /* (n) each NUL-terminated, in list order; repeats share text */
    size_t n;
    char *text;         /* the distinct strings' bytes */
    size_t n_text;
} CnStringList;

/* Reads the pickle in bytes (n of them). */
int cn_pickle_read_strings(const uint8_t *bytes, size_t n, CnStringList *list, CnError *err);

/* Reads the pickle file at path (at most 2 GB). */
int cn_pickle_load_strings(const char *path, CnStringList *list, CnError *err);

void cn_string_list_free(CnStringList *list);

#endif
