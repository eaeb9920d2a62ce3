package org.saeforge.core.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.saeforge.core.kernels.cpu.ReferenceKernels;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.core.tensor.SparseCodes;

/** decode.cu against {@link ReferenceKernels#decode}: fp32, tolerance {@value CudaTestSupport#TOL_FP32}. */
class SparseDecodeKernelTest extends Fp32CudaTest {
    private void check(SparseCodes codes, int d, boolean withBias, long seed, String what) {
        FloatMatrix w = CudaTestSupport.randomMatrix(codes.numLatents(), d, seed, 1f);
        float[] bias = withBias ? CudaTestSupport.random(d, seed + 1, 0.5f) : null;
        FloatMatrix want = new FloatMatrix(codes.rows(), d);
        ref.decode(codes, w, bias, want);
        FloatMatrix got = new FloatMatrix(codes.rows(), d);
        got.fill(Float.NaN);
        long before = kernels.context().launches();
        kernels.decode(codes, w, bias, got);
        CudaTestSupport.assertRanOnGpu(kernels, before, what);
        CudaTestSupport.assertRelError(got.data(), want.data(), got.size(), CudaTestSupport.TOL_FP32, what);
    }

    @Test
    void fixedKCodes() {
        int[][] shapes = {{1, 37, 301, 1}, {1, 64, 128, 128}, {7, 37, 301, 32}, {130, 1024, 1000, 64}, {33, 1, 50, 50}};
        long seed = 1;
        for (int[] s : shapes) {
            SparseCodes codes = CudaTestSupport.randomFixedCodes(s[0], s[2], s[3], seed++);
            check(codes, s[1], true, seed++, "fixed-k " + java.util.Arrays.toString(s));
            check(codes, s[1], false, seed++, "fixed-k no bias " + java.util.Arrays.toString(s));
        }
    }

    @Test
    void variableLengthCodesWithEmptyRows() {
        SparseCodes codes = CudaTestSupport.randomVariableCodes(41, 500, 60, 5);
        check(codes, 77, true, 6, "variable-length");
        SparseCodes allEmpty = CudaTestSupport.randomVariableCodes(3, 10, 0, 7);
        check(allEmpty, 33, true, 8, "all rows empty");
    }

    @Test
    void outOfRangeLatentsAreRejectedBeforeLaunch() {
        SparseCodes codes = CudaTestSupport.randomFixedCodes(2, 10, 3, 9);
        codes.indices()[4] = 10;
        FloatMatrix w = new FloatMatrix(10, 5);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> kernels.decode(codes, w, null, new FloatMatrix(2, 5)));
        assertTrue(e.getMessage().contains("latent 10"), e.getMessage());
    }
}
