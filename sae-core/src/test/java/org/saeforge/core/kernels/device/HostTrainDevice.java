package org.saeforge.core.kernels.device;

import java.util.Arrays;
import java.util.Map;
import org.saeforge.core.kernels.AdamStep;
import org.saeforge.core.kernels.Kernels;
import org.saeforge.core.kernels.Revival;
import org.saeforge.core.model.Architecture;
import org.saeforge.core.model.SaeConfig;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.core.tensor.SparseCodes;

/**
 * {@link TrainDevice} on host arrays: the definition of every device operation (the CUDA device is tested against it)
 * and a GPU-free stand-in for the device training loop. fp32 operands, no padding ({@code ld(cols) = cols}); the dense
 * pieces (top-k selection, decode, gather, Adam, decoder constraint) go through the given {@link Kernels}, the rest is
 * plain loops in the accumulation order the CUDA kernels use.
 */
public final class HostTrainDevice implements TrainDevice {
    private final Kernels kernels;
    private final long freeBytes;
    private long allocated;

    /** An array of one element type. */
    static final class HostArray implements DeviceArray {
        final float[] f;
        final int[] i;
        final long[] l;
        final double[] d;
        final long bytes;

        HostArray(float[] f, int[] i, long[] l, double[] d, long bytes) {
            this.f = f;
            this.i = i;
            this.l = l;
            this.d = d;
            this.bytes = bytes;
        }

        @Override
        public long bytes() {
            return bytes;
        }
    }

    /** Entries grouped by latent: for each latent, its entries in ascending order (= ascending row). */
    private record Groups(int[] start, int[] entries, int nnz) implements DeviceGroups {
    }

    public HostTrainDevice(Kernels kernels) {
        this(kernels, Long.MAX_VALUE / 4);
    }

    /** A host device that reports {@code freeBytes} of free memory (to test the memory check). */
    public HostTrainDevice(Kernels kernels, long freeBytes) {
        this.kernels = kernels;
        this.freeBytes = freeBytes;
    }

    private static HostArray a(DeviceArray x) {
        return (HostArray) x;
    }

    @Override
    public String description() {
        return "host emulation (" + kernels.name() + ")";
    }

    @Override
    public int ld(int cols) {
        return cols;
    }

    @Override
    public int operandBytes() {
        return 4;
    }

    @Override
    public long[] memoryInfo() {
        return new long[] {freeBytes, Math.max(freeBytes, 2 * freeBytes)};
    }

    @Override
    public long allocatedBytes() {
        return allocated;
    }

    private HostArray count(HostArray x) {
        allocated += x.bytes;
        return x;
    }

    private static int size(long count, String what) {
        if (count < 0 || count > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException(what + ": " + count + " elements do not fit a host array");
        }
        return (int) count;
    }

    @Override
    public DeviceArray floats(long count, String what) {
        return count(new HostArray(new float[size(count, what)], null, null, null, 4 * count));
    }

    @Override
    public DeviceArray ints(long count, String what) {
        return count(new HostArray(null, new int[size(count, what)], null, null, 4 * count));
    }

    @Override
    public DeviceArray longs(long count, String what) {
        return count(new HostArray(null, null, new long[size(count, what)], null, 8 * count));
    }

    @Override
    public DeviceArray doubles(long count, String what) {
        return count(new HostArray(null, null, null, new double[size(count, what)], 8 * count));
    }

    @Override
    public DeviceArray operands(long count, String what) {
        return floats(count, what);
    }

    @Override
    public int maxK() {
        return Integer.MAX_VALUE;
    }

    @Override
    public DeviceMemoryPlan scratchPlan(int rows, int numLatents, int ld, int kMax, int kAuxMax) {
        return new DeviceMemoryPlan();
    }

    @Override
    public void reserveScratch(int rows, int numLatents, int ld, int kMax, int kAuxMax) {
        // scratch is allocated per call on the host
    }

    @Override
    public void uploadRows(float[] src, int rows, int cols, int ld, DeviceArray dst) {
        float[] d = a(dst).f;
        for (int r = 0; r < rows; r++) {
            System.arraycopy(src, r * cols, d, r * ld, cols);
            Arrays.fill(d, r * ld + cols, r * ld + ld, 0f);
        }
    }

    @Override
    public void downloadRows(DeviceArray src, int rows, int cols, int ld, float[] dst) {
        for (int r = 0; r < rows; r++) {
            System.arraycopy(a(src).f, r * ld, dst, r * cols, cols);
        }
    }

