package org.saeforge.core.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.saeforge.core.kernels.cpu.ReferenceKernels;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.core.tensor.SparseCodes;

/**
 * backward.cu against {@link ReferenceKernels#gatherDots} and {@link ReferenceKernels#scatterOuter}: fp32, tolerance
 * {@value CudaTestSupport#TOL_FP32}; scatterOuter must also be bitwise reproducible.
 */
class SparseBackwardKernelTest extends Fp32CudaTest {
    private static SparseCodes[] codeSets() {
        SparseCodes dense = CudaTestSupport.randomFixedCodes(300, 40, 8, 3);
        for (int r = 0; r < dense.rows(); r++) {
            // Latent 0 in every row: one long segment (300 entries) among short ones.
            int[] idx = dense.indices();
            boolean has = false;
            for (int e = 0; e < 8; e++) {
                has |= idx[r * 8 + e] == 0;
            }
            if (!has) {
                idx[r * 8] = 0;
            }
        }
        return new SparseCodes[] {
            CudaTestSupport.randomFixedCodes(1, 301, 1, 1),
            CudaTestSupport.randomFixedCodes(7, 301, 32, 2),
            dense,
            CudaTestSupport.randomFixedCodes(625, 3000, 8, 4), // 5000 entries: the sort needs global merges
            CudaTestSupport.randomVariableCodes(41, 500, 60, 5),
            CudaTestSupport.randomFixedCodes(4, 16, 16, 6), // k = numLatents
        };
    }

    @Test
    void gatherDotsMatchesTheReference() {
        long seed = 10;
        for (SparseCodes codes : codeSets()) {
            for (int d : new int[] {1, 37, 256}) {
                FloatMatrix dOut = CudaTestSupport.randomMatrix(codes.rows(), d, seed++, 1f);
                FloatMatrix w = CudaTestSupport.randomMatrix(codes.numLatents(), d, seed++, 1f);
                float[] want = new float[codes.nnz()];
                ref.gatherDots(codes, dOut, w, want);
                float[] got = new float[codes.nnz()];
                Arrays.fill(got, Float.NaN);
                long before = kernels.context().launches();
                kernels.gatherDots(codes, dOut, w, got);
                String what = "gatherDots " + codes + " d=" + d;
                CudaTestSupport.assertRanOnGpu(kernels, before, what);
                CudaTestSupport.assertRelError(got, want, got.length, CudaTestSupport.TOL_FP32, what);
            }
        }
    }

    @Test
    void scatterOuterMatchesTheReferenceAndIsReproducible() {
        long seed = 50;
        for (SparseCodes codes : codeSets()) {
            for (int d : new int[] {1, 37, 256}) {
                for (boolean withShift : new boolean[] {false, true}) {
                    int n = codes.numLatents();
                    float[] coef = CudaTestSupport.random(codes.nnz(), seed++, 1f);
                    FloatMatrix src = CudaTestSupport.randomMatrix(codes.rows(), d, seed++, 1f);
                    float[] shift = withShift ? CudaTestSupport.random(d, seed++, 0.5f) : null;
                    FloatMatrix dW0 = CudaTestSupport.randomMatrix(n, d, seed++, 0.1f);
                    float[] dBias0 = withShift ? CudaTestSupport.random(n, seed++, 0.1f) : null;

                    FloatMatrix wantW = dW0.copy();
                    float[] wantB = dBias0 == null ? null : dBias0.clone();
                    ref.scatterOuter(codes, coef, src, shift, wantW, wantB);
                    FloatMatrix gotW = dW0.copy();
                    float[] gotB = dBias0 == null ? null : dBias0.clone();
                    long before = kernels.context().launches();
                    kernels.scatterOuter(codes, coef, src, shift, gotW, gotB);
                    String what = "scatterOuter " + codes + " d=" + d + (withShift ? " shift+bias" : "");
                    CudaTestSupport.assertRanOnGpu(kernels, before, what);
                    // Compare the increments, which is what the kernel computes (dW0 only offsets them).
                    float[] incGot = new float[gotW.size()];
                    float[] incWant = new float[gotW.size()];
                    for (int i = 0; i < incGot.length; i++) {
                        incGot[i] = gotW.data()[i] - dW0.data()[i];
                        incWant[i] = wantW.data()[i] - dW0.data()[i];
                    }
                    CudaTestSupport.assertRelError(incGot, incWant, incGot.length, 1e-4, what + " dW increment");
                    CudaTestSupport.assertRelError(gotW.data(), wantW.data(), gotW.size(), CudaTestSupport.TOL_FP32, what);
                    if (wantB != null) {
                        CudaTestSupport.assertRelError(gotB, wantB, n, CudaTestSupport.TOL_FP32, what + " dBias");
                    }
                    FloatMatrix again = dW0.copy();
                    float[] againB = dBias0 == null ? null : dBias0.clone();
                    kernels.scatterOuter(codes, coef, src, shift, again, againB);
                    assertArrayEquals(gotW.data(), again.data(), what + ": bitwise reproducible");
                    if (gotB != null) {
                        assertArrayEquals(gotB, againB, what + ": dBias bitwise reproducible");
                    }
                }
            }
        }
    }
}
