package org.saeforge.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.saeforge.core.SaeException;
import org.saeforge.core.kernels.Device;
import org.saeforge.core.model.Architecture;
import org.saeforge.core.model.SaeConfig;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.core.tensor.SparseCodes;

/**
 * {@link DuplicateResampler}: of a pair of latents whose decoder rows have a cosine above 0.5 and that share more than
 * half of their activation on the same rows of the batch, the one with the smaller activation mass restarts on the
 * residual of a batch row (decoder along it, encoder along it at a fifth of the mean encoder norm, bias and Adam moments
 * 0); everything else stays bit for bit. The check's schedule and its settings.
 */
class DuplicateResamplerTest {
    static final int D = 128;

    /** Random unit decoder rows (random directions in 128 dimensions: cosines far below 0.5), random encoder rows. */
    static SparseAutoencoder sae(int n, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        FloatMatrix wEnc = new FloatMatrix(n, D);
        FloatMatrix wDec = new FloatMatrix(n, D);
        for (int j = 0; j < n; j++) {
            double ss = 0;
            for (int c = 0; c < D; c++) {
                float x = (float) rng.nextGaussian();
                wDec.data()[j * D + c] = x;
                wEnc.data()[j * D + c] = (float) rng.nextGaussian() * 0.3f;
                ss += x * x;
            }
            for (int c = 0; c < D; c++) {
                wDec.data()[j * D + c] /= (float) Math.sqrt(ss);
            }
        }
        float[] bEnc = new float[n];
        Arrays.fill(bEnc, -0.25f);
        return new SparseAutoencoder(new SaeConfig(Architecture.TOPK, D, n, 3, true, Map.of()), wEnc, bEnc, wDec, new float[D], null);
    }

    /** Makes decoder row {@code b} a unit vector at cosine {@code cos} to row {@code a}. */
    static void pair(SparseAutoencoder sae, int a, int b, double cos) {
        float[] w = sae.wDec().data();
        double dot = 0;
        for (int c = 0; c < D; c++) {
            dot += w[b * D + c] * w[a * D + c];
        }
        double ss = 0;
        float[] u = new float[D];
        for (int c = 0; c < D; c++) {
            u[c] = (float) (w[b * D + c] - dot * w[a * D + c]);
            ss += u[c] * u[c];
        }
        double sin = Math.sqrt(1 - cos * cos);
        for (int c = 0; c < D; c++) {
            w[b * D + c] = (float) (cos * w[a * D + c] + sin * u[c] / Math.sqrt(ss));
        }
    }

    /** Codes of {@code rows} rows in which every latent of {@code together} fires with value 1 (and nothing else). */
    static SparseCodes coFiring(int rows, int n, int... together) {
        SparseCodes c = SparseCodes.fixedK(rows, n, together.length);
        for (int r = 0; r < rows; r++) {
            for (int e = 0; e < together.length; e++) {
                c.indices()[r * together.length + e] = together[e];
                c.values()[r * together.length + e] = 1f;
            }
        }
        return c;
    }

    static float[][] moments(int n, float value) {
        float[][] m = {new float[n * D], new float[n], new float[n * D], new float[D]};
        for (float[] a : m) {
            Arrays.fill(a, value);
        }
        return m;
    }

