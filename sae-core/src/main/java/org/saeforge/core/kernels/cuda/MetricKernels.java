package org.saeforge.core.kernels.cuda;

import org.saeforge.core.kernels.cuda.CudaContext.KernelFunction;

/**
 * The reductions of {@code metrics.cu}: squared error (and the scaled residual as the loss gradient), column sums and
 * the total variance that normalises FVU, L0 and per-latent firing counts. Float sums are accumulated in double and
 * reduced in a fixed order: reproducible on one device.
 */
public final class MetricKernels {
    private static final String FAMILY = "metrics";

    private final CudaContext ctx;

    public MetricKernels(CudaContext ctx) {
        this.ctx = ctx;
    }

    /**
     * {@code Σ (xHat - x)²} over n elements; when {@code grad} is not null also writes {@code grad = gradScale · (xHat - x)}.
     */
    public double sumSquaredError(DeviceBuffer x, DeviceBuffer xHat, long n, float gradScale, DeviceBuffer grad,
                                  Workspace ws) {
        x.require(4 * n, "sse x [" + n + "]");
        xHat.require(4 * n, "sse xHat [" + n + "]");
        if (grad != null) {
            grad.require(4 * n, "sse gradient [" + n + "]");
        }
        if (n == 0) {
            return 0.0;
        }
        int grid = LaunchMath.elementwiseGrid(n, ctx.multiprocessors());
        DeviceBuffer partials = ws.get("metrics.partials", 8L * grid);
        ctx.launch(fn("residual_sse"), grid, 1, LaunchMath.ROW_THREADS, 0,
                KernelArgs.of().ptr(x).ptr(xHat).l(n).f(gradScale).ptr(grad).ptr(partials));
        return sumPartials(partials, grid, ws);
    }

    /** Per-column sums of x [rows x ld] in double, and the sums of {@code (x - center)²} ({@code center} null: 0). */
    public double[][] columnMoments(DeviceBuffer x, int rows, int ld, double[] center, Workspace ws) {
        x.require(4L * rows * ld, "columnMoments x [" + rows + " x " + ld + "]");
        if (center != null && center.length != ld) {
            throw new IllegalArgumentException("columnMoments center of length " + center.length + " for ld " + ld);
        }
        double[][] out = new double[2][ld];
        if (rows == 0) {
            return out;
        }
        int[] grid = LaunchMath.columnMomentsGrid(rows, ld);
        int chunks = grid[1];
        DeviceBuffer partial = ws.get("metrics.colPartial", 8L * chunks * ld);
        DeviceBuffer partialSq = ws.get("metrics.colPartialSq", 8L * chunks * ld);
        DeviceBuffer sums = ws.get("metrics.colSums", 16L * ld);
        DeviceBuffer centerBuf = null;
        if (center != null) {
            centerBuf = ws.get("metrics.center", 8L * ld);
            centerBuf.upload(center, 0, ld, 0);
        }
        ctx.launch(fn("column_moments"), grid[0], chunks, LaunchMath.ROW_THREADS, 0,
                KernelArgs.of().ptr(x).i(rows).i(ld).ptr(centerBuf).ptr(partial).ptr(partialSq));
        KernelFunction sum = fn("sum_column_partials");
        int g = LaunchMath.ceilDiv(ld, LaunchMath.ROW_THREADS);
        ctx.launch(sum, g, 1, LaunchMath.ROW_THREADS, 0, KernelArgs.of().ptr(partial).i(chunks).i(ld).ptr(sums));
        ctx.launch(sum, g, 1, LaunchMath.ROW_THREADS, 0,
                KernelArgs.of().ptr(partialSq).i(chunks).i(ld).ptr(sums.view(8L * ld, 8L * ld)));
        sums.download(0, out[0], 0, ld);
        sums.download(8L * ld, out[1], 0, ld);
        return out;
    }

    /** {@code Σ_r Σ_c (x[r][c] - mean_c)²} over rows x ld (padding columns are zero and add nothing). */
    public double totalVariance(DeviceBuffer x, int rows, int ld, Workspace ws) {
        if (rows == 0) {
            return 0.0;
        }
        double[] mean = columnMoments(x, rows, ld, null, ws)[0];
        for (int c = 0; c < ld; c++) {
            mean[c] /= rows;
        }
        double[] sq = columnMoments(x, rows, ld, mean, ws)[1];
        double total = 0;
        for (double s : sq) {
            total += s;
        }
        return total;
    }

    /**
     * Over nnz code entries: returns the number with value > 0 (the L0 numerator); adds to {@code fired[j]} the
     * entries of latent j with value > 0 and to {@code selected[j]} all entries of latent j (either may be null).
     */
    public long codeStats(DeviceBuffer idx, DeviceBuffer val, int nnz, DeviceBuffer fired, DeviceBuffer selected,
                          int numLatents, Workspace ws) {
        idx.require(4L * nnz, "codeStats indices [" + nnz + "]");
        val.require(4L * nnz, "codeStats values [" + nnz + "]");
        if (fired != null) {
            fired.require(4L * numLatents, "codeStats fired counts [" + numLatents + "]");
        }
        if (selected != null) {
            selected.require(4L * numLatents, "codeStats selected counts [" + numLatents + "]");
        }
        DeviceBuffer positive = ws.get("metrics.positive", 8);
        positive.zero(8);
        if (nnz > 0) {
            ctx.launch(fn("code_stats"), LaunchMath.elementwiseGrid(nnz, ctx.multiprocessors()), 1, LaunchMath.ROW_THREADS,
                    0, KernelArgs.of().ptr(idx).ptr(val).i(nnz).ptr(positive).ptr(fired).ptr(selected));
        }
        long[] out = new long[1];
        positive.download(0, out, 0, 1);
        return out[0];
    }

    /** Σ partials[0 .. count) in a fixed order, on the device. */
    double sumPartials(DeviceBuffer partials, int count, Workspace ws) {
        DeviceBuffer total = ws.get("metrics.total", 8);
        ctx.launch(fn("sum_partials"), 1, 1, LaunchMath.ROW_THREADS, 0, KernelArgs.of().ptr(partials).i(count).ptr(total));
        double[] out = new double[1];
        total.download(0, out, 0, 1);
        return out[0];
    }

    private KernelFunction fn(String name) {
        return ctx.function(FAMILY, name);
    }
}
