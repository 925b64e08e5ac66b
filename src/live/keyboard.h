/* The player's keyboard as the engine follows it: the keys held, the sustain pedal, a key
 * whose note-off was lost, and which strike a note-off ends (the oldest of its key on its
 * channel, as a file's reader pairs them). It decides when the player is silent (every key
 * up, and up on the pedal too); what the model hears of the keys is the scheme's ear's.
 * Internal to the live layer; worker side only. */
#ifndef CONTINUO_KEYBOARD_H
#define CONTINUO_KEYBOARD_H

#include <stdint.h>

#include "continuo/scheme.h"

#define CN_KEYBOARD_STRIKES 4 /* strikes of one key on one channel kept to pair releases */

typedef struct {
    uint64_t held_at[16][128]; /* frame + 1 of each held key's note-on; 0: not held */
    uint8_t pedal_down[16];    /* the sustain pedal (CC 64) of each channel */
    uint8_t by_pedal[16][128]; /* released keys that the pedal keeps sounding */
    int held;                  /* keys down, or kept down by the pedal */
    int most_held;             /* the most held at once (since a call began: set to 0) */
    uint64_t hold_expiry;      /* when the longest-held key counts as released */
    uint64_t last_activity;    /* frame of the last key, or of the pedal's release */
    uint32_t last_strike;      /* strikes are numbered from 1 */
    uint32_t strikes[16][128][CN_KEYBOARD_STRIKES]; /* each key's strikes not yet released,
                                                       oldest first */
    uint8_t n_strikes[16][128];
} CnKeyboard;

void cn_keyboard_reset(CnKeyboard *kb);
/* A note-on: returns its strike's number. */
uint32_t cn_keyboard_down(CnKeyboard *kb, uint8_t channel, uint8_t key, uint64_t frame);
/* A note-off: the key is up, unless the pedal keeps it sounding until it is released.
 * Returns the strike it ends, 0 for none. */
uint32_t cn_keyboard_up(CnKeyboard *kb, uint8_t channel, uint8_t key, uint64_t frame);
void cn_keyboard_pedal(CnKeyboard *kb, uint8_t channel, int down, uint64_t frame);
/* All Notes Off: every key of the channel is up. Writes the keys that were down (not
 * those the pedal kept) as releases of their latest strikes into up; returns how many. */
int cn_keyboard_channel_up(CnKeyboard *kb, uint8_t channel, uint64_t frame, CnKeyEvent *up);
/* Keys held longer than `longest` frames by now count as released (their note-off was
 * lost): written into up as above (at most 16 x 128); notes when the next one will be. */
int cn_keyboard_expire(CnKeyboard *kb, uint64_t now, uint64_t longest, CnKeyEvent *up);

#endif
