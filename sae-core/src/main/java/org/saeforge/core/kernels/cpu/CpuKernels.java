package org.saeforge.core.kernels.cpu;

import jdk.incubator.vector.FloatVector;
import org.saeforge.core.kernels.AdamStep;
import org.saeforge.core.kernels.AuxSelection;
import org.saeforge.core.kernels.Kernels;
import org.saeforge.core.kernels.Shapes;
import org.saeforge.core.model.Architecture;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.core.tensor.SparseCodes;

/**
 * The fast CPU backend: the dense encoder product through {@link DenseGemm} (OpenBLAS, or the Java fallback),
 * everything sparse in Vector API loops on a {@link WorkerPool} owned by this object.
 *
 * <p>Only the encoder product is O(batch·dIn·numLatents); it is computed in row chunks of at most
 * {@value #CHUNK_FLOATS} floats so that the pre-activation matrix is never materialised whole. Results do not depend
 * on the thread count: every row and every latent is reduced in a fixed order.
 */
public final class CpuKernels implements Kernels {
    /** Upper bound on the floats of one chunk of pre-activations (128 MiB). */
    static final int CHUNK_FLOATS = 1 << 25;

    private final WorkerPool pool;
    private final DenseGemm gemm;
    private final TopKSelector[] selectors;
    private final float[][] rowScratch;
    private final float[][] auxScratch;
    private final VarCodesBuffer[] varBuffers;
    private float[] xcBuf = new float[0];
    private int[] latentCounts = new int[0];
    private int[] latentStart = new int[0];
    private int[] entryOrder = new int[0];
    private int[] entryRow = new int[0];

    /** CPU kernels on {@code threads} workers with the fastest GEMM available. */
    public CpuKernels(int threads) {
        this(threads, false);
    }

    private CpuKernels(int threads, boolean javaGemm) {
        this.pool = new WorkerPool(threads);
        this.gemm = javaGemm ? new VectorGemm(pool) : DenseGemm.create(pool);
        this.selectors = new TopKSelector[threads];
        this.rowScratch = new float[threads][];
        this.auxScratch = new float[threads][];
        this.varBuffers = new VarCodesBuffer[threads];
        for (int t = 0; t < threads; t++) {
            selectors[t] = new TopKSelector();
            rowScratch[t] = new float[0];
            auxScratch[t] = new float[0];
            varBuffers[t] = new VarCodesBuffer();
        }
    }

    /** CPU kernels that use the pure-Java Vector API GEMM even when OpenBLAS is available (tests, benchmarks). */
    public static CpuKernels withJavaGemm(int threads) {
        return new CpuKernels(threads, true);
    }

    @Override
    public String name() {
        return "cpu";
    }

    @Override
    public int threads() {
        return pool.threads();
    }

    /** The dense GEMM in use, e.g. {@code openblas(SkylakeX)} or {@code java-vector(512)}. */
    public String gemmName() {
        return gemm.name();
    }

