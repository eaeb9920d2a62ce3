package org.saeforge.train;

import java.util.SplittableRandom;
import org.saeforge.core.model.SaeConfig;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;

/**
 * Initial weights: decoder rows are random unit directions, the encoder is the decoder's transpose
 * ({@code wEncT = wDec}), {@code bEnc = 0}, and {@code bDec} the geometric median of a sample of rows, so that the
 * encoder starts from a robust centre of the data rather than the origin.
 */
public final class Initializer {
    private Initializer() {
    }

    public static SparseAutoencoder init(SaeConfig config, FloatMatrix sample, long seed) {
        SparseAutoencoder sae = SparseAutoencoder.zeros(config);
        int n = config.numLatents();
        int d = config.dIn();
        SplittableRandom rnd = new SplittableRandom(seed ^ 0x1A17L);
        float[] w = sae.wDec().data();
        for (int j = 0; j < n; j++) {
            double ss = 0;
            for (int i = 0; i < d; i++) {
                double g = rnd.nextGaussian();
                w[j * d + i] = (float) g;
                ss += g * g;
            }
            float inv = (float) (1.0 / Math.sqrt(ss));
            for (int i = 0; i < d; i++) {
                w[j * d + i] *= inv;
            }
        }
        System.arraycopy(w, 0, sae.wEncT().data(), 0, n * d);
        if (sample != null && sample.rows() > 0) {
            float[] median = geometricMedian(sample, 100, 1e-5);
            System.arraycopy(median, 0, sae.bDec(), 0, d);
        }
        return sae;
    }

    /**
     * Weiszfeld's algorithm started from the mean: repeatedly re-weight the points by 1 / distance to the current
     * estimate. Stops after maxIter iterations or when the estimate moves less than tol.
     */
    public static float[] geometricMedian(FloatMatrix points, int maxIter, double tol) {
        int m = points.rows();
        int d = points.cols();
        float[] p = points.data();
        double[] guess = new double[d];
        for (int r = 0; r < m; r++) {
            for (int i = 0; i < d; i++) {
                guess[i] += p[r * d + i];
            }
        }
        for (int i = 0; i < d; i++) {
            guess[i] /= m;
        }
        double[] next = new double[d];
        for (int it = 0; it < maxIter; it++) {
            java.util.Arrays.fill(next, 0);
            double wsum = 0;
            for (int r = 0; r < m; r++) {
                double dist = 0;
                for (int i = 0; i < d; i++) {
                    double diff = p[r * d + i] - guess[i];
                    dist += diff * diff;
                }
                double wgt = 1.0 / Math.max(Math.sqrt(dist), 1e-12);
                wsum += wgt;
                for (int i = 0; i < d; i++) {
                    next[i] += wgt * p[r * d + i];
                }
            }
            double move = 0;
            for (int i = 0; i < d; i++) {
                next[i] /= wsum;
                double diff = next[i] - guess[i];
                move += diff * diff;
                guess[i] = next[i];
            }
            if (Math.sqrt(move) < tol) {
                break;
            }
        }
        float[] out = new float[d];
        for (int i = 0; i < d; i++) {
            out[i] = (float) guess[i];
        }
        return out;
    }
}
