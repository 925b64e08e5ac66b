/* Standard MIDI File reading (our own bounded parser: libsmf trusts its input, see
 * docs/TOKENS.md) and writing (through libsmf). Any thread; not real-time safe. */
#include "continuo/midi_file.h"

#include "continuo/files.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <smf.h>

/* ------------------------------------------------------------------------------------ */
/* Reading                                                                              */

typedef struct {
    const uint8_t *bytes; /* the track chunk's payload */
    size_t n_bytes;
    size_t pos;
    size_t file_offset;   /* where the payload starts in the file, for messages */
    unsigned track;
} TrackCursor;

typedef struct {
    uint32_t tick;
    uint8_t channel;
    uint8_t program;
    uint16_t track;
    unsigned order; /* position in the file, to keep same-tick changes in file order */
} ProgramChange;

typedef struct {
    CnNote *notes;
    size_t n_notes, cap_notes;
    unsigned *note_order; /* (cap_notes) global arrival order, the tie-break when sorting */
    ProgramChange *programs;
    size_t n_programs, cap_programs;
    unsigned n_events;
} Collector;

static uint32_t read_be(const uint8_t *p, int n)
{
    uint32_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

static int cursor_fail(const TrackCursor *c, CnError *err, const char *what)
{
    return cn_fail(err, "track %u, byte %zu: %s", c->track, c->file_offset + c->pos, what);
}

/* A variable-length quantity is at most 4 bytes (28 bits) in a valid file. */
static int read_vlq(TrackCursor *c, uint32_t *value, CnError *err)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        if (c->pos >= c->n_bytes)
            return cursor_fail(c, err, "truncated variable-length number");
        uint8_t b = c->bytes[c->pos++];
        v = (v << 7) | (b & 0x7f);
        if (!(b & 0x80)) {
            *value = v;
            return 0;
        }
    }
    return cursor_fail(c, err, "variable-length number longer than 4 bytes");
}

static int grow(void **array, size_t *cap, size_t elem_size, size_t max, CnError *err)
{
    size_t new_cap = *cap ? *cap * 2 : 1024;
    if (new_cap > max)
        new_cap = max;
    if (new_cap <= *cap)
        return cn_fail(err, "more than %zu notes: file refused as pathological", max);
    void *p = realloc(*array, new_cap * elem_size);
    if (!p)
        return cn_fail(err, "out of memory");
    *array = p;
    *cap = new_cap;
    return 0;
}

static int add_note(Collector *col, uint32_t tick, uint8_t channel, uint8_t pitch,
                    uint8_t velocity, unsigned track, CnError *err)
{
    if (col->n_notes == col->cap_notes) {
        size_t cap = col->cap_notes;
        if (grow((void **)&col->notes, &col->cap_notes, sizeof(CnNote), CN_MIDI_MAX_NOTES, err))
            return -1;
        if (grow((void **)&col->note_order, &cap, sizeof(unsigned), CN_MIDI_MAX_NOTES, err))
            return -1;
    }
    col->note_order[col->n_notes] = col->n_events;
    col->notes[col->n_notes++] = (CnNote){.onset = tick, .pitch = pitch, .velocity = velocity,
                                          .channel = channel, .track = (uint16_t)track};
    return 0;
}

static int add_program(Collector *col, uint32_t tick, uint8_t channel, uint8_t program,
                       unsigned track, CnError *err)
{
    if (col->n_programs == col->cap_programs &&
        grow((void **)&col->programs, &col->cap_programs, sizeof(ProgramChange),
             CN_MIDI_MAX_NOTES, err))
        return -1;
    col->programs[col->n_programs++] =
        (ProgramChange){.tick = tick, .channel = channel, .program = program,
                        .track = (uint16_t)track, .order = col->n_events};
    return 0;
}

/* Open notes of one track, per channel and key, first-in first-out so that overlapping
 * notes of the same key end in the order they began. Links are indices into notes[]. */
typedef struct {
    int64_t head[16 * 128], tail[16 * 128];
    int64_t *next; /* (cap) */
    size_t cap;
    int64_t m21_open[16 * 128]; /* the note music21 has open on each key, -1: none */
} OpenNotes;

