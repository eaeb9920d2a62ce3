package org.saeforge.train;

import org.saeforge.core.kernels.AdamStep;
import org.saeforge.core.kernels.AuxSelection;
import org.saeforge.core.kernels.Kernels;
import org.saeforge.core.kernels.RowGradientSource;
import org.saeforge.core.model.SaeConfig;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.core.tensor.SparseCodes;

/**
 * The TopK training objective and its gradient, computed sparsely: only the dense encoder product touches every
 * latent; everything after it works on the k selected latents per row (and kAux for AuxK).
 *
 * <p>Loss = FVU + auxKCoef · AuxK, with FVU = Σ‖x̂ − x‖² / Σ‖x − mean_batch(x)‖² (see {@link AuxK}). k may change
 * from step to step (annealing) up to the k the objective was built for.
 */
public final class TopKObjective implements Objective {
    private final int batchSize;
    private final int dIn;
    private final int kMax;
    private final SparseCodes codes;
    private final FloatMatrix xHat;
    private final FloatMatrix grad;
    private final float[] dValues;
    private final AuxK aux;
    private final Losses.Scratch scratch;
    private SparseAutoencoder withK;
    private RowGradientSource[] decoderSources;
    private RowGradientSource[] encoderSources;

    /** @param k the largest k any step will use */
    public TopKObjective(int batchSize, int dIn, int numLatents, int k, int kAux, double auxKCoef) {
        this.batchSize = batchSize;
        this.dIn = dIn;
        this.kMax = k;
        this.codes = SparseCodes.fixedK(batchSize, numLatents, k);
        this.xHat = new FloatMatrix(batchSize, dIn);
        this.grad = new FloatMatrix(batchSize, dIn);
        this.dValues = new float[batchSize * k];
        this.aux = new AuxK(batchSize, dIn, numLatents, kAux, auxKCoef);
        this.scratch = new Losses.Scratch(numLatents, dIn);
    }

    @Override
    public SparseCodes codes() {
        return codes;
    }

    @Override
    public boolean zeroSelectionsFire() {
        return true;
    }

    /**
     * One step with the SAE's own k.
     *
     * @param deadIds ascending dead latent ids (first numDead used), or numDead = 0 for no AuxK
     */
    public StepStats lossAndGradient(Kernels kernels, SparseAutoencoder sae, FloatMatrix x, int[] deadIds, int numDead,
                                     Gradients g) {
        return lossAndGradient(kernels, sae, x, new StepInputs(sae.config().k(), 1, deadIds, numDead), g);
    }

    @Override
    public StepStats lossAndGradient(Kernels kernels, SparseAutoencoder sae, FloatMatrix x, StepInputs in, Gradients g) {
        AuxSelection sel = encodeBatch(kernels, sae, x, in);
        int b = batchSize;
        double totalVar = Losses.totalVariance(x.data(), b, dIn);
        float scale = (float) (2.0 / totalVar);
        double sse = kernels.decodeLossGradient(codes, sae.wDec(), sae.bDec(), x, scale, xHat, grad, dValues);
        double fvu = sse / totalVar;

        g.zero();
        // Decoder: x̂ = Σ z_j wDec[j] + bDec.
        kernels.scatterOuter(codes, codes.values(), grad, null, g.wDec, null);
        Losses.addColumnSums(grad.data(), b, dIn, g.bDec);
        // Encoder, through the selected latents; ReLU passes gradient only where the value is positive.
        Losses.maskByValue(codes, dValues);
        kernels.scatterOuter(codes, dValues, x, Losses.encoderShift(sae), g.wEncT, g.bEnc);

        double auxLoss = sel == null ? 0 : aux.lossAndGradient(kernels, sae, x, xHat, totalVar, in.numDead(), g);
        Losses.subtractEncoderInputGrad(kernels, sae, g, scratch);
        long positive = codes.countPositive();
        return new StepStats(fvu, auxLoss, (double) positive / b, in.numDead(), 0, fvu + aux.coef() * auxLoss, null);
    }

