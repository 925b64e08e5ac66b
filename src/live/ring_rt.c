/* The SPSC message ring's moving parts. push runs on the producer's thread, pop on the
 * consumer's; both may be the real-time thread: no allocation, lock or wait. Indices grow
 * without bound and are masked on use. */
#include "continuo/ring.h"

#include <string.h>

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

size_t cn_ring_count(const CnRing *ring)
{
    return atomic_load_explicit(&ring->head, memory_order_acquire) -
           atomic_load_explicit(&ring->tail, memory_order_acquire);
}

uint64_t cn_ring_dropped(const CnRing *ring)
{
    return atomic_load_explicit(&ring->dropped, memory_order_relaxed);
}
