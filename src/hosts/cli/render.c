/* FluidSynth rendering for `continuo generate --wav`, and a WAV reader to check it. */
#include "render.h"

#include <math.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "continuo/files.h"

extern char **environ;

static const char *const default_fonts[] = {"/usr/share/sounds/sf2/FluidR3_GM.sf2",
                                            "/usr/share/sounds/sf2/default-GM.sf2"};

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int measure_wav(const char *wav_path, double *seconds, double *rms_dbfs)
{
    FILE *f = fopen(wav_path, "rb");
    if (!f)
        return -1;
    uint8_t head[12], chunk[8], fmt[16] = {0};
    int rc = -1;
    if (fread(head, 1, 12, f) == 12 && memcmp(head, "RIFF", 4) == 0 &&
        memcmp(head + 8, "WAVE", 4) == 0) {
        while (fread(chunk, 1, 8, f) == 8) {
            uint32_t size = le32(chunk + 4);
            if (memcmp(chunk, "fmt ", 4) == 0) {
                if (size < 16 || fread(fmt, 1, 16, f) != 16 || fseek(f, (long)(size - 16 + (size & 1)), SEEK_CUR))
                    break;
                continue;
            }
            if (memcmp(chunk, "data", 4) != 0) {
                if (fseek(f, (long)(size + (size & 1)), SEEK_CUR))
                    break;
                continue;
            }
            unsigned channels = fmt[2] | fmt[3] << 8, bits = fmt[14] | fmt[15] << 8;
            uint32_t rate = le32(fmt + 4);
            if ((fmt[0] | fmt[1] << 8) != 1 || bits != 16 || channels == 0 || rate == 0)
                break;
            double sum = 0;
            size_t n = 0;
            int16_t samples[4096];
            size_t got;
            uint32_t left = size / 2;
            while (left > 0 && (got = fread(samples, 2, left < 4096 ? left : 4096, f)) > 0) {
                for (size_t i = 0; i < got; i++)
                    sum += (double)samples[i] * samples[i];
                n += got;
                left -= (uint32_t)got;
            }
            *seconds = (double)n / channels / rate;
            *rms_dbfs = n ? 10 * log10(sum / n / (32768.0 * 32768.0) + 1e-20) : -200;
            rc = 0;
            break;
        }
    }
    fclose(f);
    return rc;
}

static int find_in_path(const char *program)
{
    const char *path = getenv("PATH");
    char candidate[4096];
    while (path && *path) {
        size_t len = strcspn(path, ":");
        snprintf(candidate, sizeof candidate, "%.*s/%s", (int)len, path, program);
        if (access(candidate, X_OK) == 0)
            return 1;
        path += len + (path[len] == ':');
    }
    return 0;
}

int render_wav(const char *midi_path, const char *wav_path, const char *soundfont,
               double *seconds, double *rms_dbfs)
{
    if (!find_in_path("fluidsynth"))
        return cli_error(1, "--wav needs FluidSynth: apt-get install fluidsynth "
                            "fluid-soundfont-gm (the MIDI file was written)");
    for (size_t i = 0; !soundfont && i < sizeof default_fonts / sizeof default_fonts[0]; i++)
        if (access(default_fonts[i], R_OK) == 0)
            soundfont = default_fonts[i];
    if (!soundfont || access(soundfont, R_OK) != 0)
        return cli_error(1, "--wav needs a General MIDI SoundFont: apt-get install "
                            "fluid-soundfont-gm, or give --soundfont FILE.sf2");
    CnOutFile out; /* whole or not at all, and only when it sounds */
    CnError err = {{0}};
    if (cn_outfile_begin(&out, wav_path, &err))
        return cli_error(1, "%s", err.message);
    char *argv[] = {"fluidsynth", "-ni", "-q", "-g", "0.7", "-r", "44100", "-T", "wav", "-F",
                    out.tmp, (char *)soundfont, (char *)midi_path, NULL};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rc = posix_spawnp(&pid, "fluidsynth", &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
        cn_outfile_abort(&out);
        return cli_error(1, "cannot start fluidsynth: %s", strerror(rc));
    }
    int status;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        rc = cli_error(1, "fluidsynth failed to render %s", midi_path);
    else if (measure_wav(out.tmp, seconds, rms_dbfs) != 0)
        rc = cli_error(1, "fluidsynth wrote no readable WAV file for %s", wav_path);
    else if (*rms_dbfs < -60)
        rc = cli_error(1, "the rendered audio %s is silent (%.0f dBFS)", wav_path, *rms_dbfs);
    if (rc) {
        cn_outfile_abort(&out);
        return rc;
    }
    if (cn_outfile_commit(&out, &err))
        return cli_error(1, "%s", err.message);
    return 0;
}