    @Test
    void ofAPairTheLatentWithTheSmallerActivationMassRestartsOnAResidualRow() {
        int n = 11;
        int rows = 7;
        SparseAutoencoder sae = sae(n, 1);
        pair(sae, 2, 8, 0.7);
        SparseAutoencoder before = sae.copy();
        FloatMatrix residual = FloatMatrix.random(rows, D, 3, 1f);
        SparseCodes codes = coFiring(rows, n, 2, 8, 5);
        for (int r = 0; r < rows; r++) {
            codes.values()[r * 3] = 2f; // latent 2 carries twice latent 8's activation: 8 is the duplicate
        }
        float[][] m = moments(n, 0.5f);
        float[][] v = moments(n, 0.25f);
        double encNorm = 0;
        for (int j = 0; j < n; j++) {
            encNorm += norm(before.wEncT().data(), j);
        }
        try (DuplicateResampler r = new DuplicateResampler(n, D, 0, 1, 2)) {
            assertEquals(1, r.resample(sae, codes, residual, rows, m, v, 0));
        }
        float[] dec = sae.wDec().data();
        float[] enc = sae.wEncT().data();
        // the new decoder row is minus one residual row, normalised (the residual holds x̂ − x)
        int match = -1;
        for (int r = 0; r < rows; r++) {
            double cos = 0;
            for (int c = 0; c < D; c++) {
                cos -= dec[8 * D + c] * residual.data()[r * D + c];
            }
            if (Math.abs(cos / norm(residual.data(), r) - 1) < 1e-5) {
                match = r;
            }
        }
        assertTrue(match >= 0, "decoder row 8 is the direction of a residual row");
        assertEquals(1, norm(dec, 8), 1e-5);
        assertEquals(DuplicateResampler.ENCODER_SCALE * encNorm / n, norm(enc, 8), 1e-5, "encoder norm: a fifth of the mean");
        for (int c = 0; c < D; c++) {
            assertEquals(dec[8 * D + c] * norm(enc, 8), enc[8 * D + c], 1e-6, "encoder row along the decoder row");
        }
        assertEquals(0f, sae.bEnc()[8]);
        for (int i : new int[] {0, 2}) {
            assertTrue(allEqual(m[i], 8 * D, D, 0f) && allEqual(v[i], 8 * D, D, 0f), "moments of row 8 reset, slot " + i);
        }
        assertEquals(0f, m[1][8]);
        assertEquals(0f, v[1][8]);
        // everything else is as it was
        for (int j = 0; j < n; j++) {
            if (j == 8) {
                continue;
            }
            assertArrayEquals(Arrays.copyOfRange(before.wDec().data(), j * D, (j + 1) * D), Arrays.copyOfRange(dec, j * D, (j + 1) * D));
            assertArrayEquals(Arrays.copyOfRange(before.wEncT().data(), j * D, (j + 1) * D), Arrays.copyOfRange(enc, j * D, (j + 1) * D));
            assertEquals(before.bEnc()[j], sae.bEnc()[j]);
            assertTrue(allEqual(m[0], j * D, D, 0.5f) && allEqual(v[2], j * D, D, 0.25f) && m[1][j] == 0.5f, "moments of " + j);
        }
        assertArrayEquals(before.bDec(), sae.bDec());
        assertTrue(allEqual(m[3], 0, D, 0.5f), "bDec's moments untouched");
    }

    @Test
    void onATieTheLaterLatentRestartsAndALowCosineOrSeparateRowsMakeNoPair() {
        int n = 9;
        SparseAutoencoder sae = sae(n, 2);
        pair(sae, 5, 6, 0.8); // fire together: a pair
        pair(sae, 3, 4, 0.45); // fire together, but below the cosine
        pair(sae, 0, 7, 0.9); // above the cosine, but on rows of their own
        SparseAutoencoder before = sae.copy();
        SparseCodes codes = SparseCodes.fixedK(8, n, 3);
        for (int r = 0; r < 8; r++) {
            int[] row = r < 4 ? new int[] {3, 4, 0} : new int[] {5, 6, 7};
            for (int e = 0; e < 3; e++) {
                codes.indices()[r * 3 + e] = row[e];
                codes.values()[r * 3 + e] = 1f;
            }
        }
        try (DuplicateResampler r = new DuplicateResampler(n, D, 0, 1, 1)) {
            assertEquals(1, r.resample(sae, codes, FloatMatrix.random(8, D, 4, 1f), 8, moments(n, 1), moments(n, 1), 0));
        }
        for (int j = 0; j < n; j++) {
            assertEquals(j != 6, rowEquals(before, sae, j), "only latent 6 (the later of the pair) restarts: " + j);
        }
    }

    @Test
    void aPairSharesMoreThanHalfOfTheSmallerActivationMass() {
        int n = 4;
        // latent 1 on rows 0, 1, 3 (values 1, 2, 1: mass 4); latent 2 on rows 1, 3, 4 (values s, 3, 5); shared
        // min(2, s) + min(1, 3): with s = 1 exactly half of latent 1's mass (no pair), with s = 1.5 0.625 (a pair)
        for (float shared : new float[] {1f, 1.5f}) {
            SparseAutoencoder sae = sae(n, 5);
            pair(sae, 1, 2, 0.9);
            SparseAutoencoder before = sae.copy();
            SparseCodes codes = new SparseCodes(5, n, 10);
            int p = 0;
            float[][] rows = {{1, 0}, {2, shared}, {0, 0}, {1, 3}, {0, 5}};
            for (int r = 0; r < 5; r++) {
                for (int j = 1; j <= 2; j++) {
                    if (rows[r][j - 1] > 0) {
                        codes.indices()[p] = j;
                        codes.values()[p++] = rows[r][j - 1];
                    }
                }
                codes.setRowEnd(r, p);
            }
            try (DuplicateResampler r = new DuplicateResampler(n, D, 0, 1, 1)) {
                r.resample(sae, codes, FloatMatrix.random(5, D, 7, 1f), 5, moments(n, 0), moments(n, 0), 0);
            }
            // a pair restarts latent 1, the smaller activation mass (4 against 9.5)
            assertEquals(shared == 1f, rowEquals(before, sae, 1), "latent 2's value on the shared row " + shared);
            assertTrue(rowEquals(before, sae, 2));
        }
    }

