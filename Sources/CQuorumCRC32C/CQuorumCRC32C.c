#include "CQuorumCRC32C.h"

#include <string.h>

// Each instruction is compiled for its own function only (the target attribute), so the rest of the build keeps
// the baseline ISA and still runs on CPUs without it; the caller checks the CPU before it calls one.

#if defined(__x86_64__)

#include <nmmintrin.h>

__attribute__((target("sse4.2")))
static uint32_t update_sse42(uint32_t running, const void *bytes, size_t count) {
    const unsigned char *next = bytes;
    // The 64-bit form takes a 64-bit running value and leaves the CRC in its low half.
    uint64_t crc = running;
    for (; count >= 8; next += 8, count -= 8) {
        uint64_t word;
        // memcpy rather than a cast: the bytes may sit at any alignment, and this compiles to one unaligned load.
        memcpy(&word, next, 8);
        crc = _mm_crc32_u64(crc, word);
    }
    uint32_t crc32 = (uint32_t)crc;
    for (; count > 0; next++, count--) crc32 = _mm_crc32_u8(crc32, *next);
    return crc32;
}

quorum_crc32c_update_fn quorum_crc32c_hardware(void) {
    return __builtin_cpu_supports("sse4.2") ? update_sse42 : NULL;
}

#elif defined(__aarch64__) && defined(__AARCH64EL__) && (defined(__ARM_FEATURE_CRC32) || defined(__linux__))

#include <arm_acle.h>
#if !defined(__ARM_FEATURE_CRC32)
#include <sys/auxv.h>
#endif

__attribute__((target("crc")))
static uint32_t update_armv8(uint32_t running, const void *bytes, size_t count) {
    const unsigned char *next = bytes;
    uint32_t crc = running;
    for (; count >= 8; next += 8, count -= 8) {
        uint64_t word;
        memcpy(&word, next, 8);
        // CRC32CX consumes the doubleword least significant byte first, which on this little-endian load is the
        // bytes in order (hence __AARCH64EL__ above).
        crc = __crc32cd(crc, word);
    }
    for (; count > 0; next++, count--) crc = __crc32cb(crc, *next);
    return crc;
}

quorum_crc32c_update_fn quorum_crc32c_hardware(void) {
#if defined(__ARM_FEATURE_CRC32)
    // The whole build already assumes the instruction (every arm64 Apple target does): nothing to ask.
    return update_armv8;
#else
    // Optional in ARMv8.0; Linux reports it in the auxiliary vector.
    return (getauxval(AT_HWCAP) & HWCAP_CRC32) ? update_armv8 : NULL;
#endif
}

#else

quorum_crc32c_update_fn quorum_crc32c_hardware(void) { return NULL; }

#endif
