package org.saeforge.core.kernels;

import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.core.tensor.SparseCodes;

/**
 * The hot operations of SAE inference and training. Every implementation computes the same function as
 * {@link org.saeforge.core.kernels.cpu.ReferenceKernels} (the oracle) within the tolerance its parity test
 * states; only speed differs. Implementations own their threads and native memory: {@link #close()} them.
 *
 * <p>Shapes follow the vocabulary of the project: {@code x [batch, dIn]}, {@code wEncT [numLatents, dIn]}
 * (the transpose of SAELens {@code W_enc}), {@code wDec [numLatents, dIn]}, codes with one row per input row.
 * Every operation checks shapes before doing any work and throws {@link IllegalArgumentException} naming them.
 */
public interface Kernels extends AutoCloseable {

    /** A short name: {@code cpu-ref}, {@code cpu}, {@code cuda}. */
    String name();

    /** Worker threads this backend uses. */
    int threads();

    /**
     * Encoder forward. Computes {@code pre = (x - bDec) · wEncT^T + bEnc} (bDec only when the config applies it)
     * and the architecture's activation into {@code out}: TopK keeps the k largest pre-activations of a row,
     * ReLU'd, sorted by value descending with ties to the lower latent index; JumpReLU keeps
     * {@code pre > threshold}; ReLU keeps {@code pre > 0} (variable-length rows, ascending latent index).
     *
     * @param aux when not null (TopK only), also selects for every row the {@code aux.kAux()} largest
     *            pre-activations among the latents marked dead, ReLU'd, into {@code aux.out()}
     */
    void encode(FloatMatrix x, SparseAutoencoder sae, SparseCodes out, AuxSelection aux);

    /**
     * BatchTopK encoder forward (training): the {@code kTotal} largest positive ReLU'd pre-activations
     * {@code (x - bDec) · wEncT^T + bEnc} over the whole batch (fewer when fewer are positive; ties to the lower row,
     * then the lower latent), written as variable-length rows in ascending latent order. The SAE's threshold is not
     * used. The default composes {@link #encode} calls (see {@link BatchTopK}); it is exact.
     *
     * @param aux when not null, also the per-row AuxK selection among dead latents, as in {@link #encode}
     */
    default void encodeBatchTopK(FloatMatrix x, SparseAutoencoder sae, int kTotal, SparseCodes out, AuxSelection aux) {
        BatchTopK.select(this, x, sae, kTotal, out, aux);
    }

    /** {@code out[r] = Σ_p values[p] · w[indices[p]] (+ bias)} over the entries p of row r; bias may be null. */
    void decode(SparseCodes codes, FloatMatrix w, float[] bias, FloatMatrix out);

    /** {@code dValues[p] = dOut[row(p)] · w[indices[p]]} for every entry p: gradients at the active latents. */
    void gatherDots(SparseCodes codes, FloatMatrix dOut, FloatMatrix w, float[] dValues);

    /**
     * Sparse outer-product accumulation: for every entry p of row r,
     * {@code dW[indices[p]] += coef[p] · (src[r] - shift)} and {@code dBias[indices[p]] += coef[p]}.
     * {@code shift} and {@code dBias} may be null. With coef = code values and src = dXhat this is the decoder
     * gradient; with coef = dPre, src = x and shift = bDec it is the encoder gradient.
     */
    void scatterOuter(SparseCodes codes, float[] coef, FloatMatrix src, float[] shift, FloatMatrix dW, float[] dBias);

    /**
     * Fused decode and reconstruction-loss gradient, the first half of a TopK backward:
     * {@code xHat[r] = Σ_p values[p]·w[indices[p]] + bias}, {@code grad[r] = scale·(xHat[r] − target[r])} and
     * {@code dValues[p] = grad[r]·w[indices[p]]}; returns {@code Σ‖xHat − target‖²} in double. The default composes
     * {@link #decode} and {@link #gatherDots}; fast backends reuse each decoder row while it is still in cache.
     */
    default double decodeLossGradient(SparseCodes codes, FloatMatrix w, float[] bias, FloatMatrix target, float scale,
                                      FloatMatrix xHat, FloatMatrix grad, float[] dValues) {
        target.requireShape(codes.rows(), w.cols(), "decodeLossGradient target");
        grad.requireShape(codes.rows(), w.cols(), "decodeLossGradient grad");
        decode(codes, w, bias, xHat);
        float[] t = target.data();
        float[] xh = xHat.data();
        float[] g = grad.data();
        double sse = 0;
        for (int i = 0, n = codes.rows() * w.cols(); i < n; i++) {
            float e = xh[i] - t[i];
            sse += (double) e * e;
            g[i] = scale * e;
        }
        gatherDots(codes, grad, w, dValues);
        return sse;
    }

