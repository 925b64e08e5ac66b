/* The ALSA sequencer side of `continuo alsa`: translation between sequencer events and the
 * MIDI bytes the engine speaks (the clock follower is continuo/clock.h). Kept apart from
 * the command so that it can be tested on machines without a sequencer device. */
#ifndef CONTINUO_ALSA_SEQ_H
#define CONTINUO_ALSA_SEQ_H

#include <alsa/asoundlib.h>
#include <stdint.h>

#include "continuo/clock.h"
#include "continuo/status.h"

#define CN_SEQ_DEVICE "/dev/snd/seq"

typedef enum {
    CN_SEQ_IGNORED,  /* sysex, program change, pitch bend, active sensing... */
    CN_SEQ_MIDI,     /* a note on/off or control change, in bytes[] */
    CN_SEQ_CLOCK,    /* a MIDI clock tick */
    CN_SEQ_START,    /* MIDI Start: the song position is 0 at the next tick */
    CN_SEQ_CONTINUE, /* MIDI Continue */
    CN_SEQ_STOP,     /* MIDI Stop: the music stops, and so do we */
    CN_SEQ_SONG_POSITION, /* Song Position Pointer, in sixteenths (data.control.value) */
    CN_SEQ_PROGRAM,  /* a program change, as two MIDI bytes in bytes */
} CnSeqKind;

/* What a sequencer event means to the engine. For CN_SEQ_MIDI the three MIDI bytes are in
 * bytes (a note-on of velocity 0 becomes a note-off). */
CnSeqKind cn_seq_to_midi(const snd_seq_event_t *ev, uint8_t bytes[3]);

/* Fills the type and data of ev from a three-byte note on/off or control change, or a
 * clock, Start or Stop byte; 0, or -1 for any other message (the engine writes no other). Source, destination and time are
 * left to the caller. */
int cn_seq_from_midi(const uint8_t *bytes, int size, snd_seq_event_t *ev);

/* 0 when the sequencer device exists; otherwise -1 and a message saying what to do. */
int cn_seq_check_device(const char *path, CnError *err);

#endif
