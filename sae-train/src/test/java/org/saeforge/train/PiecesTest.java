package org.saeforge.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.saeforge.core.SaeException;
import org.saeforge.core.kernels.Revival;
import org.saeforge.core.model.Architecture;
import org.saeforge.core.model.SaeConfig;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.core.tensor.SparseCodes;
import org.saeforge.train.synth.SyntheticData;

/** Schedule, initialisation, dead-latent tracking and the synthetic generator. */
class PiecesTest {

    @Test
    void scheduleWarmsUpThenDecaysToZero() {
        LrSchedule s = new LrSchedule(1e-3, 10, 110);
        assertEquals(0.0, s.lrAt(0));
        assertEquals(5e-4, s.lrAt(5), 1e-12);
        assertEquals(1e-3, s.lrAt(10), 1e-12);
        assertEquals(5e-4, s.lrAt(60), 1e-12);
        assertEquals(1e-5, s.lrAt(109), 1e-12);
        assertEquals(1000, TrainConfig.defaults(64, 4).withTokens(4096L * 100_000).effectiveWarmupSteps());
        assertEquals(36, TrainConfig.defaults(4096, 16).withTokens(3_000_000).effectiveWarmupSteps());
        // relu: at least min(100, a third of the steps)
        TrainConfig relu = TrainConfig.defaults(Architecture.RELU, 4096, 0);
        assertEquals(40, relu.withTokens(500_000).effectiveWarmupSteps(), "122 steps: a third");
        assertEquals(81, relu.withTokens(1_000_000).effectiveWarmupSteps());
        assertEquals(100, relu.withTokens(3_000_000).effectiveWarmupSteps());
        assertEquals(122, relu.withTokens(10_000_000).effectiveWarmupSteps(), "5% from 2,000 steps on");
        assertEquals(1000, relu.withTokens(4096L * 100_000).effectiveWarmupSteps());
        assertEquals(3, relu.withTokens(4096L * 10).effectiveWarmupSteps());
        assertEquals(7, relu.withTokens(1_000_000).withWarmupSteps(7).effectiveWarmupSteps(), "a given warm-up is kept");
        assertEquals(5, TrainConfig.defaults(Architecture.JUMPRELU, 4096, 16).withTokens(4096L * 100)
                .effectiveWarmupSteps(), "the others: 5%");
    }

    @Test
    void schedulesDecayToTheirFinalFraction() {
        LrSchedule cos = new LrSchedule(1e-3, 10, 10, 110, LrSchedule.Shape.COSINE, 0.1);
        assertEquals(1e-3, cos.lrAt(10), 1e-12);
        assertEquals(1e-3 * (0.1 + 0.9 * 0.5), cos.lrAt(60), 1e-12, "halfway: the cosine is at its midpoint");
        assertEquals(1e-4, cos.lrAt(110), 1e-12);
        LrSchedule lin = new LrSchedule(1e-3, 10, 60, 110, LrSchedule.Shape.LINEAR, 0.2);
        assertEquals(1e-3, lin.lrAt(60), 1e-12, "constant until the decay starts");
        assertEquals(1e-3 * 0.6, lin.lrAt(85), 1e-12);
        LrSchedule constant = new LrSchedule(1e-3, 10, 10, 110, LrSchedule.Shape.CONSTANT, 0);
        assertEquals(1e-3, constant.lrAt(109), 1e-12);
        TrainConfig c = TrainConfig.defaults(4096, 16).toBuilder().tokens(4096L * 1000).lrDecayStart(0.5).lrFinal(0.1)
                .lrSchedule(LrSchedule.Shape.COSINE).build();
        assertEquals(c.effectiveLr(), c.schedule().lrAt(500), 1e-15);
        assertEquals(0.1 * c.effectiveLr(), c.schedule().lrAt(1000), 1e-15);
    }

