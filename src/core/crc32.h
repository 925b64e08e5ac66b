/* CRC-32 (IEEE 802.3, as zlib and PNG) for the weights file's checksums. Internal. */
#ifndef CONTINUO_CRC32_H
#define CONTINUO_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* Continues crc over bytes; start with crc = 0. */
uint32_t cn_crc32(uint32_t crc, const void *bytes, size_t n);

#endif
