package org.saeforge.core.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import org.junit.jupiter.api.Test;

/** The near-tie rule itself, without a GPU. */
class TopKCheckTest {
    private static final int[] ALL = {0, 1, 2, 3, 4};
    /** 3 + 2^-21 is a float: exact comparisons below are exact. */
    private static final double NEAR = 3.0 + Math.scalb(1.0, -21);
    private static final double[] PRE = {5.0, 4.0, NEAR, 3.0, 1.0};

    private static String check(double bound, int[] idx, float[] val) {
        double[] b = new double[PRE.length];
        java.util.Arrays.fill(b, bound);
        return TopKCheck.check(PRE, ALL, b, idx, val, 0, idx.length);
    }

    @Test
    void exactMatchPasses() {
        assertNull(check(0, new int[] {0, 1, 2}, new float[] {5f, 4f, (float) NEAR}));
    }

    @Test
    void nearTieSwapPassesWithinTheBounds() {
        assertNull(check(1e-6, new int[] {0, 1, 3}, new float[] {5f, 4f, 3f}));
        assertNotNull(check(1e-9, new int[] {0, 1, 3}, new float[] {5f, 4f, 3f}), "no swap without rounding room");
    }

    @Test
    void farSwapFails() {
        assertNotNull(check(1e-3, new int[] {0, 1, 4}, new float[] {5f, 4f, 1f}));
    }

    @Test
    void orderDuplicatesValuesAndEligibilityAreChecked() {
        assertNotNull(check(1e-3, new int[] {1, 0, 2}, new float[] {4f, 5f, 3f}), "descending order");
        assertNotNull(check(1e-3, new int[] {0, 0, 2}, new float[] {5f, 5f, 3f}), "duplicate");
        assertNotNull(check(1e-3, new int[] {0, 1, 2}, new float[] {5f, 4.1f, 3f}), "value off by more than its bound");
        assertNotNull(check(1e-3, new int[] {0, 1, 7}, new float[] {5f, 4f, 3f}), "not a latent");
        assertNotNull(TopKCheck.check(PRE, new int[] {0, 1, 3}, new double[5], new int[] {0, 1, 2},
                new float[] {5f, 4f, (float) NEAR}, 0, 3), "not a dead latent");
    }

    @Test
    void exactTiesGoToTheLowerIndex() {
        double[] pre = {2.0, 1.0, 1.0, 1.0};
        double[] zero = new double[4];
        int[] all = {0, 1, 2, 3};
        assertNull(TopKCheck.check(pre, all, zero, new int[] {0, 1}, new float[] {2f, 1f}, 0, 2));
        assertNotNull(TopKCheck.check(pre, all, zero, new int[] {0, 2}, new float[] {2f, 1f}, 0, 2), "higher index won the tie");
        assertNull(TopKCheck.check(pre, all, zero, new int[] {0, 1, 2}, new float[] {2f, 1f, 1f}, 0, 3));
        assertNotNull(TopKCheck.check(pre, all, zero, new int[] {0, 2, 1}, new float[] {2f, 1f, 1f}, 0, 3), "equal values by index");
    }

    @Test
    void negativePreActivationsAreReluedButRankedByValue() {
        double[] pre = {-1.0, -2.0, -0.5};
        assertNull(TopKCheck.check(pre, new int[] {0, 1, 2}, new double[3], new int[] {2, 0}, new float[] {0f, 0f}, 0, 2));
    }
}
