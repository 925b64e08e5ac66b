/* The player's keyboard (keyboard.h). */
#include "keyboard.h"

#include <string.h>

void cn_keyboard_reset(CnKeyboard *kb)
{
    memset(kb, 0, sizeof *kb);
    kb->hold_expiry = UINT64_MAX;
}

static uint32_t newest_strike(const CnKeyboard *kb, uint8_t channel, uint8_t key)
{
    int n = kb->n_strikes[channel][key];
    return n ? kb->strikes[channel][key][n - 1] : 0;
}

uint32_t cn_keyboard_down(CnKeyboard *kb, uint8_t channel, uint8_t key, uint64_t frame)
{
    channel &= 15, key &= 127;
    uint32_t *strikes = kb->strikes[channel][key];
    uint8_t *n = &kb->n_strikes[channel][key];
    if (*n == CN_KEYBOARD_STRIKES) { /* the oldest lost its note-off: forgotten */
        memmove(strikes, strikes + 1, (CN_KEYBOARD_STRIKES - 1) * sizeof *strikes);
        (*n)--;
    }
    if (++kb->last_strike == 0) /* (0 is no strike) */
        kb->last_strike = 1;
    strikes[(*n)++] = kb->last_strike;
    if (!kb->held_at[channel][key])
        kb->held++; /* a key struck again while held is still one key */
    if (kb->held > kb->most_held)
        kb->most_held = kb->held;
    kb->held_at[channel][key] = frame + 1;
    kb->by_pedal[channel][key] = 0;
    kb->last_activity = frame;
    return strikes[*n - 1];
}

static void release(CnKeyboard *kb, uint8_t channel, uint8_t key)
{
    if (kb->held_at[channel][key]) {
        kb->held_at[channel][key] = 0;
        kb->by_pedal[channel][key] = 0;
        kb->held--;
    }
}

uint32_t cn_keyboard_up(CnKeyboard *kb, uint8_t channel, uint8_t key, uint64_t frame)
{
    channel &= 15, key &= 127;
    kb->last_activity = frame;
    if (kb->pedal_down[channel] && kb->held_at[channel][key])
        kb->by_pedal[channel][key] = 1;
    else
        release(kb, channel, key);
    uint32_t *strikes = kb->strikes[channel][key];
    uint8_t *n = &kb->n_strikes[channel][key];
    if (*n == 0)
        return 0;
    uint32_t ended = strikes[0];
    memmove(strikes, strikes + 1, (size_t)(*n - 1) * sizeof *strikes);
    (*n)--;
    return ended;
}

void cn_keyboard_pedal(CnKeyboard *kb, uint8_t channel, int down, uint64_t frame)
{
    channel &= 15;
    if (down) {
        kb->pedal_down[channel] = 1;
        return;
    }
    if (!kb->pedal_down[channel])
        return;
    kb->pedal_down[channel] = 0;
    for (int key = 0; key < 128; key++)
        if (kb->by_pedal[channel][key])
            release(kb, channel, (uint8_t)key);
    kb->last_activity = frame; /* the silence starts when the pedal is let go */
}

int cn_keyboard_channel_up(CnKeyboard *kb, uint8_t channel, uint64_t frame, CnKeyEvent *up)
{
    int n = 0;
    channel &= 15;
    kb->pedal_down[channel] = 0;
    for (int key = 0; key < 128; key++) {
        if (kb->held_at[channel][key] && !kb->by_pedal[channel][key])
            up[n++] = (CnKeyEvent){.frame = frame, .strike = newest_strike(kb, channel, (uint8_t)key),
                                   .key = (uint8_t)key, .channel = channel};
        release(kb, channel, (uint8_t)key);
        kb->n_strikes[channel][key] = 0;
    }
    return n;
}

int cn_keyboard_expire(CnKeyboard *kb, uint64_t now, uint64_t longest, CnKeyEvent *up)
{
    int n = 0;
    kb->hold_expiry = UINT64_MAX;
    if (kb->held == 0)
        return 0;
    for (int ch = 0; ch < 16; ch++)
        for (int key = 0; key < 128; key++) {
            uint64_t at = kb->held_at[ch][key];
            if (!at)
                continue;
            if (now >= at - 1 + longest) {
                if (!kb->by_pedal[ch][key])
                    up[n++] = (CnKeyEvent){.frame = now,
                                           .strike = newest_strike(kb, (uint8_t)ch, (uint8_t)key),
                                           .key = (uint8_t)key, .channel = (uint8_t)ch};
                release(kb, (uint8_t)ch, (uint8_t)key);
                kb->n_strikes[ch][key] = 0;
            } else if (at - 1 + longest < kb->hold_expiry) {
                kb->hold_expiry = at - 1 + longest;
            }
        }
    return n;
}
