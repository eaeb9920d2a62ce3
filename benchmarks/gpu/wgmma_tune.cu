// Tuning harness for the encoder's Hopper mainloop (not shipped): times variants of the bf16 GEMM of
// sae-core/src/main/cuda/encode.cu at the benchmark shape (batch 8192, dIn 1024, 65,536 latents) in one run, and checks
// that every wgmma variant writes bit for bit what the shipped one (4 stages, chunk-major grid) writes, and that the
// shipped one agrees with the mma.sync mainloop to bf16-accumulation rounding.
//
// Variants: pipeline stages of the wgmma mainloop (4, 5, 6: loads run STAGES - 2 ahead) and the block order (the
// default grid, or row panels of a column tile consecutive), for the dense store and for the fused top-k (k 32).
//
// Build here:  nvcc -std=c++17 -O3 -DSAE_WGMMA -gencode arch=compute_90a,code=sm_90a -o wgmma_tune wgmma_tune.cu
// Run there:   ./wgmma_tune            (prints a table; one JSON line per variant)
#include <cstdio>
#include <cstdlib>
#include <vector>
#include <algorithm>
#include <cuda_runtime.h>

#include "../../sae-core/src/main/cuda/encode.cu"

#define CK(x)                                                                                    \
    do {                                                                                         \
        cudaError_t e_ = (x);                                                                    \
        if (e_ != cudaSuccess) {                                                                 \
            fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_));    \
            exit(1);                                                                             \
        }                                                                                        \
    } while (0)

