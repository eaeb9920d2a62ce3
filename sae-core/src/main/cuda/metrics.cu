// Reductions for the loss and the metrics: squared error (with the scaled residual as the loss gradient),
// per-column moments (for the variance that normalises FVU), L0 and per-latent firing counts.
//
// Float sums are accumulated in double per thread and reduced in a fixed order: with the grid Java chooses from the
// shape and the device, a result is bitwise reproducible. Counts are integers (atomics are exact).

#include "common.cuh"

using namespace sae;

extern "C" {

// e = xHat - x; partials[block] = sum e^2; grad = gradScale * e when grad is not null. Flat over n padded elements.
__global__ void residual_sse(const float* __restrict__ x, const float* __restrict__ xHat, long n, float gradScale,
                             float* __restrict__ grad, double* __restrict__ partials) {
    __shared__ double scratch[32];
    double acc = 0.0;
    for (long i = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<long>(gridDim.x) * blockDim.x) {
        const float e = xHat[i] - x[i];
        acc += static_cast<double>(e) * e;
        if (grad) {
            grad[i] = gradScale * e;
        }
    }
    const double total = block_sum(acc, scratch);
    if (threadIdx.x == 0) {
        partials[blockIdx.x] = total;
    }
}

// out[0] = sum of partials[0 .. n) in a fixed order; one block.
__global__ void sum_partials(const double* __restrict__ partials, int n, double* __restrict__ out) {
    __shared__ double scratch[32];
    double acc = 0.0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        acc += partials[i];
    }
    const double total = block_sum(acc, scratch);
    if (threadIdx.x == 0) {
        out[0] = total;
    }
}

// Column sums of x (rows x ld) and of (x - center)^2 (center may be null: plain squares), per chunk of
// COLUMN_CHUNK_ROWS rows: partial[chunk * ld + c] and partialSq[...]. Grid (ceil(ld / blockDim), chunks).
__global__ void column_moments(const float* __restrict__ x, int rows, int ld, const double* __restrict__ center,
                               double* __restrict__ partial, double* __restrict__ partialSq) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= ld) {
        return;
    }
    const int chunk = blockIdx.y;
    const int r0 = chunk * COLUMN_CHUNK_ROWS;
    const int r1 = min(rows, r0 + COLUMN_CHUNK_ROWS);
    const double mu = center ? center[c] : 0.0;
    double s = 0.0;
    double sq = 0.0;
    for (int r = r0; r < r1; ++r) {
        const double v = x[static_cast<size_t>(r) * ld + c];
        s += v;
        sq += (v - mu) * (v - mu);
    }
    partial[static_cast<size_t>(chunk) * ld + c] = s;
    partialSq[static_cast<size_t>(chunk) * ld + c] = sq;
}

// out[c] = sum over chunks of partial[chunk * ld + c], in chunk order.
__global__ void sum_column_partials(const double* __restrict__ partial, int chunks, int ld, double* __restrict__ out) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= ld) {
        return;
    }
    double s = 0.0;
    for (int k = 0; k < chunks; ++k) {
        s += partial[static_cast<size_t>(k) * ld + c];
    }
    out[c] = s;
}

// Over nnz code entries: positive[0] += #(val > 0); fired[j] += #(entries of j with val > 0) and selected[j] +=
// #(entries of j) when those arrays are not null.
__global__ void code_stats(const int* __restrict__ idx, const float* __restrict__ val, int nnz,
                           unsigned long long* __restrict__ positive, int* __restrict__ fired,
                           int* __restrict__ selected) {
    __shared__ int scratch[32];
    int count = 0;
    for (int p = blockIdx.x * blockDim.x + threadIdx.x; p < nnz; p += gridDim.x * blockDim.x) {
        const int j = idx[p];
        const bool pos = val[p] > 0.0f;
        count += pos ? 1 : 0;
        if (pos && fired) {
            atomicAdd(&fired[j], 1);
        }
        if (selected) {
            atomicAdd(&selected[j], 1);
        }
    }
    const int total = block_sum(count, scratch);
    if (threadIdx.x == 0 && total > 0) {
        atomicAdd(positive, static_cast<unsigned long long>(total));
    }
}

}  // extern "C"
