package org.saeforge.core.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.core.tensor.SparseCodes;

class SparseAutoencoderEncodeTest {
    private static SparseAutoencoder sae() {
        return new SparseAutoencoder(SaeConfig.topK(6, 12, 3), FloatMatrix.random(12, 6, 1, 1f), FloatMatrix.random(1, 12, 2, 0.1f).data(),
                FloatMatrix.random(12, 6, 3, 1f), FloatMatrix.random(1, 6, 4, 0.1f).data(), null);
    }

    @Test
    void arrayRowsEncodeLikeAMatrix() {
        FloatMatrix x = FloatMatrix.random(5, 6, 9, 1f);
        float[][] rows = new float[5][];
        for (int r = 0; r < 5; r++) {
            rows[r] = x.row(r);
        }
        SparseCodes a = sae().encode(rows);
        SparseCodes b = sae().encode(x);
        assertEquals(5, a.rows());
        assertArrayEquals(b.toDense().data(), a.toDense().data());
        assertTrue(a.countPositive() > 0);
    }

    @Test
    void raggedRowsAreRejected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> sae().encode(new float[][] {new float[6], new float[5]}));
        assertTrue(e.getMessage().contains("row 1") && e.getMessage().contains("expected length 6"), e.getMessage());
    }
}
