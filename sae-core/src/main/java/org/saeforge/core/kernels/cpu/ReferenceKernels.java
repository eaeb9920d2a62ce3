package org.saeforge.core.kernels.cpu;

import java.util.Arrays;
import java.util.Comparator;
import org.saeforge.core.kernels.AdamStep;
import org.saeforge.core.kernels.AuxSelection;
import org.saeforge.core.kernels.Kernels;
import org.saeforge.core.kernels.Shapes;
import org.saeforge.core.model.Architecture;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.core.tensor.SparseCodes;

/**
 * The oracle: plain loops, double accumulation, one thread, no cleverness. Every fast kernel is tested against
 * it; it is also the {@code --device cpu-ref} backend.
 */
public final class ReferenceKernels implements Kernels {

    @Override
    public String name() {
        return "cpu-ref";
    }

    @Override
    public int threads() {
        return 1;
    }

    /** Pre-activations of one row in double: {@code (x[r] - bDec) · wEncT[j] + bEnc[j]}. */
    public static double[] preActivations(FloatMatrix x, int r, SparseAutoencoder sae) {
        int n = sae.numLatents();
        int d = sae.dIn();
        float[] xs = x.data();
        int xo = x.offset(r);
        boolean sub = sae.config().applyBDecToInput();
        float[] bDec = sae.bDec();
        float[] w = sae.wEncT().data();
        double[] xc = new double[d];
        for (int i = 0; i < d; i++) {
            xc[i] = sub ? (double) xs[xo + i] - bDec[i] : xs[xo + i];
        }
        double[] pre = new double[n];
        for (int j = 0; j < n; j++) {
            double s = sae.bEnc()[j];
            int wo = j * d;
            for (int i = 0; i < d; i++) {
                s += xc[i] * w[wo + i];
            }
            pre[j] = s;
        }
        return pre;
    }

    /** Indices of the k largest values (ties to the lower index), largest first. */
    public static int[] topKIndices(double[] v, int[] candidates, int k) {
        Integer[] order = new Integer[candidates.length];
        for (int i = 0; i < order.length; i++) {
            order[i] = candidates[i];
        }
        Arrays.sort(order, Comparator.<Integer>comparingDouble(j -> -v[j]).thenComparingInt(j -> j));
        int[] out = new int[k];
        for (int i = 0; i < k; i++) {
            out[i] = order[i];
        }
        return out;
    }

    @Override
    public void encode(FloatMatrix x, SparseAutoencoder sae, SparseCodes out, AuxSelection aux) {
        Shapes.checkEncode(x, sae, out, aux);
        Architecture arch = sae.config().architecture();
        int rows = x.rows();
        int n = sae.numLatents();
        int[] all = new int[n];
        for (int j = 0; j < n; j++) {
            all[j] = j;
        }
        if (arch.usesK()) {
            out.setFixedK(rows, sae.config().k());
        } else {
            out.reset(rows);
        }
        if (aux != null) {
            aux.out().setFixedK(rows, aux.kAux());
        }
        int[] dead = aux == null ? null : Arrays.copyOf(aux.deadIds(), aux.numDead());
        int nnz = 0;
        for (int r = 0; r < rows; r++) {
            double[] pre = preActivations(x, r, sae);
            if (arch.usesK()) {
                int k = sae.config().k();
                int[] top = topKIndices(pre, all, k);
                for (int i = 0; i < k; i++) {
                    out.indices()[r * k + i] = top[i];
                    out.values()[r * k + i] = (float) Math.max(0.0, pre[top[i]]);
                }
            } else {
                for (int j = 0; j < n; j++) {
                    double t = arch == Architecture.RELU ? 0.0 : sae.threshold()[j];
                    if (pre[j] > t && pre[j] > 0) {
                        out.ensureCapacity(nnz + 1);
                        out.indices()[nnz] = j;
                        out.values()[nnz] = (float) pre[j];
                        nnz++;
                    }
                }
                out.setRowEnd(r, nnz);
            }
            if (aux != null) {
                int ka = aux.kAux();
                int[] top = topKIndices(pre, dead, ka);
                for (int i = 0; i < ka; i++) {
                    aux.out().indices()[r * ka + i] = top[i];
                    aux.out().values()[r * ka + i] = (float) Math.max(0.0, pre[top[i]]);
                }
            }
        }
    }

