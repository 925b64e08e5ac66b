/* The live clients' saved setup (config.h). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

int cli_config_default_path(char *path, size_t size)
{
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    int n = xdg && *xdg ? snprintf(path, size, "%s/continuo/live.conf", xdg)
          : home && *home ? snprintf(path, size, "%s/.config/continuo/live.conf", home)
                          : -1;
    return n > 0 && (size_t)n < size ? 0 : -1;
}

static int add(CliConfig *c, const char *text, size_t len, int line)
{
    if (c->n == CLI_CONFIG_MAX_ARGS)
        return cli_error(2, "%s:%d: more than %d options", c->path, line, CLI_CONFIG_MAX_ARGS / 2);
    char *copy = malloc(len + 1);
    if (!copy)
        return cli_error(1, "out of memory");
    memcpy(copy, text, len);
    copy[len] = '\0';
    c->args[c->n] = copy;
    c->lines[c->n++] = line;
    return 0;
}

/* "name value" or "name" (a flag) as "--name" "value"; '#' starts a comment. */
static int parse_line(CliConfig *c, char *text, int line)
{
    text[strcspn(text, "#\r\n")] = '\0';
    char *name = text + strspn(text, " \t");
    size_t name_len = strcspn(name, " \t=");
    if (name_len == 0)
        return 0; /* blank */
    if (name[0] == '-') {
        const char *bare = name + strspn(name, "-");
        return cli_error(2, "%s:%d: write the option without its dashes ('%.*s')", c->path, line,
                         (int)strcspn(bare, " \t="), bare);
    }
    char option[64];
    if (name_len + 3 > sizeof option)
        return cli_error(2, "%s:%d: no option is called '%.*s'", c->path, line, 40, name);
    snprintf(option, sizeof option, "--%.*s", (int)name_len, name);
    char *value = name + name_len;
    value += strspn(value, " \t=");
    size_t value_len = strlen(value);
    while (value_len > 0 && (value[value_len - 1] == ' ' || value[value_len - 1] == '\t'))
        value_len--;
    if (add(c, option, strlen(option), line))
        return -1;
    return value_len ? add(c, value, value_len, line) : 0;
}

int cli_config_read(const char *path, int must_exist, CliConfig *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->path, sizeof c->path, "%s", path);
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT && !must_exist)
            return 0;
        return cli_error(2, "cannot read the setup %s: %s", path, strerror(errno));
    }
    char text[1024];
    int line = 0, rc = 0;
    while (rc == 0 && fgets(text, sizeof text, f)) {
        line++;
        if (!strchr(text, '\n') && !feof(f))
            rc = cli_error(2, "%s:%d: the line is longer than %zu characters", path, line,
                           sizeof text - 2);
        else
            rc = parse_line(c, text, line);
    }
    fclose(f);
    if (rc)
        cli_config_free(c);
    return rc;
}

void cli_config_free(CliConfig *c)
{
    for (int i = 0; i < c->n; i++)
        free(c->args[i]);
    c->n = 0;
}

/* Creates the folders of path that are missing. */
static int make_folders(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    for (char *p = dir + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(dir, 0755) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    return 0;
}

int cli_config_save_controls(const char *path, const char *controls_line)
{
    char tmp[4200], text[1024];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (make_folders(path))
        return cli_error(1, "cannot make the folder of %s: %s", path, strerror(errno));
    FILE *in = fopen(path, "r"), *out = fopen(tmp, "w");
    if (!out) {
        if (in)
            fclose(in);
        return cli_error(1, "cannot write %s: %s", tmp, strerror(errno));
    }
    if (!in)
        fprintf(out, "# continuo jack and continuo alsa read this before their command line\n"
                     "# (which overrides it): an option a line, as on the command line but\n"
                     "# without its dashes, e.g. 'bpm 100' or 'fixed-grid'.\n");
    while (in && fgets(text, sizeof text, in)) { /* the other lines as they were */
        const char *name = text + strspn(text, " \t");
        if (strncmp(name, "cc", 2) == 0 && strchr(" \t=", name[2]))
            continue;
        if (strncmp(name, "control-channel", 15) == 0 && strchr(" \t=", name[15]))
            continue;
        fputs(text, out);
    }
    if (in)
        fclose(in);
    /* controls_line is "--cc LIST [--control-channel N]" */
    const char *cc = strstr(controls_line, "--cc "), *channel = strstr(controls_line,
                                                                        "--control-channel ");
    if (cc)
        fprintf(out, "cc %.*s\n", (int)strcspn(cc + 5, " "), cc + 5);
    if (channel)
        fprintf(out, "control-channel %s\n", channel + 18);
    int failed = ferror(out) | (fclose(out) != 0);
    if (failed || rename(tmp, path) != 0) {
        unlink(tmp);
        return cli_error(1, "cannot write %s: %s", path, strerror(errno));
    }
    return 0;
}
