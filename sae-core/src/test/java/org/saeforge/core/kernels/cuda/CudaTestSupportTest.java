package org.saeforge.core.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.opentest4j.AssertionFailedError;

/** The GPU tests' error measures, checked where there is no GPU. */
class CudaTestSupportTest {
    @Test
    void relativeErrorIsTheNormOfTheDifferenceOverTheReferenceNorm() {
        float[] ref = {3f, 4f, 99f};
        float[] out = {3f, 4.5f, -7f};
        assertEquals(0.5 / 5, CudaTestSupport.relError(out, ref, 2, "t"), 1e-12, "only the first n elements");
        assertEquals(0.5 / 5, CudaTestSupport.relError(out, new double[] {3, 4}, 2, "t"), 1e-12, "a float64 reference");
        assertEquals(Math.sqrt(9 + 4.5 * 4.5), CudaTestSupport.relError(out, new float[] {0f, 0f}, 2, "t"), 1e-12,
                "a zero reference gives the absolute error");
        CudaTestSupport.assertRelError(out, ref, 2, 0.11, "t");
        assertThrows(AssertionFailedError.class, () -> CudaTestSupport.assertRelError(out, ref, 2, 0.09, "t"));
        float[] bad = {3f, Float.NaN};
        AssertionFailedError nan = assertThrows(AssertionFailedError.class, () -> CudaTestSupport.relError(bad, ref, 2, "t"));
        assertTrue(nan.getMessage().contains("element 1 is NaN"), nan.getMessage());
    }

    @Test
    void errorRelativeToAScaleUsesTheScaleNorm() {
        float[] ref = {0f, 0f};
        float[] out = {1e-7f, 0f};
        float[] scale = {3f, 4f};
        CudaTestSupport.assertErrorRelativeTo(out, ref, scale, 2, 2.1e-8, "t");
        assertThrows(AssertionFailedError.class, () -> CudaTestSupport.assertErrorRelativeTo(out, ref, scale, 2, 1.9e-8, "t"));
        AssertionFailedError zero = assertThrows(AssertionFailedError.class,
                () -> CudaTestSupport.assertErrorRelativeTo(out, ref, new float[2], 2, 1, "t"));
        assertTrue(zero.getMessage().contains("the scale is zero"), zero.getMessage());
        assertThrows(AssertionFailedError.class,
                () -> CudaTestSupport.assertErrorRelativeTo(new float[] {Float.POSITIVE_INFINITY, 0f}, ref, scale, 2, 1, "t"));
    }
}
