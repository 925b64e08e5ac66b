/* Counting heap allocations (and frees) of the whole process between start and stop. */
#ifndef CONTINUO_ALLOC_COUNTER_H
#define CONTINUO_ALLOC_COUNTER_H

void alloc_counter_start(void);
long alloc_counter_stop(void); /* how many malloc-family calls happened since start */

#endif
