/* The engine's audio-thread side: a host cycle hears the player's events (into the in
 * ring), takes the notes due in the cycle (from the out ring) through the note table, and
 * merges them with the thru events and the MIDI clock it sends. Everything here is bounded and references no
 * allocator, lock, stdio or sleep (tests/check_rt_symbols.sh checks the object file). */
#include "engine_impl.h"
#include "continuo/tempo.h"

/* One of the player's messages for the worker: 2 when it was passed on and the worker must
 * see it at once (a note, which may cut an answer; All Notes Off; one of the controls), 1
 * when it can wait for the worker's next pass (other control changes: at most 50 ms), 0
 * when it is not ours.
 * Waking the worker costs a system call that can take tens of microseconds on a virtual
 * machine, so a flood of control changes (a mod wheel, a fader) does not wake it. */
static int rt_hear(CnEngine *e, uint64_t frame, const uint8_t *bytes, uint32_t size)
{
    if (size != 3 || !(bytes[0] & 0x80))
        return 0;
    uint8_t kind = bytes[0] & 0xf0;
    if ((kind != 0x80 && kind != 0x90 && kind != 0xb0) || (bytes[1] & 0x80) ||
        (bytes[2] & 0x80))
        return 0; /* clock, sysex, program changes, malformed: not ours */
    CnTimedEvent ev = {.frame = frame, .bytes = {bytes[0], bytes[1], bytes[2]}, .size = 3};
    if (cn_ring_push(&e->in, &ev) != 0)
        return 0; /* a full ring drops the newest and counts it */
    if (kind != 0xb0)
        return 2;
    uint64_t urgent = atomic_load_explicit(&e->urgent_cc[bytes[1] >> 6], memory_order_relaxed);
    return urgent >> (bytes[1] & 63) & 1 ? 2 : 1;
}

void cn_engine_rt_control(CnEngine *e, CnControl control, uint8_t value)
{
    if ((unsigned)control >= CN_N_CONTROLS || value > 127)
        return;
    uint64_t now = atomic_load_explicit(&e->now_frame, memory_order_relaxed);
    CnTimedEvent ev = {.frame = now, .bytes = {(uint8_t)control, value, 0}, .size = EVENT_CONTROL};
    cn_ring_push(&e->in, &ev);
    if (e->has_wake)
        sem_post(&e->wake);
}

void cn_engine_rt_stop(CnEngine *e)
{
    atomic_fetch_add(&e->stopping, 1);
    cn_engine_rt_panic(e);
}

uint64_t cn_engine_rt_late(const CnEngine *e)
{
    return atomic_load_explicit(&e->late, memory_order_relaxed);
}

int cn_engine_stop_done(const CnEngine *e)
{
    uint32_t asked = atomic_load(&e->stopping);
    return asked != 0 && atomic_load(&e->stopped) == asked;
}

void cn_engine_rt_panic(CnEngine *e)
{
    atomic_fetch_add(&e->panic, 1);
    if (e->has_wake)
        sem_post(&e->wake);
}

void cn_engine_rt_set_tempo(CnEngine *e, double bpm, uint64_t beat_frame)
{
    if (!cn_bpm_in_range(bpm))
        return;
    atomic_store(&e->frames_per_beat_milli, (uint64_t)(e->sample_rate * 60.0 / bpm * 1000.0));
    atomic_store(&e->grid_origin, beat_frame);
}

void cn_engine_rt_tempo(const CnEngine *e, double *bpm, uint64_t *beat_frame)
{
    *bpm = e->sample_rate * 60.0 * 1000.0 / (double)atomic_load(&e->frames_per_beat_milli);
    *beat_frame = atomic_load(&e->grid_origin);
}

void cn_engine_rt_tempo_free(CnEngine *e, int is_free)
{
    atomic_store_explicit(&e->tempo_free, is_free != 0, memory_order_relaxed);
}

/* Appends an event the engine makes; its data is pointed at its bytes once the cycle's
 * events have their final places (rt_merge). */
static void emit(CnMidiEvent *out, int *n, uint32_t offset, const uint8_t b[3])
{
    out[*n] = (CnMidiEvent){.offset = offset, .size = 3, .data = NULL,
                            .bytes = {b[0], b[1], b[2]}};
    (*n)++;
}

/* Note-offs at offset 0 for the keys of table, as many as fit, clearing them: 1 when all
 * are released, 0 when some wait for room in the next cycle. Bounded: 16 x 128. */
