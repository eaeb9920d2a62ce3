// Shared constants and device helpers of the SAEForge kernels.
//
// The constants below are mirrored in org.saeforge.core.kernels.cuda.LaunchMath; LaunchMathTest parses this file
// and fails when the two disagree, so change both together.
#pragma once

#include <cstdint>
#include <cuda_bf16.h>

namespace sae {

// Device matrices with dIn columns have this leading dimension granularity (elements), zero-padded: every row then
// starts 16-byte aligned and the GEMM K loop needs no tail.
constexpr int K_PAD = 32;

// Encoder GEMM: block tile GEMM_BM x GEMM_BN, GEMM_THREADS threads (8 warps as 2 x 4, warp tile 64 x 32).
constexpr int GEMM_BM = 128;
constexpr int GEMM_BN = 128;
constexpr int GEMM_THREADS = 256;
// Bytes of K per pipeline stage and operand row: 32 bf16 or 16 fp32 (tensor-core paths).
constexpr int GEMM_STAGE_K_BYTES = 64;
constexpr int GEMM_STAGES = 4;
// Stages of the Hopper (wgmma) mainloop; loads run GEMM_WG_STAGES - 2 ahead (tuned on an H100: benchmarks/gpu/wgmma_tune.cu).
constexpr int GEMM_WG_STAGES = 5;
// fp32 SIMT path: K elements per tile.
constexpr int GEMM_SIMT_BK = 8;
// Row stride (floats) of the epilogue tile in shared memory; +8 keeps fragment stores free of bank conflicts.
constexpr int EPI_LD = GEMM_BN + 8;
// Largest k the fused GEMM + top-k epilogue keeps per row (lists of 32 * KPL entries, KPL in {1, 2}).
constexpr int TOPK_FUSED_MAX = 64;

// Row-wise top-k selection (merge of candidates, or dense rows).
constexpr int TOPK_ROWS_THREADS = 512;
constexpr int TOPK_SORT_MAX = 4096;

// Bitonic sort of 64-bit keys: elements per shared-memory tile, threads per block.
constexpr int SORT_TILE = 2048;
constexpr int SORT_THREADS = 1024;

// Generic block size of row-wise and element-wise kernels.
constexpr int ROW_THREADS = 256;
// Row chunks of the deterministic column reductions.
constexpr int COLUMN_CHUNK_ROWS = 128;

constexpr unsigned FULL_MASK = 0xffffffffu;

// Maps a float to an unsigned key whose unsigned order is the float order. NaN ranks below every number; -0 and
// +0 map to one key, so "equal" means the same for keys and floats.
__device__ __forceinline__ uint32_t order_key(float v) {
    if (v != v) {
        return 0u;
    }
    if (v == 0.0f) {
        v = 0.0f;
    }
    uint32_t b = __float_as_uint(v);
    return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

// Inverse of order_key (NaN comes back as a NaN).
__device__ __forceinline__ float key_value(uint32_t key) {
    uint32_t b = (key & 0x80000000u) ? (key & 0x7fffffffu) : ~key;
    return __uint_as_float(b);
}

// The selection order of the whole project: larger value first, on equal values the lower latent index first.
__device__ __forceinline__ bool better(uint32_t keyA, int idxA, uint32_t keyB, int idxB) {
    return keyA > keyB || (keyA == keyB && idxA < idxB);
}

// A 64-bit word whose ascending order is the selection order.
__device__ __forceinline__ unsigned long long selection_word(uint32_t key, int idx) {
    return (static_cast<unsigned long long>(~key) << 32) | static_cast<uint32_t>(idx);
}

__device__ __forceinline__ uint32_t word_key(unsigned long long w) {
    return ~static_cast<uint32_t>(w >> 32);
}

__device__ __forceinline__ int word_index(unsigned long long w) {
    return static_cast<int>(static_cast<uint32_t>(w & 0xffffffffu));
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        v += __shfl_xor_sync(FULL_MASK, v, o);
    }
    return v;
}

__device__ __forceinline__ int warp_sum(int v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        v += __shfl_xor_sync(FULL_MASK, v, o);
    }
    return v;
}

__device__ __forceinline__ double warp_sum(double v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        v += __shfl_xor_sync(FULL_MASK, v, o);
    }
    return v;
}

// Sum over the block in a fixed order (deterministic). Every thread gets the result. scratch holds 32 values.
template <typename T>
__device__ __forceinline__ T block_sum(T v, T* scratch) {
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int warps = (blockDim.x + 31) >> 5;
    v = warp_sum(v);
    __syncthreads();  // scratch may still be read by a previous call
    if (lane == 0) {
        scratch[warp] = v;
    }
    __syncthreads();
    T total = lane < warps ? scratch[lane] : T(0);
    total = warp_sum(total);
    return total;
}

__device__ __forceinline__ unsigned lanemask_lt() {
    unsigned m;
    asm("mov.u32 %0, %%lanemask_lt;" : "=r"(m));
    return m;
}

}  // namespace sae
