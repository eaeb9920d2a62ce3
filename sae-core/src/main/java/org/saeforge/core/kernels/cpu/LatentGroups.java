package org.saeforge.core.kernels.cpu;

import java.util.Arrays;
import org.saeforge.core.tensor.SparseCodes;

/**
 * The entries of a batch's codes grouped by latent (a counting sort, stable: ascending row within a latent), so that
 * each latent's gradient row is summed by one worker in a fixed order (and, in the trainer, that the duplicate check
 * can walk two latents' rows side by side). Buffers are reused between batches.
 */
public final class LatentGroups {
    private int[] counts = new int[0];
    /** Entries of latent j are positions start[j] .. start[j+1] of entry/row. */
    int[] start = new int[1];
    /** Index into the codes' entries. */
    int[] entry = new int[0];
    /** Row of that entry. */
    int[] row = new int[0];
    private float[] sortedCoef = new float[0];
    private int nnz;

    /** Groups the entries of {@code codes}; the arrays below stay valid until the next call. */
    public void group(SparseCodes codes) {
        int n = codes.numLatents();
        nnz = codes.nnz();
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

    /** Latent j's entries are positions {@code starts()[j] .. starts()[j+1]} of {@link #entries} and {@link #rows}. */
    public int[] starts() {
        return start;
    }

    /** The codes' entry (index into their indices and values) at each grouped position. */
    public int[] entries() {
        return entry;
    }

    /** The row of the entry at each grouped position (ascending within a latent). */
    public int[] rows() {
        return row;
    }

    /** Takes {@code coef} (indexed by the codes' entries) as the coefficients of {@link #accumulate}, in group order. */
    void gatherCoefficients(float[] coef) {
        if (sortedCoef.length < entry.length) {
            sortedCoef = new float[entry.length];
        }
        for (int q = 0; q < nnz; q++) {
            sortedCoef[q] = coef[entry[q]];
        }
    }

    /**
     * Adds {@code Σ coef[p]·src[row p]} over latent j's entries to {@code out[oo..oo+d)}, with the coefficients of the
     * last {@link #gatherCoefficients}; returns {@code Σ coef[p]}. Terms are added in entry order
     * ({@link VectorMath#axpyRows}).
     */
    float accumulate(int j, float[] src, int d, float[] out, int oo) {
        float coefSum = 0f;
        for (int q = start[j]; q < start[j + 1]; q++) {
            coefSum += sortedCoef[q];
        }
        VectorMath.axpyRows(sortedCoef, row, start[j], start[j + 1], src, d, out, oo, d);
        return coefSum;
    }
}
