#include "pjrt_plugin/runtime/trace.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <algorithm>
#include <cstdlib>
#include <set>

namespace chip {
namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 if it is not valid UTF-8.
size_t Utf8SequenceLength(const std::string& s, size_t i) {
  const unsigned char c = static_cast<unsigned char>(s[i]);
  size_t n = 0;
  uint32_t cp = 0;
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) { n = 2; cp = c & 0x1F; }
  else if ((c & 0xF0) == 0xE0) { n = 3; cp = c & 0x0F; }
  else if ((c & 0xF8) == 0xF0) { n = 4; cp = c & 0x07; }
  else return 0;
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    const unsigned char cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3F);
  }
  const uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

// A JSON string literal; control characters escaped, invalid UTF-8 replaced by U+FFFD.
void AppendJsonString(std::string* out, const std::string& s) {
  out->push_back('"');
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"': out->append("\\\""); ++i; continue;
      case '\\': out->append("\\\\"); ++i; continue;
      case '\b': out->append("\\b"); ++i; continue;
      case '\f': out->append("\\f"); ++i; continue;
      case '\n': out->append("\\n"); ++i; continue;
      case '\r': out->append("\\r"); ++i; continue;
      case '\t': out->append("\\t"); ++i; continue;
      default: break;
    }
    if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out->append(buf);
      ++i;
      continue;
    }
    const size_t n = Utf8SequenceLength(s, i);
    if (n == 0) {
      out->append("\\ufffd");
      ++i;
    } else {
      out->append(s, i, n);
      i += n;
    }
  }
  out->push_back('"');
}

void AppendJsonNumber(std::string* out, double v) {
  if (!std::isfinite(v)) {  // JSON has no NaN/Inf
    out->append("null");
    return;
  }
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  out->append(buf);
}

void AppendKey(std::string* out, const char* key) {
  out->push_back('"');
  out->append(key);
  out->append("\":");
}

int ThreadId(TraceEvent::Kind k) {
  switch (k) {
    case TraceEvent::Kind::kExecution: return 1;
    case TraceEvent::Kind::kKernel: return 2;
    case TraceEvent::Kind::kTransfer: return 3;
  }
  return 2;
}

void AppendMetadata(std::string* out, const char* what, int pid, int tid, const std::string& name) {
  out->append("{\"ph\":\"M\",\"name\":\"");
  out->append(what);
  out->append("\",\"pid\":" + std::to_string(pid));
  if (tid >= 0) out->append(",\"tid\":" + std::to_string(tid));
  out->append(",\"args\":{\"name\":");
  AppendJsonString(out, name);
  out->append("}}");
}

void AppendEventJson(std::string* out_ptr, const TraceEvent& e) {
  std::string& out = *out_ptr;
  out.append("{\"ph\":\"X\",\"name\":");
  AppendJsonString(&out, e.name);
  out.append(",\"cat\":");
  AppendJsonString(&out, e.category);
  out.append(",\"pid\":" + std::to_string(e.device_id));
  out.append(",\"tid\":" + std::to_string(ThreadId(e.kind)));
  out.append(",\"ts\":");
  AppendJsonNumber(&out, e.start_s * 1e6);
  out.append(",\"dur\":");
  AppendJsonNumber(&out, e.time.total_s * 1e6);
  out.append(",\"args\":{");
  AppendKey(&out, "category");
  AppendJsonString(&out, e.category);
  out.append(",");
  AppendKey(&out, "source");
  AppendJsonString(&out, e.source);
  out.append(",");
  AppendKey(&out, "program");
  AppendJsonString(&out, e.program);
  out.append(",");
  AppendKey(&out, "launch_id");
  out.append(std::to_string(e.launch_id));
  out.append(",");
  AppendKey(&out, "modeled_us");
  AppendJsonNumber(&out, e.time.total_s * 1e6);
  out.append(",");
  AppendKey(&out, "bound");
  AppendJsonString(&out, e.time.bound ? e.time.bound : "");
  const std::pair<const char*, double> nums[] = {
      {"launch_us", e.time.launch_s * 1e6},   {"matrix_us", e.time.matrix_s * 1e6},
      {"vector_us", e.time.vector_s * 1e6},   {"memory_us", e.time.memory_s * 1e6},
      {"sram_us", e.time.sram_s * 1e6},
      {"bytes_read", e.work.bytes_read},      {"bytes_written", e.work.bytes_written},
      {"sram_bytes_read", e.work.sram_bytes_read}, {"sram_bytes_written", e.work.sram_bytes_written},
      {"matrix_flops", e.work.matrix_flops},  {"vector_flops", e.work.vector_flops},
      {"transcendentals", e.work.transcendentals},
  };
  for (const auto& [key, value] : nums) {
    out.append(",");
    AppendKey(&out, key);
    AppendJsonNumber(&out, value);
  }
  out.append(",");
  AppendKey(&out, "matrix_dtype");
  AppendJsonString(&out, DTypeName(e.work.matrix_dtype));
  if (e.kind != TraceEvent::Kind::kKernel) {
    out.append(",");
    AppendKey(&out, "host_start_ns");
    out.append(std::to_string(e.host_start_ns));
  }
  out.append("}}");
}

}  // namespace

int64_t HostWallClockNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::vector<TraceEvent> TraceSession::Events() const {
  std::lock_guard<std::mutex> lock(mu_);
  return events_;
}

