/* The live clients' saved setup: a file of options, read before the command line (which
 * overrides it), in the XDG place ($XDG_CONFIG_HOME/continuo/live.conf, else
 * ~/.config/continuo/live.conf), or --config FILE; --no-config reads none. An option a
 * line, as on the command line without its dashes: "bpm 100", "fixed-grid", "cc
 * end-call=22"; '#' starts a comment. A line that is not an option of the command, or
 * whose value is refused, is named with its number and nothing of the file is used. */
#ifndef CONTINUO_CLI_CONFIG_H
#define CONTINUO_CLI_CONFIG_H

#include <stddef.h>

#define CLI_CONFIG_MAX_ARGS 256

typedef struct {
    char *args[CLI_CONFIG_MAX_ARGS]; /* "--name", then its value if it has one */
    int lines[CLI_CONFIG_MAX_ARGS];  /* the line each came from */
    int n;
    char path[4096];
} CliConfig;

/* The XDG place of the setup file; -1 when neither XDG_CONFIG_HOME nor HOME is set. */
int cli_config_default_path(char *path, size_t size);

/* Reads the file's options into c (a missing file is none, unless must_exist). */
int cli_config_read(const char *path, int must_exist, CliConfig *c);
void cli_config_free(CliConfig *c);

/* Writes the learned controls ("--cc LIST [--control-channel N]", as --learn prints them)
 * into the file, its other lines kept, through a temporary file beside it. */
int cli_config_save_controls(const char *path, const char *controls_line);

#endif
