/* libFuzzer target for the MIDI reader and tokenizer: any bytes must give a clean parse
 * or an error with a message, never a crash, hang or leak. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "continuo/midi_file.h"
#include "continuo/tokens.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    CnMidi midi;
    CnError err = {{0}};
    if (cn_midi_parse(data, size, &midi, &err) != 0) {
        if (err.message[0] == '\0')
            __builtin_trap(); /* every failure must say why */
        return 0;
    }
    CnTokenStream stream;
    if (cn_tokenize(&midi, &stream, &err) == 0)
        cn_token_stream_free(&stream);
    cn_midi_free(&midi);
    return 0;
}
