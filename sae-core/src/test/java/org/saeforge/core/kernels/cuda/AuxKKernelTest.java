package org.saeforge.core.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.EnumMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.saeforge.core.kernels.AuxSelection;
import org.saeforge.core.kernels.cpu.ReferenceKernels;
import org.saeforge.core.model.SaeConfig;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.core.tensor.SparseCodes;

/**
 * auxk.cu with the encoder: top-kAux over the dead latents (gathered operands, fused and dense selection, ids mapped
 * back), under the same near-tie rule as the main top-k; and the AuxK residual against float64 loops.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class AuxKKernelTest {
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

    private static int[] deadIds(int n, int numDead, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        java.util.TreeSet<Integer> s = new java.util.TreeSet<>();
        while (s.size() < numDead) {
            s.add(rnd.nextInt(n));
        }
        return s.stream().mapToInt(Integer::intValue).toArray();
    }

    @Test
    void auxTopKOverDeadLatentsMatchesTheReference() {
        // numLatents, numDead, kAux: one dead latent; fused lists of 32 and 64; the dense path; kAux = numDead.
        int[][] cases = {{300, 1, 1}, {300, 45, 32}, {1000, 500, 64}, {1000, 700, 100}, {257, 200, 200}};
        int d = 53;
        int rows = 37;
        long seed = 1;
        for (GemmPrecision p : GemmPrecision.values()) {
            for (int[] c : cases) {
                SparseAutoencoder sae = TopKEncodeKernelTest.randomSae(SaeConfig.topK(d, c[0], 16), seed++);
                FloatMatrix x = CudaTestSupport.randomMatrix(rows, d, seed++, 1.5f);
                int[] dead = deadIds(c[0], c[1], seed++);
                int[] padded = Arrays.copyOf(dead, dead.length + 3);
                SparseCodes auxOut = SparseCodes.fixedK(rows, c[0], c[2]);
                Arrays.fill(auxOut.indices(), -1);
                SparseCodes out = sae.newCodes(rows);
                kernels.get(p).encode(x, sae, out, new AuxSelection(padded, c[1], c[2], auxOut));
                String what = p + " numLatents " + c[0] + " numDead " + c[1] + " kAux " + c[2];
                double rel = TopKEncodeKernelTest.checkTopK(x, sae, dead, auxOut, c[2], p, what);
                assertTrue(rel < CudaTestSupport.tolerance(p), what + ": relative error " + rel);
                TopKEncodeKernelTest.checkTopK(x, sae, TopKEncodeKernelTest.allLatents(c[0]), out, 16, p, what + " main");
            }
        }
    }

    @Test
    void auxTopKTiesAreExactWithIntegers() {
        int d = 30;
        int n = 200;
        SplittableRandom rnd = new SplittableRandom(4);
        FloatMatrix w = new FloatMatrix(n, d);
        for (int i = 0; i < w.size(); i++) {
            w.data()[i] = rnd.nextInt(5) - 2;
        }
        FloatMatrix x = new FloatMatrix(20, d);
        for (int i = 0; i < x.size(); i++) {
            x.data()[i] = rnd.nextInt(7) - 3;
        }
        int[] dead = deadIds(n, 120, 5);
        for (int kAux : new int[] {3, 40, 90}) {
            SparseAutoencoder sae = new SparseAutoencoder(SaeConfig.topK(d, n, 8), w, new float[n], new FloatMatrix(n, d),
                    new float[d], null);
            SparseCodes want = SparseCodes.fixedK(20, n, kAux);
            ref.encode(x, sae, sae.newCodes(20), new AuxSelection(dead, dead.length, kAux, want));
            for (GemmPrecision p : GemmPrecision.values()) {
                SparseCodes got = SparseCodes.fixedK(20, n, kAux);
                kernels.get(p).encode(x, sae, sae.newCodes(20), new AuxSelection(dead, dead.length, kAux, got));
                assertArrayEquals(Arrays.copyOf(want.indices(), 20 * kAux), Arrays.copyOf(got.indices(), 20 * kAux),
                        p + " kAux " + kAux);
                assertArrayEquals(Arrays.copyOf(want.values(), 20 * kAux), Arrays.copyOf(got.values(), 20 * kAux),
                        p + " kAux " + kAux);
            }
        }
    }

    @Test
    void unsortedDeadIdsAreRejected() {
        SparseAutoencoder sae = TopKEncodeKernelTest.randomSae(SaeConfig.topK(8, 20, 3), 1);
        SparseCodes aux = SparseCodes.fixedK(2, 20, 1);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> kernels.get(GemmPrecision.FP32)
                .encode(new FloatMatrix(2, 8), sae, sae.newCodes(2), new AuxSelection(new int[] {5, 3}, 2, 1, aux)));
        assertTrue(e.getMessage().contains("ascending"), e.getMessage());
    }

    @Test
    void residualMatchesFloat64Loops() {
        CudaKernels k = kernels.get(GemmPrecision.FP32);
        for (int[] s : new int[][] {{1, 1}, {37, 45}, {300, 1024}}) {
            FloatMatrix x = CudaTestSupport.randomMatrix(s[0], s[1], 1, 1f);
            FloatMatrix xHat = CudaTestSupport.randomMatrix(s[0], s[1], 2, 1f);
            FloatMatrix auxHat = CudaTestSupport.randomMatrix(s[0], s[1], 3, 1f);
            float scale = 0.37f;
            double want = 0;
            float[] wantGrad = new float[x.size()];
            for (int i = 0; i < x.size(); i++) {
                double diff = (double) auxHat.data()[i] - ((double) x.data()[i] - xHat.data()[i]);
                want += diff * diff;
                wantGrad[i] = (float) (scale * diff);
            }
            FloatMatrix grad = new FloatMatrix(s[0], s[1]);
            grad.fill(Float.NaN);
            long before = k.context().launches();
            double got = k.auxKResidual(x, xHat, auxHat, scale, grad);
            CudaTestSupport.assertRanOnGpu(k, before, "auxk residual");
            assertEquals(want, got, want * 1e-6, "AuxK squared error " + Arrays.toString(s));
            CudaTestSupport.assertRelError(grad.data(), wantGrad, grad.size(), CudaTestSupport.TOL_FP32, "AuxK gradient");
        }
    }
}
