/* CnError helpers: formatting failure messages without ever printing or exiting. */
#include "continuo/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int cn_fail(CnError *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int cn_fail_context(CnError *err, const char *fmt, ...)
{
    if (!err)
        return -1;
    char prefix[CN_ERROR_MAX], old[CN_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->message, sizeof old);
    size_t n_prefix = strlen(prefix), n_old = strnlen(old, sizeof old - 1);
    if (n_prefix + n_old >= sizeof err->message)
        n_old = sizeof err->message - 1 - n_prefix;
    memcpy(err->message, prefix, n_prefix);
    memcpy(err->message + n_prefix, old, n_old);
    err->message[n_prefix + n_old] = '\0';
    return -1;
}

void cn_error_clear(CnError *err)
{
    if (err)
        err->message[0] = '\0';
}
