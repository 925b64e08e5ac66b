/* What the token files share inside the core: the first-instrument rule every scheme's
 * file listener applies, and a name made readable for a message. Internal to core. */
#ifndef CONTINUO_TOKENS_INTERNAL_H
#define CONTINUO_TOKENS_INTERNAL_H

#include "continuo/scheme.h"

/* The original project kept the notes of a file's first instrument (music21's
 * partitionByInstrument, then parts[0]): the instrument of a voice (one channel of one
 * track) is the program of its first note; the file's first is that of its first melodic
 * voice. Drums (channel 10) are never kept. */
typedef struct {
    int program;          /* the first instrument's program, -1 when there is none */
    int *voice_programs;  /* [track * 16 + channel]: program of the voice's first note, -1 */
    size_t n_voices;
    size_t n_drums, n_other; /* notes left out so far */
} CnFirstInstrument;

int cn_first_instrument_init(CnFirstInstrument *first, const CnMidi *midi, CnError *err);
/* Whether the note is kept; counts those left out. */
int cn_first_instrument_keeps(CnFirstInstrument *first, const CnNote *note);
/* The stream's n_dropped and warning, from what was left out. */
void cn_first_instrument_report(const CnFirstInstrument *first, CnTokenStream *out);
void cn_first_instrument_free(CnFirstInstrument *first);

/* The name as it can be read in a message: control characters and bytes outside
 * printable ASCII as escapes. */
const char *cn_token_visible(const char *name, char out[96]);

/* The player's keys due up by step, at the steps they are due, earliest first. */
int cn_player_release_due(CnPlayer *player, int64_t step, CnKeyEvent *out);
/* Every key still down goes up: those due by step then, the rest at step (one that went
 * down there a step later). */
int cn_player_end(CnPlayer *player, int64_t step, CnKeyEvent *out);

/* Notes from a player's key events: a key down opens a note, its up closes it. */
typedef struct {
    CnNote *notes;
    size_t n, capacity;
    int64_t open[128];  /* index of each sounding key's note, -1 when silent */
    unsigned ticks;     /* ticks a step */
    uint8_t channel;
} CnNoteWriter;

int cn_note_writer_init(CnNoteWriter *w, size_t capacity, unsigned ticks, uint8_t channel,
                        CnError *err);
void cn_note_writer_put(CnNoteWriter *w, const CnKeyEvent *events, int n);
/* Hands the notes over (*quarters, if asked: to end_step or the last note's end, whichever
 * is later). */
int cn_note_writer_finish(CnNoteWriter *w, int64_t end_step, unsigned ppqn, CnNote **notes,
                          size_t *n_notes, double *quarters);

#endif
