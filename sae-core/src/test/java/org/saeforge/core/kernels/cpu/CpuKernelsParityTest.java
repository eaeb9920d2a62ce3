package org.saeforge.core.kernels.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.saeforge.core.kernels.AdamStep;
import org.saeforge.core.kernels.AuxSelection;
import org.saeforge.core.kernels.Kernels;
import org.saeforge.core.model.Architecture;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.core.tensor.SparseCodes;
import org.saeforge.core.testing.TestData;

/**
 * Parity of {@link CpuKernels} (OpenBLAS and pure-Java GEMM, 1 and 3 threads) against {@link ReferenceKernels} on
 * seeded random awkward shapes: batch 1, odd widths, k = 1 and k = numLatents. Tolerance: fp32 kernels, relative error
 * ‖out − ref‖ / ‖ref‖ below 1e-5. Top-k index sets must equal the reference's except at near-ties, where the k-th and
 * (k+1)-th reference pre-activations are closer than {@link #TIE_TOL} (relative to the row's largest magnitude).
 */
class CpuKernelsParityTest {
    static final double TOL = 1e-5;
    static final double TIE_TOL = 1e-5;

    /** batch, dIn, numLatents, k. */
    static final int[][] SHAPES = {
        {1, 7, 13, 1},
        {1, 16, 32, 32},
        {5, 33, 65, 65},
        {17, 48, 192, 8},
        {31, 100, 301, 1},
        {64, 129, 257, 17},
        {130, 64, 1000, 32},
    };

