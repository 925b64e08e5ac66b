/* libFuzzer target for the weights reader: any bytes must load as a valid model or be
 * refused with a message, never crash, hang or leak. */
#include <stddef.h>
#include <stdint.h>

#include "continuo/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    CnModel model;
    CnError err = {{0}};
    if (cn_model_load_bytes(&model, data, size, &err) == 0)
        cn_model_free(&model);
    else if (err.message[0] == '\0')
        __builtin_trap(); /* every refusal must say why */
    return 0;
}
