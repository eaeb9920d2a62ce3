package org.saeforge.train;

import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.saeforge.core.kernels.Kernels;
import org.saeforge.core.kernels.cpu.CpuKernels;
import org.saeforge.core.kernels.cpu.ReferenceKernels;
import org.saeforge.core.model.SaeConfig;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.core.testing.TestData;

/**
 * The fused TopK step ({@link TopKObjective#prepareFused} + {@link TopKObjective#applyFused}) against the plain one
 * (gradient matrices + {@link AdamOptimizer#step}), AuxK active: after several steps the weight updates agree to 1e-4
 * relative (they differ only in float summation order).
 */
class FusedStepTest {

    @ParameterizedTest
    @ValueSource(strings = {"cpu", "cpu-ref"})
    void fusedStepEqualsGradientThenAdam(String backend) {
        int b = 37;
        int d = 24;
        int n = 101;
        int k = 5;
        FloatMatrix x = FloatMatrix.random(b, d, 3, 1f);
        SparseAutoencoder start = Initializer.init(SaeConfig.topK(d, n, k), x, 1);
        SparseAutoencoder plain = start.copy();
        SparseAutoencoder fused = start.copy();
        int[] dead = {2, 9, 30, 31, 57, 77, 90};
        TopKObjective a = new TopKObjective(b, d, n, k, 4, 0.5);
        TopKObjective c = new TopKObjective(b, d, n, k, 4, 0.5);
        AdamOptimizer adamA = new AdamOptimizer(n, d);
        AdamOptimizer adamC = new AdamOptimizer(n, d);
        Gradients full = new Gradients(n, d);
        Gradients biases = Gradients.biasesOnly(n, d);
        try (Kernels kernels = "cpu".equals(backend) ? new CpuKernels(2) : new ReferenceKernels()) {
            for (int step = 0; step < 4; step++) {
                FloatMatrix batch = FloatMatrix.random(b, d, 10 + step, 1f);
                Objective.StepInputs in = new Objective.StepInputs(k, 1, dead, step % 2 == 0 ? dead.length : 0);
                a.lossAndGradient(kernels, plain, batch, in, full);
                adamA.step(kernels, plain, full, 1e-2);
                c.prepareFused(kernels, fused, batch, in, biases);
                c.applyFused(kernels, fused, adamC, biases, 1e-2);
            }
        }
        String[] names = {"wEncT", "bEnc", "wDec", "bDec"};
        float[][] s0 = {start.wEncT().data(), start.bEnc(), start.wDec().data(), start.bDec()};
        float[][] p = {plain.wEncT().data(), plain.bEnc(), plain.wDec().data(), plain.bDec()};
        float[][] f = {fused.wEncT().data(), fused.bEnc(), fused.wDec().data(), fused.bDec()};
        for (int i = 0; i < 4; i++) {
            float[] dp = new float[s0[i].length];
            float[] df = new float[s0[i].length];
            for (int j = 0; j < dp.length; j++) {
                dp[j] = p[i][j] - s0[i][j];
                df[j] = f[i][j] - s0[i][j];
            }
            double err = TestData.relError(df, dp, dp.length);
            assertTrue(err < 1e-4, backend + " " + names[i] + " update differs by " + err);
            assertTrue(TestData.relError(dp, new float[dp.length], dp.length) > 0, names[i] + " moved");
        }
    }
}
