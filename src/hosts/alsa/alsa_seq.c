#include "continuo/alsa_seq.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

CnSeqKind cn_seq_to_midi(const snd_seq_event_t *ev, uint8_t bytes[3])
{
    switch (ev->type) {
    case SND_SEQ_EVENT_NOTEON:
    case SND_SEQ_EVENT_NOTEOFF: {
        const snd_seq_ev_note_t *n = &ev->data.note;
        if (n->channel > 15 || n->note > 127 || n->velocity > 127)
            return CN_SEQ_IGNORED;
        int on = ev->type == SND_SEQ_EVENT_NOTEON && n->velocity > 0;
        bytes[0] = (uint8_t)((on ? 0x90 : 0x80) | n->channel);
        bytes[1] = n->note;
        bytes[2] = on ? n->velocity : 0;
        return CN_SEQ_MIDI;
    }
    case SND_SEQ_EVENT_CONTROLLER: {
        const snd_seq_ev_ctrl_t *c = &ev->data.control;
        if (c->channel > 15 || c->param > 127 || c->value < 0 || c->value > 127)
            return CN_SEQ_IGNORED;
        bytes[0] = (uint8_t)(0xb0 | c->channel);
        bytes[1] = (uint8_t)c->param;
        bytes[2] = (uint8_t)c->value;
        return CN_SEQ_MIDI;
    }
    case SND_SEQ_EVENT_PGMCHANGE: {
        const snd_seq_ev_ctrl_t *c = &ev->data.control;
        if (c->channel > 15 || c->value < 0 || c->value > 127)
            return CN_SEQ_IGNORED;
        bytes[0] = (uint8_t)(0xc0 | c->channel);
        bytes[1] = (uint8_t)c->value;
        return CN_SEQ_PROGRAM;
    }
    case SND_SEQ_EVENT_CLOCK: return CN_SEQ_CLOCK;
    case SND_SEQ_EVENT_START: return CN_SEQ_START;
    case SND_SEQ_EVENT_CONTINUE: return CN_SEQ_CONTINUE;
    case SND_SEQ_EVENT_STOP: return CN_SEQ_STOP;
    case SND_SEQ_EVENT_SONGPOS: return CN_SEQ_SONG_POSITION;
    default: return CN_SEQ_IGNORED;
    }
}

int cn_seq_from_midi(const uint8_t *bytes, int size, snd_seq_event_t *ev)
{
    if (size == 1 && (bytes[0] == 0xf8 || bytes[0] == 0xfa || bytes[0] == 0xfc)) {
        ev->type = bytes[0] == 0xf8 ? SND_SEQ_EVENT_CLOCK
                 : bytes[0] == 0xfa ? SND_SEQ_EVENT_START : SND_SEQ_EVENT_STOP;
        ev->flags = (ev->flags & ~SND_SEQ_EVENT_LENGTH_MASK) | SND_SEQ_EVENT_LENGTH_FIXED;
        return 0;
    }
    if (size != 3 || (bytes[1] | bytes[2]) & 0x80)
        return -1;
    uint8_t kind = bytes[0] & 0xf0, channel = bytes[0] & 0x0f;
    switch (kind) {
    case 0x80:
    case 0x90:
        ev->type = kind == 0x90 && bytes[2] > 0 ? SND_SEQ_EVENT_NOTEON : SND_SEQ_EVENT_NOTEOFF;
        ev->data.note = (snd_seq_ev_note_t){.channel = channel, .note = bytes[1],
                                            .velocity = bytes[2]};
        break;
    case 0xb0:
        ev->type = SND_SEQ_EVENT_CONTROLLER;
        ev->data.control = (snd_seq_ev_ctrl_t){.channel = channel, .param = bytes[1],
                                               .value = bytes[2]};
        break;
    default: return -1;
    }
    ev->flags = (ev->flags & ~SND_SEQ_EVENT_LENGTH_MASK) | SND_SEQ_EVENT_LENGTH_FIXED;
    return 0;
}

int cn_seq_check_device(const char *path, CnError *err)
{
    if (access(path, R_OK | W_OK) == 0)
        return 0;
    if (errno == ENOENT)
        return cn_fail(err, "no ALSA sequencer: %s does not exist (load the kernel module "
                            "with 'modprobe snd-seq', or use 'continuo jack')", path);
    return cn_fail(err, "cannot use the ALSA sequencer %s: %s (is this user in the 'audio' "
                        "group? or use 'continuo jack')", path, strerror(errno));
}
