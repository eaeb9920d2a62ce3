package org.saeforge.core.kernels.device;

/** An allocation of a {@link TrainDevice}: device memory on a GPU, host arrays in the host emulation. */
public interface DeviceArray {
    /** Size in bytes. */
    long bytes();
}
