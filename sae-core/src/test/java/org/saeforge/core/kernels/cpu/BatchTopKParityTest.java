package org.saeforge.core.kernels.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.saeforge.core.kernels.AdamStep;
import org.saeforge.core.kernels.AuxSelection;
import org.saeforge.core.kernels.BatchTopKTesting;
import org.saeforge.core.kernels.Kernels;
import org.saeforge.core.model.Architecture;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.core.tensor.SparseCodes;
import org.saeforge.core.testing.TestData;

/**
 * {@link Kernels#encodeBatchTopK}: the default composition (run on the fast CPU kernels, and on the reference encoder)
 * against {@link ReferenceKernels}' direct float64 sort of every pre-activation of the batch. Selections must agree
 * except at near-ties with the batch threshold; values within fp32 tolerance. Cases include a batch where one row
 * dominates (its selection exceeds the per-row candidates, exercising the second pass) and budgets larger than the
 * number of positive pre-activations.
 */
class BatchTopKParityTest {
    static final double TOL = 1e-5;
    private static final ReferenceKernels REF = new ReferenceKernels();
    private static final List<Kernels> OPENED = new ArrayList<>();

    /** batch, dIn, numLatents, k per row, outlier row scale (0 = none). */
    static final int[][] SHAPES = {
        {1, 7, 13, 2, 0},
        {5, 16, 32, 3, 0},
        {17, 48, 192, 8, 0},
        {17, 48, 192, 8, 40},
        {64, 33, 257, 4, 25},
        {40, 20, 64, 64, 0},
        {130, 64, 1000, 16, 30},
    };

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        String[] names = {"blas-1t", "blas-3t", "java-2t", "ref-encode-default"};
        for (int[] s : SHAPES) {
            for (String name : names) {
                out.add(Arguments.of(name + " " + Arrays.toString(s), s, name));
            }
        }
        return out.stream();
    }

    private static synchronized Kernels open(String name) {
        Kernels k = switch (name) {
            case "blas-1t" -> new CpuKernels(1);
            case "blas-3t" -> new CpuKernels(3);
            case "java-2t" -> CpuKernels.withJavaGemm(2);
            default -> new DefaultOnReference();
        };
        OPENED.add(k);
        return k;
    }

    @AfterAll
    static void closeAll() {
        OPENED.forEach(Kernels::close);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void matchesReference(String name, int[] s, String backend) {
        Kernels fast = open(backend);
        int batch = s[0];
        int dIn = s[1];
        int n = s[2];
        int k = s[3];
        SparseAutoencoder sae = TestData.randomSae(Architecture.BATCH_TOPK, dIn, n, 0, 31 + n);
        FloatMatrix x = FloatMatrix.random(batch, dIn, 9 + batch, 1.5f);
        if (s[4] > 0) {
            for (int i = 0; i < dIn; i++) {
                x.set(batch / 2, i, x.get(batch / 2, i) * s[4]);
            }
        }
        int kTotal = k * batch;
        int[] dead = new SplittableRandom(n).ints(0, n).distinct().limit(Math.max(1, n / 4)).sorted().toArray();
        int kAux = Math.max(1, Math.min(dead.length, dIn / 2));

        SparseCodes ref = new SparseCodes(batch, n, 4);
        SparseCodes refAux = SparseCodes.fixedK(batch, n, kAux);
        REF.encodeBatchTopK(x, sae, kTotal, ref, new AuxSelection(dead, dead.length, kAux, refAux));
        SparseCodes got = new SparseCodes(batch, n, 4);
        SparseCodes gotAux = SparseCodes.fixedK(batch, n, kAux);
        Arrays.fill(gotAux.values(), Float.NaN);
        fast.encodeBatchTopK(x, sae, kTotal, got, new AuxSelection(dead, dead.length, kAux, gotAux));

        double[][] pre = new double[batch][];
        int positive = 0;
        double maxAbs = 0;
        for (int r = 0; r < batch; r++) {
            pre[r] = ReferenceKernels.preActivations(x, r, sae);
            for (double v : pre[r]) {
                positive += v > 0 ? 1 : 0;
                maxAbs = Math.max(maxAbs, Math.abs(v));
            }
        }
        assertEquals(Math.min(kTotal, positive), ref.nnz(), "reference selects min(kTotal, positives)");
        assertEquals(ref.nnz(), got.nnz(), "number selected");
        double tau = Double.POSITIVE_INFINITY;
        for (int p = 0; p < ref.nnz(); p++) {
            tau = Math.min(tau, ref.values()[p]);
        }
        FloatMatrix refDense = ref.toDense();
        FloatMatrix gotDense = got.toDense();
        for (int r = 0; r < batch; r++) {
            for (int p = got.rowStart(r) + 1; p < got.rowEnd(r); p++) {
                assertTrue(got.indices()[p] > got.indices()[p - 1], "rows in ascending latent order");
            }
            for (int j = 0; j < n; j++) {
                float a = refDense.get(r, j);
                float b = gotDense.get(r, j);
                if ((a > 0) != (b > 0)) {
                    assertTrue(Math.abs(pre[r][j] - tau) < TOL * maxAbs, "row " + r + " latent " + j + " selected by one side only, "
                            + "pre " + pre[r][j] + " vs threshold " + tau);
                } else {
                    assertEquals(a, b, TOL * (1 + Math.abs(a)), "row " + r + " latent " + j);
                }
            }
        }
        for (int p = 0; p < batch * kAux; p++) {
            assertTrue(!Float.isNaN(gotAux.values()[p]), "aux entry " + p + " written");
        }
        assertTrue(TestData.relError(gotAux.values(), refAux.values(), batch * kAux) < TOL, "aux values");
    }

    @Test
    void aDominantRowTakesMoreThanItsCandidates() {
        int batch = 64;
        int dIn = 24;
        int n = 200;
        int k = 3;
        SparseAutoencoder sae = TestData.randomSae(Architecture.BATCH_TOPK, dIn, n, 0, 5);
        FloatMatrix x = FloatMatrix.random(batch, dIn, 6, 1f);
        for (int i = 0; i < dIn; i++) {
            x.set(7, i, x.get(7, i) * 100);
        }
        SparseCodes ref = new SparseCodes(batch, n, 4);
        REF.encodeBatchTopK(x, sae, k * batch, ref, null);
        int cap = BatchTopKTesting.candidatesPerRow(k * batch, batch, n);
        assertTrue(ref.rowEnd(7) - ref.rowStart(7) > cap, "row 7 selects " + (ref.rowEnd(7) - ref.rowStart(7)) + " > " + cap);
        try (CpuKernels cpu = new CpuKernels(2)) {
            SparseCodes got = new SparseCodes(batch, n, 4);
            cpu.encodeBatchTopK(x, sae, k * batch, got, null);
            assertEquals(ref.rowEnd(7) - ref.rowStart(7), got.rowEnd(7) - got.rowStart(7), "row 7 count");
            assertEquals(ref.nnz(), got.nnz());
        }
    }

    @Test
    void quickselectAgreesWithSorting() {
        SplittableRandom rnd = new SplittableRandom(3);
        for (int trial = 0; trial < 200; trial++) {
            int len = 1 + rnd.nextInt(300);
            float[] a = new float[len];
            for (int i = 0; i < len; i++) {
                // few distinct values make ties common
                a[i] = trial % 2 == 0 ? (float) rnd.nextGaussian() : rnd.nextInt(5);
            }
            float[] sorted = a.clone();
            Arrays.sort(sorted);
            int rank = rnd.nextInt(len);
            assertEquals(sorted[rank], BatchTopKTesting.select(a.clone(), len, rank), "trial " + trial);
        }
    }

    /** The reference encoder with the interface's default batch selection. */
    private static final class DefaultOnReference implements Kernels {
        @Override
        public String name() {
            return "ref-default";
        }

        @Override
        public int threads() {
            return 1;
        }

        @Override
        public void encode(FloatMatrix x, SparseAutoencoder sae, SparseCodes out, AuxSelection aux) {
            REF.encode(x, sae, out, aux);
        }

        @Override
        public void decode(SparseCodes codes, FloatMatrix w, float[] bias, FloatMatrix out) {
            REF.decode(codes, w, bias, out);
        }

        @Override
        public void gatherDots(SparseCodes codes, FloatMatrix dOut, FloatMatrix w, float[] dValues) {
            REF.gatherDots(codes, dOut, w, dValues);
        }

        @Override
        public void scatterOuter(SparseCodes codes, float[] coef, FloatMatrix src, float[] shift, FloatMatrix dW, float[] dBias) {
            REF.scatterOuter(codes, coef, src, shift, dW, dBias);
        }

        @Override
        public void matmulNT(FloatMatrix a, FloatMatrix b, FloatMatrix c) {
            REF.matmulNT(a, b, c);
        }

        @Override
        public void adam(float[] param, float[] grad, float[] m, float[] v, int n, AdamStep step) {
            REF.adam(param, grad, m, v, n, step);
        }

        @Override
        public void removeParallelComponent(FloatMatrix w, FloatMatrix grad) {
            REF.removeParallelComponent(w, grad);
        }

        @Override
        public void normalizeRows(FloatMatrix w) {
            REF.normalizeRows(w);
        }

        @Override
        public void close() {
        }
    }
}
