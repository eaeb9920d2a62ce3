package org.saeforge.train;

import org.saeforge.core.kernels.AuxSelection;
import org.saeforge.core.kernels.Kernels;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.core.tensor.SparseCodes;

/**
 * BatchTopK (Bussmann et al. 2024) and Matryoshka BatchTopK: the k × batch largest ReLU'd pre-activations over the
 * whole batch are kept ({@link Kernels#encodeBatchTopK}), so rows get more or fewer latents than k.
 *
 * <p>With one prefix (BatchTopK) the loss is FVU + auxKCoef · AuxK, exactly as TopK. With nested prefixes
 * {@code m_1 < … < m_L = numLatents} (Matryoshka) the reconstruction term is the mean over prefixes of the FVU of
 * {@code x̂_i = bDec + Σ_{j < m_i} z_j wDec[j]}, so the first latents must reconstruct the input on their own. Its
 * gradient is computed group by group (latents in [m_{i−1}, m_i)) from the back: a latent of group i receives
 * {@code C_i = Σ_{l ≥ i} (2/L)(x̂_l − x)/totalVar}, and {@code x̂_{i−1} = x̂_i − decode(group i)}.
 *
 * <p>The smallest selected activation of each batch is kept: its running mean is the inference threshold.
 */
public final class BatchTopKObjective implements Objective {
    private final int batchSize;
    private final int dIn;
    private final int[] prefixEnds;
    private final SparseCodes codes;
    private final SparseCodes[] groups;
    private final FloatMatrix xHat;
    private final FloatMatrix grad;
    private final FloatMatrix residual;
    private final FloatMatrix part;
    private float[] dValues;
    private final AuxK aux;
    private final Losses.Scratch scratch;
    private float minActivation;

    /**
     * @param kMax       the largest k (mean latents per row) any step will use
     * @param prefixEnds ascending prefix ends, the last being numLatents ({numLatents} for plain BatchTopK)
     */
    public BatchTopKObjective(int batchSize, int dIn, int numLatents, int kMax, int[] prefixEnds, int kAux, double auxKCoef) {
        if (prefixEnds.length == 0 || prefixEnds[prefixEnds.length - 1] != numLatents) {
            throw new IllegalArgumentException("prefix ends must finish at numLatents " + numLatents);
        }
        this.batchSize = batchSize;
        this.dIn = dIn;
        this.prefixEnds = prefixEnds.clone();
        int cap = Math.multiplyExact(batchSize, kMax);
        this.codes = new SparseCodes(batchSize, numLatents, cap);
        this.xHat = new FloatMatrix(batchSize, dIn);
        this.grad = new FloatMatrix(batchSize, dIn);
        this.dValues = new float[cap];
        this.aux = new AuxK(batchSize, dIn, numLatents, kAux, auxKCoef);
        this.scratch = new Losses.Scratch(numLatents, dIn);
        boolean nested = prefixEnds.length > 1;
        this.groups = new SparseCodes[prefixEnds.length];
        for (int i = 0; nested && i < groups.length; i++) {
            groups[i] = new SparseCodes(batchSize, numLatents, Math.max(16, cap / groups.length));
        }
        this.residual = nested ? new FloatMatrix(batchSize, dIn) : null;
        this.part = nested ? new FloatMatrix(batchSize, dIn) : null;
    }

    @Override
    public SparseCodes codes() {
        return codes;
    }

    /** The smallest activation selected in the last batch (0 when none was positive). */
    public float minActivation() {
        return minActivation;
    }

