package org.saeforge.core.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Assumptions;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.core.tensor.SparseCodes;

/** Opening the CUDA backend in tests (skip without a GPU), seeded awkward inputs, error measures. */
final class CudaTestSupport {
    /** {@code -Dsae.cuda.require=true} turns "no GPU" from a skip into a failure (benchmarks/gpu/run.sh sets it). */
    static final String REQUIRE_PROPERTY = "sae.cuda.require";

    /** Tolerances of ‖out − ref‖ / ‖ref‖ against a float64 reference. */
    static final double TOL_FP32 = 1e-5;
    static final double TOL_TF32 = 1e-3;
    static final double TOL_BF16 = 1e-2;

    private CudaTestSupport() {
    }

    /**
     * The CUDA backend with poisoned outputs and a synchronisation after every launch, or a skipped test (JUnit
     * assumption) when this machine has no usable GPU.
     */
    static CudaKernels openOrSkip(GemmPrecision precision) {
        try {
            return CudaKernels.open(CudaKernels.Options.defaults().withPrecision(precision).checked());
        } catch (CudaUnavailableException e) {
            if (Boolean.getBoolean(REQUIRE_PROPERTY)) {
                fail("CUDA is required (-D" + REQUIRE_PROPERTY + "=true) but unavailable: " + e.getMessage());
            }
            Assumptions.abort("no usable CUDA GPU: " + e.getMessage());
            throw new AssertionError("unreachable");
        }
    }

    static double tolerance(GemmPrecision p) {
        switch (p) {
            case BF16:
                return TOL_BF16;
            case TF32:
                return TOL_TF32;
            default:
                return TOL_FP32;
        }
    }

    /**
     * Proof that the CUDA path ran: a named device and more launches than before. Also reports the device once per
     * call site in the test output.
     */
    static void assertRanOnGpu(CudaKernels k, long launchesBefore, String what) {
        String name = k.context().deviceName();
        assertFalse(name.isBlank(), "device name");
        assertTrue(k.context().launches() > launchesBefore, what + ": no kernel was launched");
    }

    /** ‖out − ref‖ / ‖ref‖ over the first n elements; NaN or Inf anywhere in out fails. */
    static double relError(float[] out, double[] ref, int n, String what) {
        double num = squaredError(out, ref, n, what);
        double den = squaredNorm(ref, n);
        return den == 0 ? Math.sqrt(num) : Math.sqrt(num / den);
    }

    static double relError(float[] out, float[] ref, int n, String what) {
        return relError(out, widen(ref, n), n, what);
    }

    static void assertRelError(float[] out, float[] ref, int n, double tol, String what) {
        double err = relError(out, ref, n, what);
        assertTrue(err < tol, what + ": relative error " + err + " >= " + tol);
    }

    /**
     * ‖out − ref‖ / ‖scale‖: for results that may be near zero where the relative error means nothing, such as a
     * gradient with its component along a unit row removed when the row has one element (the result is rounding noise
     * of a value the size of the gradient, so the gradient is the scale).
     */
    static void assertErrorRelativeTo(float[] out, float[] ref, float[] scale, int n, double tol, String what) {
        double num = squaredError(out, widen(ref, n), n, what);
        double den = squaredNorm(widen(scale, n), n);
        assertTrue(den > 0, what + ": the scale is zero");
        double err = Math.sqrt(num / den);
        assertTrue(err < tol, what + ": error relative to the input's norm " + err + " >= " + tol);
    }

    /** ‖out − ref‖² over the first n elements; NaN or Inf anywhere in out fails. */
    private static double squaredError(float[] out, double[] ref, int n, String what) {
        double sum = 0;
        for (int i = 0; i < n; i++) {
            assertTrue(Float.isFinite(out[i]), what + ": element " + i + " is " + out[i] + " (unwritten or overflow)");
            double e = out[i] - ref[i];
            sum += e * e;
        }
        return sum;
    }

    private static double squaredNorm(double[] v, int n) {
        double sum = 0;
        for (int i = 0; i < n; i++) {
            sum += v[i] * v[i];
        }
        return sum;
    }

    private static double[] widen(float[] v, int n) {
        double[] r = new double[n];
        for (int i = 0; i < n; i++) {
            r[i] = v[i];
        }
        return r;
    }

    /** Seeded values in [-scale, scale) with no exact zeros. */
    static float[] random(int n, long seed, float scale) {
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            float v;
            do {
                v = (float) ((rnd.nextDouble() * 2 - 1) * scale);
            } while (v == 0f);
            a[i] = v;
        }
        return a;
    }

    static FloatMatrix randomMatrix(int rows, int cols, long seed, float scale) {
        return FloatMatrix.wrap(rows, cols, random(rows * cols, seed, scale));
    }

    /**
     * TopK-style codes: k distinct latents per row in random order, values in [-1, 1) with about 10% exact zeros
     * (ReLU'd entries), as the encoder produces them.
     */
    static SparseCodes randomFixedCodes(int rows, int numLatents, int k, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        SparseCodes c = SparseCodes.fixedK(rows, numLatents, k);
        int[] perm = new int[numLatents];
        for (int j = 0; j < numLatents; j++) {
            perm[j] = j;
        }
        for (int r = 0; r < rows; r++) {
            for (int i = 0; i < k; i++) {
                int s = i + rnd.nextInt(numLatents - i);
                int t = perm[i];
                perm[i] = perm[s];
                perm[s] = t;
                c.indices()[r * k + i] = perm[i];
                c.values()[r * k + i] = rnd.nextInt(10) == 0 ? 0f : (float) (rnd.nextDouble() * 2 - 1);
            }
        }
        return c;
    }

    /** JumpReLU-style codes: 0..maxPerRow distinct latents per row (some rows empty), ascending latent order. */
    static SparseCodes randomVariableCodes(int rows, int numLatents, int maxPerRow, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        SparseCodes c = new SparseCodes(rows, numLatents, 0);
        c.reset(rows);
        int nnz = 0;
        for (int r = 0; r < rows; r++) {
            int count = r % 5 == 1 ? 0 : rnd.nextInt(maxPerRow + 1);
            java.util.TreeSet<Integer> chosen = new java.util.TreeSet<>();
            while (chosen.size() < Math.min(count, numLatents)) {
                chosen.add(rnd.nextInt(numLatents));
            }
            c.ensureCapacity(nnz + chosen.size());
            for (int j : chosen) {
                c.indices()[nnz] = j;
                c.values()[nnz] = (float) (rnd.nextDouble() * 2 - 1);
                nnz++;
            }
            c.setRowEnd(r, nnz);
        }
        return c;
    }

    static void assertAllFinite(float[] a, int n, String what) {
        for (int i = 0; i < n; i++) {
            assertTrue(Float.isFinite(a[i]), what + ": element " + i + " is " + a[i]);
        }
    }

    static void assertSameCodes(SparseCodes expected, SparseCodes actual, String what) {
        assertEquals(expected.rows(), actual.rows(), what + " rows");
        for (int r = 0; r <= expected.rows(); r++) {
            assertEquals(expected.indptr()[r], actual.indptr()[r], what + " indptr " + r);
        }
    }
}
