// Kernels of the device-resident training step that the other families lack: widening input batches as stored,
// the loss gradient with the batch's total variance read on the device, bias-gradient reductions, the bDec term of the
// encoder input, the ReLU mask of code gradients, the dead-latent counters and the divergence check.
//
// Reductions accumulate in double in a fixed order (results reproducible on one device); nothing here uses atomics.

#include <cuda_fp16.h>

#include "common.cuh"

using namespace sae;

extern "C" {

// x[r][c] = float(src[r][c]) * scale for c < dIn, 0 in the padding up to ld. src holds rows of dIn elements as stored:
// dtype 0 float32, 1 float16, 2 bfloat16 (little-endian, as read from disk).
__global__ void convert_rows(const void* __restrict__ src, int dtype, long rows, int dIn, int ld, float scale,
                             float* __restrict__ x) {
    const long n = rows * ld;
    for (long i = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<long>(gridDim.x) * blockDim.x) {
        const long r = i / ld;
        const int c = static_cast<int>(i - r * ld);
        float v = 0.0f;
        if (c < dIn) {
            const long s = r * dIn + c;
            if (dtype == 1) {
                v = __half2float(static_cast<const __half*>(src)[s]);
            } else if (dtype == 2) {
                v = __bfloat162float(static_cast<const __nv_bfloat16*>(src)[s]);
            } else {
                v = static_cast<const float*>(src)[s];
            }
            v = v * scale;
        }
        x[i] = v;
    }
}

// mean[c] = sums[c] / rows.
__global__ void column_mean(const double* __restrict__ sums, int ld, int rows, double* __restrict__ mean) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c < ld) {
        mean[c] = sums[c] / rows;
    }
}

// The gradient of a reconstruction loss normalised by the batch's total variance tv[0]:
//   e = xHat - x, or with auxHat (AuxK) e = auxHat - (x - xHat);
//   grad = (float)(factor * 2 / max(tv, 1e-30)) * e;  partials[block] = sum of e^2 (double, fixed grid).
__global__ void residual_grad(const float* __restrict__ x, const float* __restrict__ xHat,
                              const float* __restrict__ auxHat, long n, const double* __restrict__ tv, double factor,
                              float* __restrict__ grad, double* __restrict__ partials) {
    __shared__ double scratch[32];
    const float scale = static_cast<float>(factor * 2.0 / fmax(tv[0], 1e-30));
    double acc = 0.0;
    for (long i = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<long>(gridDim.x) * blockDim.x) {
        const float e = auxHat ? auxHat[i] - (x[i] - xHat[i]) : xHat[i] - x[i];
        acc += static_cast<double>(e) * e;
        grad[i] = scale * e;
    }
    const double total = block_sum(acc, scratch);
    if (threadIdx.x == 0) {
        partials[blockIdx.x] = total;
    }
}

// d[p] = 0 where val[p] <= 0 (or NaN): ReLU passes no gradient there.
__global__ void mask_nonpositive(const float* __restrict__ val, float* __restrict__ d, int nnz) {
    for (int p = blockIdx.x * blockDim.x + threadIdx.x; p < nnz; p += gridDim.x * blockDim.x) {
        if (!(val[p] > 0.0f)) {
            d[p] = 0.0f;
        }
    }
}

// out[c] += sign * (float) sum over chunks of partial[chunk * ld + c], chunks in order.
__global__ void add_column_partials(const double* __restrict__ partial, int chunks, int ld, float sign,
                                    float* __restrict__ out) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= ld) {
        return;
    }
    double s = 0.0;
    for (int k = 0; k < chunks; ++k) {
        s += partial[static_cast<size_t>(k) * ld + c];
    }
    out[c] += sign * static_cast<float>(s);
}

