/* The SPSC message ring. push runs on the producer's thread, pop on the consumer's; both
 * may be the real-time thread. Indices grow without bound and are masked on use. */
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

int cn_ring_push(CnRing *ring, const void *message)
{
    size_t head = atomic_load_explicit(&ring->head, memory_order_relaxed);
    size_t tail = atomic_load_explicit(&ring->tail, memory_order_acquire);
    if (head - tail == ring->capacity) {
        atomic_fetch_add_explicit(&ring->dropped, 1, memory_order_relaxed);
        return -1;
    }
    memcpy(ring->slots + (head & (ring->capacity - 1)) * ring->message_size, message,
           ring->message_size);
    atomic_store_explicit(&ring->head, head + 1, memory_order_release);
    return 0;
}

int cn_ring_pop(CnRing *ring, void *message)
{
    size_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
    size_t head = atomic_load_explicit(&ring->head, memory_order_acquire);
    if (head == tail)
        return -1;
    memcpy(message, ring->slots + (tail & (ring->capacity - 1)) * ring->message_size,
           ring->message_size);
    atomic_store_explicit(&ring->tail, tail + 1, memory_order_release);
    return 0;
}

size_t cn_ring_count(CnRing *ring)
{
    return atomic_load_explicit(&ring->head, memory_order_acquire) -
           atomic_load_explicit(&ring->tail, memory_order_acquire);
}

uint64_t cn_ring_dropped(CnRing *ring)
{
    return atomic_load_explicit(&ring->dropped, memory_order_relaxed);
}