/* music21 ends a note at the next event that carries its key on its channel (its
 * matchedNoteOff does not call isNoteOff: a note-on, an aftertouch, a pitch bend whose
 * low byte is the key end it too); a note-on so taken is no note of its own. */
static void m21_event(Collector *col, OpenNotes *open, unsigned key, uint32_t tick,
                      int is_note_on)
{
    int64_t i = open->m21_open[key];
    if (i >= 0) {
        col->notes[i].m21_note = 1;
        col->notes[i].m21_duration = tick - col->notes[i].onset;
        open->m21_open[key] = -1;
    } else if (is_note_on) {
        open->m21_open[key] = (int64_t)col->n_notes - 1;
    }
}

static void close_note(Collector *col, OpenNotes *open, unsigned key, uint32_t tick)
{
    int64_t i = open->head[key];
    if (i < 0)
        return; /* a note-off without a note-on: ignored, as every player does */
    col->notes[i].duration = tick - col->notes[i].onset;
    open->head[key] = open->next[i];
    if (open->head[key] < 0)
        open->tail[key] = -1;
}

static int open_note(Collector *col, OpenNotes *open, unsigned key, CnError *err)
{
    size_t i = col->n_notes - 1;
    if (i >= open->cap) {
        size_t cap = col->cap_notes;
        int64_t *p = realloc(open->next, cap * sizeof *p);
        if (!p)
            return cn_fail(err, "out of memory");
        open->next = p;
        open->cap = cap;
    }
    open->next[i] = -1;
    if (open->tail[key] >= 0)
        open->next[open->tail[key]] = (int64_t)i;
    else
        open->head[key] = (int64_t)i;
    open->tail[key] = (int64_t)i;
    return 0;
}

static int channel_message(Collector *col, OpenNotes *open, TrackCursor *c, uint8_t status,
                           uint32_t tick, CnError *err)
{
    static const uint8_t n_data[8] = {2, 2, 2, 2, 1, 1, 2, 0}; /* by status high nibble */
    uint8_t data[2] = {0, 0};
    int n = n_data[(status >> 4) & 7];
    if (c->pos + (size_t)n > c->n_bytes)
        return cursor_fail(c, err, "truncated channel message");
    for (int i = 0; i < n; i++) {
        data[i] = c->bytes[c->pos++];
        if (data[i] & 0x80)
            return cursor_fail(c, err, "status byte where a data byte (0..127) belongs");
    }
    uint8_t channel = status & 0x0f;
    unsigned key = channel * 128u + data[0];
    uint8_t kind = status & 0xf0;
    if (kind == 0x90 && data[1] > 0) {
        if (add_note(col, tick, channel, data[0], data[1], c->track, err) ||
            open_note(col, open, key, err))
            return -1;
        m21_event(col, open, key, tick, 1);
        return 0;
    }
    if (kind == 0x80 || kind == 0xa0 || kind == 0xe0 || kind == 0x90)
        m21_event(col, open, key, tick, 0);
    if (kind == 0x80 || kind == 0x90) /* a note-on with velocity 0 is a note-off */
        close_note(col, open, key, tick);
    else if (kind == 0xc0)
        return add_program(col, tick, channel, data[0], c->track, err);
    return 0;
}

static int meta_event(CnMidi *midi, TrackCursor *c, uint32_t tick, int *end_of_track,
                      CnError *err)
{
    if (c->pos >= c->n_bytes)
        return cursor_fail(c, err, "truncated meta event");
    uint8_t type = c->bytes[c->pos++];
    uint32_t len;
    if (read_vlq(c, &len, err))
        return -1;
    if (len > c->n_bytes - c->pos)
        return cursor_fail(c, err, "meta event longer than its track");
    const uint8_t *data = c->bytes + c->pos;
    c->pos += len;
    CnTrackMarks *marks = midi->track_marks ? &midi->track_marks[c->track] : NULL;
    if (marks && type == 0x51) {
        marks->last_tempo = tick;
        marks->has_tempo = 1;
    } else if (marks && (type == 0x58 || type == 0x59)) {
        marks->last_signature = tick;
        marks->has_signature = 1;
    }
    if (type == 0x2f) {
        *end_of_track = 1;
    } else if (type == 0x03 && midi->track_names && !midi->track_names[c->track][0]) {
        size_t n = len < 31 ? len : 31;
        for (size_t i = 0; i < n; i++) /* printable ASCII only: names end up in SVG */
            midi->track_names[c->track][i] = data[i] >= 0x20 && data[i] < 0x7f ? (char)data[i] : '?';
        midi->track_names[c->track][n] = '\0';
    } else if (type == 0x58 && len >= 2 && midi->beats_per_bar == 0 && data[0] > 0 &&
               data[1] < 7) {
        midi->beats_per_bar = data[0];
        midi->beat_unit = 1u << data[1];
    }
    else if (type == 0x51 && len == 3 && midi->bpm == 0.0) {
        uint32_t us_per_quarter = read_be(data, 3);
        if (us_per_quarter > 0)
            midi->bpm = 60e6 / us_per_quarter;
    }
    (void)tick;
    return 0;
}