// partial[chunk * ld + c] = sum over rows j of the chunk of coef[j] * w[j][c] (double; rows with coef 0 skipped).
// Grid (ceil(ld / blockDim), chunks); chunk covers rows [chunk * rowsPerChunk, min(n, ...)).
__global__ void row_combination_partial(const float* __restrict__ coef, const float* __restrict__ w, int n, int ld,
                                        int rowsPerChunk, double* __restrict__ partial) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= ld) {
        return;
    }
    const int j0 = blockIdx.y * rowsPerChunk;
    const int j1 = min(n, j0 + rowsPerChunk);
    double acc = 0.0;
    for (int j = j0; j < j1; ++j) {
        const float cj = coef[j];
        if (cj != 0.0f) {
            acc += static_cast<double>(cj) * w[static_cast<size_t>(j) * ld + c];
        }
    }
    partial[static_cast<size_t>(blockIdx.y) * ld + c] = acc;
}

// Dead-latent counters, one block: since[j] = selected[j] > 0 ? 0 : since[j] + rows; the latents with since > deadAfter,
// ascending, go to deadIds and their number to numDead[0]. Thread t owns the contiguous latents
// [t * per, (t + 1) * per); a block-wide exclusive scan of the per-thread counts places each thread's ids.
__global__ void __launch_bounds__(1024) dead_update(unsigned long long* __restrict__ since,
                                                    const int* __restrict__ selected, int n, long long rows,
                                                    long long deadAfter, int* __restrict__ deadIds,
                                                    int* __restrict__ numDead) {
    __shared__ int warpTotals[32];
    const int per = (n + blockDim.x - 1) / blockDim.x;
    const int j0 = min(n, static_cast<int>(threadIdx.x) * per);
    const int j1 = min(n, j0 + per);
    const unsigned long long limit = static_cast<unsigned long long>(deadAfter);
    int count = 0;
    for (int j = j0; j < j1; ++j) {
        const unsigned long long s = selected[j] > 0 ? 0ull : since[j] + static_cast<unsigned long long>(rows);
        since[j] = s;
        count += s > limit ? 1 : 0;
    }
    // inclusive scan within the warp, then over the warp totals
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    int incl = count;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
        const int y = __shfl_up_sync(FULL_MASK, incl, o);
        if (lane >= o) {
            incl += y;
        }
    }
    if (lane == 31) {
        warpTotals[warp] = incl;
    }
    __syncthreads();
    if (warp == 0) {
        const int warps = (blockDim.x + 31) >> 5;
        int t = lane < warps ? warpTotals[lane] : 0;
#pragma unroll
        for (int o = 1; o < 32; o <<= 1) {
            const int y = __shfl_up_sync(FULL_MASK, t, o);
            if (lane >= o) {
                t += y;
            }
        }
        warpTotals[lane] = t;  // inclusive totals of warps 0..lane
    }
    __syncthreads();
    int at = incl - count + (warp > 0 ? warpTotals[warp - 1] : 0);
    for (int j = j0; j < j1; ++j) {
        if (since[j] > limit) {
            deadIds[at++] = j;
        }
    }
    if (threadIdx.x == blockDim.x - 1) {
        numDead[0] = at;
    }
}

// Revival's silence test (org.saeforge.core.kernels.Revival#silent): no positive activation for more than after rows,
// or, when the window is shorter than the batch, fewer positive activations in the batch than the batch holds windows.
__device__ __forceinline__ bool revival_silent(unsigned long long since, int fired, long long after, long long rows) {
    return since > static_cast<unsigned long long>(after)
           || (after < rows && static_cast<long long>(fired) * after < rows);
}

