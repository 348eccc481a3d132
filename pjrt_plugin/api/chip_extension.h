/* The chip plugin's own C entry points, exported next to GetPjrtApi (api/exports.lds). The Python
 * package loads the same shared library with ctypes and calls them (python/jax_chip/native.py,
 * profiler.py, ffi.py). Strings returned as char* are malloc'd: free them with chip_free. */
#ifndef PJRT_PLUGIN_API_CHIP_EXTENSION_H_
#define PJRT_PLUGIN_API_CHIP_EXTENSION_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CHIP_EXPORT __attribute__((visibility("default")))

/* Starts recording the modeled trace (clears an earlier recording). 0 on success. */
CHIP_EXPORT int chip_profiler_start(void);
/* Stops recording; the events stay available. 0 on success. */
CHIP_EXPORT int chip_profiler_stop(void);
/* The recorded trace as Chrome trace-event JSON (malloc'd; NULL on failure). */
CHIP_EXPORT char* chip_profiler_trace_json(void);
/* Frees what the chip_* functions returned. NULL is fine. */
CHIP_EXPORT void chip_free(void* p);
/* Modeled chip time spent so far on device `device_id` of the live client (seconds); -1 if there
 * is no live client or no such device. */
CHIP_EXPORT double chip_device_modeled_time_s(int device_id);
/* The plugin version, e.g. "0.1.0" (static storage). */
CHIP_EXPORT const char* chip_plugin_version(void);

/* Registers a typed XLA FFI handler (api_version 1) for platform "chip" under custom-call target
 * `name`; `execute` is required, the other stages may be NULL. NULL on success, else a malloc'd
 * error message. */
CHIP_EXPORT char* chip_ffi_register_handler(const char* name, void* execute, void* instantiate, void* prepare,
                                            void* initialize, int api_version, uint32_t traits);
/* Registers a custom FFI type: *type_id == 0 assigns one, otherwise it must match. NULL on success,
 * else a malloc'd error message. */
CHIP_EXPORT char* chip_ffi_register_type_id(const char* name, int64_t* type_id);

/* The chip model's fields (runtime/chip_config_fields.h) as JSON: a list of {"name", "type",
 * "kind" ("int" or "float"), "default", "unit", "min", "min_inclusive", "max", "doc"}
 * (static storage). */
CHIP_EXPORT const char* chip_config_fields_json(void);

/* The chip config fields the cost model reads (runtime/cost_model.h: CostModelFields) as a JSON
 * list of names (static storage). A config that differs from a recorded run's only in these can
 * re-time the recording (jax_chip.what_if); the others change what is compiled or run. */
CHIP_EXPORT const char* chip_cost_model_fields_json(void);

/* Prices recorded work with the cost model (runtime/cost_model.h) under a chip config, as a run
 * with that config would: the defaults with n_options overrides (option_names[i], an integer
 * option_ints[i] where option_is_int[i], else option_floats[i]), validated as PJRT_Client_Create
 * validates them.
 * - n_kernels kernels: kernel_work[7*k ..] = matrix_flops, vector_flops, transcendentals,
 *   bytes_read, bytes_written, sram_bytes_read, sram_bytes_written, with the matrix input dtype
 *   kernel_dtypes[k] ("bf16", ...; the trace's matrix_dtype). Writes kernel_times[6*k ..] = total,
 *   launch, matrix, vector, memory, sram (seconds) and kernel_bounds[k] (what bounds it: static
 *   strings, "matrix", "vector", "memory", "sram" or "launch").
 * - n_transfers transfers: transfer_names[t] as the trace names them ("host_to_device", ...),
 *   transfer_bytes[2*t ..] = the event's bytes_read, bytes_written. Writes transfer_seconds[t].
 * NULL on success, else a malloc'd error naming the option, dtype or transfer. */
CHIP_EXPORT char* chip_model_work(const char* const* option_names, const int* option_is_int,
                                  const int64_t* option_ints, const double* option_floats, int n_options,
                                  const double* kernel_work, const char* const* kernel_dtypes, int64_t n_kernels,
                                  double* kernel_times, const char** kernel_bounds,
                                  const char* const* transfer_names, const double* transfer_bytes,
                                  int64_t n_transfers, double* transfer_seconds);

/* The Elementwise kernel's instruction table (kernels/elementwise_ops.h) as JSON: a list of
 * {"name", "value", "arity", "operands", "transcendental"} in EwOp order (static storage). */
CHIP_EXPORT const char* chip_elementwise_ops_json(void);

/* Loads the serialized chip executable `exe` (`len` bytes; verified as
 * PJRT_Executable_DeserializeAndLoad does) and runs it on the calling thread over host memory,
 * with the default chip model and a host-allocated scratch arena, off the profiler's trace.
 * params[i] holds parameter i and outputs[o] receives output o, dense row-major in the program's
 * types (pred: one byte); an output aliased to a parameter starts as that parameter's value.
 * Returns 0, or -1 with a NUL-terminated message (truncated to error_len bytes) in `error`: a
 * malformed executable, wrong buffer counts or a failing kernel are errors, never a crash. */
CHIP_EXPORT int chip_run_executable(const void* exe, size_t len, const void* const* params, int n_params,
                                    void* const* outputs, int n_outputs, char* error, size_t error_len);

#ifdef __cplusplus
}
#endif

#endif /* PJRT_PLUGIN_API_CHIP_EXTENSION_H_ */
