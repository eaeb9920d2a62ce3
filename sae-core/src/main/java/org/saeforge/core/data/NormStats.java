package org.saeforge.core.data;

import java.util.Arrays;
import org.saeforge.core.SaeException;

/**
 * Row-norm statistics from a sample of a source: evenly spaced blocks of consecutive rows (deterministic, cheap for
 * chunked and compressed formats), rows with NaN or infinity left out. The median norm sets the outlier threshold
 * of {@code --max-norm-ratio}; the mean squared norm gives the activation scale of {@code --normalize-activations}.
 *
 * @param rows            finite rows sampled
 * @param medianNorm      median L2 norm of the sampled rows
 * @param meanSquaredNorm mean squared L2 norm of the sampled rows
 * @param norms           the sampled rows' norms, ascending
 */
public record NormStats(long rows, double medianNorm, double meanSquaredNorm, double[] norms) {
    /** Default sample size (rows). */
    public static final int DEFAULT_SAMPLE = 1 << 16;
    private static final int BLOCK = 1024;

    /** Samples up to {@code maxRows} rows of {@code source}. */
    public static NormStats sample(ActivationSource source, int maxRows) {
        long total = source.numRows();
        int d = source.dIn();
        int want = (int) Math.min(maxRows, total);
        int blockLen = (int) Math.min(BLOCK, Math.max(1, want));
        int blocks = Math.max(1, (want + blockLen - 1) / blockLen);
        double[] norms = new double[blocks * blockLen];
        int n = 0;
        float[] buf = new float[blockLen * d];
        for (int b = 0; b < blocks; b++) {
            long start = blocks == 1 ? 0 : (long) ((double) b * (total - blockLen) / (blocks - 1));
            int len = (int) Math.min(blockLen, total - start);
            source.readRows(start, len, buf, 0);
            for (int r = 0; r < len; r++) {
                if (!BadRowPolicy.finiteRow(buf, r * d, d)) {
                    continue;
                }
                norms[n++] = Math.sqrt(squaredNorm(buf, r * d, d));
            }
        }
        if (n == 0) {
            throw new SaeException(source.path() + ": no finite rows in a sample of " + norms.length + " rows");
        }
        double[] sorted = Arrays.copyOf(norms, n);
        Arrays.sort(sorted);
        double median = n % 2 == 1 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
        double sumSq = 0;
        for (double v : sorted) {
            sumSq += v * v;
        }
        return new NormStats(n, median, sumSq / n, sorted);
    }

    /** Squared L2 norm of row data[off, off + d), accumulated in double. */
    public static double squaredNorm(float[] data, int off, int d) {
        double s = 0;
        for (int i = 0; i < d; i++) {
            double v = data[off + i];
            s += v * v;
        }
        return s;
    }

    /** Number of sampled rows whose norm exceeds {@code limit}. */
    public long countAbove(double limit) {
        int i = Arrays.binarySearch(norms, limit);
        int firstAbove = i >= 0 ? i + 1 : -i - 1;
        while (firstAbove < norms.length && norms[firstAbove] <= limit) {
            firstAbove++;
        }
        return norms.length - firstAbove;
    }

    /**
     * The factor s that makes the mean squared norm of the sampled rows at most {@code maxNorm} (pass infinity for
     * all) equal to {@code dIn}: s = sqrt(dIn / mean ‖x‖²).
     */
    public double scaleToDIn(int dIn, double maxNorm) {
        double sumSq = 0;
        long n = 0;
        for (double v : norms) {
            if (v <= maxNorm) {
                sumSq += v * v;
                n++;
            }
        }
        if (n == 0 || sumSq == 0) {
            throw new SaeException("cannot normalize activations: the sampled rows have zero norm");
        }
        return Math.sqrt(dIn / (sumSq / n));
    }
}
