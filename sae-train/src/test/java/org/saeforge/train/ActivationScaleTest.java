package org.saeforge.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.saeforge.core.model.Architecture;
import org.saeforge.core.model.SaeConfig;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.core.tensor.SparseCodes;

/** A model trained on scaled rows s·x, once the scale is folded in, maps raw x exactly as it mapped s·x (divided by s). */
class ActivationScaleTest {

    @Test
    void foldedModelOnRawRowsEqualsModelOnScaledRows() {
        int d = 24;
        int n = 96;
        SplittableRandom rnd = new SplittableRandom(11);
        SaeConfig cfg = new SaeConfig(Architecture.TOPK, d, n, 6, true, Map.of());
        SparseAutoencoder sae = SparseAutoencoder.zeros(cfg);
        for (float[] a : new float[][] {sae.wEncT().data(), sae.wDec().data(), sae.bEnc(), sae.bDec()}) {
            for (int i = 0; i < a.length; i++) {
                a[i] = (float) rnd.nextGaussian();
            }
        }
        float s = 0.037f;
        FloatMatrix raw = new FloatMatrix(16, d);
        FloatMatrix scaled = new FloatMatrix(16, d);
        for (int i = 0; i < raw.data().length; i++) {
            raw.data()[i] = (float) (rnd.nextGaussian() * 40);
            scaled.data()[i] = raw.data()[i] * s;
        }
        SparseCodes zScaled = sae.encode(scaled);
        FloatMatrix reconScaled = sae.decode(zScaled);

        SparseAutoencoder folded = sae.copy();
        Trainer.foldActivationScale(folded, s);
        SparseCodes zRaw = folded.encode(raw);
        FloatMatrix reconRaw = folded.decode(zRaw);

        for (int r = 0; r < raw.rows(); r++) {
            assertEquals(zScaled.rowEnd(r) - zScaled.rowStart(r), zRaw.rowEnd(r) - zRaw.rowStart(r));
            int[] a = java.util.Arrays.copyOfRange(zScaled.indices(), zScaled.rowStart(r), zScaled.rowEnd(r));
            int[] b = java.util.Arrays.copyOfRange(zRaw.indices(), zRaw.rowStart(r), zRaw.rowEnd(r));
            java.util.Arrays.sort(a);
            java.util.Arrays.sort(b);
            assertArrayEquals(a, b, "active latents of row " + r);
        }
        double err = 0;
        double ref = 0;
        for (int i = 0; i < raw.data().length; i++) {
            double want = reconScaled.data()[i] / s;
            err += (reconRaw.data()[i] - want) * (reconRaw.data()[i] - want);
            ref += want * want;
        }
        assertTrue(Math.sqrt(err / ref) < 1e-5, "relative error " + Math.sqrt(err / ref));
    }
}
