/* A compact text notation for writing music out by hand (midi_songs/src), turned
 * into notes so the build can make reviewable, reproducible MIDI files. Pure, no I/O.
 * The notation is described in midi_songs/README.md. */
#ifndef CONTINUO_SCORE_H
#define CONTINUO_SCORE_H

#include <stddef.h>

#include "continuo/midi_file.h"
#include "continuo/status.h"

#define CN_SCORE_PPQN 480

typedef struct {
    CnNote *notes;   /* (n_notes) ticks at CN_SCORE_PPQN; track = voice in order of appearance */
    size_t n_notes;
    unsigned n_voices;
    double bpm;      /* from the "tempo" line; 100 when absent */
    char title[128]; /* from "# title:", may be empty */
    char voice_names[16][32]; /* (n_voices) */
    unsigned beats_per_bar, beat_unit; /* from a "time 3/4" line; 0 when absent */
} CnScore;

/* Parses a whole score. Errors name the line and the item that could not be read. */
int cn_score_parse(const char *text, CnScore *score, CnError *err);

void cn_score_free(CnScore *score);

#endif