    /**
     * {@link #rowCombination}{@code (combineCoef, w, combineOut)} on {@code w} as it is before the step, then
     * {@link #sparseRowAdam}: the TopK step needs both (the encoder input's share of the {@code bDec} gradient, then the
     * encoder update), and fast backends read each row once for the two.
     */
    default void sparseRowAdamAfterCombination(FloatMatrix w, float[] m, float[] v, AdamStep step, boolean unitRows,
                                               float[] combineCoef, float[] combineOut, RowGradientSource... sources) {
        rowCombination(combineCoef, w, combineOut);
        sparseRowAdam(w, m, v, step, unitRows, sources);
    }

    /**
     * Fused sparse gradient and optimiser step for a latent-major matrix {@code w [numLatents, d]}: for every row j,
     * {@code g_j = Σ_sources Σ_{p: latent j} coef[p]·(src[row p] − shift)}; with {@code unitRows} the component of
     * {@code g_j} parallel to {@code w_j} is removed first; then one Adam step updates {@code w_j}, {@code m_j},
     * {@code v_j}; with {@code unitRows} the row is renormalised after it ({@code w / (‖w‖ + eps)}). Rows no entry
     * touches still take their Adam step with a zero gradient. Equivalent to {@link #scatterOuter} into a zeroed
     * gradient, {@link #removeParallelComponent}, {@link #adam} and {@link #normalizeRows}, which is the default;
     * fast backends never materialise the gradient matrix.
     */
    default void sparseRowAdam(FloatMatrix w, float[] m, float[] v, AdamStep step, boolean unitRows, RowGradientSource... sources) {
        FloatMatrix g = new FloatMatrix(w.rows(), w.cols());
        for (RowGradientSource s : sources) {
            scatterOuter(s.codes(), s.coef(), s.src(), s.shift(), g, null);
        }
        if (unitRows) {
            removeParallelComponent(w, g);
        }
        adam(w.data(), g.data(), m, v, w.size(), step);
        if (unitRows) {
            normalizeRows(w);
        }
    }

    /** {@code out = Σ_j coef[j]·w[j]} over the rows of {@code w} (a dense {@code wᵀ·coef}). */
    default void rowCombination(float[] coef, FloatMatrix w, float[] out) {
        Shapes.checkLength(coef, w.rows(), "rowCombination coef");
        Shapes.checkLength(out, w.cols(), "rowCombination out");
        int d = w.cols();
        double[] acc = new double[d];
        for (int j = 0; j < w.rows(); j++) {
            double c = coef[j];
            if (c != 0) {
                for (int i = 0; i < d; i++) {
                    acc[i] += c * w.data()[j * d + i];
                }
            }
        }
        for (int i = 0; i < d; i++) {
            out[i] = (float) acc[i];
        }
    }

    /** Dense {@code c = a · b^T} for {@code a [m, k]}, {@code b [n, k]}, {@code c [m, n]}. */
    void matmulNT(FloatMatrix a, FloatMatrix b, FloatMatrix c);

    /** One Adam step (PyTorch semantics, bias-corrected) over the first n elements of the arrays. */
    void adam(float[] param, float[] grad, float[] m, float[] v, int n, AdamStep step);

    /**
     * {@link #adam} on some rows of a row-major parameter only: the rows {@code rows[0..count)} (distinct), each of
     * {@code rowLength} elements; every other row and its moments stay as they are (lazy Adam). The default gathers the
     * rows, steps them with {@link #adam} and scatters them back.
     */
    default void adamRows(float[] param, float[] grad, float[] m, float[] v, int rowLength, int[] rows, int count, AdamStep step) {
        Shapes.checkAdamRows(param, grad, m, v, rowLength, rows, count);
        int n = count * rowLength;
        float[][] packed = new float[4][n];
        float[][] full = {param, grad, m, v};
        for (int i = 0; i < count; i++) {
            for (int a = 0; a < 4; a++) {
                System.arraycopy(full[a], rows[i] * rowLength, packed[a], i * rowLength, rowLength);
            }
        }
        adam(packed[0], packed[1], packed[2], packed[3], n, step);
        int[] stepped = {0, 2, 3};
        for (int i = 0; i < count; i++) {
            for (int a : stepped) {
                System.arraycopy(packed[a], i * rowLength, full[a], rows[i] * rowLength, rowLength);
            }
        }
    }

    /** Removes from every row of {@code grad} its component parallel to the same row of {@code w}. */
    void removeParallelComponent(FloatMatrix w, FloatMatrix grad);

    /** Scales every row of {@code w} to unit norm ({@code w / (‖w‖ + eps)}, eps = float32 epsilon). */
    void normalizeRows(FloatMatrix w);

    @Override
    void close();
}
