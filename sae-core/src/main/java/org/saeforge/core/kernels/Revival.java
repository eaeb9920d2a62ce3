package org.saeforge.core.kernels;

/**
 * Revival of silent latents, for every architecture but ReLU: the one definition the CPU trainer and the device loops follow (the
 * CUDA kernels {@code revive_bias}, {@code encoder_row_stats}, {@code revive_encoder_prepare} and {@code revive_encoder}
 * in {@code train.cu} implement the same steps for TopK, the one architecture the GPU trains). A
 * latent is {@link #silent} when its counter (rows since it last had a positive activation) exceeds {@code after} or it
 * fired too rarely in a batch longer than that window. Each step, for every silent latent:
 * <ol>
 * <li>{@link #apply bias}: its encoder bias rises by {@code rate} times the mean positive activation of the batch just
 * trained on, up to {@link #CAP} times that mean (a bias already above it stays), so that it fires again and the
 * reconstruction loss, not only AuxK, trains it. The cap stops a race in which the encoder row learns to cancel an ever
 * larger bias (measured: without it, biases reached 12 in a 10M-row run and more latents fell silent).</li>
 * <li>{@link #reviveEncoder encoder row}: the race has a second route. With u the batch mean of {@code x − bDec}, a row
 * with {@code w·u < 0} lowers the latent's pre-activation on every row at once and cancels the bias (measured: the
 * latents left silent had {@code w·u ≈ −0.2} against a bias of 0.16). The component along u is removed when negative,
 * and a row shorter than the mean norm of the latents that are not silent grows by a factor {@code 1 + GROWTH · lr}
 * (at most to that mean): gradients shrink the rows of latents that fire where they do not help until they cannot
 * reach the k-th pre-activation of any row.</li>
 * <li>{@link #decayThresholds threshold} (JumpReLU): its threshold falls by the factor {@code 1 − rate}, so that the
 * latent starts firing on the rows where its pre-activation is highest. A JumpReLU latent below its threshold gets no
 * gradient (the straight-through estimator only reaches pre-activations within half the bandwidth of it), so without
 * this step the bias and encoder steps alone left more latents silent (measured: docs/training.md).</li>
 * </ol>
 * ReLU does not revive: under its L1 penalty on an unconstrained decoder, the latents these steps raised fired with
 * decoder rows shrunk to nothing (measured: docs/training.md).
 * Nothing changes when {@code rate} is 0; the bias step also needs a positive activation in the batch.
 */
public final class Revival {
    /** The cap as a multiple of the batch's mean positive activation. */
    public static final double CAP = 0.1;
    /**
     * The encoder row's growth per step of a silent latent as a multiple of the learning rate: 5% per step at the 1M-row
     * rate of 4096 latents (5.4e-3), 1% at the 30M-row rate (9.9e-4). A growth independent of the learning rate (5% per
     * step at every budget) made runs of 10M and 30M rows unstable (measured: FVU 0.108 and 0.179 against 0.101 and
     * 0.103).
     */
    public static final double GROWTH = 10;

    private Revival() {
    }

    /**
     * Whether a latent is silent: no positive activation for more than {@code after} rows ({@code since}), or, when the
     * window is shorter than the batch of {@code rows} rows, fewer positive activations in the batch ({@code fired})
     * than the batch holds windows ({@code fired · after < rows}: at batch 4096 and a 2048-row window, fewer than 2).
     * Either way the latent fired less than an eighth as often as an average latent would at the default window of
     * 8 × num_latents / k rows. {@code fired} null: the window alone.
     */
    public static boolean silent(long[] since, int[] fired, int j, long after, int rows) {
        return since[j] > after || (fired != null && after < rows && (long) fired[j] * after < rows);
    }

