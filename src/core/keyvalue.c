/* key=value texts (continuo/keyvalue.h). */
#include "continuo/keyvalue.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char *cn_kv_value(const char *text, const char *key)
{
    size_t klen = strlen(key);
    for (const char *line = text; line && *line;) {
        if (strncmp(line, key, klen) == 0 && line[klen] == '=')
            return line + klen + 1;
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    return NULL;
}

size_t cn_kv_length(const char *value)
{
    return strcspn(value, "\n");
}

static int ends_its_line(const char *end)
{
    return *end == '\0' || *end == '\n';
}

int cn_kv_long(const char *text, const char *key, long lo, long hi, long *out)
{
    const char *v = cn_kv_value(text, key);
    if (!v)
        return 0;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (end == v || !ends_its_line(end) || errno || x < lo || x > hi)
        return -1;
    *out = x;
    return 1;
}

int cn_kv_real(const char *text, const char *key, double lo, double hi, double *out)
{
    const char *v = cn_kv_value(text, key);
    if (!v)
        return 0;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (end == v || !ends_its_line(end) || errno || !(x >= lo && x <= hi))
        return -1;
    *out = x;
    return 1;
}

int cn_kv_repeated(const char *text, const char **key, int *key_length)
{
    for (const char *line = text; *line;) {
        size_t line_length = strcspn(line, "\n"), klen = strcspn(line, "=\n");
        const char *next = line + line_length + (line[line_length] != '\0');
        if (line[klen] == '=')
            for (const char *other = next; *other;) {
                if (strncmp(other, line, klen + 1) == 0) {
                    *key = line;
                    *key_length = (int)klen;
                    return -1;
                }
                size_t n = strcspn(other, "\n");
                other += n + (other[n] != '\0');
            }
        line = next;
    }
    return 0;
}
