package org.saeforge.core.kernels.cpu;

import java.util.Arrays;
import org.saeforge.core.tensor.SparseCodes;

/**
 * The entries of a batch's codes grouped by latent (a counting sort, stable: ascending row within a latent), so that
 * each latent's gradient row is summed by one worker in a fixed order. Buffers are reused between batches.
 */
final class LatentGroups {
    private int[] counts = new int[0];
    /** Entries of latent j are positions start[j] .. start[j+1] of entry/row. */
    int[] start = new int[1];
    /** Index into the codes' entries. */
    int[] entry = new int[0];
    /** Row of that entry. */
    int[] row = new int[0];

    void group(SparseCodes codes) {
        int n = codes.numLatents();
        int nnz = codes.nnz();
        if (counts.length < n) {
            counts = new int[n];
        }
        if (start.length < n + 1) {
            start = new int[n + 1];
        }
        if (entry.length < nnz) {
            entry = new int[nnz];
            row = new int[nnz];
        }
        Arrays.fill(counts, 0, n, 0);
        int[] idx = codes.indices();
        for (int p = 0; p < nnz; p++) {
            counts[idx[p]]++;
        }
        start[0] = 0;
        for (int j = 0; j < n; j++) {
            start[j + 1] = start[j] + counts[j];
            counts[j] = start[j];
        }
        for (int r = 0; r < codes.rows(); r++) {
            for (int p = codes.rowStart(r), end = codes.rowEnd(r); p < end; p++) {
                int q = counts[idx[p]]++;
                entry[q] = p;
                row[q] = r;
            }
        }
    }

    /** Adds {@code Σ coef[p]·src[row p]} over latent j's entries to {@code out[oo..oo+d)}; returns {@code Σ coef[p]}. */
    float accumulate(int j, float[] coef, float[] src, int d, float[] out, int oo) {
        float coefSum = 0f;
        int q = start[j];
        int end = start[j + 1];
        for (; q + 4 <= end; q += 4) {
            float c0 = coef[entry[q]];
            float c1 = coef[entry[q + 1]];
            float c2 = coef[entry[q + 2]];
            float c3 = coef[entry[q + 3]];
            coefSum = coefSum + c0 + c1 + c2 + c3;
            VectorMath.axpy4(c0, c1, c2, c3, src, row[q] * d, row[q + 1] * d, row[q + 2] * d, row[q + 3] * d, out, oo, d);
        }
        for (; q < end; q++) {
            float c = coef[entry[q]];
            coefSum += c;
            VectorMath.axpy(c, src, row[q] * d, out, oo, d);
        }
        return coefSum;
    }
}
