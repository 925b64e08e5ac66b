/* The first-instrument rule of every scheme's file listener (tokens_internal.h). */
#include "tokens_internal.h"

#include <stdio.h>
#include <stdlib.h>

static int first_program(const CnMidi *midi)
{
    unsigned best_track = UINT32_MAX, best_channel = 16;
    int program = -1;
    for (size_t i = 0; i < midi->n_notes; i++) {
        const CnNote *n = &midi->notes[i];
        if (n->channel == CN_MIDI_PERCUSSION_CHANNEL)
            continue;
        if (n->track < best_track || (n->track == best_track && n->channel < best_channel)) {
            best_track = n->track;
            best_channel = n->channel;
            program = n->program;
        }
    }
    return program;
}

int cn_first_instrument_init(CnFirstInstrument *first, const CnMidi *midi, CnError *err)
{
    *first = (CnFirstInstrument){.program = first_program(midi)};
    first->n_voices = (size_t)(midi->n_tracks ? midi->n_tracks : 1) * 16;
    first->voice_programs = malloc(first->n_voices * sizeof *first->voice_programs);
    if (!first->voice_programs)
        return cn_fail(err, "out of memory");
    for (size_t v = 0; v < first->n_voices; v++)
        first->voice_programs[v] = -1;
    for (size_t i = 0; i < midi->n_notes; i++) {
        size_t v = (size_t)midi->notes[i].track * 16 + midi->notes[i].channel;
        if (v < first->n_voices && first->voice_programs[v] < 0)
            first->voice_programs[v] = midi->notes[i].program;
    }
    return 0;
}

int cn_first_instrument_keeps(CnFirstInstrument *first, const CnNote *n)
{
    if (n->channel == CN_MIDI_PERCUSSION_CHANNEL) {
        first->n_drums++;
        return 0;
    }
    size_t v = (size_t)n->track * 16 + n->channel;
    if (v >= first->n_voices || first->voice_programs[v] != first->program) {
        first->n_other++;
        return 0;
    }
    return 1;
}

void cn_first_instrument_report(const CnFirstInstrument *first, CnTokenStream *out)
{
    out->n_dropped = first->n_drums + first->n_other;
    if (first->n_other)
        snprintf(out->warning, sizeof out->warning,
                 "left out %zu notes of instruments other than the first (General MIDI "
                 "program %d) and %zu drum notes", first->n_other, first->program + 1,
                 first->n_drums);
    else if (first->n_drums)
        snprintf(out->warning, sizeof out->warning, "left out %zu drum notes (channel 10)",
                 first->n_drums);
}

void cn_first_instrument_free(CnFirstInstrument *first)
{
    free(first->voice_programs);
    first->voice_programs = NULL;
}
