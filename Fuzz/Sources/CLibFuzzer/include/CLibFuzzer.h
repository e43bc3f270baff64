#ifndef QUORUM_CLIBFUZZER_H
#define QUORUM_CLIBFUZZER_H

#include <stddef.h>
#include <stdint.h>

/// Runs libFuzzer's driver (its command line, corpus directories and options) over `test`, then exits with its
/// status. SwiftPM gives every executable a `main` of its own, so the targets cannot use libFuzzer's; they call this
/// from theirs instead.
_Noreturn void quorum_fuzz_main(int argc, char **argv, int (*test)(const uint8_t *data, size_t size));

#endif
