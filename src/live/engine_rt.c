/* The engine's audio-thread side: a host cycle hears the player's events (into the in
 * ring), takes the notes due in the cycle (from the out ring) through the note table, and
 * merges them with the thru events. Everything here is bounded and references no
 * allocator, lock, stdio or sleep (tests/check_rt_symbols.sh checks the object file). */
#include "engine_impl.h"

static void rt_hear(CnEngine *e, uint64_t frame, const uint8_t *bytes, uint32_t size)
{
    if (size != 3 || !(bytes[0] & 0x80))
        return;
    uint8_t kind = bytes[0] & 0xf0;
    if ((kind != 0x80 && kind != 0x90 && kind != 0xb0) || (bytes[1] & 0x80) ||
        (bytes[2] & 0x80))
        return; /* clock, sysex, program changes, malformed: not ours */
    CnTimedEvent ev = {.frame = frame, .bytes = {bytes[0], bytes[1], bytes[2]}, .size = 3};
    cn_ring_push(&e->in, &ev); /* a full ring drops the newest and counts it */
    if (e->has_wake)
        sem_post(&e->wake);    /* never blocks */
}

void cn_engine_rt_panic(CnEngine *e)
{
    atomic_fetch_add(&e->panic, 1);
    if (e->has_wake)
        sem_post(&e->wake);
}

void cn_engine_rt_set_tempo(CnEngine *e, double bpm, uint64_t beat_frame)
{
    if (!(bpm >= 10 && bpm <= 400))
        return;
    atomic_store(&e->frames_per_beat_milli, (uint64_t)(e->sample_rate * 60.0 / bpm * 1000.0));
    atomic_store(&e->grid_origin, beat_frame);
}

/* Appends an event the engine makes; its data is pointed at its bytes once the cycle's
 * events have their final places (rt_merge_thru). */
static void emit(CnMidiEvent *out, int *n, uint32_t offset, const uint8_t b[3])
{
    out[*n] = (CnMidiEvent){.offset = offset, .size = 3, .data = NULL,
                            .bytes = {b[0], b[1], b[2]}};
    (*n)++;
}

/* Note-offs for everything sounding, at offset 0, as many as fit. Bounded: 16 x 128. */
static void release_all(CnEngine *e, CnMidiEvent *out, int *n, int max_out)
{
    for (int ch = 0; ch < 16; ch++)
        for (int key = 0; key < 128; key++)
            if (e->sounding[ch][key] && *n < max_out) {
                uint8_t off[3] = {(uint8_t)(0x80 | ch), (uint8_t)key, 0};
                emit(out, n, 0, off);
                e->sounding[ch][key] = 0;
            }
}

/* Writes a scheduled note event through the note table. A key struck again while it
 * sounds is released first and struck anew (so every note-on is followed by exactly one
 * note-off); its release is sent when the last scheduled note-off for it comes. The
 * caller leaves room for two events. */
static void write_note(CnEngine *e, uint32_t offset, const uint8_t *b, CnMidiEvent *out, int *n)
{
    uint8_t ch = b[0] & 0x0f, key = b[1] & 0x7f;
    uint8_t *count = &e->sounding[ch][key];
    if ((b[0] & 0xf0) == 0x90 && b[2] > 0) {
        if (*count > 0) {
            uint8_t off[3] = {(uint8_t)(0x80 | ch), key, 0};
            emit(out, n, offset, off);
        }
        if (*count < 255)
            (*count)++;
        emit(out, n, offset, b);
        return;
    }
    if (*count == 0)
        return; /* never started, or already released by a cancel */
    if (--*count > 0)
        return;
    emit(out, n, offset, b);
}