static int release_keys(uint8_t table[16][128], CnMidiEvent *out, int *n, int max_out)
{
    for (int ch = 0; ch < 16; ch++)
        for (int key = 0; key < 128; key++)
            if (table[ch][key]) {
                if (*n >= max_out)
                    return 0;
                uint8_t off[3] = {(uint8_t)(0x80 | ch), (uint8_t)key, 0};
                emit(out, n, 0, off);
                table[ch][key] = 0;
            }
    return 1;
}

static int release_all(CnEngine *e, CnMidiEvent *out, int *n, int max_out)
{
    return release_keys(e->sounding, out, n, max_out);
}

/* What a cycle owes before anything else: on a stop, the releases of the player's notes
 * passed on; the player's note-offs that found no room in an earlier cycle. */
static void rt_pay_owed(CnEngine *e, CnMidiEvent *out, int *n, int max_out)
{
    uint32_t stopping = atomic_load_explicit(&e->stopping, memory_order_acquire);
    if (stopping != e->rt_stopping) {
        for (int ch = 0; ch < 16; ch++)
            for (int key = 0; key < 128; key++)
                if (e->thru_sounding[ch][key]) {
                    e->thru_owed[ch][key] = 1;
                    e->thru_sounding[ch][key] = 0;
                    e->thru_owed_any = 1;
                }
        e->rt_stopping = stopping;
    }
    if (e->thru_owed_any)
        e->thru_owed_any = !release_keys(e->thru_owed, out, n, max_out);
}

/* The player's events to pass on, in order, as many as room allows: past it a note-off of
 * a key passed on is owed to the next cycle and anything else is dropped and counted. */
static int rt_pass_thru(CnEngine *e, const CnMidiEvent *in, int n_in, int room)
{
    int n = 0;
    uint64_t dropped = 0;
    room = room < RT_MAX_THRU ? room : RT_MAX_THRU;
    for (int i = 0; i < n_in; i++) {
        const CnMidiEvent *ev = &in[i];
        if (!ev->data || ev->size == 0)
            continue;
        uint8_t kind = ev->data[0] & 0xf0, ch = ev->data[0] & 0x0f;
        int is_note = ev->size == 3 && (kind == 0x80 || kind == 0x90);
        uint8_t key = is_note ? ev->data[1] & 0x7f : 0;
        int is_off = is_note && (kind == 0x80 || ev->data[2] == 0);
        if (n >= room || (e->rt_stopping && !is_off)) { /* a stopping engine starts none */
            if (is_off && e->thru_sounding[ch][key]) {
                e->thru_owed[ch][key] = 1;
                e->thru_sounding[ch][key] = 0;
                e->thru_owed_any = 1;
            } else if (!is_off) {
                dropped++;
            }
            continue;
        }
        if (is_off)
            e->thru_sounding[ch][key] = 0;
        else if (is_note && e->thru_sounding[ch][key] < 255)
            e->thru_sounding[ch][key]++;
        e->rt_thru[n++] = *ev;
    }
    if (dropped)
        atomic_fetch_add_explicit(&e->thru_dropped, dropped, memory_order_relaxed);
    return n;
}

/* Writes a scheduled note event through the note table. A key struck again while it
 * sounds is released first and struck anew (so every note-on is followed by exactly one
 * note-off); its release is sent when the last scheduled note-off for it comes. The
 * caller leaves room for two events. */
static void write_note(CnEngine *e, uint32_t offset, const uint8_t *b, CnMidiEvent *out, int *n)
{
    uint8_t ch = b[0] & 0x0f, key = b[1] & 0x7f;
    if ((b[0] & 0xf0) != 0x80 && (b[0] & 0xf0) != 0x90) {
        emit(out, n, offset, b); /* not a note (the state CC): as it is */
        return;
    }
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
    int64_t shift = atomic_load_explicit(&e->offset_frames, memory_order_relaxed);
    if (panic != e->rt_panic || generation != e->rt_generation) {
        if (!release_all(e, out, n, max_out))
            return; /* the rest next cycle, and nothing new before */
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
            if (!release_all(e, out, n, max_out)) {
                e->pending = ev; /* its notes after every release */
                e->has_pending = 1;
                break;
            }
            e->rt_generation = ev.generation;
        }
        uint64_t frame = shift >= 0 ? ev.frame + (uint64_t)shift
                       : ev.frame > (uint64_t)-shift ? ev.frame - (uint64_t)-shift : 0;
        if (frame >= end) {
            e->pending = ev;
            e->has_pending = 1;
            break;
        }
        if (e->rt_stopping && (ev.bytes[0] & 0xf0) == 0x90 && ev.bytes[2] > 0)
            continue; /* a stopping engine starts nothing */
        uint32_t offset = 0;
        if (frame >= cycle_frame)
            offset = (uint32_t)(frame - cycle_frame);
        else
            atomic_fetch_add_explicit(&e->late, 1, memory_order_relaxed);
        write_note(e, offset, ev.bytes, out, n);
    }
}

