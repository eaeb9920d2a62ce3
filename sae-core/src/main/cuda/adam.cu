// Adam (PyTorch semantics) and the decoder constraint of sparsify: the gradient component parallel to each decoder
// row is removed before the step, and the rows are renormalised after it.
//
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  p -= stepSize * m / (sqrt(v) * invBc2 + eps)
// with stepSize = lr / (1 - b1^t) and invBc2 = 1 / sqrt(1 - b2^t), computed on the host in double.

#include "common.cuh"

using namespace sae;

namespace {

__device__ __forceinline__ float adam_one(float& p, float g, float& m, float& v, float b1, float b2, float stepSize,
                                          float invBc2, float eps) {
    const float mi = b1 * m + (1.0f - b1) * g;
    const float vi = b2 * v + (1.0f - b2) * g * g;
    m = mi;
    v = vi;
    p = p - stepSize * mi / (sqrtf(vi) * invBc2 + eps);
    return p;
}

}  // namespace

extern "C" {

// Element-wise Adam over n floats. When shadow is not null, the updated parameters are also written there as bf16
// (the encoder's tensor-core copy, so that it needs no separate conversion pass).
__global__ void adam_step(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m,
                          float* __restrict__ v, long n, float b1, float b2, float stepSize, float invBc2, float eps,
                          __nv_bfloat16* __restrict__ shadow) {
    for (long i = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<long>(gridDim.x) * blockDim.x) {
        float pi = p[i];
        float mi = m[i];
        float vi = v[i];
        adam_one(pi, g[i], mi, vi, b1, b2, stepSize, invBc2, eps);
        p[i] = pi;
        m[i] = mi;
        v[i] = vi;
        if (shadow) {
            shadow[i] = __float2bfloat16_rn(pi);
        }
    }
}

// grad[r] -= (grad[r] . w[r]) w[r]; one block per row of ld floats.
__global__ void remove_parallel(const float* __restrict__ w, float* __restrict__ grad, int ld) {
    __shared__ float scratch[32];
    const size_t o = static_cast<size_t>(blockIdx.x) * ld;
    float dot = 0.0f;
    for (int c = threadIdx.x; c < ld; c += blockDim.x) {
        dot = fmaf(grad[o + c], w[o + c], dot);
    }
    dot = block_sum(dot, scratch);
    for (int c = threadIdx.x; c < ld; c += blockDim.x) {
        grad[o + c] = fmaf(-dot, w[o + c], grad[o + c]);
    }
}

// w[r] /= (||w[r]|| + FLT_EPSILON); one block per row of ld floats.
__global__ void normalize_rows(float* __restrict__ w, int ld) {
    __shared__ float scratch[32];
    const size_t o = static_cast<size_t>(blockIdx.x) * ld;
    float ss = 0.0f;
    for (int c = threadIdx.x; c < ld; c += blockDim.x) {
        ss = fmaf(w[o + c], w[o + c], ss);
    }
    ss = block_sum(ss, scratch);
    const float scale = 1.0f / (sqrtf(ss) + 1.1920929e-7f);
    for (int c = threadIdx.x; c < ld; c += blockDim.x) {
        w[o + c] *= scale;
    }
}

// The whole decoder step for one row per block: remove the parallel component from grad (written back), Adam on
// the row, renormalise it. The same as remove_parallel, adam_step and normalize_rows in sequence, in one launch;
// each thread revisits only the columns it wrote, so no barrier is needed between the passes but the reductions'.
__global__ void adam_decoder_rows(float* __restrict__ w, float* __restrict__ grad, float* __restrict__ m,
                                  float* __restrict__ v, int ld, float b1, float b2, float stepSize, float invBc2,
                                  float eps) {
    __shared__ float scratch[32];
    const size_t o = static_cast<size_t>(blockIdx.x) * ld;
    float dot = 0.0f;
    for (int c = threadIdx.x; c < ld; c += blockDim.x) {
        dot = fmaf(grad[o + c], w[o + c], dot);
    }
    dot = block_sum(dot, scratch);
    float ss = 0.0f;
    for (int c = threadIdx.x; c < ld; c += blockDim.x) {
        float pc = w[o + c];
        const float gc = fmaf(-dot, pc, grad[o + c]);
        float mc = m[o + c];
        float vc = v[o + c];
        adam_one(pc, gc, mc, vc, b1, b2, stepSize, invBc2, eps);
        grad[o + c] = gc;
        m[o + c] = mc;
        v[o + c] = vc;
        w[o + c] = pc;
        ss = fmaf(pc, pc, ss);
    }
    ss = block_sum(ss, scratch);
    const float scale = 1.0f / (sqrtf(ss) + 1.1920929e-7f);
    for (int c = threadIdx.x; c < ld; c += blockDim.x) {
        w[o + c] *= scale;
    }
}

}  // extern "C"
