package org.saeforge.core.kernels.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;

/**
 * Partial selection of the k largest values of a row: a size-k min-heap whose root is the current threshold, and a
 * vector pre-filter that skips every chunk of the row with no value above it (almost all chunks once the heap is
 * warm). Ties go to the lower index, as in {@link ReferenceKernels#topKIndices}: the row is scanned in ascending
 * index order and only strictly larger values displace the root. One selector per worker thread (not thread-safe).
 */
final class TopKSelector {
    private int[] heapIdx = new int[0];
    private float[] heapVal = new float[0];
    private int size;

    /**
     * Selects the k largest of {@code v[0..n)} and writes their positions (mapped through {@code ids} when not null)
     * and ReLU'd values to {@code outIdx/outVal[off..off+k)}, largest first.
     */
    void select(float[] v, int n, int k, int[] ids, int[] outIdx, float[] outVal, int off) {
        select(v, null, n, k, ids, outIdx, outVal, off);
    }

    /**
     * Like {@link #select(float[], int, int, int[], int[], float[], int)} on the values {@code v[i] + bias[i]}
     * ({@code bias} may be null), without a separate pass to add the bias.
     */
    void select(float[] v, float[] bias, int n, int k, int[] ids, int[] outIdx, float[] outVal, int off) {
        if (k > n) {
            throw new IllegalArgumentException("k=" + k + " > n=" + n);
        }
        if (heapIdx.length < k) {
            heapIdx = new int[k];
            heapVal = new float[k];
        }
        size = 0;
        for (int i = 0; i < k; i++) {
            push(i, bias == null ? v[i] : v[i] + bias[i]);
        }
        int i = k;
        int l = VectorMath.L;
        float threshold = heapVal[0];
        FloatVector vt = FloatVector.broadcast(VectorMath.S, threshold);
        for (; i <= n - l; i += l) {
            FloatVector x8 = FloatVector.fromArray(VectorMath.S, v, i);
            if (bias != null) {
                x8 = x8.add(FloatVector.fromArray(VectorMath.S, bias, i));
            }
            VectorMask<Float> above = x8.compare(VectorOperators.GT, vt);
            if (above.anyTrue()) {
                long bits = above.toLong();
                while (bits != 0) {
                    int lane = Long.numberOfTrailingZeros(bits);
                    bits &= bits - 1;
                    float x = bias == null ? v[i + lane] : v[i + lane] + bias[i + lane];
                    if (x > heapVal[0]) {
                        replaceRoot(i + lane, x);
                    }
                }
                if (heapVal[0] != threshold) {
                    threshold = heapVal[0];
                    vt = FloatVector.broadcast(VectorMath.S, threshold);
                }
            }
        }
        for (; i < n; i++) {
            float x = bias == null ? v[i] : v[i] + bias[i];
            if (x > heapVal[0]) {
                replaceRoot(i, x);
            }
        }
        // Pop worst-first into the output from the back: the output ends up best-first.
        for (int p = k - 1; p >= 0; p--) {
            int pos = heapIdx[0];
            float val = heapVal[0];
            outIdx[off + p] = ids == null ? pos : ids[pos];
            outVal[off + p] = val > 0 ? val : 0f;
            size--;
            if (size > 0) {
                heapIdx[0] = heapIdx[size];
                heapVal[0] = heapVal[size];
                siftDown(0);
            }
        }
    }

    /** a is worse than b: smaller value, or equal value and larger index. */
    private boolean worse(int a, int b) {
        return heapVal[a] < heapVal[b] || (heapVal[a] == heapVal[b] && heapIdx[a] > heapIdx[b]);
    }

    private void push(int idx, float val) {
        int c = size++;
        heapIdx[c] = idx;
        heapVal[c] = val;
        while (c > 0) {
            int parent = (c - 1) >>> 1;
            if (!worse(c, parent)) {
                break;
            }
            swap(c, parent);
            c = parent;
        }
    }

    private void replaceRoot(int idx, float val) {
        heapIdx[0] = idx;
        heapVal[0] = val;
        siftDown(0);
    }

    private void siftDown(int c) {
        while (true) {
            int l = 2 * c + 1;
            if (l >= size) {
                return;
            }
            int r = l + 1;
            int w = r < size && worse(r, l) ? r : l;
            if (!worse(w, c)) {
                return;
            }
            swap(c, w);
            c = w;
        }
    }

    private void swap(int a, int b) {
        int ti = heapIdx[a];
        heapIdx[a] = heapIdx[b];
        heapIdx[b] = ti;
        float tv = heapVal[a];
        heapVal[a] = heapVal[b];
        heapVal[b] = tv;
    }
}