/* MIDI clock out: Start just before a tick on a beat, then 24 ticks a beat at the engine's
 * tempo and on its beat (so on the transport's or the incoming clock's, when one rules),
 * into ticks; after a resync, Song Position (the sixteenths since Start) and Continue
 * before the next tick on a sixteenth; Stop when the host turns it off. Bounded: at most
 * RT_MAX_TICKS a cycle. */
static int rt_clock_out(CnEngine *e, uint64_t cycle_frame, uint32_t n_frames, int on,
                        CnMidiEvent *ticks)
{
    int n = 0;
    if (!on) {
        if (e->rt_clock_running) {
            uint8_t stop = 0xfc;
            ticks[n++] = (CnMidiEvent){.offset = 0, .size = 1, .bytes = {stop}};
            e->rt_clock_running = 0;
        }
        return n;
    }
    int64_t beat_milli = (int64_t)atomic_load_explicit(&e->frames_per_beat_milli,
                                                       memory_order_relaxed);
    /* the grid the notes go out on: the beat's, moved by --offset with them, so that what
       follows the clock and what plays the notes agree */
    int64_t origin = (int64_t)atomic_load_explicit(&e->grid_origin, memory_order_relaxed) +
                     atomic_load_explicit(&e->offset_frames, memory_order_relaxed);
    if (beat_milli < 24000)
        return n;
    uint64_t end = cycle_frame + n_frames, from = e->rt_next_tick > cycle_frame
                                                     ? e->rt_next_tick : cycle_frame;
    /* the first tick of the grid at or after from */
    int64_t into = (int64_t)from - origin;
    int64_t k = into >= 0 ? (into * 24000 + beat_milli - 1) / beat_milli
                          : -(-into * 24000 / beat_milli);
    for (; n < RT_MAX_TICKS; k++) {
        int64_t at = origin + (k >= 0 ? k * beat_milli / 24000 : -(-k * beat_milli / 24000));
        if (at < (int64_t)from)
            continue; /* rounding: never twice, never before the last one sent */
        if ((uint64_t)at >= end)
            break;
        uint32_t offset = (uint32_t)((uint64_t)at - cycle_frame);
        e->rt_next_tick = (uint64_t)at + 1;
        if (!e->rt_clock_running) { /* Start just before a tick on a beat: it is beat one */
            if (k % 24 != 0)
                continue;
            ticks[n++] = (CnMidiEvent){.offset = offset, .size = 1, .bytes = {0xfa}};
            e->rt_clock_running = 1;
            e->rt_ticks_sent = 0;
            e->rt_resync_seen = atomic_load_explicit(&e->clock_resync, memory_order_relaxed);
        }
        uint32_t resync = atomic_load_explicit(&e->clock_resync, memory_order_relaxed);
        if (resync != e->rt_resync_seen && e->rt_ticks_sent % 6 == 0 && n + 3 < RT_MAX_TICKS) {
            /* for a device connected since: where the song stands, in sixteenths */
            uint32_t sixteenths = (uint32_t)(e->rt_ticks_sent / 6 % 16384);
            ticks[n++] = (CnMidiEvent){.offset = offset, .size = 3,
                                       .bytes = {0xf2, (uint8_t)(sixteenths & 127),
                                                 (uint8_t)(sixteenths >> 7)}};
            ticks[n++] = (CnMidiEvent){.offset = offset, .size = 1, .bytes = {0xfb}};
            e->rt_resync_seen = resync;
        }
        ticks[n++] = (CnMidiEvent){.offset = offset, .size = 1, .bytes = {0xf8}};
        e->rt_ticks_sent++;
    }
    return n;
}

void cn_engine_rt_clock_resync(CnEngine *e)
{
    atomic_fetch_add_explicit(&e->clock_resync, 1, memory_order_relaxed);
}

