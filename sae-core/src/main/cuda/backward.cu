// Backward pieces of the sparse SAE: gradients at the active latents (gatherDots) and the sparse outer-product
// accumulation into whole latent rows (scatterOuter), plus the grouping of code entries by latent that makes the
// accumulation deterministic without atomics.
//
// Grouping: every entry p gets the 64-bit key (latent << 32 | p); a bitonic sort orders the keys by latent and,
// within a latent, by entry (= by row). Each latent's segment is then summed by one block in that order, so the
// result is bitwise reproducible and independent of the launch shape. Rows are padded to ld floats.

#include "common.cuh"

using namespace sae;

extern "C" {

// entryRow[p] = r for every entry of row r (CSR codes).
__global__ void entry_rows(const int* __restrict__ indptr, int rows, int* __restrict__ entryRow) {
    for (int r = blockIdx.x * blockDim.x + threadIdx.x; r < rows; r += gridDim.x * blockDim.x) {
        for (int p = indptr[r]; p < indptr[r + 1]; ++p) {
            entryRow[p] = r;
        }
    }
}

// dValues[p] = dOut[row(p)] . w[idx[p]]; one warp per entry. row(p) = entryRow[p], or p / kFixed when entryRow is
// null.
__global__ void gather_dots(const int* __restrict__ entryRow, int kFixed, const int* __restrict__ idx, int nnz,
                            const float* __restrict__ dOut, const float* __restrict__ w, int ld,
                            float* __restrict__ dValues) {
    const long gw = (blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x) >> 5;
    const int lane = threadIdx.x & 31;
    if (gw >= nnz) {
        return;
    }
    const int p = static_cast<int>(gw);
    const int row = entryRow ? entryRow[p] : p / kFixed;
    const int ld4 = ld >> 2;
    const float4* g = reinterpret_cast<const float4*>(dOut) + static_cast<size_t>(row) * ld4;
    const float4* v = reinterpret_cast<const float4*>(w) + static_cast<size_t>(idx[p]) * ld4;
    float s = 0.0f;
    for (int c = lane; c < ld4; c += 32) {
        const float4 a = g[c];
        const float4 b = v[c];
        s = fmaf(a.x, b.x, s);
        s = fmaf(a.y, b.y, s);
        s = fmaf(a.z, b.z, s);
        s = fmaf(a.w, b.w, s);
    }
    s = warp_sum(s);
    if (lane == 0) {
        dValues[p] = s;
    }
}

// keys[p] = idx[p] << 32 | p for p < nnz; the padding up to n (a power of two) sorts last.
__global__ void latent_keys(const int* __restrict__ idx, int nnz, int n, unsigned long long* __restrict__ keys) {
    for (int p = blockIdx.x * blockDim.x + threadIdx.x; p < n; p += gridDim.x * blockDim.x) {
        keys[p] = p < nnz ? (static_cast<unsigned long long>(static_cast<uint32_t>(idx[p])) << 32) |
                                static_cast<uint32_t>(p)
                          : ~0ull;
    }
}

// Bitonic sort, phase 1: every tile of `tile` keys (a power of two <= SORT_TILE) sorted in shared memory, in the
// direction the later global merges expect (ascending where (tileStart & size) == 0 for every size up to tile).
__global__ void __launch_bounds__(SORT_THREADS) bitonic_sort_tiles(unsigned long long* keys, int tile) {
    __shared__ unsigned long long s[SORT_TILE];
    const size_t base = static_cast<size_t>(blockIdx.x) * tile;
    for (int i = threadIdx.x; i < tile; i += blockDim.x) {
        s[i] = keys[base + i];
    }
    __syncthreads();
    for (int size = 2; size <= tile; size <<= 1) {
        for (int stride = size >> 1; stride > 0; stride >>= 1) {
            for (int t = threadIdx.x; t < (tile >> 1); t += blockDim.x) {
                const int i = 2 * t - (t & (stride - 1));
                const int j = i + stride;
                const bool ascending = ((base + i) & size) == 0;
                const unsigned long long x = s[i];
                const unsigned long long y = s[j];
                if ((x > y) == ascending) {
                    s[i] = y;
                    s[j] = x;
                }
            }
            __syncthreads();
        }
    }
    for (int i = threadIdx.x; i < tile; i += blockDim.x) {
        keys[base + i] = s[i];
    }
}

// Bitonic merge step of block size `size` at one stride >= tile, in global memory; one thread per pair.
__global__ void bitonic_merge_global(unsigned long long* keys, int n, int size, int stride) {
    const int half = n >> 1;
    for (int t = blockIdx.x * blockDim.x + threadIdx.x; t < half; t += gridDim.x * blockDim.x) {
        const int i = 2 * t - (t & (stride - 1));
        const int j = i + stride;
        const bool ascending = (i & size) == 0;
        const unsigned long long x = keys[i];
        const unsigned long long y = keys[j];
        if ((x > y) == ascending) {
            keys[i] = y;
            keys[j] = x;
        }
    }
}

// The strides below `tile` of the merge of block size `size` (> tile), in shared memory, one tile per block.
__global__ void __launch_bounds__(SORT_THREADS) bitonic_merge_tiles(unsigned long long* keys, int tile, int size) {
    __shared__ unsigned long long s[SORT_TILE];
    const size_t base = static_cast<size_t>(blockIdx.x) * tile;
    const bool ascending = (base & size) == 0;
    for (int i = threadIdx.x; i < tile; i += blockDim.x) {
        s[i] = keys[base + i];
    }
    __syncthreads();
    for (int stride = tile >> 1; stride > 0; stride >>= 1) {
        for (int t = threadIdx.x; t < (tile >> 1); t += blockDim.x) {
            const int i = 2 * t - (t & (stride - 1));
            const int j = i + stride;
            const unsigned long long x = s[i];
            const unsigned long long y = s[j];
            if ((x > y) == ascending) {
                s[i] = y;
                s[j] = x;
            }
        }
        __syncthreads();
    }
    for (int i = threadIdx.x; i < tile; i += blockDim.x) {
        keys[base + i] = s[i];
    }
}

// After the sort: latent j's entries are keys[segStart[j] .. segEnd[j]). Both arrays must be zeroed first.
__global__ void segment_bounds(const unsigned long long* __restrict__ keys, int nnz, int* __restrict__ segStart,
                               int* __restrict__ segEnd) {
    for (int q = blockIdx.x * blockDim.x + threadIdx.x; q < nnz; q += gridDim.x * blockDim.x) {
        const uint32_t lat = static_cast<uint32_t>(keys[q] >> 32);
        if (q == 0 || static_cast<uint32_t>(keys[q - 1] >> 32) != lat) {
            segStart[lat] = q;
        }
        if (q == nnz - 1 || static_cast<uint32_t>(keys[q + 1] >> 32) != lat) {
            segEnd[lat] = q + 1;
        }
    }
}

// dW[j] += sum over latent j's entries p (ascending row) of coef[p] * (src[row(p)] - shift); dBias[j] += sum of
// coef[p]. One block per latent; shift and dBias may be null.
__global__ void scatter_outer(const unsigned long long* __restrict__ keys, const int* __restrict__ segStart,
                              const int* __restrict__ segEnd, const int* __restrict__ entryRow, int kFixed,
                              const float* __restrict__ coef, const float* __restrict__ src,
                              const float* __restrict__ shift, int ld, float* __restrict__ dW,
                              float* __restrict__ dBias) {
    const int j = blockIdx.x;
    const int s = segStart[j];
    const int e = segEnd[j];
    if (s == e) {
        return;
    }
    const int ld4 = ld >> 2;
    const float4* src4 = reinterpret_cast<const float4*>(src);
    const float4* sh4 = reinterpret_cast<const float4*>(shift);
    float4* w4 = reinterpret_cast<float4*>(dW) + static_cast<size_t>(j) * ld4;
    for (int c = threadIdx.x; c < ld4; c += blockDim.x) {
        const float4 sh = shift ? sh4[c] : make_float4(0.f, 0.f, 0.f, 0.f);
        float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll 4
        for (int q = s; q < e; ++q) {
            const int p = static_cast<int>(keys[q] & 0xffffffffu);
            const float a = coef[p];
            if (a != 0.0f) {
                const int row = entryRow ? entryRow[p] : p / kFixed;
                const float4 x = src4[static_cast<size_t>(row) * ld4 + c];
                acc.x = fmaf(a, x.x - sh.x, acc.x);
                acc.y = fmaf(a, x.y - sh.y, acc.y);
                acc.z = fmaf(a, x.z - sh.z, acc.z);
                acc.w = fmaf(a, x.w - sh.w, acc.w);
            }
        }
        float4 cur = w4[c];
        cur.x += acc.x;
        cur.y += acc.y;
        cur.z += acc.z;
        cur.w += acc.w;
        w4[c] = cur;
    }
    if (dBias && threadIdx.x == 0) {
        float sum = 0.0f;
        for (int q = s; q < e; ++q) {
            sum += coef[static_cast<int>(keys[q] & 0xffffffffu)];
        }
        dBias[j] += sum;
    }
}

}  // extern "C"
