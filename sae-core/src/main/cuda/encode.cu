// Encoder: pre = (x - bDec) . wEncT^T + bEnc, then top-k per row (or a threshold, for JumpReLU/ReLU).
//
// Operands live on the device zero-padded to a leading dimension ld (a multiple of K_PAD) so that every row is
// 16-byte aligned and the K loop has no tail. Both operands are K-contiguous ("NT" product), which is the layout
// mma.sync's row.col form wants, so neither is transposed.
//
// Three GEMM mainloops share one epilogue: bf16 and TF32 through mma.sync (fp32 accumulation), and an fp32 SIMT
// path for exact-precision use. The epilogue either stores the tile (dense pre-activations, matmulNT) or keeps,
// per row, a sorted list of the best k (value, latent) pairs over the block's chunk of columns: the whole
// [batch x numLatents] matrix never reaches device memory, only k candidates per (row, chunk). topk_rows then
// merges the chunks' candidates.

#include "common.cuh"

using namespace sae;

namespace {

constexpr int WARPS = GEMM_THREADS / 32;
constexpr int TC_STAGE_BYTES = (GEMM_BM + GEMM_BN) * GEMM_STAGE_K_BYTES;
constexpr int TC_PIPE_BYTES = TC_STAGE_BYTES * GEMM_STAGES;
constexpr int SIMT_PIPE_BYTES = 2 * GEMM_SIMT_BK * GEMM_BM * 4;
constexpr int EPI_TILE_BYTES = GEMM_BM * EPI_LD * 4;
static_assert(TC_PIPE_BYTES <= EPI_TILE_BYTES, "the epilogue tile reuses the pipeline buffers");
static_assert(SIMT_PIPE_BYTES <= EPI_TILE_BYTES, "the epilogue tile reuses the pipeline buffers");
static_assert(GEMM_BM == 128 && GEMM_BN == 128 && GEMM_THREADS == 256, "warp layout below assumes 128x128/256");

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
    return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// Byte offset of 16-byte chunk `chunk` (0..3) of row `row` in a 64-byte-row tile. The XOR spreads the 8 rows one
// ldmatrix reads over all 32 banks.
__device__ __forceinline__ int swizzle(int row, int chunk) {
    return row * GEMM_STAGE_K_BYTES + ((chunk ^ ((row >> 1) & 3)) << 4);
}

__device__ __forceinline__ void cp_async16(uint32_t dst, const void* src, int srcBytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(srcBytes));
}

__device__ __forceinline__ void cp_async_commit() {
    asm volatile("cp.async.commit_group;\n" ::);
}

template <int N>
__device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], uint32_t addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}

__device__ __forceinline__ uint32_t to_tf32(uint32_t bits) {
    uint32_t out;
    asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(out) : "f"(__uint_as_float(bits)));
    return out;
}

