package org.saeforge.train;

import org.saeforge.core.kernels.AdamStep;
import org.saeforge.core.kernels.Kernels;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;

/**
 * Adam (β1 0.9, β2 0.999, ε 1e-8) over the four SAE parameters, with the decoder constraint of sparsify: before the
 * update the gradient component parallel to each decoder row is removed, after it the rows are renormalised.
 */
public final class AdamOptimizer {
    private final float[][] m;
    private final float[][] v;
    private long step;

    public AdamOptimizer(int numLatents, int dIn) {
        int nd = numLatents * dIn;
        m = new float[][] {new float[nd], new float[numLatents], new float[nd], new float[dIn]};
        v = new float[][] {new float[nd], new float[numLatents], new float[nd], new float[dIn]};
    }

    /** Applies one step with learning rate lr. */
    public void step(Kernels kernels, SparseAutoencoder sae, Gradients g, double lr) {
        step++;
        kernels.removeParallelComponent(sae.wDec(), g.wDec());
        AdamStep hp = AdamStep.of((float) lr, step);
        update(kernels, sae.wEncT(), g.wEncT(), 0, hp);
        kernels.adam(sae.bEnc(), g.bEnc(), m[1], v[1], sae.bEnc().length, hp);
        update(kernels, sae.wDec(), g.wDec(), 2, hp);
        kernels.adam(sae.bDec(), g.bDec(), m[3], v[3], sae.bDec().length, hp);
        kernels.normalizeRows(sae.wDec());
    }

    private void update(Kernels kernels, FloatMatrix p, FloatMatrix g, int slot, AdamStep hp) {
        kernels.adam(p.data(), g.data(), m[slot], v[slot], p.size(), hp);
    }

    /** Steps taken so far. */
    public long steps() {
        return step;
    }

    /** First moments in parameter order wEncT, bEnc, wDec, bDec (for checkpoints). */
    public float[][] firstMoments() {
        return m;
    }

    /** Second moments in parameter order wEncT, bEnc, wDec, bDec (for checkpoints). */
    public float[][] secondMoments() {
        return v;
    }

    /** Restores state saved from {@link #firstMoments()}, {@link #secondMoments()} and {@link #steps()}. */
    public void restore(float[][] firstMoments, float[][] secondMoments, long steps) {
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
