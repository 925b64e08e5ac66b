/* The files continuo reads and writes. Reading: only regular files are opened (a FIFO
 * would block, a device never end). Writing: a failure never destroys what it replaces,
 * and the message says the system's reason. A regular target (or a new one) is written to NAME.tmp-XXXXXX
 * beside it and renamed over it only when complete and synced. A target that is not a
 * regular file (a pipe, a FIFO, /dev/stdout, a device; "-" is standard output) gets the
 * complete bytes copied to it at the end, from a temporary file, so that a writer that
 * seeks or reads back (libsmf) works there too. */
#ifndef CONTINUO_FILES_H
#define CONTINUO_FILES_H

#include <stdio.h>

#include "continuo/status.h"

/* What follows the target's name in its temporary file: mkstemp's pattern. A kill -9
 * mid-write leaves such a file; cn_model_remove_interrupted_saves removes a model's. */
#define CN_OUTFILE_TMP_SUFFIX ".tmp-XXXXXX"

typedef struct {
    char *target;  /* as given */
    char *tmp;     /* the temporary file, written by path or through fd */
    int fd;        /* open on tmp until commit or abort */
    int stream;    /* the target is not a regular file: copied to at commit */
} CnOutFile;

/* Creates the temporary file (readable as the umask allows, as a new file would be). */
int cn_outfile_begin(CnOutFile *out, const char *path, CnError *err);

/* The temporary file as a new stdio stream; fclose it (a failure there is a write error)
 * before the commit. NULL and a message on failure. */
FILE *cn_outfile_stream(CnOutFile *out, CnError *err);

/* Syncs the temporary file and renames it over the target, or copies it to the stream
 * target; on failure the target is as it was (for a stream: what was copied stays) and
 * the temporary file is gone. Frees out either way. */
int cn_outfile_commit(CnOutFile *out, CnError *err);

/* The usual pair for text: begin and a stream in one (NULL and a message on failure), then
 * fclose and commit in one (a write error at any point says the system's reason). */
FILE *cn_outfile_fopen(CnOutFile *out, const char *path, CnError *err);
int cn_outfile_fclose(FILE *f, CnOutFile *out, CnError *err);

/* Gives up: the temporary file is removed, the target untouched. */
void cn_outfile_abort(CnOutFile *out);

/* Opens path for reading if it is a regular file, without ever blocking (a FIFO is
 * refused, not waited on): the descriptor, or -1 and a message saying why (which does
 * not repeat the path: the caller names it). */
int cn_open_regular(const char *path, CnError *err);

/* The same as a stdio stream ("rb"). */
FILE *cn_fopen_regular(const char *path, CnError *err);

/* A lock on path for a writer that rewrites it for a long time (training): the file
 * path.lock beside it, held with flock, so that the kernel lets go of it when the holder
 * dies (a kill -9 leaves a file that blocks nobody). Refused, with the holder's process
 * number, while another holds it. */
typedef struct {
    int fd;
    char path[4096];
} CnLock;

int cn_lock_take(CnLock *lock, const char *path, CnError *err);
void cn_lock_release(CnLock *lock);

#endif
