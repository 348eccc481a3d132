#include "pjrt_plugin/api/serialized_executable.h"

#include <cstdio>

namespace chip::api {
namespace {

constexpr std::string_view kSealMagic = "CHIPSEAL";
constexpr size_t kSealSize = 16;

}  // namespace

uint64_t Fnv1a64(std::string_view bytes) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string SealExecutable(std::string_view flatbuffer) {
  std::string out;
  out.reserve(flatbuffer.size() + kSealSize);
  out.append(flatbuffer);
  const uint64_t h = Fnv1a64(flatbuffer);
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((h >> (8 * i)) & 0xff));
  out.append(kSealMagic);
  return out;
}

StatusOr<std::string_view> UnsealExecutable(std::string_view bytes) {
  if (bytes.size() < kSealSize || bytes.substr(bytes.size() - kSealMagic.size()) != kSealMagic) return bytes;
  const std::string_view body = bytes.substr(0, bytes.size() - kSealSize);
  uint64_t stored = 0;
  for (int i = 0; i < 8; ++i) {
    stored |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[body.size() + i])) << (8 * i);
  }
  const uint64_t actual = Fnv1a64(body);
  if (stored != actual) {
    char msg[160];
    std::snprintf(msg, sizeof(msg),
                  "the serialized chip executable is damaged: checksum %016llx, its seal says %016llx",
                  static_cast<unsigned long long>(actual), static_cast<unsigned long long>(stored));
    return Status(StatusCode::kDataLoss, msg);
  }
  return body;
}

}  // namespace chip::api