    /** Every positive pre-activation of the batch computed in double, sorted, the first kTotal kept. */
    @Override
    public void encodeBatchTopK(FloatMatrix x, SparseAutoencoder sae, int kTotal, SparseCodes out, AuxSelection aux) {
        x.requireCols(sae.dIn(), "encodeBatchTopK input x");
        if (kTotal < 1 || out.numLatents() != sae.numLatents()) {
            throw new IllegalArgumentException("encodeBatchTopK: kTotal " + kTotal + ", output latents " + out.numLatents()
                    + ", SAE latents " + sae.numLatents());
        }
        int rows = x.rows();
        int n = sae.numLatents();
        if (aux != null) {
            aux.out().setFixedK(rows, aux.kAux());
        }
        int[] dead = aux == null ? null : Arrays.copyOf(aux.deadIds(), aux.numDead());
        java.util.List<double[]> entries = new java.util.ArrayList<>();
        for (int r = 0; r < rows; r++) {
            double[] pre = preActivations(x, r, sae);
            for (int j = 0; j < n; j++) {
                if (pre[j] > 0) {
                    entries.add(new double[] {pre[j], r, j});
                }
            }
            if (aux != null) {
                int ka = aux.kAux();
                int[] top = topKIndices(pre, dead, ka);
                for (int i = 0; i < ka; i++) {
                    aux.out().indices()[r * ka + i] = top[i];
                    aux.out().values()[r * ka + i] = (float) Math.max(0.0, pre[top[i]]);
                }
            }
        }
        entries.sort(Comparator.<double[]>comparingDouble(e -> -e[0]).thenComparingDouble(e -> e[1]).thenComparingDouble(e -> e[2]));
        java.util.List<double[]> kept = new java.util.ArrayList<>(entries.subList(0, Math.min(kTotal, entries.size())));
        kept.sort(Comparator.<double[]>comparingDouble(e -> e[1]).thenComparingDouble(e -> e[2]));
        out.reset(rows);
        out.ensureCapacity(kept.size());
        int p = 0;
        for (int r = 0; r < rows; r++) {
            while (p < kept.size() && kept.get(p)[1] == r) {
                out.indices()[p] = (int) kept.get(p)[2];
                out.values()[p] = (float) kept.get(p)[0];
                p++;
            }
            out.setRowEnd(r, p);
        }
    }

    @Override
    public void decode(SparseCodes codes, FloatMatrix w, float[] bias, FloatMatrix out) {
        Shapes.checkDecode(codes, w, bias, out);
        int d = w.cols();
        double[] acc = new double[d];
        for (int r = 0; r < codes.rows(); r++) {
            for (int i = 0; i < d; i++) {
                acc[i] = bias == null ? 0.0 : bias[i];
            }
            for (int p = codes.rowStart(r); p < codes.rowEnd(r); p++) {
                double val = codes.values()[p];
                int wo = codes.indices()[p] * d;
                for (int i = 0; i < d; i++) {
                    acc[i] += val * w.data()[wo + i];
                }
            }
            for (int i = 0; i < d; i++) {
                out.set(r, i, (float) acc[i]);
            }
        }
    }

    @Override
    public void gatherDots(SparseCodes codes, FloatMatrix dOut, FloatMatrix w, float[] dValues) {
        Shapes.checkGatherDots(codes, dOut, w, dValues);
        int d = w.cols();
        for (int r = 0; r < codes.rows(); r++) {
            for (int p = codes.rowStart(r); p < codes.rowEnd(r); p++) {
                int wo = codes.indices()[p] * d;
                double s = 0;
                for (int i = 0; i < d; i++) {
                    s += (double) dOut.get(r, i) * w.data()[wo + i];
                }
                dValues[p] = (float) s;
            }
        }
    }

