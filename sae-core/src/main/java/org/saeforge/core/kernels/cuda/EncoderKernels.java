package org.saeforge.core.kernels.cuda;

import static org.saeforge.core.kernels.cuda.LaunchMath.ROW_THREADS;

import org.saeforge.core.kernels.cuda.CudaContext.KernelFunction;
import org.saeforge.core.kernels.cuda.LaunchMath.TopKPlan;

/**
 * The encoder kernels of {@code encode.cu} on device buffers: operand preparation, the GEMM (dense store or fused
 * per-chunk top-k), the row-wise top-k merge and the threshold activations. Device matrices with dIn columns are
 * padded to {@code ld = LaunchMath.paddedLd(dIn)}. Shapes are checked against the buffers before any launch.
 */
public final class EncoderKernels {
    private static final String FAMILY = "encode";

    private final CudaContext ctx;

    public EncoderKernels(CudaContext ctx) {
        this.ctx = ctx;
    }

    /** {@code out = x - bDec} ({@code bDec} may be null) over rows x ld, as bf16 or fp32 operand of precision p. */
    public void prepareInput(DeviceBuffer x, DeviceBuffer bDec, int rows, int ld, GemmPrecision p, DeviceBuffer out) {
        requirePadded(ld);
        long n = (long) rows * ld;
        x.require(4 * n, "prepareInput x [" + rows + " x " + ld + "]");
        if (bDec != null) {
            bDec.require(4L * ld, "prepareInput bDec [" + ld + "]");
        }
        out.require(n * p.operandBytes(), "prepareInput output [" + rows + " x " + ld + "] " + p.suffix());
        if (n == 0) {
            return;
        }
        String name = p == GemmPrecision.BF16 ? "prep_input_bf16" : "prep_input_f32";
        ctx.launch(fn(name), LaunchMath.elementwiseGrid(n, ctx.multiprocessors()), 1, ROW_THREADS, 0,
                KernelArgs.of().ptr(x).ptr(bDec).l(n).i(ld).ptr(out));
    }

    /** {@code dst = bf16(src)} over n floats. */
    public void convertToBf16(DeviceBuffer src, long n, DeviceBuffer dst) {
        src.require(4 * n, "convertToBf16 source of " + n + " floats");
        dst.require(2 * n, "convertToBf16 destination of " + n + " bf16");
        if (n == 0) {
            return;
        }
        ctx.launch(fn("convert_bf16"), LaunchMath.elementwiseGrid(n, ctx.multiprocessors()), 1, ROW_THREADS, 0,
                KernelArgs.of().ptr(src).l(n).ptr(dst));
    }

    /**
     * {@code c[m x n] = a[m x ld] . b[n x ld]^T (+ bias[n])}, c with row stride ldc. a and b are operands of precision
     * p (bf16 or fp32), zero-padded to ld.
     */
    public void gemmStore(GemmPrecision p, DeviceBuffer a, DeviceBuffer b, DeviceBuffer bias, int m, int n, int ld,
                          DeviceBuffer c, long ldc) {
        requireOperands(p, a, b, bias, m, n, ld);
        if (ldc < n) {
            throw new IllegalArgumentException("gemmStore: output row stride " + ldc + " < " + n + " columns");
        }
        c.require(4 * ((long) (m - 1) * ldc + n), "gemmStore output [" + m + " x " + n + "] (stride " + ldc + ")");
        int[] grid = LaunchMath.gemmStoreGrid(m, n);
        ctx.launch(fn("gemm_store_" + p.suffix()), grid[0], grid[1], LaunchMath.GEMM_THREADS,
                LaunchMath.gemmStoreSmemBytes(), KernelArgs.of().ptr(a).ptr(b).ptr(bias).i(m).i(n).i(ld).ptr(c).l(ldc));
    }