// Revival, one block: first sincePositive[j] = fired[j] > 0 ? 0 : sincePositive[j] + rows; then, when after > 0,
// bEnc[j] = min(cap, bEnc[j] + rate * mean) for every latent revival_silent and with bEnc[j] < cap, where
// mean is the mean of the positive entries of val[0..nnz) (summed in double) and cap = capFactor * mean; no bias
// changes when no entry is positive.
__global__ void __launch_bounds__(1024) revive_bias(float* __restrict__ bEnc, unsigned long long* __restrict__ sincePositive,
                                                    const int* __restrict__ fired, int n, long long rows, long long after,
                                                    const float* __restrict__ val, int nnz, double rate,
                                                    double capFactor) {
    __shared__ double warpSums[32];
    __shared__ long long warpCounts[32];
    __shared__ float step;
    __shared__ float cap;
    const unsigned long long add = static_cast<unsigned long long>(rows);
    for (int j = threadIdx.x; j < n; j += blockDim.x) {
        sincePositive[j] = fired[j] > 0 ? 0ull : sincePositive[j] + add;
    }
    if (after <= 0) {
        return;
    }
    double sum = 0.0;
    long long count = 0;
    for (int p = threadIdx.x; p < nnz; p += blockDim.x) {
        const float v = val[p];
        if (v > 0.0f) {
            sum += static_cast<double>(v);
            ++count;
        }
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        sum += __shfl_down_sync(FULL_MASK, sum, o);
        count += __shfl_down_sync(FULL_MASK, count, o);
    }
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    if (lane == 0) {
        warpSums[warp] = sum;
        warpCounts[warp] = count;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        const int warps = (blockDim.x + 31) >> 5;
        double total = 0.0;
        long long positive = 0;
        for (int w = 0; w < warps; ++w) {
            total += warpSums[w];
            positive += warpCounts[w];
        }
        const double mean = positive > 0 ? total / static_cast<double>(positive) : 0.0;
        step = static_cast<float>(rate * mean);
        cap = static_cast<float>(capFactor * mean);
    }
    __syncthreads();
    const float s = step;
    const float c = cap;
    if (s != 0.0f) {
        for (int j = threadIdx.x; j < n; j += blockDim.x) {
            const float b = bEnc[j];
            if (b < c && revival_silent(sincePositive[j], fired[j], after, rows)) {
                bEnc[j] = fminf(c, b + s);
            }
        }
    }
}

// Revival's encoder step (org.saeforge.core.kernels.Revival#reviveEncoder) in four launches; a latent is silent by
// revival_silent on the counters revive_bias has just updated and the batch's positive activations per latent.
//
// mean_offset: u[c] = (sum over rows of x[r][c]) / rows - bDec[c] for c < ld (x's and bDec's padding is 0, so u's is
// too). Blocks of 256 threads: 32 columns x 8 row lanes; lane l sums rows l, l + 8, ... in double and lane 0 adds the
// 8 partials in lane order.
__global__ void __launch_bounds__(256) mean_offset(const float* __restrict__ x, const float* __restrict__ bDec, int rows,
                                                   int ld, float* __restrict__ u) {
    __shared__ double part[8][32];
    const int colInBlock = threadIdx.x & 31;
    const int lane = threadIdx.x >> 5;
    const int col = blockIdx.x * 32 + colInBlock;
    double s = 0.0;
    if (col < ld) {
        for (int r = lane; r < rows; r += 8) {
            s += static_cast<double>(x[static_cast<size_t>(r) * ld + col]);
        }
    }
    part[lane][colInBlock] = s;
    __syncthreads();
    if (lane == 0 && col < ld) {
        double t = 0.0;
        for (int l = 0; l < 8; ++l) {
            t += part[l][colInBlock];
        }
        u[col] = static_cast<float>(t / rows - static_cast<double>(bDec[col]));
    }
}

// stats[2j] = w[j].w[j], stats[2j + 1] = w[j].u (doubles); one block per latent row of ld floats.
__global__ void encoder_row_stats(const float* __restrict__ w, const float* __restrict__ u, int ld,
                                  double* __restrict__ stats) {
    __shared__ double scratch[32];
    const size_t o = static_cast<size_t>(blockIdx.x) * ld;
    double ww = 0.0;
    double wu = 0.0;
    for (int c = threadIdx.x; c < ld; c += blockDim.x) {
        const double wc = static_cast<double>(w[o + c]);
        ww += wc * wc;
        wu += wc * static_cast<double>(u[c]);
    }
    ww = block_sum(ww, scratch);
    wu = block_sum(wu, scratch);
    if (threadIdx.x == 0) {
        stats[2 * static_cast<size_t>(blockIdx.x)] = ww;
        stats[2 * static_cast<size_t>(blockIdx.x) + 1] = wu;
    }
}

