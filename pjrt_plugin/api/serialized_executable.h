// What PJRT_Executable_Serialize returns and PJRT_Executable_DeserializeAndLoad reads: the chip
// executable (the FlatBuffer) followed by a 16-byte seal, so that a stored copy that was damaged
// (JAX's persistent compilation cache on a full or failing disk, a partial write) is detected
// before it runs, even where the damage leaves a well-formed FlatBuffer (a flipped constant or
// instruction):
//
//   [FlatBuffer bytes][FNV-1a 64 of the FlatBuffer, little-endian, 8 bytes]["CHIPSEAL", 8 bytes]
//
// Bytes without the seal are read as a bare FlatBuffer (the compiler's own output, executables
// built by tests); the loader verifies those as it verifies every executable.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "pjrt_plugin/core/status.h"

namespace chip::api {

// FNV-1a 64 of `bytes`.
uint64_t Fnv1a64(std::string_view bytes);

// The FlatBuffer with its seal appended.
std::string SealExecutable(std::string_view flatbuffer);

// The FlatBuffer inside `bytes`: the sealed part once its checksum matches (DATA_LOSS if not),
// else `bytes` itself.
StatusOr<std::string_view> UnsealExecutable(std::string_view bytes);

}  // namespace chip::api
