package org.saeforge.core.kernels.cuda;

import static org.saeforge.core.kernels.cuda.LaunchMath.ROW_THREADS;

import org.saeforge.core.kernels.cuda.CudaContext.KernelFunction;
import org.saeforge.core.kernels.Revival;

/**
 * The kernels of {@code train.cu}, and the reductions of {@code metrics.cu} with their results left on the device: what
 * the device-resident training step needs beyond the other families. Scalars the step computes (total variance, squared
 * errors, counts) stay in device memory, so a step never waits for the host. Scratch comes from a {@link Workspace}
 * under the names this class owns ({@link #reserve} sizes them up front).
 */
public final class TrainKernels {
    private static final String FAMILY = "train";
    private static final String METRICS = "metrics";

    private final CudaContext ctx;
    private final Workspace ws;

    public TrainKernels(CudaContext ctx, Workspace ws) {
        this.ctx = ctx;
        this.ws = ws;
    }

    /** Scratch bytes for batches of {@code rows x ld} and weights of n rows on a device with smCount multiprocessors. */
    public static long scratchBytes(int rows, int ld, int n, int smCount) {
        long chunks = LaunchMath.columnMomentsGrid(rows, ld)[1];
        long partials = LaunchMath.elementwiseGrid((long) rows * ld, smCount);
        long rowChunks = LaunchMath.ceilDiv(n, LaunchMath.rowCombinationRowsPerChunk(n, ld, smCount));
        return 8 * (2 * chunks * ld + 3L * ld + partials + rowChunks * ld);
    }

    /** Allocates the scratch of {@link #scratchBytes} now, so that no step allocates. */
    public void reserve(int rows, int ld, int n) {
        int sm = ctx.multiprocessors();
        long chunks = LaunchMath.columnMomentsGrid(rows, ld)[1];
        ws.get("train.colPartial", 8 * chunks * ld);
        ws.get("train.colPartialSq", 8 * chunks * ld);
        ws.get("train.colVectors", 24L * ld);
        ws.get("train.partials", 8L * LaunchMath.elementwiseGrid((long) rows * ld, sm));
        ws.get("train.rowComb", 8 * LaunchMath.ceilDiv(n, LaunchMath.rowCombinationRowsPerChunk(n, ld, sm)) * ld);
    }

    /**
     * {@code x[r][c] = float(src[r][c]) · scale} for c &lt; dIn and 0 up to ld; src holds rows of dIn elements of
     * {@code dtypeCode} (0 float32, 1 float16, 2 bfloat16).
     */
    public void convertRows(DeviceBuffer src, int dtypeCode, int elementBytes, int rows, int dIn, int ld, float scale, DeviceBuffer x) {
        if (dtypeCode < 0 || dtypeCode > 2 || rows < 1 || dIn < 1 || ld < dIn) {
            throw new IllegalArgumentException("convertRows of " + rows + " x " + dIn + " (dtype " + dtypeCode + ") into ld " + ld);
        }
        src.require((long) rows * dIn * elementBytes, "convertRows source [" + rows + " x " + dIn + "]");
        x.require(4L * rows * ld, "convertRows output [" + rows + " x " + ld + "]");
        ctx.launch(fn("convert_rows"), LaunchMath.elementwiseGrid((long) rows * ld, ctx.multiprocessors()), 1, ROW_THREADS, 0,
                KernelArgs.of().ptr(src).i(dtypeCode).l(rows).i(dIn).i(ld).f(scale).ptr(x));
    }

    /** {@code out[0] = Σ_r Σ_c (x[r][c] − mean_c)²} (double) over {@code rows x ld}; mean and sums stay on the device. */
    public void totalVariance(DeviceBuffer x, int rows, int ld, DeviceBuffer out) {
        x.require(4L * rows * ld, "totalVariance x [" + rows + " x " + ld + "]");
        out.require(8, "totalVariance output");
        int chunks = LaunchMath.columnMomentsGrid(rows, ld)[1];
        DeviceBuffer partial = ws.get("train.colPartial", 8L * chunks * ld);
        DeviceBuffer partialSq = ws.get("train.colPartialSq", 8L * chunks * ld);
        DeviceBuffer vectors = ws.get("train.colVectors", 24L * ld);
        DeviceBuffer sums = vectors.view(0, 8L * ld);
        DeviceBuffer mean = vectors.view(8L * ld, 8L * ld);
        DeviceBuffer sq = vectors.view(16L * ld, 8L * ld);
        columnMoments(x, rows, ld, null, partial, partialSq);
        sumColumnPartials(partial, chunks, ld, sums);
        ctx.launch(fn("column_mean"), LaunchMath.ceilDiv(ld, ROW_THREADS), 1, ROW_THREADS, 0,
                KernelArgs.of().ptr(sums).i(ld).i(rows).ptr(mean));
        columnMoments(x, rows, ld, mean, partial, partialSq);
        sumColumnPartials(partialSq, chunks, ld, sq);
        sumDoubles(sq, ld, out);
    }

