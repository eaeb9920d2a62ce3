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
    private final int[] kindRank;

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
        this.kindRank = permutation(numFeatures, new SplittableRandom(seed ^ 0x4B1DL));
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

    /** Which rows a ground-truth feature appears in (multimodal data). */
    public enum Kind {
        IMAGE, TEXT, SHARED
    }

    /** The kind of feature f in multimodal data: the first 40% of a seeded order image-only, 40% text-only, 20% shared. */
    public Kind kind(int f) {
        int rank = kindRank[f];
        return rank < numFeatures * 2 / 5 ? Kind.IMAGE : rank < numFeatures * 4 / 5 ? Kind.TEXT : Kind.SHARED;
    }

    /** Summary of multimodal data: realized actives and how many features of each kind. */
    public record MultimodalSummary(long rows, double avgActiveRealized, int imageFeatures, int textFeatures, int sharedFeatures) {
    }

    /**
     * Image–caption pairs: rows alternate image (even rows) and text (odd rows) of one source each. Image-only features
     * fire only in image rows, text-only ones only in text rows, and shared features fire in both rows of a pair
     * together (with independent magnitudes) — the bridge a cross-modal dictionary should find. Image and text rows also
     * get different mean offsets (the modality gap). Writes {@code NAME.meta.csv} beside {@code out} with
     * {@code source_id,modality,position,label}, the label naming the row's strongest feature ("concept 17").
     */
    public MultimodalSummary writeMultimodal(Path out, long rows, int stream) {
        if (rows < 2 || rows % 2 != 0) {
            throw new SaeException("--rows must be an even number of at least 2 for --multimodal (image/caption pairs), got " + rows);
        }
        SplittableRandom rnd = new SplittableRandom(seed * 31 + 11 + 1_000_003L * stream);
        float[] gap = new float[dIn];
        SplittableRandom gapRnd = new SplittableRandom(seed ^ 0x6A9L);
        for (int i = 0; i < dIn; i++) {
            gap[i] = (float) (0.5 * gapRnd.nextGaussian() / Math.sqrt(dIn) * OFFSET_NORM);
        }
        // Each row sees 60% of the features (its modality's 40% plus the shared 20%): scale p to keep avgActive per row.
        double boost = 1 / 0.6;
        long active = 0;
        int pairsPerBlock = BLOCK / 2;
        float[] block = new float[BLOCK * dIn];
        float[] best = new float[BLOCK];
        int[] bestFeature = new int[BLOCK];
        float[] td = truth.data();
        java.nio.file.Path csv = org.saeforge.core.data.CsvMetadata.sidecarOf(out);
        StringBuilder meta = new StringBuilder("source_id,modality,position,label\n");
        try (NpyWriter.Stream s = NpyWriter.stream(out, rows, dIn)) {
            for (long firstPair = 0; firstPair < rows / 2; firstPair += pairsPerBlock) {
                int pairs = (int) Math.min(pairsPerBlock, rows / 2 - firstPair);
                int n = 2 * pairs;
                java.util.Arrays.fill(best, 0, n, 0f);
                java.util.Arrays.fill(bestFeature, 0, n, -1);
                for (int r = 0; r < n; r++) {
                    float sign = r % 2 == 0 ? 1f : -1f;
                    for (int i = 0; i < dIn; i++) {
                        block[r * dIn + i] = offset[i] + sign * gap[i] + (float) (NOISE * rnd.nextGaussian());
                    }
                }
                for (int f = 0; f < numFeatures; f++) {
                    double p = Math.min(P_MAX, prob[f] * boost);
                    double logq = Math.log1p(-p);
                    Kind kind = kind(f);
                    long pos = -1;
                    while (true) {
                        pos += 1 + (long) Math.floor(Math.log1p(-rnd.nextDouble()) / logq);
                        if (pos >= pairs) {
                            break;
                        }
                        int pair = (int) pos;
                        if (kind != Kind.TEXT) {
                            active += addFiring(rnd, f, 2 * pair, td, block, best, bestFeature);
                        }
                        if (kind != Kind.IMAGE) {
                            active += addFiring(rnd, f, 2 * pair + 1, td, block, best, bestFeature);
                        }
                    }
                }
                s.append(block, 0, n);
                for (int r = 0; r < n; r++) {
                    meta.append(firstPair + r / 2).append(r % 2 == 0 ? ",image,0," : ",text,0,")
                            .append(bestFeature[r] < 0 ? "none" : "concept " + bestFeature[r]).append('\n');
                }
            }
            org.saeforge.core.io.AtomicFiles.writeString(csv, meta.toString());
            s.commit();
        }
        int[] kinds = new int[3];
        for (int f = 0; f < numFeatures; f++) {
            kinds[kind(f).ordinal()]++;
        }
        return new MultimodalSummary(rows, (double) active / rows, kinds[0], kinds[1], kinds[2]);
    }

    private int addFiring(SplittableRandom rnd, int f, int row, float[] td, float[] block, float[] best, int[] bestFeature) {
        float m = scale[f] * (float) Math.exp(0.5 * rnd.nextGaussian());
        VectorMath.axpy(m, td, f * dIn, block, row * dIn, dIn);
        if (m > best[row]) {
            best[row] = m;
            bestFeature[row] = f;
        }
        return 1;
    }

    /** Writes the ground truth as a float32 .npy. */
    public void writeTruth(Path out) {
        NpyWriter.write(out, truth);
    }
}
