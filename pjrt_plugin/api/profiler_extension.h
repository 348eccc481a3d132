// The PJRT profiler extension (xla/pjrt/c/pjrt_c_api_profiler_extension.h): the plugin's side of
// jax.profiler.trace. jaxlib registers a tracer for every plugin it loads by library path and, in
// 0.6.2, dereferences the extension's API without checking it is there: a plugin without this
// extension crashes jax.profiler.trace in any process that loaded it, whatever JAX_PLATFORMS is.
//
// A session records the chip's events (runtime/trace.h's TraceSession) between Start and Stop;
// CollectData returns them as an XSpace built in Python by jax_chip.xspace (one device plane per
// chip, "/device:CUSTOM:<id>", with executions, kernels and transfers lines; docs/profiling.md has
// the timestamp convention). Without a Python interpreter in the process the XSpace is empty.
#pragma once

#include "xla/pjrt/c/pjrt_c_api.h"

namespace chip::api {

// The profiler extension, linked in front of `next` in the PJRT_Api extension chain.
PJRT_Extension_Base* ProfilerExtension(PJRT_Extension_Base* next);

}  // namespace chip::api