    @Override
    public void encode(FloatMatrix x, SparseAutoencoder sae, SparseCodes out, AuxSelection aux) {
        Shapes.checkEncode(x, sae, out, aux);
        int rows = x.rows();
        int d = sae.dIn();
        int n = sae.numLatents();
        Architecture arch = sae.config().architecture();
        boolean fixedK = arch.usesK();
        if (fixedK) {
            out.setFixedK(rows, sae.config().k());
        } else {
            out.reset(rows);
        }
        if (aux != null) {
            aux.out().setFixedK(rows, aux.kAux());
        }
        for (int t = 0; t < rowScratch.length; t++) {
            if (rowScratch[t].length < n) {
                rowScratch[t] = new float[n];
            }
            if (aux != null && auxScratch[t].length < aux.numDead()) {
                auxScratch[t] = new float[aux.numDead()];
            }
        }
        gemm.prepareB(sae.wEncT().data(), n, d);
        int chunk = Math.max(1, Math.min(rows, CHUNK_FLOATS / n));
        if (xcBuf.length < chunk * d) {
            xcBuf = new float[chunk * d];
        }
        float[] bDec = sae.config().applyBDecToInput() ? sae.bDec() : null;
        int nnz = 0;
        for (int c0 = 0; c0 < rows; c0 += chunk) {
            int m = Math.min(chunk, rows - c0);
            int base = c0;
            float[] xs = x.data();
            if (bDec != null) {
                pool.forEach(m, (w, s, e) -> {
                    for (int r = s; r < e; r++) {
                        VectorMath.sub(xs, (base + r) * d, bDec, xcBuf, r * d, d);
                    }
                });
            } else {
                System.arraycopy(xs, base * d, xcBuf, 0, m * d);
            }
            DenseGemm.Product pre = gemm.multiply(xcBuf, m);
            if (fixedK) {
                int k = sae.config().k();
                pool.forEach(m, (w, s, e) -> {
                    float[] row = rowScratch[w];
                    for (int r = s; r < e; r++) {
                        int gr = base + r;
                        pre.copyRow(r, row, 0);
                        VectorMath.addInPlace(row, 0, sae.bEnc(), n);
                        selectors[w].select(row, n, k, null, out.indices(), out.values(), gr * k);
                        if (aux != null) {
                            selectAux(w, row, aux, gr);
                        }
                    }
                });
            } else {
                float[] thr = arch == Architecture.RELU ? null : sae.threshold();
                pool.forEach(m, (w, s, e) -> {
                    float[] row = rowScratch[w];
                    VarCodesBuffer buf = varBuffers[w];
                    buf.clear(s, e);
                    for (int r = s; r < e; r++) {
                        pre.copyRow(r, row, 0);
                        VectorMath.addInPlace(row, 0, sae.bEnc(), n);
                        buf.addRow(row, n, thr);
                    }
                });
                nnz = appendVariable(out, base, m, nnz);
            }
        }
    }

    private void selectAux(int w, float[] row, AuxSelection aux, int r) {
        int[] dead = aux.deadIds();
        float[] vals = auxScratch[w];
        int numDead = aux.numDead();
        for (int i = 0; i < numDead; i++) {
            vals[i] = row[dead[i]];
        }
        int ka = aux.kAux();
        selectors[w].select(vals, numDead, ka, dead, aux.out().indices(), aux.out().values(), r * ka);
    }

    /** Copies the per-worker variable-length rows of one chunk into out, in row order; returns the new nnz. */
    private int appendVariable(SparseCodes out, int base, int m, int nnz) {
        int parts = Math.min(pool.threads(), m);
        for (int w = 0; w < parts; w++) {
            VarCodesBuffer buf = varBuffers[w];
            out.ensureCapacity(nnz + buf.size());
            System.arraycopy(buf.indices(), 0, out.indices(), nnz, buf.size());
            System.arraycopy(buf.values(), 0, out.values(), nnz, buf.size());
            for (int r = buf.firstRow(); r < buf.endRow(); r++) {
                out.setRowEnd(base + r, nnz + buf.rowEnd(r));
            }
            nnz += buf.size();
        }
        return nnz;
    }

    @Override
    public void decode(SparseCodes codes, FloatMatrix w, float[] bias, FloatMatrix out) {
        Shapes.checkDecode(codes, w, bias, out);
        int d = w.cols();
        float[] wd = w.data();
        float[] od = out.data();
        int[] idx = codes.indices();
        float[] val = codes.values();
        pool.forEach(codes.rows(), (t, s, e) -> {
            for (int r = s; r < e; r++) {
                int oo = r * d;
                if (bias == null) {
                    java.util.Arrays.fill(od, oo, oo + d, 0f);
                } else {
                    System.arraycopy(bias, 0, od, oo, d);
                }
                for (int p = codes.rowStart(r), end = codes.rowEnd(r); p < end; p++) {
                    if (val[p] != 0f) {
                        VectorMath.axpy(val[p], wd, idx[p] * d, od, oo, d);
                    }
                }
            }
        });
    }