    @Test
    void defaultsScaleWithTheBudget() {
        // sparsify's rate for long runs, up to 16x higher for short ones
        assertEquals(4e-4, TrainConfig.autoLr(Architecture.TOPK, 4096, 244_140), 1e-12, "1B rows");
        assertEquals(4e-4 * 1.5 * Math.sqrt(20_000.0 / 732), TrainConfig.defaults(4096, 16).withTokens(3_000_000).effectiveLr(), 1e-12);
        assertEquals(4e-4 * 2.25 * Math.sqrt(20_000.0 / 732), TrainConfig.autoLr(Architecture.BATCH_TOPK, 4096, 732), 1e-12, "2.25 for batch selection");
        assertEquals(4e-4 * 2.25 * Math.sqrt(20_000.0 / 244), TrainConfig.autoLr(Architecture.MATRYOSHKA, 4096, 244), 1e-12, "above 16x");
        assertEquals(4e-4 * 32, TrainConfig.autoLr(Architecture.BATCH_TOPK, 4096, 10), 1e-12, "capped at 32x");
        assertEquals(4e-4, TrainConfig.autoLr(Architecture.BATCH_TOPK, 4096, 101_250), 1e-12, "sparsify's rate from 101,250 steps on");
        assertEquals(4e-4 * 3 * Math.sqrt(20_000.0 / 732), TrainConfig.autoLr(Architecture.JUMPRELU, 4096, 732), 1e-12, "1 for jumprelu, tripled");
        assertEquals(4e-4, TrainConfig.autoLr(Architecture.TOPK, 4096, 45_000), 1e-12, "sparsify's rate from 45,000 steps on");
        assertEquals(4e-4 * 16, TrainConfig.autoLr(Architecture.TOPK, 4096, 10), 1e-12);
        // topk above 4096 latents: boost and cap x (numLatents / 4096)^0.25; at and below 4096 the sqrt rule
        assertEquals(3.84e-3, TrainConfig.autoLr(Architecture.TOPK, 16_384, 244), 5e-6, "16384 latents, 1M rows");
        assertEquals(2e-4 * 1.5 * Math.sqrt(20_000.0 / 244) * Math.sqrt(2), TrainConfig.autoLr(Architecture.TOPK, 16_384, 244), 1e-12);
        assertEquals(2e-4 * 16 * Math.sqrt(2), TrainConfig.autoLr(Architecture.TOPK, 16_384, 10), 1e-12, "the cap grows too");
        assertEquals(2e-4 / Math.sqrt(0.5) * 1.5 * Math.sqrt(20_000.0 / 732) * Math.pow(2, 0.25),
                TrainConfig.autoLr(Architecture.TOPK, 8192, 732), 1e-12, "8192 latents, 3M rows");
        assertEquals(2e-4 / Math.sqrt(0.125) * 1.5 * Math.sqrt(20_000.0 / 732), TrainConfig.autoLr(Architecture.TOPK, 2048, 732), 1e-12,
                "no factor below 4096 latents");
        assertEquals(2e-4 * 2.25 * Math.sqrt(20_000.0 / 732), TrainConfig.autoLr(Architecture.BATCH_TOPK, 16_384, 732), 1e-12,
                "topk only");
        assertEquals(2e-4, TrainConfig.autoLr(Architecture.TOPK, 16_384, 90_000), 1e-12, "sparsify's rate from 90,000 steps on at 16384");
        assertTrue(TrainConfig.autoLr(Architecture.TOPK, 16_384, 89_000) > 2e-4);
        // relu: (9000 / steps)^1.2, at most 24x
        assertEquals(4e-4 * Math.pow(9_000.0 / 2441, 1.2), TrainConfig.autoLr(Architecture.RELU, 4096, 2441), 1e-12, "10M rows");
        assertEquals(1.915e-3, TrainConfig.autoLr(Architecture.RELU, 4096, 2441), 5e-6);
        assertEquals(4e-4 * Math.pow(9_000.0 / 732, 1.2), TrainConfig.autoLr(Architecture.RELU, 4096, 732), 1e-12, "3M rows");
        assertEquals(8.12e-3, TrainConfig.autoLr(Architecture.RELU, 4096, 732), 5e-6);
        assertEquals(5.12e-4, TrainConfig.autoLr(Architecture.RELU, 4096, 7324), 5e-6, "30M rows");
        assertEquals(4e-4 * 24, TrainConfig.autoLr(Architecture.RELU, 4096, 244), 1e-12, "1M rows: capped at 24x");
        assertEquals(4e-4 * 24, TrainConfig.autoLr(Architecture.RELU, 4096, 1), 1e-12);
        assertEquals(4e-4 * 24, TrainConfig.autoLr(Architecture.RELU, 4096, 636), 1e-12, "the cap binds up to 636 steps");
        assertEquals(4e-4 * Math.pow(9_000.0 / 637, 1.2), TrainConfig.autoLr(Architecture.RELU, 4096, 637), 1e-12);
        assertTrue(TrainConfig.autoLr(Architecture.RELU, 4096, 637) < 4e-4 * 24);
        assertEquals(4e-4, TrainConfig.autoLr(Architecture.RELU, 4096, 9_000), 1e-12, "sparsify's rate from 9,000 steps on");
        assertEquals(4e-4, TrainConfig.autoLr(Architecture.RELU, 4096, 244_140), 1e-12);
        assertEquals(2e-4 * 24 * Math.sqrt(2), TrainConfig.autoLr(Architecture.RELU, 16384, 100), 1e-12, "the cap grows as the fourth root of the width");
        assertEquals(6.788e-3, TrainConfig.autoLr(Architecture.RELU, 16384, 244), 5e-7);
        assertEquals(8.073e-3, TrainConfig.autoLr(Architecture.RELU, 8192, 244), 5e-7);
        assertEquals(1.1416e-2, TrainConfig.autoLr(Architecture.RELU, 2048, 244), 5e-7);
        assertEquals(2e-4 * Math.pow(9_000.0 / 2441, 1.2), TrainConfig.autoLr(Architecture.RELU, 16384, 2441), 1e-12, "below the cap the base scales as sqrt");
        assertEquals(2e-4, TrainConfig.autoLr(Architecture.RELU, 16384, 9_000), 1e-12);
        // the row width bounds every default rate: 6e-3 x (768 / d_in)^0.75, never below sparsify's
        assertEquals(6e-3, TrainConfig.lrCeiling(768), 1e-15);
        assertEquals(2.875e-3, TrainConfig.lrCeiling(2048), 5e-7);
        assertEquals(1.368e-2, TrainConfig.lrCeiling(256), 5e-6);
        TrainConfig btk = TrainConfig.defaults(Architecture.BATCH_TOPK, 4096, 32).withTokens(1_000_000);
        assertEquals(-1, btk.dIn(), "unknown until the trainer reads the data");
        assertEquals(TrainConfig.autoLr(Architecture.BATCH_TOPK, 4096, 244), btk.effectiveLr(), 1e-15, "no ceiling while unknown");
        assertEquals(TrainConfig.autoLr(Architecture.BATCH_TOPK, 4096, 244), btk.withDInIfUnknown(256).effectiveLr(), 1e-15,
                "8.15e-3 is below d_in 256's 1.37e-2");
        assertEquals(TrainConfig.lrCeiling(768), btk.withDInIfUnknown(768).effectiveLr(), 1e-15, "8.15e-3 capped at 6.0e-3");
        assertEquals(768, btk.withDInIfUnknown(768).withDInIfUnknown(32).dIn(), "a known width stays");
        assertEquals(4e-4, btk.withDInIfUnknown(1 << 24).effectiveLr(), 1e-15, "never below sparsify's rate");
        assertEquals(2e-2, btk.toBuilder().lr(2e-2).dIn(768).build().effectiveLr(), "a given rate is not capped");
        assertEquals(btk.withDInIfUnknown(768), TrainConfig.fromJson(btk.withDInIfUnknown(768).toJson()), "d_in round-trips");
        assertTrue(btk.withDInIfUnknown(768).sameTraining(btk), "the width is the data's, not a setting");
        TrainConfig jump = TrainConfig.defaults(Architecture.JUMPRELU, 4096, 32).withTokens(1_000_000);
        assertEquals(2 * TrainConfig.lrCeiling(768), TrainConfig.lrCeiling(Architecture.JUMPRELU, 768), 1e-15);
        assertEquals(jump.effectiveLr(), jump.withDInIfUnknown(768).effectiveLr(), 1e-15, "jumprelu's 1.09e-2 is below its 1.2e-2");
        assertEquals(2 * TrainConfig.lrCeiling(4096), jump.withDInIfUnknown(4096).effectiveLr(), 1e-15, "and capped at d_in 4096");
        assertEquals(TrainConfig.lrCeiling(2048), TrainConfig.defaults(Architecture.TOPK, 4096, 32).withTokens(1_000_000).withDInIfUnknown(2048)
                .effectiveLr(), 1e-15, "topk's 5.43e-3 capped at d_in 2048");
        // ReLU's boost falls as sqrt(5 / L1 coefficient) above 5, the coefficient held at most 10
        assertEquals(4e-4 * 24, TrainConfig.autoLr(Architecture.RELU, 4096, 244, 1, 5), 1e-12, "the default coefficient: no change");
        assertEquals(4e-4 * 24, TrainConfig.autoLr(Architecture.RELU, 4096, 244, 1, 2), 1e-12, "a weaker penalty: no change");
        assertEquals(4e-4 * 24 * Math.sqrt(0.5), TrainConfig.autoLr(Architecture.RELU, 4096, 244, 1, 10), 1e-12, "6.8e-3 at L1 10");
        assertEquals(TrainConfig.autoLr(Architecture.RELU, 4096, 244, 1, 10), TrainConfig.autoLr(Architecture.RELU, 4096, 244, 1, 40), 1e-15, "held above 10");
        assertEquals(4e-4, TrainConfig.autoLr(Architecture.RELU, 4096, 9_000, 1, 10), 1e-12, "never below sparsify's rate");
        assertEquals(TrainConfig.autoLr(Architecture.TOPK, 4096, 244), TrainConfig.autoLr(Architecture.TOPK, 4096, 244, 1, 10), 1e-15, "relu only");
        TrainConfig strongL1 = TrainConfig.defaults(Architecture.RELU, 4096, 0).toBuilder().l1Coef(10).build().withTokens(1_000_000);
        assertEquals(4e-4 * 24 * Math.sqrt(0.5), strongL1.effectiveLr(), 1e-12, "the run's own coefficient");
        assertEquals(100_000, TrainConfig.defaults(4096, 16).withTokens(1_000_000).effectiveDeadAfter(), 4096);
        assertEquals(10_000_000, TrainConfig.defaults(4096, 16).withTokens(1_000_000_000).effectiveDeadAfter());
        assertEquals(7, TrainConfig.defaults(4096, 16).withDeadAfter(7).effectiveDeadAfter());
    }

