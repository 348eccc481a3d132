// Runs user XLA FFI handlers (registered for platform "chip" with
// jax.ffi.register_ffi_target(..., platform="chip"); FfiRegistry, ffi_extension.h) as custom-call
// kernels: the runtime's external custom-call provider (kernels/custom_call.h) builds an
// XLA_FFI_CallFrame (buffers, typed attributes sorted by name) and calls the handler's execute
// stage with the plugin's XLA_FFI_Api.
//
// The XLA FFI API the handlers get: errors, type ids (the shared registry), device memory
// (host memory: the chip is emulated), a thread pool that runs tasks inline (one thread),
// futures (waited for before the kernel returns), run id 0 and the device ordinal. Streams,
// per-instance state and execute-context user data are not available (a clear error).
// Handlers with instantiate/prepare/initialize stages are rejected when called.
#pragma once

#include "xla/ffi/api/c_api.h"

namespace chip::api {

// The plugin's XLA_FFI_Api table (static storage).
const XLA_FFI_Api* FfiApi();

// Installs the FFI provider into the runtime (idempotent; done when the plugin loads).
void InstallFfiCustomCalls();

}  // namespace chip::api
