#include "pjrt_plugin/api/compile_options.h"

#include <string>

namespace chip::api {
namespace {

// Field numbers (xla/pjrt/proto/compile_options.proto, xla/xla_data.proto).
constexpr uint32_t kCompileOptionsExecutableBuildOptions = 3;
constexpr uint32_t kBuildOptionsDeviceOrdinal = 1;
constexpr uint32_t kBuildOptionsNumReplicas = 4;
constexpr uint32_t kBuildOptionsNumPartitions = 5;
constexpr uint32_t kBuildOptionsDeviceAssignment = 9;
constexpr uint32_t kDeviceAssignmentReplicaCount = 1;
constexpr uint32_t kDeviceAssignmentComputationCount = 2;
constexpr uint32_t kDeviceAssignmentComputationDevices = 3;
constexpr uint32_t kComputationDeviceReplicaDeviceIds = 1;

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

// One field of a message: its number, wire type and value (varint or bytes).
struct Field {
  uint32_t number = 0;
  uint32_t wire_type = 0;
  uint64_t varint = 0;
  std::string_view bytes;
};

class WireReader {
 public:
  explicit WireReader(std::string_view data) : data_(data) {}
  bool done() const { return pos_ >= data_.size(); }

  Status Next(Field* field) {
    uint64_t key = 0;
    CHIP_RETURN_IF_ERROR(ReadVarint(&key));
    field->number = static_cast<uint32_t>(key >> 3);
    field->wire_type = static_cast<uint32_t>(key & 7);
    field->bytes = {};
    field->varint = 0;
    switch (field->wire_type) {
      case kVarint: return ReadVarint(&field->varint);
      case kFixed64: return Skip(8);
      case kFixed32: return Skip(4);
      case kLengthDelimited: {
        uint64_t len = 0;
        CHIP_RETURN_IF_ERROR(ReadVarint(&len));
        if (len > data_.size() - pos_) return Malformed("length-delimited field runs past the end");
        field->bytes = data_.substr(pos_, static_cast<size_t>(len));
        pos_ += static_cast<size_t>(len);
        return Status::Ok();
      }
      default:
        return Malformed("unsupported wire type " + std::to_string(field->wire_type));
    }
  }

  Status ReadVarint(uint64_t* out) {
    uint64_t result = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= data_.size()) return Malformed("truncated varint");
      uint8_t b = static_cast<uint8_t>(data_[pos_++]);
      result |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) {
        *out = result;
        return Status::Ok();
      }
    }
    return Malformed("varint longer than 10 bytes");
  }

 private:
  Status Skip(size_t n) {
    if (n > data_.size() - pos_) return Malformed("fixed-size field runs past the end");
    pos_ += n;
    return Status::Ok();
  }
  static Status Malformed(const std::string& what) {
    return InvalidArgument("compile options are not a valid serialized CompileOptionsProto: " + what);
  }
  std::string_view data_;
  size_t pos_ = 0;
};

// Appends a repeated int64 field's values (packed or not).
Status AppendInt64s(const Field& f, std::vector<int64_t>* out) {
  if (f.wire_type == kVarint) {
    out->push_back(static_cast<int64_t>(f.varint));
    return Status::Ok();
  }
  if (f.wire_type != kLengthDelimited) return InvalidArgument("compile options: bad repeated int64 field");
  WireReader r(f.bytes);
  while (!r.done()) {
    uint64_t v = 0;
    CHIP_RETURN_IF_ERROR(r.ReadVarint(&v));
    out->push_back(static_cast<int64_t>(v));
  }
  return Status::Ok();
}

