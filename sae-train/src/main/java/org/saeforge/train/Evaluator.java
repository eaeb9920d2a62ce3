package org.saeforge.train;

import org.saeforge.core.data.ActivationSource;
import org.saeforge.core.data.BadRowPolicy;
import org.saeforge.core.data.HeldOutSplit;
import org.saeforge.core.data.NormStats;
import org.saeforge.core.kernels.Kernels;
import org.saeforge.core.model.SparseAutoencoder;
import org.saeforge.core.tensor.FloatMatrix;
import org.saeforge.core.tensor.SparseCodes;

/** Measures a SAE on rows of a source: the held-out side of a split, or the first rows of a whole file. */
public final class Evaluator {
    static final int EVAL_BATCH = 4096;

    private final Kernels kernels;
    private final double maxNormSq;

    public Evaluator(Kernels kernels) {
        this(kernels, Double.POSITIVE_INFINITY);
    }

    /** An evaluator that leaves out (and counts) rows whose L2 norm exceeds {@code maxNorm}. */
    public Evaluator(Kernels kernels, double maxNorm) {
        this.kernels = kernels;
        this.maxNormSq = maxNorm * maxNorm;
    }

    /** Evaluates on the held-out rows of the split. */
    public EvalMetrics evaluate(SparseAutoencoder sae, ActivationSource source, HeldOutSplit split) {
        Accumulator acc = new Accumulator(sae, source);
        for (int b = 0; b < split.numBlocks(); b++) {
            acc.add(split.blockStart(b), split.blockRows(b));
        }
        return acc.finish();
    }

    /** Evaluates on the first maxRows rows of the source (all rows when maxRows &lt;= 0). */
    public EvalMetrics evaluateAll(SparseAutoencoder sae, ActivationSource source, long maxRows) {
        Accumulator acc = new Accumulator(sae, source);
        long total = maxRows > 0 ? Math.min(maxRows, source.numRows()) : source.numRows();
        for (long first = 0; first < total; first += EVAL_BATCH) {
            acc.add(first, (int) Math.min(EVAL_BATCH, total - first));
        }
        return acc.finish();
    }

    /** Streams ranges into batches of up to EVAL_BATCH rows and accumulates the sums behind every metric. */
    private final class Accumulator {
        private final SparseAutoencoder sae;
        private final ActivationSource source;
        private final int d;
        private final FloatMatrix batch;
        private final FloatMatrix readBuf;
        private final SparseCodes codes;
        private final long[] fired;
        private final double[] sum;
        private final double[] sumSq;
        private int filled;
        private long rows;
        private long skipped;
        private long outliers;
        private double sse;
        private long positive;

        Accumulator(SparseAutoencoder sae, ActivationSource source) {
            if (source.dIn() != sae.dIn()) {
                throw new org.saeforge.core.SaeException(source.path() + ": rows have width " + source.dIn() + " but the SAE expects d_in "
                        + sae.dIn());
            }
            this.sae = sae;
            this.source = source;
            this.d = sae.dIn();
            this.batch = new FloatMatrix(EVAL_BATCH, d);
            this.readBuf = new FloatMatrix(EVAL_BATCH, d);
            this.codes = sae.newCodes(EVAL_BATCH);
            this.fired = new long[sae.numLatents()];
            this.sum = new double[d];
            this.sumSq = new double[d];
        }

        void add(long first, int count) {
            while (count > 0) {
                int n = Math.min(count, EVAL_BATCH);
                source.readRows(first, n, readBuf.data(), 0);
                for (int r = 0; r < n; r++) {
                    if (!BadRowPolicy.finiteRow(readBuf.data(), r * d, d)) {
                        skipped++;
                        continue;
                    }
                    if (maxNormSq != Double.POSITIVE_INFINITY && NormStats.squaredNorm(readBuf.data(), r * d, d) > maxNormSq) {
                        outliers++;
                        continue;
                    }
                    System.arraycopy(readBuf.data(), r * d, batch.data(), filled * d, d);
                    if (++filled == EVAL_BATCH) {
                        flush();
                    }
                }
                first += n;
                count -= n;
            }
        }

