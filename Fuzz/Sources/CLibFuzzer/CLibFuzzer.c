#include "CLibFuzzer.h"

#include <stdlib.h>

// libFuzzer's entry point for a program with a main of its own (in libclang_rt.fuzzer, linked by -sanitize=fuzzer).
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*test)(const uint8_t *data, size_t size));

void quorum_fuzz_main(int argc, char **argv, int (*test)(const uint8_t *data, size_t size)) {
    exit(LLVMFuzzerRunDriver(&argc, &argv, test));
}
