// The part of a serialized xla.CompileOptionsProto the plugin needs itself: how many replicas and
// partitions, and which devices run them. Read with a small protobuf wire-format reader (the
// plugin has no protobuf dependency); unknown fields are skipped. This is the only parser of the
// proto: the Python compiler gets these fields as a dict (compiler_bridge.h).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "pjrt_plugin/core/status.h"

namespace chip::api {

struct CompileDeviceOptions {
  int64_t num_replicas = 1;
  int64_t num_partitions = 1;
  int64_t device_ordinal = -1;
  // From the device assignment, replica-major: device of (replica r, partition p) at
  // r * num_partitions + p. Empty when the proto has no device assignment.
  std::vector<int64_t> device_ids;
};

// INVALID_ARGUMENT if the bytes are not a well-formed CompileOptionsProto (empty bytes are the
// default options).
StatusOr<CompileDeviceOptions> ParseCompileDeviceOptions(std::string_view serialized);

// The devices an executable runs on: the device assignment if there is one, else
// `device_ordinal`, else devices 0..n-1. Checks every id against `num_devices`.
StatusOr<std::vector<int>> ResolveExecutionDevices(const CompileDeviceOptions& options, int num_devices);

}  // namespace chip::api