    /**
     * {@code e = xHat − x} (or {@code auxHat − (x − xHat)} when auxHat is not null),
     * {@code grad = (float)(factor · 2 / max(totalVar[0], 1e-30)) · e}, {@code sse[0] = Σ e²}, over n floats.
     */
    public void residualGradient(DeviceBuffer x, DeviceBuffer xHat, DeviceBuffer auxHat, long n, DeviceBuffer totalVar, double factor,
                                 DeviceBuffer grad, DeviceBuffer sse) {
        for (DeviceBuffer b : new DeviceBuffer[] {x, xHat, grad}) {
            b.require(4 * n, "residualGradient operand of " + n + " floats");
        }
        if (auxHat != null) {
            auxHat.require(4 * n, "residualGradient AuxK reconstruction of " + n + " floats");
        }
        totalVar.require(8, "residualGradient total variance");
        sse.require(8, "residualGradient squared error");
        int grid = LaunchMath.elementwiseGrid(n, ctx.multiprocessors());
        DeviceBuffer partials = ws.get("train.partials", 8L * grid);
        ctx.launch(fn("residual_grad"), grid, 1, ROW_THREADS, 0,
                KernelArgs.of().ptr(x).ptr(xHat).ptr(auxHat).l(n).ptr(totalVar).d(factor).ptr(grad).ptr(partials));
        sumDoubles(partials, grid, sse);
    }

    /** {@code d[p] = 0} where {@code val[p] <= 0}. */
    public void maskNonPositive(DeviceBuffer val, DeviceBuffer d, int nnz) {
        val.require(4L * nnz, "maskNonPositive values [" + nnz + "]");
        d.require(4L * nnz, "maskNonPositive gradients [" + nnz + "]");
        if (nnz == 0) {
            return;
        }
        ctx.launch(fn("mask_nonpositive"), LaunchMath.elementwiseGrid(nnz, ctx.multiprocessors()), 1, ROW_THREADS, 0,
                KernelArgs.of().ptr(val).ptr(d).i(nnz));
    }

    /** {@code out[c] += (float) Σ_r m[r][c]} (double sums) over {@code rows x ld}. */
    public void addColumnSums(DeviceBuffer m, int rows, int ld, DeviceBuffer out) {
        m.require(4L * rows * ld, "addColumnSums input [" + rows + " x " + ld + "]");
        out.require(4L * ld, "addColumnSums output [" + ld + "]");
        int chunks = LaunchMath.columnMomentsGrid(rows, ld)[1];
        DeviceBuffer partial = ws.get("train.colPartial", 8L * chunks * ld);
        DeviceBuffer partialSq = ws.get("train.colPartialSq", 8L * chunks * ld);
        columnMoments(m, rows, ld, null, partial, partialSq);
        ctx.launch(fn("add_column_partials"), LaunchMath.ceilDiv(ld, ROW_THREADS), 1, ROW_THREADS, 0,
                KernelArgs.of().ptr(partial).i(chunks).i(ld).f(1f).ptr(out));
    }

    /** {@code out[c] −= (float) Σ_j coef[j] · w[j][c]} (double sums) over the n rows of {@code w [n x ld]}. */
    public void subtractRowCombination(DeviceBuffer coef, DeviceBuffer w, int n, int ld, DeviceBuffer out) {
        coef.require(4L * n, "rowCombination coefficients [" + n + "]");
        w.require(4L * n * ld, "rowCombination rows [" + n + " x " + ld + "]");
        out.require(4L * ld, "rowCombination output [" + ld + "]");
        int perChunk = LaunchMath.rowCombinationRowsPerChunk(n, ld, ctx.multiprocessors());
        int chunks = LaunchMath.ceilDiv(n, perChunk);
        DeviceBuffer partial = ws.get("train.rowComb", 8L * chunks * ld);
        ctx.launch(fn("row_combination_partial"), LaunchMath.ceilDiv(ld, ROW_THREADS), chunks, ROW_THREADS, 0,
                KernelArgs.of().ptr(coef).ptr(w).i(n).i(ld).i(perChunk).ptr(partial));
        ctx.launch(fn("add_column_partials"), LaunchMath.ceilDiv(ld, ROW_THREADS), 1, ROW_THREADS, 0,
                KernelArgs.of().ptr(partial).i(chunks).i(ld).f(-1f).ptr(out));
    }

