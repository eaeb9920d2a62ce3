// Sparse decode: out[r] = sum_p val[p] * w[idx[p]] (+ bias), over the entries p of row r.
//
// Rows of w, bias and out are padded to ld floats (a multiple of K_PAD), so each thread moves 16 bytes at a time.
// Entries are summed in ascending p for every column: the result does not depend on the launch shape.

#include "common.cuh"

using namespace sae;

extern "C" {

// One block per row. Row r's entries are indptr[r] .. indptr[r+1] when indptr is not null, else r*kFixed ..
// (r+1)*kFixed. Zero values are skipped (they add nothing and would cost a row read).
__global__ void sparse_decode(const int* __restrict__ indptr, int kFixed, const int* __restrict__ idx,
                              const float* __restrict__ val, const float* __restrict__ w, int ld,
                              const float* __restrict__ bias, float* __restrict__ out) {
    const int r = blockIdx.x;
    const int start = indptr ? indptr[r] : r * kFixed;
    const int end = indptr ? indptr[r + 1] : (r + 1) * kFixed;
    const int ld4 = ld >> 2;
    const float4* w4 = reinterpret_cast<const float4*>(w);
    const float4* b4 = reinterpret_cast<const float4*>(bias);
    float4* o4 = reinterpret_cast<float4*>(out) + static_cast<size_t>(r) * ld4;
    for (int c = threadIdx.x; c < ld4; c += blockDim.x) {
        float4 acc = bias ? b4[c] : make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll 4
        for (int p = start; p < end; ++p) {
            const float a = val[p];
            if (a != 0.0f) {
                const float4 v = w4[static_cast<size_t>(idx[p]) * ld4 + c];
                acc.x = fmaf(a, v.x, acc.x);
                acc.y = fmaf(a, v.y, acc.y);
                acc.z = fmaf(a, v.z, acc.z);
                acc.w = fmaf(a, v.w, acc.w);
            }
        }
        o4[c] = acc;
    }
}

}  // extern "C"
