package org.saeforge.core.kernels;

import org.saeforge.core.SaeException;
import org.saeforge.core.kernels.cpu.CpuKernels;
import org.saeforge.core.kernels.cpu.ReferenceKernels;

/** Builds the {@link Kernels} for a {@link Device}. The caller owns (and closes) what it gets. */
public final class KernelsFactory {
    private KernelsFactory() {
    }

    /**
     * @param threads worker threads for the CPU backend (ignored by cpu-ref)
     */
    public static Kernels create(Device device, int threads) {
        if (threads < 1) {
            throw new SaeException("--threads must be at least 1, got " + threads);
        }
        switch (device) {
            case CPU_REF:
                return new ReferenceKernels();
            case CPU:
            case AUTO:
                // No CUDA backend is built into this version: auto means the CPU.
                return new CpuKernels(threads);
            case CUDA:
                throw new SaeException("--device cuda: this build has no CUDA backend yet; use --device cpu");
            default:
                throw new IllegalStateException("unhandled device " + device);
        }
    }

    /** The default worker thread count: the processors this JVM may use. */
    public static int defaultThreads() {
        return Runtime.getRuntime().availableProcessors();
    }
}
