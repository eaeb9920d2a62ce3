package org.saeforge.train.dictionary;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.saeforge.core.kernels.Kernels;
import org.saeforge.core.kernels.cpu.CpuKernels;
import org.saeforge.core.kernels.cpu.ReferenceKernels;
import org.saeforge.core.tensor.FloatMatrix;

/** Nearest latents by decoder cosine from the tiled product against a brute-force double-precision reference. */
class NearestLatentsTest {
    private static final int M = 5;

    /**
     * More latents than one key tile (4096), so merging across tiles is exercised; rows scaled differently (cosine must
     * ignore norms), row 17 a scaled copy of row 3 (its nearest, cosine 1), row 40 zero (no direction).
     */
    static FloatMatrix decoder(int n, int d) {
        FloatMatrix w = FloatMatrix.random(n, d, 5, 1f);
        for (int r = 0; r < n; r++) {
            float scale = 0.1f + (r % 7);
            for (int i = 0; i < d; i++) {
                w.set(r, i, w.get(r, i) * scale);
            }
        }
        for (int i = 0; i < d; i++) {
            w.set(17, i, 3 * w.get(3, i));
            w.set(40, i, 0f);
        }
        return w;
    }

    @Test
    void tiledTopCosineMatchesBruteForce() {
        int n = TopCosine.TILE + 404;
        int d = 8;
        FloatMatrix w = decoder(n, d);
        TopCosine top;
        try (Kernels k = new CpuKernels(2)) {
            top = TopCosine.compute(w, w, M, true, k);
        }
        double[] norms = new double[n];
        for (int r = 0; r < n; r++) {
            double ss = 0;
            for (int i = 0; i < d; i++) {
                ss += (double) w.get(r, i) * w.get(r, i);
            }
            norms[r] = Math.sqrt(ss);
        }
        int exactIdMatches = 0;
        for (int q = 0; q < n; q += 7) {
            if (q == 40) {
                continue;
            }
            double[] best = new double[M];
            int[] ids = new int[M];
            java.util.Arrays.fill(best, Double.NEGATIVE_INFINITY);
            for (int j = 0; j < n; j++) {
                if (j == q || norms[j] == 0) {
                    continue;
                }
                double dot = 0;
                for (int i = 0; i < d; i++) {
                    dot += (double) w.get(q, i) * w.get(j, i);
                }
                double c = dot / (norms[q] * norms[j]);
                int p = M;
                while (p > 0 && best[p - 1] < c) {
                    p--;
                }
                if (p < M) {
                    System.arraycopy(best, p, best, p + 1, M - p - 1);
                    System.arraycopy(ids, p, ids, p + 1, M - p - 1);
                    best[p] = c;
                    ids[p] = j;
                }
            }
            assertEquals(M, top.count(q));
            for (int t = 0; t < M; t++) {
                assertEquals(best[t], top.cosine(q, t), 1e-5, "query " + q + " rank " + t);
                boolean nearTie = (t > 0 && best[t - 1] - best[t] < 1e-5) || (t < M - 1 && best[t] - best[t + 1] < 1e-5);
                if (!nearTie) {
                    assertEquals(ids[t], top.id(q, t), "query " + q + " rank " + t);
                    exactIdMatches++;
                }
            }
        }
        assertTrue(exactIdMatches > 2000, "too many near ties to check ids: " + exactIdMatches);
        assertEquals(17, top.id(3, 0));
        assertEquals(1.0, top.cosine(3, 0), 1e-6);
        assertEquals(0, top.count(40), "a zero decoder row has no neighbours");
        for (int q = 0; q < n; q++) {
            for (int t = 0; t < top.count(q); t++) {
                assertTrue(top.id(q, t) != 40 && top.id(q, t) != q, "query " + q + " lists " + top.id(q, t));
            }
        }
    }

    @Test
    void builderReportsNeighboursPerFeature() {
        var sae = StreamingStatsTest.randomTopK(21);
        for (int i = 0; i < sae.dIn(); i++) {
            sae.wDec().set(9, i, -2 * sae.wDec().get(30, i));
            sae.wDec().set(12, i, 0.5f * sae.wDec().get(30, i));
        }
        try (ReferenceKernels k = new ReferenceKernels()) {
            DictionaryResult d = new DictionaryBuilder(DictionaryConfig.defaults(), k, null)
                    .build(sae, new MemorySource(StreamingStatsTest.rowsWithTies(2), StreamingStatsTest.D, null), null, null);
            var nn = d.feature(30).nearest();
            assertEquals(5, nn.size());
            assertEquals(12, nn.get(0).id());
            assertEquals(1.0, nn.get(0).cosine(), 1e-6);
            assertTrue(nn.stream().noneMatch(x -> x.id() == 9), "an opposite direction (cosine -1) is not near");
            for (int t = 1; t < nn.size(); t++) {
                assertTrue(nn.get(t - 1).cosine() >= nn.get(t).cosine());
            }
        }
    }
}