    @Override
    public StepStats lossAndGradient(Kernels kernels, SparseAutoencoder sae, FloatMatrix x, StepInputs in, Gradients g) {
        x.requireShape(batchSize, dIn, "training batch");
        int b = batchSize;
        AuxSelection sel = aux.selection(in.deadIds(), in.numDead());
        kernels.encodeBatchTopK(x, sae, Math.multiplyExact(in.k(), b), codes, sel);
        int nnz = codes.nnz();
        if (dValues.length < nnz) {
            dValues = new float[nnz];
        }
        double totalVar = Losses.totalVariance(x.data(), b, dIn);
        g.zero();
        double fvu;
        double recon;
        double[] prefixFvu = null;
        if (prefixEnds.length == 1) {
            double sse = kernels.decodeLossGradient(codes, sae.wDec(), sae.bDec(), x, (float) (2.0 / totalVar), xHat, grad, dValues);
            kernels.scatterOuter(codes, codes.values(), grad, null, g.wDec, null);
            Losses.addColumnSums(grad.data(), b, dIn, g.bDec);
            Losses.maskByValue(codes, dValues);
            kernels.scatterOuter(codes, dValues, x, Losses.encoderShift(sae), g.wEncT, g.bEnc);
            fvu = sse / totalVar;
            recon = fvu;
        } else {
            prefixFvu = nestedGradient(kernels, sae, x, totalVar, g);
            fvu = prefixFvu[prefixFvu.length - 1];
            double sum = 0;
            for (double f : prefixFvu) {
                sum += f;
            }
            recon = sum / prefixFvu.length;
        }
        double auxLoss = sel == null ? 0 : aux.lossAndGradient(kernels, sae, x, xHat, totalVar, in.numDead(), g);
        Losses.subtractEncoderInputGrad(kernels, sae, g, scratch);

        float min = Float.POSITIVE_INFINITY;
        float[] v = codes.values();
        for (int p = 0; p < nnz; p++) {
            min = Math.min(min, v[p]);
        }
        minActivation = nnz == 0 ? 0f : min;
        return new StepStats(fvu, auxLoss, (double) codes.countPositive() / b, in.numDead(), 0, recon + aux.coef() * auxLoss,
                prefixFvu);
    }

    /** The Matryoshka reconstruction gradient; returns the FVU of every prefix. Leaves the full x̂ in xHat. */
    private double[] nestedGradient(Kernels kernels, SparseAutoencoder sae, FloatMatrix x, double totalVar, Gradients g) {
        int b = batchSize;
        int levels = prefixEnds.length;
        splitIntoGroups();
        kernels.decode(codes, sae.wDec(), sae.bDec(), xHat);
        float[] xs = x.data();
        float[] e = residual.data();
        float[] xh = xHat.data();
        int size = b * dIn;
        for (int i = 0; i < size; i++) {
            e[i] = xh[i] - xs[i];
        }
        float[] c = grad.data();
        java.util.Arrays.fill(c, 0, size, 0f);
        float w = (float) (2.0 / levels / totalVar);
        double[] fvu = new double[levels];
        float[] shift = Losses.encoderShift(sae);
        for (int level = levels - 1; level >= 0; level--) {
            double sse = 0;
            for (int i = 0; i < size; i++) {
                sse += (double) e[i] * e[i];
                c[i] += w * e[i];
            }
            fvu[level] = sse / totalVar;
            SparseCodes group = groups[level];
            kernels.gatherDots(group, grad, sae.wDec(), dValues);
            kernels.scatterOuter(group, group.values(), grad, null, g.wDec, null);
            Losses.maskByValue(group, dValues);
            kernels.scatterOuter(group, dValues, x, shift, g.wEncT, g.bEnc);
            if (level > 0) {
                kernels.decode(group, sae.wDec(), null, part);
                float[] pd = part.data();
                for (int i = 0; i < size; i++) {
                    e[i] -= pd[i];
                }
            }
        }
        Losses.addColumnSums(c, b, dIn, g.bDec);
        return fvu;
    }

    /** Splits the codes (rows in ascending latent order) by prefix group. */
    private void splitIntoGroups() {
        int[] idx = codes.indices();
        float[] val = codes.values();
        int[] fill = new int[groups.length];
        for (SparseCodes gc : groups) {
            gc.reset(batchSize);
        }
        for (int r = 0; r < batchSize; r++) {
            int level = 0;
            for (int p = codes.rowStart(r); p < codes.rowEnd(r); p++) {
                while (idx[p] >= prefixEnds[level]) {
                    level++;
                }
                SparseCodes gc = groups[level];
                gc.ensureCapacity(fill[level] + 1);
                gc.indices()[fill[level]] = idx[p];
                gc.values()[fill[level]] = val[p];
                fill[level]++;
            }
            for (int l = 0; l < groups.length; l++) {
                groups[l].setRowEnd(r, fill[l]);
            }
        }
    }
}
