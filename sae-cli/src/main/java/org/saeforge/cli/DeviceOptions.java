package org.saeforge.cli;

import org.saeforge.core.kernels.Device;
import org.saeforge.core.kernels.KernelsFactory;
import picocli.CommandLine.Option;

/** {@code --device} and {@code --threads}, shared by every command that computes. */
public final class DeviceOptions {
    @Option(names = "--device", paramLabel = "DEVICE", defaultValue = "cpu",
            description = "Where kernels run: cpu (default; BLAS + Vector API), cpu-ref (reference loops, slow), cuda (NVIDIA GPU; "
                    + "sae train keeps the whole TopK step on it), auto (the GPU when one initialises, else cpu).")
    String device;

    @Option(names = "--threads", paramLabel = "N", description = "CPU worker threads (default: all available processors).")
    Integer threads;

    Device device() {
        return Device.fromCliName(device);
    }

    int threads() {
        return threads != null ? threads : KernelsFactory.defaultThreads();
    }
}