    @Test
    void theSameInputsRestartTheSameWayAndTwoDuplicatesGetTwoRows() {
        int n = 10;
        SparseAutoencoder a = sae(n, 3);
        pair(a, 0, 4, 0.9);
        pair(a, 2, 7, 0.6);
        SparseAutoencoder b = a.copy();
        FloatMatrix residual = FloatMatrix.random(6, D, 5, 1f);
        try (DuplicateResampler r = new DuplicateResampler(n, D, 7, 1, 2); DuplicateResampler s = new DuplicateResampler(n, D, 7, 1, 1)) {
            SparseCodes codes = coFiring(6, n, 0, 4, 2, 7);
            assertEquals(2, r.resample(a, codes, residual, 6, moments(n, 0), moments(n, 0), 41));
            assertEquals(2, s.resample(b, codes, residual, 6, moments(n, 0), moments(n, 0), 41));
        }
        assertTrue(a.sameWeights(b), "same seed, step and inputs: same weights (any thread count)");
        double cos = 0;
        for (int c = 0; c < D; c++) {
            cos += a.wDec().data()[4 * D + c] * a.wDec().data()[7 * D + c];
        }
        assertTrue(Math.abs(cos) < 0.999, "drawn without replacement: the two duplicates start on different rows");
    }

    @Test
    void eachCheckComparesAWindowThatMovesWithTheStep() {
        // 4100 latents: a window of 4096 per check, so a pair among the last four is seen only by the second check
        int n = DuplicateResampler.WINDOW + 4;
        SparseAutoencoder sae = sae(n, 4);
        pair(sae, n - 3, n - 1, 0.95);
        FloatMatrix residual = FloatMatrix.random(4, D, 6, 1f);
        SparseCodes codes = coFiring(4, n, n - 3, n - 1);
        try (DuplicateResampler r = new DuplicateResampler(n, D, 0, 5, 2)) {
            SparseAutoencoder first = sae.copy();
            r.resample(first, codes, residual, 4, moments(n, 0), moments(n, 0), 4);
            assertTrue(rowEquals(first, sae, n - 1) && rowEquals(first, sae, n - 3), "check 1 (rows 0..4095) does not see the pair");
            SparseAutoencoder second = sae.copy();
            r.resample(second, codes, residual, 4, moments(n, 0), moments(n, 0), 9);
            assertFalse(rowEquals(second, sae, n - 1), "check 2 (from row 4096 on) restarts the later of the pair");
            SparseAutoencoder third = sae.copy();
            r.resample(third, codes, residual, 4, moments(n, 0), moments(n, 0), 14);
            assertTrue(rowEquals(third, sae, n - 1), "check 3 is check 1's window again");
        }
    }

    @Test
    void checksRunEveryIntervalUpToThreeQuartersOfTheRunAndTwoAndAHalfMillionRows() {
        assertFalse(DuplicateResampler.due(23, 25, 732, 4096));
        assertTrue(DuplicateResampler.due(24, 25, 732, 4096));
        assertTrue(DuplicateResampler.due(524, 25, 732, 4096));
        assertFalse(DuplicateResampler.due(549, 25, 732, 4096), "step 550 is past 3/4 of 732 steps");
        assertFalse(DuplicateResampler.due(24, 0, 732, 4096), "off");
        assertTrue(DuplicateResampler.due(599, 25, 2441, 4096), "600 x 4096 rows is below 2.5M");
        assertFalse(DuplicateResampler.due(624, 25, 2441, 4096), "625 x 4096 rows is above 2.5M");
        assertTrue(DuplicateResampler.due(2399, 25, 2441 * 4, 1024), "the cap is in rows: 2400 steps of 1024 rows");
    }

