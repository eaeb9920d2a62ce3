package org.saeforge.core.kernels.device;

/**
 * One int copied from the device to the host without stopping the device: {@link #request} enqueues the copy after the
 * work already enqueued, {@link #await} waits for that copy only.
 */
public interface IntReadback {
    /** Enqueues the copy of element 0 of {@code ints}. */
    void request(DeviceArray ints);

    /** The value of the last request, waiting for it if needed. */
    int await();
}
