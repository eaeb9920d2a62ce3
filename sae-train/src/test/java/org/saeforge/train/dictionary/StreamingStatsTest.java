package org.saeforge.train.dictionary;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.saeforge.core.SaeException;
import org.saeforge.core.data.BadRowPolicy;
import org.saeforge.core.io.FeatureDictionary.Example;
import org.saeforge.core.io.FeatureDictionary.Feature;
import org.saeforge.core.kernels.cpu.ReferenceKernels;
import org.saeforge.core.model.SaeConfig;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.core.tensor.SparseCodes;
import org.saeforge.train.EvalMetrics;
import org.saeforge.train.Evaluator;

/** The streaming pass against brute force over all codes at once: top examples, densities, means, maxima, metrics. */
class StreamingStatsTest {
    static final int D = 16;
    static final int N = 32;
    static final int K = 4;
    static final int ROWS = 3001;

    static SparseAutoencoder randomTopK(long seed) {
        return new SparseAutoencoder(SaeConfig.topK(D, N, K), FloatMatrix.random(N, D, seed, 1f), FloatMatrix.random(1, N, seed + 1, 0.2f).data(),
                FloatMatrix.random(N, D, seed + 2, 1f), FloatMatrix.random(1, D, seed + 3, 0.1f).data(), null);
    }

    /**
     * Random rows; row 5 is scaled up (so it tops some latents' lists) and rows 100..109 are copies of it, so that
     * eleven rows tie for more than the seven slots of a top list.
     */
    static float[] rowsWithTies(long seed) {
        float[] x = FloatMatrix.random(ROWS, D, seed, 1f).data();
        for (int i = 0; i < D; i++) {
            x[5 * D + i] *= 4;
        }
        for (int r = 100; r < 110; r++) {
            System.arraycopy(x, 5 * D, x, r * D, D);
        }
        return x;
    }

    record Entry(long row, float act) {
    }

    @Test
    void topExamplesAreExactlyTheNLargest() {
        SparseAutoencoder sae = randomTopK(7);
        float[] x = rowsWithTies(8);
        int topN = 7;
        DictionaryResult d;
        try (ReferenceKernels k = new ReferenceKernels()) {
            d = new DictionaryBuilder(DictionaryConfig.defaults().withTopN(topN).withBatchSize(256), k, null)
                    .build(sae, new MemorySource(x, D, null), null, null);
        }
        List<List<Entry>> fired = bruteForce(sae, x);
        int tiedLatentsChecked = 0;
        for (int j = 0; j < N; j++) {
            List<Entry> all = fired.get(j);
            List<Entry> expect = all.stream()
                    .sorted(Comparator.comparingDouble((Entry e) -> -e.act()).thenComparingLong(Entry::row))
                    .limit(topN).toList();
            Feature f = d.feature(j);
            assertEquals(expect.size(), f.topExamples().size(), "latent " + j);
            for (int i = 0; i < expect.size(); i++) {
                Example got = f.topExamples().get(i);
                assertEquals(expect.get(i).row(), got.row(), "latent " + j + " example " + i);
                assertEquals(expect.get(i).act(), (float) got.activation(), 0f, "latent " + j + " example " + i);
                assertEquals(-1, got.sourceId());
                assertNull(got.label());
            }
            if (all.stream().anyMatch(e -> e.row() == 5) && expect.stream().anyMatch(e -> e.row() == 5)) {
                tiedLatentsChecked++;
            }
            double sum = 0;
            float max = 0;
            for (Entry e : all) {
                sum += e.act();
                max = Math.max(max, e.act());
            }
            assertEquals((double) all.size() / ROWS, f.density(), 0, "density of " + j);
            assertEquals(max, (float) f.maxActivation(), 0f, "max of " + j);
            if (all.isEmpty()) {
                assertTrue(Double.isNaN(f.meanActivation()));
                assertNull(f.activationHistogram());
            } else {
                assertEquals(sum / all.size(), f.meanActivation(), 1e-12, "mean of " + j);
                long inHist = f.activationHistogram().below() + f.activationHistogram().above();
                for (long c : f.activationHistogram().counts()) {
                    inHist += c;
                }
                assertEquals(all.size(), inHist, "histogram total of " + j);
            }
        }
        assertTrue(tiedLatentsChecked > 0, "the tied rows must reach some top list, or the tie rule is untested");
    }

