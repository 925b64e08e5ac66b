/* libFuzzer target for the notes pickle reader: any bytes must read as a list of strings
 * or be refused with a message, never crash, hang or leak. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "continuo/pickle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    CnStringList list;
    CnError err = {{0}};
    if (cn_pickle_read_strings(data, size, &list, &err) == 0) {
        for (size_t i = 0; i < list.n; i++)
            if (strlen(list.items[i]) > CN_PICKLE_MAX_STRING)
                __builtin_trap();
        cn_string_list_free(&list);
    } else if (err.message[0] == '\0') {
        __builtin_trap(); /* every refusal must say why */
    }
    return 0;
}