/* Merges the engine's notes (made), the player's events (thru) and the clock (ticks), each
 * in time order, into out: notes first on a tie, offsets never going back and inside the
 * cycle, at most max_out (what the callers left room for). */
static int rt_merge(const CnMidiEvent *made, int n_made, const CnMidiEvent *thru, int n_thru,
                    const CnMidiEvent *ticks, int n_ticks, uint32_t n_frames, CnMidiEvent *out,
                    int max_out)
{
    int i = 0, j = 0, t = 0, k = 0;
    uint32_t last = 0, final = n_frames ? n_frames - 1 : 0;
    while (k < max_out && (i < n_made || j < n_thru || t < n_ticks)) {
        uint32_t at_made = i < n_made ? made[i].offset : UINT32_MAX;
        uint32_t at_thru = j < n_thru ? thru[j].offset : UINT32_MAX;
        uint32_t at_tick = t < n_ticks ? ticks[t].offset : UINT32_MAX;
        const CnMidiEvent *ev;
        int ours = 1; /* made here: its bytes travel with it */
        if (i < n_made && at_made <= at_thru && at_made <= at_tick) {
            ev = &made[i++];
        } else if (j < n_thru && at_thru <= at_tick) {
            ev = &thru[j++];
            ours = 0;
        } else {
            ev = &ticks[t++];
        }
        out[k] = *ev;
        out[k].offset = ev->offset < last ? last : ev->offset > final ? final : ev->offset;
        last = out[k].offset;
        if (ours)
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
    int urgent = 0;
    if (!(flags & CN_CYCLE_DEAF))
        for (int i = 0; i < n_in; i++)
            if (in[i].data && rt_hear(e, cycle_frame + in[i].offset, in[i].data, in[i].size) == 2)
                urgent = 1;
    if (urgent && e->has_wake)
        sem_post(&e->wake); /* once a cycle at most; never blocks */
    int n_ticks = rt_clock_out(e, cycle_frame, n_frames, (flags & CN_CYCLE_CLOCK_OUT) != 0,
                               e->rt_ticks);
    /* the budget: the clock, what is owed (releases), the player's events, the answer's
       (which wait in their ring for a cycle with room) */
    int room = max_out - n_ticks;
    room = room < 0 ? 0 : room > RT_MAX_MADE ? RT_MAX_MADE : room;
    int n_made = 0;
    rt_pay_owed(e, e->rt_made, &n_made, room);
    int n_thru = flags & CN_CYCLE_THRU ? rt_pass_thru(e, in, n_in, room - n_made) : 0;
    rt_take_notes(e, cycle_frame, cycle_frame + n_frames, e->rt_made, &n_made, room - n_thru);
    /* stopped: every release written, and the clock's Stop (a host turns the clock off
       before it stops) */
    if (e->rt_stopping && !e->thru_owed_any && e->rt_panic == atomic_load(&e->panic) &&
        !e->rt_clock_running)
        atomic_store_explicit(&e->stopped, e->rt_stopping, memory_order_release);
    return rt_merge(e->rt_made, n_made, e->rt_thru, n_thru, e->rt_ticks, n_ticks, n_frames,
                    out, max_out);
}

int cn_engine_rt_release_all(CnEngine *e, CnMidiEvent *out, int max_out)
{
    int n = 0;
    release_all(e, out, &n, max_out);
    for (int i = 0; i < n; i++)
        out[i].data = out[i].bytes;
    return n;
}

int cn_engine_rt_hand_over(CnEngine *from, CnEngine *to, CnMidiEvent *out, int max_out)
{
    int n = cn_engine_rt_release_all(from, out, max_out);
    cn_engine_rt_panic(from); /* what it prepared is dropped, not kept for later */
    double bpm;
    uint64_t beat_frame;
    cn_engine_rt_tempo(from, &bpm, &beat_frame);
    cn_engine_rt_set_tempo(to, bpm, beat_frame);
    cn_engine_rt_tempo_free(to, atomic_load_explicit(&from->tempo_free, memory_order_relaxed));
    return n;
}

void cn_engine_rt_follow(CnEngine *e, CnTempoFollower *t)
{
    if (t->stopped)
        cn_engine_rt_panic(e);
    if (t->changed)
        cn_engine_rt_set_tempo(e, t->bpm, t->beat_frame);
    cn_engine_rt_tempo_free(e, t->source == CN_TEMPO_DEFAULT);
    t->changed = t->stopped = 0;
}