    @Test
    void jumpReluDefaultsScaleWithThePassesOverTheData() {
        TrainConfig j = TrainConfig.defaults(Architecture.JUMPRELU, 4096, 16).withTokens(30_000_000);
        double lr = TrainConfig.autoLr(Architecture.JUMPRELU, 4096, j.steps());
        assertEquals(1.0, j.passes(), "unknown rows: one pass assumed");
        assertEquals(lr, j.effectiveLr(), 1e-15);
        assertEquals(2048, j.effectiveReviveAfter());
        // 3M rows read 10 times, and 200k rows read 150 times
        TrainConfig unique = j.withTrainRowsIfUnknown(3_000_000);
        assertEquals(10.0, unique.passes(), 1e-12);
        assertEquals(lr, unique.effectiveLr(), 1e-15, "up to 20 passes the rate is the budget's");
        assertEquals(2048, unique.effectiveReviveAfter(), "up to 20 passes the window is the default");
        TrainConfig reused = j.withTrainRowsIfUnknown(200_000);
        assertEquals(150.0, reused.passes(), 1e-12);
        assertEquals(lr * 2 / 3 * Math.sqrt(40.0 / 150), reused.effectiveLr(), 1e-15, "the factor 2 from 40 passes, and the fall");
        // the factor: 3 up to 20 passes, 2 from 40, linear between
        assertEquals(3, TrainConfig.jumpReluLrFactor(1), 0);
        assertEquals(3, TrainConfig.jumpReluLrFactor(20), 0);
        assertEquals(2.5, TrainConfig.jumpReluLrFactor(30), 1e-15);
        assertEquals(2, TrainConfig.jumpReluLrFactor(40), 0);
        assertEquals(2, TrainConfig.jumpReluLrFactor(606), 0);
        assertEquals(lr * 2.5 / 3, j.withTrainRowsIfUnknown(1_000_000).effectiveLr(), 1e-15, "30 passes");
        assertEquals(2048L * 150 / 20, reused.effectiveReviveAfter());
        assertEquals(reused, reused.withTrainRowsIfUnknown(7), "known rows stay");
        // never below sparsify's rate; the window keeps growing
        TrainConfig many = j.withTrainRowsIfUnknown(10_000);
        assertEquals(4e-4, many.effectiveLr(), 1e-15);
        assertEquals(2048L * 3000 / 20, many.effectiveReviveAfter());
        assertEquals(1e-3, many.withLr(1e-3).effectiveLr(), 0, "a given rate is kept");
        assertEquals(999, many.toBuilder().reviveAfter(999).build().effectiveReviveAfter(), "a given window is kept");
        // the other architectures do not scale with the passes
        for (Architecture a : new Architecture[] {Architecture.TOPK, Architecture.BATCH_TOPK, Architecture.MATRYOSHKA}) {
            TrainConfig c = TrainConfig.defaults(a, 4096, 16).withTokens(30_000_000);
            assertEquals(c.effectiveLr(), c.withTrainRowsIfUnknown(10_000).effectiveLr(), 0, a.cliName());
            assertEquals(c.effectiveReviveAfter(), c.withTrainRowsIfUnknown(10_000).effectiveReviveAfter(), a.cliName());
        }
        TrainConfig relu = TrainConfig.defaults(Architecture.RELU, 4096, 0).withTokens(30_000_000);
        assertEquals(relu.effectiveLr(), relu.withTrainRowsIfUnknown(10_000).effectiveLr(), 0);
        // recorded with the configuration; a resume compares the training, not the rows the data gave
        assertEquals(reused, TrainConfig.fromJson(reused.toJson()));
        assertEquals(150.0, reused.toJson().path("effective").path("passes").asDouble(), 1e-12);
        com.fasterxml.jackson.databind.node.ObjectNode old = reused.toJson();
        old.remove("train_rows");
        assertEquals(-1, TrainConfig.fromJson(old).trainRows(), "runs saved before the rows were recorded");
        assertTrue(j.sameTraining(reused));
        assertThrows(SaeException.class, () -> j.toBuilder().trainRows(0).build());
    }