__device__ __forceinline__ void mma_bf16(float (&c)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

__device__ __forceinline__ void mma_tf32(float (&c)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
    asm volatile(
        "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

// ---------------------------------------------------------------------------------------------------------------
// Tensor-core mainloop (bf16 m16n8k16 or TF32 m16n8k8). A stage holds 64 bytes of K for every row of both tiles;
// a K-step consumes 32 of them (16 bf16 or 8 fp32), so the addressing is the same for both element types.
// ---------------------------------------------------------------------------------------------------------------

__device__ __forceinline__ void tc_load_stage(char* stage, const char* a, const char* b, int ldBytes, int m0, int n0,
                                              int M, int N, int kByte) {
    const int tid = threadIdx.x;
    const uint32_t sA = smem_addr(stage);
    const uint32_t sB = sA + GEMM_BM * GEMM_STAGE_K_BYTES;
#pragma unroll
    for (int i = 0; i < 2; ++i) {
        const int c = tid + i * GEMM_THREADS;
        const int row = c >> 2;
        const int ch = c & 3;
        const int gr = m0 + row;
        const bool ok = gr < M;
        const char* src = a + static_cast<size_t>(ok ? gr : 0) * ldBytes + kByte + ch * 16;
        cp_async16(sA + swizzle(row, ch), src, ok ? 16 : 0);
    }
#pragma unroll
    for (int i = 0; i < 2; ++i) {
        const int c = tid + i * GEMM_THREADS;
        const int row = c >> 2;
        const int ch = c & 3;
        const int gn = n0 + row;
        const bool ok = gn < N;
        const char* src = b + static_cast<size_t>(ok ? gn : 0) * ldBytes + kByte + ch * 16;
        cp_async16(sB + swizzle(row, ch), src, ok ? 16 : 0);
    }
}

template <bool TF32>
__device__ __forceinline__ void tc_compute_stage(const char* stage, float (&acc)[4][4][4], int warpM, int warpN,
                                                 int lane) {
    const uint32_t sA = smem_addr(stage);
    const uint32_t sB = sA + GEMM_BM * GEMM_STAGE_K_BYTES;
#pragma unroll
    for (int ks = 0; ks < 2; ++ks) {
        uint32_t a[4][4];
        uint32_t b[4][2];
#pragma unroll
        for (int mt = 0; mt < 4; ++mt) {
            const int row = warpM * 64 + mt * 16 + (lane & 7) + ((lane >> 3) & 1) * 8;
            const int ch = ks * 2 + (lane >> 4);
            ldmatrix_x4(a[mt], sA + swizzle(row, ch));
        }
#pragma unroll
        for (int np = 0; np < 2; ++np) {
            const int row = warpN * 32 + np * 16 + (lane & 7) + (lane >> 4) * 8;
            const int ch = ks * 2 + ((lane >> 3) & 1);
            uint32_t r[4];
            ldmatrix_x4(r, sB + swizzle(row, ch));
            b[np * 2][0] = r[0];
            b[np * 2][1] = r[1];
            b[np * 2 + 1][0] = r[2];
            b[np * 2 + 1][1] = r[3];
        }
        if (TF32) {
#pragma unroll
            for (int mt = 0; mt < 4; ++mt) {
#pragma unroll
                for (int q = 0; q < 4; ++q) {
                    a[mt][q] = to_tf32(a[mt][q]);
                }
            }
#pragma unroll
            for (int nt = 0; nt < 4; ++nt) {
                b[nt][0] = to_tf32(b[nt][0]);
                b[nt][1] = to_tf32(b[nt][1]);
            }
        }
#pragma unroll
        for (int mt = 0; mt < 4; ++mt) {
#pragma unroll
            for (int nt = 0; nt < 4; ++nt) {
                if (TF32) {
                    mma_tf32(acc[mt][nt], a[mt], b[nt]);
                } else {
                    mma_bf16(acc[mt][nt], a[mt], b[nt]);
                }
            }
        }
    }
}

// One 128x128 output tile through the tensor cores, then written (plus bias) into the epilogue tile `tile`, which
// aliases the pipeline buffers in `smem`. Columns >= N hold -inf.
template <bool TF32>
__device__ void tc_tile(char* smem, float* tile, const char* a, const char* b, const float* bias, int ldBytes, int M,
                        int N, int m0, int n0) {
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int warpM = warp >> 2;
    const int warpN = warp & 3;
    const int kTiles = ldBytes / GEMM_STAGE_K_BYTES;

    float acc[4][4][4];
#pragma unroll
    for (int mt = 0; mt < 4; ++mt) {
#pragma unroll
        for (int nt = 0; nt < 4; ++nt) {
#pragma unroll
            for (int q = 0; q < 4; ++q) {
                acc[mt][nt][q] = 0.0f;
            }
        }
    }

#pragma unroll
    for (int s = 0; s < GEMM_STAGES - 1; ++s) {
        if (s < kTiles) {
            tc_load_stage(smem + s * TC_STAGE_BYTES, a, b, ldBytes, m0, n0, M, N, s * GEMM_STAGE_K_BYTES);
        }
        cp_async_commit();
    }
    for (int kt = 0; kt < kTiles; ++kt) {
        cp_async_wait<GEMM_STAGES - 2>();
        __syncthreads();
        const int next = kt + GEMM_STAGES - 1;
        if (next < kTiles) {
            tc_load_stage(smem + (next % GEMM_STAGES) * TC_STAGE_BYTES, a, b, ldBytes, m0, n0, M, N,
                          next * GEMM_STAGE_K_BYTES);
        }
        cp_async_commit();
        tc_compute_stage<TF32>(smem + (kt % GEMM_STAGES) * TC_STAGE_BYTES, acc, warpM, warpN, lane);
    }
    cp_async_wait<0>();
    __syncthreads();

    const int g = lane >> 2;
    const int t = lane & 3;
#pragma unroll
    for (int nt = 0; nt < 4; ++nt) {
        const int col = warpN * 32 + nt * 8 + 2 * t;
        const int gc = n0 + col;
        const float b0 = gc < N ? (bias ? bias[gc] : 0.0f) : 0.0f;
        const float b1 = gc + 1 < N ? (bias ? bias[gc + 1] : 0.0f) : 0.0f;
#pragma unroll
        for (int mt = 0; mt < 4; ++mt) {
            const int row = warpM * 64 + mt * 16 + g;
            float2 lo;
            float2 hi;
            lo.x = gc < N ? acc[mt][nt][0] + b0 : -INFINITY;
            lo.y = gc + 1 < N ? acc[mt][nt][1] + b1 : -INFINITY;
            hi.x = gc < N ? acc[mt][nt][2] + b0 : -INFINITY;
            hi.y = gc + 1 < N ? acc[mt][nt][3] + b1 : -INFINITY;
            *reinterpret_cast<float2*>(tile + row * EPI_LD + col) = lo;
            *reinterpret_cast<float2*>(tile + (row + 8) * EPI_LD + col) = hi;
        }
    }
    __syncthreads();
}

#ifdef SAE_WGMMA
// ---------------------------------------------------------------------------------------------------------------
// Hopper mainloop (built only for sm_90a, into encode_sm90a.fatbin): bf16 through wgmma. Each of the block's two
// warpgroups computes 64 rows x 128 columns with m64n128k16, both operands read by the tensor cores straight from
// shared memory. The stage layout is the one tc_load_stage writes: 64-byte rows whose 16-byte chunks are XORed with
// bits 1-2 of the row, which is wgmma's 64-byte swizzle (address bits 4-5 ^= bits 7-8) on a 512-byte-aligned base.
// Loads run two stages ahead and one wgmma batch stays in flight while the next is issued.
// ---------------------------------------------------------------------------------------------------------------


// Shared-memory matrix descriptor of a K-major operand in the 64-byte swizzle: start address, stride of 512 bytes
// between groups of 8 rows, layout type 2 (64B swizzle); the leading offset is unused in swizzled K-major layouts.
__device__ __forceinline__ uint64_t wg_desc(uint32_t addr) {
    uint64_t d = static_cast<uint64_t>((addr & 0x3FFFF) >> 4);
    d |= static_cast<uint64_t>(1) << 16;
    d |= static_cast<uint64_t>(512 >> 4) << 32;
    d |= static_cast<uint64_t>(2) << 62;
    return d;
}

__device__ __forceinline__ void wg_fence() {
    asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}

__device__ __forceinline__ void wg_commit() {
    asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}

template <int N>
__device__ __forceinline__ void wg_wait() {
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}

// Keeps the compiler from moving accesses of the accumulators across the asynchronous wgmma.
__device__ __forceinline__ void wg_fence_acc(float (&d)[64]) {
#pragma unroll
    for (int i = 0; i < 64; ++i) {
        asm volatile("" : "+f"(d[i])::"memory");
    }
}

// d[64 x 128] = A[64 x 16] . B[128 x 16]^T (+ d when accumulate != 0), both K-major in shared memory.
__device__ __forceinline__ void wg_mma_bf16(float (&d)[64], uint64_t descA, uint64_t descB, int accumulate) {
    asm volatile(
        "{\n"
        ".reg .pred p;\n"
        "setp.ne.b32 p, %66, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 "
        "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, "
        "%64, %65, p, 1, 1, 0, 0;\n"
        "}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
          "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
          "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
          "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),
          "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),
          "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
          "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
          "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
        : "l"(descA), "l"(descB), "r"(accumulate));
}

// One 128x128 output tile through wgmma (bf16 operands, fp32 accumulation), written (plus bias) into the epilogue
// tile like tc_tile. Columns >= N hold -inf.
template <int STAGES>
__device__ void wg_tile(char* smem, float* tile, const char* a, const char* b, const float* bias, int ldBytes, int M,
                        int N, int m0, int n0) {
    static_assert(STAGES >= 3, "the wgmma pipeline keeps stages loading and one being read");
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int wg = warp >> 2;
    const int wl = warp & 3;
    const int kTiles = ldBytes / GEMM_STAGE_K_BYTES;
    constexpr int AHEAD = STAGES - 2;

    // no instruction but wgmma defines the accumulators until the last wait (else ptxas serialises the wgmmas):
    // the first product overwrites them
    float d[64];
#pragma unroll
    for (int s = 0; s < AHEAD; ++s) {
        if (s < kTiles) {
            tc_load_stage(smem + s * TC_STAGE_BYTES, a, b, ldBytes, m0, n0, M, N, s * GEMM_STAGE_K_BYTES);
        }
        cp_async_commit();
    }
    for (int kt = 0; kt < kTiles; ++kt) {
        // stage kt has landed (this thread's copies), is visible to the tensor cores' proxy, and every warpgroup has
        // finished the batch that read the buffer the next load overwrites (batch kt - 2, waited for below)
        cp_async_wait<AHEAD - 1>();
        asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
        __syncthreads();
        const int next = kt + AHEAD;
        if (next < kTiles) {
            tc_load_stage(smem + (next % STAGES) * TC_STAGE_BYTES, a, b, ldBytes, m0, n0, M, N,
                          next * GEMM_STAGE_K_BYTES);
        }
        cp_async_commit();
        const uint32_t stage = smem_addr(smem + (kt % STAGES) * TC_STAGE_BYTES);
        const uint32_t sA = stage + wg * 64 * GEMM_STAGE_K_BYTES;
        const uint32_t sB = stage + GEMM_BM * GEMM_STAGE_K_BYTES;
        wg_fence();
#pragma unroll
        for (int ks = 0; ks < GEMM_STAGE_K_BYTES / 32; ++ks) {
            wg_mma_bf16(d, wg_desc(sA + ks * 32), wg_desc(sB + ks * 32), kt > 0 || ks > 0);
        }
        wg_commit();
        wg_wait<1>();
    }
    wg_wait<0>();
    wg_fence_acc(d);
    cp_async_wait<0>();
    __syncthreads();

    const int row = wg * 64 + wl * 16 + (lane >> 2);
#pragma unroll
    for (int i = 0; i < 16; ++i) {
        const int col = i * 8 + 2 * (lane & 3);
        const int gc = n0 + col;
        const float b0 = gc < N ? (bias ? bias[gc] : 0.0f) : 0.0f;
        const float b1 = gc + 1 < N ? (bias ? bias[gc + 1] : 0.0f) : 0.0f;
        float2 lo;
        float2 hi;
        lo.x = gc < N ? d[4 * i] + b0 : -INFINITY;
        lo.y = gc + 1 < N ? d[4 * i + 1] + b1 : -INFINITY;
        hi.x = gc < N ? d[4 * i + 2] + b0 : -INFINITY;
        hi.y = gc + 1 < N ? d[4 * i + 3] + b1 : -INFINITY;
        *reinterpret_cast<float2*>(tile + row * EPI_LD + col) = lo;
        *reinterpret_cast<float2*>(tile + (row + 8) * EPI_LD + col) = hi;
    }
    __syncthreads();
}
#endif  // SAE_WGMMA

// ---------------------------------------------------------------------------------------------------------------
// fp32 SIMT mainloop: 8 x 8 outputs per thread, K in steps of 8, operands transposed into shared memory.
// ---------------------------------------------------------------------------------------------------------------

__device__ void simt_tile(char* smem, float* tile, const float* a, const float* b, const float* bias, int ld, int M,
                          int N, int m0, int n0) {
    float* As = reinterpret_cast<float*>(smem);            // [BK][BM]
    float* Bs = As + GEMM_SIMT_BK * GEMM_BM;                // [BK][BN]
    const int tid = threadIdx.x;
    const int ty = tid >> 4;
    const int tx = tid & 15;
    // Loader: thread covers row tid/2, K elements (tid%2)*4 .. +3 of the tile.
    const int lr = tid >> 1;
    const int lk = (tid & 1) * 4;
    const bool aOk = m0 + lr < M;
    const bool bOk = n0 + lr < N;
    const float* aRow = a + static_cast<size_t>(aOk ? m0 + lr : 0) * ld + lk;
    const float* bRow = b + static_cast<size_t>(bOk ? n0 + lr : 0) * ld + lk;
    const int kTiles = ld / GEMM_SIMT_BK;

    float acc[8][8];
#pragma unroll
    for (int i = 0; i < 8; ++i) {
#pragma unroll
        for (int j = 0; j < 8; ++j) {
            acc[i][j] = 0.0f;
        }
    }
    const float4 zero = make_float4(0.f, 0.f, 0.f, 0.f);
    float4 ra = aOk ? *reinterpret_cast<const float4*>(aRow) : zero;
    float4 rb = bOk ? *reinterpret_cast<const float4*>(bRow) : zero;
    for (int kt = 0; kt < kTiles; ++kt) {
        As[(lk + 0) * GEMM_BM + lr] = ra.x;
        As[(lk + 1) * GEMM_BM + lr] = ra.y;
        As[(lk + 2) * GEMM_BM + lr] = ra.z;
        As[(lk + 3) * GEMM_BM + lr] = ra.w;
        Bs[(lk + 0) * GEMM_BN + lr] = rb.x;
        Bs[(lk + 1) * GEMM_BN + lr] = rb.y;
        Bs[(lk + 2) * GEMM_BN + lr] = rb.z;
        Bs[(lk + 3) * GEMM_BN + lr] = rb.w;
        __syncthreads();
        if (kt + 1 < kTiles) {
            const int off = (kt + 1) * GEMM_SIMT_BK;
            ra = aOk ? *reinterpret_cast<const float4*>(aRow + off) : zero;
            rb = bOk ? *reinterpret_cast<const float4*>(bRow + off) : zero;
        }
#pragma unroll
        for (int kk = 0; kk < GEMM_SIMT_BK; ++kk) {
            const float4 a0 = *reinterpret_cast<const float4*>(As + kk * GEMM_BM + ty * 4);
            const float4 a1 = *reinterpret_cast<const float4*>(As + kk * GEMM_BM + 64 + ty * 4);
            const float4 b0 = *reinterpret_cast<const float4*>(Bs + kk * GEMM_BN + tx * 4);
            const float4 b1 = *reinterpret_cast<const float4*>(Bs + kk * GEMM_BN + 64 + tx * 4);
            const float av[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
            const float bv[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
            for (int i = 0; i < 8; ++i) {
#pragma unroll
                for (int j = 0; j < 8; ++j) {
                    acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
                }
            }
        }
        __syncthreads();
    }

#pragma unroll
    for (int i = 0; i < 8; ++i) {
        const int row = (i < 4 ? 0 : 64) + ty * 4 + (i & 3);
#pragma unroll
        for (int half = 0; half < 2; ++half) {
            const int col = half * 64 + tx * 4;
            float4 o;
            float* op = &o.x;
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                const int gc = n0 + col + j;
                op[j] = gc < N ? acc[i][half * 4 + j] + (bias ? bias[gc] : 0.0f) : -INFINITY;
            }
            *reinterpret_cast<float4*>(tile + row * EPI_LD + col) = o;
        }
    }
    __syncthreads();
}

// ---------------------------------------------------------------------------------------------------------------
// Epilogues.
// ---------------------------------------------------------------------------------------------------------------

// Dense store of the tile's valid part into c[M x N] (row stride ldc).
__device__ void store_tile(const float* tile, float* c, long ldc, int M, int N, int m0, int n0) {
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    for (int r = warp; r < GEMM_BM; r += WARPS) {
        if (m0 + r >= M) {
            break;
        }
        float* out = c + static_cast<size_t>(m0 + r) * ldc;
#pragma unroll
        for (int j = 0; j < GEMM_BN / 32; ++j) {
            const int col = lane + 32 * j;
            if (n0 + col < N) {
                out[n0 + col] = tile[r * EPI_LD + col];
            }
        }
    }
    __syncthreads();
}

// Inserts candidate (ck, ci) into a warp-distributed sorted list (entry e = s * 32 + lane), pushing the last entry
// out. The caller guarantees the candidate beats the list's k-th entry, so it lands inside the list.
template <int KPL>
__device__ __forceinline__ void list_insert(uint32_t (&lk)[KPL], int (&li)[KPL], uint32_t ck, int ci, int lane) {
    int pos = 0;
#pragma unroll
    for (int s = 0; s < KPL; ++s) {
        pos += __popc(__ballot_sync(FULL_MASK, better(lk[s], li[s], ck, ci)));
    }
    uint32_t nk[KPL];
    int ni[KPL];
#pragma unroll
    for (int s = 0; s < KPL; ++s) {
        uint32_t upk = __shfl_up_sync(FULL_MASK, lk[s], 1);
        int upi = __shfl_up_sync(FULL_MASK, li[s], 1);
        if (s > 0) {
            const uint32_t pk = __shfl_sync(FULL_MASK, lk[s > 0 ? s - 1 : 0], 31);
            const int pi = __shfl_sync(FULL_MASK, li[s > 0 ? s - 1 : 0], 31);
            if (lane == 0) {
                upk = pk;
                upi = pi;
            }
        }
        const int e = s * 32 + lane;
        nk[s] = e < pos ? lk[s] : (e == pos ? ck : upk);
        ni[s] = e < pos ? li[s] : (e == pos ? ci : upi);
    }
#pragma unroll
    for (int s = 0; s < KPL; ++s) {
        lk[s] = nk[s];
        li[s] = ni[s];
    }
}

// The list's entry e (e < 32 * KPL), read by every lane. Every slot is shuffled and the wanted one picked after,
// so that no register array is indexed at run time (that would move the list to local memory).
template <int KPL>
__device__ __forceinline__ void list_entry(const uint32_t (&lk)[KPL], const int (&li)[KPL], int e, uint32_t& key,
                                           int& idx) {
    const int slot = e >> 5;
    const int srcLane = e & 31;
    key = __shfl_sync(FULL_MASK, lk[0], srcLane);
    idx = __shfl_sync(FULL_MASK, li[0], srcLane);
#pragma unroll
    for (int s = 1; s < KPL; ++s) {
        const uint32_t ks = __shfl_sync(FULL_MASK, lk[s], srcLane);
        const int is = __shfl_sync(FULL_MASK, li[s], srcLane);
        key = slot == s ? ks : key;
        idx = slot == s ? is : idx;
    }
}

// Folds the tile into the per-row lists (in shared memory, 32 * KPL entries per row, sorted by the selection
// order, unused entries (key 0, INT_MAX)). One warp per row; most rows of most tiles have no value above the
// row's current k-th entry and cost one ballot.
template <int KPL>
__device__ void topk_tile(const float* tile, uint32_t* listKey, int* listIdx, int k, int M, int N, int m0, int n0) {
    constexpr int KCAP = 32 * KPL;
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    for (int r = warp; r < GEMM_BM; r += WARPS) {
        if (m0 + r >= M) {
            break;
        }
        uint32_t* rk = listKey + r * KCAP;
        int* ri = listIdx + r * KCAP;
        uint32_t tauKey = rk[k - 1];
        int tauIdx = ri[k - 1];
        const float4 v4 = *reinterpret_cast<const float4*>(tile + r * EPI_LD + lane * 4);
        const float vals[4] = {v4.x, v4.y, v4.z, v4.w};
        uint32_t key[4];
        int col[4];
        bool pass[4];
        bool anyPass = false;
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            col[j] = n0 + lane * 4 + j;
            key[j] = order_key(vals[j]);
            pass[j] = col[j] < N && better(key[j], col[j], tauKey, tauIdx);
            anyPass |= pass[j];
        }
        if (!__any_sync(FULL_MASK, anyPass)) {
            continue;
        }
        uint32_t lk[KPL];
        int li[KPL];
#pragma unroll
        for (int s = 0; s < KPL; ++s) {
            lk[s] = rk[s * 32 + lane];
            li[s] = ri[s * 32 + lane];
        }
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            unsigned m = __ballot_sync(FULL_MASK, pass[j]);
            while (m) {
                const int src = __ffs(m) - 1;
                m &= m - 1;
                const uint32_t ck = __shfl_sync(FULL_MASK, key[j], src);
                const int ci = __shfl_sync(FULL_MASK, col[j], src);
                if (better(ck, ci, tauKey, tauIdx)) {
                    list_insert<KPL>(lk, li, ck, ci, lane);
                    list_entry<KPL>(lk, li, k - 1, tauKey, tauIdx);
                }
            }
        }
#pragma unroll
        for (int s = 0; s < KPL; ++s) {
            rk[s * 32 + lane] = lk[s];
            ri[s * 32 + lane] = li[s];
        }
    }
    __syncthreads();
}

enum class Path { BF16, TF32, FP32 };

// Bytes of shared memory the mainloop and the epilogue tile take (they alias); the top-k lists come after.
template <Path P, int WG_STAGES>
__host__ __device__ constexpr int tile_smem_bytes() {
#ifdef SAE_WGMMA
    return P == Path::BF16 && WG_STAGES * TC_STAGE_BYTES > EPI_TILE_BYTES ? WG_STAGES * TC_STAGE_BYTES : EPI_TILE_BYTES;
#else
    return EPI_TILE_BYTES;
#endif
}

template <Path P, int WG_STAGES = GEMM_WG_STAGES>
__device__ __forceinline__ void compute_tile(char* smem, float* tile, const void* a, const void* b, const float* bias,
                                             int ld, int M, int N, int m0, int n0) {
    if (P == Path::FP32) {
        simt_tile(smem, tile, static_cast<const float*>(a), static_cast<const float*>(b), bias, ld, M, N, m0, n0);
    } else {
        const int ldBytes = ld * (P == Path::BF16 ? 2 : 4);
#ifdef SAE_WGMMA
        if (P == Path::BF16) {
            wg_tile<WG_STAGES>(smem, tile, static_cast<const char*>(a), static_cast<const char*>(b), bias, ldBytes, M, N, m0, n0);
            return;
        }
#endif
        tc_tile<P == Path::TF32>(smem, tile, static_cast<const char*>(a), static_cast<const char*>(b), bias, ldBytes,
                                 M, N, m0, n0);
    }
}

// c[M x N] = a[M x ld] . b[N x ld]^T (+ bias[N]). PANEL_FAST (the kernels' order): a 1-D grid of ceil(M/BM) *
// ceil(N/BN) blocks, the row panels of one column tile consecutive, so that each tile of b comes from memory once
// and the row panels stay in L2 (on an H100 at 8192 x 1024 x 65536: 2.5 ms against 4.3 ms for the grid
// (ceil(N/BN), ceil(M/BM)), which re-reads b from memory for every wave of row panels).
template <Path P, int WG_STAGES = GEMM_WG_STAGES, bool PANEL_FAST = true>
__device__ void gemm_store(const void* a, const void* b, const float* bias, int M, int N, int ld, float* c,
                           long ldc) {
    extern __shared__ __align__(1024) char smem[];
    float* tile = reinterpret_cast<float*>(smem);
    const int panels = (M + GEMM_BM - 1) / GEMM_BM;
    const int n0 = (PANEL_FAST ? blockIdx.x / panels : blockIdx.x) * GEMM_BN;
    const int m0 = (PANEL_FAST ? blockIdx.x % panels : blockIdx.y) * GEMM_BM;
    compute_tile<P, WG_STAGES>(smem, tile, a, b, bias, ld, M, N, m0, n0);
    store_tile(tile, c, ldc, M, N, m0, n0);
}

// Per-chunk top-k candidates. Block (chunk, panel) covers rows [panel*BM, +BM) and column tiles
// [chunk*tilesPerChunk, +tilesPerChunk); it writes, for each of its rows, its k best (key, column) pairs sorted by
// the selection order to cand*[row * ldCand + chunk * k + e]. With PANEL_FAST (the kernels' order) the grid is
// (panel, chunk), else (chunk, panel).
template <Path P, int KPL, int WG_STAGES = GEMM_WG_STAGES, bool PANEL_FAST = true>
__device__ void gemm_topk(const void* a, const void* b, const float* bias, int M, int N, int ld, int k,
                          int tilesPerChunk, uint32_t* candKey, int* candIdx, long ldCand) {
    constexpr int KCAP = 32 * KPL;
    extern __shared__ __align__(1024) char smem[];
    float* tile = reinterpret_cast<float*>(smem);
    uint32_t* listKey = reinterpret_cast<uint32_t*>(smem + tile_smem_bytes<P, WG_STAGES>());
    int* listIdx = reinterpret_cast<int*>(listKey + GEMM_BM * KCAP);
    const int chunk = PANEL_FAST ? blockIdx.y : blockIdx.x;
    const int m0 = (PANEL_FAST ? blockIdx.x : blockIdx.y) * GEMM_BM;
    for (int e = threadIdx.x; e < GEMM_BM * KCAP; e += GEMM_THREADS) {
        listKey[e] = 0u;
        listIdx[e] = 0x7fffffff;
    }
    __syncthreads();
    const int nTiles = (N + GEMM_BN - 1) / GEMM_BN;
    const int tBegin = chunk * tilesPerChunk;
    const int tEnd = min(nTiles, tBegin + tilesPerChunk);
    for (int t = tBegin; t < tEnd; ++t) {
        const int n0 = t * GEMM_BN;
        compute_tile<P, WG_STAGES>(smem, tile, a, b, bias, ld, M, N, m0, n0);
        topk_tile<KPL>(tile, listKey, listIdx, k, M, N, m0, n0);
    }
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    for (int r = warp; r < GEMM_BM; r += WARPS) {
        if (m0 + r >= M) {
            break;
        }
        const size_t base = static_cast<size_t>(m0 + r) * ldCand + static_cast<size_t>(chunk) * k;
        for (int e = lane; e < k; e += 32) {
            candKey[base + e] = listKey[r * KCAP + e];
            candIdx[base + e] = listIdx[r * KCAP + e];
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Row-wise top-k: radix select of the k-th largest key, ordered gather, bitonic sort of the k winners.
// ---------------------------------------------------------------------------------------------------------------

// Keys come either from floats (index = position) or from candidate lists (explicit index). Precondition for the
// tie rule: among equal keys, position order is index order (true for dense rows and for chunk candidates, whose
// chunks cover increasing column ranges and whose lists are sorted).
template <bool KEYS>
__device__ __forceinline__ void load_entry(const void* vals, const int* idxIn, size_t off, int pos, uint32_t& key,
                                           int& idx) {
    if (KEYS) {
        key = static_cast<const uint32_t*>(vals)[off + pos];
        idx = idxIn[off + pos];
    } else {
        key = order_key(static_cast<const float*>(vals)[off + pos]);
        idx = pos;
    }
}

template <bool KEYS>
__device__ void topk_rows_impl(const void* vals, const int* idxIn, long ldIn, int L, int k, int sortSize,
                               const int* map, int relu, int* outIdx, float* outVal, long ldOut) {
    extern __shared__ __align__(16) unsigned long long sel[];
    __shared__ unsigned hist[256];
    __shared__ int warpGt[32];
    __shared__ int warpEq[32];
    __shared__ unsigned sDigit;
    __shared__ int sRem;
    __shared__ int baseGt;
    __shared__ int baseEq;

    const int tid = threadIdx.x;
    const int lane = tid & 31;
    const int warp = tid >> 5;
    const int warps = blockDim.x >> 5;
    const size_t off = static_cast<size_t>(blockIdx.x) * ldIn;

    uint32_t prefix = 0;
    uint32_t mask = 0;
    int kRem = k;
    for (int shift = 24; shift >= 0; shift -= 8) {
        for (int i = tid; i < 256; i += blockDim.x) {
            hist[i] = 0;
        }
        __syncthreads();
        for (int i = tid; i < L; i += blockDim.x) {
            uint32_t key;
            int idx;
            load_entry<KEYS>(vals, idxIn, off, i, key, idx);
            if ((key & mask) == prefix) {
                atomicAdd(&hist[(key >> shift) & 255u], 1u);
            }
        }
        __syncthreads();
        if (warp == 0) {
            // Lane l owns digits 255-8l down to 248-8l; scan from the top digit down.
            const int hi = 255 - 8 * lane;
            unsigned s = 0;
#pragma unroll
            for (int j = 0; j < 8; ++j) {
                s += hist[hi - j];
            }
            unsigned incl = s;
#pragma unroll
            for (int o = 1; o < 32; o <<= 1) {
                const unsigned y = __shfl_up_sync(FULL_MASK, incl, o);
                if (lane >= o) {
                    incl += y;
                }
            }
            const unsigned crossing = __ballot_sync(FULL_MASK, incl >= static_cast<unsigned>(kRem));
            if (lane == __ffs(crossing) - 1) {
                unsigned cum = incl - s;
                for (int j = 0; j < 8; ++j) {
                    const unsigned h = hist[hi - j];
                    if (cum + h >= static_cast<unsigned>(kRem)) {
                        sDigit = static_cast<unsigned>(hi - j);
                        sRem = kRem - static_cast<int>(cum);
                        break;
                    }
                    cum += h;
                }
            }
        }
        __syncthreads();
        prefix |= sDigit << shift;
        mask |= 255u << shift;
        kRem = sRem;
    }
    // prefix is now the k-th largest key; take every larger key and the first kRem equal ones.
    const uint32_t kth = prefix;
    const int needEq = kRem;
    const int gtSlots = k - kRem;
    for (int e = tid; e < sortSize; e += blockDim.x) {
        sel[e] = ~0ull;
    }
    if (tid == 0) {
        baseGt = 0;
        baseEq = 0;
    }
    __syncthreads();
    for (int start = 0; start < L; start += blockDim.x) {
        const int i = start + tid;
        uint32_t key = 0;
        int idx = 0;
        bool gt = false;
        bool eq = false;
        if (i < L) {
            load_entry<KEYS>(vals, idxIn, off, i, key, idx);
            gt = key > kth;
            eq = key == kth;
        }
        const unsigned bg = __ballot_sync(FULL_MASK, gt);
        const unsigned be = __ballot_sync(FULL_MASK, eq);
        if (lane == 0) {
            warpGt[warp] = __popc(bg);
            warpEq[warp] = __popc(be);
        }
        __syncthreads();
        int og = baseGt;
        int oe = baseEq;
        for (int w = 0; w < warp; ++w) {
            og += warpGt[w];
            oe += warpEq[w];
        }
        const unsigned lt = lanemask_lt();
        if (gt) {
            sel[og + __popc(bg & lt)] = selection_word(key, idx);
        }
        if (eq) {
            const int r = oe + __popc(be & lt);
            if (r < needEq) {
                sel[gtSlots + r] = selection_word(key, idx);
            }
        }
        __syncthreads();
        if (tid == 0) {
            for (int w = 0; w < warps; ++w) {
                baseGt += warpGt[w];
                baseEq += warpEq[w];
            }
        }
        __syncthreads();
        if (baseGt == gtSlots && baseEq >= needEq) {
            break;
        }
    }
    for (int size = 2; size <= sortSize; size <<= 1) {
        for (int stride = size >> 1; stride > 0; stride >>= 1) {
            for (int t = tid; t < (sortSize >> 1); t += blockDim.x) {
                const int i = 2 * t - (t & (stride - 1));
                const int j = i + stride;
                const bool ascending = (i & size) == 0;
                const unsigned long long x = sel[i];
                const unsigned long long y = sel[j];
                if ((x > y) == ascending) {
                    sel[i] = y;
                    sel[j] = x;
                }
            }
            __syncthreads();
        }
    }
    const size_t o = static_cast<size_t>(blockIdx.x) * ldOut;
    for (int e = tid; e < k; e += blockDim.x) {
        const unsigned long long w = sel[e];
        const int idx = word_index(w);
        float v = key_value(word_key(w));
        if (relu && v == v) {
            v = fmaxf(v, 0.0f);
        }
        outIdx[o + e] = map ? map[idx] : idx;
        outVal[o + e] = v;
    }
}

}  // namespace

extern "C" {

// ---- operand preparation -----------------------------------------------------------------------------------------

// out = x - bDec (bDec may be null), flat over rows * ld elements of padded matrices (padding stays zero).
__global__ void prep_input_f32(const float* __restrict__ x, const float* __restrict__ bDec, long n, int ld,
                               float* __restrict__ out) {
    for (long i = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<long>(gridDim.x) * blockDim.x) {
        out[i] = bDec ? x[i] - bDec[i % ld] : x[i];
    }
}

__global__ void prep_input_bf16(const float* __restrict__ x, const float* __restrict__ bDec, long n, int ld,
                                __nv_bfloat16* __restrict__ out) {
    for (long i = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<long>(gridDim.x) * blockDim.x) {
        out[i] = __float2bfloat16_rn(bDec ? x[i] - bDec[i % ld] : x[i]);
    }
}

__global__ void convert_bf16(const float* __restrict__ src, long n, __nv_bfloat16* __restrict__ dst) {
    for (long i = blockIdx.x * static_cast<long>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<long>(gridDim.x) * blockDim.x) {
        dst[i] = __float2bfloat16_rn(src[i]);
    }
}

// ---- dense GEMM ----------------------------------------------------------------------------------------------------

__global__ void __launch_bounds__(GEMM_THREADS, 2) gemm_store_bf16(const void* a, const void* b, const float* bias,
                                                                int M, int N, int ld, float* c, long ldc) {
    gemm_store<Path::BF16>(a, b, bias, M, N, ld, c, ldc);
}

__global__ void __launch_bounds__(GEMM_THREADS, 2) gemm_store_tf32(const void* a, const void* b, const float* bias,
                                                                int M, int N, int ld, float* c, long ldc) {
    gemm_store<Path::TF32>(a, b, bias, M, N, ld, c, ldc);
}

__global__ void __launch_bounds__(GEMM_THREADS, 2) gemm_store_f32(const void* a, const void* b, const float* bias,
                                                               int M, int N, int ld, float* c, long ldc) {
    gemm_store<Path::FP32>(a, b, bias, M, N, ld, c, ldc);
}

// ---- fused GEMM + per-chunk top-k ----------------------------------------------------------------------------------

#define SAE_GEMM_TOPK(NAME, PATH, KPL)                                                                              \
    __global__ void __launch_bounds__(GEMM_THREADS, 2)                                                                 \
        NAME(const void* a, const void* b, const float* bias, int M, int N, int ld, int k, int tilesPerChunk,     \
             uint32_t* candKey, int* candIdx, long ldCand) {                                                       \
        gemm_topk<PATH, KPL>(a, b, bias, M, N, ld, k, tilesPerChunk, candKey, candIdx, ldCand);                   \
    }

SAE_GEMM_TOPK(gemm_topk32_bf16, Path::BF16, 1)
SAE_GEMM_TOPK(gemm_topk64_bf16, Path::BF16, 2)
SAE_GEMM_TOPK(gemm_topk32_tf32, Path::TF32, 1)
SAE_GEMM_TOPK(gemm_topk64_tf32, Path::TF32, 2)
SAE_GEMM_TOPK(gemm_topk32_f32, Path::FP32, 1)
SAE_GEMM_TOPK(gemm_topk64_f32, Path::FP32, 2)

#undef SAE_GEMM_TOPK

// ---- row-wise top-k ------------------------------------------------------------------------------------------------

// One block per row: the k best of a row of L floats (index = column), ReLU'd when relu != 0, indices mapped
// through map when not null. sortSize = the power of two >= k; dynamic shared memory = sortSize * 8 bytes.
__global__ void __launch_bounds__(TOPK_ROWS_THREADS) topk_rows_f32(const float* vals, long ldIn, int L, int k,
                                                                   int sortSize, const int* map, int relu,
                                                                   int* outIdx, float* outVal, long ldOut) {
    topk_rows_impl<false>(vals, nullptr, ldIn, L, k, sortSize, map, relu, outIdx, outVal, ldOut);
}

// The same over candidate (key, index) pairs, e.g. the chunks' output of gemm_topk*.
__global__ void __launch_bounds__(TOPK_ROWS_THREADS) topk_rows_keys(const uint32_t* keys, const int* idx, long ldIn,
                                                                    int L, int k, int sortSize, const int* map,
                                                                    int relu, int* outIdx, float* outVal,
                                                                    long ldOut) {
    topk_rows_impl<true>(keys, idx, ldIn, L, k, sortSize, map, relu, outIdx, outVal, ldOut);
}

// ---- threshold activations (JumpReLU, ReLU) ------------------------------------------------------------------------

// counts[r] = #{j : pre[r][j] > thr[j] and pre[r][j] > 0} (thr null: > 0). One block per row.
__global__ void threshold_count(const float* pre, long ld, int N, const float* thr, int* counts) {
    __shared__ int scratch[32];
    const float* row = pre + static_cast<size_t>(blockIdx.x) * ld;
    int c = 0;
    for (int j = threadIdx.x; j < N; j += blockDim.x) {
        const float v = row[j];
        c += (v > 0.0f && (!thr || v > thr[j])) ? 1 : 0;
    }
    const int total = block_sum(c, scratch);
    if (threadIdx.x == 0) {
        counts[blockIdx.x] = total;
    }
}

// Writes row r's kept (latent, value) pairs in ascending latent order at rowStart[r]. One block per row.
__global__ void threshold_compact(const float* pre, long ld, int N, const float* thr, const int* rowStart,
                                  int* outIdx, float* outVal) {
    __shared__ int warpCount[32];
    __shared__ int base;
    const int tid = threadIdx.x;
    const int lane = tid & 31;
    const int warp = tid >> 5;
    const int warps = blockDim.x >> 5;
    const float* row = pre + static_cast<size_t>(blockIdx.x) * ld;
    if (tid == 0) {
        base = rowStart[blockIdx.x];
    }
    __syncthreads();
    for (int start = 0; start < N; start += blockDim.x) {
        const int j = start + tid;
        float v = 0.0f;
        bool keep = false;
        if (j < N) {
            v = row[j];
            keep = v > 0.0f && (!thr || v > thr[j]);
        }
        const unsigned b = __ballot_sync(FULL_MASK, keep);
        if (lane == 0) {
            warpCount[warp] = __popc(b);
        }
        __syncthreads();
        int o = base;
        for (int w = 0; w < warp; ++w) {
            o += warpCount[w];
        }
        if (keep) {
            const int p = o + __popc(b & lanemask_lt());
            outIdx[p] = j;
            outVal[p] = v;
        }
        __syncthreads();
        if (tid == 0) {
            for (int w = 0; w < warps; ++w) {
                base += warpCount[w];
            }
        }
        __syncthreads();
    }
}

}  // extern "C"
