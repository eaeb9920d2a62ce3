package org.saeforge.train;

import org.saeforge.core.kernels.Kernels;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.core.tensor.SparseCodes;

/** O(batch · dIn) bookkeeping shared by the objectives; anything touching every latent goes through {@link Kernels}. */
final class Losses {
    private Losses() {
    }

    /** Σ‖x − mean_batch(x)‖² in double (never below 1e-30). */
    static double totalVariance(float[] xs, int rows, int dIn) {
        double[] mean = new double[dIn];
        for (int r = 0; r < rows; r++) {
            for (int i = 0; i < dIn; i++) {
                mean[i] += xs[r * dIn + i];
            }
        }
        for (int i = 0; i < dIn; i++) {
            mean[i] /= rows;
        }
        double tv = 0;
        for (int r = 0; r < rows; r++) {
            for (int i = 0; i < dIn; i++) {
                double dlt = xs[r * dIn + i] - mean[i];
                tv += dlt * dlt;
            }
        }
        return Math.max(tv, 1e-30);
    }

    /** Σ a[off+i]² over {@code len} values, accumulated in double in index order. */
    static double sumSquares(float[] a, int off, int len) {
        double s = 0;
        for (int i = 0; i < len; i++) {
            s += (double) a[off + i] * a[off + i];
        }
        return s;
    }

    /** out[i] += Σ_r m[r][i], accumulated in double. */
    static void addColumnSums(float[] m, int rows, int dIn, float[] out) {
        double[] acc = new double[dIn];
        for (int r = 0; r < rows; r++) {
            int o = r * dIn;
            for (int i = 0; i < dIn; i++) {
                acc[i] += m[o + i];
            }
        }
        for (int i = 0; i < dIn; i++) {
            out[i] += (float) acc[i];
        }
    }

    /** Zeroes d[p] where the code value is not positive (ReLU passes no gradient there). */
    static void maskByValue(SparseCodes c, float[] d) {
        float[] v = c.values();
        for (int p = 0, n = c.nnz(); p < n; p++) {
            if (!(v[p] > 0f)) {
                d[p] = 0f;
            }
        }
    }

    /** The shift the encoder subtracts from its input (bDec), or null when the SAE does not apply it. */
    static float[] encoderShift(SparseAutoencoder sae) {
        return sae.config().applyBDecToInput() ? sae.bDec() : null;
    }

    /**
     * bDec also enters the encoder input (x − bDec): {@code d/dbDec −= Σ_j dbEnc_j · wEncT[j]} (with the encoder as it
     * was for the forward pass).
     */
    static void subtractEncoderInputGrad(Kernels kernels, SparseAutoencoder sae, Gradients g, Scratch s) {
        if (!sae.config().applyBDecToInput()) {
            return;
        }
        kernels.rowCombination(g.bEnc, sae.wEncT(), s.combination);
        for (int i = 0; i < g.bDec.length; i++) {
            g.bDec[i] -= s.combination[i];
        }
    }

    /** out[j] += Σ coef[p] over the entries p of latent j. */
    static void addLatentSums(SparseCodes c, float[] coef, float[] out) {
        int[] idx = c.indices();
        for (int p = 0, n = c.nnz(); p < n; p++) {
            out[idx[p]] += coef[p];
        }
    }

    /** Reusable buffers for {@link #subtractEncoderInputGrad}. */
    static final class Scratch {
        final float[] combination;

        Scratch(int numLatents, int dIn) {
            combination = new float[dIn];
        }
    }
}
