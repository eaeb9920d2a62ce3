package org.saeforge.train.synth;

import java.nio.file.Path;
import java.util.SplittableRandom;
import org.saeforge.core.SaeException;
import org.saeforge.core.data.NpyWriter;
import org.saeforge.core.kernels.cpu.VectorMath;
import org.saeforge.core.tensor.FloatMatrix;

/**
 * Synthetic activations with a known sparse dictionary, so that recovery can be measured:
 * {@code x = offset + Σ_{i active} m_i f_i + noise}.
 *
 * <ul>
 *   <li>{@code f_i}: unit-norm random directions; {@code corrPairs} of them are rebuilt as near-parallel partners of
 *       another feature (cosine uniform in [0.6, 0.85]), which makes recovery harder.</li>
 *   <li>Feature i fires independently with probability {@code p_i ∝ rank^-0.7} (random rank), capped at 0.5 and
 *       scaled so that Σ p_i = avgActive: power-law frequencies, rare features included.</li>
 *   <li>Magnitudes: a per-feature LogNormal(0, 0.3) scale times a per-firing LogNormal(0, 0.5) draw (nonnegative).</li>
 *   <li>A fixed random offset of norm 4 (activations have a large mean) and N(0, 0.02²) noise per dimension.</li>
 * </ul>
 * The same model as {@code ../shared/peers/make_synthetic.py}, with its own random number stream.
 */
public final class SyntheticData {
    static final double ALPHA = 0.7;
    static final double P_MAX = 0.5;
    static final double NOISE = 0.02;
    static final double OFFSET_NORM = 4.0;
    static final int BLOCK = 8192;

    private final int dIn;
    private final int numFeatures;
    private final double avgActive;
    private final long seed;
    private final FloatMatrix truth;
    private final double[] prob;
    private final float[] scale;
    private final float[] offset;

    public SyntheticData(int dIn, int numFeatures, double avgActive, long seed) {
        if (dIn < 2) {
            throw new SaeException("--d-in must be at least 2, got " + dIn);
        }
        if (numFeatures < 1) {
            throw new SaeException("--num-features must be at least 1, got " + numFeatures);
        }
        if (!(avgActive > 0) || avgActive > numFeatures * P_MAX) {
            throw new SaeException("--avg-active must be in (0, " + numFeatures * P_MAX + "], got " + avgActive);
        }
        this.dIn = dIn;
        this.numFeatures = numFeatures;
        this.avgActive = avgActive;
        this.seed = seed;
        SplittableRandom rnd = new SplittableRandom(seed);
        this.truth = randomDirections(rnd);
        addCorrelatedPairs(rnd);
        this.prob = zipfProbabilities(rnd);
        this.scale = new float[numFeatures];
        for (int i = 0; i < numFeatures; i++) {
            scale[i] = (float) Math.exp(0.3 * rnd.nextGaussian());
        }
        this.offset = new float[dIn];
        double ss = 0;
        for (int i = 0; i < dIn; i++) {
            offset[i] = (float) rnd.nextGaussian();
            ss += offset[i] * offset[i];
        }
        float f = (float) (OFFSET_NORM / Math.sqrt(ss));
        for (int i = 0; i < dIn; i++) {
            offset[i] *= f;
        }
    }

    private FloatMatrix randomDirections(SplittableRandom rnd) {
        FloatMatrix t = new FloatMatrix(numFeatures, dIn);
        for (int r = 0; r < numFeatures; r++) {
            double ss = 0;
            for (int i = 0; i < dIn; i++) {
                float g = (float) rnd.nextGaussian();
                t.set(r, i, g);
                ss += g * g;
            }
            VectorMath.scale(t.data(), r * dIn, (float) (1 / Math.sqrt(ss)), dIn);
        }
        return t;
    }

    private void addCorrelatedPairs(SplittableRandom rnd) {
        int pairs = Math.min(128, numFeatures / 2);
        int[] perm = permutation(numFeatures, rnd);
        for (int p = 0; p < pairs; p++) {
            int a = perm[2 * p];
            int b = perm[2 * p + 1];
            double c = 0.6 + 0.25 * rnd.nextDouble();
            double[] u = new double[dIn];
            double dot = 0;
            for (int i = 0; i < dIn; i++) {
                u[i] = rnd.nextGaussian();
                dot += u[i] * truth.get(a, i);
            }
            double ss = 0;
            for (int i = 0; i < dIn; i++) {
                u[i] -= dot * truth.get(a, i);
                ss += u[i] * u[i];
            }
            double inv = 1 / Math.sqrt(ss);
            double s = Math.sqrt(1 - c * c);
            for (int i = 0; i < dIn; i++) {
                truth.set(b, i, (float) (c * truth.get(a, i) + s * u[i] * inv));
            }
        }
    }