Status ParseDeviceAssignment(std::string_view bytes, CompileDeviceOptions* out) {
  int64_t replica_count = 0, computation_count = 0;
  std::vector<std::vector<int64_t>> computations;  // [computation][replica]
  WireReader r(bytes);
  Field f;
  while (!r.done()) {
    CHIP_RETURN_IF_ERROR(r.Next(&f));
    if (f.number == kDeviceAssignmentReplicaCount && f.wire_type == kVarint) {
      replica_count = static_cast<int64_t>(f.varint);
    } else if (f.number == kDeviceAssignmentComputationCount && f.wire_type == kVarint) {
      computation_count = static_cast<int64_t>(f.varint);
    } else if (f.number == kDeviceAssignmentComputationDevices && f.wire_type == kLengthDelimited) {
      std::vector<int64_t>& ids = computations.emplace_back();
      WireReader cr(f.bytes);
      Field cf;
      while (!cr.done()) {
        CHIP_RETURN_IF_ERROR(cr.Next(&cf));
        if (cf.number == kComputationDeviceReplicaDeviceIds) CHIP_RETURN_IF_ERROR(AppendInt64s(cf, &ids));
      }
    }
  }
  if (replica_count <= 0 || computation_count <= 0 ||
      static_cast<int64_t>(computations.size()) != computation_count) {
    return InvalidArgument("compile options: the device assignment is malformed (" +
                           std::to_string(replica_count) + " replicas, " +
                           std::to_string(computation_count) + " computations, " +
                           std::to_string(computations.size()) + " device lists)");
  }
  for (const auto& ids : computations) {
    if (static_cast<int64_t>(ids.size()) != replica_count) {
      return InvalidArgument("compile options: a device-assignment computation lists " +
                             std::to_string(ids.size()) + " devices for " +
                             std::to_string(replica_count) + " replicas");
    }
  }
  out->device_ids.clear();
  for (int64_t rep = 0; rep < replica_count; ++rep) {
    for (int64_t c = 0; c < computation_count; ++c) out->device_ids.push_back(computations[c][rep]);
  }
  return Status::Ok();
}

Status ParseBuildOptions(std::string_view bytes, CompileDeviceOptions* out) {
  WireReader r(bytes);
  Field f;
  while (!r.done()) {
    CHIP_RETURN_IF_ERROR(r.Next(&f));
    if (f.wire_type == kVarint) {
      if (f.number == kBuildOptionsDeviceOrdinal) out->device_ordinal = static_cast<int64_t>(f.varint);
      if (f.number == kBuildOptionsNumReplicas) out->num_replicas = static_cast<int64_t>(f.varint);
      if (f.number == kBuildOptionsNumPartitions) out->num_partitions = static_cast<int64_t>(f.varint);
    } else if (f.number == kBuildOptionsDeviceAssignment && f.wire_type == kLengthDelimited) {
      CHIP_RETURN_IF_ERROR(ParseDeviceAssignment(f.bytes, out));
    }
  }
  return Status::Ok();
}

}  // namespace

StatusOr<CompileDeviceOptions> ParseCompileDeviceOptions(std::string_view serialized) {
  CompileDeviceOptions out;
  WireReader r(serialized);
  Field f;
  while (!r.done()) {
    CHIP_RETURN_IF_ERROR(r.Next(&f));
    if (f.number == kCompileOptionsExecutableBuildOptions && f.wire_type == kLengthDelimited) {
      CHIP_RETURN_IF_ERROR(ParseBuildOptions(f.bytes, &out));
    }
  }
  // Proto3 leaves zero values unset; 0 replicas/partitions means the default of 1.
  if (out.num_replicas <= 0) out.num_replicas = 1;
  if (out.num_partitions <= 0) out.num_partitions = 1;
  return out;
}

StatusOr<std::vector<int>> ResolveExecutionDevices(const CompileDeviceOptions& options, int num_devices) {
  const int64_t count = options.num_replicas * options.num_partitions;
  std::vector<int64_t> ids;
  if (!options.device_ids.empty()) {
    if (static_cast<int64_t>(options.device_ids.size()) != count) {
      return InvalidArgument("compile options: the device assignment has " +
                             std::to_string(options.device_ids.size()) + " devices but the program has " +
                             std::to_string(options.num_replicas) + " replica(s) x " +
                             std::to_string(options.num_partitions) + " partition(s)");
    }
    ids = options.device_ids;
  } else if (options.device_ordinal >= 0 && count == 1) {
    ids = {options.device_ordinal};
  } else {
    for (int64_t i = 0; i < count; ++i) ids.push_back(i);
  }
  if (count > num_devices) {
    return InvalidArgument("the program needs " + std::to_string(count) + " devices (" +
                           std::to_string(options.num_replicas) + " replica(s) x " +
                           std::to_string(options.num_partitions) + " partition(s)) but the client has " +
                           std::to_string(num_devices) + " chip device(s); set num_devices");
  }
  std::vector<int> out;
  for (int64_t id : ids) {
    if (id < 0 || id >= num_devices) {
      return InvalidArgument("compile options assign device " + std::to_string(id) +
                             ", but the client has chip devices 0.." + std::to_string(num_devices - 1));
    }
    for (int prev : out) {
      if (prev == id) {
        return InvalidArgument("compile options assign device " + std::to_string(id) + " twice");
      }
    }
    out.push_back(static_cast<int>(id));
  }
  return out;
}

}  // namespace chip::api
