#include "pjrt_plugin/runtime/executor.h"

#include <cstring>
#include <exception>
#include <functional>
#include <new>
#include <string>

#include "pjrt_plugin/kernels/aligned_buffer.h"
#include "pjrt_plugin/kernels/concatenate.h"
#include "pjrt_plugin/kernels/convolution.h"
#include "pjrt_plugin/kernels/copy.h"
#include "pjrt_plugin/kernels/custom_call.h"
#include "pjrt_plugin/kernels/dot_general.h"
#include "pjrt_plugin/kernels/elementwise.h"
#include "pjrt_plugin/kernels/indexing.h"
#include "pjrt_plugin/kernels/reduce.h"
#include "pjrt_plugin/runtime/control_flow.h"
#include "pjrt_plugin/runtime/cost_model.h"
#include "pjrt_plugin/runtime/trace.h"
#include "pjrt_plugin/schema/chip_executable_generated.h"

namespace chip {
namespace {

const char* Category(exe::KernelOp op) {
  switch (op) {
    case exe::KernelOp::Elementwise: return "elementwise";
    case exe::KernelOp::DotGeneral: return "dot_general";
    case exe::KernelOp::Reduce: return "reduce";
    case exe::KernelOp::Concatenate: return "concatenate";
    case exe::KernelOp::Copy: return "copy";
    case exe::KernelOp::While: return "while";
    case exe::KernelOp::Case: return "case";
    case exe::KernelOp::CustomCall: return "custom_call";
    case exe::KernelOp::Convolution: return "convolution";
    default: {
      const char* c = kernels::IndexingCategory(op);
      return c ? c : "unknown";
    }
  }
}

bool Overlaps(const kernels::TensorRef& a, const kernels::TensorRef& b) {
  const int64_t na = a.info->byte_size(), nb = b.info->byte_size();
  if (na <= 0 || nb <= 0 || a.data == nullptr || b.data == nullptr) return false;
  const uintptr_t pa = reinterpret_cast<uintptr_t>(a.data), pb = reinterpret_cast<uintptr_t>(b.data);
  return pa < pb + static_cast<uintptr_t>(nb) && pb < pa + static_cast<uintptr_t>(na);
}

// Runs a kernel whose outputs must not overlap its inputs: overlapping outputs are computed into
// host scratch and copied into place afterwards.
template <typename Fn>
Status RunStaged(const kernels::TensorRefs& ins, const kernels::TensorRefs& outs, Fn run) {
  kernels::TensorRefs staged_outs = outs;
  std::vector<kernels::AlignedBuffer> scratch(outs.size());
  for (size_t o = 0; o < outs.size(); ++o) {
    for (const kernels::TensorRef& in : ins) {
      if (Overlaps(in, outs[o])) {
        scratch[o].Resize(static_cast<size_t>(outs[o].info->byte_size()));
        staged_outs[o].data = scratch[o].data();
        break;
      }
    }
  }
  CHIP_RETURN_IF_ERROR(run(staged_outs));
  for (size_t o = 0; o < outs.size(); ++o) {
    if (scratch[o].data() != nullptr) std::memcpy(outs[o].data, scratch[o].data(), outs[o].info->byte_size());
  }
  return Status::Ok();
}

// `work` starts as the kernel's static cost; kernels whose work depends on the data add theirs.
Status Dispatch(const exe::Kernel& kernel, const kernels::TensorRefs& ins, const kernels::TensorRefs& outs,
                KernelWork* work) {
  switch (kernel.op_type()) {
    case exe::KernelOp::CustomCall:
      return kernels::RunCustomCall(*kernel.op_as_CustomCall(), ins, outs, work);
    case exe::KernelOp::Elementwise:
      return kernels::RunElementwise(*kernel.op_as_Elementwise(), ins, outs);
    case exe::KernelOp::DotGeneral:
      return RunStaged(ins, outs, [&](const kernels::TensorRefs& o) {
        return kernels::RunDotGeneral(*kernel.op_as_DotGeneral(), ins, o);
      });
    case exe::KernelOp::Reduce:
      return RunStaged(ins, outs, [&](const kernels::TensorRefs& o) {
        return kernels::RunReduce(*kernel.op_as_Reduce(), ins, o);
      });
    case exe::KernelOp::Concatenate:
      return RunStaged(ins, outs, [&](const kernels::TensorRefs& o) {
        return kernels::RunConcatenate(*kernel.op_as_Concatenate(), ins, o);
      });
    case exe::KernelOp::Copy:
      return kernels::RunCopy(*kernel.op_as_Copy(), ins, outs);
    case exe::KernelOp::Convolution:
      return RunStaged(ins, outs, [&](const kernels::TensorRefs& o) {
        return kernels::RunConvolution(*kernel.op_as_Convolution(), ins, o);
      });
    default:
      if (kernels::IsIndexingKernel(kernel.op_type())) return kernels::RunIndexingKernel(kernel, ins, outs);
      return Unimplemented("kernel op " + std::to_string(static_cast<int>(kernel.op_type())) + " is not implemented");
  }
}

KernelWork WorkOf(const exe::KernelCost* cost) {
  KernelWork w;
  if (cost == nullptr) return w;
  w.matrix_flops = cost->matrix_flops();
  w.matrix_dtype = cost->matrix_dtype() == exe::DType::INVALID ? DType::kBF16 : static_cast<DType>(cost->matrix_dtype());
  w.vector_flops = cost->vector_flops();
  w.transcendentals = cost->transcendentals();
  w.bytes_read = cost->bytes_read();
  w.bytes_written = cost->bytes_written();
  w.sram_bytes_read = cost->sram_bytes_read();
  w.sram_bytes_written = cost->sram_bytes_written();
  return w;
}

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