    @Override
    public void upload(long[] src, DeviceArray dst) {
        System.arraycopy(src, 0, a(dst).l, 0, src.length);
    }

    @Override
    public void download(DeviceArray src, long[] dst) {
        System.arraycopy(a(src).l, 0, dst, 0, dst.length);
    }

    @Override
    public void upload(int[] src, DeviceArray dst) {
        System.arraycopy(src, 0, a(dst).i, 0, src.length);
    }

    @Override
    public void download(DeviceArray src, int[] dst) {
        System.arraycopy(a(src).i, 0, dst, 0, dst.length);
    }

    @Override
    public double readDouble(DeviceArray doubles) {
        return a(doubles).d[0];
    }

    @Override
    public long readLong(DeviceArray longs) {
        return a(longs).l[0];
    }

    @Override
    public int readInt(DeviceArray ints) {
        return a(ints).i[0];
    }

    @Override
    public void zero(DeviceArray x) {
        HostArray h = a(x);
        if (h.f != null) {
            Arrays.fill(h.f, 0f);
        } else if (h.i != null) {
            Arrays.fill(h.i, 0);
        } else if (h.l != null) {
            Arrays.fill(h.l, 0L);
        } else {
            Arrays.fill(h.d, 0.0);
        }
    }

    @Override
    public void synchronize() {
        // host operations complete when they return
    }

    @Override
    public IntReadback intReadback() {
        return new IntReadback() {
            private int value;

            @Override
            public void request(DeviceArray ints) {
                value = a(ints).i[0];
            }

            @Override
            public int await() {
                return value;
            }
        };
    }

    @Override
    public DeviceClock clock(int marks) {
        long[] t = new long[marks];
        return new DeviceClock() {
            @Override
            public void mark(int i) {
                t[i] = System.nanoTime();
            }

            @Override
            public double elapsedMs(int from, int to) {
                return (t[to] - t[from]) / 1e6;
            }
        };
    }

    @Override
    public void toOperand(DeviceArray src, long count, DeviceArray dst) {
        System.arraycopy(a(src).f, 0, a(dst).f, 0, (int) count);
    }

