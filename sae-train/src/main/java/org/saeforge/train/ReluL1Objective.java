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
 * <p>While many latents fire (early in a run, before the L1 coefficient has warmed up) a step runs on dense products
 * ({@link #DENSE_ABOVE}); otherwise on the sparse kernels.
 *
 * <p><b>Relief for rare latents</b> ({@code l1Relief} r > 0): a latent that fires on fewer than m = r · batch rows of the
 * batch pays only {@code fired / m} of its L1 term in that step (its weight {@code w_j = min(1, fired_j / m)}; the loss
 * is {@code λ · Σ_r Σ_j w_j z_rj ‖wDec_j‖ / batch}, and the gradient treats the weights, which depend only on which
 * entries are active, as constants). Under the full pull a latent that fires rarely is pushed to silence, and a silent
 * ReLU latent gets no gradient ever after; relieved, the reconstruction gradient keeps it firing on the rows it helps.
 * Measured: docs/training.md, "ReLU: relief for rare latents".
 *
 * <p>The norm-weighted term's decoder gradient {@code λ/batch · (Σ_r z_rj) · wDec_j / ‖wDec_j‖} and the norms
 * themselves go through the kernels as one-entry-per-row codes over the decoder's own rows.
 */
public final class ReluL1Objective implements Objective {
    /**
     * The share of active codes (nnz / (batch · numLatents)) above which a step runs on dense products instead of the
     * sparse kernels. Both routes compute the same gradients (to float rounding); the choice depends only on the
     * codes, so a resumed run takes the same route at every step. Measured: docs/training.md, "ReLU: a long L1 warm-up".
     */
    public static final double DENSE_ABOVE = 0.2;

    private final int batchSize;
    private final int dIn;
    private final int numLatents;
    private final double l1Coef;
    private final double reliefRows;
    private final int[] fired;
    private final float[] weight;
    private final SparseCodes codes;
    private final SparseCodes diagonal;
    private final float[] squaredNorms;
    private final float[] norms;
    private final double[] codeSums;
    private final float[] normCoef;
    private final FloatMatrix xHat;
    private final FloatMatrix grad;
    private final Losses.Scratch scratch;
    private final double denseAbove;
    private final int blockRows;
    private float[] dValues = new float[0];
    private long denseSteps;
    // the dense route's buffers, allocated on its first step
    private float[] zBlock;
    private float[] dzBlock;
    private float[] tBlock;
    private float[] gradT;
    private float[] gradBlock;
    private float[] xT;
    private float[] xHatBlock;
    private FloatMatrix product;
    private FloatMatrix wDecT;
    private double[] encSums;

    /** Without relief for rare latents. */
    public ReluL1Objective(int batchSize, int dIn, int numLatents, double l1Coef) {
        this(batchSize, dIn, numLatents, l1Coef, 0, DENSE_ABOVE);
    }

    /**
     * @param l1Relief   the firing rate below which a latent's L1 term is relieved (class comment): it fires on fewer
     *                   than {@code l1Relief · batchSize} rows of the batch; 0 turns relief off
     * @param denseAbove the step runs on dense products when more than this fraction of the batch's codes is active
     *                   ({@link #DENSE_ABOVE} by default; 0 always, 1 never)
     */
    public ReluL1Objective(int batchSize, int dIn, int numLatents, double l1Coef, double l1Relief, double denseAbove) {
        this(batchSize, dIn, numLatents, l1Coef, l1Relief, denseAbove, denseBlockRows(batchSize, numLatents));
    }

    /** As above, with the dense route's rows per block given (tests use small blocks to cross block boundaries). */
    ReluL1Objective(int batchSize, int dIn, int numLatents, double l1Coef, double l1Relief, double denseAbove, int blockRows) {
        if (!(l1Relief >= 0 && l1Relief <= 1)) {
            throw new IllegalArgumentException("l1Relief must be in [0, 1], got " + l1Relief);
        }
        if (!(denseAbove >= 0 && denseAbove <= 1)) {
            throw new IllegalArgumentException("denseAbove must be in [0, 1], got " + denseAbove);
        }
        if (blockRows < 1) {
            throw new IllegalArgumentException("blockRows must be positive, got " + blockRows);
        }
        this.denseAbove = denseAbove;
        this.blockRows = Math.min(blockRows, batchSize);
        this.batchSize = batchSize;
        this.dIn = dIn;
        this.numLatents = numLatents;
        this.l1Coef = l1Coef;
        this.reliefRows = l1Relief * batchSize;
        this.fired = new int[numLatents];
        this.weight = new float[numLatents];
        java.util.Arrays.fill(weight, 1f); // without relief every step keeps these
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
        double totalVar = Losses.totalVariance(x.data(), b, dIn);

        kernels.gatherDots(diagonal, sae.wDec(), sae.wDec(), squaredNorms);
        for (int j = 0; j < numLatents; j++) {
            norms[j] = (float) Math.sqrt(squaredNorms[j]);
        }
        double lambda = l1Coef * in.sparsityScale();
        float perEntry = (float) (lambda / b);
        int[] idx = codes.indices();
        float[] val = codes.values();
        reliefWeights(val, idx, nnz);
        java.util.Arrays.fill(codeSums, 0);
        double l1 = 0;
        for (int p = 0; p < nnz; p++) {
            int j = idx[p];
            l1 += (double) val[p] * norms[j] * weight[j];
            codeSums[j] += val[p];
        }
        for (int j = 0; j < numLatents; j++) {
            normCoef[j] = (float) (lambda / b * weight[j] * codeSums[j] / Math.max(norms[j], 1e-12));
        }

        g.zero();
        boolean dense = nnz > denseAbove * b * numLatents;
        double sse = dense ? denseStep(kernels, sae, x, perEntry, g) : sparseStep(kernels, sae, x, perEntry, g);
        if (dense) {
            denseSteps++;
        }
        kernels.scatterOuter(diagonal, normCoef, sae.wDec(), null, g.wDec, null);
        Losses.addColumnSums(grad.data(), b, dIn, g.bDec);
        Losses.subtractEncoderInputGrad(kernels, sae, g, scratch);
        double penalty = lambda * l1 / b;
        return new StepStats(sse / totalVar, 0, (double) codes.countPositive() / b, in.numDead(), penalty, sse / b + penalty, null);
    }

    /** Each latent's weight in the L1 term: {@code min(1, fired / (l1Relief · batch))}, 1 without relief. */
    private void reliefWeights(float[] val, int[] idx, int nnz) {
        if (reliefRows <= 0) {
            return;
        }
        java.util.Arrays.fill(fired, 0);
        for (int p = 0; p < nnz; p++) {
            if (val[p] > 0f) {
                fired[idx[p]]++;
            }
        }
        for (int j = 0; j < numLatents; j++) {
            weight[j] = (float) Math.min(1.0, fired[j] / reliefRows);
        }
    }

    /** How many steps so far took the dense route (tests and benchmarks use it to prove which route ran). */
    public long denseSteps() {
        return denseSteps;
    }

    /**
     * The reconstruction and penalty gradients through the sparse kernels: O(nnz · dIn) work, the fast route while
     * few latents fire. Leaves xHat and grad (2/batch · (x̂ − x)) filled; returns the squared error.
     */
    private double sparseStep(Kernels kernels, SparseAutoencoder sae, FloatMatrix x, float perEntry, Gradients g) {
        int nnz = codes.nnz();
        if (dValues.length < nnz) {
            dValues = new float[nnz];
        }
        double sse = kernels.decodeLossGradient(codes, sae.wDec(), sae.bDec(), x, 2f / batchSize, xHat, grad, dValues);
        int[] idx = codes.indices();
        float[] val = codes.values();
        for (int p = 0; p < nnz; p++) {
            dValues[p] += perEntry * norms[idx[p]] * weight[idx[p]];
        }
        kernels.scatterOuter(codes, val, grad, null, g.wDec, null);
        Losses.maskByValue(codes, dValues);
        kernels.scatterOuter(codes, dValues, x, Losses.encoderShift(sae), g.wEncT, g.bEnc);
        return sse;
    }

    /**
     * The same gradients through dense products ({@link Kernels#matmulNT}), a block of rows at a time: four GEMMs of
     * O(rows · numLatents · dIn) whatever the number of active latents. While the L1 coefficient is still small most
     * latents fire (L0 above 1,000 of 4,096 early in a run), and there the sparse kernels, which stream a decoder or
     * gradient row per active entry, are many times slower than a GEMM over the same data.
     */
    private double denseStep(Kernels kernels, SparseAutoencoder sae, FloatMatrix x, float perEntry, Gradients g) {
        int b = batchSize;
        int n = numLatents;
        int d = dIn;
        int block = blockRows;
        if (zBlock == null) {
            zBlock = new float[block * n];
            dzBlock = new float[n * block];
            tBlock = new float[n * block];
            gradT = new float[d * block];
            xT = new float[d * block];
            xHatBlock = new float[block * d];
            gradBlock = new float[block * d];
            product = new FloatMatrix(n, d);
            wDecT = new FloatMatrix(d, n);
            encSums = new double[n];
        }
        transpose(sae.wDec().data(), 0, n, d, wDecT.data());
        float[] bDec = sae.bDec();
        float[] xs = x.data();
        float[] xh = xHat.data();
        float[] gr = grad.data();
        float scale = 2f / b;
        int[] idx = codes.indices();
        float[] val = codes.values();
        float[] gEnc = g.wEncT.data();
        float[] gDec = g.wDec.data();
        float[] pd = product.data();
        java.util.Arrays.fill(encSums, 0);
        double sse = 0;
        for (int r0 = 0; r0 < b; r0 += block) {
            int m = Math.min(block, b - r0);
            java.util.Arrays.fill(zBlock, 0, m * n, 0f);
            for (int r = 0; r < m; r++) {
                for (int p = codes.rowStart(r0 + r), end = codes.rowEnd(r0 + r); p < end; p++) {
                    zBlock[r * n + idx[p]] = val[p];
                }
            }
            // x̂ = z · wDec + bDec, then the error's gradient (as the sparse decode computes it)
            kernels.matmulNT(FloatMatrix.wrap(m, n, zBlock), wDecT, FloatMatrix.wrap(m, d, xHatBlock));
            for (int r = 0; r < m; r++) {
                int o = (r0 + r) * d;
                for (int i = 0; i < d; i++) {
                    float v = xHatBlock[r * d + i] + bDec[i];
                    xh[o + i] = v;
                    float e = v - xs[o + i];
                    sse += (double) e * e;
                    gr[o + i] = scale * e;
                }
            }
            System.arraycopy(gr, r0 * d, gradBlock, 0, m * d);
            transpose(gradBlock, 0, m, d, gradT);
            transpose(xs, r0 * d, m, d, xT);
            // wDec gradient: zᵀ · grad (zᵀ scattered from the entries while they are few, else a tiled transpose)
            int blockNnz = codes.rowEnd(r0 + m - 1) - codes.rowStart(r0);
            if (4L * blockNnz < (long) m * n) {
                java.util.Arrays.fill(tBlock, 0, n * m, 0f);
                for (int r = 0; r < m; r++) {
                    for (int p = codes.rowStart(r0 + r), end = codes.rowEnd(r0 + r); p < end; p++) {
                        tBlock[idx[p] * m + r] = val[p];
                    }
                }
            } else {
                transpose(zBlock, 0, m, n, tBlock);
            }
            kernels.matmulNT(FloatMatrix.wrap(n, m, tBlock), FloatMatrix.wrap(d, m, gradT), product);
            for (int q = 0, size = n * d; q < size; q++) {
                gDec[q] += pd[q];
            }
            // pre-activation gradient, latent-major: wDec · gradᵀ plus the penalty's λ/batch · ‖wDec_j‖ where the
            // latent is active (zᵀ > 0), zero elsewhere
            kernels.matmulNT(sae.wDec(), FloatMatrix.wrap(m, d, gradBlock), FloatMatrix.wrap(n, m, dzBlock));
            for (int j = 0; j < n; j++) {
                float pen = perEntry * norms[j] * weight[j];
                double sum = 0;
                for (int q = j * m, end = q + m; q < end; q++) {
                    float dp = tBlock[q] > 0f ? dzBlock[q] + pen : 0f;
                    dzBlock[q] = dp;
                    sum += dp;
                }
                encSums[j] += sum;
            }
            // encoder gradient: dPreᵀ · x (the shift by bDec is subtracted once below)
            kernels.matmulNT(FloatMatrix.wrap(n, m, dzBlock), FloatMatrix.wrap(d, m, xT), product);
            for (int q = 0, size = n * d; q < size; q++) {
                gEnc[q] += pd[q];
            }
        }
        float[] shift = Losses.encoderShift(sae);
        for (int j = 0; j < n; j++) {
            float s = (float) encSums[j];
            g.bEnc[j] += s;
            if (shift != null && s != 0f) {
                for (int i = 0; i < d; i++) {
                    gEnc[j * d + i] -= s * shift[i];
                }
            }
        }
        return sse;
    }

    /** {@code dst[c · rows + r] = src[off + r · cols + c]} for r < rows, c < cols, in 32 x 32 tiles (cache-friendly). */
    static void transpose(float[] src, int off, int rows, int cols, float[] dst) {
        final int tile = 32;
        for (int r0 = 0; r0 < rows; r0 += tile) {
            int r1 = Math.min(rows, r0 + tile);
            for (int c0 = 0; c0 < cols; c0 += tile) {
                int c1 = Math.min(cols, c0 + tile);
                for (int r = r0; r < r1; r++) {
                    int so = off + r * cols;
                    for (int c = c0; c < c1; c++) {
                        dst[c * rows + r] = src[so + c];
                    }
                }
            }
        }
    }

    /**
     * Rows per block of the dense route: as many as keep a [rows x numLatents] buffer within 4M floats (16 MB; three
     * such buffers are held, 48 MB), but at least 128 rows (fewer make the products inefficient) and at most the batch.
     */
    static int denseBlockRows(int batchSize, int numLatents) {
        int rows = (int) Math.min(batchSize, Math.max(128, (4L << 20) / Math.max(1, numLatents)));
        return Math.max(1, Math.min(batchSize, rows));
    }
}
