package org.saeforge.core.tensor;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * A dense row-major float matrix over one contiguous array. {@link #view(int)} gives a matrix over the
 * first rows of the same storage, so batch buffers can be reused for a short last batch.
 */
public final class FloatMatrix {
    private final int rows;
    private final int cols;
    private final float[] data;

    public FloatMatrix(int rows, int cols) {
        this(rows, cols, new float[checkedSize(rows, cols)]);
    }

    private FloatMatrix(int rows, int cols, float[] data) {
        this.rows = rows;
        this.cols = cols;
        this.data = data;
    }

    /** A matrix over {@code data} without copying; {@code data.length} must be at least rows*cols. */
    public static FloatMatrix wrap(int rows, int cols, float[] data) {
        long size = checkedSize(rows, cols);
        if (data.length < size) {
            throw new IllegalArgumentException("array of " + data.length + " floats cannot hold [" + rows + " x " + cols + "]");
        }
        return new FloatMatrix(rows, cols, data);
    }

    private static int checkedSize(int rows, int cols) {
        if (rows < 0 || cols < 0) {
            throw new IllegalArgumentException("negative shape [" + rows + " x " + cols + "]");
        }
        long size = (long) rows * cols;
        if (size > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("matrix [" + rows + " x " + cols + "] exceeds 2^31 elements");
        }
        return (int) size;
    }

    /** Seeded uniform values in [-scale, scale): test and benchmark data, never zeros. */
    public static FloatMatrix random(int rows, int cols, long seed, float scale) {
        FloatMatrix m = new FloatMatrix(rows, cols);
        SplittableRandom rnd = new SplittableRandom(seed);
        for (int i = 0; i < m.data.length; i++) {
            m.data[i] = (float) ((rnd.nextDouble() * 2 - 1) * scale);
        }
        return m;
    }

    public int rows() {
        return rows;
    }

    public int cols() {
        return cols;
    }

    /** The backing array; element (r, c) is at {@code r * cols() + c}. May be longer than rows*cols. */
    public float[] data() {
        return data;
    }

    public int size() {
        return rows * cols;
    }

    public float get(int r, int c) {
        return data[r * cols + c];
    }

    public void set(int r, int c, float v) {
        data[r * cols + c] = v;
    }

    public int offset(int r) {
        return r * cols;
    }

    /** A matrix over the first {@code n} rows of this one, sharing storage. */
    public FloatMatrix view(int n) {
        if (n < 0 || n > rows) {
            throw new IllegalArgumentException("view of " + n + " rows of a [" + rows + " x " + cols + "] matrix");
        }
        return n == rows ? this : new FloatMatrix(n, cols, data);
    }

    public FloatMatrix copy() {
        return new FloatMatrix(rows, cols, Arrays.copyOf(data, size()));
    }

    public void fill(float v) {
        Arrays.fill(data, 0, size(), v);
    }

    public void copyFrom(FloatMatrix other) {
        requireShape(other.rows, other.cols, "copy source");
        System.arraycopy(other.data, 0, data, 0, size());
    }

    /** The transpose as a new matrix. */
    public FloatMatrix transpose() {
        FloatMatrix t = new FloatMatrix(cols, rows);
        for (int r = 0; r < rows; r++) {
            int off = r * cols;
            for (int c = 0; c < cols; c++) {
                t.data[c * rows + r] = data[off + c];
            }
        }
        return t;
    }

    public float[] row(int r) {
        return Arrays.copyOfRange(data, r * cols, (r + 1) * cols);
    }

    /** Throws with both shapes in the message when this matrix is not [rows x cols]. */
    public FloatMatrix requireShape(int expectRows, int expectCols, String what) {
        if (rows != expectRows || cols != expectCols) {
            throw new IllegalArgumentException(what + ": expected shape [" + expectRows + " x " + expectCols
                    + "], got [" + rows + " x " + cols + "]");
        }
        return this;
    }

    public FloatMatrix requireCols(int expectCols, String what) {
        if (cols != expectCols) {
            throw new IllegalArgumentException(what + ": expected " + expectCols + " columns, got [" + rows + " x " + cols + "]");
        }
        return this;
    }

    @Override
    public String toString() {
        return "FloatMatrix[" + rows + " x " + cols + "]";
    }
}
