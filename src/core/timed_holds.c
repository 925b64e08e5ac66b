/* The keys a stream of timed events holds down, and where the longest length ends them. */
#include <string.h>

#include "continuo/tokens.h"

void cn_timed_holds_reset(CnTimedHolds *h)
{
    memset(h, 0, sizeof *h);
}

void cn_timed_holds_add(CnTimedHolds *h, CnToken t)
{
    if (t.kind == CN_EVENT_SHIFT) {
        h->now += t.pitch;
    } else if (t.kind == CN_EVENT_ON && t.pitch < 128) {
        h->down_at[t.pitch] = h->now + 1; /* struck again while down: a new note from here */
    } else if (t.kind == CN_EVENT_OFF && t.pitch < 128) {
        h->down_at[t.pitch] = 0;
    }
}

int cn_timed_holds_due(const CnTimedHolds *h)
{
    int oldest = -1;
    for (int key = 0; key < 128; key++)
        if (h->down_at[key] && h->down_at[key] - 1 + CN_TIMED_LONGEST_NOTE <= h->now &&
            (oldest < 0 || h->down_at[key] < h->down_at[oldest]))
            oldest = key;
    return oldest;
}
