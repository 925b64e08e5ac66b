/* A single-producer single-consumer ring of fixed-size messages for crossing between the
 * real-time thread and a worker: lock-free (C11 acquire/release), never blocks, never
 * allocates after creation. A message is written whole or not at all; when the ring is
 * full the newest message is dropped and counted, as a real-time side must not wait. */
#ifndef CONTINUO_RING_H
#define CONTINUO_RING_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "continuo/status.h"

typedef struct {
    uint8_t *slots;        /* (capacity * message_size) */
    size_t message_size;
    size_t capacity;       /* messages, a power of two */
    _Atomic size_t head;   /* next slot to write; only the producer stores it */
    _Atomic size_t tail;   /* next slot to read; only the consumer stores it */
    _Atomic uint64_t dropped; /* messages refused because the ring was full */
} CnRing;

/* Room for at least min_messages messages of message_size bytes. Not real-time safe
 * (ring.c); the rest is (ring_rt.c). */
int cn_ring_init(CnRing *ring, size_t message_size, size_t min_messages, CnError *err);
void cn_ring_free(CnRing *ring);

/* Producer side: copies message in; 0, or -1 (and counts a drop) when full. */
int cn_ring_push(CnRing *ring, const void *message);

/* Consumer side: copies the oldest message out; 0, or -1 when empty. */
int cn_ring_pop(CnRing *ring, void *message);

/* Messages waiting (a snapshot; exact only from the consumer). */
size_t cn_ring_count(const CnRing *ring);

uint64_t cn_ring_dropped(const CnRing *ring);

#endif
