package org.saeforge.train.dictionary;

import org.saeforge.core.data.Modality;

/**
 * Per-latent accumulators of the streaming pass, in flat primitive arrays: firing counts, activation sums and maxima,
 * a log-spaced histogram of positive activations, and firing counts and energies (sums of z²) per modality, plus the
 * number of rows of each modality so that per-modality means can be formed afterwards.
 */
final class LatentStats {
    final int numLatents;
    final double log10Min;
    final double log10Max;
    final int bins;
    private final double binsPerLog10;
    final long[] fired;
    final double[] sum;
    final float[] max;
    final long[] firedImage;
    final long[] firedText;
    final double[] energyImage;
    final double[] energyText;
    final long[] hist;
    final long[] below;
    final long[] above;
    long imageRows;
    long textRows;
    long unknownRows;

    LatentStats(int numLatents, double log10Min, double log10Max, int bins) {
        this.numLatents = numLatents;
        this.log10Min = log10Min;
        this.log10Max = log10Max;
        this.bins = bins;
        this.binsPerLog10 = bins / (log10Max - log10Min);
        fired = new long[numLatents];
        sum = new double[numLatents];
        max = new float[numLatents];
        firedImage = new long[numLatents];
        firedText = new long[numLatents];
        energyImage = new double[numLatents];
        energyText = new double[numLatents];
        hist = new long[Math.multiplyExact(numLatents, bins)];
        below = new long[numLatents];
        above = new long[numLatents];
    }

    void countRow(Modality m) {
        switch (m) {
            case IMAGE -> imageRows++;
            case TEXT -> textRows++;
            default -> unknownRows++;
        }
    }

    /** Records activation v &gt; 0 of latent j on a row of modality m. */
    void add(int j, float v, Modality m) {
        fired[j]++;
        sum[j] += v;
        if (v > max[j]) {
            max[j] = v;
        }
        double lv = Math.log10(v);
        if (lv < log10Min) {
            below[j]++;
        } else {
            int b = (int) ((lv - log10Min) * binsPerLog10);
            if (b >= bins) {
                above[j]++;
            } else {
                hist[j * bins + b]++;
            }
        }
        if (m == Modality.IMAGE) {
            firedImage[j]++;
            energyImage[j] += (double) v * v;
        } else if (m == Modality.TEXT) {
            firedText[j]++;
            energyText[j] += (double) v * v;
        }
    }

    long rows() {
        return imageRows + textRows + unknownRows;
    }

    /** True when both modalities have rows, so per-modality means exist. */
    boolean hasModalityScores() {
        return imageRows > 0 && textRows > 0;
    }

    long[] histogram(int j) {
        long[] h = new long[bins];
        System.arraycopy(hist, j * bins, h, 0, bins);
        return h;
    }
}
