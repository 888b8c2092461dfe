/*
 * api_fuzz.c - the libFuzzer entry point: each input is one run of the API
 * interpreter (interp.c).  Built by tests/fuzz/run-fuzz.sh with clang's
 * -fsanitize=fuzzer, linking the library's sources directly.
 */
#include "interp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_run(data, size);
    return 0;
}