namespace {

__global__ void fill_bf16(__nv_bfloat16* p, long n, uint32_t seed) {
    for (long i = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x; i < n; i += static_cast<long>(gridDim.x) * blockDim.x) {
        uint32_t h = static_cast<uint32_t>(i) * 2654435761u ^ seed;
        h ^= h >> 15;
        h *= 2246822519u;
        h ^= h >> 13;
        p[i] = __float2bfloat16_rn((h & 0xFFFFFF) / 8388608.0f - 1.0f);
    }
}

__global__ void count_diff(const uint32_t* a, const uint32_t* b, long n, unsigned long long* out) {
    unsigned long long c = 0;
    for (long i = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x; i < n; i += static_cast<long>(gridDim.x) * blockDim.x) {
        c += a[i] != b[i];
    }
    atomicAdd(out, c);
}

__global__ void rel_err(const float* a, const float* ref, long n, double* out) {
    double num = 0, den = 0;
    for (long i = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x; i < n; i += static_cast<long>(gridDim.x) * blockDim.x) {
        double e = static_cast<double>(a[i]) - ref[i];
        num += e * e;
        den += static_cast<double>(ref[i]) * ref[i];
    }
    atomicAdd(out, num);
    atomicAdd(out + 1, den);
}

// the mma.sync mainloop, for the agreement check and as the baseline timing
__global__ void __launch_bounds__(GEMM_THREADS, 2) mma_store(const void* a, const void* b, const float* bias, int M, int N, int ld, float* c,
                                                            long ldc) {
    extern __shared__ __align__(1024) char smem[];
    float* tile = reinterpret_cast<float*>(smem);
    const int n0 = blockIdx.x * GEMM_BN;
    const int m0 = blockIdx.y * GEMM_BM;
    tc_tile<false>(smem, tile, static_cast<const char*>(a), static_cast<const char*>(b), bias, ld * 2, M, N, m0, n0);
    store_tile(tile, c, ldc, M, N, m0, n0);
}

template <int S, bool PF>
__global__ void __launch_bounds__(GEMM_THREADS, 2) wg_store(const void* a, const void* b, const float* bias, int M, int N, int ld, float* c,
                                                           long ldc) {
    gemm_store<Path::BF16, S, PF>(a, b, bias, M, N, ld, c, ldc);
}

// the mainloop alone: the tile is computed into shared memory and one value per block leaves
template <int S, bool PF>
__global__ void __launch_bounds__(GEMM_THREADS, 2) wg_mainloop(const void* a, const void* b, const float* bias, int M, int N, int ld,
                                                              float* c, long ldc) {
    extern __shared__ __align__(1024) char smem[];
    float* tile = reinterpret_cast<float*>(smem);
    const int panels = (M + GEMM_BM - 1) / GEMM_BM;
    const int n0 = (PF ? blockIdx.x / panels : blockIdx.x) * GEMM_BN;
    const int m0 = (PF ? blockIdx.x % panels : blockIdx.y) * GEMM_BM;
    wg_tile<S>(smem, tile, static_cast<const char*>(a), static_cast<const char*>(b), bias, ld * 2, M, N, m0, n0);
    if (threadIdx.x == 0) {
        c[blockIdx.y * gridDim.x + blockIdx.x] = tile[(blockIdx.x * 7) % GEMM_BM * EPI_LD];
    }
}

template <int S, bool PF>
__global__ void __launch_bounds__(GEMM_THREADS, 2) wg_topk(const void* a, const void* b, const float* bias, int M, int N, int ld, int k,
                                                          int tilesPerChunk, uint32_t* candKey, int* candIdx, long ldCand) {
    gemm_topk<Path::BF16, 1, S, PF>(a, b, bias, M, N, ld, k, tilesPerChunk, candKey, candIdx, ldCand);
}

float median(std::vector<float> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

}  // namespace

int main() {
    const int M = 8192, N = 65536, ld = 1024, k = 32;
    const int panels = M / GEMM_BM, tiles = N / GEMM_BN, tpc = 31, chunks = (tiles + tpc - 1) / tpc;
    const double flops = 2.0 * M * N * static_cast<double>(ld);
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    printf("device %s, %d SMs, smem/SM %zu, smem/block opt-in %zu\n", prop.name, prop.multiProcessorCount,
           prop.sharedMemPerMultiprocessor, prop.sharedMemPerBlockOptin);
    __nv_bfloat16 *a, *b;
    float *bias, *c, *cRef, *cMma;
    uint32_t *ck, *ckRef;
    int *ci, *ciRef;
    CK(cudaMalloc(&a, sizeof(__nv_bfloat16) * M * ld));
    CK(cudaMalloc(&b, sizeof(__nv_bfloat16) * static_cast<size_t>(N) * ld));
    CK(cudaMalloc(&bias, sizeof(float) * N));
    CK(cudaMalloc(&c, sizeof(float) * static_cast<size_t>(M) * N));
    CK(cudaMalloc(&cRef, sizeof(float) * static_cast<size_t>(M) * N));
    CK(cudaMalloc(&cMma, sizeof(float) * static_cast<size_t>(M) * N));
    const size_t cand = static_cast<size_t>(M) * chunks * k;
    const size_t candAlloc = static_cast<size_t>(M) * 32 * k;  // the most chunks a variant below uses: 32
    CK(cudaMalloc(&ck, 4 * candAlloc));
    CK(cudaMalloc(&ckRef, 4 * cand));
    CK(cudaMalloc(&ci, 4 * candAlloc));
    CK(cudaMalloc(&ciRef, 4 * cand));
    fill_bf16<<<1024, 256>>>(a, static_cast<long>(M) * ld, 1u);
    fill_bf16<<<1024, 256>>>(b, static_cast<long>(N) * ld, 2u);
    CK(cudaMemset(bias, 0, sizeof(float) * N));
    unsigned long long* diff;
    double* err;
    CK(cudaMalloc(&diff, 8));
    CK(cudaMalloc(&err, 16));
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));

    auto timeIt = [&](auto launch) {
        for (int i = 0; i < 2; ++i) launch();
        CK(cudaGetLastError());
        CK(cudaDeviceSynchronize());
        std::vector<float> ms;
        for (int i = 0; i < 9; ++i) {
            CK(cudaEventRecord(e0));
            launch();
            CK(cudaEventRecord(e1));
            CK(cudaEventSynchronize(e1));
            float t;
            CK(cudaEventElapsedTime(&t, e0, e1));
            ms.push_back(t);
        }
        CK(cudaGetLastError());
        return median(ms);
    };
    auto diffCount = [&](const void* x, const void* y, long n) {
        CK(cudaMemset(diff, 0, 8));
        count_diff<<<1024, 256>>>(static_cast<const uint32_t*>(x), static_cast<const uint32_t*>(y), n, diff);
        unsigned long long h;
        CK(cudaMemcpy(&h, diff, 8, cudaMemcpyDeviceToHost));
        return h;
    };
    auto report = [&](const char* name, float ms, long long mismatches, const char* against) {
        printf("%-34s %8.3f ms %7.1f TFLOP/s   %lld words differ from %s\n", name, ms, flops / (ms * 1e-3) / 1e12, mismatches, against);
        printf("{\"variant\":\"%s\",\"median_ms\":%.4f,\"tflops\":%.2f,\"mismatched_words\":%lld,\"against\":\"%s\"}\n", name, ms,
               flops / (ms * 1e-3) / 1e12, mismatches, against);
    };
    const long outN = static_cast<long>(M) * N;
    const int epi = GEMM_BM * EPI_LD * 4;

    // ---- dense store ----
    CK(cudaFuncSetAttribute(mma_store, cudaFuncAttributeMaxDynamicSharedMemorySize, epi));
    float t = timeIt([&] { mma_store<<<dim3(tiles, panels), GEMM_THREADS, epi>>>(a, b, bias, M, N, ld, cMma, N); });
    report("store mma.sync", t, -1, "-");

    auto store = [&](auto kern, int stages, bool pf, const char* name) {
        const int smem = std::max(epi, stages * TC_STAGE_BYTES);
        CK(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
        CK(cudaMemset(c, 0xFF, sizeof(float) * outN));
        const dim3 grid = pf ? dim3(tiles * panels) : dim3(tiles, panels);
        float ms = timeIt([&] { kern<<<grid, GEMM_THREADS, smem>>>(a, b, bias, M, N, ld, c, N); });
        if (stages == 4 && !pf) {
            CK(cudaMemcpy(cRef, c, sizeof(float) * outN, cudaMemcpyDeviceToDevice));
            CK(cudaMemset(err, 0, 16));
            rel_err<<<1024, 256>>>(cRef, cMma, outN, err);
            double h[2];
            CK(cudaMemcpy(h, err, 16, cudaMemcpyDeviceToHost));
            printf("wgmma (4 stages) vs mma.sync: relative error %.3g\n", sqrt(h[0] / h[1]));
            report(name, ms, 0, "itself");
        } else {
            report(name, ms, static_cast<long long>(diffCount(c, cRef, outN)), "store wgmma s4");
        }
    };
    store(wg_store<4, false>, 4, false, "store wgmma s4");
    store(wg_store<4, true>, 4, true, "store wgmma s4 panel-major");
    store(wg_store<5, false>, 5, false, "store wgmma s5");
    store(wg_store<5, true>, 5, true, "store wgmma s5 panel-major");
    store(wg_store<6, true>, 6, true, "store wgmma s6 panel-major");

    // ---- the mainloop alone (no epilogue traffic) ----
    auto mainloop = [&](auto kern, int stages, bool pf, const char* name) {
        const int smem = std::max(epi, stages * TC_STAGE_BYTES);
        CK(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
        const dim3 grid = pf ? dim3(tiles * panels) : dim3(tiles, panels);
        float ms = timeIt([&] { kern<<<grid, GEMM_THREADS, smem>>>(a, b, bias, M, N, ld, c, N); });
        report(name, ms, -1, "-");
    };
    mainloop(wg_mainloop<4, false>, 4, false, "mainloop only wgmma s4");
    mainloop(wg_mainloop<5, true>, 5, true, "mainloop only wgmma s5 panel-major");

    // ---- fused top-k (k 32) ----
    auto topk = [&](auto kern, int stages, bool pf, const char* name, int tpcV = 31) {
        const int chunksV = (tiles + tpcV - 1) / tpcV;
        const int smem = std::max(epi, stages * TC_STAGE_BYTES) + GEMM_BM * 32 * 8;
        CK(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
        CK(cudaMemset(ck, 0xFF, 4 * cand));
        CK(cudaMemset(ci, 0xFF, 4 * cand));
        const dim3 grid = pf ? dim3(panels, chunksV) : dim3(chunksV, panels);
        float ms = timeIt([&] { kern<<<grid, GEMM_THREADS, smem>>>(a, b, bias, M, N, ld, k, tpcV, ck, ci, static_cast<long>(chunksV) * k); });
        int perSm = 0;
        CK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&perSm, kern, GEMM_THREADS, smem));
        if (tpcV != tpc) {
            report(name, ms, -1, "-");
            printf("  (%d chunks of %d column tiles)\n", chunksV, tpcV);
        } else if (stages == 4 && !pf) {
            CK(cudaMemcpy(ckRef, ck, 4 * cand, cudaMemcpyDeviceToDevice));
            CK(cudaMemcpy(ciRef, ci, 4 * cand, cudaMemcpyDeviceToDevice));
            report(name, ms, 0, "itself");
        } else {
            report(name, ms, static_cast<long long>(diffCount(ck, ckRef, cand) + diffCount(ci, ciRef, cand)), "topk wgmma s4");
        }
        printf("  (%d blocks per SM, %d bytes of shared memory)\n", perSm, smem);
    };
    topk(wg_topk<4, false>, 4, false, "topk32 wgmma s4");
    topk(wg_topk<4, true>, 4, true, "topk32 wgmma s4 panel-major");
    topk(wg_topk<5, false>, 5, false, "topk32 wgmma s5");
    topk(wg_topk<5, true>, 5, true, "topk32 wgmma s5 panel-major");
    topk(wg_topk<5, true>, 5, true, "topk32 wgmma s5 panel-major 4ch", 128);
    topk(wg_topk<5, false>, 5, false, "topk32 wgmma s5 4ch", 128);
    topk(wg_topk<5, true>, 5, true, "topk32 wgmma s5 panel-major 8ch", 64);
    topk(wg_topk<5, true>, 5, true, "topk32 wgmma s5 panel-major 2ch", 256);
    topk(wg_topk<5, true>, 5, true, "topk32 wgmma s5 panel-major 32ch", 16);
    CK(cudaDeviceSynchronize());
    printf("done\n");
    return 0;
}
