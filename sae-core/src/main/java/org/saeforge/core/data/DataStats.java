package org.saeforge.core.data;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.LongConsumer;

/**
 * One streaming pass over a source for {@code sae inspect-data}: rows per modality, NaN/Inf rows, mean row norm,
 * rows far above the median norm (the median from a {@link NormStats} sample), and per-dimension mean and standard
 * deviation. Memory: two double arrays of width dIn and one read buffer.
 */
public final class DataStats {
    private static final int CHUNK = 4096;
    private static final int MAX_LISTED_BAD = 10;

    public final long rows;
    public final long rowsScanned;
    public final long imageRows;
    public final long textRows;
    public final long unknownModalityRows;
    public final long badRows;
    public final List<Long> firstBadRows;
    public final double meanNorm;
    public final NormStats sample;
    public final long above10x;
    public final long above100x;
    public final double[] dimMean;
    public final double[] dimStd;
    public final float min;
    public final float max;

    private DataStats(long rows, long rowsScanned, long[] byModality, long badRows, List<Long> firstBadRows, double meanNorm,
                      NormStats sample, long above10x, long above100x, double[] dimMean, double[] dimStd, float min, float max) {
        this.rows = rows;
        this.rowsScanned = rowsScanned;
        this.imageRows = byModality[0];
        this.textRows = byModality[1];
        this.unknownModalityRows = byModality[2];
        this.badRows = badRows;
        this.firstBadRows = List.copyOf(firstBadRows);
        this.meanNorm = meanNorm;
        this.sample = sample;
        this.above10x = above10x;
        this.above100x = above100x;
        this.dimMean = dimMean;
        this.dimStd = dimStd;
        this.min = min;
        this.max = max;
    }

    /**
     * Scans the first {@code maxRows} rows (all when maxRows &lt;= 0), reporting rows done to {@code progress}.
     */
    public static DataStats compute(ActivationSource source, long maxRows, LongConsumer progress) {
        int d = source.dIn();
        long total = maxRows > 0 ? Math.min(maxRows, source.numRows()) : source.numRows();
        NormStats sample = NormStats.sample(source, NormStats.DEFAULT_SAMPLE);
        double limit10 = 10 * sample.medianNorm();
        double limit100 = 100 * sample.medianNorm();
        RowMetadata meta = source.metadata();
        boolean modality = meta != null && meta.hasModality();
        long[] byModality = new long[3];
        double[] sum = new double[d];
        double[] sumSq = new double[d];
        float min = Float.POSITIVE_INFINITY;
        float max = Float.NEGATIVE_INFINITY;
        long bad = 0;
        List<Long> firstBad = new ArrayList<>();
        double normSum = 0;
        long finite = 0;
        long above10 = 0;
        long above100 = 0;
        float[] buf = new float[CHUNK * d];
        for (long first = 0; first < total; first += CHUNK) {
            int n = (int) Math.min(CHUNK, total - first);
            source.readRows(first, n, buf, 0);
            for (int r = 0; r < n; r++) {
                long row = first + r;
                byModality[modality ? meta.modality(row).ordinal() : 2]++;
                int off = r * d;
                if (!BadRowPolicy.finiteRow(buf, off, d)) {
                    bad++;
                    if (firstBad.size() < MAX_LISTED_BAD) {
                        firstBad.add(row);
                    }
                    continue;
                }
                double sq = 0;
                for (int i = 0; i < d; i++) {
                    float v = buf[off + i];
                    sum[i] += v;
                    sumSq[i] += (double) v * v;
                    sq += (double) v * v;
                    min = Math.min(min, v);
                    max = Math.max(max, v);
                }
                double norm = Math.sqrt(sq);
                normSum += norm;
                above10 += norm > limit10 ? 1 : 0;
                above100 += norm > limit100 ? 1 : 0;
                finite++;
            }
            progress.accept(first + n);
        }
        double[] mean = new double[d];
        double[] std = new double[d];
        for (int i = 0; i < d; i++) {
            mean[i] = finite == 0 ? Double.NaN : sum[i] / finite;
            std[i] = finite == 0 ? Double.NaN : Math.sqrt(Math.max(0, sumSq[i] / finite - mean[i] * mean[i]));
        }
        return new DataStats(source.numRows(), total, byModality, bad, firstBad, finite == 0 ? Double.NaN : normSum / finite, sample,
                above10, above100, mean, std, min, max);
    }

    /** The dimensions with the k largest values of {@code score}, largest first. */
    public static int[] topDims(double[] score, int k) {
        Integer[] idx = new Integer[score.length];
        for (int i = 0; i < idx.length; i++) {
            idx[i] = i;
        }
        Arrays.sort(idx, (a, b) -> Double.compare(score[b], score[a]));
        int n = Math.min(k, idx.length);
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            out[i] = idx[i];
        }
        return out;
    }
}
