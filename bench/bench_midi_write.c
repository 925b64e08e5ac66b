/* Writing long MIDI files: continuo's writer against libsmf's smf_save (how continuo wrote
 * them before, and how a reader of ours still reads them), the same notes in the same run.
 * Usage: bench_midi_write [NOTES...] (default 10000 40000 80000). */
#include <smf.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "continuo/midi_file.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The same notes through libsmf: an event added per note-on and note-off, then saved. */
static double libsmf_seconds(const CnNote *notes, size_t n, const char *path)
{
    double start = now();
    smf_t *smf = smf_new();
    if (smf_set_ppqn(smf, 480) != 0)
        return -1;
    smf_track_t *track = smf_track_new();
    smf_add_track(smf, track);
    for (size_t i = 0; i < n; i++) { /* onsets rise, and each note ends before the next */
        smf_track_add_event_pulses(track, smf_event_new_from_bytes(0x90, notes[i].pitch, 64),
                                   (int)notes[i].onset);
        smf_track_add_event_pulses(track, smf_event_new_from_bytes(0x80, notes[i].pitch, 0),
                                   (int)(notes[i].onset + notes[i].duration));
    }
    int saved = smf_save(smf, path) == 0;
    smf_delete(smf);
    return saved ? now() - start : -1;
}

int main(int argc, char **argv)
{
    static const long defaults[] = {10000, 40000, 80000};
    int n_sizes = argc > 1 ? argc - 1 : 3;
    char path[] = "/tmp/bench-midi-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 1;
    close(fd);
    printf("notes    continuo     libsmf   libsmf / continuo\n");
    for (int s = 0; s < n_sizes; s++) {
        size_t n = (size_t)(argc > 1 ? atol(argv[s + 1]) : defaults[s]);
        CnNote *notes = calloc(n ? n : 1, sizeof *notes);
        for (size_t i = 0; i < n; i++)
            notes[i] = (CnNote){.onset = (uint32_t)(i * 120), .duration = 100,
                                .pitch = (uint8_t)(48 + i % 24), .velocity = 64};
        CnMidiWriteOptions o = {.ppqn = 480, .bpm = 120};
        CnError err = {{0}};
        double start = now();
        if (cn_midi_write_file(path, notes, n, &o, &err)) {
            fprintf(stderr, "%s\n", err.message);
            return 1;
        }
        double ours = now() - start, theirs = libsmf_seconds(notes, n, path);
        printf("%6zu  %8.3f s  %8.3f s  %8.1fx\n", n, ours, theirs, theirs / ours);
        fflush(stdout);
        free(notes);
    }
    unlink(path);
    return 0;
}
