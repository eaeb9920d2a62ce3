package org.saeforge.train;

import org.saeforge.core.kernels.AdamStep;
import org.saeforge.core.kernels.Kernels;
import org.saeforge.core.model.SparseAutoencoder;

/**
 * Adam (β1 0.9, β2 0.999, ε 1e-8) over the SAE parameters wEncT, bEnc, wDec, bDec and, for JumpReLU, the
 * log-thresholds. With the decoder constraint of sparsify (every architecture but ReLU): before the update the
 * gradient component parallel to each decoder row is removed, after it the rows are renormalised.
 */
public final class AdamOptimizer {
    private final float[][] m;
    private final float[][] v;
    private final boolean constrainDecoder;
    private long step;

    /** An optimiser with the decoder constraint and no threshold parameter (TopK). */
    public AdamOptimizer(int numLatents, int dIn) {
        this(numLatents, dIn, false, true);
    }

    /**
     * @param withThreshold    also optimise a per-latent log-threshold (JumpReLU)
     * @param constrainDecoder keep decoder rows at unit norm
     */
    public AdamOptimizer(int numLatents, int dIn, boolean withThreshold, boolean constrainDecoder) {
        int nd = numLatents * dIn;
        int slots = withThreshold ? 5 : 4;
        m = new float[slots][];
        v = new float[slots][];
        int[] sizes = {nd, numLatents, nd, dIn, numLatents};
        for (int i = 0; i < slots; i++) {
            m[i] = new float[sizes[i]];
            v[i] = new float[sizes[i]];
        }
        this.constrainDecoder = constrainDecoder;
    }

    /**
     * Applies one step with learning rate lr; {@code logThreshold} (when this optimiser has that slot) with learning
     * rate {@code lr × thresholdLrScale}.
     */
    public void step(Kernels kernels, SparseAutoencoder sae, Gradients g, float[] logThreshold, double lr, double thresholdLrScale) {
        step++;
        if (constrainDecoder) {
            kernels.removeParallelComponent(sae.wDec(), g.wDec());
        }
        AdamStep hp = AdamStep.of((float) lr, step);
        kernels.adam(sae.wEncT().data(), g.wEncT().data(), m[0], v[0], sae.wEncT().size(), hp);
        kernels.adam(sae.bEnc(), g.bEnc(), m[1], v[1], sae.bEnc().length, hp);
        kernels.adam(sae.wDec().data(), g.wDec().data(), m[2], v[2], sae.wDec().size(), hp);
        kernels.adam(sae.bDec(), g.bDec(), m[3], v[3], sae.bDec().length, hp);
        if (m.length > 4) {
            kernels.adam(logThreshold, g.logThreshold(), m[4], v[4], logThreshold.length, AdamStep.of((float) (lr * thresholdLrScale), step));
        }
        if (constrainDecoder) {
            kernels.normalizeRows(sae.wDec());
        }
    }

    /** Applies one step to the four SAE parameters with learning rate lr. */
    public void step(Kernels kernels, SparseAutoencoder sae, Gradients g, double lr) {
        step(kernels, sae, g, null, lr, 1);
    }

    /**
     * Advances the step counter and returns the hyper-parameters of the new step, for fused kernels that apply the
     * update themselves ({@link TopKObjective#applyFused}); the decoder constraint is then theirs to apply too.
     */
    public AdamStep nextStep(double lr) {
        step++;
        return AdamStep.of((float) lr, step);
    }

    /** Steps taken so far. */
    public long steps() {
        return step;
    }

    /** First moments in parameter order wEncT, bEnc, wDec, bDec[, logThreshold] (for checkpoints). */
    public float[][] firstMoments() {
        return m;
    }

    /** Second moments in the order of {@link #firstMoments()} (for checkpoints). */
    public float[][] secondMoments() {
        return v;
    }

    /** Restores state saved from {@link #firstMoments()}, {@link #secondMoments()} and {@link #steps()}. */
    public void restore(float[][] firstMoments, float[][] secondMoments, long steps) {
        if (firstMoments.length != m.length || secondMoments.length != v.length) {
            throw new IllegalArgumentException("Adam state for " + firstMoments.length + " parameters, expected " + m.length);
        }
        for (int i = 0; i < m.length; i++) {
            if (firstMoments[i].length != m[i].length || secondMoments[i].length != v[i].length) {
                throw new IllegalArgumentException("Adam state of the wrong size for parameter " + i);
            }
            System.arraycopy(firstMoments[i], 0, m[i], 0, m[i].length);
            System.arraycopy(secondMoments[i], 0, v[i], 0, v[i].length);
        }
        this.step = steps;
    }
}