TraceRecorder& TraceRecorder::Global() {
  static TraceRecorder* recorder = [] {
    auto* r = new TraceRecorder();  // never destroyed: usable at exit
    if (const char* path = std::getenv("CHIP_TRACE_STREAM"); path != nullptr && *path != '\0') {
      r->OpenStream(path);
    }
    if (const char* cap = std::getenv("CHIP_TRACE_MAX_EVENTS"); cap != nullptr && *cap != '\0') {
      char* end = nullptr;
      const long long n = std::strtoll(cap, &end, 10);
      if (end != cap && *end == '\0' && n >= 1) {
        r->set_max_events(n);
      } else {
        std::fprintf(stderr, "chip: CHIP_TRACE_MAX_EVENTS=%s is not a positive integer; keeping %lld\n",
                     cap, static_cast<long long>(kDefaultMaxEvents));
      }
    }
    return r;
  }();
  return *recorder;
}

void TraceRecorder::OpenStream(const std::string& pattern) {
  std::string path;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '%' && i + 1 < pattern.size() && pattern[i + 1] == 'p') {
      path += std::to_string(static_cast<long>(getpid()));
      ++i;
    } else {
      path += pattern[i];
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  stream_.reset(std::fopen(path.c_str(), "w"));
  if (!stream_) {
    std::fprintf(stderr, "chip: CHIP_TRACE_STREAM: cannot open %s for writing\n", path.c_str());
  }
}

void TraceRecorder::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  events_.clear();
  dropped_ = 0;
  enabled_ = true;
}

void TraceRecorder::Stop() {
  std::lock_guard<std::mutex> lock(mu_);
  enabled_ = false;
}

namespace {
thread_local int trace_suppressed = 0;
}  // namespace

TraceRecorder::ScopedSuppression::ScopedSuppression() { ++trace_suppressed; }
TraceRecorder::ScopedSuppression::~ScopedSuppression() { --trace_suppressed; }

bool TraceRecorder::enabled() const {
  if (trace_suppressed > 0) return false;
  std::lock_guard<std::mutex> lock(mu_);
  return enabled_ || stream_ != nullptr || !sessions_.empty();
}

void TraceRecorder::Attach(std::shared_ptr<TraceSession> session) {
  std::lock_guard<std::mutex> lock(mu_);
  if (std::find(sessions_.begin(), sessions_.end(), session) == sessions_.end()) {
    sessions_.push_back(std::move(session));
  }
}

void TraceRecorder::Detach(const TraceSession* session) {
  std::lock_guard<std::mutex> lock(mu_);
  sessions_.erase(std::remove_if(sessions_.begin(), sessions_.end(),
                                 [&](const std::shared_ptr<TraceSession>& s) { return s.get() == session; }),
                  sessions_.end());
}

void TraceRecorder::Record(TraceEvent event) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stream_) {
    std::string line;
    AppendEventJson(&line, event);
    line.push_back('\n');
    std::fwrite(line.data(), 1, line.size(), stream_.get());
    // One flush per execution (or transfer) keeps the file complete if the process is killed.
    if (event.kind != TraceEvent::Kind::kKernel) std::fflush(stream_.get());
  }
  for (const std::shared_ptr<TraceSession>& session : sessions_) {
    std::lock_guard<std::mutex> session_lock(session->mu_);
    session->events_.push_back(event);
  }
  if (!enabled_) return;
  if (static_cast<int64_t>(events_.size()) >= max_events_) {
    ++dropped_;
    return;
  }
  events_.push_back(std::move(event));
}

std::vector<TraceEvent> TraceRecorder::Events() const {
  std::lock_guard<std::mutex> lock(mu_);
  return events_;
}

void TraceRecorder::set_max_events(int64_t max_events) {
  std::lock_guard<std::mutex> lock(mu_);
  max_events_ = std::max<int64_t>(1, max_events);
}

int64_t TraceRecorder::max_events() const {
  std::lock_guard<std::mutex> lock(mu_);
  return max_events_;
}

int64_t TraceRecorder::dropped_events() const {
  std::lock_guard<std::mutex> lock(mu_);
  return dropped_;
}

std::string TraceRecorder::ToChromeJson() const {
  std::vector<TraceEvent> events;
  int64_t max_events = 0, dropped = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    events = events_;
    max_events = max_events_;
    dropped = dropped_;
  }
  return ChromeJson(events, max_events, dropped);
}

std::string TraceRecorder::ChromeJson(const std::vector<TraceEvent>& events, int64_t max_events,
                                      int64_t dropped) {
  std::string out;
  out.reserve(256 + events.size() * 400);
  out.append("{\"traceEvents\":[");
  bool first = true;
  auto sep = [&] {
    if (!first) out.append(",\n");
    first = false;
  };
  std::set<int> devices;
  for (const TraceEvent& e : events) devices.insert(e.device_id);
  for (int d : devices) {
    sep();
    AppendMetadata(&out, "process_name", d, -1, "chip:" + std::to_string(d));
    sep();
    AppendMetadata(&out, "thread_name", d, 1, "executions");
    sep();
    AppendMetadata(&out, "thread_name", d, 2, "kernels");
    sep();
    AppendMetadata(&out, "thread_name", d, 3, "transfers");
  }
  for (const TraceEvent& e : events) {
    sep();
    AppendEventJson(&out, e);
  }
  out.append("],\n\"displayTimeUnit\":\"ns\",\"metadata\":{\"generator\":\"chip emulator\",");
  AppendKey(&out, "clock");
  AppendJsonString(&out, "modeled device time");
  out.append(",");
  AppendKey(&out, "num_events");
  out.append(std::to_string(events.size()));
  if (max_events > 0) {
    out.append(",");
    AppendKey(&out, "max_events");
    out.append(std::to_string(max_events));
    out.append(",");
    AppendKey(&out, "dropped_events");
    out.append(std::to_string(dropped));
  }
  out.append("}}\n");
  return out;
}

}  // namespace chip
