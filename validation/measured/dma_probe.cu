// Copy primitives for dma_engines.py, called through ctypes on streams PyTorch owns.
//
//   nvcc -O2 -arch=sm_90a -shared -Xcompiler -fPIC -cudart static -o libdmaprobe.so dma_probe.cu
//
// Why a library of its own: a device-to-device cudaMemcpyAsync on one GPU does not go to a copy
// engine. It runs on the SMs (sm_scaling.py's green contexts slow it with the SM count: 637 GB/s
// on 8 SMs, 4.1 TB/s on 132) although no kernel of it shows in ncu. CUDA 12.8 added
// cudaMemcpyBatchAsync, whose cudaMemcpyFlagPreferOverlapWithCompute asks the driver to leave the
// SMs to compute, i.e. to use a copy engine, the DMA engine silica models. PyTorch exposes
// neither, so this file does, plus a kernel that holds every SM's thread slots for a given time
// (to tell an SM copy, which must wait for it, from a copy engine's, which need not).
#include <cuda_runtime.h>
#include <cstdio>

static int hints_refused = 0;

extern "C" {

// mode -1: cudaMemcpyAsync; 0: cudaMemcpyBatchAsync with no flag; 1: with PreferOverlapWithCompute.
// Returns the cudaError_t (0 is success).
int probe_copy(void* dst, const void* src, size_t bytes, void* stream, int mode) {
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  if (mode < 0) return static_cast<int>(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, s));
  cudaMemcpyAttributes attr = {};
  attr.srcAccessOrder = cudaMemcpySrcAccessOrderStream;
  attr.srcLocHint.type = cudaMemLocationTypeDevice;
  attr.srcLocHint.id = 0;
  attr.dstLocHint.type = cudaMemLocationTypeDevice;
  attr.dstLocHint.id = 0;
  attr.flags = mode == 1 ? cudaMemcpyFlagPreferOverlapWithCompute : cudaMemcpyFlagDefault;
  void* dsts[1] = {dst};
  const void* srcs[1] = {src};
  size_t sizes[1] = {bytes};
  size_t attrIdx[1] = {0};
  cudaError_t err = cudaMemcpyBatchAsync(dsts, srcs, sizes, 1, &attr, attrIdx, 1, s);
  if (err == cudaErrorInvalidValue) {  // in case a driver refuses location hints on plain allocations
    cudaGetLastError();
    attr.srcLocHint = {};
    attr.dstLocHint = {};
    err = cudaMemcpyBatchAsync(dsts, srcs, sizes, 1, &attr, attrIdx, 1, s);
    if (err == cudaSuccess) hints_refused = 1;
  }
  return static_cast<int>(err);
}

int probe_hints_refused() { return hints_refused; }

// Spins until `ns` nanoseconds of the global timer have passed since the block started. Launched
// with 2 blocks of 1024 threads per SM (the SM's 2048 thread slots), nothing else can be resident.
__global__ void spin_kernel(unsigned long long ns, unsigned long long* sink) {
  unsigned long long t0, t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t0));
  do {
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  } while (t - t0 < ns);
  if (threadIdx.x == 0 && t == 0) *sink = t;  // never true; keeps the loop
}

int probe_spin(void* stream, int blocks, unsigned long long ns, void* sink) {
  spin_kernel<<<blocks, 1024, 0, static_cast<cudaStream_t>(stream)>>>(ns, static_cast<unsigned long long*>(sink));
  return static_cast<int>(cudaGetLastError());
}

// Other ways to move device bytes, in search of one the driver gives a copy engine (method numbers
// as dma_engines.py's CE_CANDIDATES): 2: cudaMemcpy2DAsync, rows of `row_bytes`, dense; 3: the
// same with every other half-row (pitch 2 x width), `bytes` counting what moves; 4: into a 2D
// CUDA array (block-linear, which copy engines can write); 5: out of it; 6: cudaMemcpyPeerAsync
// from the device to itself; 7: cudaMemcpyAsync with the DeviceToDevice kind named.
int probe_copy_method(int method, void* dst, const void* src, size_t bytes, size_t row_bytes, void* stream, void* array) {
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  cudaArray_t arr = static_cast<cudaArray_t>(array);
  size_t rows = bytes / row_bytes;
  switch (method) {
    case 2: return static_cast<int>(cudaMemcpy2DAsync(dst, row_bytes, src, row_bytes, row_bytes, rows, cudaMemcpyDeviceToDevice, s));
    case 3: return static_cast<int>(cudaMemcpy2DAsync(dst, 2 * row_bytes, src, 2 * row_bytes, row_bytes, rows, cudaMemcpyDeviceToDevice, s));
    case 4: return static_cast<int>(cudaMemcpy2DToArrayAsync(arr, 0, 0, src, row_bytes, row_bytes, rows, cudaMemcpyDeviceToDevice, s));
    case 5: return static_cast<int>(cudaMemcpy2DFromArrayAsync(dst, row_bytes, arr, 0, 0, row_bytes, rows, cudaMemcpyDeviceToDevice, s));
    case 6: return static_cast<int>(cudaMemcpyPeerAsync(dst, 0, src, 0, bytes, s));
    case 7: return static_cast<int>(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, s));
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
}

// A 2D CUDA array of float4 elements, `row_bytes` wide and `rows` high (nullptr on failure).
void* probe_array_create(size_t row_bytes, size_t rows) {
  cudaChannelFormatDesc desc = cudaCreateChannelDesc<float4>();
  cudaArray_t arr = nullptr;
  if (cudaMallocArray(&arr, &desc, row_bytes / sizeof(float4), rows) != cudaSuccess) return nullptr;
  return arr;
}

void probe_array_destroy(void* array) { cudaFreeArray(static_cast<cudaArray_t>(array)); }

const char* probe_error_string(int err) { return cudaGetErrorString(static_cast<cudaError_t>(err)); }

int probe_runtime_version() {
  int v = 0;
  cudaRuntimeGetVersion(&v);
  return v;
}

int probe_async_engine_count() {
  int dev = 0, n = -1;
  cudaGetDevice(&dev);
  cudaDeviceGetAttribute(&n, cudaDevAttrAsyncEngineCount, dev);
  return n;
}
}
