// The PJRT profiler extension (xla/pjrt/c/pjrt_c_api_profiler_extension.h): the plugin's side of
// jax.profiler.trace. jaxlib registers a tracer for every plugin it loads by library path and, in
// 0.6.2, dereferences the extension's API without checking it is there: a plugin without this
// extension crashes jax.profiler.trace in any process that loaded it, whatever JAX_PLATFORMS is.
//
// Today a session contributes no planes of its own (CollectData returns an empty XSpace, which
// serializes to zero bytes); the chip's modeled timeline is recorded by jax_chip.profiler
// (docs/profiling.md). Putting the chip's kernels into the XSpace is the next step (issue 13).
#pragma once

#include "xla/pjrt/c/pjrt_c_api.h"

namespace chip::api {

// The profiler extension, linked in front of `next` in the PJRT_Api extension chain.
PJRT_Extension_Base* ProfilerExtension(PJRT_Extension_Base* next);

}  // namespace chip::api
