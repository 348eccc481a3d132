#include "pjrt_plugin/runtime/executor.h"

#include <cstring>
#include <exception>
#include <new>
#include <string>

#include "pjrt_plugin/kernels/kernel.h"
#include "pjrt_plugin/runtime/cost_model.h"
#include "pjrt_plugin/runtime/trace.h"
#include "pjrt_plugin/schema/chip_executable_generated.h"

namespace chip {
namespace {

// Accumulates the modeled clock and the trace of one execution.
class Timeline {
 public:
  Timeline(const ChipConfig& config, int device_id, int64_t launch_id, double start_s, const std::string& program)
      : config_(config), device_id_(device_id), launch_id_(launch_id), now_(start_s), program_(program),
        tracing_(TraceRecorder::Global().enabled()) {}

  void Add(const std::string& name, const char* category, const std::string& source, const KernelWork& work) {
    const ModeledTime t = ModelKernel(work, config_);
    if (tracing_) {
      TraceEvent e;
      e.kind = TraceEvent::Kind::kKernel;
      e.device_id = device_id_;
      e.name = name;
      e.category = category;
      e.source = source;
      e.program = program_;
      e.launch_id = launch_id_;
      e.start_s = now_;
      e.time = t;
      e.work = work;
      TraceRecorder::Global().Record(std::move(e));
    }
    now_ += t.total_s;
    result_.modeled_s += t.total_s;
    result_.kernels += 1;
  }
  const ExecutionResult& result() const { return result_; }

 private:
  const ChipConfig& config_;
  const int device_id_;
  const int64_t launch_id_;
  double now_;
  const std::string& program_;
  const bool tracing_;
  ExecutionResult result_;
};

KernelWork CopyWork(int64_t bytes) {
  KernelWork w;
  w.bytes_read = static_cast<double>(bytes);
  w.bytes_written = static_cast<double>(bytes);
  return w;
}

// Runs prepared kernel lists (the program's, or a control-flow region's) over the bound storage.
class Host final : public kernels::ExecutionHost {
 public:
  Host(const LoadedProgram& program, const std::vector<void*>& ptr, Timeline& timeline, const std::string& where)
      : program_(program), ptr_(ptr), timeline_(timeline), where_(where) {}

  void* data(int value) const override { return ptr_[value]; }
  const TensorInfo& type(int value) const override { return program_.value(value); }
  void RecordCopy(const std::string& name, int64_t bytes) override { timeline_.Add(name, "copy", "", CopyWork(bytes)); }

  Status RunKernels(const kernels::PreparedKernels& list) override {
    kernels::TensorRefs ins, outs;
    for (const kernels::PreparedKernel& kernel : list) {
      ins.clear();
      outs.clear();
      for (int v : kernel.inputs) ins.push_back({&program_.value(v), ptr_[v]});
      for (int v : kernel.outputs) outs.push_back({&program_.value(v), ptr_[v]});
      KernelWork work = kernel.static_work;
      Status s;
      if (kernel.kind->control_flow) {
        try {
          s = kernels::RunKernel(kernel, kernels::KernelArgs{ins, outs, &work, this});
        } catch (const std::bad_alloc&) {
          s = ResourceExhausted(where_ + "host memory exhausted in a control-flow kernel");
        }
        if (!s.ok()) return s;  // a nested kernel's error already names it
        continue;
      }
      try {
        s = kernels::RunKernel(kernel, kernels::KernelArgs{ins, outs, &work, this});
      } catch (const std::bad_alloc&) {
        s = ResourceExhausted("host memory exhausted");
      } catch (const std::exception& e) {
        s = Internal(std::string("exception: ") + e.what());
      }
      const char* category = kernel.kind->category;
      if (!s.ok()) {
        return Status(s.code(), where_ + "kernel '" + kernel.name + "' (" + category + ")" +
                                    (kernel.source.empty() ? "" : " from " + kernel.source) + " failed: " + s.message());
      }
      timeline_.Add(kernel.name, category, kernel.source, work);
    }
    return Status::Ok();
  }