    @Test
    void offUnlessAskedForTopKOnTheCpuAndRecordedForAResume() {
        TrainConfig topk = TrainConfig.defaults(Architecture.TOPK, 4096, 32).toBuilder().tokens(3_000_000).build();
        assertEquals(-1, topk.dedupEvery(), "left to the default");
        assertEquals(0, topk.effectiveDedupEvery(), "off by default");
        assertFalse(topk.checksDuplicates());
        TrainConfig asked = topk.toBuilder().dedupEvery(102_400).build();
        assertEquals(102_400, asked.effectiveDedupEvery());
        assertEquals(25, asked.dedupEverySteps());
        assertTrue(asked.checksDuplicates());
        assertEquals(2, topk.toBuilder().dedupEvery(10_000).build().dedupEverySteps(), "rows rounded to whole steps");
        assertEquals(0, topk.toBuilder().dedupEvery(0).build().dedupEverySteps());
        assertEquals(102_400, asked.toJson().path("effective").path("dedup_every").asLong(), "recorded for a resume");
        assertEquals(0, topk.toJson().path("effective").path("dedup_every").asLong());
        assertEquals(5000, TrainConfig.fromJson(topk.toBuilder().dedupEvery(5000).build().toJson()).dedupEvery());
        com.fasterxml.jackson.databind.node.ObjectNode old = asked.toJson();
        old.remove("dedup_every");
        assertEquals(0, TrainConfig.fromJson(old).effectiveDedupEvery(), "a run saved before the check existed did not check");
        SaeException relu = assertThrows(SaeException.class,
                () -> TrainConfig.defaults(Architecture.JUMPRELU, 4096, 32).toBuilder().dedupEvery(1000).build());
        assertTrue(relu.getMessage().contains("--dedup-every") && relu.getMessage().contains("topk only"), relu.getMessage());
        SaeException gpu = assertThrows(SaeException.class, () -> topk.toBuilder().device(Device.CUDA).dedupEvery(1000).build());
        assertTrue(gpu.getMessage().contains("cuda"), gpu.getMessage());
        SaeException negative = assertThrows(SaeException.class, () -> topk.toBuilder().dedupEvery(-5).build());
        assertTrue(negative.getMessage().contains("--dedup-every"), negative.getMessage());
        SaeException onGpu = assertThrows(SaeException.class, () -> Trainer.withoutResampling(java.util.List.of(asked)));
        assertTrue(onGpu.getMessage().contains("GPU"), onGpu.getMessage());
        assertEquals(topk, Trainer.withoutResampling(java.util.List.of(topk)).get(0), "nothing to change when off");
        TrainConfig tooShort = topk.toBuilder().tokens(20L * 4096).dedupEvery(102_400).build();
        assertEquals(0, Trainer.withoutResampling(java.util.List.of(tooShort)).get(0).effectiveDedupEvery(), "a run too short to check");
    }

    @Test
    void aCpuRunThatChecksIsNotResumedOnTheGpu() {
        TrainConfig cpu = TrainConfig.defaults(Architecture.TOPK, 4096, 32).toBuilder().tokens(3_000_000).dedupEvery(102_400).build();
        assertTrue(cpu.checksDuplicates());
        com.fasterxml.jackson.databind.JsonNode effective = cpu.toJson().path("effective");
        TrainConfig gpu = cpu.toBuilder().dedupEvery(-1).device(Device.CUDA).build();
        SaeException e = assertThrows(SaeException.class, () -> Trainer.pinRecordedAutoValues(gpu, effective, null));
        assertTrue(e.getMessage().contains("--device cpu"), e.getMessage());
        // a run too short for a check (20 steps: the first check would be at step 25) trains the same without it
        TrainConfig shortGpu = gpu.toBuilder().tokens(20L * gpu.batchSize()).build();
        assertFalse(cpu.toBuilder().tokens(20L * cpu.batchSize()).build().checksDuplicates());
        assertEquals(0, Trainer.pinRecordedAutoValues(shortGpu, effective, null).effectiveDedupEvery());
        TrainConfig cpuAuto = cpu.toBuilder().dedupEvery(-1).build();
        assertEquals(cpu.effectiveDedupEvery(), Trainer.pinRecordedAutoValues(cpuAuto, effective, null).dedupEvery(),
                "a run left to the default resumes with what it recorded");
    }

    private static boolean rowEquals(SparseAutoencoder a, SparseAutoencoder b, int j) {
        return Arrays.equals(Arrays.copyOfRange(a.wDec().data(), j * D, (j + 1) * D), Arrays.copyOfRange(b.wDec().data(), j * D, (j + 1) * D));
    }

    private static double norm(float[] w, int row) {
        double ss = 0;
        for (int c = 0; c < D; c++) {
            ss += (double) w[row * D + c] * w[row * D + c];
        }
        return Math.sqrt(ss);
    }

    private static boolean allEqual(float[] a, int from, int len, float value) {
        for (int i = from; i < from + len; i++) {
            if (a[i] != value) {
                return false;
            }
        }
        return true;
    }
}
