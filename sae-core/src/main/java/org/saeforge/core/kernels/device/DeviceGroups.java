package org.saeforge.core.kernels.device;

/**
 * Code entries grouped by latent ({@link TrainDevice#groupByLatent}), valid until the next grouping on the same device:
 * what {@link TrainDevice#scatterOuter} sums over, latent by latent, in row order.
 */
public interface DeviceGroups {
    /** Entries grouped. */
    int nnz();
}