    @Test
    void kAnnealsAndSparsityWarmsUp() {
        TrainConfig c = TrainConfig.defaults(256, 8).toBuilder().tokens(4096L * 100).kStart(32).kAnneal(0.2).sparsityWarmup(0.1).build();
        assertEquals(32, c.kAt(0));
        assertEquals(20, c.kAt(10));
        assertEquals(8, c.kAt(20));
        assertEquals(8, c.kAt(99));
        assertEquals(32, c.maxK());
        assertEquals(0.1, c.sparsityScaleAt(0), 1e-12);
        assertEquals(1.0, c.sparsityScaleAt(9), 1e-12);
        assertEquals(1.0, c.sparsityScaleAt(50), 1e-12);
        assertArrayEquals(new int[] {16, 32, 64, 128, 256},
                TrainConfig.defaults(Architecture.MATRYOSHKA, 256, 8).effectivePrefixes());
    }

    @Test
    void defaultKStartIsTwiceKForTopKOnly() {
        TrainConfig topk = TrainConfig.defaults(256, 8).withTokens(4096L * 100);
        assertEquals(16, topk.effectiveKStart());
        assertEquals(16, topk.kAt(0));
        assertEquals(12, topk.kAt(40), "halfway through the default anneal over 0.8 of the run");
        assertEquals(8, topk.kAt(80));
        assertEquals(8, topk.kAt(99));
        assertEquals(16, topk.maxK());
        assertEquals(16, topk.toJson().path("effective").path("k_start").asInt());
        assertEquals(-1, topk.toJson().path("k_start").asInt(), "the file keeps 'auto'");
        assertEquals(16, TrainConfig.fromJson(topk.toJson()).effectiveKStart());
        assertEquals(10, TrainConfig.defaults(10, 8).effectiveKStart(), "never above num_latents");
        TrainConfig off = topk.toBuilder().kStart(0).build();
        assertEquals(8, off.kAt(0));
        assertEquals(8, off.maxK());
        assertEquals(8, TrainConfig.defaults(Architecture.BATCH_TOPK, 256, 8).kAt(0));
        assertEquals(8, TrainConfig.defaults(Architecture.MATRYOSHKA, 256, 8).maxK());
        assertEquals(0, TrainConfig.defaults(Architecture.RELU, 256, 0).maxK());
        // a run saved before the default existed (k_start 0 in its file) resumes without annealing
        com.fasterxml.jackson.databind.node.ObjectNode old = topk.toJson();
        old.put("k_start", 0);
        assertEquals(8, TrainConfig.fromJson(old).kAt(0));
        SaeException bad = assertThrows(SaeException.class, () -> topk.toBuilder().kStart(-2).build());
        assertTrue(bad.getMessage().contains("--k-start"), bad.getMessage());
        assertArrayEquals(new int[] {50, 256},
                TrainConfig.defaults(Architecture.MATRYOSHKA, 256, 8).toBuilder().prefixes(java.util.List.of(50)).build().effectivePrefixes());
    }