    /**
     * {@code positive[0] += #(val > 0)} (64-bit), {@code fired[j] += #(entries of latent j with val > 0)} (fired may be
     * null) and {@code selected[j] += #(entries of latent j)} over nnz entries.
     */
    public void codeStats(DeviceBuffer idx, DeviceBuffer val, int nnz, DeviceBuffer positive, DeviceBuffer fired, DeviceBuffer selected,
                          int numLatents) {
        idx.require(4L * nnz, "codeStats indices [" + nnz + "]");
        val.require(4L * nnz, "codeStats values [" + nnz + "]");
        positive.require(8, "codeStats positive count");
        selected.require(4L * numLatents, "codeStats selections [" + numLatents + "]");
        if (fired != null) {
            fired.require(4L * numLatents, "codeStats firings [" + numLatents + "]");
        }
        if (nnz == 0) {
            return;
        }
        ctx.launch(ctx.function(METRICS, "code_stats"), LaunchMath.elementwiseGrid(nnz, ctx.multiprocessors()), 1, ROW_THREADS, 0,
                KernelArgs.of().ptr(idx).ptr(val).i(nnz).ptr(positive).ptr(fired).ptr(selected));
    }

    /** The dead-latent update of {@code train.cu}'s {@code dead_update} (one block). */
    public void deadUpdate(DeviceBuffer since, DeviceBuffer selected, int n, long rows, long deadAfter, DeviceBuffer deadIds,
                           DeviceBuffer numDead) {
        since.require(8L * n, "deadUpdate counters [" + n + "]");
        selected.require(4L * n, "deadUpdate selections [" + n + "]");
        deadIds.require(4L * n, "deadUpdate dead ids [" + n + "]");
        numDead.require(4, "deadUpdate count");
        if (rows < 0 || deadAfter < 1) {
            throw new IllegalArgumentException("deadUpdate with rows " + rows + ", deadAfter " + deadAfter);
        }
        ctx.launch(fn("dead_update"), 1, 1, LaunchMath.DEAD_UPDATE_THREADS, 0,
                KernelArgs.of().ptr(since).ptr(selected).i(n).l(rows).l(deadAfter).ptr(deadIds).ptr(numDead));
    }

    /** The revival bias step of {@code train.cu}'s {@code revive_bias} (one block; see TrainDevice#reviveBias). */
    public void reviveBias(DeviceBuffer bEnc, DeviceBuffer sincePositive, DeviceBuffer fired, int n, long rows, long after, DeviceBuffer val,
                           int nnz, double rate) {
        bEnc.require(4L * n, "reviveBias biases [" + n + "]");
        sincePositive.require(8L * n, "reviveBias counters [" + n + "]");
        fired.require(4L * n, "reviveBias firings [" + n + "]");
        val.require(4L * nnz, "reviveBias values [" + nnz + "]");
        if (rows < 0 || after < 0 || nnz < 0 || !(rate >= 0)) {
            throw new IllegalArgumentException("reviveBias with rows " + rows + ", after " + after + ", nnz " + nnz + ", rate " + rate);
        }
        ctx.launch(fn("revive_bias"), 1, 1, LaunchMath.DEAD_UPDATE_THREADS, 0,
                KernelArgs.of().ptr(bEnc).ptr(sincePositive).ptr(fired).i(n).l(rows).l(after).ptr(val).i(nnz).d(rate)
                        .d(Revival.CAP));
    }