        private void flush() {
            if (filled == 0) {
                return;
            }
            FloatMatrix x = batch.view(filled);
            kernels.encode(x, sae, codes, null);
            FloatMatrix xHat = new FloatMatrix(filled, d);
            kernels.decode(codes, sae.wDec(), sae.bDec(), xHat);
            float[] xs = x.data();
            float[] xh = xHat.data();
            for (int r = 0; r < filled; r++) {
                for (int i = 0; i < d; i++) {
                    double v = xs[r * d + i];
                    double e = v - xh[r * d + i];
                    sse += e * e;
                    sum[i] += v;
                    sumSq[i] += v * v;
                }
            }
            int[] idx = codes.indices();
            float[] val = codes.values();
            for (int p = 0, end = codes.nnz(); p < end; p++) {
                if (val[p] > 0f) {
                    fired[idx[p]]++;
                    positive++;
                }
            }
            rows += filled;
            filled = 0;
        }

        EvalMetrics finish() {
            flush();
            if (rows == 0) {
                throw new org.saeforge.core.SaeException(source.path() + ": no finite rows to evaluate on");
            }
            double sst = 0;
            for (int i = 0; i < d; i++) {
                sst += sumSq[i] - sum[i] * sum[i] / rows;
            }
            int n = fired.length;
            double[] density = new double[n];
            int dead = 0;
            int dense = 0;
            for (int j = 0; j < n; j++) {
                density[j] = (double) fired[j] / rows;
                if (fired[j] == 0) {
                    dead++;
                }
                if (density[j] > 0.1) {
                    dense++;
                }
            }
            return new EvalMetrics(sse / Math.max(sst, 1e-30), sse / ((double) rows * d), (double) positive / rows,
                    (double) dead / n, (double) dense / n, rows, skipped, density, outliers);
        }
    }

    /**
     * Ground-truth recovery: for every true feature (rows of {@code truth}), the largest cosine with any decoder row.
     *
     * @return {mmcs (mean of those maxima), recovered fraction (maxima above 0.9)}
     */
    public double[] recovery(SparseAutoencoder sae, FloatMatrix truth) {
        truth.requireCols(sae.dIn(), "ground-truth dictionary");
        FloatMatrix t = normalizedRows(truth);
        FloatMatrix w = normalizedRows(sae.wDec());
        int chunk = Math.max(1, Math.min(t.rows(), (1 << 24) / Math.max(1, w.rows())));
        double sum = 0;
        int recovered = 0;
        for (int r0 = 0; r0 < t.rows(); r0 += chunk) {
            int m = Math.min(chunk, t.rows() - r0);
            FloatMatrix part = FloatMatrix.wrap(m, t.cols(), java.util.Arrays.copyOfRange(t.data(), r0 * t.cols(), (r0 + m) * t.cols()));
            FloatMatrix cos = new FloatMatrix(m, w.rows());
            kernels.matmulNT(part, w, cos);
            for (int r = 0; r < m; r++) {
                float best = -1f;
                int o = r * w.rows();
                for (int j = 0; j < w.rows(); j++) {
                    best = Math.max(best, cos.data()[o + j]);
                }
                sum += best;
                if (best > 0.9f) {
                    recovered++;
                }
            }
        }
        return new double[] {sum / t.rows(), (double) recovered / t.rows()};
    }

    private static FloatMatrix normalizedRows(FloatMatrix m) {
        FloatMatrix out = m.copy();
        int d = m.cols();
        for (int r = 0; r < m.rows(); r++) {
            double ss = 0;
            for (int i = 0; i < d; i++) {
                ss += (double) out.get(r, i) * out.get(r, i);
            }
            float inv = (float) (1.0 / Math.max(Math.sqrt(ss), 1e-12));
            for (int i = 0; i < d; i++) {
                out.set(r, i, out.get(r, i) * inv);
            }
        }
        return out;
    }
}
