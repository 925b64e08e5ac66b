/* Error reporting shared by every continuo function: a return code plus a message
 * written into a caller-owned CnError. The library never prints and never exits. */
#ifndef CONTINUO_STATUS_H
#define CONTINUO_STATUS_H

#include <stddef.h>

#define CN_ERROR_MAX 512

typedef struct {
    char message[CN_ERROR_MAX]; /* empty when no error happened */
} CnError;

/* Formats a message into err (err may be NULL) and returns -1, so a failing function can
 * end with `return cn_fail(err, "...", ...);`. */
int cn_fail(CnError *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Prepends context ("reading song.mid: ") to the message already in err; returns -1. */
int cn_fail_context(CnError *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

void cn_error_clear(CnError *err);

#endif
