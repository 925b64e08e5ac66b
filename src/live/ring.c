/* The SPSC message ring: making and freeing it (not real-time; see ring_rt.c for the
 * rest). */
#include "continuo/ring.h"

#include <stdlib.h>
#include <string.h>

int cn_ring_init(CnRing *ring, size_t message_size, size_t min_messages, CnError *err)
{
    memset(ring, 0, sizeof *ring);
    if (message_size == 0 || min_messages == 0 || min_messages > (1u << 24))
        return cn_fail(err, "ring of %zu messages of %zu bytes is out of range", min_messages,
                       message_size);
    size_t capacity = 1;
    while (capacity < min_messages)
        capacity <<= 1;
    ring->slots = calloc(capacity, message_size);
    if (!ring->slots)
        return cn_fail(err, "out of memory for a ring of %zu messages", capacity);
    ring->message_size = message_size;
    ring->capacity = capacity;
    atomic_init(&ring->head, 0);
    atomic_init(&ring->tail, 0);
    atomic_init(&ring->dropped, 0);
    return 0;
}

void cn_ring_free(CnRing *ring)
{
    free(ring->slots);
    ring->slots = NULL;
}