    @Override
    public double decodeLossGradient(SparseCodes codes, FloatMatrix w, float[] bias, FloatMatrix target, float scale,
                                     FloatMatrix xHat, FloatMatrix grad, float[] dValues) {
        Shapes.checkDecode(codes, w, bias, xHat);
        target.requireShape(codes.rows(), w.cols(), "decodeLossGradient target");
        grad.requireShape(codes.rows(), w.cols(), "decodeLossGradient grad");
        Shapes.checkLength(dValues, codes.nnz(), "decodeLossGradient dValues");
        int d = w.cols();
        float[] wd = w.data();
        float[] td = target.data();
        float[] od = xHat.data();
        float[] gd = grad.data();
        int[] idx = codes.indices();
        float[] val = codes.values();
        int rows = codes.rows();
        int parts = Math.max(1, Math.min(pool.threads(), rows));
        double[] partial = new double[parts];
        // Per row: the k decoder rows read for the decode are still in cache for the dot products right after.
        pool.forEach(rows, (t, s, e) -> {
            double sse = 0;
            for (int r = s; r < e; r++) {
                int oo = r * d;
                if (bias == null) {
                    java.util.Arrays.fill(od, oo, oo + d, 0f);
                } else {
                    System.arraycopy(bias, 0, od, oo, d);
                }
                int start = codes.rowStart(r);
                int end = codes.rowEnd(r);
                for (int p = start; p < end; p++) {
                    if (val[p] != 0f) {
                        VectorMath.axpy(val[p], wd, idx[p] * d, od, oo, d);
                    }
                }
                sse += VectorMath.scaledDifference(od, td, oo, scale, gd, d);
                for (int p = start; p < end; p++) {
                    dValues[p] = VectorMath.dot(gd, oo, wd, idx[p] * d, d);
                }
            }
            partial[t] = sse;
        });
        double total = 0;
        for (double v : partial) {
            total += v;
        }
        return total;
    }

    @Override
    public void gatherDots(SparseCodes codes, FloatMatrix dOut, FloatMatrix w, float[] dValues) {
        Shapes.checkGatherDots(codes, dOut, w, dValues);
        int d = w.cols();
        float[] wd = w.data();
        float[] gd = dOut.data();
        int[] idx = codes.indices();
        pool.forEach(codes.rows(), (t, s, e) -> {
            for (int r = s; r < e; r++) {
                for (int p = codes.rowStart(r), end = codes.rowEnd(r); p < end; p++) {
                    dValues[p] = VectorMath.dot(gd, r * d, wd, idx[p] * d, d);
                }
            }
        });
    }

    @Override
    public void scatterOuter(SparseCodes codes, float[] coef, FloatMatrix src, float[] shift, FloatMatrix dW, float[] dBias) {
        Shapes.checkScatterOuter(codes, coef, src, shift, dW, dBias);
        int n = dW.rows();
        int d = dW.cols();
        groupByLatent(codes);
        int[] start = latentStart;
        int[] order = entryOrder;
        int[] rowOf = entryRow;
        float[] sd = src.data();
        float[] wd = dW.data();
        // Each latent's row of dW is owned by one worker: no races, and a fixed summation order (ascending rows).
        pool.forEachBalanced(n, start, (t, s, e) -> {
            for (int j = s; j < e; j++) {
                int from = start[j];
                int to = start[j + 1];
                if (from == to) {
                    continue;
                }
                float coefSum = 0f;
                int wo = j * d;
                for (int q = from; q < to; q++) {
                    float c = coef[order[q]];
                    coefSum += c;
                    if (c != 0f) {
                        VectorMath.axpy(c, sd, rowOf[q] * d, wd, wo, d);
                    }
                }
                if (shift != null && coefSum != 0f) {
                    VectorMath.axpy(-coefSum, shift, 0, wd, wo, d);
                }
                if (dBias != null) {
                    dBias[j] += coefSum;
                }
            }
        });
    }

    /** Counting sort of the entries by latent (stable: ascending row within a latent). */
    private void groupByLatent(SparseCodes codes) {
        int n = codes.numLatents();
        int nnz = codes.nnz();
        if (latentCounts.length < n) {
            latentCounts = new int[n];
        }
        if (latentStart.length < n + 1) {
            latentStart = new int[n + 1];
        }
        if (entryOrder.length < nnz) {
            entryOrder = new int[nnz];
            entryRow = new int[nnz];
        }
        java.util.Arrays.fill(latentCounts, 0, n, 0);
        int[] idx = codes.indices();
        for (int p = 0; p < nnz; p++) {
            latentCounts[idx[p]]++;
        }
        latentStart[0] = 0;
        for (int j = 0; j < n; j++) {
            latentStart[j + 1] = latentStart[j] + latentCounts[j];
            latentCounts[j] = latentStart[j];
        }
        for (int r = 0; r < codes.rows(); r++) {
            for (int p = codes.rowStart(r), end = codes.rowEnd(r); p < end; p++) {
                int q = latentCounts[idx[p]]++;
                entryOrder[q] = p;
                entryRow[q] = r;
            }
        }
    }

