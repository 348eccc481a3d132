// stablehlo.fft (chip::exe::Fft): FFT, IFFT, RFFT and IRFFT over the trailing 1-3 dimensions, on
// planar complex f32 values (real and imaginary parts as separate tensors).
#pragma once

#include "pjrt_plugin/core/status.h"
#include "pjrt_plugin/kernels/tensor_ref.h"

namespace chip {
namespace exe { struct Fft; }
namespace kernels {

// FFT/IFFT: inputs (re, im), outputs (re, im), all f32 of one shape [..., n1..nk] with
// fft_length = [n1..nk]. RFFT: input x [..., n1..nk] -> (re, im) [..., n1, .., nk/2+1].
// IRFFT: (re, im) [..., n1, .., nk/2+1] -> x [..., n1..nk]. 1 <= k <= 3.
Status ValidateFft(const exe::Fft& op, const TensorInfos& inputs, const TensorInfos& outputs);
Status RunFft(const exe::Fft& op, const TensorRefs& inputs, const TensorRefs& outputs);

}  // namespace kernels
}  // namespace chip
