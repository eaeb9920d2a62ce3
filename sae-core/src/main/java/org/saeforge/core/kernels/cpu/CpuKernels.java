package org.saeforge.core.kernels.cpu;

import org.saeforge.core.kernels.AdamStep;
import org.saeforge.core.kernels.AuxSelection;
import org.saeforge.core.kernels.Kernels;
import org.saeforge.core.kernels.RowGradientSource;
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
    static final int CHUNK_FLOATS = 1 << 26;
    /** Latents per fixed block in {@link #rowCombination}. */
    static final int ROW_BLOCK = 256;

    private final WorkerPool pool;
    private final DenseGemm gemm;
    private final TopKSelector[] selectors;
    private final float[][] rowScratch;
    private final float[][] auxScratch;
    private final VarCodesBuffer[] varBuffers;
    private float[] xcBuf = new float[0];
    private final LatentGroups[] groups = {new LatentGroups(), new LatentGroups()};
    private final float[][] gradScratch;
    private int[] combinedStart = new int[0];
    private float[] blockPartial = new float[0];

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
        this.gradScratch = new float[threads][0];
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
                        selectors[w].select(row, sae.bEnc(), n, k, null, out.indices(), out.values(), gr * k);
                        if (aux != null) {
                            selectAux(w, row, sae.bEnc(), aux, gr);
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

    private void selectAux(int w, float[] row, float[] bias, AuxSelection aux, int r) {
        int[] dead = aux.deadIds();
        float[] vals = auxScratch[w];
        int numDead = aux.numDead();
        for (int i = 0; i < numDead; i++) {
            vals[i] = row[dead[i]] + bias[dead[i]];
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
                decodeRow(val, idx, codes.rowStart(r), codes.rowEnd(r), wd, d, bias, od, r * d);
            }
        });
    }

    /** Row oo/d of a decode: {@code out = bias (or 0) + Σ_{p in [start, end)} val[p]·w[idx[p]]}. */
    private static void decodeRow(float[] val, int[] idx, int start, int end, float[] wd, int d, float[] bias, float[] out,
                                  int oo) {
        if (bias == null) {
            java.util.Arrays.fill(out, oo, oo + d, 0f);
        } else {
            System.arraycopy(bias, 0, out, oo, d);
        }
        VectorMath.axpyRows(val, idx, start, end, wd, d, out, oo, d);
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
                int start = codes.rowStart(r);
                int end = codes.rowEnd(r);
                decodeRow(val, idx, start, end, wd, d, bias, od, oo);
                sse += VectorMath.scaledDifference(od, td, oo, scale, gd, d);
                int p = start;
                for (; p + 4 <= end; p += 4) {
                    VectorMath.dot4(gd, oo, wd, idx, p, d, dValues, p);
                }
                for (; p < end; p++) {
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
        LatentGroups g = groups[0];
        g.group(codes);
        g.gatherCoefficients(coef);
        float[] sd = src.data();
        float[] wd = dW.data();
        // Each latent's row of dW is owned by one worker: no races, and a fixed summation order (ascending rows).
        pool.forEachBalanced(n, g.start, (t, s, e) -> {
            for (int j = s; j < e; j++) {
                if (g.start[j] == g.start[j + 1]) {
                    continue;
                }
                float coefSum = g.accumulate(j, sd, d, wd, j * d);
                if (shift != null && coefSum != 0f) {
                    VectorMath.axpy(-coefSum, shift, 0, wd, j * d, d);
                }
                if (dBias != null) {
                    dBias[j] += coefSum;
                }
            }
        });
    }

    @Override
    public void sparseRowAdam(FloatMatrix w, float[] m, float[] v, AdamStep step, boolean unitRows, RowGradientSource... sources) {
        sparseRowAdam(w, m, v, step, unitRows, null, null, sources);
    }

    @Override
    public void sparseRowAdamAfterCombination(FloatMatrix w, float[] m, float[] v, AdamStep step, boolean unitRows,
                                              float[] combineCoef, float[] combineOut, RowGradientSource... sources) {
        Shapes.checkLength(combineCoef, w.rows(), "rowCombination coef");
        Shapes.checkLength(combineOut, w.cols(), "rowCombination out");
        sparseRowAdam(w, m, v, step, unitRows, combineCoef, combineOut, sources);
    }

    /**
     * The fused row loop; with {@code combineCoef} it also sums {@code combineCoef[j]·w_j} (before the update) into
     * per-block partial sums that are combined exactly as {@link #rowCombination} combines them: workers own whole
     * blocks of {@value #ROW_BLOCK} rows, so the result is the same bits for any thread count.
     */
    private void sparseRowAdam(FloatMatrix w, float[] m, float[] v, AdamStep step, boolean unitRows, float[] combineCoef,
                               float[] combineOut, RowGradientSource... sources) {
        int n = w.rows();
        int d = w.cols();
        if (sources.length > groups.length) {
            throw new IllegalArgumentException("sparseRowAdam takes at most " + groups.length + " gradient sources, got " + sources.length);
        }
        Shapes.checkAdam(w.data(), w.data(), m, v, w.size());
        for (int s = 0; s < sources.length; s++) {
            RowGradientSource src = sources[s];
            Shapes.checkScatterOuter(src.codes(), src.coef(), src.src(), src.shift(), w, null);
            groups[s].group(src.codes());
            groups[s].gatherCoefficients(src.coef());
        }
        if (combinedStart.length < n + 1) {
            combinedStart = new int[n + 1];
        }
        // Balance workers by entries per latent (each an axpy) plus the dense Adam work every row takes.
        for (int j = 0; j <= n; j++) {
            int c = 4 * j;
            for (int s = 0; s < sources.length; s++) {
                c += groups[s].start[j];
            }
            combinedStart[j] = c;
        }
        for (int t = 0; t < gradScratch.length; t++) {
            if (gradScratch[t].length < d) {
                gradScratch[t] = new float[d];
            }
        }
        float[] wd = w.data();
        AdamRow adam = new AdamRow(step);
        float eps = Math.ulp(1.0f);
        float[] partial = combineCoef == null ? null : blockPartials(n, d);
        pool.forEachBalanced(n, combinedStart, ROW_BLOCK, (t, s, e) -> {
            float[] g = gradScratch[t];
            for (int j = s; j < e; j++) {
                if (partial != null && combineCoef[j] != 0f) {
                    VectorMath.axpy(combineCoef[j], wd, j * d, partial, j / ROW_BLOCK * d, d);
                }
                java.util.Arrays.fill(g, 0, d, 0f);
                for (int k = 0; k < sources.length; k++) {
                    RowGradientSource src = sources[k];
                    if (groups[k].start[j] == groups[k].start[j + 1]) {
                        continue;
                    }
                    float coefSum = groups[k].accumulate(j, src.src().data(), d, g, 0);
                    if (src.shift() != null && coefSum != 0f) {
                        VectorMath.axpy(-coefSum, src.shift(), 0, g, 0, d);
                    }
                }
                int o = j * d;
                if (unitRows) {
                    float dot = VectorMath.dot(g, 0, wd, o, d);
                    if (dot != 0f) {
                        VectorMath.axpy(-dot, wd, o, g, 0, d);
                    }
                }
                adam.apply(wd, o, g, 0, m, v, d);
                if (unitRows) {
                    float norm = (float) Math.sqrt(VectorMath.sumSquares(wd, o, d));
                    VectorMath.scale(wd, o, 1f / (norm + eps), d);
                }
            }
        });
        if (partial != null) {
            sumBlocks(partial, n, d, combineOut);
        }
    }

    /** Zeroed partial sums, one row of d per block of {@value #ROW_BLOCK} rows (a buffer reused between calls). */
    private float[] blockPartials(int n, int d) {
        int size = (n + ROW_BLOCK - 1) / ROW_BLOCK * d;
        if (blockPartial.length < size) {
            blockPartial = new float[size];
        }
        java.util.Arrays.fill(blockPartial, 0, size, 0f);
        return blockPartial;
    }

    /** out = the block partial sums added in block order. */
    private static void sumBlocks(float[] partial, int n, int d, float[] out) {
        java.util.Arrays.fill(out, 0, d, 0f);
        for (int b = 0, blocks = (n + ROW_BLOCK - 1) / ROW_BLOCK; b < blocks; b++) {
            VectorMath.addInPlace(out, 0, partial, b * d, d);
        }
    }

    @Override
    public void rowCombination(float[] coef, FloatMatrix w, float[] out) {
        Shapes.checkLength(coef, w.rows(), "rowCombination coef");
        Shapes.checkLength(out, w.cols(), "rowCombination out");
        int d = w.cols();
        int n = w.rows();
        float[] wd = w.data();
        // Fixed blocks of latents, each summed in order and combined in block order: the result does not depend on
        // how many workers there are.
        int blocks = (n + ROW_BLOCK - 1) / ROW_BLOCK;
        float[] partial = blockPartials(n, d);
        pool.forEach(blocks, (t, s, e) -> {
            for (int b = s; b < e; b++) {
                for (int j = b * ROW_BLOCK, end = Math.min(n, (b + 1) * ROW_BLOCK); j < end; j++) {
                    if (coef[j] != 0f) {
                        VectorMath.axpy(coef[j], wd, j * d, partial, b * d, d);
                    }
                }
            }
        });
        sumBlocks(partial, n, d, out);
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
        AdamRow adam = new AdamRow(step);
        pool.forEach(n, (t, s, e) -> adam.apply(param, s, grad, s, m, v, e - s));
    }

    @Override
    public void adamRows(float[] param, float[] grad, float[] m, float[] v, int rowLength, int[] rows, int count, AdamStep step) {
        Shapes.checkAdamRows(param, grad, m, v, rowLength, rows, count);
        AdamRow adam = new AdamRow(step);
        pool.forEach(count, (t, s, e) -> {
            for (int i = s; i < e; i++) {
                int o = rows[i] * rowLength;
                adam.apply(param, o, grad, o, m, v, rowLength);
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