// One block: scalars[0] = mean norm of the rows of the latents that are not silent (0 when all are), scalars[1] = u.u.
__global__ void __launch_bounds__(1024) revive_encoder_prepare(const double* __restrict__ stats,
                                                               const unsigned long long* __restrict__ sincePositive,
                                                               const int* __restrict__ fired, long long rows,
                                                               const float* __restrict__ u, int n, int ld, long long after,
                                                               double* __restrict__ scalars) {
    __shared__ double scratch[32];
    double normSum = 0.0;
    double alive = 0.0;
    for (int j = threadIdx.x; j < n; j += blockDim.x) {
        if (!revival_silent(sincePositive[j], fired[j], after, rows)) {
            normSum += sqrt(stats[2 * static_cast<size_t>(j)]);
            alive += 1.0;
        }
    }
    double uu = 0.0;
    for (int c = threadIdx.x; c < ld; c += blockDim.x) {
        uu += static_cast<double>(u[c]) * static_cast<double>(u[c]);
    }
    normSum = block_sum(normSum, scratch);
    alive = block_sum(alive, scratch);
    uu = block_sum(uu, scratch);
    if (threadIdx.x == 0) {
        scalars[0] = alive > 0.0 ? normSum / alive : 0.0;
        scalars[1] = uu;
    }
}

// One block per latent; silent rows only: w -= (w.u / u.u) u when w.u < 0, then w *= min(target, norm * grow) / norm
// when the row's norm (after the projection) is below target = scalars[0]. The updated row also goes to shadow as bf16
// when shadow is not null. Rounded multiplies and subtractions (no fused multiply-add), as the host reference does.
__global__ void revive_encoder(float* __restrict__ w, __nv_bfloat16* __restrict__ shadow, const float* __restrict__ u,
                               const unsigned long long* __restrict__ sincePositive, const int* __restrict__ fired,
                               long long rows, const double* __restrict__ stats, const double* __restrict__ scalars, int ld,
                               long long after, double grow) {
    const size_t j = blockIdx.x;
    if (!revival_silent(sincePositive[j], fired[j], after, rows)) {
        return;
    }
    const double target = scalars[0];
    const double uu = scalars[1];
    double ww = stats[2 * j];
    const double wu = uu > 0.0 ? stats[2 * j + 1] : 0.0;
    float c = 0.0f;
    bool touched = false;
    if (wu < 0.0) {
        c = static_cast<float>(wu / uu);
        ww = fmax(0.0, ww - wu * wu / uu);
        touched = true;
    }
    const double norm = sqrt(ww);
    float f = 1.0f;
    if (grow > 1.0 && norm > 0.0 && norm < target) {
        f = static_cast<float>(fmin(target, norm * grow) / norm);
        touched = true;
    }
    if (!touched) {
        return;
    }
    const size_t o = j * ld;
    for (int col = threadIdx.x; col < ld; col += blockDim.x) {
        float v = w[o + col];
        if (c != 0.0f) {
            v = __fsub_rn(v, __fmul_rn(c, u[col]));
        }
        if (f != 1.0f) {
            v = __fmul_rn(v, f);
        }
        w[o + col] = v;
        if (shadow) {
            shadow[o + col] = __float2bfloat16_rn(v);
        }
    }
}

// firstBad[0] = step + 1 when the step's squared errors are not finite and no earlier step was (0 means none).
__global__ void check_finite(const double* __restrict__ sse, const double* __restrict__ sseAux, long long step,
                             long long* __restrict__ firstBad) {
    if (threadIdx.x == 0 && blockIdx.x == 0) {
        const double a = sse[0];
        const double b = sseAux[0];
        if ((!isfinite(a) || !isfinite(b)) && firstBad[0] == 0) {
            firstBad[0] = step + 1;
        }
    }
}

}  // extern "C"