    /**
     * Revival's encoder step ({@link Revival#reviveEncoder}) on {@code wEnc [n x ld]} for the latents with
     * {@code sincePositive[j] > after}, from the batch {@code x [rows x ld]} and {@code bDec [ld]}: {@code train.cu}'s
     * {@code mean_offset}, {@code encoder_row_stats}, {@code revive_encoder_prepare} and {@code revive_encoder}. Scratch:
     * {@code u} floats[ld], {@code stats} doubles[2n], {@code scalars} doubles[2]; the changed rows also go to
     * {@code bf16Shadow} when it is not null; rows grow by the factor {@code 1 + growth} at most. Nothing is launched
     * when after is 0.
     */
    public void reviveEncoder(DeviceBuffer wEnc, DeviceBuffer bf16Shadow, DeviceBuffer x, DeviceBuffer bDec, DeviceBuffer sincePositive,
                              DeviceBuffer fired, int rows, int n, int ld, long after, double growth, DeviceBuffer u, DeviceBuffer stats, DeviceBuffer scalars) {
        if (rows < 1 || n < 1 || ld < 1 || after < 0 || !(growth >= 0)) {
            throw new IllegalArgumentException("reviveEncoder with rows " + rows + ", n " + n + ", ld " + ld + ", after " + after
                    + ", growth " + growth);
        }
        wEnc.require(4L * n * ld, "reviveEncoder encoder rows [" + n + " x " + ld + "]");
        if (bf16Shadow != null) {
            bf16Shadow.require(2L * n * ld, "reviveEncoder bf16 encoder rows [" + n + " x " + ld + "]");
        }
        x.require(4L * rows * ld, "reviveEncoder batch [" + rows + " x " + ld + "]");
        bDec.require(4L * ld, "reviveEncoder bDec [" + ld + "]");
        sincePositive.require(8L * n, "reviveEncoder counters [" + n + "]");
        fired.require(4L * n, "reviveEncoder firings [" + n + "]");
        u.require(4L * ld, "reviveEncoder mean offset [" + ld + "]");
        stats.require(16L * n, "reviveEncoder row stats [2 x " + n + "]");
        scalars.require(16, "reviveEncoder scalars [2]");
        if (after == 0) {
            return;
        }
        ctx.launch(fn("mean_offset"), (ld + 31) / 32, 1, 256, 0, KernelArgs.of().ptr(x).ptr(bDec).i(rows).i(ld).ptr(u));
        int rowThreads = LaunchMath.scalarRowThreads(ld);
        ctx.launch(fn("encoder_row_stats"), n, 1, rowThreads, 0, KernelArgs.of().ptr(wEnc).ptr(u).i(ld).ptr(stats));
        ctx.launch(fn("revive_encoder_prepare"), 1, 1, LaunchMath.DEAD_UPDATE_THREADS, 0,
                KernelArgs.of().ptr(stats).ptr(sincePositive).ptr(fired).l(rows).ptr(u).i(n).i(ld).l(after).ptr(scalars));
        ctx.launch(fn("revive_encoder"), n, 1, rowThreads, 0,
                KernelArgs.of().ptr(wEnc).ptr(bf16Shadow).ptr(u).ptr(sincePositive).ptr(fired).l(rows).ptr(stats).ptr(scalars).i(ld)
                        .l(after).d(1 + growth));
    }

    /** {@code firstBad[0] = step + 1} when {@code sse[0]} or {@code sseAux[0]} is not finite and firstBad[0] is 0. */
    public void checkFinite(DeviceBuffer sse, DeviceBuffer sseAux, long step, DeviceBuffer firstBad) {
        sse.require(8, "checkFinite sse");
        sseAux.require(8, "checkFinite AuxK sse");
        firstBad.require(8, "checkFinite first bad step");
        ctx.launch(fn("check_finite"), 1, 1, 32, 0, KernelArgs.of().ptr(sse).ptr(sseAux).l(step).ptr(firstBad));
    }

    private void columnMoments(DeviceBuffer x, int rows, int ld, DeviceBuffer center, DeviceBuffer partial, DeviceBuffer partialSq) {
        int[] grid = LaunchMath.columnMomentsGrid(rows, ld);
        ctx.launch(ctx.function(METRICS, "column_moments"), grid[0], grid[1], ROW_THREADS, 0,
                KernelArgs.of().ptr(x).i(rows).i(ld).ptr(center).ptr(partial).ptr(partialSq));
    }

    private void sumColumnPartials(DeviceBuffer partial, int chunks, int ld, DeviceBuffer out) {
        ctx.launch(ctx.function(METRICS, "sum_column_partials"), LaunchMath.ceilDiv(ld, ROW_THREADS), 1, ROW_THREADS, 0,
                KernelArgs.of().ptr(partial).i(chunks).i(ld).ptr(out));
    }

    /** {@code out[0] = Σ values[0 .. count)} in a fixed order (one block). */
    private void sumDoubles(DeviceBuffer values, int count, DeviceBuffer out) {
        ctx.launch(ctx.function(METRICS, "sum_partials"), 1, 1, ROW_THREADS, 0, KernelArgs.of().ptr(values).i(count).ptr(out));
    }

    private KernelFunction fn(String name) {
        return ctx.function(FAMILY, name);
    }
}