    @Test
    void configJsonRoundTrips() {
        TrainConfig c = TrainConfig.defaults(Architecture.JUMPRELU, 512, 12).toBuilder().tokens(1 << 20).lr(2e-3).bandwidth(0.1)
                .threads(3).checkpointEvery(1 << 16).build();
        assertEquals(c, TrainConfig.fromJson(c.toJson()));
        TrainConfig m = TrainConfig.defaults(Architecture.MATRYOSHKA, 512, 12).toBuilder().prefixes(java.util.List.of(64, 128)).build();
        assertEquals(m, TrainConfig.fromJson(m.toJson()));
    }

    @Test
    void geometricMedianResistsOutliers() {
        FloatMatrix pts = new FloatMatrix(101, 2);
        for (int r = 0; r < 100; r++) {
            pts.set(r, 0, (float) Math.cos(r * 0.0628));
            pts.set(r, 1, (float) Math.sin(r * 0.0628));
        }
        pts.set(100, 0, 1e4f);
        float[] median = Initializer.geometricMedian(pts, 200, 1e-9);
        assertTrue(Math.hypot(median[0], median[1]) < 0.05, Arrays.toString(median));
        FloatMatrix two = FloatMatrix.wrap(3, 1, new float[] {0f, 1f, 10f});
        assertEquals(1f, Initializer.geometricMedian(two, 500, 1e-12)[0], 1e-3f);
    }

    @Test
    void initialisationUsesUnitDecoderAndEncoderOfTheSameDirections() {
        SparseAutoencoder s = Initializer.init(SaeConfig.topK(20, 50, 3), FloatMatrix.random(64, 20, 1, 1f), 7);
        for (int j = 0; j < 50; j++) {
            double dd = 0;
            double ee = 0;
            double de = 0;
            for (int i = 0; i < 20; i++) {
                dd += s.wDec().get(j, i) * s.wDec().get(j, i);
                ee += s.wEncT().get(j, i) * s.wEncT().get(j, i);
                de += s.wDec().get(j, i) * s.wEncT().get(j, i);
                assertTrue(Math.abs(s.wEncT().get(j, i)) <= 1 / Math.sqrt(20));
            }
            assertEquals(1.0, dd, 1e-5);
            assertEquals(1.0, de / Math.sqrt(dd * ee), 1e-5, "same direction");
        }
        assertTrue(Arrays.equals(s.bEnc(), new float[50]));
    }

    @Test
    void deadTrackerCountsRowsSinceSelection() {
        DeadLatentTracker t = new DeadLatentTracker(5, 100);
        SparseCodes c = SparseCodes.fixedK(2, 5, 1);
        c.indices()[0] = 1;
        c.indices()[1] = 3;
        t.update(c, 60);
        assertEquals(0, t.numDead());
        t.update(c, 60);
        assertEquals(3, t.numDead());
        assertArrayEquals(new int[] {0, 2, 4}, Arrays.copyOf(t.deadIds(), 3));
        assertEquals(0.6, t.deadFraction(), 1e-12);
    }

    @Test
    void revivalRaisesTheBiasOfLatentsNotSelectedForTooLong() {
        DeadLatentTracker t = new DeadLatentTracker(5, 1000);
        SparseCodes c = SparseCodes.fixedK(2, 5, 2);
        int[] idx = c.indices();
        float[] val = c.values();
        idx[0] = 1;
        idx[1] = 3;
        idx[2] = 1;
        idx[3] = 2;
        val[0] = 2f;
        val[1] = 0f; // selected but not positive: it counts as selected, not in the mean
        val[2] = 4f;
        val[3] = -1f;
        t.update(c, 50);
        t.update(c, 50);
        assertArrayEquals(new long[] {100, 0, 0, 0, 100}, t.sinceSelected());
        assertArrayEquals(new long[] {100, 0, 100, 100, 100}, t.sincePositive(), "latent 3 selected at 0, latent 2 at -1: not positive");
        float[] b = {-0.5f, 0.5f, -0.5f, 0.5f, 0.25f};
        // latents 0 and 4: 100 rows unselected; mean positive activation (2 + 4) / 2 = 3, so steps of 0.3 up to 0.3
        assertEquals(0.3f, Revival.apply(b, t.sinceSelected(), null, 0, 5, 99, c.values(), c.nnz(), 0.1), 1e-7f);
        assertArrayEquals(new float[] {-0.2f, 0.5f, -0.5f, 0.5f, 0.3f}, b, 1e-6f, "raised by a step, capped at 0.1 x 3");
        Revival.apply(b, t.sinceSelected(), null, 0, 5, 99, c.values(), c.nnz(), 0.1);
        Revival.apply(b, t.sinceSelected(), null, 0, 5, 99, c.values(), c.nnz(), 0.1);
        assertArrayEquals(new float[] {0.3f, 0.5f, -0.5f, 0.5f, 0.3f}, b, 1e-6f, "never beyond the cap");
        b[0] = 0.9f;
        Revival.apply(b, t.sinceSelected(), null, 0, 5, 99, c.values(), c.nnz(), 0.1);
        assertEquals(0.9f, b[0], "a bias above the cap stays");
        b[0] = -1f;
        Revival.apply(b, t.sinceSelected(), null, 0, 5, 100, c.values(), c.nnz(), 0.1);
        assertEquals(-1f, b[0], "since must exceed the window");
        Arrays.fill(val, 0f);
        assertEquals(0f, Revival.apply(b, t.sinceSelected(), null, 0, 5, 0, c.values(), c.nnz(), 0.1), "no positive activation, no step");
        assertEquals(-1f, b[0]);
    }