    /** Every positive code entry per latent, by row, from encoding all rows in one call. */
    static List<List<Entry>> bruteForce(SparseAutoencoder sae, float[] x) {
        SparseCodes codes = sae.newCodes(ROWS);
        try (ReferenceKernels k = new ReferenceKernels()) {
            k.encode(FloatMatrix.wrap(ROWS, D, x), sae, codes, null);
        }
        List<List<Entry>> fired = new ArrayList<>();
        for (int j = 0; j < N; j++) {
            fired.add(new ArrayList<>());
        }
        for (int r = 0; r < ROWS; r++) {
            for (int p = codes.rowStart(r); p < codes.rowEnd(r); p++) {
                if (codes.values()[p] > 0) {
                    fired.get(codes.indices()[p]).add(new Entry(r, codes.values()[p]));
                }
            }
        }
        return fired;
    }

    @Test
    void reconstructionMetricsMatchTheEvaluator() {
        SparseAutoencoder sae = randomTopK(11);
        MemorySource s = new MemorySource(rowsWithTies(12), D, null);
        try (ReferenceKernels k = new ReferenceKernels()) {
            DictionaryResult d = new DictionaryBuilder(DictionaryConfig.defaults().withBatchSize(500), k, null).build(sae, s, null, null);
            EvalMetrics e = new Evaluator(k).evaluateAll(sae, s, 0);
            var m = d.summaryJson().get("metrics");
            assertEquals(e.fvu(), m.get("fvu").asDouble(), 1e-9 * e.fvu());
            assertEquals(e.mse(), m.get("mse").asDouble(), 1e-9 * e.mse());
            assertEquals(e.l0(), m.get("l0").asDouble(), 1e-12);
            assertEquals(e.deadFraction(), m.get("dead_fraction").asDouble(), 0);
            assertEquals(e.denseFraction(), m.get("dense_fraction").asDouble(), 0);
            assertEquals(ROWS, m.get("rows_evaluated").asLong());
            float[] expect = e.log10Density();
            float[] got = d.log10Density();
            for (int j = 0; j < N; j++) {
                assertEquals(expect[j], got[j], 0f, "log10 density of " + j);
            }
        }
    }

    @Test
    void maxRowsAndBadRows() {
        SparseAutoencoder sae = randomTopK(3);
        float[] x = rowsWithTies(4);
        x[10 * D + 3] = Float.NaN;
        x[20 * D] = Float.POSITIVE_INFINITY;
        MemorySource s = new MemorySource(x, D, null);
        try (ReferenceKernels k = new ReferenceKernels()) {
            DictionaryResult d = new DictionaryBuilder(DictionaryConfig.defaults().withMaxRows(1000).withBatchSize(64), k, null)
                    .build(sae, s, null, null);
            assertEquals(998, d.rows());
            assertEquals(2, d.summaryJson().get("metrics").get("rows_skipped_bad").asLong());
            assertEquals(1000, d.summaryJson().get("data").get("rows").asLong());
            for (int j = 0; j < N; j++) {
                for (Example e : d.feature(j).topExamples()) {
                    assertTrue(e.row() < 1000 && e.row() != 10 && e.row() != 20, "example row " + e.row());
                }
            }
            SaeException fail = assertThrows(SaeException.class, () -> new DictionaryBuilder(
                    DictionaryConfig.defaults().withBadRows(BadRowPolicy.FAIL), k, null).build(sae, s, null, null));
            assertTrue(fail.getMessage().contains("row 10 holds NaN"), fail.getMessage());
        }
    }

    @Test
    void widthMismatchIsOneClearError() {
        try (ReferenceKernels k = new ReferenceKernels()) {
            SaeException e = assertThrows(SaeException.class, () -> new DictionaryBuilder(DictionaryConfig.defaults(), k, null)
                    .build(randomTopK(1), new MemorySource(new float[30], 3, null), null, null));
            assertTrue(e.getMessage().contains("width 3") && e.getMessage().contains("d_in 16"), e.getMessage());
        }
    }
}