    private static final ReferenceKernels REF = new ReferenceKernels();
    private static final List<Kernels> OPENED = new ArrayList<>();

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        List<Supplier<Kernels>> backends = List.of(
                () -> open(new CpuKernels(1)),
                () -> open(new CpuKernels(3)),
                () -> open(CpuKernels.withJavaGemm(1)),
                () -> open(CpuKernels.withJavaGemm(2)));
        String[] names = {"blas-1t", "blas-3t", "java-1t", "java-2t"};
        for (int[] s : SHAPES) {
            for (int b = 0; b < backends.size(); b++) {
                out.add(Arguments.of(names[b] + " " + Arrays.toString(s), s, backends.get(b)));
            }
        }
        return out.stream();
    }

    private static synchronized Kernels open(Kernels k) {
        OPENED.add(k);
        return k;
    }

    @AfterAll
    static void closeAll() {
        OPENED.forEach(Kernels::close);
    }

    private static FloatMatrix poisoned(int rows, int cols) {
        FloatMatrix m = new FloatMatrix(rows, cols);
        m.fill(Float.NaN);
        return m;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void encodeTopKWithAux(String name, int[] s, Supplier<Kernels> backend) {
        Kernels fast = backend.get();
        int batch = s[0];
        int dIn = s[1];
        int n = s[2];
        int k = s[3];
        SparseAutoencoder sae = TestData.randomSae(Architecture.TOPK, dIn, n, k, 11 + n);
        FloatMatrix x = FloatMatrix.random(batch, dIn, 7 + batch, 1.5f);
        int[] dead = new SplittableRandom(n).ints(0, n).distinct().limit(Math.max(1, n / 3)).sorted().toArray();
        int kAux = Math.max(1, Math.min(dead.length, dIn / 2));

        SparseCodes ref = SparseCodes.fixedK(batch, n, k);
        SparseCodes refAux = SparseCodes.fixedK(batch, n, kAux);
        REF.encode(x, sae, ref, new AuxSelection(dead, dead.length, kAux, refAux));
        SparseCodes got = SparseCodes.fixedK(batch, n, k);
        SparseCodes gotAux = SparseCodes.fixedK(batch, n, kAux);
        Arrays.fill(got.values(), Float.NaN);
        Arrays.fill(gotAux.values(), Float.NaN);
        fast.encode(x, sae, got, new AuxSelection(dead, dead.length, kAux, gotAux));

        for (int r = 0; r < batch; r++) {
            double[] pre = ReferenceKernels.preActivations(x, r, sae);
            assertTopKRow(pre, null, ref, got, r, k);
            assertTopKRow(pre, dead, refAux, gotAux, r, kAux);
        }
        assertTrue(TestData.relError(got.values(), ref.values(), batch * k) < TOL, "top-k values");
        assertTrue(TestData.relError(gotAux.values(), refAux.values(), batch * kAux) < TOL, "aux values");
    }

    /** Checks one row of top-k codes against the reference with the near-tie rule. */
    static void assertTopKRow(double[] pre, int[] candidates, SparseCodes ref, SparseCodes got, int r, int k) {
        double[] cand = candidates == null ? pre : Arrays.stream(candidates).mapToDouble(j -> pre[j]).toArray();
        double[] sorted = cand.clone();
        Arrays.sort(sorted);
        double maxAbs = Arrays.stream(cand).map(Math::abs).max().orElse(1);
        double kth = sorted[sorted.length - k];
        boolean nearTie = k < sorted.length && kth - sorted[sorted.length - k - 1] < TIE_TOL * maxAbs;
        int[] refIdx = Arrays.copyOfRange(ref.indices(), r * k, (r + 1) * k);
        int[] gotIdx = Arrays.copyOfRange(got.indices(), r * k, (r + 1) * k);
        for (int i = 0; i < k; i++) {
            float v = got.values()[r * k + i];
            assertTrue(!Float.isNaN(v), "row " + r + " entry " + i + " not written");
            if (i > 0) {
                assertTrue(v <= got.values()[r * k + i - 1], "row " + r + " not sorted by value");
            }
            assertTrue(pre[gotIdx[i]] >= kth - TIE_TOL * maxAbs, "row " + r + " selected latent " + gotIdx[i] + " below the k-th value");
        }
        if (!nearTie) {
            int[] a = refIdx.clone();
            int[] b = gotIdx.clone();
            Arrays.sort(a);
            Arrays.sort(b);
            assertArrayEquals(a, b, "row " + r + " top-k index set");
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void encodeJumpReluAndRelu(String name, int[] s, Supplier<Kernels> backend) {
        Kernels fast = backend.get();
        int batch = s[0];
        for (Architecture arch : new Architecture[] {Architecture.JUMPRELU, Architecture.RELU}) {
            SparseAutoencoder sae = TestData.randomSae(arch, s[1], s[2], 0, 5 + s[2]);
            FloatMatrix x = FloatMatrix.random(batch, s[1], 3 + batch, 1.5f);
            SparseCodes ref = new SparseCodes(batch, s[2], 4);
            SparseCodes got = new SparseCodes(batch, s[2], 4);
            REF.encode(x, sae, ref, null);
            fast.encode(x, sae, got, null);
            FloatMatrix refDense = ref.toDense();
            FloatMatrix gotDense = got.toDense();
            for (int r = 0; r < batch; r++) {
                double[] pre = ReferenceKernels.preActivations(x, r, sae);
                for (int j = 0; j < s[2]; j++) {
                    double thr = arch == Architecture.RELU ? 0 : Math.max(0, sae.threshold()[j]);
                    if (Math.abs(pre[j] - thr) < TIE_TOL) {
                        continue;
                    }
                    assertEquals(refDense.get(r, j), gotDense.get(r, j), 1e-5 * (1 + Math.abs(refDense.get(r, j))),
                            arch + " row " + r + " latent " + j);
                }
                for (int p = got.rowStart(r) + 1; p < got.rowEnd(r); p++) {
                    assertTrue(got.indices()[p] > got.indices()[p - 1], "variable-length rows in ascending latent order");
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void decodeGatherScatter(String name, int[] s, Supplier<Kernels> backend) {
        Kernels fast = backend.get();
        int batch = s[0];
        int dIn = s[1];
        int n = s[2];
        int k = s[3];
        SparseCodes codes = TestData.randomCodes(batch, n, k, 17 + k);
        FloatMatrix w = FloatMatrix.random(n, dIn, 19, 0.3f);
        float[] bias = TestData.randomArray(dIn, 23, 0.2f);

        FloatMatrix refOut = new FloatMatrix(batch, dIn);
        REF.decode(codes, w, bias, refOut);
        FloatMatrix out = poisoned(batch, dIn);
        fast.decode(codes, w, bias, out);
        assertTrue(TestData.relError(out, refOut) < TOL, "decode");
        fast.decode(codes, w, null, out);
        REF.decode(codes, w, null, refOut);
        assertTrue(TestData.relError(out, refOut) < TOL, "decode without bias");

        FloatMatrix dOut = FloatMatrix.random(batch, dIn, 29, 1f);
        float[] refDots = new float[batch * k];
        REF.gatherDots(codes, dOut, w, refDots);
        float[] dots = new float[batch * k];
        Arrays.fill(dots, Float.NaN);
        fast.gatherDots(codes, dOut, w, dots);
        assertTrue(TestData.relError(dots, refDots, batch * k) < TOL, "gatherDots");

        FloatMatrix target = FloatMatrix.random(batch, dIn, 30, 1f);
        FloatMatrix refHat = new FloatMatrix(batch, dIn);
        FloatMatrix refGrad = new FloatMatrix(batch, dIn);
        float[] refDv = new float[batch * k];
        double refSse = REF.decodeLossGradient(codes, w, bias, target, 0.37f, refHat, refGrad, refDv);
        FloatMatrix hat = poisoned(batch, dIn);
        FloatMatrix grad = poisoned(batch, dIn);
        float[] dv = new float[batch * k];
        Arrays.fill(dv, Float.NaN);
        double sse = fast.decodeLossGradient(codes, w, bias, target, 0.37f, hat, grad, dv);
        assertEquals(refSse, sse, TOL * refSse, "decodeLossGradient sum of squares");
        assertTrue(TestData.relError(hat, refHat) < TOL, "decodeLossGradient xHat");
        assertTrue(TestData.relError(grad, refGrad) < TOL, "decodeLossGradient grad");
        assertTrue(TestData.relError(dv, refDv, batch * k) < TOL, "decodeLossGradient dValues");

        float[] coef = TestData.randomArray(batch * k, 31, 1f);
        float[] shift = TestData.randomArray(dIn, 37, 0.5f);
        FloatMatrix refW = FloatMatrix.random(n, dIn, 41, 0.1f);
        FloatMatrix gotW = refW.copy();
        float[] refB = TestData.randomArray(n, 43, 0.1f);
        float[] gotB = refB.clone();
        REF.scatterOuter(codes, coef, dOut, shift, refW, refB);
        fast.scatterOuter(codes, coef, dOut, shift, gotW, gotB);
        assertTrue(TestData.relError(gotW, refW) < TOL, "scatterOuter dW");
        assertTrue(TestData.relError(gotB, refB, n) < TOL, "scatterOuter dBias");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void denseOps(String name, int[] s, Supplier<Kernels> backend) {
        Kernels fast = backend.get();
        int m = s[0];
        int dIn = s[1];
        int n = s[2];
        FloatMatrix a = FloatMatrix.random(m, dIn, 47, 1f);
        FloatMatrix b = FloatMatrix.random(n, dIn, 53, 1f);
        FloatMatrix refC = new FloatMatrix(m, n);
        REF.matmulNT(a, b, refC);
        FloatMatrix c = poisoned(m, n);
        fast.matmulNT(a, b, c);
        assertTrue(TestData.relError(c, refC) < TOL, "matmulNT");

        int size = n * dIn + 3;
        float[] p0 = TestData.randomArray(size, 59, 1f);
        float[] gradient = TestData.randomArray(size, 61, 0.01f);
        float[][] ref = {p0.clone(), new float[size], new float[size]};
        float[][] got = {p0.clone(), new float[size], new float[size]};
        for (int step = 1; step <= 3; step++) {
            AdamStep hp = AdamStep.of(1e-3f, step);
            REF.adam(ref[0], gradient, ref[1], ref[2], size, hp);
            fast.adam(got[0], gradient, got[1], got[2], size, hp);
        }
        for (int i = 0; i < 3; i++) {
            assertTrue(TestData.relError(got[i], ref[i], size) < TOL, "adam state " + i);
        }
        // the update itself (not just the parameters, which barely move) must match
        float[] refDelta = new float[size];
        float[] gotDelta = new float[size];
        for (int i = 0; i < size; i++) {
            refDelta[i] = ref[0][i] - p0[i];
            gotDelta[i] = got[0][i] - p0[i];
        }
        assertTrue(TestData.relError(gotDelta, refDelta, size) < 1e-4, "adam update");

        FloatMatrix w = FloatMatrix.random(n, dIn, 67, 1f);
        FloatMatrix wRef = w.copy();
        fast.normalizeRows(w);
        REF.normalizeRows(wRef);
        assertTrue(TestData.relError(w, wRef) < TOL, "normalizeRows");
        FloatMatrix g = FloatMatrix.random(n, dIn, 71, 1f);
        FloatMatrix gRef = g.copy();
        fast.removeParallelComponent(w, g);
        REF.removeParallelComponent(wRef, gRef);
        assertTrue(TestData.relError(g, gRef) < TOL, "removeParallelComponent");
    }

    /**
     * Lazy Adam's row-masked step: the listed rows step as the reference does (and, on the fast backend, bit for bit as
     * its dense Adam does), every other row and its moments keep their bits; the interface's gather/scatter default
     * matches the reference bit for bit. Row lists: none, one (the last), every third, all.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void adamRowsStepsTheListedRowsOnly(String name, int[] s, Supplier<Kernels> backend) {
        Kernels fast = backend.get();
        Kernels byDefault = defaultAdamRows();
        int d = s[1];
        int n = s[2];
        int size = n * d;
        int[] everyThird = java.util.stream.IntStream.iterate(n - 1, j -> j >= 0, j -> j - 3).toArray();
        int[][] lists = {{}, {n - 1, 0}, everyThird, java.util.stream.IntStream.range(0, n).toArray()};
        int[] counts = {0, 1, everyThird.length, n};
        for (int l = 0; l < lists.length; l++) {
            float[] p0 = TestData.randomArray(size, 73 + l, 1f);
            float[] m0 = TestData.randomArray(size, 79 + l, 0.1f);
            float[] v0 = TestData.randomArray(size, 83 + l, 0.1f);
            for (int i = 0; i < size; i++) {
                v0[i] = Math.abs(v0[i]);
            }
            float[] g = TestData.randomArray(size, 89 + l, 0.1f);
            float[][] ref = {p0.clone(), m0.clone(), v0.clone()};
            float[][] got = {p0.clone(), m0.clone(), v0.clone()};
            float[][] dflt = {p0.clone(), m0.clone(), v0.clone()};
            float[][] dense = {p0.clone(), m0.clone(), v0.clone()};
            AdamStep hp = AdamStep.of(1e-2f, 4);
            REF.adamRows(ref[0], g, ref[1], ref[2], d, lists[l], counts[l], hp);
            fast.adamRows(got[0], g, got[1], got[2], d, lists[l], counts[l], hp);
            byDefault.adamRows(dflt[0], g, dflt[1], dflt[2], d, lists[l], counts[l], hp);
            fast.adam(dense[0], g, dense[1], dense[2], size, hp);
            boolean[] listed = new boolean[n];
            for (int i = 0; i < counts[l]; i++) {
                listed[lists[l][i]] = true;
            }
            float[][] start = {p0, m0, v0};
            for (int a = 0; a < 3; a++) {
                assertArrayEquals(ref[a], dflt[a], "default adamRows, state " + a);
                assertTrue(TestData.relError(got[a], ref[a], size) < TOL, "adamRows state " + a);
                for (int j = 0; j < n; j++) {
                    float[] want = Arrays.copyOfRange(listed[j] ? dense[a] : start[a], j * d, (j + 1) * d);
                    assertArrayEquals(want, Arrays.copyOfRange(got[a], j * d, (j + 1) * d),
                            "state " + a + " row " + j + (listed[j] ? " (listed: as dense Adam)" : " (not listed: untouched)"));
                }
            }
            // the update itself, on the listed rows
            float[] refDelta = new float[size];
            float[] gotDelta = new float[size];
            for (int i = 0; i < size; i++) {
                refDelta[i] = ref[0][i] - p0[i];
                gotDelta[i] = got[0][i] - p0[i];
            }
            assertTrue(counts[l] == 0 || TestData.relError(gotDelta, refDelta, size) < 1e-4, "adamRows update");
        }
        float[] small = new float[2 * d];
        IllegalArgumentException bad = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> fast.adamRows(small, small, small, small, d, new int[] {2}, 1, AdamStep.of(1e-3f, 1)));
        assertTrue(bad.getMessage().contains("row 2 outside [0, 2)"), bad.getMessage());
    }

    /** The reference kernels with {@link Kernels#adamRows} left to the interface's default. */
    private static Kernels defaultAdamRows() {
        return (Kernels) java.lang.reflect.Proxy.newProxyInstance(Kernels.class.getClassLoader(), new Class<?>[] {Kernels.class},
                (proxy, method, args) -> method.getName().equals("adamRows")
                        ? java.lang.reflect.InvocationHandler.invokeDefault(proxy, method, args)
                        : method.invoke(REF, args));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void fusedSparseRowAdamMatchesTheUnfusedSteps(String name, int[] s, Supplier<Kernels> backend) {
        Kernels fast = backend.get();
        int batch = s[0];
        int dIn = s[1];
        int n = s[2];
        int k = s[3];
        SparseCodes main = TestData.randomCodes(batch, n, k, 3 + k);
        SparseCodes aux = TestData.randomCodes(batch, n, Math.max(1, k / 2), 5 + k);
        FloatMatrix src0 = FloatMatrix.random(batch, dIn, 7, 1f);
        FloatMatrix src1 = FloatMatrix.random(batch, dIn, 8, 1f);
        float[] shift = TestData.randomArray(dIn, 9, 0.3f);
        for (boolean unit : new boolean[] {true, false}) {
            FloatMatrix w0 = FloatMatrix.random(n, dIn, 10, 0.5f);
            if (unit) {
                REF.normalizeRows(w0);
            }
            float[] m0 = TestData.randomArray(n * dIn, 11, 1e-3f);
            float[] v0 = TestData.randomArray(n * dIn, 12, 1e-3f);
            for (int i = 0; i < v0.length; i++) {
                v0[i] = v0[i] * v0[i];
            }
            FloatMatrix wRef = w0.copy();
            float[] mRef = m0.clone();
            float[] vRef = v0.clone();
            FloatMatrix wGot = w0.copy();
            float[] mGot = m0.clone();
            float[] vGot = v0.clone();
            AdamStep hp = AdamStep.of(1e-2f, 3);
            org.saeforge.core.kernels.RowGradientSource[] sources = {
                new org.saeforge.core.kernels.RowGradientSource(main, main.values(), src0, null),
                new org.saeforge.core.kernels.RowGradientSource(aux, aux.values(), src1, shift)};
            REF.sparseRowAdam(wRef, mRef, vRef, hp, unit, sources);
            fast.sparseRowAdam(wGot, mGot, vGot, hp, unit, sources);
            float[] dRef = new float[n * dIn];
            float[] dGot = new float[n * dIn];
            for (int i = 0; i < dRef.length; i++) {
                dRef[i] = wRef.data()[i] - w0.data()[i];
                dGot[i] = wGot.data()[i] - w0.data()[i];
            }
            assertTrue(TestData.relError(dGot, dRef, dRef.length) < 1e-4, "sparseRowAdam update, unit rows " + unit);
            assertTrue(TestData.relError(mGot, mRef, mRef.length) < TOL, "sparseRowAdam first moments");
            assertTrue(TestData.relError(vGot, vRef, vRef.length) < TOL, "sparseRowAdam second moments");

            // With the row combination taken on the way (before the update): the same update, and the combination
            // of the rows as they were.
            float[] comb = TestData.randomArray(n, 15, 1f);
            for (int j = 0; j < n; j += 3) {
                comb[j] = 0f;
            }
            float[] combRef = new float[dIn];
            float[] combGot = new float[dIn];
            Arrays.fill(combGot, Float.NaN);
            REF.rowCombination(comb, w0, combRef);
            FloatMatrix wComb = w0.copy();
            float[] mComb = m0.clone();
            float[] vComb = v0.clone();
            fast.sparseRowAdamAfterCombination(wComb, mComb, vComb, hp, unit, comb, combGot, sources);
            assertTrue(TestData.relError(combGot, combRef, dIn) < TOL, "combination before the update");
            assertArrayEquals(wGot.data(), wComb.data(), "same update with the combination");
            assertArrayEquals(mGot, mComb);
            assertArrayEquals(vGot, vComb);
            float[] combPlain = new float[dIn];
            fast.rowCombination(comb, w0, combPlain);
            assertArrayEquals(combPlain, combGot, "the fused combination sums in rowCombination's order");
        }
        float[] coef = TestData.randomArray(n, 13, 1f);
        FloatMatrix w = FloatMatrix.random(n, dIn, 14, 1f);
        float[] ref = new float[dIn];
        float[] got = new float[dIn];
        Arrays.fill(got, Float.NaN);
        REF.rowCombination(coef, w, ref);
        fast.rowCombination(coef, w, got);
        assertTrue(TestData.relError(got, ref, dIn) < TOL, "rowCombination");
    }

    /**
     * Our kernels give the same bits for 1 and 3 workers: encode (with the Vector API GEMM), the scatter of the
     * decoder gradient and the fused Adam step. OpenBLAS's sgemm is not part of that promise: it may round the encoder
     * product differently under another thread count on some CPUs (seen on an AVX2-only EPYC, OpenBLAS core Zen:
     * 1.6984478 against 1.6984481 at this shape; it held bit for bit on the AVX-512 machines), so with OpenBLAS the
     * codes of 1 and 3 workers agree to rounding.
     */
    @Test
    void resultsDoNotDependOnThreadCount() {
        int batch = 77;
        int dIn = 40;
        int n = 300;
        int k = 9;
        SparseAutoencoder sae = TestData.randomSae(Architecture.TOPK, dIn, n, k, 3);
        FloatMatrix x = FloatMatrix.random(batch, dIn, 5, 1f);
        try (CpuKernels one = CpuKernels.withJavaGemm(1); CpuKernels three = CpuKernels.withJavaGemm(3)) {
            SparseCodes a = SparseCodes.fixedK(batch, n, k);
            SparseCodes b = SparseCodes.fixedK(batch, n, k);
            one.encode(x, sae, a, null);
            three.encode(x, sae, b, null);
            assertArrayEquals(Arrays.copyOf(a.indices(), batch * k), Arrays.copyOf(b.indices(), batch * k));
            assertArrayEquals(Arrays.copyOf(a.values(), batch * k), Arrays.copyOf(b.values(), batch * k));
            FloatMatrix wa = new FloatMatrix(n, dIn);
            FloatMatrix wb = new FloatMatrix(n, dIn);
            float[] ba = new float[n];
            float[] bb = new float[n];
            one.scatterOuter(a, a.values(), x, sae.bDec(), wa, ba);
            three.scatterOuter(b, b.values(), x, sae.bDec(), wb, bb);
            assertArrayEquals(wa.data(), wb.data());
            assertArrayEquals(ba, bb);
            // The fused Adam step with its row combination: same bits for 1 and 3 workers (blocks of whole rows).
            FloatMatrix w1 = sae.wEncT().copy();
            FloatMatrix w3 = sae.wEncT().copy();
            float[] m1 = new float[w1.size()];
            float[] v1 = new float[w1.size()];
            float[] m3 = new float[w3.size()];
            float[] v3 = new float[w3.size()];
            float[] c1 = new float[dIn];
            float[] c3 = new float[dIn];
            org.saeforge.core.kernels.RowGradientSource src = new org.saeforge.core.kernels.RowGradientSource(a, a.values(), x, sae.bDec());
            one.sparseRowAdamAfterCombination(w1, m1, v1, AdamStep.of(1e-3f, 1), false, ba, c1, src);
            three.sparseRowAdamAfterCombination(w3, m3, v3, AdamStep.of(1e-3f, 1), false, ba, c3, src);
            assertArrayEquals(w1.data(), w3.data());
            assertArrayEquals(c1, c3);
        }
        try (CpuKernels one = new CpuKernels(1); CpuKernels three = new CpuKernels(3)) {
            SparseCodes a = SparseCodes.fixedK(batch, n, k);
            SparseCodes b = SparseCodes.fixedK(batch, n, k);
            Arrays.fill(b.values(), Float.NaN);
            one.encode(x, sae, a, null);
            three.encode(x, sae, b, null);
            float[] va = Arrays.copyOf(a.values(), batch * k);
            assertTrue(TestData.relError(Arrays.copyOf(b.values(), batch * k), va, va.length) < TOL, "OpenBLAS: 3 workers against 1");
        }
    }

    /**
     * Dense Adam splits its elements among the workers where no vector boundary need fall, so an element takes the
     * scalar tail under one thread count and the vector loop under another: both must round alike, or results would
     * depend on the thread count. Here every element goes one at a time (all scalar) against one run (all vector).
     */
    @Test
    void adamScalarTailRoundsLikeTheVectorLoop() {
        int len = 64 * VectorMath.L;
        float[] p0 = TestData.randomArray(len, 11, 1f);
        float[] m0 = TestData.randomArray(len, 12, 0.1f);
        float[] v0 = TestData.randomArray(len, 13, 0.1f);
        for (int i = 0; i < len; i++) {
            v0[i] = Math.abs(v0[i]);
        }
        float[] p1 = p0.clone();
        float[] m1 = m0.clone();
        float[] v1 = v0.clone();
        for (int t = 1; t <= 10; t++) {
            float[] g = TestData.randomArray(len, 20 + t, 1f);
            AdamRow adam = new AdamRow(AdamStep.of(1e-3f, t));
            adam.apply(p0, 0, g, 0, m0, v0, len);
            for (int i = 0; i < len; i++) {
                adam.apply(p1, i, g, i, m1, v1, 1);
            }
        }
        assertArrayEquals(v0, v1, "second moments");
        assertArrayEquals(m0, m1, "first moments");
        assertArrayEquals(p0, p1, "parameters");
    }

    @Test
    void shapeMismatchesAreRejectedBeforeWork() {
        try (CpuKernels cpu = new CpuKernels(1)) {
            SparseAutoencoder sae = TestData.randomSae(Architecture.TOPK, 8, 16, 2, 1);
            FloatMatrix wrong = FloatMatrix.random(3, 9, 1, 1f);
            IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                    () -> cpu.encode(wrong, sae, SparseCodes.fixedK(3, 16, 2), null));
            assertTrue(e.getMessage().contains("9"), e.getMessage());
            SparseCodes codes = TestData.randomCodes(3, 16, 2, 1);
            assertThrowsShape(() -> cpu.decode(codes, FloatMatrix.random(15, 8, 1, 1f), null, new FloatMatrix(3, 8)));
            assertThrowsShape(() -> cpu.decode(codes, FloatMatrix.random(16, 8, 1, 1f), null, new FloatMatrix(3, 7)));
            assertThrowsShape(() -> cpu.matmulNT(new FloatMatrix(2, 3), new FloatMatrix(4, 5), new FloatMatrix(2, 4)));
        }
    }

    private static void assertThrowsShape(org.junit.jupiter.api.function.Executable e) {
        IllegalArgumentException ex = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, e);
        assertTrue(ex.getMessage().contains("["), "message names the shape: " + ex.getMessage());
    }
}