static int read_track(CnMidi *midi, Collector *col, OpenNotes *open, TrackCursor *c,
                      CnError *err)
{
    for (int k = 0; k < 16 * 128; k++)
        open->head[k] = open->tail[k] = open->m21_open[k] = -1;
    uint64_t tick = 0;
    uint8_t running = 0;
    int end_of_track = 0;
    while (c->pos < c->n_bytes && !end_of_track) {
        uint32_t delta;
        if (read_vlq(c, &delta, err))
            return -1;
        tick += delta;
        if (tick > UINT32_MAX)
            return cursor_fail(c, err, "track longer than 2^32 ticks");
        if (c->pos >= c->n_bytes)
            return cursor_fail(c, err, "truncated event");
        uint8_t status = c->bytes[c->pos];
        if (status & 0x80)
            c->pos++;
        else if (running)
            status = running;
        else
            return cursor_fail(c, err, "data byte without a status byte (running status unset)");
        col->n_events++;

        if (status < 0xf0) {
            running = status;
            if (channel_message(col, open, c, status, (uint32_t)tick, err))
                return -1;
        } else if (status == 0xf0 || status == 0xf7) {
            uint32_t len; /* sysex or escape: skipped whole */
            running = 0;
            if (read_vlq(c, &len, err))
                return -1;
            if (len > c->n_bytes - c->pos)
                return cursor_fail(c, err, "system exclusive message longer than its track");
            c->pos += len;
        } else if (status == 0xff) {
            running = 0;
            if (meta_event(midi, c, (uint32_t)tick, &end_of_track, err))
                return -1;
        } else {
            return cursor_fail(c, err, "system real-time or common byte inside a file");
        }
    }
    if (!end_of_track)
        midi->n_no_eot++;
    /* Notes still open end with the track, as a player would stop them. */
    for (unsigned key = 0; key < 16 * 128; key++)
        while (open->head[key] >= 0) {
            midi->n_unclosed++;
            close_note(col, open, key, (uint32_t)tick);
        }
    return 0;
}

static int parse_header(const uint8_t *bytes, size_t n_bytes, CnMidi *midi, size_t *pos,
                        CnError *err)
{
    if (n_bytes < 14)
        return cn_fail(err, "%zu bytes is too short for a MIDI file (the header alone is 14)",
                       n_bytes);
    if (memcmp(bytes, "MThd", 4) != 0)
        return cn_fail(err, "not a Standard MIDI File (it does not start with 'MThd')");
    uint32_t header_len = read_be(bytes + 4, 4);
    if (header_len < 6 || header_len > n_bytes - 8)
        return cn_fail(err, "header chunk length %u is invalid", (unsigned)header_len);
    midi->format = read_be(bytes + 8, 2);
    uint32_t division = read_be(bytes + 12, 2);
    if (midi->format > 2)
        return cn_fail(err, "unknown MIDI file format %u (0, 1 or 2 expected)", midi->format);
    if (division & 0x8000) {
        /* SMPTE timing: frames per second x ticks per frame ticks a second; we read the
         * file as if it were at 120 bpm, so a quarter note is half a second. */
        int fps = -(int8_t)(division >> 8);
        int ticks_per_frame = division & 0xff;
        if ((fps != 24 && fps != 25 && fps != 29 && fps != 30) || ticks_per_frame == 0)
            return cn_fail(err, "SMPTE time division 0x%04x: %d frames a second and %d ticks "
                                "a frame (24, 25, 29 or 30 frames and at least 1 tick expected)",
                           division, fps, ticks_per_frame);
        midi->ppqn = (unsigned)(fps * ticks_per_frame / 2);
    } else {
        midi->ppqn = division;
    }
    if (midi->ppqn == 0)
        return cn_fail(err, "time division of 0 ticks per quarter note");
    *pos = 8 + header_len;
    return 0;
}

