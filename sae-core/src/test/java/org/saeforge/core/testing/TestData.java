package org.saeforge.core.testing;

import java.util.SplittableRandom;
import org.saeforge.core.model.Architecture;
import org.saeforge.core.model.SaeConfig;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.core.tensor.SparseCodes;

/** Seeded random models and data for tests (never zeros), and error measures. */
public final class TestData {
    private TestData() {
    }

    /** A random SAE: unit-ish encoder rows, random biases, thresholds in [0, 0.3) where the architecture has them. */
    public static SparseAutoencoder randomSae(Architecture arch, int dIn, int numLatents, int k, long seed) {
        SaeConfig cfg = new SaeConfig(arch, dIn, numLatents, arch.usesK() ? k : 0, true, java.util.Map.of());
        SplittableRandom rnd = new SplittableRandom(seed);
        float scale = (float) (1 / Math.sqrt(dIn));
        FloatMatrix wEncT = FloatMatrix.random(numLatents, dIn, rnd.nextLong(), 2 * scale);
        FloatMatrix wDec = FloatMatrix.random(numLatents, dIn, rnd.nextLong(), 2 * scale);
        float[] bEnc = randomArray(numLatents, rnd.nextLong(), 0.1f);
        float[] bDec = randomArray(dIn, rnd.nextLong(), 0.5f);
        float[] thr = null;
        if (arch.usesThreshold()) {
            thr = randomArray(numLatents, rnd.nextLong(), 0.15f);
            for (int i = 0; i < thr.length; i++) {
                thr[i] += 0.15f;
            }
        }
        return new SparseAutoencoder(cfg, wEncT, bEnc, wDec, bDec, thr);
    }

    public static float[] randomArray(int n, long seed, float scale) {
        return FloatMatrix.random(1, n, seed, scale).data();
    }

    /** ‖a − b‖ / ‖b‖ over the first n elements, in double. */
    public static double relError(float[] a, float[] b, int n) {
        double num = 0;
        double den = 0;
        for (int i = 0; i < n; i++) {
            double d = (double) a[i] - b[i];
            num += d * d;
            den += (double) b[i] * b[i];
        }
        return Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-30);
    }

    public static double relError(FloatMatrix a, FloatMatrix b) {
        if (a.rows() != b.rows() || a.cols() != b.cols()) {
            throw new AssertionError("shapes differ: " + a + " vs " + b);
        }
        return relError(a.data(), b.data(), a.size());
    }

    /** Codes with random entries: {@code perRow} distinct latents per row, values in (0, 1], a few zeros. */
    public static SparseCodes randomCodes(int rows, int numLatents, int perRow, long seed) {
        SparseCodes c = SparseCodes.fixedK(rows, numLatents, perRow);
        SplittableRandom rnd = new SplittableRandom(seed);
        for (int r = 0; r < rows; r++) {
            int[] chosen = rnd.ints(0, numLatents).distinct().limit(perRow).toArray();
            for (int i = 0; i < perRow; i++) {
                c.indices()[r * perRow + i] = chosen[i];
                c.values()[r * perRow + i] = i == perRow - 1 && r % 3 == 0 ? 0f : (float) (0.05 + rnd.nextDouble());
            }
        }
        return c;
    }
}
