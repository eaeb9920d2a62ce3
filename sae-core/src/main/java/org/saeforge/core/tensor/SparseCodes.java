package org.saeforge.core.tensor;

import java.util.Arrays;

/**
 * Sparse latent codes of a batch in CSR form: row {@code r} holds the entries
 * {@code indptr[r] .. indptr[r+1]} of {@code indices} (latent ids) and {@code values} (activations).
 *
 * <p>TopK codes have exactly k entries per row ({@link #fixedK}); an entry may hold 0 when fewer than k
 * pre-activations are positive (it still counts as "selected" for dead-latent tracking). JumpReLU and
 * ReLU codes have a variable number of entries per row. Buffers grow as needed and are reused.
 */
public final class SparseCodes {
    private final int numLatents;
    private int rows;
    private int[] indptr;
    private int[] indices;
    private float[] values;

    public SparseCodes(int rows, int numLatents, int capacity) {
        if (rows < 0 || numLatents <= 0 || capacity < 0) {
            throw new IllegalArgumentException("bad SparseCodes shape: rows " + rows + ", numLatents " + numLatents);
        }
        this.numLatents = numLatents;
        this.rows = rows;
        this.indptr = new int[rows + 1];
        this.indices = new int[capacity];
        this.values = new float[capacity];
    }

    /** Codes with room for exactly k entries per row, laid out row r at [r*k, (r+1)*k). */
    public static SparseCodes fixedK(int rows, int numLatents, int k) {
        SparseCodes c = new SparseCodes(rows, numLatents, Math.multiplyExact(rows, k));
        c.setFixedK(rows, k);
        return c;
    }

    /** Resets to {@code rows} rows of exactly k entries each (contents undefined until written). */
    public void setFixedK(int newRows, int k) {
        reset(newRows);
        ensureCapacity(Math.multiplyExact(newRows, k));
        for (int r = 0; r <= newRows; r++) {
            indptr[r] = r * k;
        }
    }

    /** Resets to {@code rows} empty rows; fill with {@link #ensureCapacity} and {@link #setRowEnd}. */
    public void reset(int newRows) {
        if (indptr.length < newRows + 1) {
            indptr = new int[newRows + 1];
        }
        rows = newRows;
        Arrays.fill(indptr, 0, newRows + 1, 0);
    }

    public void ensureCapacity(int nnz) {
        if (indices.length < nnz) {
            int cap = Math.max(nnz, (int) Math.min(Integer.MAX_VALUE - 8, indices.length * 3L / 2));
            indices = Arrays.copyOf(indices, cap);
            values = Arrays.copyOf(values, cap);
        }
    }

    /** Marks the end of row r's entries (rows must be written in order). */
    public void setRowEnd(int r, int end) {
        indptr[r + 1] = end;
    }

    public int rows() {
        return rows;
    }

    public int numLatents() {
        return numLatents;
    }

    public int rowStart(int r) {
        return indptr[r];
    }

    public int rowEnd(int r) {
        return indptr[r + 1];
    }

    public int nnz() {
        return indptr[rows];
    }

    public int[] indptr() {
        return indptr;
    }

    public int[] indices() {
        return indices;
    }

    public float[] values() {
        return values;
    }

    /** Number of strictly positive entries: the L0 of the batch, summed over rows. */
    public long countPositive() {
        long n = 0;
        for (int p = 0, end = nnz(); p < end; p++) {
            if (values[p] > 0) {
                n++;
            }
        }
        return n;
    }

    /** The dense [rows x numLatents] matrix of these codes (tests and small exports). */
    public FloatMatrix toDense() {
        FloatMatrix m = new FloatMatrix(rows, numLatents);
        for (int r = 0; r < rows; r++) {
            for (int p = indptr[r]; p < indptr[r + 1]; p++) {
                m.set(r, indices[p], m.get(r, indices[p]) + values[p]);
            }
        }
        return m;
    }

    @Override
    public String toString() {
        return "SparseCodes[" + rows + " rows, " + nnz() + " entries, " + numLatents + " latents]";
    }
}
