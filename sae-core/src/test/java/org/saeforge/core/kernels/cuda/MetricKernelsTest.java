package org.saeforge.core.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.core.tensor.SparseCodes;

/** metrics.cu against float64 loops: squared error and its gradient, total variance, L0 and firing counts. */
class MetricKernelsTest extends Fp32CudaTest {
    @Test
    void squaredErrorAndGradient() {
        for (int[] s : new int[][] {{1, 1}, {37, 45}, {513, 1024}}) {
            FloatMatrix x = CudaTestSupport.randomMatrix(s[0], s[1], 1, 1f);
            FloatMatrix xHat = CudaTestSupport.randomMatrix(s[0], s[1], 2, 1f);
            float scale = 2f / 3f;
            double want = 0;
            float[] wantGrad = new float[x.size()];
            for (int i = 0; i < x.size(); i++) {
                double e = (double) xHat.data()[i] - x.data()[i];
                want += e * e;
                wantGrad[i] = (float) (scale * e);
            }
            FloatMatrix grad = new FloatMatrix(s[0], s[1]);
            grad.fill(Float.NaN);
            long before = kernels.context().launches();
            double got = kernels.squaredError(x, xHat, scale, grad);
            CudaTestSupport.assertRanOnGpu(kernels, before, "squaredError");
            assertEquals(want, got, want * 1e-6, "sse " + s[0] + "x" + s[1]);
            CudaTestSupport.assertRelError(grad.data(), wantGrad, grad.size(), CudaTestSupport.TOL_FP32, "sse gradient");
            assertEquals(got, kernels.squaredError(x, xHat, scale, null), 0.0, "reproducible, gradient optional");
        }
    }

    @Test
    void totalVarianceIsTheCenteredSumOfSquares() {
        for (int[] s : new int[][] {{1, 3}, {2, 1}, {129, 37}, {1000, 300}}) {
            FloatMatrix x = CudaTestSupport.randomMatrix(s[0], s[1], 3, 1f);
            for (int i = 0; i < x.size(); i++) {
                x.data()[i] += 5f; // a large mean, so that a one-pass formula would lose digits
            }
            double[] mean = new double[s[1]];
            for (int r = 0; r < s[0]; r++) {
                for (int c = 0; c < s[1]; c++) {
                    mean[c] += x.get(r, c);
                }
            }
            double want = 0;
            for (int r = 0; r < s[0]; r++) {
                for (int c = 0; c < s[1]; c++) {
                    double dl = x.get(r, c) - mean[c] / s[0];
                    want += dl * dl;
                }
            }
            double got = kernels.totalVariance(x);
            assertEquals(want, got, Math.max(want, 1e-12) * 1e-9, "total variance " + s[0] + "x" + s[1]);
        }
    }

    @Test
    void l0AndFiringCounts() {
        SparseCodes[] sets = {
            CudaTestSupport.randomFixedCodes(1, 10, 1, 1), CudaTestSupport.randomFixedCodes(300, 1000, 32, 2),
            CudaTestSupport.randomVariableCodes(41, 500, 60, 3),
        };
        for (SparseCodes c : sets) {
            int n = c.numLatents();
            int[] fired = new int[n];
            int[] selected = new int[n];
            for (int j = 0; j < n; j++) {
                fired[j] = j % 3;
                selected[j] = 7;
            }
            int[] wantFired = fired.clone();
            int[] wantSelected = selected.clone();
            long wantPositive = 0;
            for (int p = 0; p < c.nnz(); p++) {
                wantSelected[c.indices()[p]]++;
                if (c.values()[p] > 0) {
                    wantFired[c.indices()[p]]++;
                    wantPositive++;
                }
            }
            long positive = kernels.codeStats(c, fired, selected);
            assertEquals(wantPositive, positive, "L0 numerator of " + c);
            assertEquals(c.countPositive(), positive);
            assertArrayEquals(wantFired, fired, "fired counts of " + c);
            assertArrayEquals(wantSelected, selected, "selected counts of " + c);
        }
    }
}
