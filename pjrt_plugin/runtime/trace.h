// The trace recorder: while profiling is on, every kernel, execution and transfer on every
// device records its modeled start time and duration (on the device's modeled clock) and its
// work. Exported as Chrome trace-event JSON (loads in Perfetto and chrome://tracing).
// Process-wide, so the profiler entry points (chip_extension_c_api.h) reach it without a client.
// CHIP_TRACE_STREAM=path (read at first use; "%p" becomes the pid) also writes every event, from
// the start of the process and whether or not profiling is on, as one JSON object per line,
// flushed after each execution: a process that is killed (sglang-jax's scheduler) still leaves
// a complete trace. jax_chip.profiler.load_stream() reads it back.
// Sessions (TraceSession) record independently of Start/Stop and of each other: jax.profiler's
// sessions (api/profiler_extension.cc) and jax_chip.profiler's recording can overlap.
// Memory is bounded: the in-memory trace keeps at most max_events() events (the first ones of a
// session; CHIP_TRACE_MAX_EVENTS, read at first use, default kDefaultMaxEvents) and counts the
// events it drops past the cap (dropped_events(), "dropped_events" in the JSON metadata). The
// stream is written as it goes and holds nothing in memory. A jax.profiler session keeps every
// event of its own span (it ends when jax stops the session). With profiling off, no stream and
// no session, enabled() is false and nothing is built or kept.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "pjrt_plugin/runtime/cost_model.h"

namespace chip {

struct TraceEvent {
  enum class Kind { kKernel, kExecution, kTransfer };
  Kind kind;
  int device_id;
  std::string name;       // kernel name ("fusion.3"), executable name, or "host_to_device"
  std::string category;   // kernel op kind ("elementwise", "dot_general", ...) or "execution"/"transfer"
  std::string source;     // JAX source location, if any
  std::string program;    // the executable the kernel belongs to
  int64_t launch_id = 0;  // which execution
  double start_s = 0;     // modeled device clock
  int64_t host_start_ns = 0;  // executions and transfers: host wall clock (ns since the Unix
                              // epoch) when the device began them; 0 for kernels
  ModeledTime time;
  KernelWork work;
};

// A host wall-clock time (ns since the Unix epoch; the clock jax.profiler's host events use).
int64_t HostWallClockNs();

// One independent recording: every event recorded while it is attached to the recorder.
class TraceSession {
 public:
  std::vector<TraceEvent> Events() const;

 private:
  friend class TraceRecorder;
  mutable std::mutex mu_;
  std::vector<TraceEvent> events_;
};

class TraceRecorder {
 public:
  // While one lives, enabled() is false on the constructing thread: work that is not the device's
  // (the compiler evaluating constants with the kernels, chip_run_executable) stays off the trace.
  class ScopedSuppression {
   public:
    ScopedSuppression();
    ~ScopedSuppression();
    ScopedSuppression(const ScopedSuppression&) = delete;
    ScopedSuppression& operator=(const ScopedSuppression&) = delete;
  };

  // Under 1 GB of events at most (tools/soak.py decode measured about 0.8 KB per event).
  static constexpr int64_t kDefaultMaxEvents = 1'000'000;

  static TraceRecorder& Global();

  void Start();                       // clears previous events and the dropped count, enables recording
  void Stop();                        // disables recording (events kept)
  bool enabled() const;               // recording in memory (Start) or streaming to a file
  void Record(TraceEvent event);      // no-op when disabled; thread-safe
  std::vector<TraceEvent> Events() const;
  // Starts recording into `session` until Detach (or until the recorder drops it: never before
  // Detach). Attaching a session twice records it once.
  void Attach(std::shared_ptr<TraceSession> session);
  void Detach(const TraceSession* session);
  void set_max_events(int64_t max_events);   // >= 1; applies from the next Record
  int64_t max_events() const;
  int64_t dropped_events() const;   // events not kept since Start() because the cap was reached
  // {"traceEvents": [...], "displayTimeUnit": "ns", "metadata": {...}}; timestamps in us.
  // pid = device id (named "chip:N"), tid 1 = executions, tid 2 = kernels, tid 3 = transfers.
  // Each kernel event's args: category, source, program, modeled_us, bound, bytes_read,
  // bytes_written (HBM), sram_bytes_read, sram_bytes_written, matrix_flops, vector_flops,
  // transcendentals. Executions and transfers carry host_start_ns in their args.
  // metadata: num_events, and for the recorder's own trace max_events, dropped_events.
  std::string ToChromeJson() const;
  // A session's events as JSON; max_events > 0 adds the cap and the dropped count.
  static std::string ChromeJson(const std::vector<TraceEvent>& events, int64_t max_events = 0,
                                int64_t dropped = 0);

 private:
  void OpenStream(const std::string& pattern);
  struct FileCloser { void operator()(std::FILE* f) const { if (f) std::fclose(f); } };
  mutable std::mutex mu_;
  bool enabled_ = false;
  std::unique_ptr<std::FILE, FileCloser> stream_;
  std::vector<TraceEvent> events_;
  std::vector<std::shared_ptr<TraceSession>> sessions_;
  int64_t max_events_ = kDefaultMaxEvents;
  int64_t dropped_ = 0;
};

}  // namespace chip