/* The answer's events due before end, into out[n..max_out). */
static void rt_take_notes(CnEngine *e, uint64_t cycle_frame, uint64_t end, CnMidiEvent *out,
                          int *n, int max_out)
{
    uint32_t panic = atomic_load_explicit(&e->panic, memory_order_acquire);
    uint32_t generation = atomic_load_explicit(&e->generation, memory_order_acquire);
    if (panic != e->rt_panic || generation != e->rt_generation) {
        release_all(e, out, n, max_out);
        e->rt_panic = panic;
        e->rt_generation = generation;
    }
    /* bounded: at most the ring's capacity plus the one held back */
    for (size_t k = 0; k <= e->out.capacity && *n + 2 <= max_out; k++) {
        CnTimedEvent ev;
        if (e->has_pending) {
            ev = e->pending;
            e->has_pending = 0;
        } else if (cn_ring_pop(&e->out, &ev) != 0) {
            break;
        }
        int32_t age = (int32_t)(ev.generation - e->rt_generation);
        if (age < 0)
            continue; /* from a cancelled answer */
        if (age > 0) { /* a newer answer: the old one was cancelled during this cycle */
            release_all(e, out, n, max_out);
            e->rt_generation = ev.generation;
        }
        if (ev.frame >= end) {
            e->pending = ev;
            e->has_pending = 1;
            break;
        }
        uint32_t offset = 0;
        if (ev.frame >= cycle_frame)
            offset = (uint32_t)(ev.frame - cycle_frame);
        else
            atomic_fetch_add_explicit(&e->late, 1, memory_order_relaxed);
        write_note(e, offset, ev.bytes, out, n);
    }
}

/* The engine's n_made events stand at out[n_thru..n_thru + n_made); merges them with the
 * thru events in[0..n_thru) into out[0..), in place (a write never passes the engine event
 * still to be read), engine first on a tie, offsets never going back and inside the
 * cycle. */
static int rt_merge_thru(const CnMidiEvent *in, int n_thru, CnMidiEvent *out, int n_made,
                         uint32_t n_frames)
{
    int i = 0, j = 0, k = 0;
    uint32_t last = 0, final = n_frames ? n_frames - 1 : 0;
    while (i < n_thru || j < n_made) {
        const CnMidiEvent *made = j < n_made ? &out[n_thru + j] : NULL;
        int take_made = made && (i == n_thru || made->offset <= in[i].offset);
        if (!take_made && (!in[i].data || in[i].size == 0)) {
            i++; /* nothing to pass on */
            continue;
        }
        CnMidiEvent ev = take_made ? out[n_thru + j++] : in[i++];
        ev.offset = ev.offset < last ? last : ev.offset > final ? final : ev.offset;
        last = ev.offset;
        out[k] = ev;
        if (!out[k].data)
            out[k].data = out[k].bytes;
        k++;
    }
    return k;
}

int cn_engine_rt_cycle(CnEngine *e, uint64_t cycle_frame, uint32_t n_frames,
                       const CnMidiEvent *in, int n_in, unsigned flags, CnMidiEvent *out,
                       int max_out)
{
    atomic_store_explicit(&e->now_frame, cycle_frame, memory_order_release);
    if (n_in < 0 || max_out < 0)
        return 0;
    if (!(flags & CN_CYCLE_DEAF))
        for (int i = 0; i < n_in; i++)
            if (in[i].data)
                rt_hear(e, cycle_frame + in[i].offset, in[i].data, in[i].size);
    int n_thru = 0;
    if (flags & CN_CYCLE_THRU)
        n_thru = n_in < max_out ? n_in : max_out;
    int n_made = 0;
    rt_take_notes(e, cycle_frame, cycle_frame + n_frames, out + n_thru, &n_made,
                  max_out - n_thru);
    return rt_merge_thru(in, n_thru, out, n_made, n_frames);
}

int cn_engine_rt_release_all(CnEngine *e, CnMidiEvent *out, int max_out)
{
    int n = 0;
    release_all(e, out, &n, max_out);
    for (int i = 0; i < n; i++)
        out[i].data = out[i].bytes;
    return n;
}
