package org.saeforge.core.kernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class RevivalTest {
    @Test
    void meanOffsetIsTheBatchMeanMinusTheDecoderBias() {
        // 3 rows of 2 values in rows of ld 3 (the padding must be ignored)
        float[] x = {1, 2, 99, 3, 4, 99, 5, 9, 99};
        float[] u = new float[2];
        Revival.meanOffset(x, 3, 2, 3, new float[] {1, -1}, u);
        assertArrayEquals(new float[] {2f, 6f}, u);
    }

    @Test
    void silentRowsLoseTheirNegativePartAlongTheMeanAndGrowTowardTheMeanNorm() {
        int d = 3;
        float[] w = {
            2, 0, 0, // 0: not silent, norm 2
            0, 4, 0, // 1: not silent, norm 4 -> target 3
            -1, 1, 0, // 2: silent, w.u < 0: becomes (0, 1, 0), then grows by 1 + 0.05
            0.5f, 0, 0, // 3: silent, w.u > 0: only grows
            0, 0, 5, // 4: silent, longer than the target: unchanged
            0, 2.9f, 0, // 5: silent, growth stops at the target
        };
        long[] since = {0, 100, 101, 500, 999, 102};
        float[] u = {2, 0, 0};
        float[] projected = w.clone();
        assertEquals(1, Revival.reviveEncoder(projected, 6, d, d, since, null, 0, 100, u, 0), "growth 0: only the projection");
        float[] expected = w.clone();
        expected[6] = 0;
        assertArrayEquals(expected, projected);
        assertEquals(3, Revival.reviveEncoder(w, 6, d, d, since, null, 0, 100, u, 0.05));
        assertArrayEquals(new float[] {2, 0, 0, 0, 4, 0}, Arrays.copyOf(w, 6), "rows that are not silent stay");
        assertArrayEquals(new float[] {0, 1.05f, 0}, Arrays.copyOfRange(w, 6, 9), 1e-6f);
        assertArrayEquals(new float[] {0.525f, 0, 0}, Arrays.copyOfRange(w, 9, 12), 1e-6f);
        assertArrayEquals(new float[] {0, 0, 5}, Arrays.copyOfRange(w, 12, 15));
        assertArrayEquals(new float[] {0, 3, 0}, Arrays.copyOfRange(w, 15, 18), 1e-6f);
    }

    @Test
    void aLatentIsSilentPastItsWindowOrWhenItFiresTooRarelyInABatchLongerThanTheWindow() {
        long[] since = {0, 5000, 0, 0};
        int[] fired = {1, 9, 2, 0};
        // window 2048 rows, batch 4096: silent past the window, or with fewer than 2 positive activations in the batch
        assertTrue(Revival.silent(since, fired, 0, 2048, 4096), "1 firing in a batch of two windows");
        assertTrue(Revival.silent(since, fired, 1, 2048, 4096), "past the window");
        assertFalse(Revival.silent(since, fired, 2, 2048, 4096), "2 firings");
        // a window as long as the batch or longer: the window alone
        assertFalse(Revival.silent(since, fired, 3, 4096, 4096));
        assertFalse(Revival.silent(since, fired, 0, 8192, 4096));
        assertFalse(Revival.silent(since, null, 0, 2048, 4096), "no firing counts: the window alone");
        float[] b = new float[4];
        Revival.apply(b, since, fired, 4096, 4, 2048, new float[] {1f, 1f}, 2, 0.02);
        assertArrayEquals(new float[] {0.02f, 0.02f, 0f, 0.02f}, b, 1e-7f, "the bias step follows the same test");
    }

    @Test
    void silentJumpReluThresholdsFallByTheRate() {
        float[] logTheta = {(float) Math.log(0.5), (float) Math.log(0.8), (float) Math.log(0.02), (float) Math.log(2)};
        float[] theta = new float[4];
        for (int j = 0; j < 4; j++) {
            theta[j] = (float) Math.exp(logTheta[j]);
        }
        long[] since = {0, 101, 5000, 100};
        float[] before = theta.clone();
        assertEquals(0, Revival.decayThresholds(logTheta, theta, 4, since, null, 0, 100, 0), "rate 0: nothing");
        assertArrayEquals(before, theta);
        assertEquals(2, Revival.decayThresholds(logTheta, theta, 4, since, null, 0, 100, 0.1));
        assertEquals(before[0], theta[0], "fired within the window");
        assertEquals(before[3], theta[3], "the window must be exceeded");
        assertEquals(0.72, theta[1], 1e-6, "0.8 x (1 - 0.1)");
        assertEquals(0.018, theta[2], 1e-7);
        for (int j = 0; j < 4; j++) {
            assertEquals((float) Math.exp(logTheta[j]), theta[j], "the threshold stays the exponential of the trained log");
        }
        // the count test too: in a batch of 4096 rows and a window of 2048, one activation is too few
        assertEquals(1, Revival.decayThresholds(logTheta, theta, 4, new long[4], new int[] {2, 1, 5, 9}, 4096, 2048, 0.1));
        assertEquals(0.648, theta[1], 1e-6);
    }

    @Test
    void growthFollowsTheLearningRate() {
        assertEquals(0.05, Revival.growth(5e-3), 1e-12);
        assertEquals(0.0, Revival.growth(0), 0);
        assertEquals(0.0, Revival.growth(-1), 0, "no growth at a negative rate");
    }

    @Test
    void afterTheStepNoSilentRowPointsAgainstTheMean() {
        SplittableRandom rnd = new SplittableRandom(3);
        int n = 57;
        int d = 13;
        int ld = 16;
        float[] w = new float[n * ld];
        long[] since = new long[n];
        for (int j = 0; j < n; j++) {
            since[j] = rnd.nextInt(20);
            for (int i = 0; i < d; i++) {
                w[j * ld + i] = (float) rnd.nextGaussian();
            }
        }
        float[] u = new float[d];
        for (int i = 0; i < d; i++) {
            u[i] = (float) rnd.nextGaussian();
        }
        float[] before = w.clone();
        int changed = Revival.reviveEncoder(w, n, d, ld, since, null, 0, 9, u, Revival.growth(5e-3));
        int silentAgainst = 0;
        for (int j = 0; j < n; j++) {
            double wu = 0;
            double wu0 = 0;
            for (int i = 0; i < d; i++) {
                wu += w[j * ld + i] * u[i];
                wu0 += before[j * ld + i] * u[i];
            }
            if (since[j] > 9) {
                assertTrue(wu >= -1e-5, "silent row " + j + " still points against the mean: " + wu);
                silentAgainst += wu0 < 0 ? 1 : 0;
            } else {
                assertArrayEquals(Arrays.copyOfRange(before, j * ld, j * ld + ld), Arrays.copyOfRange(w, j * ld, j * ld + ld));
            }
            for (int i = d; i < ld; i++) {
                assertEquals(0f, w[j * ld + i], "padding stays 0");
            }
        }
        assertTrue(silentAgainst > 5 && changed >= silentAgainst, silentAgainst + " silent rows pointed against the mean, " + changed + " changed");
    }
}
