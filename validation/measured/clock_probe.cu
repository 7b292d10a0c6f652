// Kernels for clock_coupling.py, called through ctypes on streams PyTorch owns (green contexts'
// streams among them: launches through the runtime run on a green context's SMs, as dma_probe.cu's
// did; a CuPy module is loaded in the primary context and may be refused such a stream).
//
//   nvcc -O2 -arch=sm_90a -shared -Xcompiler -fPIC -cudart static -o libclockprobe.so clock_probe.cu
//
// The same two kernels sm_scaling.py runs through CuPy: a grid-stride float4 copy whose blocks ask
// for 120 KB of shared memory so no SM holds two (launched with one block per SM of the lane), and
// a one-thread pointer chase. And a partner that draws power with no memory traffic at all: tensor-
// core products on fragments held in registers (loaded once from a small random buffer, rotated so
// the operands keep changing), so what slows a victim beside it is the clock alone.
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <mma.h>

__global__ void copy_u1(const float4* __restrict__ a, float4* __restrict__ c, long long n4) {
  extern __shared__ float pad[];  // only to keep one block per SM
  long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
  long long stride = (long long)gridDim.x * blockDim.x;
  for (; i < n4; i += stride) c[i] = a[i];
  if (n4 < 0) pad[threadIdx.x] = 0.f;
}

// Read-only and write-only versions of copy_u1, for loaded_latency.py's partners: which of a
// copy's reads and writes lengthen another kernel's loads.
__global__ void read_u1(const float4* __restrict__ a, float4* __restrict__ sink, long long n4) {
  extern __shared__ float pad[];
  long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
  long long stride = (long long)gridDim.x * blockDim.x;
  float acc = 0.f;
  for (; i < n4; i += stride) {
    float4 v = a[i];
    acc += v.x + v.y + v.z + v.w;
  }
  if (acc == 12345.f) sink[0] = make_float4(acc, acc, acc, acc);  // keeps the loads; never true on random data
  if (n4 < 0) pad[threadIdx.x] = 0.f;
}

// read_u1 over the first region4 float4s only (a power of two), walked again and again for n4 loads
// in all: a read stream the L2 holds, as long as any DRAM one (loaded_latency.py's "readl2" partner:
// does a victim slow beside traffic that never reaches DRAM?).
__global__ void read_l2_u1(const float4* __restrict__ a, float4* __restrict__ sink, long long n4, long long region4) {
  extern __shared__ float pad[];
  long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
  long long stride = (long long)gridDim.x * blockDim.x;
  const long long mask = region4 - 1;
  float acc = 0.f;
  for (; i < n4; i += stride) {
    float4 v = a[i & mask];
    acc += v.x + v.y + v.z + v.w;
  }
  if (acc == 12345.f) sink[0] = make_float4(acc, acc, acc, acc);  // keeps the loads; never true on random data
  if (n4 < 0) pad[threadIdx.x] = 0.f;
}

__global__ void write_u1(float4* __restrict__ c, long long n4, float value) {
  extern __shared__ float pad[];
  long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
  long long stride = (long long)gridDim.x * blockDim.x;
  const float4 v = make_float4(value, value, value, value);
  for (; i < n4; i += stride) c[i] = v;
  if (n4 < 0) pad[threadIdx.x] = 0.f;
}

__global__ void chase(const unsigned long long* __restrict__ next, unsigned long long start, long long steps,
                      unsigned long long* out) {
  unsigned long long p = start;
  for (long long i = 0; i < steps; i++) p = next[p];
  out[0] = p;
}

using Accumulators = nvcuda::wmma::fragment<nvcuda::wmma::accumulator, 16, 16, 16, float>;

// Each warp loads two A and two B fragments once (one of 64 distinct 1024-half tiles: 128 KB, in
// L2), then runs `iters` rounds of four 16x16x16 products into c, rotating the operands so they
// keep changing.
__device__ __forceinline__ void mma_products(const __half* __restrict__ operands, long long iters, Accumulators (&c)[4]) {
  using namespace nvcuda;
  wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> a[2];
  wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> b[2];
  const int warp = (blockIdx.x * blockDim.x + threadIdx.x) / 32;
  const __half* base = operands + (warp % 64) * 1024;
  for (int j = 0; j < 2; j++) {
    wmma::load_matrix_sync(a[j], base + j * 256, 16);
    wmma::load_matrix_sync(b[j], base + 512 + j * 256, 16);
  }
  for (int j = 0; j < 4; j++) wmma::fill_fragment(c[j], 0.f);
  for (long long i = 0; i < iters; i++) {
#pragma unroll
    for (int j = 0; j < 4; j++) wmma::mma_sync(c[j], a[j & 1], b[(j >> 1) ^ (i & 1)], c[j]);
  }
}