    /**
     * Applies the step to {@code bEnc[0..n)} of the latents {@link #silent} by the counters {@code since[0..n)} and the
     * batch's positive activations per latent {@code fired} (of {@code rows} rows), given the batch's code values
     * {@code val[0..nnz)} (the mean of the positive ones is summed in double).
     *
     * @return the bias step (0 when none applies)
     */
    public static float apply(float[] bEnc, long[] since, int[] fired, int rows, int n, long after, float[] val, int nnz,
                              double rate) {
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
            if (bEnc[j] < cap && silent(since, fired, j, after, rows)) {
                bEnc[j] = Math.min(cap, bEnc[j] + step);
            }
        }
        return step;
    }

    /**
     * The batch mean of {@code x − bDec}: {@code u[i] = (Σ_r x[r·ld + i]) / rows − bDec[i]} for {@code i < d} (sums in
     * double, in row order).
     */
    public static void meanOffset(float[] x, int rows, int d, int ld, float[] bDec, float[] u) {
        // Row by row (each column still summed in row order): a column walk would stride ld floats per read.
        double[] sum = new double[d];
        for (int r = 0; r < rows; r++) {
            int o = r * ld;
            for (int i = 0; i < d; i++) {
                sum[i] += x[o + i];
            }
        }
        for (int i = 0; i < d; i++) {
            u[i] = (float) (sum[i] / rows - bDec[i]);
        }
    }

    /** The growth per step ({@link #reviveEncoder}) at learning rate lr: {@code GROWTH · lr}. */
    public static double growth(double lr) {
        return GROWTH * Math.max(0, lr);
    }

    /**
     * The encoder step on the rows {@code wEncT[j·ld .. j·ld + d)} of the latents {@link #silent} by the counters
     * {@code since} and the batch's positive activations per latent {@code fired} (of {@code rows} rows), given the
     * batch's mean offset {@code u} ({@link #meanOffset}): first {@code w −= (w·u / u·u) u} when {@code w·u < 0};
     * then, when the row's norm is below the mean norm of the latents that are not silent (norms taken before this
     * step), {@code w *= min(mean, norm · (1 + growth)) / norm} ({@link #growth}). Dots and norms are summed in double.
     * The trainers take this step when the revival rate of the step is positive.
     *
     * @return the number of rows changed
     */
    public static int reviveEncoder(float[] wEncT, int n, int d, int ld, long[] since, int[] fired, int rows, long after, float[] u,
                                    double growth) {
        double uu = 0;
        for (int i = 0; i < d; i++) {
            uu += (double) u[i] * u[i];
        }
        double normSum = 0;
        int alive = 0;
        for (int j = 0; j < n; j++) {
            if (!silent(since, fired, j, after, rows)) {
                normSum += Math.sqrt(dot(wEncT, j * ld, wEncT, j * ld, d));
                alive++;
            }
        }
        double target = alive > 0 ? normSum / alive : 0;
        double grow = 1 + growth;
        int changed = 0;
        for (int j = 0; j < n; j++) {
            if (!silent(since, fired, j, after, rows)) {
                continue;
            }
            int o = j * ld;
            double wu = uu > 0 ? dot(wEncT, o, u, 0, d) : 0;
            double ww = dot(wEncT, o, wEncT, o, d);
            boolean touched = false;
            if (wu < 0) {
                float c = (float) (wu / uu);
                for (int i = 0; i < d; i++) {
                    wEncT[o + i] -= c * u[i];
                }
                ww = Math.max(0, ww - wu * wu / uu);
                touched = true;
            }
            double norm = Math.sqrt(ww);
            if (grow > 1 && norm > 0 && norm < target) {
                float f = (float) (Math.min(target, norm * grow) / norm);
                for (int i = 0; i < d; i++) {
                    wEncT[o + i] *= f;
                }
                touched = true;
            }
            if (touched) {
                changed++;
            }
        }
        return changed;
    }

    /**
     * The threshold step on the JumpReLU latents {@link #silent} by the counters {@code since} and the batch's positive
     * activations per latent {@code fired} (of {@code rows} rows): {@code logThreshold[j] += log(1 − rate)} and
     * {@code threshold[j] = exp(logThreshold[j])} (the trained parameter is the log; the threshold its exponential).
     *
     * @return the number of thresholds lowered
     */
    public static int decayThresholds(float[] logThreshold, float[] threshold, int n, long[] since, int[] fired, int rows, long after,
                                      double rate) {
        if (!(rate > 0 && rate < 1)) {
            return 0;
        }
        float down = (float) Math.log1p(-rate);
        int changed = 0;
        for (int j = 0; j < n; j++) {
            if (silent(since, fired, j, after, rows)) {
                logThreshold[j] += down;
                threshold[j] = (float) Math.exp(logThreshold[j]);
                changed++;
            }
        }
        return changed;
    }

    private static double dot(float[] a, int ao, float[] b, int bo, int d) {
        double s = 0;
        for (int i = 0; i < d; i++) {
            s += (double) a[ao + i] * b[bo + i];
        }
        return s;
    }
}