    @Test
    void revivalIsOnForAllButReluAndFadesWithTheLearningRate() {
        TrainConfig topk = TrainConfig.defaults(4096, 16).withTokens(1_000_000);
        assertEquals(2048, topk.effectiveReviveAfter(), "8 x numLatents / k rows");
        assertEquals(8L * 1366, TrainConfig.defaults(4096, 3).effectiveReviveAfter(), "rounded up");
        assertEquals(0, topk.toBuilder().reviveAfter(0).build().effectiveReviveAfter());
        assertEquals(0, topk.toBuilder().reviveRate(0).build().effectiveReviveAfter());
        assertEquals(2048, TrainConfig.defaults(Architecture.BATCH_TOPK, 4096, 16).effectiveReviveAfter(), "batch selection too");
        assertEquals(2048, TrainConfig.defaults(Architecture.MATRYOSHKA, 4096, 16).effectiveReviveAfter());
        assertEquals(2048, TrainConfig.defaults(Architecture.JUMPRELU, 4096, 16).effectiveReviveAfter(), "8 x numLatents / target L0");
        assertEquals(8 * 4096 / TrainConfig.ASSUMED_L0,
                new TrainConfig.Builder().architecture(Architecture.JUMPRELU).numLatents(4096).k(0).l0Coef(0.1).build().effectiveReviveAfter(),
                "jumprelu without a target L0: L0 32 assumed");
        assertEquals(0, TrainConfig.defaults(Architecture.RELU, 4096, 0).effectiveReviveAfter(), "not relu");
        SaeException relu = assertThrows(SaeException.class,
                () -> TrainConfig.defaults(Architecture.RELU, 64, 0).toBuilder().reviveAfter(100).build());
        assertTrue(relu.getMessage().contains("--revive-after does not apply to --architecture relu"), relu.getMessage());
        assertEquals(0, TrainConfig.defaults(Architecture.RELU, 64, 0).toBuilder().reviveAfter(0).build().effectiveReviveAfter());
        assertEquals(0, TrainConfig.defaults(Architecture.JUMPRELU, 64, 8).toBuilder().reviveRate(0).build().effectiveReviveAfter());
        assertThrows(SaeException.class, () -> topk.toBuilder().reviveAfter(-2).build());
        assertThrows(SaeException.class, () -> topk.toBuilder().reviveRate(1.5).build());
        LrSchedule s = topk.schedule();
        long warm = topk.effectiveWarmupSteps();
        assertEquals(0.02, topk.reviveRateAt(s, warm), 1e-12, "the full rate at the peak learning rate");
        assertEquals(0.02 * Math.sqrt(s.lrAt(warm + 50) / s.peakLr()), topk.reviveRateAt(s, warm + 50), 1e-12);
        assertEquals(0.0, topk.reviveRateAt(s, 0), 1e-12, "no step while the learning rate is 0");
        TrainConfig longWarm = topk.toBuilder().warmupSteps(100).build();
        LrSchedule ls = longWarm.schedule();
        assertTrue(ls.lrAt(1) < TrainConfig.REVIVE_MIN_LR * ls.peakLr() && longWarm.reviveRateAt(ls, 1) > 0,
                "the warm-up's low rates still revive");
        long steps = topk.steps();
        long last = warm;
        while (s.lrAt(last + 1) >= TrainConfig.REVIVE_MIN_LR * s.peakLr()) {
            last++;
        }
        assertTrue(last > warm + 50 && last < steps - 1, "the decay crosses the cut before the end: " + last);
        assertEquals(0.02 * Math.sqrt(s.lrAt(last) / s.peakLr()), topk.reviveRateAt(s, last), 1e-12, "on at the cut");
        for (long step = last + 1; step < steps; step++) {
            assertEquals(0.0, topk.reviveRateAt(s, step), 0.0, "off below the cut after the warm-up, step " + step);
        }
        TrainConfig flat = topk.toBuilder().lrSchedule(LrSchedule.Shape.CONSTANT).build();
        assertEquals(0.02, flat.reviveRateAt(flat.schedule(), steps - 1), 1e-12, "a constant rate revives to the end");
        TrainConfig back = TrainConfig.fromJson(topk.toBuilder().reviveAfter(777).reviveRate(0.05).build().toJson());
        assertEquals(777, back.reviveAfter());
        assertEquals(0.05, back.reviveRate());
        com.fasterxml.jackson.databind.node.ObjectNode old = topk.toJson();
        old.remove("revive_after");
        old.remove("revive_rate");
        assertEquals(0, TrainConfig.fromJson(old).effectiveReviveAfter(), "a run saved before revival existed resumes without it");
    }

