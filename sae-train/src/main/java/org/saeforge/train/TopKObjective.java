package org.saeforge.train;

import org.saeforge.core.kernels.AuxSelection;
import org.saeforge.core.kernels.Kernels;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.core.tensor.SparseCodes;

/**
 * The TopK training objective and its gradient, computed sparsely: only the dense encoder product touches every
 * latent; everything after it works on the k selected latents per row (and kAux for AuxK).
 *
 * <p>Loss = FVU + auxKCoef · AuxK, with FVU = Σ‖x̂ − x‖² / Σ‖x − mean_batch(x)‖². AuxK (Gao et al. 2024): the
 * kAux largest pre-activations among dead latents reconstruct the residual {@code x − x̂} (decoded with bDec, as
 * in sparsify), scaled by min(numDead / kAux, 1) and normalised by the same total variance. Unlike sparsify's fused
 * encoder, the AuxK gradient reaches the encoder rows of the selected dead latents too (the paper's behaviour):
 * that is what lets a dead latent's pre-activation rise again.
 */
public final class TopKObjective {
    private final int batchSize;
    private final int dIn;
    private final int numLatents;
    private final int k;
    private final int kAux;
    private final double auxKCoef;
    private final SparseCodes codes;
    private final SparseCodes auxCodes;
    private final FloatMatrix xHat;
    private final FloatMatrix grad;
    private final FloatMatrix auxHat;
    private final FloatMatrix auxGrad;
    private final FloatMatrix auxTarget;
    private final float[] dValues;
    private final float[] dAux;

    public TopKObjective(int batchSize, int dIn, int numLatents, int k, int kAux, double auxKCoef) {
        this.batchSize = batchSize;
        this.dIn = dIn;
        this.numLatents = numLatents;
        this.k = k;
        this.kAux = kAux;
        this.auxKCoef = auxKCoef;
        this.codes = SparseCodes.fixedK(batchSize, numLatents, k);
        this.auxCodes = SparseCodes.fixedK(batchSize, numLatents, Math.min(kAux, numLatents));
        this.xHat = new FloatMatrix(batchSize, dIn);
        this.grad = new FloatMatrix(batchSize, dIn);
        this.auxHat = new FloatMatrix(batchSize, dIn);
        this.auxGrad = new FloatMatrix(batchSize, dIn);
        this.auxTarget = new FloatMatrix(batchSize, dIn);
        this.dValues = new float[batchSize * k];
        this.dAux = new float[batchSize * Math.min(kAux, numLatents)];
    }

    /** Codes of the last batch (valid until the next call). */
    public SparseCodes codes() {
        return codes;
    }

    /**
     * Forward and backward on one batch: writes the gradient of the loss into {@code g} (which is zeroed first).
     *
     * @param deadIds ascending dead latent ids (first numDead used), or numDead = 0 for no AuxK
     */
    public StepStats lossAndGradient(Kernels kernels, SparseAutoencoder sae, FloatMatrix x, int[] deadIds, int numDead,
                                     Gradients g) {
        x.requireShape(batchSize, dIn, "training batch");
        int b = batchSize;
        boolean useAux = numDead > 0 && auxKCoef > 0;
        int kAuxEff = Math.min(kAux, numDead);
        AuxSelection aux = useAux ? new AuxSelection(deadIds, numDead, kAuxEff, auxCodes) : null;
        kernels.encode(x, sae, codes, aux);

        double totalVar = totalVariance(x.data(), b);
        float scale = (float) (2.0 / totalVar);
        double sse = kernels.decodeLossGradient(codes, sae.wDec(), sae.bDec(), x, scale, xHat, grad, dValues);
        double fvu = sse / totalVar;

        g.zero();
        // Decoder: x̂ = Σ z_j wDec[j] + bDec.
        kernels.scatterOuter(codes, codes.values(), grad, null, g.wDec, null);
        addColumnSums(grad.data(), b, g.bDec);
        // Encoder, through the selected latents; ReLU passes gradient only where the value is positive.
        maskByValue(codes, dValues);
        kernels.scatterOuter(codes, dValues, x, sae.bDec(), g.wEncT, g.bEnc);

        double auxLoss = 0;
        if (useAux) {
            auxLoss = auxKGradient(kernels, sae, x, kAuxEff, numDead, totalVar, g);
        }
        // bDec also enters the encoder input (x − bDec): d/dbDec = −Σ_j dbEnc_j · wEncT[j].
        if (sae.config().applyBDecToInput()) {
            subtractEncoderInputGrad(sae, g);
        }
        long positive = codes.countPositive();
        return new StepStats(fvu, auxLoss, (double) positive / b, numDead);
    }

    private double auxKGradient(Kernels kernels, SparseAutoencoder sae, FloatMatrix x, int kAuxEff, int numDead,
                                double totalVar, Gradients g) {
        int b = batchSize;
        // The target is the residual x − x̂ of the main codes, held fixed (no gradient through it).
        float[] xs = x.data();
        float[] xh = xHat.data();
        float[] res = auxTarget.data();
        for (int i = 0, n = b * dIn; i < n; i++) {
            res[i] = xs[i] - xh[i];
        }
        double scale = Math.min((double) numDead / kAux, 1.0);
        float gscale = (float) (auxKCoef * scale * 2.0 / totalVar);
        double sse = kernels.decodeLossGradient(auxCodes, sae.wDec(), sae.bDec(), auxTarget, gscale, auxHat, auxGrad, dAux);
        kernels.scatterOuter(auxCodes, auxCodes.values(), auxGrad, null, g.wDec, null);
        addColumnSums(auxGrad.data(), b, g.bDec);
        maskByValue(auxCodes, dAux);
        kernels.scatterOuter(auxCodes, dAux, x, sae.bDec(), g.wEncT, g.bEnc);
        return scale * sse / totalVar;
    }

    private static void maskByValue(SparseCodes c, float[] d) {
        float[] v = c.values();
        for (int p = 0, n = c.nnz(); p < n; p++) {
            if (!(v[p] > 0f)) {
                d[p] = 0f;
            }
        }
    }

    private void subtractEncoderInputGrad(SparseAutoencoder sae, Gradients g) {
        float[] w = sae.wEncT().data();
        double[] acc = new double[dIn];
        for (int j = 0; j < numLatents; j++) {
            float c = g.bEnc[j];
            if (c != 0f) {
                int o = j * dIn;
                for (int i = 0; i < dIn; i++) {
                    acc[i] += c * w[o + i];
                }
            }
        }
        for (int i = 0; i < dIn; i++) {
            g.bDec[i] -= (float) acc[i];
        }
    }

    private void addColumnSums(float[] m, int rows, float[] out) {
        double[] acc = new double[dIn];
        for (int r = 0; r < rows; r++) {
            int o = r * dIn;
            for (int i = 0; i < dIn; i++) {
                acc[i] += m[o + i];
            }
        }
        for (int i = 0; i < dIn; i++) {
            out[i] += (float) acc[i];
        }
    }

    /** Σ‖x − mean_batch(x)‖² in double. */
    private double totalVariance(float[] xs, int rows) {
        double[] mean = new double[dIn];
        for (int r = 0; r < rows; r++) {
            for (int i = 0; i < dIn; i++) {
                mean[i] += xs[r * dIn + i];
            }
        }
        for (int i = 0; i < dIn; i++) {
            mean[i] /= rows;
        }
        double tv = 0;
        for (int r = 0; r < rows; r++) {
            for (int i = 0; i < dIn; i++) {
                double dlt = xs[r * dIn + i] - mean[i];
                tv += dlt * dlt;
            }
        }
        return Math.max(tv, 1e-30);
    }
}