    private double[] zipfProbabilities(SplittableRandom rnd) {
        int[] perm = permutation(numFeatures, rnd);
        double[] p = new double[numFeatures];
        double sum = 0;
        for (int i = 0; i < numFeatures; i++) {
            p[i] = Math.pow(perm[i] + 1.0, -ALPHA);
            sum += p[i];
        }
        for (int i = 0; i < numFeatures; i++) {
            p[i] *= avgActive / sum;
        }
        for (int iter = 0; iter < 100; iter++) {
            double excess = 0;
            double freeSum = 0;
            for (double v : p) {
                if (v > P_MAX) {
                    excess += v - P_MAX;
                } else if (v < P_MAX) {
                    freeSum += v;
                }
            }
            if (excess == 0) {
                break;
            }
            for (int i = 0; i < numFeatures; i++) {
                if (p[i] > P_MAX) {
                    p[i] = P_MAX;
                } else if (p[i] < P_MAX) {
                    p[i] += excess * p[i] / freeSum;
                }
            }
        }
        return p;
    }

    private static int[] permutation(int n, SplittableRandom rnd) {
        int[] perm = new int[n];
        for (int i = 0; i < n; i++) {
            perm[i] = i;
        }
        for (int i = n - 1; i > 0; i--) {
            int j = rnd.nextInt(i + 1);
            int t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        return perm;
    }

    /** The ground-truth dictionary [numFeatures, dIn], unit-norm rows. */
    public FloatMatrix truth() {
        return truth;
    }

    /** Firing probability of each feature. */
    public double[] probabilities() {
        return prob.clone();
    }

    /** Summary of the generated data. */
    public record Summary(long rows, double avgActiveRealized, int featuresNeverFired) {
    }

    /** Generates {@code rows} rows block by block into a streamed .npy (bounded memory). */
    public Summary write(Path out, long rows) {
        return write(out, rows, 0);
    }

    /**
     * Like {@link #write(Path, long)}, drawing from random stream {@code stream}: different streams give independent
     * rows of the same dictionary (e.g. a separate test set).
     */
    public Summary write(Path out, long rows, int stream) {
        if (rows < 1) {
            throw new SaeException("--rows must be at least 1, got " + rows);
        }
        SplittableRandom rnd = new SplittableRandom(seed * 31 + 7 + 1_000_003L * stream);
        long[] fires = new long[numFeatures];
        long active = 0;
        float[] block = new float[BLOCK * dIn];
        float[] td = truth.data();
        try (NpyWriter.Stream s = NpyWriter.stream(out, rows, dIn)) {
            for (long first = 0; first < rows; first += BLOCK) {
                int n = (int) Math.min(BLOCK, rows - first);
                for (int r = 0; r < n; r++) {
                    int o = r * dIn;
                    for (int i = 0; i < dIn; i++) {
                        block[o + i] = offset[i] + (float) (NOISE * rnd.nextGaussian());
                    }
                }
                for (int f = 0; f < numFeatures; f++) {
                    double p = prob[f];
                    if (p <= 0) {
                        continue;
                    }
                    double logq = Math.log1p(-p);
                    long pos = -1;
                    while (true) {
                        // geometric skip to the next row where feature f fires
                        double u = rnd.nextDouble();
                        pos += 1 + (long) Math.floor(Math.log1p(-u) / logq);
                        if (pos >= n) {
                            break;
                        }
                        float m = scale[f] * (float) Math.exp(0.5 * rnd.nextGaussian());
                        VectorMath.axpy(m, td, f * dIn, block, (int) pos * dIn, dIn);
                        fires[f]++;
                        active++;
                    }
                }
                s.append(block, 0, n);
            }
            s.commit();
        }
        int never = 0;
        for (long c : fires) {
            if (c == 0) {
                never++;
            }
        }
        return new Summary(rows, (double) active / rows, never);
    }

    /** Writes the ground truth as a float32 .npy. */
    public void writeTruth(Path out) {
        NpyWriter.write(out, truth);
    }
}
