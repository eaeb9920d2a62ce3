package org.saeforge.core.kernels;

import org.saeforge.core.SaeException;
import org.saeforge.core.kernels.cpu.CpuKernels;
import org.saeforge.core.kernels.cpu.ReferenceKernels;
import org.saeforge.core.kernels.cuda.CudaUnavailableException;

/** Builds the {@link Kernels} for a {@link Device}. The caller owns (and closes) what it gets. */
public final class KernelsFactory {
    private KernelsFactory() {
    }

    /**
     * @param threads worker threads for the CPU backend (ignored by cpu-ref and cuda)
     * @throws CudaUnavailableException for {@link Device#CUDA} without a usable driver, GPU or JCuda (exit code 2)
     */
    public static Kernels create(Device device, int threads) {
        if (threads < 1) {
            throw new SaeException("--threads must be at least 1, got " + threads);
        }
        switch (device) {
            case CPU_REF:
                return new ReferenceKernels();
            case CPU:
                return new CpuKernels(threads);
            case CUDA:
                return openCuda();
            case AUTO:
                try {
                    return openCuda();
                } catch (CudaUnavailableException e) {
                    return new CpuKernels(threads);
                }
            default:
                throw new IllegalStateException("unhandled device " + device);
        }
    }

    /**
     * The CUDA backend on device 0. Kept apart so that JCuda's classes are only touched here: without the optional
     * JCuda jar the first of them is missing, which is turned into a {@link CudaUnavailableException}.
     */
    private static Kernels openCuda() {
        try {
            return org.saeforge.core.kernels.cuda.CudaKernels.open(
                    org.saeforge.core.kernels.cuda.CudaKernels.Options.defaults());
        } catch (NoClassDefFoundError e) {
            throw CudaUnavailableException.fromLoadFailure(e);
        }
    }

    /** The default worker thread count: the processors this JVM may use. */
    public static int defaultThreads() {
        return Runtime.getRuntime().availableProcessors();
    }
}