    @Override
    public void totalVariance(DeviceArray x, int rows, int ld, DeviceArray out) {
        float[] xs = a(x).f;
        double[] mean = new double[ld];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < ld; c++) {
                mean[c] += xs[r * ld + c];
            }
        }
        for (int c = 0; c < ld; c++) {
            mean[c] /= rows;
        }
        double tv = 0;
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < ld; c++) {
                double e = xs[r * ld + c] - mean[c];
                tv += e * e;
            }
        }
        a(out).d[0] = tv;
    }

    @Override
    public void prepareInput(DeviceArray x, DeviceArray bDec, int rows, int ld, DeviceArray xc) {
        float[] xs = a(x).f;
        float[] b = a(bDec).f;
        float[] out = a(xc).f;
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < ld; c++) {
                out[r * ld + c] = xs[r * ld + c] - b[c];
            }
        }
    }

    @Override
    public void selectTopK(DeviceArray xc, DeviceArray w, DeviceArray bias, int rows, int n, int ld, int k, DeviceArray map,
                           DeviceArray outIdx, DeviceArray outVal) {
        SaeConfig cfg = new SaeConfig(Architecture.TOPK, ld, n, k, false, Map.of());
        SparseAutoencoder sae = new SparseAutoencoder(cfg, FloatMatrix.wrap(n, ld, Arrays.copyOf(a(w).f, n * ld)),
                Arrays.copyOf(a(bias).f, n), new FloatMatrix(n, ld), new float[ld], null);
        SparseCodes codes = SparseCodes.fixedK(rows, n, k);
        kernels.encode(FloatMatrix.wrap(rows, ld, a(xc).f), sae, codes, null);
        int[] idx = a(outIdx).i;
        float[] val = a(outVal).f;
        for (int p = 0; p < rows * k; p++) {
            int j = codes.indices()[p];
            idx[p] = map == null ? j : a(map).i[j];
            val[p] = codes.values()[p];
        }
    }

    @Override
    public void gatherOperandRows(DeviceArray src, int ld, DeviceArray ids, int count, DeviceArray dst) {
        for (int j = 0; j < count; j++) {
            System.arraycopy(a(src).f, a(ids).i[j] * ld, a(dst).f, j * ld, ld);
        }
    }

    @Override
    public void gatherValues(DeviceArray src, DeviceArray ids, int count, DeviceArray dst) {
        for (int j = 0; j < count; j++) {
            a(dst).f[j] = a(src).f[a(ids).i[j]];
        }
    }

    private static SparseCodes codes(DeviceArray idx, DeviceArray val, int rows, int k, int n) {
        SparseCodes c = SparseCodes.fixedK(rows, n, k);
        System.arraycopy(a(idx).i, 0, c.indices(), 0, rows * k);
        if (val != null) {
            System.arraycopy(a(val).f, 0, c.values(), 0, rows * k);
        }
        return c;
    }

    @Override
    public void decode(DeviceArray idx, DeviceArray val, int rows, int k, DeviceArray w, int n, int ld, DeviceArray bias,
                       DeviceArray out) {
        FloatMatrix o = new FloatMatrix(rows, ld);
        kernels.decode(codes(idx, val, rows, k, n), FloatMatrix.wrap(n, ld, a(w).f), bias == null ? null : a(bias).f, o);
        System.arraycopy(o.data(), 0, a(out).f, 0, rows * ld);
    }

    @Override
    public void residualGradient(DeviceArray x, DeviceArray xHat, DeviceArray auxHat, int rows, int ld, DeviceArray totalVar,
                                 double factor, DeviceArray grad, DeviceArray sse) {
        float scale = (float) (factor * 2.0 / Math.max(a(totalVar).d[0], 1e-30));
        float[] xs = a(x).f;
        float[] xh = a(xHat).f;
        float[] g = a(grad).f;
        double acc = 0;
        for (int i = 0; i < rows * ld; i++) {
            float e = auxHat == null ? xh[i] - xs[i] : a(auxHat).f[i] - (xs[i] - xh[i]);
            acc += (double) e * e;
            g[i] = scale * e;
        }
        a(sse).d[0] = acc;
    }

    @Override
    public void gatherDots(DeviceArray idx, int rows, int k, DeviceArray dOut, DeviceArray w, int n, int ld, DeviceArray dValues) {
        float[] out = new float[rows * k];
        kernels.gatherDots(codes(idx, null, rows, k, n), FloatMatrix.wrap(rows, ld, a(dOut).f), FloatMatrix.wrap(n, ld, a(w).f), out);
        System.arraycopy(out, 0, a(dValues).f, 0, rows * k);
    }

    @Override
    public void maskNonPositive(DeviceArray val, DeviceArray d, int nnz) {
        for (int p = 0; p < nnz; p++) {
            if (!(a(val).f[p] > 0f)) {
                a(d).f[p] = 0f;
            }
        }
    }

    @Override
    public DeviceGroups groupByLatent(DeviceArray idx, int nnz, int n) {
        int[] count = new int[n + 1];
        int[] ids = a(idx).i;
        for (int p = 0; p < nnz; p++) {
            count[ids[p] + 1]++;
        }
        for (int j = 0; j < n; j++) {
            count[j + 1] += count[j];
        }
        int[] start = count.clone();
        int[] fill = Arrays.copyOf(count, n);
        int[] entries = new int[nnz];
        for (int p = 0; p < nnz; p++) {
            entries[fill[ids[p]]++] = p;
        }
        return new Groups(start, entries, nnz);
    }

    @Override
    public void scatterOuter(DeviceGroups groups, int rows, int k, DeviceArray coef, DeviceArray src, DeviceArray shift, int ld,
                             DeviceArray dW, DeviceArray dBias) {
        Groups g = (Groups) groups;
        float[] cf = a(coef).f;
        float[] s = a(src).f;
        float[] w = a(dW).f;
        float[] acc = new float[ld];
        for (int j = 0; j + 1 < g.start().length; j++) {
            int from = g.start()[j];
            int to = g.start()[j + 1];
            if (from == to) {
                continue;
            }
            Arrays.fill(acc, 0f);
            float biasSum = 0f;
            for (int q = from; q < to; q++) {
                int p = g.entries()[q];
                float c = cf[p];
                biasSum += c;
                if (c == 0f) {
                    continue;
                }
                int row = p / k;
                for (int i = 0; i < ld; i++) {
                    acc[i] = Math.fma(c, s[row * ld + i] - (shift == null ? 0f : a(shift).f[i]), acc[i]);
                }
            }
            for (int i = 0; i < ld; i++) {
                w[j * ld + i] += acc[i];
            }
            if (dBias != null) {
                a(dBias).f[j] += biasSum;
            }
        }
    }

    @Override
    public void addColumnSums(DeviceArray m, int rows, int ld, DeviceArray out) {
        for (int c = 0; c < ld; c++) {
            double s = 0;
            for (int r = 0; r < rows; r++) {
                s += a(m).f[r * ld + c];
            }
            a(out).f[c] += (float) s;
        }
    }

    @Override
    public void subtractRowCombination(DeviceArray coef, DeviceArray w, int n, int ld, DeviceArray out) {
        double[] acc = new double[ld];
        for (int j = 0; j < n; j++) {
            double c = a(coef).f[j];
            if (c != 0) {
                for (int i = 0; i < ld; i++) {
                    acc[i] += c * a(w).f[j * ld + i];
                }
            }
        }
        for (int i = 0; i < ld; i++) {
            a(out).f[i] -= (float) acc[i];
        }
    }

    @Override
    public void codeStats(DeviceArray idx, DeviceArray val, int nnz, DeviceArray positive, DeviceArray fired, DeviceArray selected) {
        long pos = 0;
        for (int p = 0; p < nnz; p++) {
            if (a(val).f[p] > 0f) {
                pos++;
                if (fired != null) {
                    a(fired).i[a(idx).i[p]]++;
                }
            }
            a(selected).i[a(idx).i[p]]++;
        }
        a(positive).l[0] += pos;
    }

    @Override
    public void adam(DeviceArray p, DeviceArray g, DeviceArray m, DeviceArray v, long count, AdamStep hp, DeviceArray operandShadow) {
        kernels.adam(a(p).f, a(g).f, a(m).f, a(v).f, (int) count, hp);
        if (operandShadow != null) {
            System.arraycopy(a(p).f, 0, a(operandShadow).f, 0, (int) count);
        }
    }

    @Override
    public void adamDecoderRows(DeviceArray w, DeviceArray g, DeviceArray m, DeviceArray v, int rows, int ld, AdamStep hp) {
        FloatMatrix wm = FloatMatrix.wrap(rows, ld, a(w).f);
        kernels.removeParallelComponent(wm, FloatMatrix.wrap(rows, ld, a(g).f));
        kernels.adam(a(w).f, a(g).f, a(m).f, a(v).f, rows * ld, hp);
        kernels.normalizeRows(wm);
    }

    @Override
    public void deadUpdate(DeviceArray since, DeviceArray selected, int n, long rows, long deadAfter, DeviceArray deadIds,
                           DeviceArray numDead) {
        long[] s = a(since).l;
        int dead = 0;
        for (int j = 0; j < n; j++) {
            s[j] = a(selected).i[j] > 0 ? 0 : s[j] + rows;
            if (s[j] > deadAfter) {
                a(deadIds).i[dead++] = j;
            }
        }
        a(numDead).i[0] = dead;
    }

    @Override
    public void reviveBias(DeviceArray bEnc, DeviceArray sincePositive, DeviceArray fired, int n, long rows, long after, DeviceArray val,
                           int nnz, double rate) {
        long[] since = a(sincePositive).l;
        for (int j = 0; j < n; j++) {
            since[j] = a(fired).i[j] > 0 ? 0 : since[j] + rows;
        }
        if (after > 0) {
            Revival.apply(a(bEnc).f, since, a(fired).i, (int) rows, n, after, a(val).f, nnz, rate);
        }
    }

    @Override
    public void reviveEncoder(DeviceArray wEnc, DeviceArray wEncOp, DeviceArray x, DeviceArray bDec, DeviceArray sincePositive,
                              DeviceArray fired, int rows, int n, int ld, long after, double growth, DeviceArray u, DeviceArray stats,
                              DeviceArray scalars) {
        if (after == 0) {
            return;
        }
        Revival.meanOffset(a(x).f, rows, ld, ld, a(bDec).f, a(u).f);
        Revival.reviveEncoder(a(wEnc).f, n, ld, ld, a(sincePositive).l, a(fired).i, rows, after, a(u).f, growth);
        if (wEncOp != wEnc) {
            toOperand(wEnc, (long) n * ld, wEncOp);
        }
    }

    @Override
    public void checkFinite(DeviceArray sse, DeviceArray sseAux, long step, DeviceArray firstBad) {
        if ((!Double.isFinite(a(sse).d[0]) || !Double.isFinite(a(sseAux).d[0])) && a(firstBad).l[0] == 0) {
            a(firstBad).l[0] = step + 1;
        }
    }

    @Override
    public void close() {
        allocated = 0;
    }
}
