package org.saeforge.core.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Exhaustive binary16 round trip and spot checks of rounding; bfloat16 truncation and rounding. */
class HalfTest {

    @Test
    void everyHalfValueRoundTrips() {
        for (int bits = 0; bits < 0x10000; bits++) {
            float f = Half.toFloat((short) bits);
            if (Float.isNaN(f)) {
                assertTrue(Float.isNaN(Half.toFloat(Half.fromFloat(f))));
                continue;
            }
            assertEquals(bits, Half.fromFloat(f) & 0xffff, "bits " + Integer.toHexString(bits));
        }
    }

    @Test
    void knownValuesAndRounding() {
        assertEquals(1.0f, Half.toFloat((short) 0x3c00));
        assertEquals(-2.0f, Half.toFloat((short) 0xc000));
        assertEquals(65504f, Half.toFloat((short) 0x7bff));
        assertEquals(0x1p-24f, Half.toFloat((short) 0x0001));
        assertEquals(Float.POSITIVE_INFINITY, Half.toFloat(Half.fromFloat(1e6f)));
        // 1 + 2^-11 is exactly between 1 and the next half: ties to even (1.0)
        assertEquals(0x3c00, Half.fromFloat(1f + 0x1p-11f) & 0xffff);
        assertEquals(0x3c01, Half.fromFloat(1f + 0x1p-11f + 0x1p-20f) & 0xffff);
    }

    @Test
    void bfloat16() {
        assertEquals(1.0f, Half.bf16ToFloat(Half.floatToBf16(1.0f)));
        assertEquals(3.140625f, Half.bf16ToFloat(Half.floatToBf16(3.14159f)));
        for (int i = -1000; i < 1000; i++) {
            float f = i * 0.37f;
            float back = Half.bf16ToFloat(Half.floatToBf16(f));
            assertTrue(Math.abs(back - f) <= Math.abs(f) * 0x1p-8f, f + " -> " + back);
        }
    }
}
