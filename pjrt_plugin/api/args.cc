#include "pjrt_plugin/api/args.h"

namespace chip::api {

Status CheckStructSize(const char* function, const char* what, size_t struct_size, size_t min_size) {
  if (struct_size < min_size) {
    return InvalidArgument(std::string(function) + ": " + what + "->struct_size is " +
                           std::to_string(struct_size) + " bytes, smaller than the " +
                           std::to_string(min_size) +
                           " bytes holding the fields this function reads; is the caller's "
                           "struct_size set?");
  }
  if (struct_size > kMaxSaneStructSize) {
    return InvalidArgument(std::string(function) + ": " + what + "->struct_size is " +
                           std::to_string(struct_size) +
                           " bytes, which is not a valid PJRT struct size (uninitialized?)");
  }
  return Status::Ok();
}

}  // namespace chip::api