    @Test
    void reluReachesItsFullL1CoefficientFourHundredThousandRowsBeforeTheEndJumpReluItsL0AtFivePercent() {
        TrainConfig relu = TrainConfig.defaults(Architecture.RELU, 4096, 0).withTokens(4096L * 100);
        assertEquals(TrainConfig.RELU_SPARSITY_WARMUP, relu.effectiveSparsityWarmup(), "409,600 rows: 60% of the run");
        assertEquals(0.6, relu.withTokens(1_000_000).effectiveSparsityWarmup(), 1e-15, "1M rows: 60%, 400k rows at the full coefficient");
        assertEquals(1 - 0.4 / 3, relu.withTokens(3_000_000).effectiveSparsityWarmup(), 1e-15, "3M rows: the last 400k rows");
        assertEquals(0.96, relu.withTokens(10_000_000).effectiveSparsityWarmup(), 1e-15);
        assertEquals(0.9996, relu.withTokens(1_000_000_000).effectiveSparsityWarmup(), 1e-15);
        assertEquals(TrainConfig.RELU_SPARSITY_WARMUP, TrainConfig.reluSparsityWarmup(0), "no budget known: the floor");
        assertEquals(1.0 / 60, relu.sparsityScaleAt(0), 1e-12, "100 steps, warm-up over 60");
        assertEquals(1.0, relu.sparsityScaleAt(59), 1e-12);
        TrainConfig jump = TrainConfig.defaults(Architecture.JUMPRELU, 4096, 16).withTokens(4096L * 100);
        assertEquals(TrainConfig.SPARSITY_WARMUP, jump.effectiveSparsityWarmup());
        assertEquals(1.0, jump.sparsityScaleAt(4), 1e-12, "warm-up over 5 steps");
        assertEquals(0.3, relu.toBuilder().sparsityWarmup(0.3).build().effectiveSparsityWarmup(), "the flag wins");
        assertEquals(0.0, relu.toBuilder().sparsityWarmup(0).build().effectiveSparsityWarmup());
        assertThrows(SaeException.class, () -> relu.toBuilder().sparsityWarmup(1.5).build());
        assertThrows(SaeException.class, () -> relu.toBuilder().sparsityWarmup(-0.5).build());
        assertEquals(TrainConfig.RELU_SPARSITY_WARMUP, relu.toJson().path("effective").path("sparsity_warmup").asDouble());
        assertEquals(0.96, relu.withTokens(10_000_000).toJson().path("effective").path("sparsity_warmup").asDouble(), 1e-15);
        com.fasterxml.jackson.databind.node.ObjectNode old = relu.toJson();
        old.put("sparsity_warmup", 0.05);
        assertEquals(0.05, TrainConfig.fromJson(old).effectiveSparsityWarmup(), "a run saved with 5% resumes with 5%");
        old.remove("sparsity_warmup");
        assertEquals(TrainConfig.RELU_SPARSITY_WARMUP, TrainConfig.fromJson(old).effectiveSparsityWarmup());
    }

    @Test
    void reluRelievesLatentsBelowOneFiringIn1024RowsAndOldRunsResumeWithout() {
        TrainConfig relu = TrainConfig.defaults(Architecture.RELU, 4096, 0).withTokens(4096L * 100);
        assertEquals(-1, relu.l1Relief(), "left to the default");
        assertEquals(1.0 / 1024, relu.effectiveL1Relief());
        assertEquals(4.0, relu.effectiveL1Relief() * relu.batchSize(), "4 rows of a 4096-row batch");
        assertEquals(4.0 / 1024, relu.toBuilder().batchSize(1024).build().effectiveL1Relief(), "at least 4 rows: 1/256 at batch 1024");
        assertEquals(1.0 / 1024, relu.toBuilder().batchSize(16384).build().effectiveL1Relief(), "1/1024 (16 rows) at batch 16384");
        assertEquals(0.0, TrainConfig.defaults(Architecture.TOPK, 4096, 16).effectiveL1Relief(), "relu only");
        assertEquals(0.01, relu.toBuilder().l1Relief(0.01).build().effectiveL1Relief(), "the flag wins");
        assertEquals(0.0, relu.toBuilder().l1Relief(0).build().effectiveL1Relief(), "0 turns it off");
        assertEquals(0.01, TrainConfig.fromJson(relu.toBuilder().l1Relief(0.01).build().toJson()).l1Relief());
        assertEquals(relu, TrainConfig.fromJson(relu.toJson()));
        assertEquals(1.0 / 1024, relu.toJson().path("effective").path("l1_relief").asDouble(), "recorded for a resume");
        assertThrows(SaeException.class, () -> relu.toBuilder().l1Relief(-0.1).build());
        assertThrows(SaeException.class, () -> relu.toBuilder().l1Relief(1.5).build());
        assertThrows(SaeException.class, () -> relu.toBuilder().l1Relief(Double.NaN).build());
        // a checkpoint from before the relief existed records none: the run resumes without it
        com.fasterxml.jackson.databind.node.ObjectNode old = relu.toJson();
        old.remove("l1_relief");
        ((com.fasterxml.jackson.databind.node.ObjectNode) old.path("effective")).remove("l1_relief");
        List<String> differing = new ArrayList<>();
        TrainConfig pinned = Trainer.pinRecordedAutoValues(TrainConfig.fromJson(old), old.path("effective"), differing);
        assertEquals(0.0, pinned.effectiveL1Relief());
        assertTrue(differing.stream().anyMatch(m -> m.startsWith("L1 relief 0 of the batch (default now 9.765625E-4")), differing.toString());
        // one that recorded it keeps it, whatever the default is now
        com.fasterxml.jackson.databind.node.ObjectNode recorded = relu.toJson();
        ((com.fasterxml.jackson.databind.node.ObjectNode) recorded.path("effective")).put("l1_relief", 0.002);
        assertEquals(0.002, Trainer.pinRecordedAutoValues(relu, recorded.path("effective"), null).effectiveL1Relief());
        assertEquals(0.005, Trainer.pinRecordedAutoValues(relu.toBuilder().l1Relief(0.005).build(), recorded.path("effective"), null)
                .effectiveL1Relief(), "an explicit value is kept (and then compared)");
    }

