package org.saeforge.core.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.EnumMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.saeforge.core.kernels.cpu.ReferenceKernels;
import org.saeforge.core.model.Architecture;
import org.saeforge.core.model.SaeConfig;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.core.tensor.SparseCodes;

/**
 * encode.cu against {@link ReferenceKernels} on the GPU: the fused GEMM + top-k (k <= 64), the dense fallback
 * (k > 64), all three operand precisions, awkward shapes, exact ties, multi-tile chunks, the threshold activations
 * and matmulNT. Top-k rows are compared by {@link TopKCheck} with per-latent error bounds of the precision; values
 * also by ‖out − ref‖ / ‖ref‖. Skipped without a GPU.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class TopKEncodeKernelTest {
    /** batch, dIn, numLatents, k: batch 1, k = 1, k = numLatents, odd sizes, tails of every tile, both list sizes. */
    private static final int[][] SHAPES = {
        {1, 37, 301, 1}, {1, 64, 128, 128}, {7, 37, 301, 32}, {5, 31, 129, 33}, {130, 48, 1000, 64},
        {33, 100, 300, 300}, {129, 65, 2050, 65}, {257, 96, 640, 17}, {3, 1, 40, 5},
    };

    private final Map<GemmPrecision, CudaKernels> kernels = new EnumMap<>(GemmPrecision.class);
    private final ReferenceKernels ref = new ReferenceKernels();

    /** Opened once per class; every test is skipped (not the class) where there is no GPU. */
    @BeforeEach
    void open() {
        for (GemmPrecision p : GemmPrecision.values()) {
            kernels.computeIfAbsent(p, CudaTestSupport::openOrSkip);
        }
    }

    @AfterAll
    void close() {
        kernels.values().forEach(CudaKernels::close);
    }

    static SparseAutoencoder randomSae(SaeConfig cfg, long seed) {
        int n = cfg.numLatents();
        int d = cfg.dIn();
        float scale = (float) (1.0 / Math.sqrt(d));
        float[] threshold = cfg.architecture().usesThreshold() ? CudaTestSupport.random(n, seed + 5, 0.3f) : null;
        if (threshold != null) {
            for (int j = 0; j < n; j++) {
                threshold[j] = Math.abs(threshold[j]);
            }
        }
        return new SparseAutoencoder(cfg, CudaTestSupport.randomMatrix(n, d, seed, scale),
                CudaTestSupport.random(n, seed + 1, 0.2f), CudaTestSupport.randomMatrix(n, d, seed + 2, scale),
                CudaTestSupport.random(d, seed + 3, 0.5f), threshold);
    }

    /** A bound on the GPU's absolute error in each pre-activation of row r, from Σ|xc_i w_ji| and the precision. */
    static double[] bounds(FloatMatrix x, int r, SparseAutoencoder sae, GemmPrecision p) {
        int d = sae.dIn();
        int n = sae.numLatents();
        int ld = LaunchMath.paddedLd(d);
        double u = p == GemmPrecision.BF16 ? Math.scalb(1.0, -8) : p == GemmPrecision.TF32 ? Math.scalb(1.0, -11) : 0.0;
        // Operand rounding of both factors, then fp32 accumulation over ld terms (tensor cores: truncating adds).
        double factor = 2 * u + u * u + (ld + 16) * Math.scalb(1.0, -22);
        double[] xc = new double[d];
        for (int i = 0; i < d; i++) {
            xc[i] = Math.abs((double) x.get(r, i) - (sae.config().applyBDecToInput() ? sae.bDec()[i] : 0.0));
        }
        double[] b = new double[n];
        float[] w = sae.wEncT().data();
        for (int j = 0; j < n; j++) {
            double e = 0;
            for (int i = 0; i < d; i++) {
                e += xc[i] * Math.abs(w[j * d + i]);
            }
            b[j] = factor * e + Math.scalb(1.0, -22) * (Math.abs(sae.bEnc()[j]) + e);
        }
        return b;
    }

    /** Every row of a TopK output against the float64 reference; returns ‖out − ref‖ / ‖ref‖ of the values. */
    static double checkTopK(FloatMatrix x, SparseAutoencoder sae, int[] eligible, SparseCodes out, int k, GemmPrecision p,
                            String what) {
        double num = 0;
        double den = 0;
        for (int r = 0; r < x.rows(); r++) {
            double[] pre = ReferenceKernels.preActivations(x, r, sae);
            String err = TopKCheck.check(pre, eligible, bounds(x, r, sae, p), out.indices(), out.values(), r * k, k);
            assertNull(err, what + " row " + r + ": " + err);
            for (int e = 0; e < k; e++) {
                double want = Math.max(0.0, pre[out.indices()[r * k + e]]);
                double diff = out.values()[r * k + e] - want;
                num += diff * diff;
                den += want * want;
            }
        }
        return den == 0 ? Math.sqrt(num) : Math.sqrt(num / den);
    }

    static int[] allLatents(int n) {
        int[] a = new int[n];
        for (int j = 0; j < n; j++) {
            a[j] = j;
        }
        return a;
    }

    /**
     * On compute capability 9.0 the encoder module is the sm_90a build (bf16 through wgmma), so that the parity tests
     * of this class check that build there; {@code -Dsae.cuda.wgmma=false} runs them over the mma.sync build.
     */
    @Test
    void theEncoderBuildIsTheOneTheDeviceCalls() {
        CudaContext ctx = kernels.get(GemmPrecision.BF16).context();
        boolean hopper = ctx.computeCapability().equals("9.0");
        boolean off = "false".equalsIgnoreCase(System.getProperty(CudaBinaries.WGMMA_PROPERTY, "true"));
        assertEquals(hopper && !off ? "wgmma (sm_90a)" : "mma.sync", ctx.encoderKernels(),
                ctx.deviceName() + " (compute " + ctx.computeCapability() + ")");
        System.out.println("encoder kernels on " + ctx.deviceName() + ": " + ctx.encoderKernels());
    }

    @Test
    void topKMatchesTheReferenceOnAwkwardShapes() {
        long seed = 100;
        for (GemmPrecision p : GemmPrecision.values()) {
            CudaKernels k = kernels.get(p);
            for (int[] s : SHAPES) {
                String what = p + " batch " + s[0] + " dIn " + s[1] + " numLatents " + s[2] + " k " + s[3];
                SparseAutoencoder sae = randomSae(SaeConfig.topK(s[1], s[2], s[3]), seed++);
                FloatMatrix x = CudaTestSupport.randomMatrix(s[0], s[1], seed++, 2f);
                SparseCodes out = sae.newCodes(s[0]);
                Arrays.fill(out.indices(), -1);
                Arrays.fill(out.values(), Float.NaN);
                long before = k.context().launches();
                k.encode(x, sae, out, null);
                CudaTestSupport.assertRanOnGpu(k, before, what);
                double rel = checkTopK(x, sae, allLatents(s[2]), out, s[3], p, what);
                assertTrue(rel < CudaTestSupport.tolerance(p), what + ": relative error " + rel);
            }
        }
    }

    @Test
    void topKWithoutBDecOnTheInput() {
        SaeConfig cfg = new SaeConfig(Architecture.TOPK, 50, 333, 24, false, Map.of());
        SparseAutoencoder sae = randomSae(cfg, 7);
        FloatMatrix x = CudaTestSupport.randomMatrix(19, 50, 8, 1f);
        for (GemmPrecision p : GemmPrecision.values()) {
            SparseCodes out = sae.newCodes(19);
            kernels.get(p).encode(x, sae, out, null);
            double rel = checkTopK(x, sae, allLatents(333), out, 24, p, p + " no bDec");
            assertTrue(rel < CudaTestSupport.tolerance(p), p + ": relative error " + rel);
        }
    }

    /**
     * Small integers make every product and sum exact in all three precisions, so ties are exact: the outputs must
     * equal the reference bit for bit, ties going to the lower latent index, on the fused and the dense path.
     */
    @Test
    void exactTiesGoToTheLowerLatentIndex() {
        int d = 40;
        int n = 300;
        SplittableRandom rnd = new SplittableRandom(11);
        FloatMatrix w = new FloatMatrix(n, d);
        for (int i = 0; i < w.size(); i++) {
            w.data()[i] = rnd.nextInt(5) - 2;
        }
        float[] bEnc = new float[n];
        for (int j = 0; j < n; j++) {
            bEnc[j] = rnd.nextInt(5) - 2;
        }
        float[] bDec = new float[d];
        for (int i = 0; i < d; i++) {
            bDec[i] = rnd.nextInt(3) - 1;
        }
        FloatMatrix x = new FloatMatrix(66, d);
        for (int i = 0; i < x.size(); i++) {
            x.data()[i] = rnd.nextInt(7) - 3;
        }
        for (int k : new int[] {1, 7, 32, 33, 64, 65, 300}) {
            SparseAutoencoder sae = new SparseAutoencoder(SaeConfig.topK(d, n, k), w, bEnc, new FloatMatrix(n, d), bDec, null);
            SparseCodes want = sae.newCodes(x.rows());
            ref.encode(x, sae, want, null);
            assertTrue(k == n || hasTieAtK(x, sae, k), "k=" + k + ": the data has a tie at the k-th value");
            for (GemmPrecision p : GemmPrecision.values()) {
                SparseCodes got = sae.newCodes(x.rows());
                kernels.get(p).encode(x, sae, got, null);
                assertArrayEquals(Arrays.copyOf(want.indices(), x.rows() * k), Arrays.copyOf(got.indices(), x.rows() * k),
                        p + " k=" + k + " latents");
                assertArrayEquals(Arrays.copyOf(want.values(), x.rows() * k), Arrays.copyOf(got.values(), x.rows() * k),
                        p + " k=" + k + " values");
            }
        }
    }

    private static boolean hasTieAtK(FloatMatrix x, SparseAutoencoder sae, int k) {
        for (int r = 0; r < x.rows(); r++) {
            double[] pre = ReferenceKernels.preActivations(x, r, sae);
            int[] order = ReferenceKernels.topKIndices(pre, allLatents(pre.length), k + 1);
            if (pre[order[k - 1]] == pre[order[k]]) {
                return true;
            }
        }
        return false;
    }

    /** The device-level fused kernel with chunks of several column tiles (the benchmark's shape has 128 per chunk). */
    @Test
    void fusedTopKAccumulatesAcrossTheTilesOfAChunk() {
        int rows = 200;
        int d = 72;
        int n = 1500;
        for (GemmPrecision p : GemmPrecision.values()) {
            CudaKernels k = kernels.get(p);
            for (int kk : new int[] {20, 50}) {
                SparseAutoencoder sae = randomSae(SaeConfig.topK(d, n, kk), 300 + kk);
                FloatMatrix x = CudaTestSupport.randomMatrix(rows, d, 400 + kk, 1.5f);
                int ld = LaunchMath.paddedLd(d);
                int tiles = LaunchMath.ceilDiv(n, LaunchMath.GEMM_BN);
                int perChunk = 3;
                int chunks = LaunchMath.ceilDiv(tiles, perChunk);
                LaunchMath.TopKPlan plan = new LaunchMath.TopKPlan(rows, n, kk, LaunchMath.ceilDiv(rows, LaunchMath.GEMM_BM),
                        tiles, perChunk, chunks, LaunchMath.topKListCapacity(kk), LaunchMath.gemmTopKSmemBytes(kk));
                SparseCodes out = SparseCodes.fixedK(rows, n, kk);
                try (Workspace ws = new Workspace(k.context())) {
                    EncoderKernels enc = new EncoderKernels(k.context());
                    DeviceBuffer xb = ws.get("x", 4L * rows * ld);
                    xb.uploadRows(x.data(), 0, rows, d, ld);
                    DeviceBuffer bDec = ws.get("bDec", 4L * ld);
                    bDec.uploadRows(sae.bDec(), 0, 1, d, ld);
                    DeviceBuffer xc = ws.get("xc", (long) rows * ld * p.operandBytes());
                    enc.prepareInput(xb, bDec, rows, ld, p, xc);
                    DeviceBuffer w = ws.get("w", 4L * n * ld);
                    w.uploadRows(sae.wEncT().data(), 0, n, d, ld);
                    DeviceBuffer wOp = w;
                    if (p == GemmPrecision.BF16) {
                        wOp = ws.get("w16", 2L * n * ld);
                        enc.convertToBf16(w, (long) n * ld, wOp);
                    }
                    DeviceBuffer bias = ws.get("bEnc", 4L * n);
                    bias.upload(sae.bEnc(), 0, n, 0);
                    long cands = (long) rows * plan.candidatesPerRow();
                    DeviceBuffer ck = ws.get("ck", 4 * cands);
                    DeviceBuffer ci = ws.get("ci", 4 * cands);
                    ck.poison(cands);
                    ci.poison(cands);
                    enc.gemmTopK(p, plan, xc, wOp, bias, ld, ck, ci);
                    DeviceBuffer oi = ws.get("oi", 4L * rows * kk);
                    DeviceBuffer ov = ws.get("ov", 4L * rows * kk);
                    oi.poison((long) rows * kk);
                    ov.poison((long) rows * kk);
                    enc.topKCandidates(ck, ci, plan.candidatesPerRow(), rows, plan.candidatesPerRow(), kk, null, true, oi, ov, kk);
                    oi.download(0, out.indices(), 0, rows * kk);
                    ov.download(0, out.values(), 0, rows * kk);
                }
                double rel = checkTopK(x, sae, allLatents(n), out, kk, p, p + " chunks of 3 tiles, k=" + kk);
                assertTrue(rel < CudaTestSupport.tolerance(p), p + ": relative error " + rel);
            }
        }
    }

    /** JumpReLU and ReLU through dense chunks and the ordered compaction (variable-length rows, ascending latents). */
    @Test
    void thresholdActivationsMatchTheReference() {
        for (Architecture arch : new Architecture[] {Architecture.JUMPRELU, Architecture.RELU}) {
            SaeConfig cfg = new SaeConfig(arch, 45, 777, 0, true, Map.of());
            SparseAutoencoder sae = randomSae(cfg, 21);
            FloatMatrix x = CudaTestSupport.randomMatrix(70, 45, 22, 1f);
            for (GemmPrecision p : GemmPrecision.values()) {
                SparseCodes out = sae.newCodes(70);
                kernels.get(p).encode(x, sae, out, null);
                for (int r = 0; r < x.rows(); r++) {
                    double[] pre = ReferenceKernels.preActivations(x, r, sae);
                    double[] bound = bounds(x, r, sae, p);
                    boolean[] got = new boolean[pre.length];
                    int prev = -1;
                    for (int q = out.rowStart(r); q < out.rowEnd(r); q++) {
                        int j = out.indices()[q];
                        assertTrue(j > prev, arch + " " + p + " row " + r + ": latents ascending");
                        prev = j;
                        got[j] = true;
                        assertTrue(Math.abs(out.values()[q] - pre[j]) <= bound[j], arch + " " + p + " row " + r + " latent " + j);
                    }
                    for (int j = 0; j < pre.length; j++) {
                        double t = arch == Architecture.RELU ? 0.0 : Math.max(0.0, sae.threshold()[j]);
                        boolean want = pre[j] > t && pre[j] > 0;
                        if (want != got[j]) {
                            assertTrue(Math.abs(pre[j] - t) <= bound[j] && bound[j] > 0,
                                    arch + " " + p + " row " + r + " latent " + j + ": pre " + pre[j] + " vs threshold " + t);
                        }
                    }
                }
            }
        }
    }

    @Test
    void matmulNTMatchesTheReference() {
        int[][] shapes = {{1, 1, 1}, {37, 129, 33}, {130, 300, 64}, {257, 131, 7}, {2, 3, 1025}};
        long seed = 900;
        for (GemmPrecision p : GemmPrecision.values()) {
            for (int[] s : shapes) {
                FloatMatrix a = CudaTestSupport.randomMatrix(s[0], s[2], seed++, 1f);
                FloatMatrix b = CudaTestSupport.randomMatrix(s[1], s[2], seed++, 1f);
                FloatMatrix want = new FloatMatrix(s[0], s[1]);
                ref.matmulNT(a, b, want);
                FloatMatrix got = new FloatMatrix(s[0], s[1]);
                got.fill(Float.NaN);
                kernels.get(p).matmulNT(a, b, got);
                CudaTestSupport.assertRelError(got.data(), want.data(), got.size(), CudaTestSupport.tolerance(p),
                        p + " matmulNT " + Arrays.toString(s));
            }
            FloatMatrix empty = new FloatMatrix(3, 4);
            empty.fill(Float.NaN);
            kernels.get(p).matmulNT(new FloatMatrix(3, 0), new FloatMatrix(4, 0), empty);
            CudaTestSupport.assertAllFinite(empty.data(), empty.size(), "matmulNT with an empty inner dimension");
        }
    }

    @Test
    void badShapesFailBeforeAnyLaunch() {
        CudaKernels k = kernels.get(GemmPrecision.TF32);
        SparseAutoencoder sae = randomSae(SaeConfig.topK(8, 20, 3), 1);
        long before = k.context().launches();
        IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> k.encode(new FloatMatrix(2, 9), sae, sae.newCodes(2), null));
        assertTrue(e.getMessage().contains("[2 x 9]"), e.getMessage());
        SparseAutoencoder bigK = randomSae(SaeConfig.topK(8, 5000, 4097), 2);
        e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> k.encode(new FloatMatrix(1, 8), bigK, bigK.newCodes(1), null));
        assertTrue(e.getMessage().contains("4097"), e.getMessage());
        assertEquals(before, k.context().launches(), "nothing launched for bad shapes");
    }
}
