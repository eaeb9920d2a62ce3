package org.saeforge.core.kernels.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The fast selector against a full sort, including ties (lower index wins), k = 1, k = n, negatives and plateaus. */
class TopKSelectorTest {

    private static void check(float[] v, int k) {
        TopKSelector sel = new TopKSelector();
        int[] idx = new int[k];
        float[] val = new float[k];
        sel.select(v, v.length, k, null, idx, val, 0);
        double[] asDouble = new double[v.length];
        int[] all = new int[v.length];
        for (int i = 0; i < v.length; i++) {
            asDouble[i] = v[i];
            all[i] = i;
        }
        int[] expect = ReferenceKernels.topKIndices(asDouble, all, k);
        assertArrayEquals(expect, idx, "k=" + k + " n=" + v.length);
        for (int i = 0; i < k; i++) {
            assertEquals(Math.max(0f, v[expect[i]]), val[i]);
        }
    }

    @Test
    void matchesFullSortOnRandomRows() {
        SplittableRandom rnd = new SplittableRandom(1);
        for (int trial = 0; trial < 300; trial++) {
            int n = 1 + rnd.nextInt(300);
            float[] v = new float[n];
            for (int i = 0; i < n; i++) {
                v[i] = (float) rnd.nextGaussian();
            }
            check(v, 1 + rnd.nextInt(n));
            check(v, 1);
            check(v, n);
        }
    }

    @Test
    void tiesGoToTheLowerIndex() {
        SplittableRandom rnd = new SplittableRandom(2);
        for (int trial = 0; trial < 300; trial++) {
            int n = 1 + rnd.nextInt(200);
            float[] v = new float[n];
            for (int i = 0; i < n; i++) {
                v[i] = rnd.nextInt(4) - 1.5f; // only four distinct values: many ties
            }
            check(v, 1 + rnd.nextInt(n));
        }
        float[] plateau = new float[100];
        Arrays.fill(plateau, 0.25f);
        check(plateau, 7);
        float[] negatives = new float[50];
        Arrays.fill(negatives, -3f);
        negatives[40] = -1f;
        check(negatives, 3);
    }

    @Test
    void longRowsTakeTheTwoPassPathWithTheSameResult() {
        SplittableRandom rnd = new SplittableRandom(3);
        for (int trial = 0; trial < 60; trial++) {
            int n = 4096 + rnd.nextInt(20_000);
            float[] v = new float[n];
            boolean plateau = trial % 3 == 0;
            for (int i = 0; i < n; i++) {
                v[i] = plateau ? rnd.nextInt(8) * 0.5f : (float) rnd.nextGaussian();
            }
            for (int k : new int[] {1, 2, 16, 32, 64, 1 + rnd.nextInt(100)}) {
                assertTrue(n >= TopKSelector.TWO_PASS_RATIO * k, "two-pass path exercised");
                check(v, k);
            }
        }
        float[] flat = new float[5000];
        Arrays.fill(flat, 1f);
        check(flat, 32);
    }

    @Test
    void twoPassBoundHoldsOnHeavyTailsOutliersAndInfinities() {
        SplittableRandom rnd = new SplittableRandom(4);
        for (int trial = 0; trial < 40; trial++) {
            int n = 4096 + rnd.nextInt(12_000);
            float[] v = new float[n];
            for (int i = 0; i < n; i++) {
                switch (trial % 4) {
                    case 0 -> v[i] = (float) Math.exp(rnd.nextGaussian() * 12); // values over ~10 decades
                    case 1 -> v[i] = (float) rnd.nextGaussian() + (rnd.nextInt(2000) == 0 ? 1e30f : 0f); // rare outliers
                    case 2 -> v[i] = rnd.nextInt(50) == 0 ? Float.POSITIVE_INFINITY : (float) rnd.nextGaussian();
                    default -> v[i] = rnd.nextInt(3) == 0 ? Float.NEGATIVE_INFINITY : -(float) rnd.nextDouble();
                }
            }
            for (int k : new int[] {1, 7, 32, 64, 1 + rnd.nextInt(120)}) {
                check(v, k);
            }
        }
    }

    @Test
    void mapsCandidateIdsThroughTheIdTable() {
        float[] v = {0.5f, 2f, -1f, 3f};
        int[] ids = {10, 20, 30, 40};
        int[] idx = new int[2];
        float[] val = new float[2];
        new TopKSelector().select(v, 4, 2, ids, idx, val, 0);
        assertArrayEquals(new int[] {40, 20}, idx);
        assertArrayEquals(new float[] {3f, 2f}, val);
    }
}
