/* libFuzzer target for a Keras model_config (the JSON reader and the layer plan behind
 * import-keras): any bytes must be read or refused with a message, never crash, hang,
 * leak or convert a number out of range. */
#include <stddef.h>
#include <stdint.h>

#include "continuo/keras.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    CnKerasInfo info;
    CnError err = {{0}};
    if (cn_keras_check_config((const char *)data, size, &info, &err) != 0 &&
        err.message[0] == '\0')
        __builtin_trap(); /* every refusal must say why */
    return 0;
}
