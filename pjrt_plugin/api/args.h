// The checks every PJRT entry point makes before touching its arguments, and the guard that keeps
// C++ exceptions from crossing the C API.
//
// Struct sizes: the header is PJRT 0.72 and jaxlib 0.6.2 speaks 0.70. A caller sets
// `args->struct_size` from its own header, and older headers under-report some structs (0.70's
// PJRT_Plugin_Attributes_Args size ends at `attributes`, before `num_attributes`). So each entry
// point requires only the fields it reads: CHIP_MIN_ARGS_SIZE(Args, last input field). Output
// fields that existed in PJRT 0.70 are always written (every 0.70 caller's struct has them);
// fields added after 0.70 are read or written only when CHIP_HAS_FIELD says the caller's struct
// has them. A struct_size below the minimum, or absurdly large (uninitialized), is
// INVALID_ARGUMENT naming the function.
#pragma once

#include <cstddef>
#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <utility>

#include "pjrt_plugin/api/error.h"
#include "pjrt_plugin/core/status.h"
#include "xla/pjrt/c/pjrt_c_api.h"

namespace chip::api {

// No PJRT args struct comes close to this; a larger struct_size is garbage (uninitialized memory).
constexpr size_t kMaxSaneStructSize = size_t{1} << 16;

Status CheckStructSize(const char* function, const char* what, size_t struct_size, size_t min_size);

// The smallest args struct an entry point accepts: one that holds its inputs up to `last_input`.
#define CHIP_MIN_ARGS_SIZE(Type, last_input) PJRT_STRUCT_SIZE(Type, last_input)
// For entry points with no inputs: struct_size and extension_start.
inline constexpr size_t kArgsHeaderSize = PJRT_STRUCT_SIZE(PJRT_Plugin_Initialize_Args, extension_start);

// True if the caller's struct is large enough to contain `field` (so it may be read or written).
#define CHIP_HAS_FIELD(ptr, Type, field) ((ptr)->struct_size >= PJRT_STRUCT_SIZE(Type, field))

// Runs `body` (returning chip::Status) for entry point `function` after checking `args`.
template <typename Args, typename Body>
PJRT_Error* RunApi(const char* function, Args* args, size_t min_size, Body&& body) noexcept {
  try {
    if (args == nullptr) {
      return ToPjrtError(InvalidArgument(std::string(function) + ": args is null"));
    }
    Status s = CheckStructSize(function, "args", args->struct_size, min_size);
    if (!s.ok()) return ToPjrtError(std::move(s));
    return ToPjrtError(body());
  } catch (const std::bad_alloc&) {
    return ToPjrtError(ResourceExhausted(std::string(function) + ": out of host memory"));
  } catch (const std::exception& e) {
    return ToPjrtError(Internal(std::string(function) + ": unexpected C++ exception: " + e.what()));
  } catch (...) {
    return ToPjrtError(Internal(std::string(function) + ": unexpected C++ exception"));
  }
}

// A C enum field of the caller's struct, range-checked: the value is read as the int it is stored
// as, because reading an out-of-range value through the enum type is undefined behaviour (UBSan's
// -fsanitize=enum reports it). INVALID_ARGUMENT "<what> is <n>, not a <type_name>" outside
// [first, last].
template <typename E>
StatusOr<E> CheckedEnum(const E& field, E first, E last, const std::string& what, const char* type_name) {
  static_assert(sizeof(E) == sizeof(int), "C enums are stored as int");
  int v;
  std::memcpy(&v, &field, sizeof(v));
  if (v < static_cast<int>(first) || v > static_cast<int>(last)) {
    return InvalidArgument(what + " is " + std::to_string(v) + ", not a " + type_name);
  }
  return static_cast<E>(v);
}

// "PJRT_Buffer_Device: buffer is null" when `ptr` is null.
#define CHIP_REQUIRE_NON_NULL(function, ptr, name)                                        \
  do {                                                                                    \
    if ((ptr) == nullptr) return ::chip::InvalidArgument(std::string(function) + ": " + (name) + " is null"); \
  } while (0)

}  // namespace chip::api
