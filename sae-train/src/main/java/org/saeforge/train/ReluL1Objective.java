package org.saeforge.train;

import org.saeforge.core.kernels.Kernels;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.core.tensor.SparseCodes;

/**
 * ReLU SAE with an L1 penalty weighted by decoder row norms (Anthropic's April 2024 recipe, SAELens "standard" with
 * {@code scale_sparsity_penalty_by_decoder_norm}): loss = Σ‖x̂ − x‖² / batch + λ · Σ_r Σ_j z_rj ‖wDec_j‖ / batch, with
 * an unconstrained decoder (the norm weighting stops the L1 term from being cheated by shrinking z and growing wDec).
 *
 * <p>The norm-weighted term's decoder gradient {@code λ/batch · (Σ_r z_rj) · wDec_j / ‖wDec_j‖} and the norms
 * themselves go through the kernels as one-entry-per-row codes over the decoder's own rows.
 */
public final class ReluL1Objective implements Objective {
    private final int batchSize;
    private final int dIn;
    private final int numLatents;
    private final double l1Coef;
    private final SparseCodes codes;
    private final SparseCodes diagonal;
    private final float[] squaredNorms;
    private final float[] norms;
    private final double[] codeSums;
    private final float[] normCoef;
    private final FloatMatrix xHat;
    private final FloatMatrix grad;
    private final Losses.Scratch scratch;
    private float[] dValues = new float[0];

    public ReluL1Objective(int batchSize, int dIn, int numLatents, double l1Coef) {
        this.batchSize = batchSize;
        this.dIn = dIn;
        this.numLatents = numLatents;
        this.l1Coef = l1Coef;
        this.codes = new SparseCodes(batchSize, numLatents, batchSize * 16);
        this.diagonal = SparseCodes.fixedK(numLatents, numLatents, 1);
        for (int j = 0; j < numLatents; j++) {
            diagonal.indices()[j] = j;
            diagonal.values()[j] = 1f;
        }
        this.squaredNorms = new float[numLatents];
        this.norms = new float[numLatents];
        this.codeSums = new double[numLatents];
        this.normCoef = new float[numLatents];
        this.xHat = new FloatMatrix(batchSize, dIn);
        this.grad = new FloatMatrix(batchSize, dIn);
        this.scratch = new Losses.Scratch(numLatents, dIn);
    }

    @Override
    public SparseCodes codes() {
        return codes;
    }

    @Override
    public StepStats lossAndGradient(Kernels kernels, SparseAutoencoder sae, FloatMatrix x, StepInputs in, Gradients g) {
        x.requireShape(batchSize, dIn, "training batch");
        int b = batchSize;
        kernels.encode(x, sae, codes, null);
        int nnz = codes.nnz();
        if (dValues.length < nnz) {
            dValues = new float[nnz];
        }
        double totalVar = Losses.totalVariance(x.data(), b, dIn);
        double sse = kernels.decodeLossGradient(codes, sae.wDec(), sae.bDec(), x, 2f / b, xHat, grad, dValues);

        kernels.gatherDots(diagonal, sae.wDec(), sae.wDec(), squaredNorms);
        for (int j = 0; j < numLatents; j++) {
            norms[j] = (float) Math.sqrt(squaredNorms[j]);
        }
        double lambda = l1Coef * in.sparsityScale();
        float perEntry = (float) (lambda / b);
        int[] idx = codes.indices();
        float[] val = codes.values();
        java.util.Arrays.fill(codeSums, 0);
        double l1 = 0;
        for (int p = 0; p < nnz; p++) {
            int j = idx[p];
            l1 += (double) val[p] * norms[j];
            codeSums[j] += val[p];
            dValues[p] += perEntry * norms[j];
        }
        for (int j = 0; j < numLatents; j++) {
            normCoef[j] = (float) (lambda / b * codeSums[j] / Math.max(norms[j], 1e-12));
        }

        g.zero();
        kernels.scatterOuter(codes, val, grad, null, g.wDec, null);
        kernels.scatterOuter(diagonal, normCoef, sae.wDec(), null, g.wDec, null);
        Losses.addColumnSums(grad.data(), b, dIn, g.bDec);
        Losses.maskByValue(codes, dValues);
        kernels.scatterOuter(codes, dValues, x, Losses.encoderShift(sae), g.wEncT, g.bEnc);
        Losses.subtractEncoderInputGrad(kernels, sae, g, scratch);
        double penalty = lambda * l1 / b;
        return new StepStats(sse / totalVar, 0, (double) codes.countPositive() / b, in.numDead(), penalty, sse / b + penalty, null);
    }
}
