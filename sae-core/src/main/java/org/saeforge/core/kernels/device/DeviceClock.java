package org.saeforge.core.kernels.device;

/** Marks on the device's work queue, for timing phases of a step without synchronising between them. */
public interface DeviceClock {
    /** Records mark i after the work enqueued so far. */
    void mark(int i);

    /** Device time between marks {@code from} and {@code to} in milliseconds; waits for the later mark. */
    double elapsedMs(int from, int to);
}
