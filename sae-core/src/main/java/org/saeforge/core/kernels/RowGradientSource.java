package org.saeforge.core.kernels;

import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.core.tensor.SparseCodes;

/**
 * One sparse contribution to the gradient of a latent-major matrix: row j receives
 * {@code Σ coef[p]·(src[row(p)] − shift)} over the entries p of {@code codes} whose latent is j ({@code shift} may be
 * null). The decoder gradient of a batch is (codes, code values, dL/dx̂, null); the encoder gradient is
 * (codes, dL/dpre, x, bDec).
 */
public record RowGradientSource(SparseCodes codes, float[] coef, FloatMatrix src, float[] shift) {
}
