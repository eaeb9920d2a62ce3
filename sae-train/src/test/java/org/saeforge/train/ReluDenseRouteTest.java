package org.saeforge.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.saeforge.core.kernels.Kernels;
import org.saeforge.core.kernels.cpu.CpuKernels;
import org.saeforge.core.kernels.cpu.ReferenceKernels;
import org.saeforge.core.model.Architecture;
import org.saeforge.core.model.SaeConfig;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.core.testing.TestData;

/**
 * {@link ReluL1Objective}'s dense route (products over all latents, taken while many latents fire) against its sparse
 * route (the reference: the kernels over the active entries), on seeded random SAEs of awkward shapes: one row, odd
 * sizes, blocks that do not divide the batch, every latent active, none active, with and without the decoder bias in
 * the encoder input. The finite-difference check of both routes is in {@link ArchitectureGradientTest}.
 */
class ReluDenseRouteTest {

    /** bEnc shifted by {@code biasShift}: large positive makes every latent fire, large negative none. */
    static SparseAutoencoder sae(int d, int n, long seed, float biasShift, boolean applyBDec) {
        SparseAutoencoder base = TestData.randomSae(Architecture.RELU, d, n, 0, seed);
        float[] bEnc = base.bEnc().clone();
        for (int j = 0; j < n; j++) {
            bEnc[j] += biasShift;
        }
        float[] bDec = base.bDec().clone();
        for (int i = 0; i < d; i++) {
            bDec[i] += 0.1f * (i % 3 - 1);
        }
        return new SparseAutoencoder(new SaeConfig(Architecture.RELU, d, n, 0, applyBDec, Map.of()), base.wEncT(), bEnc,
                base.wDec(), bDec, null);
    }

    record Result(StepStats stats, Gradients g, long denseSteps) {
    }

    static Result run(Kernels kernels, SparseAutoencoder sae, FloatMatrix x, double denseAbove, int blockRows, double lambda) {
        return run(kernels, sae, x, denseAbove, blockRows, lambda, 0);
    }

    static Result run(Kernels kernels, SparseAutoencoder sae, FloatMatrix x, double denseAbove, int blockRows, double lambda,
                      double relief) {
        ReluL1Objective o = new ReluL1Objective(x.rows(), sae.dIn(), sae.numLatents(), lambda, relief, denseAbove, blockRows);
        Gradients g = new Gradients(sae.numLatents(), sae.dIn());
        StepStats stats = o.lossAndGradient(kernels, sae, x, new Objective.StepInputs(0, 0.7, new int[0], 0), g);
        return new Result(stats, g, o.denseSteps());
    }

    @ParameterizedTest(name = "batch {0}, dIn {1}, latents {2}, block {3}, bias shift {4}, bDec in input {5}, relief {6}")
    @CsvSource({
        "1, 5, 7, 1, 0, true, 0",
        "1, 13, 1, 4, 5, false, 0",
        "37, 13, 29, 8, 0, true, 0",
        "37, 13, 29, 37, 0, false, 0",
        "64, 17, 300, 64, 0.3, true, 0",
        "129, 9, 41, 128, 0, true, 0",
        "50, 11, 23, 7, 50, true, 0",
        "20, 6, 10, 3, -50, false, 0",
        "1, 5, 7, 1, 0, true, 1",
        "37, 13, 29, 8, 0, true, 0.25",
        "64, 17, 300, 64, 0.3, true, 0.05",
        "129, 9, 41, 128, 0, true, 0.1",
        "50, 11, 23, 7, 50, true, 0.5"})
    void denseRouteMatchesSparseRoute(int b, int d, int n, int block, float biasShift, boolean applyBDec, double relief) {
        SparseAutoencoder sae = sae(d, n, 1000L * b + n, biasShift, applyBDec);
        FloatMatrix x = FloatMatrix.random(b, d, 77L + b, 1.3f);
        for (String backend : new String[] {"cpu-ref", "cpu"}) {
            Result sparse;
            Result dense;
            try (Kernels k = "cpu".equals(backend) ? new CpuKernels(2) : new ReferenceKernels()) {
                sparse = run(k, sae, x, 1, block, 2.5, relief);
                dense = run(k, sae, x, 0, block, 2.5, relief);
            }
            String what = backend + " b" + b + " d" + d + " n" + n + " block " + block + " relief " + relief;
            assertEquals(0, sparse.denseSteps(), what + ": sparse route ran");
            boolean anyActive = sparse.stats().l0() > 0;
            assertEquals(anyActive ? 1 : 0, dense.denseSteps(), what + ": dense route ran (none when no latent fires)");
            assertEquals(sparse.stats().loss(), dense.stats().loss(), 1e-5 * Math.abs(sparse.stats().loss()) + 1e-12, what + " loss");
            assertEquals(sparse.stats().fvu(), dense.stats().fvu(), 1e-5 * sparse.stats().fvu() + 1e-12, what + " fvu");
            assertEquals(sparse.stats().l0(), dense.stats().l0(), 0, what + " l0");
            float[][] ref = {sparse.g().wEncT().data(), sparse.g().bEnc(), sparse.g().wDec().data(), sparse.g().bDec()};
            float[][] got = {dense.g().wEncT().data(), dense.g().bEnc(), dense.g().wDec().data(), dense.g().bDec()};
            String[] names = {"wEncT", "bEnc", "wDec", "bDec"};
            for (int p = 0; p < 4; p++) {
                double err = TestData.relError(got[p], ref[p], ref[p].length);
                assertTrue(err < 1e-5, what + " " + names[p] + " gradient relative error " + err);
            }
            if (!anyActive) {
                assertTrue(allZero(sparse.g().wEncT().data()) && allZero(sparse.g().bEnc()), what + ": no active latent, no encoder gradient");
            }
        }
    }