    @Test
    void lazyAdamIsReluDefaultAndRecordedForAResume() {
        TrainConfig relu = TrainConfig.defaults(Architecture.RELU, 4096, 0).withTokens(1_000_000);
        assertEquals(null, relu.lazyAdam(), "left to the default");
        assertTrue(relu.effectiveLazyAdam());
        assertFalse(TrainConfig.defaults(Architecture.TOPK, 4096, 16).effectiveLazyAdam(), "relu only");
        assertFalse(relu.toBuilder().lazyAdam(false).build().effectiveLazyAdam(), "the flag wins");
        assertFalse(TrainConfig.defaults(Architecture.TOPK, 4096, 16).toBuilder().lazyAdam(false).build().effectiveLazyAdam());
        SaeException e = assertThrows(SaeException.class,
                () -> TrainConfig.defaults(Architecture.TOPK, 4096, 16).toBuilder().lazyAdam(true).build());
        assertTrue(e.getMessage().contains("--lazy-adam") && e.getMessage().contains("relu"), e.getMessage());
        assertEquals(relu, TrainConfig.fromJson(relu.toJson()));
        assertEquals(Boolean.FALSE, TrainConfig.fromJson(relu.toBuilder().lazyAdam(false).build().toJson()).lazyAdam());
        assertTrue(relu.toJson().path("effective").path("lazy_adam").asBoolean(), "recorded for a resume");
        // a run saved before lazy Adam existed stepped every latent, and resumes so
        com.fasterxml.jackson.databind.node.ObjectNode old = relu.toJson();
        old.remove("lazy_adam");
        ((com.fasterxml.jackson.databind.node.ObjectNode) old.path("effective")).remove("lazy_adam");
        assertFalse(TrainConfig.fromJson(old).effectiveLazyAdam());
        List<String> differing = new ArrayList<>();
        assertFalse(Trainer.pinRecordedAutoValues(relu, old.path("effective"), differing).effectiveLazyAdam());
        assertTrue(differing.contains("lazy Adam off (default now on)"), differing.toString());
        // one that recorded it keeps it
        differing.clear();
        assertTrue(Trainer.pinRecordedAutoValues(relu, relu.toJson().path("effective"), differing).effectiveLazyAdam());
        assertFalse(differing.stream().anyMatch(m -> m.startsWith("lazy Adam")), differing.toString());
    }

    @Test
    void syntheticDataFollowsItsModel() throws Exception {
        SyntheticData s = new SyntheticData(24, 300, 9, 3);
        double sum = Arrays.stream(s.probabilities()).sum();
        assertEquals(9, sum, 1e-9);
        assertTrue(Arrays.stream(s.probabilities()).max().getAsDouble() <= 0.5 + 1e-12);
        for (int r = 0; r < 300; r++) {
            double ss = 0;
            for (int i = 0; i < 24; i++) {
                ss += s.truth().get(r, i) * s.truth().get(r, i);
            }
            assertEquals(1.0, ss, 1e-5);
        }
        java.nio.file.Path f = java.nio.file.Files.createTempFile("syn", ".npy");
        SyntheticData.Summary summary = s.write(f, 20_000);
        assertEquals(9, summary.avgActiveRealized(), 0.2);
        java.nio.file.Files.delete(f);
    }

    @Test
    void multimodalDataPairsImagesWithCaptionsAndWritesMetadata() throws Exception {
        SyntheticData s = new SyntheticData(64, 50, 4, 5);
        int[] kinds = new int[3];
        for (int f = 0; f < 50; f++) {
            kinds[s.kind(f).ordinal()]++;
        }
        assertArrayEquals(new int[] {20, 20, 10}, kinds);
        java.nio.file.Path dir = java.nio.file.Files.createTempDirectory("mm");
        java.nio.file.Path f = dir.resolve("mm.npy");
        SyntheticData.MultimodalSummary summary = s.writeMultimodal(f, 2000, 0);
        assertEquals(4, summary.avgActiveRealized(), 0.4);
        try (org.saeforge.core.data.ActivationSource src = org.saeforge.core.data.ActivationSources.open(f)) {
            org.saeforge.core.data.RowMetadata meta = src.metadata();
            assertTrue(meta != null && meta.hasModality() && meta.hasSourceId() && meta.hasLabel(), "sidecar read with the data");
            for (long r = 0; r < 2000; r++) {
                assertEquals(r % 2 == 0 ? org.saeforge.core.data.Modality.IMAGE : org.saeforge.core.data.Modality.TEXT, meta.modality(r));
                assertEquals(r / 2, meta.sourceId(r));
            }
            // a text-only feature's direction varies far more across text rows than across image rows
            int textFeature = java.util.stream.IntStream.range(0, 50).filter(j -> s.kind(j) == SyntheticData.Kind.TEXT).findFirst().getAsInt();
            float[] rows = new float[2000 * 64];
            src.readRows(0, 2000, rows, 0);
            double[] sum = new double[2];
            double[] sumSq = new double[2];
            for (int r = 0; r < 2000; r++) {
                double dot = 0;
                for (int i = 0; i < 64; i++) {
                    dot += rows[r * 64 + i] * s.truth().get(textFeature, i);
                }
                sum[r % 2] += dot;
                sumSq[r % 2] += dot * dot;
            }
            double img = sumSq[0] / 1000 - Math.pow(sum[0] / 1000, 2);
            double txt = sumSq[1] / 1000 - Math.pow(sum[1] / 1000, 2);
            assertTrue(txt > 3 * img, "text-only feature variance: text " + txt + " vs image " + img);
        }
    }
}
