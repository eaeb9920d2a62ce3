package org.saeforge.train;

import org.saeforge.core.kernels.AuxSelection;
import org.saeforge.core.kernels.Kernels;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.core.tensor.SparseCodes;

/**
 * The AuxK loss (Gao et al. 2024): the kAux largest pre-activations among dead latents reconstruct the residual
 * {@code x − x̂} (held fixed; decoded with bDec, as in sparsify), scaled by min(numDead / kAux, 1) and normalised by
 * the batch's total variance. Its gradient reaches the encoder rows of the selected dead latents too (the paper's
 * behaviour), which is what lets a dead latent's pre-activation rise again.
 */
final class AuxK {
    private final int batchSize;
    private final int dIn;
    private final int kAux;
    private final double coef;
    private final SparseCodes codes;
    private final FloatMatrix hat;
    private final FloatMatrix grad;
    private final FloatMatrix target;
    private final float[] dValues;

    AuxK(int batchSize, int dIn, int numLatents, int kAux, double coef) {
        this.batchSize = batchSize;
        this.dIn = dIn;
        this.kAux = kAux;
        this.coef = coef;
        int ka = Math.min(kAux, numLatents);
        this.codes = SparseCodes.fixedK(batchSize, numLatents, ka);
        this.hat = new FloatMatrix(batchSize, dIn);
        this.grad = new FloatMatrix(batchSize, dIn);
        this.target = new FloatMatrix(batchSize, dIn);
        this.dValues = new float[batchSize * ka];
    }

    /** The selection request for the encoder, or null when AuxK is off for this step. */
    AuxSelection selection(int[] deadIds, int numDead) {
        if (numDead <= 0 || coef <= 0) {
            return null;
        }
        return new AuxSelection(deadIds, numDead, Math.min(kAux, numDead), codes);
    }

    /**
     * Adds the AuxK gradient (the encoder already filled the selection) and returns the AuxK loss (before the
     * coefficient).
     */
    double lossAndGradient(Kernels kernels, SparseAutoencoder sae, FloatMatrix x, FloatMatrix xHat, double totalVar, int numDead,
                           Gradients g) {
        double loss = forward(kernels, sae, x, xHat, totalVar, numDead);
        kernels.scatterOuter(codes, codes.values(), grad, null, g.wDec, null);
        Losses.addColumnSums(grad.data(), batchSize, dIn, g.bDec);
        kernels.scatterOuter(codes, dValues, x, Losses.encoderShift(sae), g.wEncT, g.bEnc);
        return loss;
    }

    /**
     * The AuxK loss (before the coefficient) and what its gradient needs: the gradient with respect to the AuxK
     * reconstruction ({@link #grad()}, coefficient included) and to the selected pre-activations ({@link #dValues()},
     * ReLU-masked). The encoder already filled the selection ({@link #codes()}).
     */
    double forward(Kernels kernels, SparseAutoencoder sae, FloatMatrix x, FloatMatrix xHat, double totalVar, int numDead) {
        float[] xs = x.data();
        float[] xh = xHat.data();
        float[] res = target.data();
        for (int i = 0, n = batchSize * dIn; i < n; i++) {
            res[i] = xs[i] - xh[i];
        }
        double scale = Math.min((double) numDead / kAux, 1.0);
        float gscale = (float) (coef * scale * 2.0 / totalVar);
        double sse = kernels.decodeLossGradient(codes, sae.wDec(), sae.bDec(), target, gscale, hat, grad, dValues);
        Losses.maskByValue(codes, dValues);
        return scale * sse / totalVar;
    }

    SparseCodes codes() {
        return codes;
    }

    FloatMatrix grad() {
        return grad;
    }

    float[] dValues() {
        return dValues;
    }

    double coef() {
        return coef;
    }
}
