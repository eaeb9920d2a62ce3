package org.saeforge.core.kernels.cuda;

import org.saeforge.core.kernels.cuda.CudaContext.KernelFunction;

/**
 * The AuxK kernels of {@code auxk.cu}: gathering the dead latents' encoder rows and biases into compact operands
 * (the selection itself is {@link EncoderKernels#selectTopK} over them, mapped back through the dead ids), and the
 * AuxK residual with its squared error and gradient.
 */
public final class AuxKKernels {
    private static final String FAMILY = "auxk";

    private final CudaContext ctx;
    private final MetricKernels metrics;

    public AuxKKernels(CudaContext ctx) {
        this.ctx = ctx;
        this.metrics = new MetricKernels(ctx);
    }

    /** {@code dst[j] = src[ids[j]]} for j < count, rows of ld floats ({@code src} has at least srcRows rows). */
    public void gatherRows(DeviceBuffer src, int srcRows, int ld, DeviceBuffer ids, int count, DeviceBuffer dst) {
        src.require(4L * srcRows * ld, "gatherRows source [" + srcRows + " x " + ld + "]");
        ids.require(4L * count, "gatherRows ids [" + count + "]");
        dst.require(4L * count * ld, "gatherRows destination [" + count + " x " + ld + "]");
        if (count == 0) {
            return;
        }
        ctx.launch(fn("gather_rows"), count, 1, LaunchMath.vectorRowThreads(ld), 0,
                KernelArgs.of().ptr(src).i(ld).ptr(ids).ptr(dst));
    }

    /** {@code dst[j] = src[ids[j]]} for j < count. */
    public void gatherValues(DeviceBuffer src, DeviceBuffer ids, int count, DeviceBuffer dst) {
        ids.require(4L * count, "gatherValues ids [" + count + "]");
        dst.require(4L * count, "gatherValues destination [" + count + "]");
        if (count == 0) {
            return;
        }
        ctx.launch(fn("gather_values"), LaunchMath.elementwiseGrid(count, ctx.multiprocessors()), 1,
                LaunchMath.ROW_THREADS, 0, KernelArgs.of().ptr(src).ptr(ids).i(count).ptr(dst));
    }

    /**
     * {@code diff = auxHat - (x - xHat)} over n elements; writes {@code grad = gradScale · diff} and returns
     * {@code Σ diff²} (the AuxK loss before its scale and normalisation), summed in a fixed order.
     */
    public double residual(DeviceBuffer x, DeviceBuffer xHat, DeviceBuffer auxHat, long n, float gradScale,
                           DeviceBuffer grad, Workspace ws) {
        x.require(4 * n, "auxk residual x [" + n + "]");
        xHat.require(4 * n, "auxk residual xHat [" + n + "]");
        auxHat.require(4 * n, "auxk residual auxHat [" + n + "]");
        grad.require(4 * n, "auxk residual gradient [" + n + "]");
        if (n == 0) {
            return 0.0;
        }
        int grid = LaunchMath.elementwiseGrid(n, ctx.multiprocessors());
        DeviceBuffer partials = ws.get("auxk.partials", 8L * grid);
        ctx.launch(fn("auxk_residual"), grid, 1, LaunchMath.ROW_THREADS, 0,
                KernelArgs.of().ptr(x).ptr(xHat).ptr(auxHat).l(n).f(gradScale).ptr(grad).ptr(partials));
        return metrics.sumPartials(partials, grid, ws);
    }

    private KernelFunction fn(String name) {
        return ctx.function(FAMILY, name);
    }
}
