package org.saeforge.core.kernels.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The grouped forms ({@link VectorMath#axpy4}, {@link VectorMath#axpy8}, {@link VectorMath#dot4}) give the same bits as
 * the single-row loops they replace, on lengths around the vector width (tails included), and the single-row loops
 * agree with float64 sums.
 */
class VectorMathTest {
    private static final int[] LENGTHS = {1, 3, VectorMath.L - 1, VectorMath.L, VectorMath.L + 1, 2 * VectorMath.L,
        2 * VectorMath.L + 5, 3 * VectorMath.L + 1, 97, 768};

    private static float[] random(SplittableRandom rnd, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) rnd.nextGaussian();
        }
        return a;
    }

    @Test
    void groupedAxpysMatchSuccessiveAxpys() {
        SplittableRandom rnd = new SplittableRandom(1);
        for (int n : LENGTHS) {
            int rows = 12;
            float[] x = random(rnd, rows * n);
            float[] c = random(rnd, 8);
            int[] idx = {5, 0, 11, 3, 3, 7, 9, 1};
            float[] y0 = random(rnd, n + 2);
            float[] one = y0.clone();
            for (int q = 0; q < 8; q++) {
                VectorMath.axpy(c[q], x, idx[q] * n, one, 2, n);
            }
            float[] eight = y0.clone();
            VectorMath.axpy8(c, 0, x, idx, 0, n, eight, 2, n);
            assertArrayEquals(one, eight, "axpy8 n=" + n);
            float[] four = y0.clone();
            VectorMath.axpy4(c, 0, x, idx, 0, n, four, 2, n);
            VectorMath.axpy4(c, 4, x, idx, 4, n, four, 2, n);
            assertArrayEquals(one, four, "axpy4 n=" + n);
            for (int count = 0; count <= 8; count++) {
                float[] grouped = y0.clone();
                VectorMath.axpyRows(c, idx, 0, count, x, n, grouped, 2, n);
                float[] single = y0.clone();
                for (int q = 0; q < count; q++) {
                    VectorMath.axpy(c[q], x, idx[q] * n, single, 2, n);
                }
                assertArrayEquals(single, grouped, "axpyRows of " + count + " rows, n=" + n);
            }
        }
    }

    @Test
    void dot4MatchesFourDotsAndFloat64() {
        SplittableRandom rnd = new SplittableRandom(2);
        for (int n : LENGTHS) {
            float[] a = random(rnd, n + 3);
            float[] b = random(rnd, 6 * n);
            int[] idx = {0, 4, 2, 2, 5};
            float[] got = new float[6];
            VectorMath.dot4(a, 3, b, idx, 1, n, got, 2);
            for (int q = 0; q < 4; q++) {
                int bo = idx[1 + q] * n;
                assertEquals(VectorMath.dot(a, 3, b, bo, n), got[2 + q], "dot4 lane " + q + " n=" + n);
                double exact = 0;
                for (int i = 0; i < n; i++) {
                    exact += (double) a[3 + i] * b[bo + i];
                }
                assertEquals(exact, got[2 + q], 1e-5 * Math.max(1, Math.sqrt(n)) * 4, "dot vs float64 n=" + n);
            }
            assertEquals(0f, got[0]);
            assertEquals(0f, got[1]);
        }
    }
}