// mma_spin reads back only element 0 of each thread's accumulators, so the compiler may drop the
// products that feed the other elements: its rate as timed on 124 SMs (1183 TFLOP/s counted as
// written) is above the chip's dense peak, so it did at most half the products it names. That does
// not matter where it only draws power beside a victim (clock_coupling.py); mma_busy, for
// power_probe.py, reads back every element, so its products are all done and can be counted.
__global__ void mma_spin(const __half* __restrict__ operands, long long iters, float* out) {
  Accumulators c[4];
  mma_products(operands, iters, c);
  const int warp = (blockIdx.x * blockDim.x + threadIdx.x) / 32;
  for (int j = 1; j < 4; j++)
    for (int e = 0; e < c[0].num_elements; e++) c[0].x[e] += c[j].x[e];
  if (threadIdx.x % 32 == 0 && c[0].x[0] == 12345.f) out[warp] = c[0].x[0];  // keeps the loop; never true on random data
}

__global__ void mma_busy(const __half* __restrict__ operands, long long iters, float* out) {
  Accumulators c[4];
  mma_products(operands, iters, c);
  const int warp = (blockIdx.x * blockDim.x + threadIdx.x) / 32;
  float sum = 0.f;
  for (int j = 0; j < 4; j++)
    for (int e = 0; e < c[j].num_elements; e++) sum += c[j].x[e];
  if (sum == 12345.f) out[warp] = sum;  // keeps every product; never true on random data
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

// As probe_persistent_copy, reading a only (kind 1) or writing c only (kind 2).
int probe_persistent_stream(int kind, const void* a, void* c, long long n4, int blocks, void* stream) {
  static bool attributes_set = false;
  if (!attributes_set) {
    cudaError_t err = cudaFuncSetAttribute(read_u1, cudaFuncAttributeMaxDynamicSharedMemorySize, kCopySharedBytes);
    if (err == cudaSuccess) err = cudaFuncSetAttribute(write_u1, cudaFuncAttributeMaxDynamicSharedMemorySize, kCopySharedBytes);
    if (err != cudaSuccess) return static_cast<int>(err);
    attributes_set = true;
  }
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  if (kind == 1)
    read_u1<<<blocks, 1024, kCopySharedBytes, s>>>(static_cast<const float4*>(a), static_cast<float4*>(c), n4);
  else
    write_u1<<<blocks, 1024, kCopySharedBytes, s>>>(static_cast<float4*>(c), n4, 1.5f);
  return static_cast<int>(cudaGetLastError());
}

// read_l2_u1: n4 loads of float4 over the first region4 (a power of two) float4s of a.
int probe_read_l2(const void* a, void* sink, long long n4, long long region4, int blocks, void* stream) {
  static bool attribute_set = false;
  if (!attribute_set) {
    cudaError_t err = cudaFuncSetAttribute(read_l2_u1, cudaFuncAttributeMaxDynamicSharedMemorySize, kCopySharedBytes);
    if (err != cudaSuccess) return static_cast<int>(err);
    attribute_set = true;
  }
  read_l2_u1<<<blocks, 1024, kCopySharedBytes, static_cast<cudaStream_t>(stream)>>>(static_cast<const float4*>(a), static_cast<float4*>(sink), n4, region4);
  return static_cast<int>(cudaGetLastError());
}

int probe_chase(const void* next, unsigned long long start, long long steps, void* out, void* stream) {
  chase<<<1, 1, 0, static_cast<cudaStream_t>(stream)>>>(static_cast<const unsigned long long*>(next), start, steps,
                                                      static_cast<unsigned long long*>(out));
  return static_cast<int>(cudaGetLastError());
}

// Blocks of 256 threads (8 warps); the caller launches 4 per SM (32 warps, as registers allow).
int probe_mma_spin(const void* operands, long long iters, int blocks, void* out, void* stream) {
  mma_spin<<<blocks, 256, 0, static_cast<cudaStream_t>(stream)>>>(static_cast<const __half*>(operands), iters,
                                                               static_cast<float*>(out));
  return static_cast<int>(cudaGetLastError());
}

// As probe_mma_spin, with every product kept (mma_busy).
int probe_mma_busy(const void* operands, long long iters, int blocks, void* out, void* stream) {
  mma_busy<<<blocks, 256, 0, static_cast<cudaStream_t>(stream)>>>(static_cast<const __half*>(operands), iters,
                                                               static_cast<float*>(out));
  return static_cast<int>(cudaGetLastError());
}

const char* probe_error_string(int err) { return cudaGetErrorString(static_cast<cudaError_t>(err)); }

}
