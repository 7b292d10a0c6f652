// Kernels for clock_coupling.py, called through ctypes on streams PyTorch owns (green contexts'
// streams among them: launches through the runtime run on a green context's SMs, as dma_probe.cu's
// did; a CuPy module is loaded in the primary context and may be refused such a stream).
//
//   nvcc -O2 -arch=sm_90a -shared -Xcompiler -fPIC -cudart static -o libclockprobe.so clock_probe.cu
//
// The same two kernels sm_scaling.py runs through CuPy: a grid-stride float4 copy whose blocks ask
// for 120 KB of shared memory so no SM holds two (launched with one block per SM of the lane), and
// a one-thread pointer chase.
#include <cuda_runtime.h>

__global__ void copy_u1(const float4* __restrict__ a, float4* __restrict__ c, long long n4) {
  extern __shared__ float pad[];  // only to keep one block per SM
  long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
  long long stride = (long long)gridDim.x * blockDim.x;
  for (; i < n4; i += stride) c[i] = a[i];
  if (n4 < 0) pad[threadIdx.x] = 0.f;
}

__global__ void chase(const unsigned long long* __restrict__ next, unsigned long long start, long long steps,
                      unsigned long long* out) {
  unsigned long long p = start;
  for (long long i = 0; i < steps; i++) p = next[p];
  out[0] = p;
}

static const int kCopySharedBytes = 120 * 1024;

extern "C" {

// Returns the cudaError_t of the launch (0 is success).
int probe_persistent_copy(const void* a, void* c, long long n4, int blocks, void* stream) {
  static bool attribute_set = false;
  if (!attribute_set) {
    cudaError_t err = cudaFuncSetAttribute(copy_u1, cudaFuncAttributeMaxDynamicSharedMemorySize, kCopySharedBytes);
    if (err != cudaSuccess) return static_cast<int>(err);
    attribute_set = true;
  }
  copy_u1<<<blocks, 1024, kCopySharedBytes, static_cast<cudaStream_t>(stream)>>>(
      static_cast<const float4*>(a), static_cast<float4*>(c), n4);
  return static_cast<int>(cudaGetLastError());
}

int probe_chase(const void* next, unsigned long long start, long long steps, void* out, void* stream) {
  chase<<<1, 1, 0, static_cast<cudaStream_t>(stream)>>>(static_cast<const unsigned long long*>(next), start, steps,
                                                      static_cast<unsigned long long*>(out));
  return static_cast<int>(cudaGetLastError());
}

const char* probe_error_string(int err) { return cudaGetErrorString(static_cast<cudaError_t>(err)); }

}
