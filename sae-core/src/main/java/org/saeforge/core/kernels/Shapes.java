package org.saeforge.core.kernels;

import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.core.tensor.SparseCodes;

/** Shape checks shared by every {@link Kernels} implementation, run before any work. */
public final class Shapes {
    private Shapes() {
    }

    public static void checkEncode(FloatMatrix x, SparseAutoencoder sae, SparseCodes out, AuxSelection aux) {
        x.requireCols(sae.dIn(), "encode input x");
        if (out.numLatents() != sae.numLatents()) {
            throw new IllegalArgumentException("encode output has " + out.numLatents() + " latents, SAE has " + sae.numLatents());
        }
        if (aux != null) {
            if (!sae.config().architecture().usesK()) {
                throw new IllegalArgumentException("AuxK selection needs a TopK SAE, got " + sae.config().architecture().cliName());
            }
            if (aux.out().numLatents() != sae.numLatents()) {
                throw new IllegalArgumentException("AuxK output has " + aux.out().numLatents() + " latents, SAE has " + sae.numLatents());
            }
            if (aux.deadIds().length > 0 && aux.deadIds()[aux.numDead() - 1] >= sae.numLatents()) {
                throw new IllegalArgumentException("dead latent id " + aux.deadIds()[aux.numDead() - 1] + " >= numLatents " + sae.numLatents());
            }
        }
    }

    public static void checkCodesRows(SparseCodes codes, FloatMatrix m, String what) {
        if (codes.rows() != m.rows()) {
            throw new IllegalArgumentException(what + ": codes have " + codes.rows() + " rows, matrix [" + m.rows() + " x " + m.cols() + "]");
        }
    }

    public static void checkLatentMatrix(SparseCodes codes, FloatMatrix w, String what) {
        if (w.rows() != codes.numLatents()) {
            throw new IllegalArgumentException(what + ": [" + w.rows() + " x " + w.cols() + "] does not have one row per latent ("
                    + codes.numLatents() + ")");
        }
    }

    public static void checkLength(float[] a, int n, String what) {
        if (a != null && a.length < n) {
            throw new IllegalArgumentException(what + ": length " + a.length + " < " + n);
        }
    }

    public static void checkDecode(SparseCodes codes, FloatMatrix w, float[] bias, FloatMatrix out) {
        checkLatentMatrix(codes, w, "decode weights");
        out.requireShape(codes.rows(), w.cols(), "decode output");
        if (bias != null && bias.length != w.cols()) {
            throw new IllegalArgumentException("decode bias length " + bias.length + " != " + w.cols());
        }
    }

    public static void checkGatherDots(SparseCodes codes, FloatMatrix dOut, FloatMatrix w, float[] dValues) {
        checkLatentMatrix(codes, w, "gatherDots weights");
        dOut.requireShape(codes.rows(), w.cols(), "gatherDots dOut");
        checkLength(dValues, codes.nnz(), "gatherDots dValues");
    }

    public static void checkScatterOuter(SparseCodes codes, float[] coef, FloatMatrix src, float[] shift, FloatMatrix dW,
                                         float[] dBias) {
        checkLatentMatrix(codes, dW, "scatterOuter dW");
        src.requireShape(codes.rows(), dW.cols(), "scatterOuter src");
        checkLength(coef, codes.nnz(), "scatterOuter coef");
        if (shift != null && shift.length != dW.cols()) {
            throw new IllegalArgumentException("scatterOuter shift length " + shift.length + " != " + dW.cols());
        }
        if (dBias != null && dBias.length != dW.rows()) {
            throw new IllegalArgumentException("scatterOuter dBias length " + dBias.length + " != " + dW.rows());
        }
    }

    public static void checkMatmulNT(FloatMatrix a, FloatMatrix b, FloatMatrix c) {
        if (a.cols() != b.cols()) {
            throw new IllegalArgumentException("matmulNT: a [" + a.rows() + " x " + a.cols() + "] and b [" + b.rows() + " x "
                    + b.cols() + "] differ in the inner dimension");
        }
        c.requireShape(a.rows(), b.rows(), "matmulNT output");
    }

    public static void checkAdam(float[] param, float[] grad, float[] m, float[] v, int n) {
        if (n < 0 || param.length < n || grad.length < n || m.length < n || v.length < n) {
            throw new IllegalArgumentException("adam: arrays shorter than n=" + n);
        }
    }

    /** The operands of {@link Kernels#adamRows}: equal-length arrays of whole rows, and {@code count} listed rows inside them. */
    public static void checkAdamRows(float[] param, float[] grad, float[] m, float[] v, int rowLength, int[] rows, int count) {
        if (rowLength <= 0 || param.length % rowLength != 0) {
            throw new IllegalArgumentException("adamRows: " + param.length + " parameters are not whole rows of " + rowLength);
        }
        checkAdam(param, grad, m, v, param.length);
        if (count < 0 || count > rows.length) {
            throw new IllegalArgumentException("adamRows: count " + count + " outside the row list of " + rows.length);
        }
        int numRows = param.length / rowLength;
        for (int i = 0; i < count; i++) {
            if (rows[i] < 0 || rows[i] >= numRows) {
                throw new IllegalArgumentException("adamRows: row " + rows[i] + " outside [0, " + numRows + ")");
            }
        }
    }
}
