/* The SPSC ring: messages cross between two threads whole and in order, a full ring drops
 * the newest and counts it, and pushing and popping allocate nothing. */
#include <pthread.h>

#include "continuo/ring.h"
#include "test_util.h"

typedef struct {
    uint64_t sequence;
    uint64_t check; /* a function of sequence: a torn message would not match */
    uint8_t payload[16];
} Message;

#define N_MESSAGES 2000000u

static void *producer(void *arg)
{
    CnRing *ring = arg;
    for (uint64_t i = 0; i < N_MESSAGES;) {
        Message m = {.sequence = i, .check = i * 0x9e3779b97f4a7c15ull};
        memset(m.payload, (int)(i & 0xff), sizeof m.payload);
        if (cn_ring_push(ring, &m) == 0)
            i++;
    }
    return NULL;
}

static void test_messages_cross_threads_whole_and_in_order(void)
{
    CnRing ring;
    CnError err = {{0}};
    CHECK(cn_ring_init(&ring, sizeof(Message), 100, &err) == 0);
    CHECK(ring.capacity == 128);
    pthread_t thread;
    pthread_create(&thread, NULL, producer, &ring);
    uint64_t expected = 0, bad = 0;
    while (expected < N_MESSAGES) {
        Message m;
        if (cn_ring_pop(&ring, &m) != 0)
            continue;
        bad += m.sequence != expected || m.check != expected * 0x9e3779b97f4a7c15ull ||
               m.payload[15] != (uint8_t)(expected & 0xff);
        expected++;
    }
    pthread_join(thread, NULL);
    CHECK(bad == 0);
    CHECK(cn_ring_count(&ring) == 0);
    printf("# %u messages crossed, %llu out of order or torn; %llu drops while full\n",
           N_MESSAGES, (unsigned long long)bad, (unsigned long long)cn_ring_dropped(&ring));
    cn_ring_free(&ring);
}

static void test_a_full_ring_drops_the_newest_and_counts(void)
{
    CnRing ring;
    CnError err = {{0}};
    CHECK(cn_ring_init(&ring, sizeof(int), 4, &err) == 0);
    for (int i = 0; i < 4; i++)
        CHECK(cn_ring_push(&ring, &i) == 0);
    int extra = 99;
    CHECK(cn_ring_push(&ring, &extra) == -1);
    CHECK(cn_ring_push(&ring, &extra) == -1);
    CHECK(cn_ring_dropped(&ring) == 2);
    for (int i = 0; i < 4; i++) {
        int v = -1;
        CHECK(cn_ring_pop(&ring, &v) == 0 && v == i);
    }
    int v;
    CHECK(cn_ring_pop(&ring, &v) == -1);
    cn_ring_free(&ring);
    CnRing bad;
    CHECK(cn_ring_init(&bad, 0, 4, &err) != 0 && strstr(err.message, "out of range"));
}

int main(void)
{
    RUN(test_messages_cross_threads_whole_and_in_order);
    RUN(test_a_full_ring_drops_the_newest_and_counts);
    return test_finish();
}