/* The program changes as the file has them: by track, each track's in file order. */
static int keep_program_changes(const Collector *col, CnMidi *midi, CnError *err)
{
    size_t n = col->n_programs;
    midi->program_changes = malloc((n ? n : 1) * sizeof *midi->program_changes);
    if (!midi->program_changes)
        return cn_fail(err, "out of memory");
    for (size_t i = 0; i < n; i++) /* (read track by track, in order) */
        midi->program_changes[i] = (CnProgramChange){
            .tick = col->programs[i].tick, .track = col->programs[i].track,
            .channel = col->programs[i].channel, .program = col->programs[i].program};
    midi->n_program_changes = n;
    return 0;
}

static int compare_programs(const void *a, const void *b)
{
    const ProgramChange *x = a, *y = b;
    if (x->channel != y->channel)
        return x->channel - y->channel;
    if (x->tick != y->tick)
        return x->tick < y->tick ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Program changes act on a channel whatever track they sit in, so they are collected
 * from all tracks first and looked up per note afterwards. */
static void assign_programs(Collector *col)
{
    if (col->n_programs > 1)
        qsort(col->programs, col->n_programs, sizeof *col->programs, compare_programs);
    for (size_t i = 0; i < col->n_notes; i++) {
        CnNote *note = &col->notes[i];
        size_t lo = 0, hi = col->n_programs; /* first change after (channel, onset) */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            const ProgramChange *p = &col->programs[mid];
            if (p->channel < note->channel ||
                (p->channel == note->channel && p->tick <= note->onset))
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo > 0 && col->programs[lo - 1].channel == note->channel)
            note->program = col->programs[lo - 1].program;
    }
}

typedef struct {
    CnNote note;
    unsigned order;
} OrderedNote;

