package org.saeforge.train;

import java.util.Arrays;
import org.saeforge.core.tensor.FloatMatrix;

/** Gradient buffers, one per parameter of a {@link org.saeforge.core.model.SparseAutoencoder}, reused every step. */
public final class Gradients {
    final FloatMatrix wEncT;
    final float[] bEnc;
    final FloatMatrix wDec;
    final float[] bDec;

    public Gradients(int numLatents, int dIn) {
        wEncT = new FloatMatrix(numLatents, dIn);
        bEnc = new float[numLatents];
        wDec = new FloatMatrix(numLatents, dIn);
        bDec = new float[dIn];
    }

    public void zero() {
        wEncT.fill(0f);
        Arrays.fill(bEnc, 0f);
        wDec.fill(0f);
        Arrays.fill(bDec, 0f);
    }

    public FloatMatrix wEncT() {
        return wEncT;
    }

    public float[] bEnc() {
        return bEnc;
    }

    public FloatMatrix wDec() {
        return wDec;
    }

    public float[] bDec() {
        return bDec;
    }
}