    /** The chunking of the fused GEMM + top-k for this device (uses the kernel's measured occupancy). */
    public TopKPlan planTopK(GemmPrecision p, int m, int n, int k) {
        int smem = LaunchMath.gemmTopKSmemBytes(k);
        int perSm = ctx.blocksPerMultiprocessor(fn(topKKernel(p, k)), LaunchMath.GEMM_THREADS, smem);
        return LaunchMath.planTopK(m, n, k, ctx.multiprocessors(), perSm);
    }

    /**
     * Fused GEMM + per-chunk top-k: for each row, the k best (key, column) pairs of each chunk of columns, into
     * {@code candKey/candIdx [m x plan.candidatesPerRow()]}. The dense pre-activations never reach device memory.
     */
    public void gemmTopK(GemmPrecision p, TopKPlan plan, DeviceBuffer a, DeviceBuffer b, DeviceBuffer bias, int ld,
                         DeviceBuffer candKey, DeviceBuffer candIdx) {
        int m = plan.rows();
        int n = plan.cols();
        requireOperands(p, a, b, bias, m, n, ld);
        long cands = (long) m * plan.candidatesPerRow();
        candKey.require(4 * cands, "gemmTopK candidate keys [" + m + " x " + plan.candidatesPerRow() + "]");
        candIdx.require(4 * cands, "gemmTopK candidate indices [" + m + " x " + plan.candidatesPerRow() + "]");
        ctx.launch(fn(topKKernel(p, plan.k())), plan.panels(), plan.chunks(), LaunchMath.GEMM_THREADS, plan.smemBytes(),
                KernelArgs.of().ptr(a).ptr(b).ptr(bias).i(m).i(n).i(ld).i(plan.k()).i(plan.tilesPerChunk())
                        .ptr(candKey).ptr(candIdx).l(plan.candidatesPerRow()));
    }

    /**
     * Row-wise top-k over dense float rows: for each of {@code rows} rows (stride ldIn) of {@code len} values, the k
     * largest (ties to the lower column) sorted descending, ReLU'd if asked, columns mapped through {@code map} when
     * not null, into {@code outIdx/outVal} (row stride ldOut).
     */
    public void topKRows(DeviceBuffer vals, long ldIn, int rows, int len, int k, DeviceBuffer map, boolean relu,
                         DeviceBuffer outIdx, DeviceBuffer outVal, long ldOut) {
        requireRows(rows, len, k, ldIn, ldOut, outIdx, outVal);
        if (map != null) {
            map.require(4L * len, "topKRows index map [" + len + "]");
        }
        vals.require(4 * ((long) (rows - 1) * ldIn + len), "topKRows input [" + rows + " x " + len + "]");
        ctx.launch(fn("topk_rows_f32"), rows, 1, LaunchMath.TOPK_ROWS_THREADS, LaunchMath.topKRowsSmemBytes(k),
                KernelArgs.of().ptr(vals).l(ldIn).i(len).i(k).i(LaunchMath.topKSortSize(k)).ptr(map).i(relu ? 1 : 0)
                        .ptr(outIdx).ptr(outVal).l(ldOut));
    }

    /**
     * {@link #topKRows} over (key, index) candidate rows such as {@link #gemmTopK}'s output; {@code map}, when not null,
     * must cover every candidate index.
     */
    public void topKCandidates(DeviceBuffer keys, DeviceBuffer idx, long ldIn, int rows, int len, int k, DeviceBuffer map,
                               boolean relu, DeviceBuffer outIdx, DeviceBuffer outVal, long ldOut) {
        requireRows(rows, len, k, ldIn, ldOut, outIdx, outVal);
        long need = 4 * ((long) (rows - 1) * ldIn + len);
        keys.require(need, "topKCandidates keys [" + rows + " x " + len + "]");
        idx.require(need, "topKCandidates indices [" + rows + " x " + len + "]");
        ctx.launch(fn("topk_rows_keys"), rows, 1, LaunchMath.TOPK_ROWS_THREADS, LaunchMath.topKRowsSmemBytes(k),
                KernelArgs.of().ptr(keys).ptr(idx).l(ldIn).i(len).i(k).i(LaunchMath.topKSortSize(k)).ptr(map)
                        .i(relu ? 1 : 0).ptr(outIdx).ptr(outVal).l(ldOut));
    }

