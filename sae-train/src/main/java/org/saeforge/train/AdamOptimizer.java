package org.saeforge.train;

import org.saeforge.core.kernels.AdamStep;
import org.saeforge.core.kernels.Kernels;
import org.saeforge.core.model.SparseAutoencoder;

/**
 * Adam (β1 0.9, β2 0.999, ε 1e-8) over the SAE parameters wEncT, bEnc, wDec, bDec and, for JumpReLU, the
 * log-thresholds. With the decoder constraint of sparsify (every architecture but ReLU): before the update the
 * gradient component parallel to each decoder row is removed, after it the rows are renormalised.
 *
 * <p><b>Lazy</b> (ReLU by default, {@link TrainConfig#effectiveLazyAdam}): a latent whose encoder-bias gradient is
 * exactly zero in a step (for ReLU: it fired on no row of the batch, so its encoder row, bias and decoder row all have
 * zero gradient) keeps those weights and their Adam moments as they are. Plain Adam would move it on its momentum
 * alone, which at high rates carried latents past the last row they fired on, and a silent ReLU latent gets no gradient
 * back. The step counter (bias correction) still advances for all. The step lists the firing latents and hands them
 * to {@link Kernels#adamRows}, so the kernels skip the silent rows (not timed: no speed claim).
 */
public final class AdamOptimizer {
    private final float[][] m;
    private final float[][] v;
    private final boolean constrainDecoder;
    private final boolean lazy;
    private final int dIn;
    private int[] firing = new int[0];
    private long step;

    /** An optimiser with the decoder constraint and no threshold parameter (TopK). */
    public AdamOptimizer(int numLatents, int dIn) {
        this(numLatents, dIn, false, true, false);
    }

    /**
     * @param withThreshold    also optimise a per-latent log-threshold (JumpReLU)
     * @param constrainDecoder keep decoder rows at unit norm
     * @param lazy             leave latents with a zero encoder-bias gradient as they are (class comment)
     */
    public AdamOptimizer(int numLatents, int dIn, boolean withThreshold, boolean constrainDecoder, boolean lazy) {
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
        this.lazy = lazy;
        this.dIn = dIn;
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
        int numLatents = sae.bEnc().length;
        int stepping = lazy ? listFiring(g.bEnc()) : numLatents;
        latentRows(kernels, sae.wEncT().data(), g.wEncT().data(), m[0], v[0], dIn, stepping, numLatents, hp);
        latentRows(kernels, sae.bEnc(), g.bEnc(), m[1], v[1], 1, stepping, numLatents, hp);
        latentRows(kernels, sae.wDec().data(), g.wDec().data(), m[2], v[2], dIn, stepping, numLatents, hp);
        kernels.adam(sae.bDec(), g.bDec(), m[3], v[3], sae.bDec().length, hp);
        if (m.length > 4) {
            kernels.adam(logThreshold, g.logThreshold(), m[4], v[4], logThreshold.length, AdamStep.of((float) (lr * thresholdLrScale), step));
        }
        if (constrainDecoder) {
            kernels.normalizeRows(sae.wDec());
        }
    }

    /** Adam on a latent-major parameter: every row, or (lazy, some silent) the {@code count} rows of {@link #firing}. */
    private void latentRows(Kernels kernels, float[] p, float[] g, float[] mo, float[] vo, int rowLength, int count, int numLatents,
                            AdamStep hp) {
        if (count == numLatents) {
            kernels.adam(p, g, mo, vo, numLatents * rowLength, hp);
        } else {
            kernels.adamRows(p, g, mo, vo, rowLength, firing, count, hp);
        }
    }

    /** Lists in {@link #firing} the latents whose encoder-bias gradient is not exactly zero, and returns their count. */
    private int listFiring(float[] biasGrad) {
        if (firing.length < biasGrad.length) {
            firing = new int[biasGrad.length];
        }
        int count = 0;
        for (int j = 0; j < biasGrad.length; j++) {
            if (biasGrad[j] != 0f) {
                firing[count++] = j;
            }
        }
        return count;
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
