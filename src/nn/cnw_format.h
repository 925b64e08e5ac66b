/* The .cnw weights file's layout, shared by its writer (weights_save.c) and its reader
 * (weights.c); docs/FORMAT.md describes it. Internal to nn. */
#ifndef CONTINUO_CNW_FORMAT_H
#define CONTINUO_CNW_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "continuo/model.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the .cnw format is little-endian; a big-endian port must swap bytes"
#endif

static const uint8_t magic[8] = {0x89, 'C', 'N', 'W', '\r', '\n', 0x1a, '\n'};

#define HEADER_SIZE 64
#define ENTRY_SIZE 64
#define MAX_ENTRIES 64
#define DATA_ALIGN 64

enum { DTYPE_F32 = 1, DTYPE_U16 = 2, DTYPE_U32 = 3, DTYPE_TEXT = 4 };

typedef struct {
    char name[32];
    uint32_t dtype;
    uint32_t crc;
    uint64_t offset;
    uint64_t n_bytes;
    uint64_t reserved;
} Entry;

typedef struct {
    uint8_t magic[8];
    uint32_t version;
    uint32_t n_entries;
    uint64_t file_size;
    uint32_t table_crc;
    uint8_t reserved[36];
} Header;

_Static_assert(sizeof(Entry) == ENTRY_SIZE, "entry layout");
_Static_assert(sizeof(Header) == HEADER_SIZE, "header layout");

/* A text section as it is built. */
typedef struct {
    char *text;
    size_t len, cap;
} Text;

/* The tensor table a configuration's shapes give (written, and checked when read). */
int cn_cnw_tensors_text(const CnModelConfig *c, Text *t);

#endif