    @Override
    public void matmulNT(FloatMatrix a, FloatMatrix b, FloatMatrix c) {
        Shapes.checkMatmulNT(a, b, c);
        int m = a.rows();
        int n = b.rows();
        int k = a.cols();
        if (m == 0 || n == 0) {
            return;
        }
        if (k == 0) {
            c.fill(0f);
            return;
        }
        gemm.prepareB(b.data(), n, k);
        int chunk = Math.max(1, Math.min(m, CHUNK_FLOATS / n));
        float[] cd = c.data();
        for (int r0 = 0; r0 < m; r0 += chunk) {
            int rowsHere = Math.min(chunk, m - r0);
            float[] aChunk = r0 == 0 ? a.data() : java.util.Arrays.copyOfRange(a.data(), r0 * k, (r0 + rowsHere) * k);
            DenseGemm.Product p = gemm.multiply(aChunk, rowsHere);
            int base = r0;
            pool.forEach(rowsHere, (t, s, e) -> {
                for (int r = s; r < e; r++) {
                    p.copyRow(r, cd, (base + r) * n);
                }
            });
        }
    }

    @Override
    public void adam(float[] param, float[] grad, float[] m, float[] v, int n, AdamStep step) {
        Shapes.checkAdam(param, grad, m, v, n);
        float b1 = step.beta1();
        float b2 = step.beta2();
        float stepSize = (float) step.stepSize();
        float invBc2 = (float) (1.0 / step.sqrtBiasCorrection2());
        float eps = step.eps();
        int l = VectorMath.L;
        pool.forEach(n, (t, s, e) -> {
            FloatVector vb1 = FloatVector.broadcast(VectorMath.S, b1);
            FloatVector vb1c = FloatVector.broadcast(VectorMath.S, 1 - b1);
            FloatVector vb2 = FloatVector.broadcast(VectorMath.S, b2);
            FloatVector vb2c = FloatVector.broadcast(VectorMath.S, 1 - b2);
            FloatVector vStep = FloatVector.broadcast(VectorMath.S, stepSize);
            FloatVector vInv = FloatVector.broadcast(VectorMath.S, invBc2);
            FloatVector vEps = FloatVector.broadcast(VectorMath.S, eps);
            int i = s;
            for (; i <= e - l; i += l) {
                FloatVector g = FloatVector.fromArray(VectorMath.S, grad, i);
                FloatVector mi = FloatVector.fromArray(VectorMath.S, m, i).mul(vb1).add(g.mul(vb1c));
                FloatVector vi = FloatVector.fromArray(VectorMath.S, v, i).mul(vb2).add(g.mul(g).mul(vb2c));
                mi.intoArray(m, i);
                vi.intoArray(v, i);
                FloatVector denom = vi.sqrt().mul(vInv).add(vEps);
                FloatVector.fromArray(VectorMath.S, param, i).sub(mi.mul(vStep).div(denom)).intoArray(param, i);
            }
            for (; i < e; i++) {
                float g = grad[i];
                float mi = b1 * m[i] + (1 - b1) * g;
                float vi = b2 * v[i] + (1 - b2) * g * g;
                m[i] = mi;
                v[i] = vi;
                param[i] -= stepSize * mi / ((float) Math.sqrt(vi) * invBc2 + eps);
            }
        });
    }

    @Override
    public void removeParallelComponent(FloatMatrix w, FloatMatrix grad) {
        grad.requireShape(w.rows(), w.cols(), "removeParallelComponent grad");
        int d = w.cols();
        float[] wd = w.data();
        float[] gd = grad.data();
        pool.forEach(w.rows(), (t, s, e) -> {
            for (int r = s; r < e; r++) {
                float dot = VectorMath.dot(gd, r * d, wd, r * d, d);
                if (dot != 0f) {
                    VectorMath.axpy(-dot, wd, r * d, gd, r * d, d);
                }
            }
        });
    }

    @Override
    public void normalizeRows(FloatMatrix w) {
        int d = w.cols();
        float[] wd = w.data();
        float eps = Math.ulp(1.0f);
        pool.forEach(w.rows(), (t, s, e) -> {
            for (int r = s; r < e; r++) {
                float norm = (float) Math.sqrt(VectorMath.sumSquares(wd, r * d, d));
                VectorMath.scale(wd, r * d, 1f / (norm + eps), d);
            }
        });
    }

    @Override
    public void close() {
        gemm.close();
        pool.close();
    }
}
