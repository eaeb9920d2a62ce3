// AuxK: the top-kAux pre-activations among dead latents reconstruct the main residual (Gao et al. 2024).
//
// The dead latents' encoder rows and biases are gathered into compact operands, so the encoder kernels (encode.cu)
// select over numDead columns only and map the winners back through the dead-id list. This file holds the gathers
// and the AuxK residual: its squared error (the loss numerator) and its gradient, in one pass.

#include "common.cuh"

using namespace sae;

extern "C" {

// dst[j] = src[ids[j]] for rows of ld floats; one block per gathered row.
__global__ void gather_rows(const float* __restrict__ src, int ld, const int* __restrict__ ids,
                            float* __restrict__ dst) {
    const int j = blockIdx.x;
    const int ld4 = ld >> 2;
    const float4* s = reinterpret_cast<const float4*>(src) + static_cast<size_t>(ids[j]) * ld4;
    float4* d = reinterpret_cast<float4*>(dst) + static_cast<size_t>(j) * ld4;
    for (int c = threadIdx.x; c < ld4; c += blockDim.x) {
        d[c] = s[c];
    }
}

// dst[j] = src[ids[j]] for j < n.
__global__ void gather_values(const float* __restrict__ src, const int* __restrict__ ids, int n,
                              float* __restrict__ dst) {
    for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < n; j += gridDim.x * blockDim.x) {
        dst[j] = src[ids[j]];
    }
}

// diff = auxHat - (x - xHat); grad = gradScale * diff; partials[block] = sum of diff^2 over the block's elements
// (grid-stride, fixed grid: the sum is reproducible). Padded columns are zero in all three inputs.
__global__ void auxk_residual(const float* __restrict__ x, const float* __restrict__ xHat,
                              const float* __restrict__ auxHat, long n, float gradScale, float* __restrict__ grad,
                              double* __restrict__ partials) {
    __shared__ double scratch[32];
    double acc = 0.0;
    for (long i = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<long>(gridDim.x) * blockDim.x) {
        const float diff = auxHat[i] - (x[i] - xHat[i]);
        acc += static_cast<double>(diff) * diff;
        grad[i] = gradScale * diff;
    }
    const double total = block_sum(acc, scratch);
    if (threadIdx.x == 0) {
        partials[blockIdx.x] = total;
    }
}

}  // extern "C"
