/* The chip plugin's own C entry points, exported next to GetPjrtApi (api/exports.lds). The Python
 * package loads the same shared library with ctypes and calls them (python/jax_chip/profiler.py).
 * Strings returned as char* are malloc'd: free them with chip_free. */
#ifndef PJRT_PLUGIN_API_CHIP_EXTENSION_H_
#define PJRT_PLUGIN_API_CHIP_EXTENSION_H_

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

#ifdef __cplusplus
}
#endif

#endif /* PJRT_PLUGIN_API_CHIP_EXTENSION_H_ */
