/* Files read only when regular, written whole or not at all (see continuo/files.h). */
#define _GNU_SOURCE /* mkstemp, fchmod, dirname */
#include "continuo/files.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static int is_stream_target(const char *path)
{
    struct stat st;
    if (strcmp(path, "-") == 0)
        return 1;
    return stat(path, &st) == 0 && !S_ISREG(st.st_mode);
}

int cn_outfile_begin(CnOutFile *out, const char *path, CnError *err)
{
    memset(out, 0, sizeof *out);
    out->fd = -1;
    out->stream = is_stream_target(path);
    const char *folder = getenv("TMPDIR");
    if (!folder || !*folder)
        folder = "/tmp";
    size_t len = out->stream ? strlen(folder) + strlen("/continuo") : strlen(path);
    out->target = strdup(path);
    out->tmp = malloc(len + sizeof CN_OUTFILE_TMP_SUFFIX);
    if (!out->target || !out->tmp) {
        cn_outfile_abort(out);
        return cn_fail(err, "out of memory");
    }
    if (out->stream)
        snprintf(out->tmp, len + sizeof CN_OUTFILE_TMP_SUFFIX, "%s/continuo%s", folder,
                 CN_OUTFILE_TMP_SUFFIX);
    else
        snprintf(out->tmp, len + sizeof CN_OUTFILE_TMP_SUFFIX, "%s%s", path,
                 CN_OUTFILE_TMP_SUFFIX);
    out->fd = mkstemp(out->tmp);
    if (out->fd < 0) {
        int e = errno;
        free(out->tmp);
        out->tmp = NULL;
        cn_outfile_abort(out);
        return out->stream ? cn_fail(err, "cannot create a temporary file in %s: %s", folder,
                                     strerror(e))
                           : cn_fail(err, "cannot write %s: %s", path, strerror(e));
    }
    mode_t mask = umask(0); /* mkstemp makes 0600; the target is as readable as any file */
    umask(mask);
    if (!out->stream && fchmod(out->fd, 0666 & ~mask) != 0) {
        int e = errno;
        cn_outfile_abort(out);
        return cn_fail(err, "cannot write %s: %s", path, strerror(e));
    }
    return 0;
}

FILE *cn_outfile_stream(CnOutFile *out, CnError *err)
{
    int fd = dup(out->fd);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        cn_fail(err, "cannot write %s: %s", out->target, strerror(errno));
        if (fd >= 0)
            close(fd);
    }
    return f;
}

static void release(CnOutFile *out)
{
    if (out->fd >= 0)
        close(out->fd);
    if (out->tmp)
        unlink(out->tmp);
    free(out->tmp);
    free(out->target);
    memset(out, 0, sizeof *out);
    out->fd = -1;
}

void cn_outfile_abort(CnOutFile *out)
{
    release(out);
}

static void sync_folder(const char *path)
{
    char *copy = strdup(path);
    int fd = copy ? open(dirname(copy), O_RDONLY | O_DIRECTORY) : -1;
    free(copy);
    if (fd >= 0) {
        fsync(fd); /* the rename itself survives a power cut */
        close(fd);
    }
}

/* Copies the temporary file to the stream target. */
static int copy_to_stream(CnOutFile *out, CnError *err)
{
    int to = strcmp(out->target, "-") == 0 ? STDOUT_FILENO : open(out->target, O_WRONLY);
    if (to < 0)
        return cn_fail(err, "cannot write %s: %s", out->target, strerror(errno));
    int rc = 0;
    char buffer[65536];
    if (lseek(out->fd, 0, SEEK_SET) != 0)
        rc = cn_fail(err, "cannot read back the temporary file: %s", strerror(errno));
    for (ssize_t got; rc == 0 && (got = read(out->fd, buffer, sizeof buffer)) != 0;) {
        if (got < 0) {
            if (errno == EINTR)
                continue;
            rc = cn_fail(err, "cannot read back the temporary file: %s", strerror(errno));
            break;
        }
        for (ssize_t done = 0; rc == 0 && done < got;) {
            ssize_t put = write(to, buffer + done, (size_t)(got - done));
            if (put < 0 && errno == EINTR)
                continue;
            if (put <= 0)
                rc = cn_fail(err, "cannot write %s: %s", out->target, strerror(errno));
            else
                done += put;
        }
    }
    if (to != STDOUT_FILENO && close(to) != 0 && rc == 0)
        rc = cn_fail(err, "cannot write %s: %s", out->target, strerror(errno));
    return rc;
}