    /**
     * The forward and backward half of a fused step: like {@link #lossAndGradient} but keeps the sparse gradient
     * sources instead of writing gradient matrices; only the bias gradients go into {@code g} ({@code bDec}'s share
     * through the encoder input is added by {@link #applyFused}, which reads the encoder rows anyway). Follow it with
     * {@link #applyFused} (after checking the loss is finite).
     */
    public StepStats prepareFused(Kernels kernels, SparseAutoencoder sae, FloatMatrix x, StepInputs in, Gradients g) {
        AuxSelection sel = encodeBatch(kernels, sae, x, in);
        int b = batchSize;
        double totalVar = Losses.totalVariance(x.data(), b, dIn);
        double sse = kernels.decodeLossGradient(codes, sae.wDec(), sae.bDec(), x, (float) (2.0 / totalVar), xHat, grad, dValues);
        double fvu = sse / totalVar;
        Losses.maskByValue(codes, dValues);
        java.util.Arrays.fill(g.bEnc, 0f);
        java.util.Arrays.fill(g.bDec, 0f);
        Losses.addColumnSums(grad.data(), b, dIn, g.bDec);
        Losses.addLatentSums(codes, dValues, g.bEnc);
        double auxLoss = 0;
        float[] shift = Losses.encoderShift(sae);
        if (sel != null) {
            auxLoss = aux.forward(kernels, sae, x, xHat, totalVar, in.numDead());
            Losses.addColumnSums(aux.grad().data(), b, dIn, g.bDec);
            Losses.addLatentSums(aux.codes(), aux.dValues(), g.bEnc);
            decoderSources = new RowGradientSource[] {new RowGradientSource(codes, codes.values(), grad, null),
                new RowGradientSource(aux.codes(), aux.codes().values(), aux.grad(), null)};
            encoderSources = new RowGradientSource[] {new RowGradientSource(codes, dValues, x, shift),
                new RowGradientSource(aux.codes(), aux.dValues(), x, shift)};
        } else {
            decoderSources = new RowGradientSource[] {new RowGradientSource(codes, codes.values(), grad, null)};
            encoderSources = new RowGradientSource[] {new RowGradientSource(codes, dValues, x, shift)};
        }
        long positive = codes.countPositive();
        return new StepStats(fvu, auxLoss, (double) positive / b, in.numDead(), 0, fvu + aux.coef() * auxLoss, null);
    }

    /**
     * The optimiser half of a fused step: Adam on every parameter, the decoder and encoder matrices through
     * {@link Kernels#sparseRowAdam} (gradient rows summed, decoder constraint and update in one pass per row, no gradient
     * matrix), the biases from {@code g}. The same update as {@link #lossAndGradient} followed by
     * {@link AdamOptimizer#step}, up to float summation order.
     */
    public void applyFused(Kernels kernels, SparseAutoencoder sae, AdamOptimizer adam, Gradients g, double lr) {
        AdamStep hp = adam.nextStep(lr);
        kernels.sparseRowAdam(sae.wDec(), adam.firstMoments()[2], adam.secondMoments()[2], hp, true, decoderSources);
        if (sae.config().applyBDecToInput()) {
            // bDec's gradient through the encoder input, -Σ_j gbEnc_j·wEnc_j, on wEnc before its update.
            kernels.sparseRowAdamAfterCombination(sae.wEncT(), adam.firstMoments()[0], adam.secondMoments()[0], hp, false,
                    g.bEnc, scratch.combination, encoderSources);
            for (int i = 0; i < g.bDec.length; i++) {
                g.bDec[i] -= scratch.combination[i];
            }
        } else {
            kernels.sparseRowAdam(sae.wEncT(), adam.firstMoments()[0], adam.secondMoments()[0], hp, false, encoderSources);
        }
        kernels.adam(sae.bEnc(), g.bEnc, adam.firstMoments()[1], adam.secondMoments()[1], sae.bEnc().length, hp);
        kernels.adam(sae.bDec(), g.bDec, adam.firstMoments()[3], adam.secondMoments()[3], sae.bDec().length, hp);
    }

    /**
     * The last step's gradient of the loss with respect to x̂, row by row: {@code (2 / total variance)·(x̂ − x)}, a
     * positive multiple of the negated residual ({@link DuplicateResampler} restarts latents on it). Valid until the
     * next step.
     */
    FloatMatrix residualGradient() {
        return grad;
    }

    /** Checks the batch, then encodes it into {@link #codes} (and the AuxK candidates); returns the AuxK selection. */
    private AuxSelection encodeBatch(Kernels kernels, SparseAutoencoder sae, FloatMatrix x, StepInputs in) {
        x.requireShape(batchSize, dIn, "training batch");
        if (in.k() > kMax) {
            throw new IllegalArgumentException("k " + in.k() + " exceeds the k=" + kMax + " this objective was built for");
        }
        AuxSelection sel = aux.selection(in.deadIds(), in.numDead());
        kernels.encode(x, encoderFor(sae, in.k()), codes, sel);
        return sel;
    }

    /** The SAE itself, or a view of its weights with another k (annealing). */
    private SparseAutoencoder encoderFor(SparseAutoencoder sae, int k) {
        if (k == sae.config().k()) {
            return sae;
        }
        if (withK == null || withK.config().k() != k || withK.wEncT() != sae.wEncT()) {
            SaeConfig c = sae.config();
            withK = new SparseAutoencoder(new SaeConfig(c.architecture(), c.dIn(), c.numLatents(), k, c.applyBDecToInput(), c.metadata()),
                    sae.wEncT(), sae.bEnc(), sae.wDec(), sae.bDec(), sae.threshold());
        }
        return withK;
    }
}
