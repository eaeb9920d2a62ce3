package org.saeforge.core.kernels.device;

/**
 * Training batches delivered on a device: the rows a {@link org.saeforge.core.data.BatchStream} with the run's seed
 * serves, in its order, as float32 {@code [rows x ld]} (scaled as the stream's options say), with their total variance.
 */
public interface BatchFeed extends AutoCloseable {

    /** Enqueues the next batch's arrival; the arrays stay valid until the next call. */
    void next();

    /** The current batch, {@code rows x ld} floats. */
    DeviceArray batch();

    /** {@code Σ‖x − mean(x)‖²} of the current batch (doubles[1]). */
    DeviceArray totalVariance();

    /** The source rows of the current batch, in batch order (the host may read them itself, e.g. to initialise). */
    long[] rowIds();

    /** Training rows skipped as holding NaN or infinity when the current batch was drawn. */
    long badRows();

    /** Training rows dropped by the norm limit when the current batch was drawn. */
    long normDropped();

    /** Seconds the caller waited for rows to be read so far (the input pipeline falling behind). */
    double waitSeconds();

    @Override
    void close();
}
