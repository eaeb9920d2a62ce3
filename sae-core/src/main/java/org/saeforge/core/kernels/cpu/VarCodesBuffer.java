package org.saeforge.core.kernels.cpu;

import java.util.Arrays;

/**
 * One worker's variable-length codes (JumpReLU / ReLU) for a contiguous range of rows of a chunk, later copied into
 * the batch's {@link org.saeforge.core.tensor.SparseCodes} in row order.
 */
final class VarCodesBuffer {
    private int[] indices = new int[1024];
    private float[] values = new float[1024];
    private int[] rowEnds = new int[64];
    private int size;
    private int firstRow;
    private int endRow;

    void clear(int first, int end) {
        size = 0;
        firstRow = first;
        endRow = first;
        if (rowEnds.length < end - first) {
            rowEnds = new int[end - first];
        }
    }

    /** Appends the entries of a row with pre > threshold[j] (or > 0 when threshold is null) and pre > 0. */
    void addRow(float[] pre, int n, float[] threshold) {
        for (int j = 0; j < n; j++) {
            float v = pre[j];
            if (v > 0f && (threshold == null || v > threshold[j])) {
                if (size == indices.length) {
                    indices = Arrays.copyOf(indices, size * 2);
                    values = Arrays.copyOf(values, size * 2);
                }
                indices[size] = j;
                values[size] = v;
                size++;
            }
        }
        rowEnds[endRow - firstRow] = size;
        endRow++;
    }

    int size() {
        return size;
    }

    int[] indices() {
        return indices;
    }

    float[] values() {
        return values;
    }

    int firstRow() {
        return firstRow;
    }

    int endRow() {
        return endRow;
    }

    /** End offset (within this buffer) of row r of the chunk. */
    int rowEnd(int r) {
        return rowEnds[r - firstRow];
    }
}
