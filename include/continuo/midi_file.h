/* Standard MIDI Files: a bounded reader of our own for untrusted bytes, and a writer
 * through libsmf. Knows notes, ticks and tempo; knows nothing about tokens. */
#ifndef CONTINUO_MIDI_FILE_H
#define CONTINUO_MIDI_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "continuo/status.h"

#define CN_MIDI_MAX_BYTES (64u << 20) /* larger files are refused before reading */
#define CN_MIDI_MAX_NOTES (4u << 20)
#define CN_MIDI_PERCUSSION_CHANNEL 9  /* channel 10 as musicians count */

typedef struct {
    uint32_t onset;    /* ticks from the start of the file */
    uint32_t duration; /* ticks until the matching note-off (or the track's end) */
    uint8_t pitch;     /* MIDI key, 60 = C4 */
    uint8_t velocity;  /* 1..127 */
    uint8_t channel;   /* 0..15 */
    uint8_t program;   /* General MIDI program of the channel at the onset, 0 = piano */
    uint16_t track;    /* index of the track chunk the note came from */
    /* The note as music21 reads it (the original scheme follows music21): it ends at the
       next event of its key on its channel in its track, whatever that is, a note-on too,
       which is then no note of its own (docs/TOKENS.md). */
    uint8_t m21_note;      /* music21 has it: its note-on was no other's end, and it ends */
    uint32_t m21_duration; /* ticks to that end */
} CnNote;

/* A program change as the file has it (where it sits, not only what channel it acts on:
 * music21, which the original scheme follows, gives each track the programs of its own). */
typedef struct {
    uint32_t tick;
    uint16_t track;
    uint8_t channel;
    uint8_t program;
} CnProgramChange;

/* When a track's last tempo and its last time or key signature come: music21, which the
 * original scheme follows, counts them in the length of a part. */
typedef struct {
    uint32_t last_tempo, last_signature; /* ticks */
    uint8_t has_tempo, has_signature;
} CnTrackMarks;

typedef struct {
    CnNote *notes;       /* (n_notes) sorted by onset, then track, then order in the track */
    size_t n_notes;
    unsigned format;     /* 0, 1 or 2 */
    unsigned n_tracks;   /* track chunks actually read */
    unsigned ppqn;       /* ticks per quarter note (SMPTE timing is converted at 120 bpm) */
    double bpm;          /* first tempo in the file; 120 when it sets none */
    unsigned n_unclosed; /* notes without a note-off, ended at their track's end */
    unsigned n_no_eot;   /* tracks that ended without an End-of-Track event */
    char (*track_names)[32]; /* (n_tracks) each track's first name event, "" when none */
    CnTrackMarks *track_marks; /* (n_tracks) */
    unsigned beats_per_bar;  /* first time signature's numerator; 4 when none */
    unsigned beat_unit;      /* its denominator (4 = quarter note); 4 when none */
    CnProgramChange *program_changes; /* (n_program_changes) by track, then in file order */
    size_t n_program_changes;
} CnMidi;

/* Parses a whole file held in memory. Never trusts a length field: anything malformed
 * fails with a message naming the track and byte offset. On success the caller owns
 * out->notes and frees it with cn_midi_free(). */
int cn_midi_parse(const uint8_t *bytes, size_t n_bytes, CnMidi *out, CnError *err);

/* Reads and parses the file at path (at most CN_MIDI_MAX_BYTES). */
int cn_midi_read_file(const char *path, CnMidi *out, CnError *err);

void cn_midi_free(CnMidi *midi);

typedef struct {
    unsigned ppqn;   /* ticks per quarter note in the written file */
    double bpm;      /* tempo written at tick 0 */
    uint8_t program; /* written at tick 0 in every track, on each channel it uses */
    const char *const *track_names; /* names of tracks 0.. (may be NULL) */
    unsigned n_track_names;
    unsigned beats_per_bar, beat_unit; /* time signature to write; 0 = none */
} CnMidiWriteOptions;

/* Writes notes (any order; onset and duration in ppqn ticks) through libsmf, one track
 * per value of CnNote.track (format 0 when all are 0, else format 1), with a tempo event
 * and a program change at the start. */
int cn_midi_write_file(const char *path, const CnNote *notes, size_t n_notes,
                       const CnMidiWriteOptions *options, CnError *err);

#endif
