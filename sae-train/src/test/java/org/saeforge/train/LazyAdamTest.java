package org.saeforge.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import java.util.Arrays;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.saeforge.core.kernels.Kernels;
import org.saeforge.core.kernels.cpu.CpuKernels;
import org.saeforge.core.kernels.cpu.ReferenceKernels;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;

/**
 * Lazy Adam ({@link AdamOptimizer}, ReLU's default): a latent that fires on no row of the batch has an exactly zero
 * gradient, and the lazy optimiser leaves its weights and moments as they are, where plain Adam moves it on its
 * momentum; every other value is stepped bit for bit as plain Adam steps it.
 */
class LazyAdamTest {

    @ParameterizedTest
    @ValueSource(strings = {"cpu", "cpu-ref"})
    void aLatentSilentInTheBatchKeepsItsWeightsAndMoments(String backend) {
        int[] silent = {0, 7, 28};
        int b = 37;
        int d = 13;
        int n = 29;
        SparseAutoencoder lazySae = ReluDenseRouteTest.sae(d, n, 3, 2f, true);
        SparseAutoencoder plainSae = lazySae.copy();
        AdamOptimizer lazy = new AdamOptimizer(n, d, false, false, true);
        AdamOptimizer plain = new AdamOptimizer(n, d, false, false, false);
        ReluL1Objective objective = new ReluL1Objective(b, d, n, 0.5);
        Gradients g = new Gradients(n, d);
        Objective.StepInputs in = new Objective.StepInputs(0, 1, new int[0], 0);
        try (Kernels kernels = "cpu".equals(backend) ? new CpuKernels(2) : new ReferenceKernels()) {
            // step 1: every latent fires somewhere, so both optimisers take the same step and build momentum everywhere
            objective.lossAndGradient(kernels, lazySae, FloatMatrix.random(b, d, 5, 1f), in, g);
            for (int j = 0; j < n; j++) {
                assertNotEquals(0f, g.bEnc()[j], "latent " + j + " fires in the first batch");
            }
            lazy.step(kernels, lazySae, g, 1e-2);
            plain.step(kernels, plainSae, g, 1e-2);
            assertArrayEquals(plainSae.wEncT().data(), lazySae.wEncT().data());

            // step 2: three latents pushed below every row
            for (int j : silent) {
                lazySae.bEnc()[j] = -1e3f;
                plainSae.bEnc()[j] = -1e3f;
            }
            SparseAutoencoder before = lazySae.copy();
            float[][] m = copy(lazy.firstMoments());
            float[][] v = copy(lazy.secondMoments());
            objective.lossAndGradient(kernels, lazySae, FloatMatrix.random(b, d, 6, 1f), in, g);
            for (int j : silent) {
                assertEquals(0f, g.bEnc()[j]);
                assertArrayEquals(new float[d], row(g.wEncT().data(), j, d), "no encoder gradient for silent latent " + j);
                assertArrayEquals(new float[d], row(g.wDec().data(), j, d), "no decoder gradient for silent latent " + j);
            }
            lazy.step(kernels, lazySae, g, 1e-2);
            plain.step(kernels, plainSae, g, 1e-2);
            for (int j = 0; j < n; j++) {
                int latent = j;
                boolean isSilent = Arrays.stream(silent).anyMatch(s -> s == latent);
                if (isSilent) {
                    String what = "silent latent " + j;
                    assertArrayEquals(row(before.wEncT().data(), j, d), row(lazySae.wEncT().data(), j, d), what);
                    assertArrayEquals(row(before.wDec().data(), j, d), row(lazySae.wDec().data(), j, d), what);
                    assertEquals(-1e3f, lazySae.bEnc()[j], what);
                    for (int p : new int[] {0, 2}) {
                        assertArrayEquals(row(m[p], j, d), row(lazy.firstMoments()[p], j, d), what + " first moment " + p);
                        assertArrayEquals(row(v[p], j, d), row(lazy.secondMoments()[p], j, d), what + " second moment " + p);
                    }
                    assertEquals(m[1][j], lazy.firstMoments()[1][j]);
                    assertEquals(v[1][j], lazy.secondMoments()[1][j]);
                    // plain Adam moves it on its momentum alone
                    assertFalse(Arrays.equals(row(before.wEncT().data(), j, d), row(plainSae.wEncT().data(), j, d)), what + " moved by plain Adam");
                    assertNotEquals(-1e3f, plainSae.bEnc()[j], what + " bias moved by plain Adam");
                } else {
                    String what = "firing latent " + j;
                    assertArrayEquals(row(plainSae.wEncT().data(), j, d), row(lazySae.wEncT().data(), j, d), what);
                    assertArrayEquals(row(plainSae.wDec().data(), j, d), row(lazySae.wDec().data(), j, d), what);
                    assertEquals(plainSae.bEnc()[j], lazySae.bEnc()[j], what);
                    assertNotEquals(before.bEnc()[j], lazySae.bEnc()[j], what + " stepped");
                }
            }
            assertArrayEquals(plainSae.bDec(), lazySae.bDec());
            assertEquals(2, lazy.steps());
        }
    }

    private static float[] row(float[] a, int j, int d) {
        return Arrays.copyOfRange(a, j * d, (j + 1) * d);
    }

    private static float[][] copy(float[][] a) {
        float[][] c = new float[a.length][];
        for (int i = 0; i < a.length; i++) {
            c[i] = a[i].clone();
        }
        return c;
    }
}