static int compare_notes(const void *a, const void *b)
{
    const OrderedNote *x = a, *y = b;
    if (x->note.onset != y->note.onset)
        return x->note.onset < y->note.onset ? -1 : 1;
    if (x->note.track != y->note.track)
        return x->note.track < y->note.track ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int sort_notes(Collector *col, CnError *err)
{
    if (col->n_notes == 0)
        return 0;
    OrderedNote *tmp = malloc(col->n_notes * sizeof *tmp);
    if (!tmp)
        return cn_fail(err, "out of memory");
    for (size_t i = 0; i < col->n_notes; i++)
        tmp[i] = (OrderedNote){col->notes[i], col->note_order[i]};
    qsort(tmp, col->n_notes, sizeof *tmp, compare_notes);
    for (size_t i = 0; i < col->n_notes; i++)
        col->notes[i] = tmp[i].note;
    free(tmp);
    return 0;
}

static int read_chunks(const uint8_t *bytes, size_t n_bytes, size_t pos, CnMidi *midi,
                       Collector *col, OpenNotes *open, CnError *err)
{
    while (n_bytes - pos >= 8) {
        uint32_t len = read_be(bytes + pos + 4, 4);
        size_t payload = pos + 8;
        if (len > n_bytes - payload)
            return cn_fail(err, "chunk at byte %zu claims %u bytes but only %zu remain "
                                "(truncated file?)", pos, (unsigned)len, n_bytes - payload);
        if (memcmp(bytes + pos, "MTrk", 4) == 0) {
            char(*names)[32] = realloc(midi->track_names, (midi->n_tracks + 1) * sizeof *names);
            if (names)
                midi->track_names = names;
            CnTrackMarks *marks = realloc(midi->track_marks,
                                          (midi->n_tracks + 1) * sizeof *marks);
            if (marks)
                midi->track_marks = marks;
            if (!names || !marks)
                return cn_fail(err, "out of memory");
            names[midi->n_tracks][0] = '\0';
            marks[midi->n_tracks] = (CnTrackMarks){0};
            TrackCursor c = {bytes + payload, len, 0, payload, midi->n_tracks};
            if (read_track(midi, col, open, &c, err))
                return -1;
            midi->n_tracks++;
        } /* other chunk types are skipped, as the standard asks */
        pos = payload + len;
    }
    if (midi->n_tracks == 0)
        return cn_fail(err, "no track chunk in the file");
    return 0;
}

int cn_midi_parse(const uint8_t *bytes, size_t n_bytes, CnMidi *out, CnError *err)
{
    memset(out, 0, sizeof *out);
    if (n_bytes > CN_MIDI_MAX_BYTES)
        return cn_fail(err, "file of %zu bytes is larger than the %u-byte limit", n_bytes,
                       CN_MIDI_MAX_BYTES);
    CnMidi midi = {0};
    size_t pos = 0;
    if (parse_header(bytes, n_bytes, &midi, &pos, err))
        return -1;

    Collector col = {0};
    OpenNotes *open = malloc(sizeof *open);
    int rc = open ? 0 : cn_fail(err, "out of memory");
    if (open)
        open->next = NULL, open->cap = 0;
    if (rc == 0)
        rc = read_chunks(bytes, n_bytes, pos, &midi, &col, open, err);
    if (rc == 0)
        rc = keep_program_changes(&col, &midi, err);
    if (rc == 0) {
        assign_programs(&col);
        rc = sort_notes(&col, err);
    }
    if (open)
        free(open->next);
    free(open);
    free(col.note_order);
    free(col.programs);
    if (rc) {
        free(col.notes);
        free(midi.track_names);
        free(midi.track_marks);
        free(midi.program_changes);
        return -1;
    }
    if (midi.bpm == 0.0)
        midi.bpm = 120.0;
    if (midi.beats_per_bar == 0)
        midi.beats_per_bar = midi.beat_unit = 4;
    midi.notes = col.notes;
    midi.n_notes = col.n_notes;
    *out = midi;
    return 0;
}

int cn_midi_read_file(const char *path, CnMidi *out, CnError *err)
{
    memset(out, 0, sizeof *out);
    FILE *f = cn_fopen_regular(path, err);
    if (!f)
        return -1;
    uint8_t *bytes = NULL;
    size_t n_bytes = 0, cap = 0;
    int rc = 0;
    for (;;) {
        if (n_bytes == cap) {
            if (cap > CN_MIDI_MAX_BYTES) {
                rc = cn_fail(err, "file is larger than the %u-byte limit", CN_MIDI_MAX_BYTES);
                break;
            }
            cap = cap ? cap * 2 : 65536;
            uint8_t *p = realloc(bytes, cap);
            if (!p) {
                rc = cn_fail(err, "out of memory");
                break;
            }
            bytes = p;
        }
        size_t got = fread(bytes + n_bytes, 1, cap - n_bytes, f);
        n_bytes += got;
        if (got == 0) {
            if (ferror(f))
                rc = cn_fail(err, "read error: %s", strerror(errno));
            break;
        }
    }
    fclose(f);
    if (rc == 0)
        rc = cn_midi_parse(bytes, n_bytes, out, err);
    free(bytes);
    return rc;
}

void cn_midi_free(CnMidi *midi)
{
    if (!midi)
        return;
    free(midi->notes);
    free(midi->track_names);
    free(midi->track_marks);
    free(midi->program_changes);
    midi->notes = NULL;
    midi->track_names = NULL;
    midi->track_marks = NULL;
    midi->program_changes = NULL;
    midi->n_notes = midi->n_program_changes = 0;
}

/* ------------------------------------------------------------------------------------ */
/* Writing                                                                              */

typedef struct {
    uint32_t tick;
    uint8_t bytes[3];
} TimedMessage;

/* Note-offs sort before note-ons at the same tick, so a key struck again right where
 * the previous one ends is not cut short by its own note-off. */
static int compare_messages(const void *a, const void *b)
{
    const TimedMessage *x = a, *y = b;
    if (x->tick != y->tick)
        return x->tick < y->tick ? -1 : 1;
    int x_on = (x->bytes[0] & 0xf0) == 0x90, y_on = (y->bytes[0] & 0xf0) == 0x90;
    if (x_on != y_on)
        return x_on - y_on;
    return (int)x->bytes[1] - (int)y->bytes[1];
}

/* A track's bytes as they are written (Standard MIDI File events, each a delta time and
 * the whole message, no running status, as libsmf wrote them before). */
typedef struct {
    uint8_t *bytes;
    size_t n, cap;
    uint32_t tick; /* of the last event written */
    int failed;
} TrackBytes;

static void put_bytes(TrackBytes *t, const void *bytes, size_t n)
{
    if (t->failed)
        return;
    if (t->n + n > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        while (cap < t->n + n)
            cap *= 2;
        uint8_t *grown = realloc(t->bytes, cap);
        if (!grown) {
            t->failed = 1;
            return;
        }
        t->bytes = grown;
        t->cap = cap;
    }
    memcpy(t->bytes + t->n, bytes, n);
    t->n += n;
}

static void put_number(TrackBytes *t, uint32_t v) /* a variable-length quantity */
{
    uint8_t out[5];
    int n = 0;
    out[4] = v & 0x7f;
    for (v >>= 7, n = 1; v; v >>= 7, n++)
        out[4 - n] = (uint8_t)(0x80 | (v & 0x7f));
    put_bytes(t, out + 5 - n, (size_t)n);
}

static void put_event(TrackBytes *t, uint32_t tick, const uint8_t *bytes, size_t n)
{
    put_number(t, tick - t->tick);
    t->tick = tick;
    put_bytes(t, bytes, n);
}

static void put_header_events(TrackBytes *t, const CnMidiWriteOptions *options)
{
    double bpm = options->bpm > 0 ? options->bpm : 120.0;
    uint32_t us_per_quarter = (uint32_t)(60e6 / bpm + 0.5);
    uint8_t tempo[6] = {0xff, 0x51, 0x03, (uint8_t)(us_per_quarter >> 16),
                        (uint8_t)(us_per_quarter >> 8), (uint8_t)us_per_quarter};
    put_event(t, 0, tempo, sizeof tempo);
    if (options->beats_per_bar > 0 && options->beats_per_bar < 128 && options->beat_unit > 0) {
        uint8_t log2_unit = 0;
        while ((1u << log2_unit) < options->beat_unit && log2_unit < 7)
            log2_unit++;
        uint8_t signature[7] = {0xff, 0x58, 0x04, (uint8_t)options->beats_per_bar, log2_unit,
                                24, 8};
        put_event(t, 0, signature, sizeof signature);
    }
}

/* The program on each channel the track plays on, in the track itself: a reader that
 * gives each track the instruments of its own program changes (music21's, which the
 * original project's users read with) keeps every track. */
static void put_programs(TrackBytes *t, const CnMidiWriteOptions *options, uint16_t channels)
{
    for (int ch = 0; ch < 16; ch++)
        if ((channels >> ch) & 1 && ch != CN_MIDI_PERCUSSION_CHANNEL) {
            uint8_t program[2] = {(uint8_t)(0xc0 | ch), (uint8_t)(options->program & 0x7f)};
            put_event(t, 0, program, sizeof program);
        }
}

/* The events of one track (notes whose track field is track_index), its name first, the
 * tempo and metre in the first, its channels' programs, End of Track at its last event. */
static void track_bytes(const CnNote *notes, size_t n_notes, unsigned track_index,
                        const CnMidiWriteOptions *options, TimedMessage *messages,
                        TrackBytes *t)
{
    size_t n = 0;
    uint16_t channels = 0;
    for (size_t i = 0; i < n_notes; i++) {
        const CnNote *nt = &notes[i];
        if (nt->track != track_index)
            continue;
        channels |= (uint16_t)(1u << nt->channel);
        messages[n++] = (TimedMessage){nt->onset, {0x90 | nt->channel, nt->pitch, nt->velocity}};
        messages[n++] = (TimedMessage){nt->onset + nt->duration, {0x80 | nt->channel, nt->pitch, 0}};
    }
    qsort(messages, n, sizeof *messages, compare_messages);
    if (track_index < options->n_track_names && options->track_names &&
        options->track_names[track_index]) {
        const char *name = options->track_names[track_index];
        uint8_t meta[2] = {0xff, 0x03};
        put_event(t, 0, meta, sizeof meta);
        put_number(t, (uint32_t)strlen(name));
        put_bytes(t, name, strlen(name));
    }
    if (track_index == 0)
        put_header_events(t, options);
    put_programs(t, options, channels);
    for (size_t i = 0; i < n; i++)
        put_event(t, messages[i].tick, messages[i].bytes, 3);
    static const uint8_t end_of_track[3] = {0xff, 0x2f, 0x00};
    put_event(t, t->tick, end_of_track, sizeof end_of_track);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* The whole file into f, a track at a time: a write error says the system's reason. */
static int write_smf(FILE *f, const CnNote *notes, size_t n_notes, unsigned n_tracks,
                     const CnMidiWriteOptions *options, TimedMessage *messages,
                     const char *path, CnError *err)
{
    uint8_t header[14] = {'M', 'T', 'h', 'd', 0, 0, 0, 6, 0, n_tracks > 1 ? 1 : 0,
                          (uint8_t)(n_tracks >> 8), (uint8_t)n_tracks,
                          (uint8_t)(options->ppqn >> 8), (uint8_t)options->ppqn};
    errno = 0;
    int written = fwrite(header, sizeof header, 1, f) == 1;
    TrackBytes t = {0};
    for (unsigned i = 0; written && i < n_tracks; i++) {
        t.n = 0;
        t.tick = 0;
        track_bytes(notes, n_notes, i, options, messages, &t);
        if (t.failed || t.n > UINT32_MAX) {
            free(t.bytes);
            return cn_fail(err, "out of memory");
        }
        uint8_t chunk[8] = {'M', 'T', 'r', 'k'};
        put_u32(chunk + 4, (uint32_t)t.n);
        written = fwrite(chunk, sizeof chunk, 1, f) == 1 && fwrite(t.bytes, t.n, 1, f) == 1;
    }
    free(t.bytes);
    if (!written)
        return cn_fail(err, "cannot write %s: %s", path,
                       errno ? strerror(errno) : "the write failed");
    return 0;
}

static int check_notes(const CnNote *notes, size_t n_notes, unsigned *n_tracks, CnError *err)
{
    *n_tracks = 1;
    for (size_t i = 0; i < n_notes; i++) {
        const CnNote *nt = &notes[i];
        if (nt->pitch > 127 || nt->velocity == 0 || nt->velocity > 127 || nt->channel > 15 ||
            (uint64_t)nt->onset + nt->duration > INT32_MAX || nt->track >= 256)
            return cn_fail(err, "note %zu is out of range (key %u, velocity %u, channel %u, "
                                "track %u)", i, nt->pitch, nt->velocity, nt->channel, nt->track);
        if (nt->track + 1u > *n_tracks)
            *n_tracks = nt->track + 1u;
    }
    return 0;
}

int cn_midi_write_file(const char *path, const CnNote *notes, size_t n_notes,
                       const CnMidiWriteOptions *options, CnError *err)
{
    if (!options || options->ppqn == 0 || options->ppqn > 0x7fff)
        return cn_fail(err, "ticks per quarter note must be 1..32767");
    if (n_notes > CN_MIDI_MAX_NOTES)
        return cn_fail(err, "%zu notes is more than the %u a file may hold", n_notes,
                       CN_MIDI_MAX_NOTES);
    unsigned n_tracks;
    if (check_notes(notes, n_notes, &n_tracks, err))
        return -1;
    TimedMessage *messages = malloc((2 * n_notes + 1) * sizeof *messages);
    if (!messages)
        return cn_fail(err, "out of memory");
    if (options->n_track_names > n_tracks)
        n_tracks = options->n_track_names; /* a named track is written even when empty */
    CnOutFile out; /* written whole or not at all, also to a pipe */
    int rc = cn_outfile_begin(&out, path, err);
    FILE *f = rc == 0 ? cn_outfile_stream(&out, err) : NULL;
    if (rc == 0 && !f) {
        cn_outfile_abort(&out);
        rc = -1;
    }
    if (rc == 0) {
        rc = write_smf(f, notes, n_notes, n_tracks, options, messages, path, err);
        errno = 0;
        if (fclose(f) != 0 && rc == 0)
            rc = cn_fail(err, "cannot write %s: %s", path,
                         errno ? strerror(errno) : "the write failed");
        if (rc == 0)
            rc = cn_outfile_commit(&out, err);
        else
            cn_outfile_abort(&out);
    }
    free(messages);
    return rc;
}