  // Runs a kernel list (the program's, or a control-flow region's, recursively).
  ControlFlowContext control;
  std::function<Status(const flatbuffers::Vector<flatbuffers::Offset<exe::Kernel>>*)> run_kernels;
  control.ptr = &ptr;
  control.program = &program;
  control.run_region = [&](const exe::Region& region) { return run_kernels(region.kernels()); };
  control.record_copy = [&](const std::string& name, int64_t bytes) {
    timeline.Add(name, "copy", "", CopyWork(bytes));
  };
  run_kernels = [&](const flatbuffers::Vector<flatbuffers::Offset<exe::Kernel>>* kernel_list) -> Status {
    const int num_kernels = kernel_list ? static_cast<int>(kernel_list->size()) : 0;
    kernels::TensorRefs ins, outs;
    for (int k = 0; k < num_kernels; ++k) {
      const exe::Kernel& kernel = *kernel_list->Get(k);
      if (kernel.op_type() == exe::KernelOp::While || kernel.op_type() == exe::KernelOp::Case) {
        Status cs;
        try {
          cs = kernel.op_type() == exe::KernelOp::While ? RunWhile(kernel, control) : RunCase(kernel, control);
        } catch (const std::bad_alloc&) {
          cs = ResourceExhausted(where + "host memory exhausted in a control-flow kernel");
        }
        if (!cs.ok()) return cs;   // a nested kernel's error already names it
        continue;
      }
      ins.clear();
      outs.clear();
      if (kernel.inputs()) {
        for (int v : *kernel.inputs()) ins.push_back({&program.value(v), ptr[v]});
      }
      if (kernel.outputs()) {
        for (int v : *kernel.outputs()) outs.push_back({&program.value(v), ptr[v]});
      }
      const std::string name = kernel.name() ? kernel.name()->str() : "kernel." + std::to_string(k);
      const std::string source = kernel.source() ? kernel.source()->str() : "";
      KernelWork work = WorkOf(kernel.cost());
      Status s;
      try {
        s = Dispatch(kernel, ins, outs, &work);
      } catch (const std::bad_alloc&) {
        s = ResourceExhausted("host memory exhausted");
      } catch (const std::exception& e) {
        s = Internal(std::string("exception: ") + e.what());
      }
      if (!s.ok()) {
        return Status(s.code(), where + "kernel '" + name + "' (" + Category(kernel.op_type()) + ")" +
                                    (source.empty() ? "" : " from " + source) + " failed: " + s.message());
      }
      timeline.Add(name, Category(kernel.op_type()), source, work);
    }
    return Status::Ok();
  };
  CHIP_RETURN_IF_ERROR(run_kernels(fb.kernels()));

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