    /**
     * Relief touches only latents firing on fewer than relief × batch rows: with every latent firing on every row the
     * step is bit for bit the one without relief; with a latent on fewer rows its penalty (and so the loss) is smaller.
     */
    @Test
    void reliefLeavesLatentsFiringOftenAlone() {
        FloatMatrix x = FloatMatrix.random(8, 5, 4, 1f);
        try (Kernels k = new ReferenceKernels()) {
            for (double denseAbove : new double[] {0, 1}) {
                SparseAutoencoder busy = sae(5, 9, 3, 50, true);
                Result off = run(k, busy, x, denseAbove, 8, 1.5, 0);
                Result on = run(k, busy, x, denseAbove, 8, 1.5, 0.5);
                assertEquals(off.stats().loss(), on.stats().loss(), 0, "every latent fires on all 8 rows, 4 needed");
                float[][] a = {off.g().wEncT().data(), off.g().bEnc(), off.g().wDec().data(), off.g().bDec()};
                float[][] b = {on.g().wEncT().data(), on.g().bEnc(), on.g().wDec().data(), on.g().bDec()};
                for (int p = 0; p < 4; p++) {
                    assertArrayEquals(a[p], b[p], "gradient " + p + ", denseAbove " + denseAbove);
                }
                SparseAutoencoder some = sae(5, 9, 3, 0, true);
                Result someOff = run(k, some, x, denseAbove, 8, 1.5, 0);
                Result someOn = run(k, some, x, denseAbove, 8, 1.5, 1);
                assertTrue(someOff.stats().l0() > 0, "some latents fire");
                assertTrue(someOn.stats().loss() < someOff.stats().loss(), "latents firing on fewer than all 8 rows pay less: "
                        + someOn.stats().loss() + " against " + someOff.stats().loss());
                assertEquals(someOff.stats().fvu(), someOn.stats().fvu(), 0, "the reconstruction does not change");
            }
        }
    }

    @Test
    void everyLatentActiveFiresEveryEntry() {
        SparseAutoencoder sae = sae(5, 9, 3, 50, true);
        FloatMatrix x = FloatMatrix.random(4, 5, 3, 1f);
        try (Kernels k = new ReferenceKernels()) {
            Result r = run(k, sae, x, 0, 4, 1);
            assertEquals(9, r.stats().l0(), 0, "every latent fires on every row");
            assertEquals(1, r.denseSteps());
        }
    }

    @Test
    void defaultRouteFollowsTheShareOfActiveCodes() {
        FloatMatrix x = FloatMatrix.random(16, 8, 5, 1f);
        try (Kernels k = new ReferenceKernels()) {
            // every latent fires: far above the default share, so the default objective takes the dense route
            ReluL1Objective busy = new ReluL1Objective(16, 8, 12, 1);
            busy.lossAndGradient(k, sae(8, 12, 5, 50, true), x, new Objective.StepInputs(0, 1, new int[0], 0), new Gradients(12, 8));
            assertEquals(1, busy.denseSteps());
            // none fires: the sparse route
            ReluL1Objective quiet = new ReluL1Objective(16, 8, 12, 1);
            quiet.lossAndGradient(k, sae(8, 12, 5, -50, true), x, new Objective.StepInputs(0, 1, new int[0], 0), new Gradients(12, 8));
            assertEquals(0, quiet.denseSteps());
        }
    }

    @Test
    void blockRowsStayWithinTheBatchAndTheBufferBudget() {
        assertEquals(1, ReluL1Objective.denseBlockRows(1, 4096));
        assertEquals(4096, ReluL1Objective.denseBlockRows(4096, 1024));
        assertEquals(1024, ReluL1Objective.denseBlockRows(4096, 4096));
        assertEquals(128, ReluL1Objective.denseBlockRows(4096, 1 << 20), "at least 128 rows per block");
        assertThrows(IllegalArgumentException.class, () -> new ReluL1Objective(4, 3, 5, 1, 0, 1.5));
        assertThrows(IllegalArgumentException.class, () -> new ReluL1Objective(4, 3, 5, 1, 0, 0.5, 0));
        assertThrows(IllegalArgumentException.class, () -> new ReluL1Objective(4, 3, 5, 1, -0.1, 0.5));
        assertThrows(IllegalArgumentException.class, () -> new ReluL1Objective(4, 3, 5, 1, 1.5, 0.5));
    }

    static boolean allZero(float[] a) {
        for (float v : a) {
            if (v != 0f) {
                return false;
            }
        }
        return true;
    }
}
