package org.saeforge.train;

import java.util.Arrays;
import java.util.Map;
import org.saeforge.core.kernels.Kernels;
import org.saeforge.core.model.Architecture;
import org.saeforge.core.model.SaeConfig;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.core.tensor.SparseCodes;

/**
 * JumpReLU (Rajamanoharan et al. 2024): {@code z = pre · H(pre − θ)} with a learned per-latent threshold
 * θ = exp(t), t the trained log-threshold. Loss = FVU + λ · P(L0), with FVU = Σ‖x̂ − x‖² / Σ‖x − mean‖² as for the
 * k-sparse architectures (so λ has no units), L0 = Σ H(pre − θ) / batch, and P(L0) = (L0/k − 1)² for a target k
 * (dictionary_learning's form) or L0 itself (SAELens' form).
 *
 * <p>H has no useful derivative; the straight-through estimator with a rectangle kernel of width ε gives, for entries
 * with |pre − θ| < ε/2: {@code ∂z/∂θ = −θ/ε} and {@code ∂H/∂θ = −1/ε}; pre receives gradient where z is active. So the
 * entries needed are those with {@code pre > θ − ε/2}: they come from the kernels' JumpReLU encoder run on the same
 * weights with {@code bEnc + ε/2} (a band below each threshold), the ones above θ being the active codes.
 */
public final class JumpReluObjective implements Objective {
    private final int batchSize;
    private final int dIn;
    private final int numLatents;
    private final double bandwidth;
    private final int targetL0;
    private final double l0Coef;
    private final SparseCodes band;
    private final float[] shiftedBEnc;
    private final double[] thresholdGrad;
    private final FloatMatrix xHat;
    private final FloatMatrix grad;
    private final Losses.Scratch scratch;
    private float[] pre = new float[0];
    private float[] dValues = new float[0];
    private float[] dPre = new float[0];
    private SparseAutoencoder shifted;

    /**
     * @param targetL0 k of the penalty (L0/k − 1)², or 0 for the linear penalty
     * @param l0Coef   λ
     */
    public JumpReluObjective(int batchSize, int dIn, int numLatents, double bandwidth, int targetL0, double l0Coef) {
        this.batchSize = batchSize;
        this.dIn = dIn;
        this.numLatents = numLatents;
        this.bandwidth = bandwidth;
        this.targetL0 = targetL0;
        this.l0Coef = l0Coef;
        this.band = new SparseCodes(batchSize, numLatents, batchSize * 16);
        this.shiftedBEnc = new float[numLatents];
        this.thresholdGrad = new double[numLatents];
        this.xHat = new FloatMatrix(batchSize, dIn);
        this.grad = new FloatMatrix(batchSize, dIn);
        this.scratch = new Losses.Scratch(numLatents, dIn);
    }

    /** The active codes of the last batch plus zero-valued entries just below the thresholds. */
    @Override
    public SparseCodes codes() {
        return band;
    }

    @Override
    public StepStats lossAndGradient(Kernels kernels, SparseAutoencoder sae, FloatMatrix x, StepInputs in, Gradients g) {
        x.requireShape(batchSize, dIn, "training batch");
        if (g.logThreshold == null) {
            throw new IllegalArgumentException("JumpReLU needs gradients with a log-threshold buffer");
        }
        int b = batchSize;
        float half = (float) (bandwidth / 2);
        float[] bEnc = sae.bEnc();
        for (int j = 0; j < numLatents; j++) {
            shiftedBEnc[j] = bEnc[j] + half;
        }
        kernels.encode(x, shiftedView(sae), band, null);
        int nnz = band.nnz();
        if (pre.length < nnz) {
            pre = new float[nnz];
            dValues = new float[nnz];
            dPre = new float[nnz];
        }
        int[] idx = band.indices();
        float[] val = band.values();
        float[] theta = sae.threshold();
        long active = 0;
        for (int p = 0; p < nnz; p++) {
            float v = val[p] - half;
            pre[p] = v;
            if (v > theta[idx[p]]) {
                val[p] = v;
                active++;
            } else {
                val[p] = 0f;
            }
        }
        double totalVar = Losses.totalVariance(x.data(), b, dIn);
        double sse = kernels.decodeLossGradient(band, sae.wDec(), sae.bDec(), x, (float) (2.0 / totalVar), xHat, grad, dValues);
        g.zero();
        kernels.scatterOuter(band, val, grad, null, g.wDec, null);
        Losses.addColumnSums(grad.data(), b, dIn, g.bDec);

        double l0 = (double) active / b;
        double lambda = l0Coef * in.sparsityScale();
        double penalty;
        double dPenalty;
        if (targetL0 > 0) {
            double rel = l0 / targetL0 - 1;
            penalty = lambda * rel * rel;
            dPenalty = 2 * lambda * rel / targetL0;
        } else {
            penalty = lambda * l0;
            dPenalty = lambda;
        }
        Arrays.fill(thresholdGrad, 0);
        double stepGrad = -dPenalty / (bandwidth * b);
        for (int p = 0; p < nnz; p++) {
            int j = idx[p];
            double th = theta[j];
            if (Math.abs(pre[p] - th) < half) {
                thresholdGrad[j] += -(th / bandwidth) * dValues[p] + stepGrad;
            }
            dPre[p] = val[p] > 0f ? dValues[p] : 0f;
        }
        for (int j = 0; j < numLatents; j++) {
            g.logThreshold[j] = (float) (theta[j] * thresholdGrad[j]);
        }
        kernels.scatterOuter(band, dPre, x, Losses.encoderShift(sae), g.wEncT, g.bEnc);
        Losses.subtractEncoderInputGrad(kernels, sae, g, scratch);
        double fvu = sse / totalVar;
        return new StepStats(fvu, 0, l0, in.numDead(), penalty, fvu + penalty, null);
    }

    /** The SAE's weights with bEnc shifted up by ε/2, encoded as JumpReLU against the SAE's own thresholds. */
    private SparseAutoencoder shiftedView(SparseAutoencoder sae) {
        if (shifted == null || shifted.wEncT() != sae.wEncT() || shifted.threshold() != sae.threshold()) {
            SaeConfig c = sae.config();
            shifted = new SparseAutoencoder(new SaeConfig(Architecture.JUMPRELU, c.dIn(), c.numLatents(), 0, c.applyBDecToInput(), Map.of()),
                    sae.wEncT(), shiftedBEnc, sae.wDec(), sae.bDec(), sae.threshold());
        }
        return shifted;
    }
}
