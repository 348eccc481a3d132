// Element types across the C API: PJRT_Buffer_Type <-> chip::DType. The chip has PRED, S8, U8,
// S16, U16, S32, U32, F16, BF16 and F32; every other PJRT type is rejected with a message that
// names it and says what to use instead.
#pragma once

#include "pjrt_plugin/core/dtype.h"
#include "pjrt_plugin/core/status.h"
#include "xla/pjrt/c/pjrt_c_api.h"

namespace chip::api {

// The numpy/JAX name of a PJRT type ("float64", "bfloat16", ...).
const char* PjrtTypeName(PJRT_Buffer_Type type);

// INVALID_ARGUMENT naming the type (and `context`, e.g. "PJRT_Client_BufferFromHostBuffer") if
// the chip has no such type.
StatusOr<DType> FromPjrtType(PJRT_Buffer_Type type, const char* context);
PJRT_Buffer_Type ToPjrtType(DType dtype);

}  // namespace chip::api
