/* What every subcommand shares: error messages and option parsing. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "continuo/sampler.h"

char cli_last_error[CLI_ERROR_MAX];
char cli_error_context[4200];

int cli_error(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cli_last_error, sizeof cli_last_error, fmt, ap);
    va_end(ap);
    fprintf(stderr, "continuo: %s%s\n", cli_error_context, cli_last_error);
    return code;
}

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

const char *cli_default_weights(void)
{
    static char path[4200];
    if (is_file(CLI_LOCAL_WEIGHTS))
        return CLI_LOCAL_WEIGHTS;
    /* installed: PREFIX/bin/continuo beside PREFIX/share/continuo/default.cnw, wherever
       the prefix was moved */
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            snprintf(path, sizeof path, "%s/../share/continuo/default.cnw", self);
            if (is_file(path))
                return path;
        }
    }
    if (is_file(CONTINUO_DATADIR "/default.cnw"))
        return CONTINUO_DATADIR "/default.cnw";
    return NULL;
}

int cli_resolve_weights(const char **weights)
{
    if (*weights)
        return 0;
    *weights = cli_default_weights();
    if (*weights)
        return 0;
    cli_error(2, "no model given, and no default model in %s or %s: give one with --weights",
              CLI_LOCAL_WEIGHTS, CONTINUO_DATADIR "/default.cnw");
    return -1;
}

int cli_parse_long(const char *option, const char *text, long min, long max, long *value)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end != '\0' || v < min || v > max) {
        cli_error(2, "%s takes a whole number from %ld to %ld, not '%s'", option, min, max, text);
        return -1;
    }
    *value = v;
    return 0;
}

int cli_parse_double(const char *option, const char *text, double min, double max,
                     double *value)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end != '\0' || !(v >= min && v <= max)) {
        cli_error(2, "%s takes a number from %g to %g, not '%s'", option, min, max, text);
        return -1;
    }
    *value = v;
    return 0;
}

int cli_sampler_option(int code, const char *arg, double max_temperature, void *options)
{
    CnSamplerOptions *s = options;
    long v;
    double x;
    switch (code) {
    case 't':
        if (cli_parse_double("--temperature", arg, 0, max_temperature, &x))
            return -1;
        s->temperature = (float)x;
        return 1;
    case CLI_OPT_TOP_K:
        if (cli_parse_long("--top-k", arg, 0, 100000, &v))
            return -1;
        s->top_k = (int)v;
        return 1;
    case CLI_OPT_TOP_P:
        if (cli_parse_double("--top-p", arg, 1e-6, 1, &x))
            return -1;
        s->top_p = (float)x;
        return 1;
    case CLI_OPT_REP_PENALTY:
        if (cli_parse_double("--repetition-penalty", arg, 1, 100, &x))
            return -1;
        s->repetition_penalty = (float)x;
        return 1;
    case CLI_OPT_REP_WINDOW:
        if (cli_parse_long("--repetition-window", arg, 0, CN_SAMPLER_MAX_WINDOW, &v))
            return -1;
        s->repetition_window = (int)v;
        return 1;
    case CLI_OPT_KEY_GUARD:
        if (cli_parse_double("--key-guard", arg, 0, 1, &x))
            return -1;
        s->key_guard = (float)x;
        return 1;
    case CLI_OPT_LOUDNESS_WIDTH:
        if (cli_parse_double("--loudness-width", arg, 0, 100, &x))
            return -1;
        s->loudness_width = (float)x;
        return 1;
    case CLI_OPT_RHYTHM_GUARD:
        if (cli_parse_double("--rhythm-guard", arg, 0, 1, &x))
            return -1;
        s->rhythm_guard = (float)x;
        return 1;
    default:
        return 0;
    }
}

uint64_t cli_fresh_seed(void)
{
    uint64_t bits = 0;
    if (getrandom(&bits, sizeof bits, 0) != (ssize_t)sizeof bits) { /* no entropy yet */
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        bits = (uint64_t)t.tv_nsec ^ (uint64_t)t.tv_sec * 2654435761u ^ (uint64_t)getpid() << 16;
    }
    return bits % 2147483647u;
}
