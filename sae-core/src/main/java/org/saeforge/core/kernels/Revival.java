package org.saeforge.core.kernels;

/**
 * Revival of silent TopK latents, the one definition the CPU trainer and the device loops follow (the CUDA kernel
 * {@code revive_bias} in {@code train.cu} implements the same step): every latent whose counter (rows since it last
 * had a positive activation) exceeds {@code after} gets its encoder bias raised by {@code rate} times the mean positive
 * activation of the batch just trained on, up to {@link #CAP} times that mean (a bias already above it stays), so that
 * it fires again and the reconstruction loss, not only AuxK, trains it. The cap stops a race in which the encoder row
 * learns to cancel an ever larger bias (measured: without it, biases reached 12 in a 10M-row run and more latents fell
 * silent). Nothing changes when no activation is positive.
 */
public final class Revival {
    /** The cap as a multiple of the batch's mean positive activation. */
    public static final double CAP = 0.1;

    private Revival() {
    }

    /**
     * Applies the step to {@code bEnc[0..n)} given the counters {@code since[0..n)} and the batch's code values
     * {@code val[0..nnz)} (the mean of the positive ones is summed in double).
     *
     * @return the bias step (0 when none applies)
     */
    public static float apply(float[] bEnc, long[] since, int n, long after, float[] val, int nnz, double rate) {
        double sum = 0;
        long positive = 0;
        for (int p = 0; p < nnz; p++) {
            if (val[p] > 0f) {
                sum += val[p];
                positive++;
            }
        }
        if (positive == 0 || rate <= 0) {
            return 0f;
        }
        double mean = sum / positive;
        float step = (float) (rate * mean);
        float cap = (float) (CAP * mean);
        for (int j = 0; j < n; j++) {
            if (since[j] > after && bEnc[j] < cap) {
                bEnc[j] = Math.min(cap, bEnc[j] + step);
            }
        }
        return step;
    }
}