 private:
  const LoadedProgram& program_;
  const std::vector<void*>& ptr_;
  Timeline& timeline_;
  const std::string& where_;
};

}  // namespace

StatusOr<ExecutionResult> RunProgram(const LoadedProgram& program, const ExecutionBindings& bindings,
                                     const ChipConfig& config, int device_id, int64_t launch_id, double start_s) {
  const exe::Executable& fb = program.fb();
  const std::string where = "executing '" + program.name() + "': ";
  if (static_cast<int>(bindings.parameters.size()) != program.num_parameters() ||
      static_cast<int>(bindings.outputs.size()) != program.num_outputs()) {
    return InvalidArgument(where + "bound " + std::to_string(bindings.parameters.size()) + " parameters and " +
                           std::to_string(bindings.outputs.size()) + " outputs, the program has " +
                           std::to_string(program.num_parameters()) + " and " + std::to_string(program.num_outputs()));
  }
  if (program.arena_bytes() > 0 && bindings.arena == nullptr) {
    return InvalidArgument(where + "no arena bound for " + std::to_string(program.arena_bytes()) + " bytes");
  }
  for (int i = 0; i < program.num_parameters(); ++i) {
    if (bindings.parameters[i] == nullptr && program.parameter(i).byte_size() > 0) {
      return InvalidArgument(where + "parameter " + std::to_string(i) + " is not bound");
    }
  }
  for (int i = 0; i < program.num_outputs(); ++i) {
    if (bindings.outputs[i] == nullptr && program.output(i).byte_size() > 0) {
      return InvalidArgument(where + "output " + std::to_string(i) + " is not bound");
    }
  }

  // Bind every value to its storage.
  const int num_values = program.num_values();
  std::vector<void*> ptr(num_values, nullptr);
  for (int v = 0; v < num_values; ++v) {
    const exe::Value* value = fb.values()->Get(v);
    const int64_t index = value->index();
    switch (value->storage()) {
      case exe::StorageKind::PARAMETER: ptr[v] = bindings.parameters[index]; break;
      case exe::StorageKind::OUTPUT: ptr[v] = bindings.outputs[index]; break;
      case exe::StorageKind::TEMP: ptr[v] = static_cast<uint8_t*>(bindings.arena) + index; break;
      case exe::StorageKind::CONSTANT:
        // Read-only: the loader rejects kernels writing constants.
        ptr[v] = const_cast<uint8_t*>(program.constant_data(static_cast<int>(index)));
        break;
    }
  }

  Timeline timeline(config, device_id, launch_id, start_s, program.name());
  // Aliased outputs start out holding their parameter (in place when the argument was donated).
  for (int o = 0; o < program.num_outputs(); ++o) {
    const int p = program.output_aliased_parameter(o);
    if (p < 0 || bindings.outputs[o] == bindings.parameters[p]) continue;
    const int64_t bytes = program.output(o).byte_size();
    if (bytes > 0) std::memcpy(bindings.outputs[o], bindings.parameters[p], bytes);
    timeline.Add("alias_copy.param" + std::to_string(p), "copy", "", CopyWork(bytes));
  }

  Host host(program, ptr, timeline, where);
  CHIP_RETURN_IF_ERROR(host.RunKernels(program.kernels()));

  // Outputs whose value lives elsewhere (a parameter, a constant, another output) are copied.
  for (int o = 0; o < program.num_outputs(); ++o) {
    const int v = fb.outputs()->Get(o)->value();
    const exe::Value* value = fb.values()->Get(v);
    if (value->storage() == exe::StorageKind::OUTPUT && value->index() == o) continue;
    const int64_t bytes = program.output(o).byte_size();
    if (bytes > 0 && ptr[v] != bindings.outputs[o]) std::memmove(bindings.outputs[o], ptr[v], bytes);
    timeline.Add("output_copy." + std::to_string(o), "copy", "", CopyWork(bytes));
  }
  return timeline.result();
}

}  // namespace chip