int cn_outfile_commit(CnOutFile *out, CnError *err)
{
    int rc = 0;
    if (out->stream) {
        rc = copy_to_stream(out, err);
    } else {
        if (fsync(out->fd) != 0)
            rc = cn_fail(err, "cannot write %s: %s", out->target, strerror(errno));
        if (rc == 0 && rename(out->tmp, out->target) != 0)
            rc = cn_fail(err, "cannot write %s: %s", out->target, strerror(errno));
        if (rc == 0) {
            sync_folder(out->target);
            free(out->tmp);
            out->tmp = NULL; /* renamed: nothing to remove */
        }
    }
    release(out);
    return rc;
}

FILE *cn_outfile_fopen(CnOutFile *out, const char *path, CnError *err)
{
    if (cn_outfile_begin(out, path, err))
        return NULL;
    FILE *f = cn_outfile_stream(out, err);
    if (!f)
        cn_outfile_abort(out);
    return f;
}

int cn_outfile_fclose(FILE *f, CnOutFile *out, CnError *err)
{
    int failed = ferror(f), e = errno;
    if (fclose(f) != 0 || failed) {
        cn_fail(err, "cannot write %s: %s", out->target, strerror(failed ? e : errno));
        cn_outfile_abort(out);
        return -1;
    }
    return cn_outfile_commit(out, err);
}

int cn_open_regular(const char *path, CnError *err)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return cn_fail(err, "cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return cn_fail(err, "cannot open: %s", strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        const char *what = S_ISDIR(st.st_mode) ? "a folder" : S_ISFIFO(st.st_mode) ? "a FIFO"
                         : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device"
                         : S_ISSOCK(st.st_mode) ? "a socket" : "not a regular file";
        return cn_fail(err, "it is %s, not a file continuo reads", what);
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

FILE *cn_fopen_regular(const char *path, CnError *err)
{
    int fd = cn_open_regular(path, err);
    if (fd < 0)
        return NULL;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        cn_fail(err, "cannot open: %s", strerror(errno));
        close(fd);
    }
    return f;
}

int cn_lock_take(CnLock *lock, const char *path, CnError *err)
{
    lock->fd = -1;
    if ((size_t)snprintf(lock->path, sizeof lock->path, "%s.lock", path) >= sizeof lock->path)
        return cn_fail(err, "the path %s is too long", path);
    int fd = open(lock->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return cn_fail(err, "cannot create the lock %s: %s", lock->path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int busy = errno == EWOULDBLOCK;
        char holder[32] = "";
        ssize_t n = busy ? pread(fd, holder, sizeof holder - 1, 0) : -1;
        holder[n > 0 ? n : 0] = '\0';
        holder[strcspn(holder, "\n")] = '\0';
        close(fd);
        if (busy)
            return cn_fail(err, "another process%s%s is writing %s (it holds %s): wait for it, "
                                "stop it, or write elsewhere", holder[0] ? " " : "", holder,
                           path, lock->path);
        return cn_fail(err, "cannot lock %s: %s", lock->path, strerror(errno));
    }
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
        int e = errno;
        close(fd);
        return cn_fail(err, "cannot write the lock %s: %s", lock->path, strerror(e));
    }
    lock->fd = fd;
    return 0;
}

void cn_lock_release(CnLock *lock)
{
    if (lock->fd < 0)
        return;
    unlink(lock->path); /* while still held, so that no one takes a lock on a file gone */
    close(lock->fd);
    lock->fd = -1;
}
