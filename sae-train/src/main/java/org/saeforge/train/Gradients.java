package org.saeforge.train;

import java.util.Arrays;
import org.saeforge.core.tensor.FloatMatrix;

/**
 * Gradient buffers, one per parameter of a {@link org.saeforge.core.model.SparseAutoencoder} plus, for JumpReLU, the
 * per-latent log-threshold; reused every step.
 */
public final class Gradients {
    final FloatMatrix wEncT;
    final float[] bEnc;
    final FloatMatrix wDec;
    final float[] bDec;
    final float[] logThreshold;

    public Gradients(int numLatents, int dIn) {
        this(numLatents, dIn, false);
    }

    /** @param withThreshold also hold a log-threshold gradient (JumpReLU) */
    public Gradients(int numLatents, int dIn, boolean withThreshold) {
        this(numLatents, dIn, withThreshold, true);
    }

    private Gradients(int numLatents, int dIn, boolean withThreshold, boolean matrices) {
        wEncT = matrices ? new FloatMatrix(numLatents, dIn) : null;
        bEnc = new float[numLatents];
        wDec = matrices ? new FloatMatrix(numLatents, dIn) : null;
        bDec = new float[dIn];
        logThreshold = withThreshold ? new float[numLatents] : null;
    }

    /** Bias gradients only, for fused steps that never form the matrix gradients ({@link TopKObjective#prepareFused}). */
    public static Gradients biasesOnly(int numLatents, int dIn) {
        return new Gradients(numLatents, dIn, false, false);
    }

    public void zero() {
        if (wEncT == null) {
            throw new IllegalStateException("these gradients hold biases only (fused step)");
        }
        wEncT.fill(0f);
        Arrays.fill(bEnc, 0f);
        wDec.fill(0f);
        Arrays.fill(bDec, 0f);
        if (logThreshold != null) {
            Arrays.fill(logThreshold, 0f);
        }
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

    /** Gradient of the JumpReLU log-thresholds, or null. */
    public float[] logThreshold() {
        return logThreshold;
    }
}