    /**
     * The whole TopK selection of {@code pre = a . b^T + bias} ({@code m x n}): the fused GEMM + top-k and the merge
     * when k <= {@value LaunchMath#TOPK_FUSED_MAX}, else dense pre-activation chunks and the row-wise top-k. Writes k
     * (latent, ReLU'd value) pairs per row into {@code outIdx/outVal [m x k]}; latents are mapped through
     * {@code map} when not null (AuxK's dead ids).
     */
    public void selectTopK(GemmPrecision p, DeviceBuffer a, DeviceBuffer b, DeviceBuffer bias, int m, int n, int ld,
                           int k, DeviceBuffer map, DeviceBuffer outIdx, DeviceBuffer outVal, Workspace ws) {
        if (k < 1 || k > n || k > LaunchMath.TOPK_SORT_MAX) {
            throw new IllegalArgumentException("CUDA top-k needs 1 <= k <= min(" + n + " columns, "
                    + LaunchMath.TOPK_SORT_MAX + "), got k=" + k);
        }
        if (map != null) {
            map.require(4L * n, "selectTopK index map [" + n + "]");
        }
        if (k <= LaunchMath.TOPK_FUSED_MAX) {
            TopKPlan plan = planTopK(p, m, n, k);
            long cands = (long) m * plan.candidatesPerRow();
            DeviceBuffer candKey = ws.get("topk.candKey", 4 * cands);
            DeviceBuffer candIdx = ws.get("topk.candIdx", 4 * cands);
            gemmTopK(p, plan, a, b, bias, ld, candKey, candIdx);
            topKCandidates(candKey, candIdx, plan.candidatesPerRow(), m, plan.candidatesPerRow(), k, map, true, outIdx,
                    outVal, k);
            return;
        }
        int chunk = LaunchMath.denseChunkRows(m, n);
        DeviceBuffer pre = ws.get("topk.pre", 4L * chunk * n);
        long rowBytes = (long) ld * p.operandBytes();
        for (int r0 = 0; r0 < m; r0 += chunk) {
            int rows = Math.min(chunk, m - r0);
            DeviceBuffer aPart = a.view(r0 * rowBytes, rows * rowBytes);
            gemmStore(p, aPart, b, bias, rows, n, ld, pre, n);
            topKRows(pre, n, rows, n, k, map, true, outIdx.view(4L * r0 * k, 4L * rows * k),
                    outVal.view(4L * r0 * k, 4L * rows * k), k);
        }
    }

    /**
     * Scratch bytes {@link #selectTopK} uses for m rows over at most n columns with this k: the fused path's
     * candidates ({@code candidatesPerRow} per row, from {@link #planTopK} at n columns), or the dense path's
     * pre-activation chunk.
     */
    public static long selectScratchBytes(int m, int n, int k, int candidatesPerRow) {
        if (k <= LaunchMath.TOPK_FUSED_MAX) {
            return 8L * m * candidatesPerRow;
        }
        return 4 * Math.min((long) m * n, LaunchMath.DENSE_CHUNK_FLOATS);
    }

    /** Allocates the scratch of {@link #selectTopK} for m rows over up to n columns with this k, so no call grows it. */
    public void reserveSelect(GemmPrecision p, int m, int n, int k, Workspace ws) {
        if (k <= LaunchMath.TOPK_FUSED_MAX) {
            long cands = (long) m * planTopK(p, m, n, k).candidatesPerRow();
            ws.get("topk.candKey", 4 * cands);
            ws.get("topk.candIdx", 4 * cands);
        } else {
            ws.get("topk.pre", selectScratchBytes(m, n, k, 0));
        }
    }

