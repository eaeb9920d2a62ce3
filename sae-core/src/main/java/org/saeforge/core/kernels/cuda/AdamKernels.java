package org.saeforge.core.kernels.cuda;

import org.saeforge.core.kernels.AdamStep;
import org.saeforge.core.kernels.cuda.CudaContext.KernelFunction;

/** The optimizer kernels of {@code adam.cu}: Adam (PyTorch semantics) and the decoder-row constraint. */
public final class AdamKernels {
    private static final String FAMILY = "adam";

    private final CudaContext ctx;

    public AdamKernels(CudaContext ctx) {
        this.ctx = ctx;
    }

    /** One Adam step over n floats; the updated parameters also go to {@code bf16Shadow} as bf16 when it is not null. */
    public void step(DeviceBuffer param, DeviceBuffer grad, DeviceBuffer m, DeviceBuffer v, long n, AdamStep hp,
                     DeviceBuffer bf16Shadow) {
        for (DeviceBuffer b : new DeviceBuffer[] {param, grad, m, v}) {
            b.require(4 * n, "adam operand of " + n + " floats");
        }
        if (bf16Shadow != null) {
            bf16Shadow.require(2 * n, "adam bf16 shadow of " + n);
        }
        if (n == 0) {
            return;
        }
        ctx.launch(fn("adam_step"), LaunchMath.elementwiseGrid(n, ctx.multiprocessors()), 1, LaunchMath.ROW_THREADS, 0,
                hyper(KernelArgs.of().ptr(param).ptr(grad).ptr(m).ptr(v).l(n), hp).ptr(bf16Shadow));
    }

    /** {@code grad[r] -= (grad[r] · w[r]) w[r]} for rows x ld. */
    public void removeParallel(DeviceBuffer w, DeviceBuffer grad, int rows, int ld) {
        requireRows(rows, ld, w, grad);
        if (rows == 0) {
            return;
        }
        ctx.launch(fn("remove_parallel"), rows, 1, LaunchMath.scalarRowThreads(ld), 0,
                KernelArgs.of().ptr(w).ptr(grad).i(ld));
    }

    /** {@code w[r] /= ‖w[r]‖ + FLT_EPSILON} for rows x ld. */
    public void normalizeRows(DeviceBuffer w, int rows, int ld) {
        requireRows(rows, ld, w);
        if (rows == 0) {
            return;
        }
        ctx.launch(fn("normalize_rows"), rows, 1, LaunchMath.scalarRowThreads(ld), 0, KernelArgs.of().ptr(w).i(ld));
    }

    /**
     * The fused decoder step: {@link #removeParallel}, {@link #step} and {@link #normalizeRows} on rows x ld in one
     * launch (grad is left with the parallel component removed).
     */
    public void decoderStep(DeviceBuffer w, DeviceBuffer grad, DeviceBuffer m, DeviceBuffer v, int rows, int ld,
                            AdamStep hp) {
        requireRows(rows, ld, w, grad, m, v);
        if (rows == 0) {
            return;
        }
        ctx.launch(fn("adam_decoder_rows"), rows, 1, LaunchMath.scalarRowThreads(ld), 0,
                hyper(KernelArgs.of().ptr(w).ptr(grad).ptr(m).ptr(v).i(ld), hp));
    }

    private static KernelArgs hyper(KernelArgs a, AdamStep hp) {
        return a.f(hp.beta1()).f(hp.beta2()).f((float) hp.stepSize()).f((float) (1.0 / hp.sqrtBiasCorrection2()))
                .f(hp.eps());
    }

    private KernelFunction fn(String name) {
        return ctx.function(FAMILY, name);
    }

    private static void requireRows(int rows, int ld, DeviceBuffer... buffers) {
        if (rows < 0 || ld < 1) {
            throw new IllegalArgumentException("row kernel over [" + rows + " x " + ld + "]");
        }
        for (DeviceBuffer b : buffers) {
            b.require(4L * rows * ld, "row operand [" + rows + " x " + ld + "]");
        }
    }
}