    @Override
    public void scatterOuter(SparseCodes codes, float[] coef, FloatMatrix src, float[] shift, FloatMatrix dW, float[] dBias) {
        Shapes.checkScatterOuter(codes, coef, src, shift, dW, dBias);
        int n = dW.rows();
        int d = dW.cols();
        // Accumulate per latent in double, then add once: the order of summation cannot matter here.
        double[][] accW = new double[n][];
        double[] accB = new double[n];
        for (int r = 0; r < codes.rows(); r++) {
            for (int p = codes.rowStart(r); p < codes.rowEnd(r); p++) {
                int j = codes.indices()[p];
                double c = coef[p];
                if (accW[j] == null) {
                    accW[j] = new double[d];
                }
                for (int i = 0; i < d; i++) {
                    double s = src.get(r, i) - (shift == null ? 0.0 : shift[i]);
                    accW[j][i] += c * s;
                }
                accB[j] += c;
            }
        }
        for (int j = 0; j < n; j++) {
            if (accW[j] == null) {
                continue;
            }
            for (int i = 0; i < d; i++) {
                dW.set(j, i, (float) (dW.get(j, i) + accW[j][i]));
            }
            if (dBias != null) {
                dBias[j] = (float) (dBias[j] + accB[j]);
            }
        }
    }

    @Override
    public void matmulNT(FloatMatrix a, FloatMatrix b, FloatMatrix c) {
        Shapes.checkMatmulNT(a, b, c);
        int k = a.cols();
        for (int i = 0; i < a.rows(); i++) {
            for (int j = 0; j < b.rows(); j++) {
                double s = 0;
                for (int t = 0; t < k; t++) {
                    s += (double) a.get(i, t) * b.get(j, t);
                }
                c.set(i, j, (float) s);
            }
        }
    }

    @Override
    public void adam(float[] param, float[] grad, float[] m, float[] v, int n, AdamStep step) {
        Shapes.checkAdam(param, grad, m, v, n);
        adamRange(param, grad, m, v, 0, n, step);
    }

    @Override
    public void adamRows(float[] param, float[] grad, float[] m, float[] v, int rowLength, int[] rows, int count, AdamStep step) {
        Shapes.checkAdamRows(param, grad, m, v, rowLength, rows, count);
        for (int i = 0; i < count; i++) {
            adamRange(param, grad, m, v, rows[i] * rowLength, rowLength, step);
        }
    }

    private static void adamRange(float[] param, float[] grad, float[] m, float[] v, int from, int n, AdamStep step) {
        double b1 = step.beta1();
        double b2 = step.beta2();
        double stepSize = step.stepSize();
        double bc2 = step.sqrtBiasCorrection2();
        for (int i = from; i < from + n; i++) {
            double g = grad[i];
            double mi = b1 * m[i] + (1 - b1) * g;
            double vi = b2 * v[i] + (1 - b2) * g * g;
            m[i] = (float) mi;
            v[i] = (float) vi;
            param[i] = (float) (param[i] - stepSize * mi / (Math.sqrt(vi) / bc2 + step.eps()));
        }
    }

    @Override
    public void removeParallelComponent(FloatMatrix w, FloatMatrix grad) {
        grad.requireShape(w.rows(), w.cols(), "removeParallelComponent grad");
        for (int r = 0; r < w.rows(); r++) {
            double dot = 0;
            for (int i = 0; i < w.cols(); i++) {
                dot += (double) grad.get(r, i) * w.get(r, i);
            }
            for (int i = 0; i < w.cols(); i++) {
                grad.set(r, i, (float) (grad.get(r, i) - dot * w.get(r, i)));
            }
        }
    }

    @Override
    public void normalizeRows(FloatMatrix w) {
        for (int r = 0; r < w.rows(); r++) {
            double ss = 0;
            for (int i = 0; i < w.cols(); i++) {
                ss += (double) w.get(r, i) * w.get(r, i);
            }
            double scale = 1.0 / (Math.sqrt(ss) + Math.ulp(1.0f));
            for (int i = 0; i < w.cols(); i++) {
                w.set(r, i, (float) (w.get(r, i) * scale));
            }
        }
    }

    @Override
    public void close() {
        // nothing owned
    }
}
