#ifndef CQUORUM_CRC32C_H
#define CQUORUM_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/// Feeds `count` bytes into a running CRC-32C (Castagnoli) value, as `CRC32C.update` does: no inversion in or out.
typedef uint32_t (*quorum_crc32c_update_fn)(uint32_t running, const void *_Nullable bytes, size_t count);

/// The update that uses this CPU's CRC-32C instruction, or NULL where the CPU (or this build's target) has none.
/// Asks the CPU every time it is called: call it once and keep the answer.
quorum_crc32c_update_fn _Nullable quorum_crc32c_hardware(void);

#endif