    /** {@code counts[r] = #{j : pre[r][j] > 0 and pre[r][j] > thr[j]}} (thr null: ReLU) for rows x n (stride ld). */
    public void thresholdCount(DeviceBuffer pre, long ld, int rows, int n, DeviceBuffer thr, DeviceBuffer counts) {
        requireThreshold(pre, ld, rows, n, thr);
        counts.require(4L * rows, "thresholdCount counts [" + rows + "]");
        ctx.launch(fn("threshold_count"), rows, 1, LaunchMath.scalarRowThreads(n), 0,
                KernelArgs.of().ptr(pre).l(ld).i(n).ptr(thr).ptr(counts));
    }

    /** Writes the kept (latent, value) pairs of row r, ascending latent, at {@code rowStart[r]} of outIdx/outVal. */
    public void thresholdCompact(DeviceBuffer pre, long ld, int rows, int n, DeviceBuffer thr, DeviceBuffer rowStart,
                                 DeviceBuffer outIdx, DeviceBuffer outVal) {
        requireThreshold(pre, ld, rows, n, thr);
        rowStart.require(4L * rows, "thresholdCompact rowStart [" + rows + "]");
        ctx.launch(fn("threshold_compact"), rows, 1, LaunchMath.scalarRowThreads(n), 0,
                KernelArgs.of().ptr(pre).l(ld).i(n).ptr(thr).ptr(rowStart).ptr(outIdx).ptr(outVal));
    }

    static String topKKernel(GemmPrecision p, int k) {
        return "gemm_topk" + LaunchMath.topKListCapacity(k) + "_" + p.suffix();
    }

    private KernelFunction fn(String name) {
        return ctx.function(FAMILY, name);
    }

    private static void requirePadded(int ld) {
        if (ld < LaunchMath.K_PAD || ld % LaunchMath.K_PAD != 0) {
            throw new IllegalArgumentException("device leading dimension " + ld + " is not a positive multiple of "
                    + LaunchMath.K_PAD);
        }
    }

    private static void requireOperands(GemmPrecision p, DeviceBuffer a, DeviceBuffer b, DeviceBuffer bias, int m,
                                        int n, int ld) {
        requirePadded(ld);
        if (m < 1 || n < 1) {
            throw new IllegalArgumentException("GEMM shape [" + m + " x " + n + "] must be positive");
        }
        a.require((long) m * ld * p.operandBytes(), "GEMM operand a [" + m + " x " + ld + "] " + p.suffix());
        b.require((long) n * ld * p.operandBytes(), "GEMM operand b [" + n + " x " + ld + "] " + p.suffix());
        if (bias != null) {
            bias.require(4L * n, "GEMM bias [" + n + "]");
        }
    }

    private static void requireRows(int rows, int len, int k, long ldIn, long ldOut, DeviceBuffer outIdx,
                                    DeviceBuffer outVal) {
        if (rows < 1 || len < 1 || k < 1 || k > len || ldIn < len || ldOut < k) {
            throw new IllegalArgumentException("top-k of " + rows + " rows of " + len + " (stride " + ldIn + ") with k="
                    + k + " (output stride " + ldOut + ")");
        }
        LaunchMath.topKSortSize(k);
        long out = 4 * ((long) (rows - 1) * ldOut + k);
        outIdx.require(out, "top-k output indices [" + rows + " x " + k + "]");
        outVal.require(out, "top-k output values [" + rows + " x " + k + "]");
    }

    private static void requireThreshold(DeviceBuffer pre, long ld, int rows, int n, DeviceBuffer thr) {
        if (rows < 1 || n < 1 || ld < n) {
            throw new IllegalArgumentException("threshold over [" + rows + " x " + n + "] with stride " + ld);
        }
        pre.require(4 * ((long) (rows - 1) * ld + n), "threshold input [" + rows + " x " + n + "]");
        if (thr != null) {
            thr.require(4L * n, "threshold thresholds [" + n + "]");
        }
    }
}
